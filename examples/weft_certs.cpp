// weft-certs: makes the certificates a weft cluster runs TLS with (docs/TLS.md).
//
//   weft-certs [--days N] DIR NAME...
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
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "file_io.hpp"
#include "weft/io/tls_certs.hpp"

namespace {

using weft::cli::read_file;
using weft::cli::write_file;

constexpr std::int64_t kDayS = 24 * 3600;
constexpr std::int64_t kSkewS = 3600;

void usage() {
  std::fprintf(stderr, "usage: weft-certs [--days N] DIR NAME...\n");
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

}  // namespace

int main(int argc, char** argv) {
  weft::cli::open_missing_standard_fds();  // before any file is opened
  std::vector<std::string> args(argv + 1, argv + argc);
  int days = 365;
  if (args.size() >= 2 && args[0] == "--days") {
    try {
      days = std::stoi(args[1]);
    } catch (const std::exception&) {
      days = 0;
    }
    if (days <= 0 || days > 100 * 365) {
      std::fprintf(stderr, "weft-certs: --days takes 1 to 36500\n");
      return 2;
    }
    args.erase(args.begin(), args.begin() + 2);
  }
  if (args.size() < 2) {
    usage();
    return 2;
  }
  try {
    const std::filesystem::path dir = args[0];
    std::filesystem::create_directories(dir);
    const std::int64_t now = std::time(nullptr);
    const weft::io::CertifiedKey ca = ca_in(dir, now, days);
    for (std::size_t i = 1; i < args.size(); ++i) {
      const std::string& name = args[i];
      if (name.find('/') != std::string::npos || name == "ca" || name.front() == '.') {
        throw std::invalid_argument("'" + name + "' cannot be a node name here");
      }
      const std::string names[] = {name};
      const weft::io::CertifiedKey node =
          weft::io::make_node_certificate(ca, names, {now - kSkewS, now + days * kDayS});
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
