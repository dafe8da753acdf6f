#include "weft/auth.hpp"

namespace weft {

bool constant_time_equal(Bytes lhs, Bytes rhs) {
  if (lhs.size() != rhs.size()) return false;
  // Accumulate differences without branching on content, so timing says nothing about
  // where the first mismatch is. volatile keeps the compiler from short-circuiting.
  volatile std::uint8_t difference = 0;
  for (std::size_t i = 0; i < lhs.size(); ++i) {
    difference = static_cast<std::uint8_t>(difference | (lhs[i] ^ rhs[i]));
  }
  return difference == 0;
}

std::string StaticTokenAuth::token_for(std::string_view) const {
  return token_;
}

bool StaticTokenAuth::verify(std::string_view, Bytes token) const {
  return constant_time_equal(as_bytes(token_), token);
}

}  // namespace weft
