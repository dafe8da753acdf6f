#include "test_keys.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdexcept>

namespace weft::testing {
namespace {

// `key` (which this takes over) as PEM, encrypted with `pass_phrase` when it is not empty;
// throws when OpenSSL could not make it.
std::string pem_of(EVP_PKEY* key, const std::string& pass_phrase = {}) {
  if (key == nullptr) throw std::runtime_error("OpenSSL made no key");
  BIO* bio = BIO_new(BIO_s_mem());
  const EVP_CIPHER* cipher = pass_phrase.empty() ? nullptr : EVP_aes_256_cbc();
  const bool written =
      bio != nullptr &&
      PEM_write_bio_PKCS8PrivateKey(bio, key, cipher, pass_phrase.data(),
                                    static_cast<int>(pass_phrase.size()), nullptr, nullptr);
  char* data = nullptr;
  const long length = written ? BIO_get_mem_data(bio, &data) : 0;
  std::string pem(data == nullptr ? "" : data, static_cast<std::size_t>(length));
  BIO_free(bio);
  EVP_PKEY_free(key);
  if (pem.empty()) throw std::runtime_error("OpenSSL wrote no PEM");
  return pem;
}

}  // namespace

std::string new_ed25519_pem() {
  return pem_of(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
}

std::string encrypted_ed25519_pem(const std::string& pass_phrase) {
  return pem_of(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), pass_phrase);
}

std::string new_p256_pem() {
  return pem_of(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
}

std::string ed25519_pem_of_seed(const std::vector<std::uint8_t>& seed) {
  return pem_of(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
}

}  // namespace weft::testing
