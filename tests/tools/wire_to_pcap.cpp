// weft_wire_to_pcap: turns captured weft byte streams into a pcap file that Wireshark and
// tshark read as real TCP connections (Ethernet, IPv4, TCP with consistent seq/ack, a
// handshake and a close), so the dissector (scripts/wireshark/weft.lua) sees what a live
// capture would show.
//
//   weft_wire_to_pcap [OPTIONS] OUT.pcap CONNECTION...
//   weft_wire_to_pcap [OPTIONS] --capture-dir DIR OUT.pcap
//   OPTIONS: [--max-segment N] [--seed S] [--manifest FILE] [--skip-bytes N]
//
// CONNECTION is DIALER_FILE[,ACCEPTOR_FILE]: the bytes each side wrote, from the first.
// --capture-dir takes every file of a `weft-sim --capture DIR` run
// (<link>-<writer>-to-<reader>.wire), pairs the two directions of each link, and makes the
// side whose bytes start with a hello the dialer. Each node gets an address 10.0.0.N (names
// in sorted order); the acceptor listens on port 7700 (no dissector claims it) and the
// dialer of connection i uses port 40000 + i. The bytes are cut into segments of 1..N bytes
// (N: --max-segment, default 1448, at most 65495), sizes drawn from a generator seeded by
// --seed (default 1), so a frame may span segments and a segment may hold several frames;
// the two directions take turns, the dialer first. Same inputs and seed, same file, byte
// for byte. --manifest FILE writes a line "STREAM DIRECTION PATH" per input file:
// connection STREAM (Wireshark's tcp.stream, in the order written), DIRECTION 0 for the
// dialer's bytes, 1 the acceptor's. --skip-bytes N starts the capture inside the
// connections: no handshake, and each direction's first N bytes left out (its sequence
// numbers count them all the same).
//
// Exit status: 0 written; 1 an input could not be read or the output written; 2 usage.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../../examples/file_io.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::size_t kMaxSegmentBytes = 65495;  // 65535 - IPv4 and TCP headers
constexpr std::uint16_t kAcceptorPort = 7700;
constexpr std::uint16_t kFirstDialerPort = 40000;
constexpr std::uint32_t kFirstSecond = 1767225600;  // 2026-01-01T00:00:00Z
constexpr std::uint8_t kSyn = 0x02, kFin = 0x01, kPsh = 0x08, kAck = 0x10;

struct Options {
  std::size_t max_segment_bytes = 1448;
  std::uint64_t seed = 1;
  std::size_t skip_bytes = 0;
  std::string capture_dir;
  std::string manifest_path;
  std::string out_path;
  std::vector<std::string> connections;
};

// One TCP connection: what each side wrote and where it sits.
struct Connection {
  Bytes dialer_bytes;
  Bytes acceptor_bytes;
  std::string dialer_path;
  std::string acceptor_path;  // empty when nothing came back
  std::uint32_t dialer_ip = 0;
  std::uint32_t acceptor_ip = 0;
  std::uint16_t dialer_port = 0;
};

// SplitMix64: a small seeded generator; the same seed cuts the same segments.
struct Generator {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

void put16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
void put32(Bytes& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v));
}
// pcap's own headers are in the writer's byte order: little-endian here.
void put32_le(Bytes& out, std::uint32_t v) {
  for (int shift = 0; shift < 32; shift += 8)
    out.push_back(static_cast<std::uint8_t>(v >> shift));
}

// The Internet checksum (RFC 1071) of `bytes`, starting from `sum`.
std::uint16_t internet_checksum(const std::uint8_t* bytes, std::size_t size, std::uint32_t sum) {
  for (std::size_t i = 0; i + 1 < size; i += 2)
    sum += static_cast<std::uint32_t>(bytes[i] << 8 | bytes[i + 1]);
  if (size % 2 != 0) sum += static_cast<std::uint32_t>(bytes[size - 1] << 8);
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

// One side's view of a connection while packets are written.
struct Endpoint {
  std::uint32_t ip;
  std::uint16_t port;
  std::uint32_t next_seq;
};

class PcapWriter {
 public:
  PcapWriter() {
    put32_le(out_, 0xa1b2c3d4);             // microsecond timestamps
    out_.insert(out_.end(), {2, 0, 4, 0});  // version 2.4
    put32_le(out_, 0);                      // this zone
    put32_le(out_, 0);                      // sigfigs
    put32_le(out_, 262144);                 // snaplen
    put32_le(out_, 1);                      // LINKTYPE_ETHERNET
  }

  // A TCP segment from `from` to `to` carrying `payload`; advances from.next_seq.
  void segment(Endpoint& from, const Endpoint& to, std::uint8_t flags, const std::uint8_t* payload,
               std::size_t size) {
    Bytes frame;
    frame.insert(frame.end(), {0x02, 0, 0, 0, 0, static_cast<std::uint8_t>(to.ip)});
    frame.insert(frame.end(), {0x02, 0, 0, 0, 0, static_cast<std::uint8_t>(from.ip)});
    put16(frame, 0x0800);
    const std::size_t ip_at = frame.size();
    put16(frame, 0x4500);
    put16(frame, static_cast<std::uint16_t>(40 + size));
    put16(frame, ip_id_++);
    put16(frame, 0x4000);  // don't fragment
    put16(frame, 0x4006);  // TTL 64, TCP
    put16(frame, 0);       // header checksum, below
    put32(frame, from.ip);
    put32(frame, to.ip);
    const std::uint16_t ip_sum = internet_checksum(frame.data() + ip_at, 20, 0);
    frame[ip_at + 10] = static_cast<std::uint8_t>(ip_sum >> 8);
    frame[ip_at + 11] = static_cast<std::uint8_t>(ip_sum);
    const std::size_t tcp_at = frame.size();
    put16(frame, from.port);
    put16(frame, to.port);
    put32(frame, from.next_seq);
    put32(frame, (flags & kAck) != 0 ? to.next_seq : 0);
    frame.push_back(0x50);  // 20-byte header
    frame.push_back(flags);
    put16(frame, 65535);  // window
    put16(frame, 0);      // checksum, below
    put16(frame, 0);      // urgent pointer
    frame.insert(frame.end(), payload, payload + size);
    // The pseudo-header: addresses, protocol, TCP length.
    std::uint32_t pseudo = (from.ip >> 16) + (from.ip & 0xffff) + (to.ip >> 16) + (to.ip & 0xffff);
    pseudo += 6 + static_cast<std::uint32_t>(20 + size);
    const std::uint16_t tcp_sum = internet_checksum(frame.data() + tcp_at, 20 + size, pseudo);
    frame[tcp_at + 16] = static_cast<std::uint8_t>(tcp_sum >> 8);
    frame[tcp_at + 17] = static_cast<std::uint8_t>(tcp_sum);
    from.next_seq += static_cast<std::uint32_t>(size) + ((flags & (kSyn | kFin)) != 0 ? 1 : 0);
    record(frame);
  }

  bool write(const std::string& path) const {
    std::ofstream file(path, std::ios::binary);
    file.write(reinterpret_cast<const char*>(out_.data()),
               static_cast<std::streamsize>(out_.size()));
    file.close();  // a full disk shows here
    return !file.fail();
  }

 private:
  void record(const Bytes& frame) {
    const std::uint64_t micros = packets_++ * 100;  // 100 us apart
    put32_le(out_, kFirstSecond + static_cast<std::uint32_t>(micros / 1000000));
    put32_le(out_, static_cast<std::uint32_t>(micros % 1000000));
    put32_le(out_, static_cast<std::uint32_t>(frame.size()));
    put32_le(out_, static_cast<std::uint32_t>(frame.size()));
    out_.insert(out_.end(), frame.begin(), frame.end());
  }

  Bytes out_;
  std::uint16_t ip_id_ = 1;
  std::uint64_t packets_ = 0;
};

// Writes one connection: handshake, data in turns (the dialer first), FINs both ways.
void write_connection(PcapWriter& pcap, const Connection& c, std::size_t index,
                      const Options& options, Generator& cuts) {
  Endpoint dialer{c.dialer_ip, c.dialer_port, 0x10000000u + static_cast<std::uint32_t>(index)};
  Endpoint acceptor{c.acceptor_ip, kAcceptorPort, 0x20000000u + static_cast<std::uint32_t>(index)};
  std::size_t sent[2] = {0, 0};
  if (options.skip_bytes == 0) {
    pcap.segment(dialer, acceptor, kSyn, nullptr, 0);
    pcap.segment(acceptor, dialer, kSyn | kAck, nullptr, 0);
    pcap.segment(dialer, acceptor, kAck, nullptr, 0);
  } else {  // the capture begins inside the connection: its start went by unseen
    sent[0] = std::min(options.skip_bytes, c.dialer_bytes.size());
    sent[1] = std::min(options.skip_bytes, c.acceptor_bytes.size());
    dialer.next_seq += 1 + static_cast<std::uint32_t>(sent[0]);
    acceptor.next_seq += 1 + static_cast<std::uint32_t>(sent[1]);
  }
  const Bytes* bytes[2] = {&c.dialer_bytes, &c.acceptor_bytes};
  Endpoint* ends[2] = {&dialer, &acceptor};
  while (sent[0] < bytes[0]->size() || sent[1] < bytes[1]->size()) {
    for (int side = 0; side < 2; ++side) {
      const std::size_t left = bytes[side]->size() - sent[side];
      if (left == 0) continue;
      const std::size_t size = std::min<std::size_t>(
          left, 1 + static_cast<std::size_t>(cuts.next() % options.max_segment_bytes));
      pcap.segment(*ends[side], *ends[1 - side], kPsh | kAck, bytes[side]->data() + sent[side],
                   size);
      sent[side] += size;
    }
  }
  pcap.segment(dialer, acceptor, kFin | kAck, nullptr, 0);
  pcap.segment(acceptor, dialer, kFin | kAck, nullptr, 0);
  pcap.segment(dialer, acceptor, kAck, nullptr, 0);
}

// The largest input file read: a capture is a session's bytes, far below it.
constexpr std::size_t kMaxInputBytes = std::size_t{256} << 20;

// The bytes of the regular file `path` (at most kMaxInputBytes); nullopt, with the reason
// printed, for anything else (a directory, a FIFO, /dev/zero, a read error).
std::optional<Bytes> read_file(const std::string& path) {
  try {
    const std::string text = weft::cli::read_file(path, kMaxInputBytes);
    return Bytes(text.begin(), text.end());
  } catch (const std::runtime_error& error) {
    std::fprintf(stderr, "weft_wire_to_pcap: %s\n", error.what());
    return std::nullopt;
  }
}

// Whether `bytes` start with a frame whose header is a 12-element array of op 1 (hello).
bool starts_with_hello(const Bytes& bytes) {
  return bytes.size() > 9 && bytes[0] == 0x77 && bytes[8] == 0x9c && bytes[9] == 0x01;
}

// Connections given as DIALER[,ACCEPTOR], on 10.0.0.1 -> 10.0.0.2.
bool connections_from_args(const Options& options, std::vector<Connection>& out) {
  for (std::size_t i = 0; i < options.connections.size(); ++i) {
    const std::string& arg = options.connections[i];
    const std::size_t comma = arg.find(',');
    Connection c;
    c.dialer_ip = 0x0a000001;
    c.acceptor_ip = 0x0a000002;
    c.dialer_port = static_cast<std::uint16_t>(kFirstDialerPort + i);
    std::optional<Bytes> dialer = read_file(arg.substr(0, comma));
    std::optional<Bytes> acceptor =
        comma == std::string::npos ? Bytes{} : read_file(arg.substr(comma + 1));
    if (!dialer || !acceptor) {
      std::fprintf(stderr, "weft_wire_to_pcap: cannot read %s\n", arg.c_str());
      return false;
    }
    c.dialer_bytes = std::move(*dialer);
    c.acceptor_bytes = std::move(*acceptor);
    c.dialer_path = arg.substr(0, comma);
    if (comma != std::string::npos) c.acceptor_path = arg.substr(comma + 1);
    out.push_back(std::move(c));
  }
  return true;
}

// One direction of a simulator capture: <link>-<writer>-to-<reader>.wire.
struct CaptureFile {
  std::string path;
  std::string writer;
  std::string reader;
  Bytes bytes;
};

bool parse_capture_name(const std::string& name, std::uint64_t& link, CaptureFile& file) {
  if (!name.ends_with(".wire")) return false;
  const std::size_t dash = name.find('-');
  const std::size_t to = name.find("-to-", dash + 1);
  if (dash == std::string::npos || to == std::string::npos || dash == 0) return false;
  const auto [end, error] = std::from_chars(name.data(), name.data() + dash, link);
  if (error != std::errc{} || end != name.data() + dash) return false;  // not a link number
  file.writer = name.substr(dash + 1, to - dash - 1);
  file.reader = name.substr(to + 4, name.size() - 5 - (to + 4));
  return true;
}

// Every link of a simulator capture directory, in link order.
bool connections_from_dir(const Options& options, std::vector<Connection>& out) {
  std::map<std::uint64_t, std::vector<CaptureFile>> links;
  std::map<std::string, std::uint32_t> addresses;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options.capture_dir, ec)) {
    std::uint64_t link = 0;
    CaptureFile file;
    if (!parse_capture_name(entry.path().filename().string(), link, file)) continue;
    std::optional<Bytes> bytes = read_file(entry.path().string());
    if (!bytes) {
      std::fprintf(stderr, "weft_wire_to_pcap: cannot read %s\n", entry.path().c_str());
      return false;
    }
    file.bytes = std::move(*bytes);
    file.path = entry.path().string();
    addresses[file.writer] = 0;
    addresses[file.reader] = 0;
    links[link].push_back(std::move(file));
  }
  if (ec) {
    std::fprintf(stderr, "weft_wire_to_pcap: cannot list %s: %s\n", options.capture_dir.c_str(),
                 ec.message().c_str());
    return false;
  }
  std::uint32_t host = 1;
  for (auto& [name, ip] : addresses)
    ip = 0x0a000000 | host++;
  for (auto& [link, files] : links) {
    std::sort(files.begin(), files.end(),
              [](const CaptureFile& a, const CaptureFile& b) { return a.writer < b.writer; });
    if (files.size() == 2 && !starts_with_hello(files[0].bytes) &&
        starts_with_hello(files[1].bytes)) {
      std::swap(files[0], files[1]);
    }
    const CaptureFile& dialer = files[0];
    Connection c{.dialer_bytes = dialer.bytes,
                 .acceptor_bytes = files.size() > 1 ? files[1].bytes : Bytes{},
                 .dialer_path = dialer.path,
                 .acceptor_path = files.size() > 1 ? files[1].path : std::string{},
                 .dialer_ip = addresses[dialer.writer],
                 .acceptor_ip = addresses[dialer.reader],
                 .dialer_port = static_cast<std::uint16_t>(kFirstDialerPort + out.size())};
    out.push_back(std::move(c));
  }
  return true;
}

// "STREAM DIRECTION PATH" for every input file, in the order the connections were written.
bool write_manifest(const std::string& path, const std::vector<Connection>& connections) {
  std::ofstream file(path);
  for (std::size_t i = 0; i < connections.size(); ++i) {
    file << i << " 0 " << connections[i].dialer_path << '\n';
    if (!connections[i].acceptor_path.empty())
      file << i << " 1 " << connections[i].acceptor_path << '\n';
  }
  file.close();  // a full disk shows here
  return !file.fail();
}

int usage(const char* why) {
  std::fprintf(stderr,
               "weft_wire_to_pcap: %s\n"
               "usage: weft_wire_to_pcap [OPTIONS] OUT.pcap DIALER_FILE[,ACCEPTOR_FILE]...\n"
               "       weft_wire_to_pcap [OPTIONS] --capture-dir DIR OUT.pcap\n"
               "options: [--max-segment N] [--seed S] [--manifest FILE] [--skip-bytes N]\n",
               why);
  return 2;
}

std::optional<int> parse_args(int argc, char** argv, Options& options) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    const bool has_value = i + 1 < args.size();
    if (arg == "--max-segment" && has_value) {
      options.max_segment_bytes = std::stoul(std::string(args[++i]));
      if (options.max_segment_bytes == 0 || options.max_segment_bytes > kMaxSegmentBytes) {
        return usage("--max-segment must be 1..65495");
      }
    } else if (arg == "--seed" && has_value) {
      options.seed = std::stoull(std::string(args[++i]));
    } else if (arg == "--skip-bytes" && has_value) {
      options.skip_bytes = std::stoul(std::string(args[++i]));
    } else if (arg == "--manifest" && has_value) {
      options.manifest_path = args[++i];
    } else if (arg == "--capture-dir" && has_value) {
      options.capture_dir = args[++i];
    } else if (arg.starts_with("--")) {
      return usage("unknown option or missing value");
    } else if (options.out_path.empty()) {
      options.out_path = arg;
    } else {
      options.connections.emplace_back(arg);
    }
  }
  if (options.out_path.empty()) return usage("no output given");
  if (options.capture_dir.empty() == options.connections.empty()) {
    return usage("give either connections or --capture-dir");
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  try {
    if (std::optional<int> stop = parse_args(argc, argv, options)) return *stop;
  } catch (const std::exception&) {
    return usage("bad number");
  }
  std::vector<Connection> connections;
  const bool read = options.capture_dir.empty() ? connections_from_args(options, connections)
                                                : connections_from_dir(options, connections);
  if (!read) return 1;
  PcapWriter pcap;
  Generator cuts{options.seed};
  for (std::size_t i = 0; i < connections.size(); ++i)
    write_connection(pcap, connections[i], i, options, cuts);
  if (!options.manifest_path.empty() && !write_manifest(options.manifest_path, connections)) {
    std::fprintf(stderr, "weft_wire_to_pcap: cannot write %s\n", options.manifest_path.c_str());
    return 1;
  }
  if (!pcap.write(options.out_path)) {
    std::fprintf(stderr, "weft_wire_to_pcap: cannot write %s\n", options.out_path.c_str());
    return 1;
  }
  std::printf("weft_wire_to_pcap: %zu connections to %s\n", connections.size(),
              options.out_path.c_str());
  return 0;
}
