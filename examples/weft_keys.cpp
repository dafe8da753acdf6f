// weft-keys: makes the keys of a cluster whose nodes each prove their name with a key of
// their own (weft-node --key FILE --keyring FILE; weft::KeyRingAuth).
//
//   weft-keys DIR [NAME...]
//       Makes DIR (if missing) and DIR/NAME.key for each NAME that has no key file yet: a
//       fresh Ed25519 private key (PKCS#8 PEM, mode 0600). Then writes DIR/keyring (mode
//       0644): one `NAME <public key as 64 hex digits>` line for every DIR/NAME.key, so
//       without NAMEs it only writes the ring again (after a key file was copied in or
//       removed). A key that exists is never replaced: to rotate one, delete it first.
//   weft-keys --ring-line KEY_FILE [NAME]
//       Prints the ring line of one private key: NAME (default: KEY_FILE's name without
//       ".key") and its public key. For a key made elsewhere (`openssl genpkey -algorithm
//       ed25519`), or a ring kept by hand.
//
// Node N then runs with --key DIR/N.key --keyring DIR/keyring; every node gets the same
// keyring and only its own .key. Files are written under a temporary name and renamed, so a
// node reloading on SIGHUP never reads half a file. Keep DIR for keys only: every *.key in
// it is listed. Exit status: 0 done, 1 an error (nothing is listed from a bad key file;
// output that could not be written, a ring line to a full disk, is one too), 2 usage.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "key_dir.hpp"

namespace {

int usage(const char* why) {
  std::fprintf(stderr,
               "weft-keys: %s\n"
               "usage: weft-keys DIR [NAME...]               a key per NAME, and DIR/keyring\n"
               "       weft-keys --ring-line KEY_FILE [NAME]  the ring line of one key\n",
               why);
  return 2;
}

int print_ring_line(const std::vector<std::string>& args) {
  const std::filesystem::path key = args[1];
  std::string name = args.size() == 3 ? args[2] : key.filename().string();
  if (args.size() == 2 && name.ends_with(weft::cli::kKeySuffix))
    name.resize(name.size() - weft::cli::kKeySuffix.size());
  if (!weft::valid_node_name(name)) {
    std::fprintf(stderr, "weft-keys: '%s' is not a node name; give NAME\n", name.c_str());
    return 1;
  }
  std::fputs(weft::cli::ring_line(name, weft::cli::read_file(key)).c_str(), stdout);
  return 0;
}

int make_keys(const std::vector<std::string>& args) {
  const std::filesystem::path dir = args[0];
  const std::vector<std::string> names(args.begin() + 1, args.end());
  for (const std::string& name : weft::cli::add_node_keys(dir, names))
    std::printf("wrote %s\n", weft::cli::key_file(dir, name).c_str());
  const std::size_t listed = weft::cli::write_ring(dir);
  std::printf("wrote %s: %zu node%s\n", weft::cli::ring_file(dir).c_str(), listed,
              listed == 1 ? "" : "s");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  weft::cli::open_missing_standard_fds();  // before any file is opened
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage("no directory");
  const bool ring_line = args[0] == "--ring-line";
  if (ring_line && (args.size() < 2 || args.size() > 3))
    return usage("--ring-line KEY_FILE [NAME]");
  if (!ring_line && args[0].starts_with("-")) return usage("unknown option");
  int status = 1;
  try {
    status = ring_line ? print_ring_line(args) : make_keys(args);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "weft-keys: %s\n", error.what());
  }
  // A ring line lost to a full disk is an error, whatever was done before.
  return weft::cli::stdout_written("weft-keys") ? status : 1;
}
