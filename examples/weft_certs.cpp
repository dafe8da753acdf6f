// weft-certs: makes the certificates a weft cluster runs TLS with (docs/TLS.md).
//
//   weft-certs [--days N] DIR NAME...
//
// Options may come anywhere (`--` ends them). A bad command line (an unknown option, a
// --days that is not a whole number from 1 to 36500, a NAME that is not a node name or is
// "ca") exits 2 having written nothing.
//
// Writes into DIR (created if missing):
//   ca.pem, ca.key      a CA (Ed25519), made on the first run; later runs reuse it, so nodes
//                       can be added to a cluster whose CA exists. With one of the two
//                       missing (a CA key kept offline) a run fails (status 1), writing
//                       nothing, rather than replace the CA
//   NAME.crt, NAME.key  per node: a certificate the CA signs whose subjectAltName DNS entry is
//                       NAME (the node's weft name), and its Ed25519 key
// Keys are written with mode 0600, certificates 0644; every file is written under a temporary
// name and renamed into place, so a node reloading on SIGHUP never reads half a file.
// Certificates are valid from an hour ago (clock skew) for N days (default 365; the CA for
// ten times as long). A node runs with --tls-ca DIR/ca.pem --tls-cert DIR/NAME.crt
// --tls-key DIR/NAME.key.
#include <charconv>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "file_io.hpp"
#include "weft/io/tls_certs.hpp"
#include "weft/wire.hpp"

namespace {

using weft::cli::read_file;
using weft::cli::write_file;

constexpr std::int64_t kDayS = 24 * 3600;
constexpr std::int64_t kSkewS = 3600;
constexpr int kMaxDays = 100 * 365;

void usage() {
  std::fprintf(stderr,
               "usage: weft-certs [--days N] DIR NAME...  (--days 1..36500, default 365)\n");
}

// The CA in `dir`: read when both its files exist, made and written when neither does. One
// without the other (a CA key kept offline, a file lost) throws: a new CA would overwrite
// the one every existing certificate verifies against.
weft::io::CertifiedKey ca_in(const std::filesystem::path& dir, std::int64_t now, int days) {
  const auto certificate = dir / "ca.pem";
  const auto key = dir / "ca.key";
  const bool has_certificate = std::filesystem::exists(certificate);
  const bool has_key = std::filesystem::exists(key);
  if (has_certificate && has_key) {
    std::printf("using the CA in %s\n", certificate.c_str());
    return {read_file(certificate), read_file(key)};
  }
  if (has_certificate || has_key) {
    const auto& missing = has_certificate ? key : certificate;
    throw std::runtime_error(
        missing.string() + " is missing beside " + (has_certificate ? certificate : key).string() +
        ": put it back to sign with this CA (or move both away to start a new CA, which "
        "the existing certificates will not verify against)");
  }
  const weft::io::CertifiedKey ca =
      weft::io::make_ca("weft cluster CA", {now - kSkewS, now + 10 * days * kDayS});
  write_file(key, ca.key_pem, 0600);
  write_file(certificate, ca.certificate_pem, 0644);
  std::printf("wrote %s and %s\n", certificate.c_str(), key.c_str());
  return ca;
}

struct Args {
  int days = 365;
  std::string dir;
  std::vector<std::string> names;
};

// Whether `name` can name a node here: a weft node name (PROTOCOL.md §3.2: 1..255 bytes,
// each 0x21..0x7e) that is also a file name of DIR's own: no '/', not starting with '.',
// not "ca" (the CA's files).
bool node_name_ok(const std::string& name) {
  return weft::valid_node_name(name) && name.find('/') == std::string::npos &&
         name.front() != '.' && name != "ca";
}

// The command line, options anywhere (`--` ends them); the first problem, if any. Nothing
// is written before the whole of it is checked.
std::optional<std::string> parse(int argc, char** argv, Args& args) {
  std::vector<std::string> positional;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (options_done || !arg.starts_with("-")) {
      positional.emplace_back(arg);
    } else if (arg == "--") {
      options_done = true;
    } else if (arg == "--days") {
      if (i + 1 == argc) return "--days takes a value";
      const std::string_view text = argv[++i];
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), args.days);
      if (ec != std::errc{} || end != text.data() + text.size() || args.days <= 0 ||
          args.days > kMaxDays) {
        return "--days takes a whole number from 1 to " + std::to_string(kMaxDays) + ", not '" +
               std::string(text) + "'";
      }
    } else {
      return "unknown option '" + std::string(arg) + "'";
    }
  }
  if (positional.size() < 2) return "DIR and at least one NAME are needed";
  args.dir = positional[0];
  args.names.assign(positional.begin() + 1, positional.end());
  for (const std::string& name : args.names) {
    if (!node_name_ok(name)) {
      return "'" + name +
             "' cannot be a node name here (1 to 255 printable bytes, no spaces, no '/', not "
             "starting with '.', not \"ca\")";
    }
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  weft::cli::open_missing_standard_fds();  // before any file is opened
  Args args;
  if (const std::optional<std::string> bad = parse(argc, argv, args)) {
    std::fprintf(stderr, "weft-certs: %s\n", bad->c_str());
    usage();
    return 2;
  }
  try {
    const std::filesystem::path dir = args.dir;
    std::filesystem::create_directories(dir);
    const std::int64_t now = std::time(nullptr);
    const weft::io::CertifiedKey ca = ca_in(dir, now, args.days);
    for (const std::string& name : args.names) {
      const std::string names[] = {name};
      const weft::io::CertifiedKey node =
          weft::io::make_node_certificate(ca, names, {now - kSkewS, now + args.days * kDayS});
      write_file(dir / (name + ".key"), node.key_pem, 0600);
      write_file(dir / (name + ".crt"), node.certificate_pem, 0644);
      std::printf("wrote %s/%s.crt and %s.key\n", dir.c_str(), name.c_str(), name.c_str());
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "weft-certs: %s\n", error.what());
    return 1;
  }
  return weft::cli::stdout_written("weft-certs") ? 0 : 1;
}
