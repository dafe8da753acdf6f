// weft_object_header_mutants: object headers (PROTOCOL.md §6.3.1) valid and broken, each the
// payload of an object_begin frame, for the check that the Wireshark dissector refuses each
// header as weft's own decoder does (tests/tools/dissector_check.sh object_headers).
//
//   weft_object_header_mutants OUT.wire
//
// Writes the frames (one direction of a connection: object_begin on mux 2, seq 1, 2, ...)
// to OUT.wire and prints one line per frame: its seq and what decode_object_header says of
// its payload, "ok" or the reason it refuses it. The headers are written by hand (the core's
// encoder makes only valid ones): every check of the decoder fails once, at each edge.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "weft/object.hpp"
#include "weft/wire.hpp"

namespace {

using Buffer = std::vector<std::uint8_t>;

void put_be(Buffer& out, std::uint64_t value, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(value >> shift));
}

// msgpack, the smallest form of each (as weft's encoder writes it).
void uint(Buffer& out, std::uint64_t value) {
  if (value < 0x80) {
    out.push_back(static_cast<std::uint8_t>(value));
  } else if (value <= 0xff) {
    out.push_back(0xcc);
    put_be(out, value, 1);
  } else if (value <= 0xffff) {
    out.push_back(0xcd);
    put_be(out, value, 2);
  } else if (value <= 0xffffffff) {
    out.push_back(0xce);
    put_be(out, value, 4);
  } else {
    out.push_back(0xcf);
    put_be(out, value, 8);
  }
}
void str(Buffer& out, std::string_view text) {
  if (text.size() < 32) {
    out.push_back(static_cast<std::uint8_t>(0xa0 | text.size()));
  } else {
    out.push_back(0xd9);
    put_be(out, text.size(), 1);
  }
  out.insert(out.end(), text.begin(), text.end());
}
void bin(Buffer& out, std::string_view bytes) {
  out.push_back(0xc4);
  put_be(out, bytes.size(), 1);
  out.insert(out.end(), bytes.begin(), bytes.end());
}
void array(Buffer& out, std::uint32_t count) {
  if (count < 16) {
    out.push_back(static_cast<std::uint8_t>(0x90 | count));
  } else {
    out.push_back(0xdd);
    put_be(out, count, 4);
  }
}

// A header's fields, each editable; `custom` written as given (key, value strings).
struct Fields {
  std::uint32_t elements = 10;
  std::string name = "bucket/object";
  std::string opaque = "op";
  std::uint64_t opcode = 7;
  std::uint64_t present = 7;
  std::uint64_t size = 300;
  std::uint64_t access_time = 1'700'000'000;
  std::string checksum_type = "xxh3-64";
  std::string checksum_value = "0123456789abcdef";
  std::string version = "v1";
  std::vector<std::string> custom = {"stream", "s1"};
  bool custom_value_not_str = false;     // the last custom value as an integer
  std::uint32_t custom_count_extra = 0;  // announced beyond what follows
  std::string trailing;                  // bytes after the array
};

Buffer encode(const Fields& f) {
  Buffer out;
  array(out, f.elements);
  str(out, f.name);
  bin(out, f.opaque);
  uint(out, f.opcode);
  uint(out, f.present);
  uint(out, f.size);
  uint(out, f.access_time);
  str(out, f.checksum_type);
  str(out, f.checksum_value);
  str(out, f.version);
  array(out, static_cast<std::uint32_t>(f.custom.size()) + f.custom_count_extra);
  for (std::size_t i = 0; i < f.custom.size(); ++i) {
    if (f.custom_value_not_str && i + 1 == f.custom.size()) {
      uint(out, 5);
    } else {
      str(out, f.custom[i]);
    }
  }
  out.insert(out.end(), f.trailing.begin(), f.trailing.end());
  return out;
}

std::vector<Fields> mutants() {
  std::vector<Fields> all;
  const auto add = [&all](auto edit) {
    Fields f;
    edit(f);
    all.push_back(f);
  };
  add([](Fields&) {});
  add([](Fields& f) { f.opcode = 0xffff; });
  add([](Fields& f) { f.opcode = 0x10000; });
  add([](Fields& f) { f.opcode = 0xffffffffffffffffULL; });
  add([](Fields& f) { f.present = 8; });
  add([](Fields& f) { f.present = 255; });
  add([](Fields& f) { f.present = 0, f.size = 0, f.access_time = 0, f.version = ""; });
  add([](Fields& f) { f.present = 6; });  // size absent, 300 given
  add([](Fields& f) { f.present = 6, f.size = 0; });
  add([](Fields& f) { f.present = 5; });  // access time absent, given
  add([](Fields& f) { f.present = 5, f.access_time = 0; });
  add([](Fields& f) { f.present = 3; });  // version absent, "v1" given
  add([](Fields& f) { f.present = 3, f.version = ""; });
  add([](Fields& f) { f.present = 0, f.access_time = 0, f.version = ""; });  // size alone
  add([](Fields& f) { f.opcode = 0x10000, f.present = 8; });                 // the first check wins
  add([](Fields& f) { f.present = 9, f.size = 0; });
  add([](Fields& f) { f.elements = 9; });
  add([](Fields& f) { f.custom = {"stream"}; });
  add([](Fields& f) { f.custom_value_not_str = true; });
  add([](Fields& f) { f.custom_count_extra = 1000; });
  add([](Fields& f) { f.custom_count_extra = 2; });
  add([](Fields& f) { f.trailing = "x"; });
  add([](Fields& f) { f.custom = {}; });
  // At and one over weft::kMaxObjectHeaderCustomEntries (1024) entries of empty strings.
  add([](Fields& f) { f.custom.assign(2048, ""); });
  add([](Fields& f) { f.custom.assign(2050, ""); });
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: weft_object_header_mutants OUT.wire\n");
    return 2;
  }
  weft::ByteBuffer wire;
  std::uint64_t seq = 0;
  for (const Fields& fields : mutants()) {
    const Buffer header = encode(fields);
    std::string why;
    const bool ok =
        weft::decode_object_header(weft::Bytes(header.data(), header.size()), &why).has_value();
    weft::encode_frame(wire, weft::Frame{.op = weft::Op::object_begin,
                                         .mux = 2,
                                         .seq = ++seq,
                                         .size = 300,
                                         .payload = weft::Bytes(header.data(), header.size())});
    std::printf("%llu %s\n", static_cast<unsigned long long>(seq), ok ? "ok" : why.c_str());
  }
  std::FILE* out = std::fopen(argv[1], "wb");
  const weft::Bytes bytes = wire.view();
  const bool written = out != nullptr &&
                       std::fwrite(bytes.data(), 1, bytes.size(), out) == bytes.size() &&
                       std::fclose(out) == 0;
  if (!written) {
    std::fprintf(stderr, "weft_object_header_mutants: cannot write %s\n", argv[1]);
    return 1;
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}
