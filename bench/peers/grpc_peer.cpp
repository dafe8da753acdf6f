// gRPC C++ (Debian's 1.51) over plaintext HTTP/2. The server is the synchronous service
// (gRPC's own thread pool). Ping-pong: the synchronous Echo call. 64 in flight: the
// completion-queue API, one thread driving 64 Echo calls. Streams and bulk: one
// client-streaming Sink call, 64 B or 1 MiB messages, answered with the server's counts.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "bench.grpc.pb.h"
#include "peer.hpp"

namespace weft_bench {
namespace {

constexpr const char* kServerDefault = "sync";

// The synchronous service: gRPC's thread pool runs each handler.
class SyncService final : public Bench::Service {
  grpc::Status Echo(grpc::ServerContext*, const Blob* request, Blob* reply) override {
    reply->set_data(request->data());
    return grpc::Status::OK;
  }

  grpc::Status Sink(grpc::ServerContext*, grpc::ServerReader<Blob>* reader,
                    Counts* counts) override {
    Blob message;
    while (reader->Read(&message)) {
      counts->set_messages(counts->messages() + 1);
      counts->set_bytes(counts->bytes() + message.data().size());
    }
    return grpc::Status::OK;
  }
};

// The callback service: handlers run as reactors on gRPC's event engine threads.
class CallbackService final : public Bench::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context, const Blob* request,
                                 Blob* reply) override {
    reply->set_data(request->data());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerReadReactor<Blob>* Sink(grpc::CallbackServerContext*, Counts* counts) override {
    class Reader final : public grpc::ServerReadReactor<Blob> {
     public:
      explicit Reader(Counts* counts) : counts_(counts) { StartRead(&message_); }
      void OnReadDone(bool ok) override {
        if (!ok) {
          Finish(grpc::Status::OK);
          return;
        }
        counts_->set_messages(counts_->messages() + 1);
        counts_->set_bytes(counts_->bytes() + message_.data().size());
        StartRead(&message_);
      }
      void OnDone() override { delete this; }

     private:
      Counts* counts_;
      Blob message_;
    };
    return new Reader(counts);
  }
};

// WEFT_BENCH_GRPC_SERVER=sync|callback picks the service (default: SERVER_DEFAULT).
[[noreturn]] void serve(Pattern, int port_fd) {
  const char* chosen = std::getenv("WEFT_BENCH_GRPC_SERVER");
  const std::string kind = chosen != nullptr ? chosen : kServerDefault;
  SyncService sync_service;
  CallbackService callback_service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  if (kind == "callback") {
    builder.RegisterService(&callback_service);
  } else {
    builder.RegisterService(&sync_service);
  }
  const std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "weft-bench grpc: the server did not start\n");
    std::abort();
  }
  announce_port(port_fd, static_cast<std::uint16_t>(port));
  server->Wait();
  std::_Exit(0);
}

std::unique_ptr<Bench::Stub> connect(std::uint16_t port) {
  return Bench::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
}

[[noreturn]] void fail(const grpc::Status& status) {
  std::fprintf(stderr, "weft-bench grpc: %s\n", status.error_message().c_str());
  std::abort();
}

double ping_pong(Bench::Stub& stub, double seconds, Latencies& latencies) {
  Blob request;
  request.set_data(std::string(kSmall, 'g'));
  Blob reply;
  std::size_t completed = 0;
  const auto start = Clock::now();
  const auto end = after(seconds);
  for (auto now = start; now < end;) {
    grpc::ClientContext context;
    const grpc::Status status = stub.Echo(&context, request, &reply);
    if (!status.ok()) fail(status);
    const auto done = Clock::now();
    latencies.us.push_back(us_between(now, done));
    now = done;
    ++completed;
  }
  return static_cast<double>(completed) / elapsed_s(start);
}

// One Echo call in flight on the completion queue; its address is the queue's tag.
struct Call {
  grpc::ClientContext context;
  Blob reply;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Blob>> reader;
  Clock::time_point sent;
};

double pipelined(Bench::Stub& stub, std::size_t in_flight, double seconds, Latencies& latencies) {
  Blob request;
  request.set_data(std::string(kSmall, 'g'));
  grpc::CompletionQueue queue;
  auto issue = [&] {
    auto* call = new Call;
    call->sent = Clock::now();
    call->reader = stub.AsyncEcho(&call->context, request, &queue);
    call->reader->Finish(&call->reply, &call->status, call);
  };
  std::size_t completed = 0;
  std::size_t outstanding = in_flight;
  const auto start = Clock::now();
  const auto end = after(seconds);
  for (std::size_t i = 0; i < in_flight; ++i)
    issue();
  void* tag = nullptr;
  bool ok = false;
  while (outstanding > 0 && queue.Next(&tag, &ok)) {
    const std::unique_ptr<Call> call(static_cast<Call*>(tag));
    if (!ok || !call->status.ok()) fail(call->status);
    const auto now = Clock::now();
    latencies.us.push_back(us_between(call->sent, now));
    ++completed;
    if (now < end) {
      issue();
    } else {
      --outstanding;
    }
  }
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  return static_cast<double>(completed) / elapsed_s(start);
}

double unary(std::uint16_t port, std::size_t in_flight, double seconds, Latencies& latencies) {
  const std::unique_ptr<Bench::Stub> stub = connect(port);
  return in_flight == 1 ? ping_pong(*stub, seconds, latencies)
                        : pipelined(*stub, in_flight, seconds, latencies);
}

// Messages of `size` bytes on one Sink call for `seconds`; the server's counts.
Counts sink(std::uint16_t port, std::size_t size, double seconds, double& elapsed) {
  const std::unique_ptr<Bench::Stub> stub = connect(port);
  Blob message;
  message.set_data(std::string(size, 's'));
  grpc::ClientContext context;
  Counts counts;
  const auto start = Clock::now();
  const auto end = after(seconds);
  const std::unique_ptr<grpc::ClientWriter<Blob>> writer = stub->Sink(&context, &counts);
  bool open = true;
  while (open && Clock::now() < end) {
    for (int i = 0; open && i < 64; ++i)
      open = writer->Write(message);
  }
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  if (!status.ok()) fail(status);
  elapsed = elapsed_s(start);
  return counts;
}

double stream(std::uint16_t port, double seconds) {
  double elapsed = 0;
  const Counts counts = sink(port, kSmall, seconds, elapsed);
  return static_cast<double>(counts.messages()) / elapsed;
}

double bulk(std::uint16_t port, double seconds) {
  double elapsed = 0;
  const Counts counts = sink(port, kBulk, seconds, elapsed);
  return static_cast<double>(counts.bytes()) / elapsed;
}

}  // namespace

const PeerDriver& grpc_driver() {
  static const PeerDriver driver{"grpc", "gRPC", serve, unary, stream, bulk, nullptr};
  return driver;
}

}  // namespace weft_bench
