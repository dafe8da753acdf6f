// A small, fast, seeded generator (xoshiro256**, seeded through splitmix64). The core draws
// every random number (backoff jitter, incarnation ids) from one of these, so a seed fixes
// a run completely.
#pragma once

#include <cstdint>

namespace weft {

class Rng {
 public:
  explicit Rng(std::uint64_t seed);

  // The next 64 random bits.
  std::uint64_t next();
  // A number in [0, bound); bound must be > 0.
  std::uint64_t below(std::uint64_t bound);
  // A number in [0, 1).
  double unit();
  // A new generator whose sequence is independent of this one's; advances this one.
  Rng split();

 private:
  std::uint64_t state_[4];
};

}  // namespace weft
