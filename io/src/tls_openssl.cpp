// OpenSSL helpers of the TLS layer: error text, memory BIOs, certificate names and the
// deterministic random source.
#include "tls_openssl.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <array>
#include <climits>

#include "tls_context_impl.hpp"

namespace weft::io::tls_detail {

std::string take_openssl_errors(std::string_view fallback) {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    std::array<char, 256> buffer{};
    ERR_error_string_n(code, buffer.data(), buffer.size());
    // ERR_error_string_n gives "error:CODE:library:function:reason"; keep "library:reason"
    // after the numeric code, which says nothing to a reader.
    std::string_view entry(buffer.data());
    if (entry.starts_with("error:")) {
      const std::size_t code_end = entry.find(':', 6);
      if (code_end != std::string_view::npos) entry.remove_prefix(code_end + 1);
    }
    if (!text.empty()) text += "; ";
    text += entry;
  }
  if (text.empty()) text = fallback;
  return text;
}

BioPtr memory_bio(std::string_view text) {
  // Inputs are capped far below INT_MAX by their callers (1 MiB files).
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::vector<std::string> dns_names(const X509* certificate) {
  std::vector<std::string> names;
  if (certificate == nullptr) return names;
  auto* entries = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  if (entries == nullptr) return names;
  const int count = sk_GENERAL_NAME_num(entries);
  for (int i = 0; i < count; ++i) {
    const GENERAL_NAME* entry = sk_GENERAL_NAME_value(entries, i);
    if (entry->type != GEN_DNS) continue;
    const unsigned char* data = ASN1_STRING_get0_data(entry->d.dNSName);
    const int length = ASN1_STRING_length(entry->d.dNSName);
    std::string name(reinterpret_cast<const char*>(data), static_cast<std::size_t>(length));
    if (name.find('\0') == std::string::npos) names.push_back(std::move(name));
  }
  GENERAL_NAMES_free(entries);
  return names;
}

namespace {

// SplitMix64: a fast generator with a 64-bit state; its quality is ample for a simulation
// (security is not the point: a deterministic context's keys are predictable by design).
std::uint64_t split_mix(std::uint64_t& state) {
  state += 0x9e3779b97f4a7c15ULL;
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Enough for any one handshake step: a step draws at most a hello random, a key share and a
// signature's nonce (some 100 bytes); what a step leaves unused is replaced at the next.
constexpr std::size_t kDeterministicBytesPerStep = 512;

}  // namespace

bool feed_deterministic_random(OSSL_LIB_CTX* libctx, std::uint64_t seed) {
  std::uint64_t stream = seed;
  unsigned int strength = 256;
  // Public (hello randoms) and private (key shares) generators, one each per thread, each
  // with bytes of its own (so no key share repeats a random sent in clear).
  for (EVP_RAND_CTX* source : {RAND_get0_public(libctx), RAND_get0_private(libctx)}) {
    if (source == nullptr) return false;
    std::array<unsigned char, kDeterministicBytesPerStep> bytes{};
    for (std::size_t i = 0; i < bytes.size(); i += 8) {
      const std::uint64_t word = split_mix(stream);
      for (std::size_t b = 0; b < 8; ++b)
        bytes[i + b] = static_cast<unsigned char>(word >> (8 * b));
    }
    const std::array<OSSL_PARAM, 3> params = {
        OSSL_PARAM_construct_octet_string(OSSL_RAND_PARAM_TEST_ENTROPY, bytes.data(), bytes.size()),
        OSSL_PARAM_construct_uint(OSSL_RAND_PARAM_STRENGTH, &strength), OSSL_PARAM_END};
    if (EVP_RAND_CTX_set_params(source, params.data()) != 1) return false;
  }
  return true;
}

}  // namespace weft::io::tls_detail
