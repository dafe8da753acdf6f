// weft-certs: makes the certificates a weft cluster runs TLS with (docs/TLS.md).
//
//   weft-certs [--days N] [--ca-dir CA_DIR] DIR NAME...
//
// Options may come anywhere (`--` ends them). A bad command line (an unknown option, a
// --days that is not a whole number from 1 to 36500, a --ca-dir without a path or within
// DIR, a NAME that is not a node name or is "ca") exits 2 having written nothing.
//
// Writes into DIR (created if missing):
//   ca.pem, ca.key      a CA (Ed25519), made on the first run; later runs reuse it, so nodes
//                       can be added to a cluster whose CA exists. With one of the two
//                       missing (a CA key kept offline) a run fails (status 1), writing
//                       nothing, rather than replace the CA. With --ca-dir the CA's two
//                       files live in CA_DIR instead (created if missing), and DIR gets a
//                       copy of ca.pem only: DIR can be handed to the nodes whole without
//                       the key that signs for the cluster (CA_DIR, when made, is 0700). A
//                       DIR with a ca.pem that is not CA_DIR's CA is refused (status 1,
//                       nothing written): its nodes trust that one
//   NAME.crt, NAME.key  per node: a certificate the CA signs whose subjectAltName DNS entry is
//                       NAME (the node's weft name), and its Ed25519 key
// Keys are written with mode 0600, certificates 0644; every file is written under a temporary
// name and renamed into place, so a node reloading on SIGHUP never reads half a file.
// Certificates are valid from an hour ago (clock skew) for N days (default 365; the CA for
// ten times as long). A node runs with --tls-ca DIR/ca.pem --tls-cert DIR/NAME.crt
// --tls-key DIR/NAME.key.
#include <algorithm>
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
               "usage: weft-certs [--days N] [--ca-dir CA_DIR] DIR NAME...  (--days 1..36500, "
               "default 365)\n");
}

// The CA in `dir`: read when both its files exist, made and written when neither does (`dir`
// made if missing, mode 0700 when the CA is kept `apart` from the nodes' files). One without
// the other (a CA key kept offline, a file lost) throws having written nothing: a new CA
// would overwrite the one every existing certificate verifies against.
weft::io::CertifiedKey ca_in(const std::filesystem::path& dir, bool apart, std::int64_t now,
                             int days) {
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
  // A directory made for the CA alone is its owner's only.
  if (std::filesystem::create_directories(dir) && apart) {
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
  }
  write_file(key, ca.key_pem, 0600);
  write_file(certificate, ca.certificate_pem, 0644);
  std::printf("wrote %s and %s\n", certificate.c_str(), key.c_str());
  return ca;
}

// `path` made absolute and normal, without a trailing separator (it may not exist yet):
// with its symbolic links resolved, as far as it exists, when `resolved`; else as written,
// except that a ".." after a link goes up from where the link leads, as the kernel takes
// it (DIR/link/.. is the parent of the link's target, not DIR).
std::filesystem::path normal(const std::filesystem::path& path, bool resolved = true) {
  const std::filesystem::path absolute = std::filesystem::absolute(path);
  std::filesystem::path normal;
  if (resolved) {
    normal = std::filesystem::weakly_canonical(absolute).lexically_normal();
  } else {
    for (const std::filesystem::path& part : absolute) {
      if (part.empty() || part == ".") continue;
      if (part != "..") {
        normal /= part;
      } else if (std::filesystem::is_symlink(normal)) {
        normal = std::filesystem::weakly_canonical(normal).parent_path();
      } else if (normal.has_relative_path()) {
        normal = normal.parent_path();
      }
    }
  }
  if (!normal.has_filename() && normal.has_parent_path()) normal = normal.parent_path();
  return normal;
}

// Whether `path` is `dir` or lies under it, part by part.
bool under(const std::filesystem::path& path, const std::filesystem::path& dir) {
  return std::mismatch(dir.begin(), dir.end(), path.begin(), path.end()).first == dir.end();
}

// Whether `inner` is `outer` or lies under it: as written (a link under `outer` travels with
// it when it is copied), or at any step of the way to it with links resolved (a path that
// reaches `outer` through a link, then leaves it through a link in it, went through it).
bool within(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  const std::filesystem::path written = normal(inner, false);
  if (under(written, normal(outer, false))) return true;
  const std::filesystem::path outer_resolved = normal(outer, true);
  std::filesystem::path step;
  for (const std::filesystem::path& part : written) {
    step /= part;
    if (under(normal(step, true), outer_resolved)) return true;
  }
  return false;
}

// With the CA kept apart (--ca-dir): DIR's copy of the CA's certificate, if it has one, must
// be the kept CA's (a new CA would be made only where none is kept yet, and it differs).
void check_published_ca(const std::filesystem::path& dir, const std::filesystem::path& ca_dir) {
  const auto published = dir / "ca.pem";
  if (!std::filesystem::exists(published)) return;
  const auto kept = ca_dir / "ca.pem";
  if (!std::filesystem::exists(kept)) {
    const auto key = dir / "ca.key";
    throw std::runtime_error(
        published.string() + " is a CA's, and " + ca_dir.string() + " holds none: " +
        (std::filesystem::exists(key)
             ? "to keep that CA apart, move " + published.string() + " and " + key.string() +
                   " into " + ca_dir.string()
             : std::string("name the directory that keeps that CA with --ca-dir")) +
        " (a new CA would not verify the certificates in " + dir.string() + ")");
  }
  if (read_file(kept) == read_file(published)) return;
  throw std::runtime_error(published.string() + " is not the CA in " + ca_dir.string() +
                           ": the nodes using " + dir.string() +
                           " trust that other CA, and would not verify certificates this one "
                           "signs");
}

struct Args {
  int days = 365;
  std::string ca_dir;  // empty: the CA lives in `dir`
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
    } else if (arg == "--ca-dir") {
      if (i + 1 == argc || std::string_view(argv[i + 1]).empty() || argv[i + 1][0] == '-') {
        return "--ca-dir takes a path";
      }
      args.ca_dir = argv[++i];
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
    const std::filesystem::path ca_dir =
        args.ca_dir.empty() ? dir : std::filesystem::path(args.ca_dir);
    const bool ca_apart = normal(dir) != normal(ca_dir);
    if (ca_apart && within(ca_dir, dir)) {
      std::fprintf(stderr,
                   "weft-certs: --ca-dir %s lies within %s: the CA's key would go wherever "
                   "the nodes' files go\n",
                   ca_dir.c_str(), dir.c_str());
      usage();
      return 2;
    }
    if (ca_apart) check_published_ca(dir, ca_dir);
    const std::int64_t now = std::time(nullptr);
    const weft::io::CertifiedKey ca = ca_in(ca_dir, ca_apart, now, args.days);
    std::filesystem::create_directories(dir);
    if (ca_apart) {
      write_file(dir / "ca.pem", ca.certificate_pem, 0644);
      if (const auto key = dir / "ca.key"; std::filesystem::exists(key)) {
        std::fprintf(stderr,
                     "weft-certs: warning: %s is a CA's key beside the nodes' files; keep it "
                     "in %s only\n",
                     key.c_str(), ca_dir.c_str());
      }
    }
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
