// The TLS options of weft-node, weft-call and weft-load (docs/TLS.md). With any of them the
// program's node is TLS-only: every connection runs TLS 1.3 with mutual certificates.
//   --tls-dir DIR [--tls-name NAME]   DIR/ca.pem, DIR/NAME.crt and DIR/NAME.key, the files
//                                     weft-certs writes; NAME defaults to the node's --name
//   --tls-ca FILE --tls-cert FILE --tls-key FILE
//                                     the same three files named one by one
// The programs read the files themselves (the core does no I/O); weft-node reads them again
// on SIGHUP.
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "credentials.hpp"
#include "weft/io/event_node.hpp"
#include "weft/io/tls.hpp"

namespace weft::cli {

// What the command line said about TLS: "" for what it did not give.
struct TlsOptionFiles {
  std::string dir;   // --tls-dir
  std::string name;  // --tls-name
  std::string ca;    // --tls-ca
  std::string cert;  // --tls-cert
  std::string key;   // --tls-key
};

// Whether `arg` is one of the TLS options, which take a value.
inline bool is_tls_option(std::string_view arg) {
  return arg == "--tls-dir" || arg == "--tls-name" || arg == "--tls-ca" || arg == "--tls-cert" ||
         arg == "--tls-key";
}

// Records the TLS option `arg` (is_tls_option) with its value.
inline void set_tls_option(TlsOptionFiles& files, std::string_view arg, std::string value) {
  std::string& field = arg == "--tls-dir"    ? files.dir
                       : arg == "--tls-name" ? files.name
                       : arg == "--tls-ca"   ? files.ca
                       : arg == "--tls-cert" ? files.cert
                                             : files.key;
  field = std::move(value);
}

// Whether the command line asked for TLS at all.
inline bool tls_requested(const TlsOptionFiles& files) {
  return !files.dir.empty() || !files.name.empty() || !files.ca.empty() || !files.cert.empty() ||
         !files.key.empty();
}

// The usage lines of the TLS options, for a program's usage message.
inline constexpr const char* kTlsUsage =
    "TLS (the node is then TLS-only), one of:\n"
    "  --tls-dir DIR [--tls-name NAME]   DIR/ca.pem, DIR/NAME.crt, DIR/NAME.key (weft-certs\n"
    "                                    DIR NAME... makes them); NAME defaults to --name\n"
    "  --tls-ca FILE --tls-cert FILE --tls-key FILE\n"
    "                                    the CA bundle, this node's certificate, its key\n";

// Why `files` do not name one set of TLS files ("" when they do, or name none): both ways
// given, half of the explicit three, or --tls-name without --tls-dir.
inline std::string tls_choice_error(const TlsOptionFiles& files) {
  const bool explicit_any = !files.ca.empty() || !files.cert.empty() || !files.key.empty();
  const bool explicit_all = !files.ca.empty() && !files.cert.empty() && !files.key.empty();
  if (!files.dir.empty() && explicit_any)
    return "give either --tls-dir or --tls-ca, --tls-cert and --tls-key, not both";
  if (explicit_any && !explicit_all) return "--tls-ca, --tls-cert and --tls-key go together";
  if (!files.name.empty() && files.dir.empty()) return "--tls-name goes with --tls-dir";
  return "";
}

// The three paths `files` name (tls_choice_error is "", tls_requested) for node `self`.
inline io::TlsFiles tls_paths(const TlsOptionFiles& files, std::string_view self) {
  if (files.dir.empty()) return {files.ca, files.cert, files.key};
  const std::string name = files.name.empty() ? std::string(self) : files.name;
  return {files.dir + "/ca.pem", files.dir + "/" + name + ".crt", files.dir + "/" + name + ".key"};
}

// The TLS context of node `self` at a program's start: null when `files` ask for no TLS;
// nullopt after printing "PROGRAM: <TlsLoadError's message>" when the files cannot be
// loaded (the program then exits 2).
inline std::optional<std::shared_ptr<const io::TlsContext>> start_tls(std::string_view program,
                                                                      const TlsOptionFiles& files,
                                                                      std::string_view self) {
  if (!tls_requested(files)) return std::shared_ptr<const io::TlsContext>();
  io::TlsContextResult loaded = io::TlsContext::load(tls_paths(files, self));
  if (!loaded.ok()) {
    std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(program.size()), program.data(),
                 loaded.error ? loaded.error->message.c_str() : "TLS files not loaded");
    return std::nullopt;
  }
  return std::move(loaded.context);
}

// Why the command line's TLS and credential options do not fit together ("" when they do):
// tls_choice_error, then credential_choice_error (no credentials is fine with TLS).
inline std::string security_choice_error(const CredentialFiles& credentials,
                                         const TlsOptionFiles& tls) {
  if (std::string why = tls_choice_error(tls); !why.empty()) return why;
  return credential_choice_error(credentials, tls_requested(tls));
}

// At a program's start (security_choice_error is ""): loads the credentials
// (start_credentials, warning about `peers` the key ring lacks) and the TLS files
// (start_tls) of node options.config.name into `options`. False after printing why not;
// the program then exits 2.
inline bool start_security(std::string_view program, const CredentialFiles& credential_files,
                           const TlsOptionFiles& tls_files, std::span<const std::string> peers,
                           io::EventNodeOptions& options) {
  const auto credentials = start_credentials(program, credential_files, options.config.name, peers);
  if (!credentials) return false;
  auto tls = start_tls(program, tls_files, options.config.name);
  if (!tls) return false;
  options.config.auth = credentials->auth;
  options.tls = std::move(*tls);
  return true;
}

}  // namespace weft::cli
