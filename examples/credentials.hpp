// The credentials weft-node, weft-call and weft-load prove their name with, from files the
// command line names. There is no default: a program given none exits with an error naming
// both choices.
//   --key FILE --keyring FILE   a key per node (recommended): FILE is this node's Ed25519
//                               private key (PEM), the ring lists every node's public key
//                               (`NAME <64 hex digits>` lines, this node's own included;
//                               weft-keys writes both). A node missing from the ring cannot
//                               connect to this one.
//   --cluster-key-file FILE     one secret shared by the cluster (HMAC-SHA256): the file's
//                               bytes without a trailing newline, at least 16. Every holder
//                               can claim any node's name; a warning says so.
//   neither, with TLS           the TLS certificate alone names the node (CertificateAuth:
//                               its subjectAltName; tls_options.hpp). Without TLS, giving
//                               neither is an error. With TLS either kind still works too.
// The programs read the files themselves (the core does no I/O) and weft-node reads them
// again on SIGHUP.
#pragma once

#include <string.h>  // explicit_bzero

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "file_io.hpp"
#include "weft/auth.hpp"

namespace weft::cli {

// What the command line said about credentials: paths, "" when not given.
struct CredentialFiles {
  std::string key;          // --key
  std::string keyring;      // --keyring
  std::string cluster_key;  // --cluster-key-file
};

// Whether `arg` is one of the credential options, which take a value.
inline bool is_credential_option(std::string_view arg) {
  return arg == "--key" || arg == "--keyring" || arg == "--cluster-key-file";
}

// Records the credential option `arg` (is_credential_option) with its value.
inline void set_credential_option(CredentialFiles& files, std::string_view arg, std::string value) {
  std::string& field = arg == "--key"       ? files.key
                       : arg == "--keyring" ? files.keyring
                                            : files.cluster_key;
  field = std::move(value);
}

// The usage lines of the credential options, for a program's usage message.
inline constexpr const char* kCredentialUsage =
    "credentials, one of:\n"
    "  --key FILE --keyring FILE   this node's Ed25519 key and every node's public key\n"
    "                              (a key per node; weft-keys DIR NAME... makes them)\n"
    "  --cluster-key-file FILE     one secret of at least 16 bytes shared by the cluster\n"
    "                              (any holder can claim any name)\n"
    "  neither, with TLS           the certificate names the node (--tls-*)\n";

// Whether `files` name no credentials at all.
inline bool no_credential_files(const CredentialFiles& files) {
  return files.key.empty() && files.keyring.empty() && files.cluster_key.empty();
}

// Why `files` do not choose one kind of credentials ("" when they do): none given (an error
// only without `tls`, where nothing else would name the node), both kinds given, or half a
// key ring.
inline std::string credential_choice_error(const CredentialFiles& files, bool tls = false) {
  const bool ring = !files.key.empty() || !files.keyring.empty();
  const bool shared = !files.cluster_key.empty();
  if (!ring && !shared) {
    if (tls) return "";
    return "no credentials: give --key FILE --keyring FILE (a key per node, made by weft-keys) "
           "or --cluster-key-file FILE (one key shared by the cluster)";
  }
  if (ring && shared) {
    return "give either --key and --keyring (a key ring) or --cluster-key-file (a shared "
           "key), not both";
  }
  if (ring && (files.key.empty() || files.keyring.empty()))
    return "--key and --keyring go together";
  return "";
}

// An authenticator made from the files, and what its user should hear about them.
struct Credentials {
  std::shared_ptr<const Authenticator> auth;
  // The names the key ring lists (this node's own too); nullopt for a shared key, which
  // lets every name in.
  std::optional<std::vector<std::string>> ring_names;
  // Not fatal, each a line to print: a secret file its group or others may read, the
  // weakness of a shared key.
  std::vector<std::string> warnings;
};

namespace detail {

// Overwrites a secret's text with zeros when its scope ends, however it ends: the
// authenticator keeps its own copy (SharedKeyAuth wipes it; KeyRingAuth's is OpenSSL's).
class WipedAtExit {
 public:
  explicit WipedAtExit(std::string& secret) : text_(secret) {}
  WipedAtExit(const WipedAtExit&) = delete;
  WipedAtExit& operator=(const WipedAtExit&) = delete;
  ~WipedAtExit() { explicit_bzero(text_.data(), text_.size()); }

 private:
  std::string& text_;
};

// The file at `path`, with a warning in `warnings` when its group or others may use it.
inline std::string read_secret(const std::string& path, std::vector<std::string>& warnings) {
  std::string text = read_file(path);
  if (const auto mode = permissions(path); mode && (*mode & 077) != 0) {
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(*mode));
    warnings.push_back("permissions " + std::string(octal) + " of " + path +
                       " let its group or others read a secret key; chmod 600 it");
  }
  return text;
}

inline Credentials key_ring(const CredentialFiles& files, std::string_view self) {
  Credentials made;
  std::string pem = read_secret(files.key, made.warnings);
  const WipedAtExit wipe_pem{pem};
  std::map<std::string, Ed25519PublicKey> ring;
  Ed25519PublicKey own{};
  try {
    ring = KeyRingAuth::parse_ring(read_file(files.keyring));
  } catch (const std::invalid_argument& error) {
    throw std::runtime_error(files.keyring + ": " + error.what());
  }
  try {
    own = KeyRingAuth::public_key_of(pem);
  } catch (const std::invalid_argument& error) {
    throw std::runtime_error(files.key + ": " + error.what());
  }
  const auto listed = ring.find(std::string(self));
  if (listed == ring.end()) {
    throw std::runtime_error(files.keyring + " has no line for this node, " + std::string(self) +
                             " (its key's line is `" + std::string(self) + " " +
                             KeyRingAuth::hex(own) + "`)");
  }
  if (listed->second != own) {
    throw std::runtime_error(files.keyring + "'s line for " + std::string(self) +
                             " does not match the public key of " + files.key + " (" +
                             KeyRingAuth::hex(own) + "): a wrong key file or an old ring");
  }
  made.ring_names.emplace();
  for (const auto& entry : ring)
    made.ring_names->push_back(entry.first);
  made.auth = std::make_shared<KeyRingAuth>(pem, std::move(ring));
  return made;
}

// A cluster key shorter than this is warned about: a passphrase can be searched offline.
inline constexpr std::size_t kRandomClusterKeyBytes = 32;

inline Credentials shared_key(const CredentialFiles& files) {
  Credentials made;
  std::string key = read_secret(files.cluster_key, made.warnings);
  const WipedAtExit wipe_key{key};
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r'))
    key.pop_back();
  try {
    made.auth = std::make_shared<SharedKeyAuth>(std::string_view(key));
  } catch (const std::invalid_argument& error) {
    throw std::runtime_error(files.cluster_key + ": " + error.what());
  }
  made.warnings.push_back(
      "a shared cluster key (--cluster-key-file): any holder of it can claim any node's "
      "name; a key per node (--key, --keyring) binds each name to its own key");
  if (key.size() < kRandomClusterKeyBytes) {
    made.warnings.push_back(
        "the cluster key in " + files.cluster_key + " is " + std::to_string(key.size()) +
        " bytes: anyone who can reach a node gets an HMAC under it of bytes they know (a "
        "challenge), and can test guesses of it offline; use " +
        std::to_string(kRandomClusterKeyBytes) + " random bytes as text (head -c " +
        std::to_string(kRandomClusterKeyBytes) + " /dev/urandom | base64 > FILE)");
  }
  return made;
}

}  // namespace detail

// Reads the files `files` name (credential_choice_error must be "") and makes the
// authenticator of node `self`; with no files (allowed only with TLS) a CertificateAuth, by
// which the TLS certificate alone names each node. Throws std::runtime_error naming the file and
// the problem: unreadable, not a key, a malformed ring line, a cluster key under 16 bytes, a ring
// without this node or whose line for it is another key than --key's.
inline Credentials load_credentials(const CredentialFiles& files, std::string_view self) {
  if (no_credential_files(files)) return {std::make_shared<CertificateAuth>(), std::nullopt, {}};
  return files.cluster_key.empty() ? detail::key_ring(files, self) : detail::shared_key(files);
}

// The names of `peers` the credentials will refuse: those missing from the key ring (none
// with a shared key).
inline std::vector<std::string> peers_without_key(const Credentials& credentials,
                                                  std::span<const std::string> peers) {
  std::vector<std::string> missing;
  if (!credentials.ring_names) return missing;
  const std::vector<std::string>& names = *credentials.ring_names;
  for (const std::string& peer : peers) {
    if (!std::binary_search(names.begin(), names.end(), peer)) missing.push_back(peer);
  }
  return missing;
}

// Prints the credentials' warnings, and a line per peer of `peers` the ring lacks, to
// stderr as "PREFIX: warning: ...".
inline void print_credential_warnings(std::string_view prefix, const Credentials& credentials,
                                      std::span<const std::string> peers) {
  const auto warn = [prefix](const std::string& line) {
    std::fprintf(stderr, "%.*s: warning: %s\n", static_cast<int>(prefix.size()), prefix.data(),
                 line.c_str());
  };
  for (const std::string& line : credentials.warnings)
    warn(line);
  for (const std::string& peer : peers_without_key(credentials, peers))
    warn("the key ring has no key for peer " + peer +
         ": its handshakes fail (auth_failed); a connection to it open now stays up until "
         "it ends");
}

// load_credentials at a program's start, its warnings printed (print_credential_warnings);
// nullopt after printing "PROGRAM: <why>" when they cannot be made.
inline std::optional<Credentials> start_credentials(std::string_view program,
                                                    const CredentialFiles& files,
                                                    std::string_view self,
                                                    std::span<const std::string> peers) {
  try {
    Credentials credentials = load_credentials(files, self);
    print_credential_warnings(program, credentials, peers);
    return credentials;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(program.size()), program.data(),
                 error.what());
    return std::nullopt;
  }
}

}  // namespace weft::cli
