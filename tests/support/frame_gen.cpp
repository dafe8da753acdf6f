#include "frame_gen.hpp"

#include <ostream>

#include "weft/frame_text.hpp"

namespace weft::testing {
namespace {

// Integers biased towards the edges of their encodings (0, 127, 128, 255, 65535, ...).
template <typename T>
rc::Gen<T> gen_edgy() {
  return rc::gen::weightedOneOf<T>({
      {3, rc::gen::arbitrary<T>()},
      {1, rc::gen::element<T>(T{0}, T{1}, T{127}, T{128}, T{255}, static_cast<T>(256),
                              static_cast<T>(65535), static_cast<T>(~T{0}))},
  });
}

std::string gen_name(std::size_t max_length) {
  const auto length = *rc::gen::weightedOneOf<std::size_t>({
      {8, rc::gen::inRange<std::size_t>(1, 33)},
      {1, rc::gen::inRange<std::size_t>(1, max_length + 1)},
  });
  return *rc::gen::container<std::string>(length, rc::gen::inRange<char>(0x21, 0x7f));
}

std::vector<std::uint8_t> gen_blob(std::size_t max_length) {
  const auto length = *rc::gen::weightedOneOf<std::size_t>({
      {6, rc::gen::inRange<std::size_t>(0, std::min<std::size_t>(64, max_length + 1))},
      {2, rc::gen::inRange<std::size_t>(0, std::min<std::size_t>(600, max_length + 1))},
      {1, rc::gen::inRange<std::size_t>(0, max_length + 1)},
  });
  return *rc::gen::container<std::vector<std::uint8_t>>(length, rc::gen::arbitrary<std::uint8_t>());
}

void fill_field(OwnedFrame& owned, Field field, const WireLimits& limits) {
  Frame& f = owned.scalars();
  switch (field) {
    case Field::version_min:
      f.version_min = *rc::gen::inRange<std::uint16_t>(1, 0xffff);
      break;
    case Field::version_max:
      f.version_max = *rc::gen::inRange<std::uint32_t>(f.version_min, 0x10000);
      break;
    case Field::version:
      f.version = *rc::gen::inRange<std::uint16_t>(1, 0xffff);
      break;
    case Field::name:
      owned.set_name(gen_name(limits.max_name_bytes));
      break;
    case Field::peer_name:
      owned.set_peer_name(gen_name(limits.max_name_bytes));
      break;
    case Field::incarnation:
      f.incarnation = *gen_edgy<std::uint64_t>();
      break;
    case Field::wall_ms:
      f.wall_ms = *gen_edgy<std::uint64_t>();
      break;
    case Field::max_frame_bytes:
      f.max_frame_bytes = *rc::gen::inRange<std::uint64_t>(kMinMaxFrameBytes, 0x100000000ULL);
      break;
    case Field::nonce:
      owned.set_nonce(gen_blob(limits.max_nonce_bytes));
      break;
    case Field::handler:
      f.handler = *rc::gen::inRange<std::uint32_t>(1, 0x10000);
      break;
    case Field::route:
      f.route = *gen_edgy<std::uint64_t>();
      break;
    case Field::deadline_ms:
      f.deadline_ms = *gen_edgy<std::uint32_t>();
      break;
    case Field::status: {
      const bool needs_nonzero = f.op == Op::reject || f.op == Op::stream_reject ||
                                 f.op == Op::stream_reset || f.op == Op::object_reject;
      const bool needs_zero = f.op == Op::object_ack && (f.flags & flag::kThrough) != 0;
      f.status = needs_zero ? 0 : *rc::gen::inRange<std::uint32_t>(needs_nonzero ? 1 : 0, 0x10000);
      break;
    }
    case Field::credit_msgs:
      f.credit_msgs = *gen_edgy<std::uint32_t>();
      break;
    case Field::credit_bytes:
      f.credit_bytes = *gen_edgy<std::uint32_t>();
      if ((f.op == Op::stream_credit || f.op == Op::object_credit) && f.credit_msgs == 0 &&
          f.credit_bytes == 0) {
        f.credit_bytes = 1;
      }
      break;
    case Field::size:
      f.size = (f.flags & (flag::kSizeUnknown | flag::kEnds)) != 0 && f.op == Op::object_begin
                   ? 0
                   : *gen_edgy<std::uint64_t>();
      break;
    case Field::offset:
      f.offset = *gen_edgy<std::uint64_t>();
      break;
    case Field::stream_key:
      f.stream_key = *rc::gen::inRange<std::uint64_t>(1, UINT64_MAX);
      break;
  }
}

}  // namespace

rc::Gen<OwnedFrame> gen_valid_frame() {
  return rc::gen::exec([] {
    const WireLimits limits;
    const auto schemas = all_schemas();
    const OpSchema& schema = schemas[*rc::gen::inRange<std::size_t>(0, schemas.size())];
    OwnedFrame owned;
    Frame& f = owned.scalars();
    f.op = schema.op;
    f.checksum = *rc::gen::arbitrary<bool>();
    f.flags =
        static_cast<std::uint16_t>(*rc::gen::arbitrary<std::uint16_t>() & schema.allowed_flags);
    f.mux = schema.connection_level
                ? 0
                : *rc::gen::suchThat(gen_edgy<std::uint64_t>(), [](auto v) { return v != 0; });
    f.seq = schema.uses_seq ? *gen_edgy<std::uint64_t>() : 0;
    // An object without data is sized (PROTOCOL.md §5.1): ends excludes size_unknown.
    if (f.op == Op::object_begin && (f.flags & flag::kEnds) != 0) f.flags &= ~flag::kSizeUnknown;
    // An object stream's first number is 1..2^63 (PROTOCOL.md §5.1).
    if (f.op == Op::object_open) f.seq = 1 + f.seq % (std::uint64_t{1} << 63);
    for (Field field : schema.fields)
      fill_field(owned, field, limits);
    const bool payload_allowed =
        schema.payload_allowed && (f.op != Op::stream_open || (f.flags & flag::kHasPayload) != 0);
    if (payload_allowed) owned.set_payload(gen_blob(70000));
    if (f.op == Op::request || f.op == Op::response) {
      // With flag more, seq announces the whole payload: at least this part's bytes.
      const bool more = (f.flags & flag::kMore) != 0;
      f.seq = more ? owned.view().payload.size() + *gen_edgy<std::uint32_t>() : 0;
    }
    return owned;
  });
}

rc::Gen<std::vector<std::size_t>> gen_split(std::size_t total) {
  return rc::gen::exec([total] {
    std::vector<std::size_t> pieces;
    const int mode = *rc::gen::inRange(0, 4);
    if (mode == 0) {
      if (total > 0) pieces.push_back(total);
      return pieces;
    }
    if (mode == 1) return std::vector<std::size_t>(total, 1);
    std::size_t left = total;
    const std::size_t max_piece = mode == 2 ? 16 : 4096;
    while (left > 0) {
      const std::size_t piece = *rc::gen::inRange<std::size_t>(1, std::min(left, max_piece) + 1);
      pieces.push_back(piece);
      left -= piece;
    }
    return pieces;
  });
}

}  // namespace weft::testing

namespace rc {
void showValue(const weft::OwnedFrame& frame, std::ostream& os) {
  os << weft::format_frame(frame.view(), 64);
}
}  // namespace rc
