// TLS contexts (weft/io/tls.hpp): loading credentials and the errors that name what is wrong,
// reloading while sessions run, the deterministic random source for the simulator, and the
// kernel TLS probe (weft/io/kernel_tls.hpp).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "tls_pki.hpp"
#include "weft/io/kernel_tls.hpp"
#include "weft/io/tls.hpp"
#include "weft/io/tls_certs.hpp"

namespace weft {
namespace {

using io::TlsContext;
using io::TlsLoadErrc;
using io::TlsRole;
using io::TlsSession;
using testing::make_pair;
using testing::TestPki;

// Fails the test unless building from `credentials` fails with `code`; returns the message.
std::string load_failure(const io::TlsCredentials& credentials, TlsLoadErrc code,
                         const io::TlsContextOptions& options = {}) {
  const io::TlsContextResult result = TlsContext::create(credentials, options);
  EXPECT_FALSE(result.ok());
  if (!result.error) return "";
  EXPECT_EQ(io::tls_load_errc_name(result.error->code), io::tls_load_errc_name(code))
      << result.error->message;
  return result.error->message;
}

class TlsContextTest : public ::testing::Test {
 protected:
  TestPki pki_;
  io::TlsCredentials node_b_ = pki_.credentials({"node-b"});
};

TEST_F(TlsContextTest, EachBadCredentialIsNamed) {
  io::TlsCredentials empty_ca = node_b_;
  empty_ca.ca_pem = "";
  empty_ca.ca_source = "/etc/weft/ca.pem";
  const std::string message = load_failure(empty_ca, TlsLoadErrc::no_certificate);
  EXPECT_EQ(message.rfind("/etc/weft/ca.pem: no PEM certificate found", 0), 0u) << message;

  io::TlsCredentials damaged = node_b_;
  damaged.chain_pem =
      "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
      "-----END CERTIFICATE-----\n";
  const std::string bad = load_failure(damaged, TlsLoadErrc::bad_certificate);
  EXPECT_EQ(bad.rfind("certificate PEM: bad certificate: ", 0), 0u) << bad;

  io::TlsCredentials no_key = node_b_;
  no_key.key_pem = node_b_.chain_pem;  // a certificate where the key should be
  load_failure(no_key, TlsLoadErrc::bad_private_key);

  io::TlsCredentials other_key = node_b_;
  other_key.key_pem = pki_.credentials({"node-c"}).key_pem;
  const std::string mismatch = load_failure(other_key, TlsLoadErrc::key_mismatch);
  EXPECT_NE(mismatch.find("does not match the certificate"), std::string::npos) << mismatch;
}

// An encrypted key is refused by name, without OpenSSL asking for its pass phrase on the
// terminal (a node started from one would wait there, its SIGHUP reload blocked for ever).
TEST_F(TlsContextTest, AnEncryptedKeyIsRefusedWithoutAskingForAPassPhrase) {
  const std::unique_ptr<BIO, decltype(&BIO_free)> in(
      BIO_new_mem_buf(node_b_.key_pem.data(), static_cast<int>(node_b_.key_pem.size())), BIO_free);
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  ASSERT_NE(key, nullptr);
  const std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  std::string pass_phrase = "correct horse battery staple";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(out.get(), key.get(), EVP_aes_256_cbc(), nullptr, 0,
                                          nullptr, pass_phrase.data()),
            1);
  char* pem = nullptr;
  const long pem_bytes = BIO_get_mem_data(out.get(), &pem);
  io::TlsCredentials encrypted = node_b_;
  encrypted.key_pem.assign(pem, static_cast<std::size_t>(pem_bytes));
  encrypted.key_source = "/etc/weft/node.key";
  ASSERT_NE(encrypted.key_pem.find("ENCRYPTED"), std::string::npos);
  const std::string message = load_failure(encrypted, TlsLoadErrc::bad_private_key);
  EXPECT_EQ(message.rfind("/etc/weft/node.key: encrypted keys are not supported", 0), 0u)
      << message;
}

TEST_F(TlsContextTest, OptionsOpenSslRefusesAreNamed) {
  io::TlsContextOptions suites;
  suites.ciphersuites = "TLS_NO_SUCH_SUITE";
  const std::string message = load_failure(node_b_, TlsLoadErrc::invalid_option, suites);
  EXPECT_NE(message.find("TLS_NO_SUCH_SUITE"), std::string::npos) << message;
  io::TlsContextOptions groups;
  groups.groups = "no-such-group";
  load_failure(node_b_, TlsLoadErrc::invalid_option, groups);
  io::TlsContextOptions depth;
  depth.max_chain_depth = -1;
  load_failure(node_b_, TlsLoadErrc::invalid_option, depth);
  io::TlsContextOptions chain;
  chain.max_peer_chain_bytes = 0;
  load_failure(node_b_, TlsLoadErrc::invalid_option, chain);
}

TEST_F(TlsContextTest, APeerChainOverItsLimitFailsTheHandshake) {
  io::TlsContextOptions small;
  small.max_peer_chain_bytes = 100;  // less than any certificate
  testing::TlsPair pair =
      make_pair(pki_.context({"node-a"}, small), testing::context_or_throw(node_b_), "node-b");
  pair.run();
  ASSERT_TRUE(pair.client.failed());
  EXPECT_EQ(pair.client.error()->code, io::TlsErrc::protocol) << pair.client.error()->message;
  EXPECT_NE(pair.client.error()->message.find("excessive message size"), std::string::npos)
      << pair.client.error()->message;
}

TEST_F(TlsContextTest, ChainDepthCountsIntermediatesOnly) {
  // Depth 0: no intermediate, and a certificate the CA signed itself still verifies.
  io::TlsContextOptions direct;
  direct.max_chain_depth = 0;
  testing::TlsPair pair = make_pair(pki_.context({"node-a"}, direct),
                                    testing::context_or_throw(node_b_, direct), "node-b");
  pair.run();
  EXPECT_TRUE(pair.client.established() && pair.server.established());
}

// A directory of its own under the system's temporary one, removed afterwards.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("weft-tls-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string file = (path_ / name).string();
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST_F(TlsContextTest, LoadsFilesAndNamesTheFileAtFault) {
  const TempDir dir;
  const io::TlsFiles files{dir.write("ca.pem", node_b_.ca_pem),
                           dir.write("node-b.crt", node_b_.chain_pem),
                           dir.write("node-b.key", node_b_.key_pem)};
  const io::TlsContextResult loaded = TlsContext::load(files);
  ASSERT_TRUE(loaded.ok()) << loaded.error->message;
  EXPECT_EQ(loaded.context->own_names(), std::vector<std::string>{"node-b"});

  io::TlsFiles missing = files;
  missing.key_path = files.key_path + ".absent";
  const io::TlsContextResult absent = TlsContext::load(missing);
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error->code, TlsLoadErrc::unreadable);
  EXPECT_EQ(absent.error->source, missing.key_path);
  EXPECT_NE(absent.error->message.find("No such file"), std::string::npos) << absent.error->message;

  io::TlsFiles swapped = files;
  swapped.chain_path = files.key_path;  // the key file where the chain should be
  const io::TlsContextResult wrong = TlsContext::load(swapped);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error->code, TlsLoadErrc::no_certificate);
  EXPECT_EQ(wrong.error->message.rfind(files.key_path + ": ", 0), 0u) << wrong.error->message;

  io::TlsFiles huge = files;
  huge.ca_path = dir.write("huge.pem", std::string((1 << 20) + 1, 'x'));
  const io::TlsContextResult too_big = TlsContext::load(huge);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error->code, TlsLoadErrc::unreadable);
  EXPECT_NE(too_big.error->message.find("larger than 1048576 bytes"), std::string::npos);
}

// A FIFO or a directory in a credential's place is refused as unreadable at once: before,
// load() opened a FIFO blocking, and weft-node's signal thread, reloading on SIGHUP, waited
// there for ever (SIGTERM then went unanswered).
TEST_F(TlsContextTest, LoadRefusesWhatIsNotARegularFileWithoutWaiting) {
  const TempDir dir;
  const io::TlsFiles files{dir.write("ca.pem", node_b_.ca_pem),
                           dir.write("node-b.crt", node_b_.chain_pem),
                           dir.write("node-b.key", node_b_.key_pem)};
  const std::string fifo = files.key_path + ".fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  const std::string directory = files.key_path + ".d";
  std::filesystem::create_directory(directory);
  for (const std::string& path : {fifo, directory}) {
    SCOPED_TRACE(path);
    io::TlsFiles odd = files;
    odd.key_path = path;
    auto loading = std::async(std::launch::async, [odd] { return TlsContext::load(odd); });
    if (loading.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      ADD_FAILURE() << "load() still waits on " << path << " after 5 s";
      // Let the blocked open go (a writer appears, then leaves: the read sees the end).
      const int writer = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);
      if (writer >= 0) ::close(writer);
    }
    const io::TlsContextResult loaded = loading.get();
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.error->code, TlsLoadErrc::unreadable);
    EXPECT_EQ(loaded.error->source, path);
    EXPECT_NE(loaded.error->message.find("not a regular file"), std::string::npos)
        << loaded.error->message;
  }
}

// A reload: new credentials (a new CA even) give a new context; sessions made from it use
// it, while a session of the old one goes on after the old context has no other owner.
TEST_F(TlsContextTest, ReloadServesNewSessionsAndOldOnesCarryOn) {
  auto server_context = testing::context_or_throw(node_b_);
  auto client_context = pki_.context({"node-a"});
  testing::TlsPair old_pair = make_pair(client_context, server_context, "node-b");
  old_pair.run();
  ASSERT_TRUE(old_pair.server.established());

  const TestPki rotated("rotated CA");
  server_context = rotated.context({"node-b"});  // the node's reload: the old context's owner
  client_context = rotated.context({"node-a"});  // is gone, only old_pair holds it now
  testing::TlsPair new_pair = make_pair(client_context, server_context, "node-b");
  new_pair.run();
  ASSERT_TRUE(new_pair.client.established()) << new_pair.client.error()->message;
  // An old client against the new server: the new CA does not know it, and vice versa.
  testing::TlsPair stale = make_pair(pki_.context({"node-a"}), server_context, "node-b");
  stale.run();
  EXPECT_TRUE(stale.client.failed() && stale.server.failed());

  const std::vector<std::uint8_t> late = testing::pattern_bytes(100'000, 3);
  std::size_t sent = 0;
  while (sent < late.size()) {
    sent += old_pair.client.write_plaintext(Bytes(late).subspan(sent));
    old_pair.run();
  }
  EXPECT_EQ(old_pair.server_received, late);
  EXPECT_TRUE(old_pair.server.established());
}

// A deterministic pair: both contexts built from the same credentials and seed each time.
struct Deterministic {
  io::TlsCredentials client;
  io::TlsCredentials server;

  testing::TlsPair run(std::uint64_t context_seed, std::uint64_t session_seed,
                       std::size_t max_chunk = 700) const {
    io::TlsContextOptions options;
    options.deterministic_seed = context_seed;
    io::TlsSessionConfig client_config = testing::session_config(TlsRole::client, "node-b");
    client_config.deterministic_seed = session_seed;
    io::TlsSessionConfig server_config = testing::session_config(TlsRole::server);
    server_config.deterministic_seed = session_seed + 1;
    testing::TlsPair pair{TlsSession(testing::context_or_throw(client, options), client_config),
                          TlsSession(testing::context_or_throw(server, options), server_config),
                          {},
                          {},
                          {},
                          {}};
    const std::vector<std::uint8_t> message = testing::pattern_bytes(5000, 4);
    pair.client.write_plaintext(message);
    pair.server.write_plaintext(message);
    pair.run(max_chunk);
    EXPECT_TRUE(pair.client.established() && pair.server.established());
    EXPECT_EQ(pair.server_received, message);
    return pair;
  }
};

TEST_F(TlsContextTest, TheSameSeedsGiveTheSameBytesOnTheWire) {
  const Deterministic setup{pki_.credentials({"node-a"}), node_b_};
  const testing::TlsPair first = setup.run(7, 100);
  const testing::TlsPair again = setup.run(7, 100);
  EXPECT_EQ(first.client_wire, again.client_wire);
  EXPECT_EQ(first.server_wire, again.server_wire);
  EXPECT_EQ(first.client.channel_binding(), again.client.channel_binding());
  // However the transport chunks the bytes.
  for (const std::size_t max_chunk : {std::size_t{1}, std::size_t{97}, std::size_t{1} << 20}) {
    const testing::TlsPair chunked = setup.run(7, 100, max_chunk);
    EXPECT_EQ(first.client_wire, chunked.client_wire) << max_chunk;
    EXPECT_EQ(first.server_wire, chunked.server_wire) << max_chunk;
  }
  // Another context seed or session seed: other bytes, the same lengths.
  for (const auto& [context_seed, session_seed] : {std::pair{8u, 100u}, std::pair{7u, 101u}}) {
    const testing::TlsPair other = setup.run(context_seed, session_seed);
    EXPECT_NE(first.client_wire, other.client_wire);
    EXPECT_NE(first.server_wire, other.server_wire);
    EXPECT_EQ(first.client_wire.size(), other.client_wire.size());
    EXPECT_EQ(first.server_wire.size(), other.server_wire.size());
  }
  io::TlsContextOptions seeded;
  seeded.deterministic_seed = 1;
  EXPECT_TRUE(testing::context_or_throw(node_b_, seeded)->deterministic());
}

TEST_F(TlsContextTest, WithoutASeedTheBytesDifferButNotTheirLengths) {
  const auto client_context = pki_.context({"node-a"});
  const auto server_context = testing::context_or_throw(node_b_);
  std::vector<std::size_t> client_sizes;
  std::vector<std::size_t> server_sizes;
  std::vector<std::vector<std::uint8_t>> hellos;
  for (int run = 0; run < 5; ++run) {
    testing::TlsPair pair = make_pair(client_context, server_context, "node-b");
    hellos.emplace_back(pair.client.pending_ciphertext().begin(),
                        pair.client.pending_ciphertext().end());
    pair.client.write_plaintext(testing::pattern_bytes(777, 1));
    pair.run(300);
    ASSERT_TRUE(pair.server.established());
    client_sizes.push_back(pair.client_wire.size());
    server_sizes.push_back(pair.server_wire.size());
  }
  for (int run = 1; run < 5; ++run) {
    EXPECT_NE(hellos[0], hellos[static_cast<std::size_t>(run)]);  // real randomness
    EXPECT_EQ(client_sizes[0], client_sizes[static_cast<std::size_t>(run)]);
    EXPECT_EQ(server_sizes[0], server_sizes[static_cast<std::size_t>(run)]);
  }
}

TEST(TlsCertificates, ASeedMakesTheSameCertificatesByteForByte) {
  const io::Validity validity = testing::current_validity();
  const io::CertifiedKey ca = io::make_ca("seeded CA", validity, 11);
  EXPECT_EQ(ca.certificate_pem, io::make_ca("seeded CA", validity, 11).certificate_pem);
  EXPECT_EQ(ca.key_pem, io::make_ca("seeded CA", validity, 11).key_pem);
  const io::CertifiedKey other_ca = io::make_ca("seeded CA", validity, 12);
  EXPECT_NE(ca.key_pem, other_ca.key_pem);
  EXPECT_EQ(ca.certificate_pem.size(), other_ca.certificate_pem.size());  // 16-byte serials
  const std::vector<std::string> names = {"node-a"};
  const io::CertifiedKey node = io::make_node_certificate(ca, names, validity, 13);
  EXPECT_EQ(node.certificate_pem,
            io::make_node_certificate(ca, names, validity, 13).certificate_pem);
  EXPECT_NE(node.key_pem, io::make_node_certificate(ca, names, validity, 14).key_pem);
  // Unseeded, every key is new.
  EXPECT_NE(io::make_ca("CA", validity).key_pem, io::make_ca("CA", validity).key_pem);
  // A seeded node certificate works like any other.
  io::TlsCredentials credentials{ca.certificate_pem, node.certificate_pem, node.key_pem};
  const auto client_context = testing::context_or_throw(credentials);
  const io::CertifiedKey server =
      io::make_node_certificate(ca, std::vector<std::string>{"node-b"}, validity, 15);
  const auto server_context = testing::context_or_throw(
      io::TlsCredentials{ca.certificate_pem, server.certificate_pem, server.key_pem});
  testing::TlsPair pair = make_pair(client_context, server_context, "node-b");
  pair.run();
  EXPECT_TRUE(pair.client.established() && pair.server.established());
  EXPECT_EQ(pair.server.peer_names(), names);
}

// A node name longer than X.509's 64-byte common name still gets a certificate: the names
// live in the subjectAltName entries, and the subject's CN keeps the first 64 bytes. Before,
// OpenSSL refused the CN ("string too long") and weft-certs could not certify such a node.
TEST(TlsCertificates, ANameLongerThanACommonNameIsCertifiedWhole) {
  const io::Validity validity = testing::current_validity();
  const io::CertifiedKey ca = io::make_ca(std::string(100, 'c'), validity, 21);
  const std::vector<std::string> long_name = {std::string(100, 'n')};
  const io::CertifiedKey node = io::make_node_certificate(ca, long_name, validity, 22);
  const auto context =
      testing::context_or_throw({ca.certificate_pem, node.certificate_pem, node.key_pem});
  EXPECT_EQ(context->own_names(), long_name);
  const io::CertifiedKey peer =
      io::make_node_certificate(ca, std::vector<std::string>{"node-b"}, validity, 23);
  testing::TlsPair pair = make_pair(
      context, testing::context_or_throw({ca.certificate_pem, peer.certificate_pem, peer.key_pem}),
      "node-b");
  pair.run();
  EXPECT_TRUE(pair.client.established() && pair.server.established());
  EXPECT_EQ(pair.server.peer_names(), long_name);
}

TEST(KernelTlsProbe, ReportsWhatTheKernelSaid) {
  const io::KernelTlsProbe probe = io::probe_kernel_tls();
  std::printf("kernel TLS: %s (%s)\n", probe.available ? "available" : "not available",
              probe.detail.c_str());
  if (probe.available) {
    EXPECT_EQ(probe.detail, "TCP_ULP tls accepted");
  } else {
    EXPECT_NE(probe.detail.find(": "), std::string::npos) << probe.detail;
  }
  // The kernel lists the upper layer protocols it has loaded; "tls" there means the probe
  // must have found it.
  std::ifstream ulps("/proc/sys/net/ipv4/tcp_available_ulp");
  std::string listed;
  std::getline(ulps, listed);
  if (listed.find("tls") != std::string::npos) {
    EXPECT_TRUE(probe.available) << listed;
  }
}

}  // namespace
}  // namespace weft
