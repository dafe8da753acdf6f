#include "weft_side.hpp"

#include <unistd.h>

#include <cstdlib>
#include <ctime>

namespace weft_bench {

std::pair<std::string, std::string> names() {
  for (int i = 0;; ++i) {
    const std::string client = "bench-client-" + std::to_string(i);
    if (dial_rule_dials(client, "bench-server")) return {client, "bench-server"};
  }
}

NodeConfig config_for(const std::string& name, const std::string& peer, std::size_t queue_kib) {
  NodeConfig config;
  config.name = name;
  config.peers = {peer};
  config.auth = std::make_shared<SharedKeyAuth>("bench-cluster-key");
  config.checksums = true;
  // Room for an 8 MiB stream message in one frame, as a peer that sends them whole needs.
  config.limits.max_frame_bytes = 16u << 20;
  if (queue_kib > 0) {
    config.limits.output_high_water_bytes = queue_kib * 1024;
    config.limits.chunk_bytes = queue_kib * 1024 / 2;
    config.limits.object_chunk_bytes = queue_kib * 1024 / 2;
  }
  return config;
}

void tune(io::EventNodeOptions& options, std::size_t queue_kib) {
  if (queue_kib == 0) return;
  options.socket_unsent_bytes = queue_kib * 1024 / 2;
  options.socket_receive_bytes = queue_kib * 1024;
}

BenchTls make_bench_tls() {
  const auto now_s = static_cast<std::int64_t>(std::time(nullptr));
  const io::Validity validity{now_s - 86'400, now_s + 86'400};
  const io::CertifiedKey ca = io::make_ca("weft-bench CA", validity);
  const auto [client, server] = names();
  auto credentials = [&](const std::string& name) {
    const io::CertifiedKey node =
        io::make_node_certificate(ca, std::vector<std::string>{name}, validity);
    return io::TlsCredentials{ca.certificate_pem, node.certificate_pem, node.key_pem};
  };
  return {credentials(client), credentials(server)};
}

void use_tls(io::EventNodeOptions& options, const io::TlsCredentials* credentials) {
  if (credentials == nullptr) return;
  io::TlsContextResult made = io::TlsContext::create(*credentials);
  if (!made.ok()) {
    std::fprintf(stderr, "TLS context: %s\n", made.error->message.c_str());
    std::abort();
  }
  options.tls = made.context;
}

std::vector<std::string> weft_serve_args(std::size_t queue_kib, const io::TlsCredentials* tls,
                                         io::LoopScheduling scheduling, io::LoopBackend loop) {
  std::vector<std::string> args = {"weft", "--queue-kib", std::to_string(queue_kib)};
  if (scheduling == io::LoopScheduling::batch)
    args.insert(args.end(), {"--loop-scheduling", "batch"});
  if (loop == io::LoopBackend::io_uring) args.insert(args.end(), {"--loop", "io_uring"});
  if (tls != nullptr) {
    // Throwaway credentials made for this run, so the command line may show them.
    args.insert(args.end(),
                {"--tls-ca", tls->ca_pem, "--tls-cert", tls->chain_pem, "--tls-key", tls->key_pem});
  }
  return args;
}

void serve_weft(const std::vector<std::string>& args, int port_fd) {
  std::size_t queue_kib = Options{}.queue_kib;  // the client passes its own; this is a fallback
  io::TlsCredentials credentials;
  io::LoopScheduling scheduling = io::LoopScheduling::inherit;
  io::LoopBackend loop = io::LoopBackend::libevent;
  for (std::size_t i = 1; i + 1 < args.size(); i += 2) {
    if (args[i] == "--loop" && args[i + 1] == "io_uring") loop = io::LoopBackend::io_uring;
    if (args[i] == "--queue-kib") queue_kib = static_cast<std::size_t>(std::stoul(args[i + 1]));
    if (args[i] == "--loop-scheduling" && args[i + 1] == "batch")
      scheduling = io::LoopScheduling::batch;
    if (args[i] == "--tls-ca") credentials.ca_pem = args[i + 1];
    if (args[i] == "--tls-cert") credentials.chain_pem = args[i + 1];
    if (args[i] == "--tls-key") credentials.key_pem = args[i + 1];
  }
  const io::TlsCredentials* tls = credentials.ca_pem.empty() ? nullptr : &credentials;
  const auto [client, server] = names();
  io::EventNodeOptions options;
  options.config = config_for(server, client, queue_kib);
  tune(options, queue_kib);
  use_tls(options, tls);
  options.loop_scheduling = scheduling;
  options.loop_backend = loop;
  io::EventNode node(options);
  node.handle(kEcho, "",
              [](io::IncomingRequest&& request) { request.responder.respond(request.payload); });
  node.handle(kDiscard, "", [](io::IncomingRequest&& request) { request.responder.respond({}); });
  // Reads every object whole (the bytes pass through on_data) and lets it finish.
  node.handle_objects("sink", ObjectWindow{64, 16u << 20},
                      [](const io::IncomingObject&, io::ObjectReader) { return io::ObjectSink{}; });
  node.handle_stream(kSink, "", StreamWindow{4096, 32u << 20},
                     [](const io::IncomingStream&, io::StreamSession) {
                       io::StreamCallbacks callbacks;
                       callbacks.on_message = [](io::StreamSession&, Bytes) {};
                       callbacks.on_input_end = [](io::StreamSession& session) { session.close(); };
                       return callbacks;
                     });
  if (node.start() != Errc::ok) {
    std::fprintf(stderr, "weft-bench: the server node did not start\n");
    std::_Exit(1);
  }
  const std::uint16_t port = node.port();
  announce_port(port_fd, port);
  pause();  // until the parent kills us
  std::_Exit(0);
}

}  // namespace weft_bench
