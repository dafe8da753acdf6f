// In-memory certificate making (weft/io/tls_certs.hpp) with libcrypto's X509 API.
#include "weft/io/tls_certs.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <array>
#include <stdexcept>

#include "tls_openssl.hpp"

namespace weft::io {

using tls_detail::PkeyPtr;
using tls_detail::X509Ptr;

namespace {

[[noreturn]] void openssl_failed(std::string_view what) {
  throw std::runtime_error("weft::io certificates: " + std::string(what) + ": " +
                           tls_detail::take_openssl_errors("no reason from OpenSSL"));
}

void check(bool ok, std::string_view what) {
  if (!ok) openssl_failed(what);
}

// 32 bytes for `purpose` drawn from a deterministic seed: SHA-256 of a label, the purpose
// and the seed (little-endian).
std::array<unsigned char, 32> seeded_bytes(std::string_view purpose, std::uint64_t seed) {
  std::string input = "weft-certificate-seed/";
  input.append(purpose);
  for (int i = 0; i < 8; ++i)
    input.push_back(static_cast<char>(seed >> (8 * i)));
  std::array<unsigned char, 32> digest{};
  unsigned int size = 0;
  check(EVP_Digest(input.data(), input.size(), digest.data(), &size, EVP_sha256(), nullptr) == 1,
        "deriving bytes from the seed");
  return digest;
}

PkeyPtr new_ed25519_key(std::optional<std::uint64_t> seed) {
  PkeyPtr key;
  if (seed) {
    const std::array<unsigned char, 32> secret = seeded_bytes("key", *seed);
    key.reset(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, secret.data(), secret.size()));
  } else {
    key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  }
  check(key != nullptr, "Ed25519 key generation");
  return key;
}

// A 127-bit serial: random, or from the seed (then always 16 bytes long, so certificates
// from different seeds have one size).
void set_serial(X509* x, std::optional<std::uint64_t> seed) {
  std::unique_ptr<BIGNUM, tls_detail::FreeWith<BN_free>> serial(BN_new());
  check(serial != nullptr, "serial");
  if (seed) {
    std::array<unsigned char, 32> bytes = seeded_bytes("serial", *seed);
    bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);
    check(BN_bin2bn(bytes.data(), 16, serial.get()) != nullptr, "serial");
  } else {
    check(BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1, "serial");
  }
  check(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x)) != nullptr, "serial");
}

// A certificate with `key`'s public half, a 16-byte serial (random, or from `seed`), the
// validity window and subject CN `common_name`; issuer and extensions are the caller's.
X509Ptr new_certificate(EVP_PKEY* key, std::string_view common_name, Validity validity,
                        std::optional<std::uint64_t> seed) {
  X509Ptr certificate(X509_new());
  check(certificate != nullptr, "X509_new");
  X509* const x = certificate.get();
  check(X509_set_version(x, X509_VERSION_3) == 1, "version");
  set_serial(x, seed);
  check(ASN1_TIME_set(X509_getm_notBefore(x), static_cast<time_t>(validity.not_before_unix_s)) !=
            nullptr,
        "notBefore");
  check(ASN1_TIME_set(X509_getm_notAfter(x), static_cast<time_t>(validity.not_after_unix_s)) !=
            nullptr,
        "notAfter");
  check(X509_set_pubkey(x, key) == 1, "public key");
  // X.509 bounds a common name at 64 characters (ub-common-name); a node's names live in its
  // subjectAltName entries, so a longer one keeps its first 64 bytes here (node names are
  // printable ASCII: no character is cut in two).
  constexpr std::size_t kMaxCommonNameBytes = 64;
  const std::string_view subject_name = common_name.substr(0, kMaxCommonNameBytes);
  X509_NAME* const subject = X509_get_subject_name(x);
  check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(subject_name.data()),
                                   static_cast<int>(subject_name.size()), -1, 0) == 1,
        "subject");
  return certificate;
}

// Adds extension `nid` with value `value` (OpenSSL's configuration syntax), in the context of
// `issuer` signing `subject`.
void add_extension(X509* subject, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, subject, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  check(extension != nullptr, "extension");
  const int added = X509_add_ext(subject, extension, -1);
  X509_EXTENSION_free(extension);
  check(added == 1, "extension");
}

// The subjectAltName extension with one DNS entry per name, built entry by entry (a name is
// never parsed as configuration text).
void add_dns_names(X509* subject, std::span<const std::string> names) {
  GENERAL_NAMES* entries = GENERAL_NAMES_new();
  check(entries != nullptr, "subjectAltName");
  for (const std::string& name : names) {
    GENERAL_NAME* entry = GENERAL_NAME_new();
    ASN1_IA5STRING* text = ASN1_IA5STRING_new();
    if (entry == nullptr || text == nullptr ||
        ASN1_STRING_set(text, name.data(), static_cast<int>(name.size())) != 1) {
      GENERAL_NAME_free(entry);
      ASN1_IA5STRING_free(text);
      GENERAL_NAMES_free(entries);
      openssl_failed("subjectAltName entry");
    }
    GENERAL_NAME_set0_value(entry, GEN_DNS, text);
    if (sk_GENERAL_NAME_push(entries, entry) == 0) {
      GENERAL_NAME_free(entry);
      GENERAL_NAMES_free(entries);
      openssl_failed("subjectAltName entry");
    }
  }
  const int added = X509_add1_ext_i2d(subject, NID_subject_alt_name, entries, 0, 0);
  GENERAL_NAMES_free(entries);
  check(added == 1, "subjectAltName");
}

std::string pem_of(X509* certificate) {
  tls_detail::BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_X509(bio.get(), certificate) == 1, "PEM certificate");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string pem_of(EVP_PKEY* key) {
  tls_detail::BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM key");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace

CertifiedKey make_ca(std::string_view common_name, Validity validity,
                     std::optional<std::uint64_t> deterministic_seed) {
  ERR_clear_error();
  const PkeyPtr key = new_ed25519_key(deterministic_seed);
  const X509Ptr certificate = new_certificate(key.get(), common_name, validity, deterministic_seed);
  X509* const x = certificate.get();
  check(X509_set_issuer_name(x, X509_get_subject_name(x)) == 1, "issuer");
  add_extension(x, x, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(x, x, NID_subject_key_identifier, "hash");
  check(X509_sign(x, key.get(), nullptr) > 0, "signing the CA");  // Ed25519: no digest
  return {pem_of(x), pem_of(key.get())};
}

CertifiedKey make_node_certificate(const CertifiedKey& ca, std::span<const std::string> names,
                                   Validity validity,
                                   std::optional<std::uint64_t> deterministic_seed) {
  if (names.empty()) throw std::invalid_argument("make_node_certificate: no name");
  for (const std::string& name : names) {
    if (name.empty() || name.size() > 253 || name.find('\0') != std::string::npos) {
      throw std::invalid_argument("make_node_certificate: bad name '" + name + "'");
    }
  }
  ERR_clear_error();
  const tls_detail::BioPtr ca_bio = tls_detail::memory_bio(ca.certificate_pem);
  const X509Ptr ca_certificate(PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr));
  check(ca_certificate != nullptr, "reading the CA certificate");
  const tls_detail::BioPtr key_bio = tls_detail::memory_bio(ca.key_pem);
  const PkeyPtr ca_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  check(ca_key != nullptr, "reading the CA key");

  const PkeyPtr key = new_ed25519_key(deterministic_seed);
  const X509Ptr certificate =
      new_certificate(key.get(), names.front(), validity, deterministic_seed);
  X509* const x = certificate.get();
  check(X509_set_issuer_name(x, X509_get_subject_name(ca_certificate.get())) == 1, "issuer");
  add_extension(x, ca_certificate.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(x, ca_certificate.get(), NID_key_usage, "critical,digitalSignature");
  add_extension(x, ca_certificate.get(), NID_ext_key_usage, "serverAuth,clientAuth");
  add_extension(x, ca_certificate.get(), NID_subject_key_identifier, "hash");
  add_extension(x, ca_certificate.get(), NID_authority_key_identifier, "keyid:always");
  add_dns_names(x, names);
  check(X509_sign(x, ca_key.get(), nullptr) > 0, "signing the node certificate");
  return {pem_of(x), pem_of(key.get())};
}

}  // namespace weft::io
