// Command-line helpers shared by weft-node and weft-call: addresses, logging (credentials:
// credentials.hpp).
#pragma once

#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "weft/io/event_node.hpp"

namespace weft::cli {

// weft-node's built-in handlers (see weft_node.cpp), which weft-call, weft-load and
// weft-chaos call.
namespace handlers {
inline constexpr std::uint16_t kEcho = 1;
inline constexpr std::uint16_t kSlowEcho = 2;
inline constexpr std::uint16_t kStreamEcho = 3;
inline constexpr std::uint16_t kRelay = 4;
inline constexpr std::uint16_t kFail = 5;
}  // namespace handlers

// The whole of `text` as a number; false when anything else is there or it does not fit.
template <typename T>
bool number(std::string_view text, T& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

// "HOST:PORT" -> HostPort.
inline std::optional<HostPort> parse_host_port(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  HostPort result{std::string(text.substr(0, colon)), 0};
  const std::string_view port = text.substr(colon + 1);
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), result.port);
  if (ec != std::errc{} || end != port.data() + port.size()) return std::nullopt;
  return result;
}

// "NAME=HOST:PORT" -> PeerAddress.
inline std::optional<io::PeerAddress> parse_peer(std::string_view text) {
  const std::size_t equals = text.find('=');
  if (equals == std::string_view::npos || equals == 0) return std::nullopt;
  const auto address = parse_host_port(text.substr(equals + 1));
  if (!address) return std::nullopt;
  return io::PeerAddress{std::string(text.substr(0, equals)), address->host, address->port};
}

// `text` made safe for a log line: bytes below 0x20, 0x7f and up, and '\\' as \xNN (two
// hex digits), so a peer-chosen string (an object's name, a reason) can neither end a line
// nor forge one, nor put bytes that are not UTF-8 into a log.
inline std::string printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '\\') {
      out += {'\\', 'x', kHex[byte >> 4], kHex[byte & 0xf]};
    } else {
      out += c;
    }
  }
  return out;
}

// Seconds since the program started, for log lines.
inline double uptime_s() {
  static const auto start = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Log lines on stderr: every line with `verbose`, else all but debug ones; with
// `errors_only`, only errors (a node's refused start() says why at that level).
inline io::LogSink stderr_log(std::string name, bool verbose, bool errors_only = false) {
  return [name = std::move(name), verbose, errors_only](io::LogLevel level, std::string_view line) {
    if (level == io::LogLevel::debug && !verbose) return;
    if (errors_only && level != io::LogLevel::error) return;
    // A line may hold a peer's text (a reason for refusing a handshake): printable, so it
    // can neither forge a line nor send a terminal escape.
    const std::string safe = printable(line);
    std::fprintf(stderr, "[%8.3f] %s: %s\n", uptime_s(), name.c_str(), safe.c_str());
  };
}

}  // namespace weft::cli
