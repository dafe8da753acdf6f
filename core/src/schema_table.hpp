// The table of ops: which fields each op carries, its flags and rules, and the names
// PROTOCOL.md uses. Internal to core/: in a header so that the encoder and the decoder,
// which look up the schema of every frame, find it without a call (find_schema and
// schema_of in weft/wire.hpp are the public way).
#pragma once

#include <array>
#include <cstdint>

#include "invariant.hpp"
#include "weft/wire.hpp"

namespace weft::detail {

inline constexpr std::array<Field, 8> kHelloFields{
    Field::version_min, Field::version_max,     Field::name, Field::peer_name, Field::incarnation,
    Field::wall_ms,     Field::max_frame_bytes, Field::nonce};
inline constexpr std::array<Field, 6> kChallengeFields{Field::version,         Field::name,
                                                       Field::incarnation,     Field::wall_ms,
                                                       Field::max_frame_bytes, Field::nonce};
inline constexpr std::array<Field, 1> kStatusOnly{Field::status};
inline constexpr std::array<Field, 0> kNoFields{};
inline constexpr std::array<Field, 3> kRequestFields{Field::handler, Field::route,
                                                     Field::deadline_ms};
inline constexpr std::array<Field, 5> kStreamOpenFields{
    Field::handler, Field::route, Field::deadline_ms, Field::credit_msgs, Field::credit_bytes};
inline constexpr std::array<Field, 2> kCreditFields{Field::credit_msgs, Field::credit_bytes};
inline constexpr std::array<Field, 2> kObjectOpenFields{Field::name, Field::stream_key};
inline constexpr std::array<Field, 3> kObjectAcceptFields{Field::credit_msgs, Field::credit_bytes,
                                                          Field::offset};
inline constexpr std::array<Field, 1> kObjectBeginFields{Field::size};
inline constexpr std::array<Field, 1> kObjectDataFields{Field::offset};
inline constexpr std::array<Field, 2> kObjectEndFields{Field::status, Field::size};

// The encoder and the decoder write and read a request's and a response's fields in their
// places (wire_encode.cpp write_head, integer_header.hpp parse_call_header), in this order.
static_assert(kRequestFields.size() == 3 && kRequestFields[0] == Field::handler &&
              kRequestFields[1] == Field::route && kRequestFields[2] == Field::deadline_ms);
static_assert(kStatusOnly.size() == 1 && kStatusOnly[0] == Field::status);

// op, name, fields, allowed flags, connection-level, uses seq, payload allowed.
inline constexpr std::array<OpSchema, 30> kSchemas{{
    {Op::hello, "hello", kHelloFields, flag::kChecksums, true, true, false},
    {Op::welcome, "welcome", kNoFields, 0, true, false, false},
    {Op::reject, "reject", kStatusOnly, 0, true, false, true},
    {Op::ping, "ping", kNoFields, 0, true, true, false},
    {Op::pong, "pong", kNoFields, 0, true, true, false},
    {Op::goaway, "goaway", kStatusOnly, 0, true, false, true},
    {Op::challenge, "challenge", kChallengeFields, flag::kChecksums, true, false, true},
    {Op::auth, "auth", kNoFields, 0, true, false, true},
    {Op::request, "request", kRequestFields, flag::kMore, false, true, true},
    {Op::response, "response", kStatusOnly, flag::kMore, false, true, true},
    {Op::cancel, "cancel", kNoFields, 0, false, false, false},
    {Op::continuation, "continuation", kNoFields, flag::kMore, false, true, true},
    {Op::stream_open, "stream_open", kStreamOpenFields, flag::kHasPayload | flag::kHasInput, false,
     false, true},
    {Op::stream_accept, "stream_accept", kCreditFields, 0, false, false, false},
    {Op::stream_reject, "stream_reject", kStatusOnly, 0, false, false, true},
    {Op::stream_msg, "stream_msg", kNoFields, flag::kMore, false, true, true},
    {Op::stream_credit, "stream_credit", kCreditFields, 0, false, false, false},
    {Op::stream_end, "stream_end", kStatusOnly, 0, false, true, true},
    {Op::stream_reset, "stream_reset", kStatusOnly, 0, false, false, true},
    {Op::stream_ping, "stream_ping", kNoFields, 0, false, true, false},
    {Op::stream_pong, "stream_pong", kNoFields, 0, false, true, false},
    {Op::object_open, "object_open", kObjectOpenFields, flag::kResume | flag::kLz4Stream, false,
     true, false},
    {Op::object_accept, "object_accept", kObjectAcceptFields, flag::kBegun, false, true, false},
    {Op::object_reject, "object_reject", kStatusOnly, 0, false, false, true},
    {Op::object_begin, "object_begin", kObjectBeginFields, flag::kSizeUnknown | flag::kEnds, false,
     true, true},
    {Op::object_data, "object_data", kObjectDataFields, flag::kLz4, false, true, true},
    {Op::object_end, "object_end", kObjectEndFields, 0, false, true, true},
    {Op::object_ack, "object_ack", kStatusOnly, flag::kThrough, false, true, true},
    {Op::object_credit, "object_credit", kCreditFields, 0, false, false, false},
    {Op::object_close, "object_close", kStatusOnly, 0, false, true, true},
}};
static_assert(kSchemas[8].op == Op::request && kSchemas[8].fields.data() == kRequestFields.data());
static_assert(kSchemas[9].op == Op::response && kSchemas[9].fields.data() == kStatusOnly.data());

// Maps an op's wire value to its index in kSchemas (-1: unknown).
constexpr std::array<std::int8_t, 64> make_op_index() {
  std::array<std::int8_t, 64> index{};
  for (auto& slot : index)
    slot = -1;
  for (std::size_t i = 0; i < kSchemas.size(); ++i) {
    index[static_cast<std::size_t>(kSchemas[i].op)] = static_cast<std::int8_t>(i);
  }
  return index;
}
inline constexpr std::array<std::int8_t, 64> kOpIndex = make_op_index();

// find_schema, inline.
inline const OpSchema* find_schema_inline(std::uint64_t op) {
  if (op >= kOpIndex.size() || kOpIndex[op] < 0) return nullptr;
  return &kSchemas[static_cast<std::size_t>(kOpIndex[op])];
}

// schema_of, inline: the schema of a known op.
inline const OpSchema& schema_of_inline(Op op) {
  const OpSchema* schema = find_schema_inline(static_cast<std::uint64_t>(op));
  WEFT_ASSERT(schema != nullptr);
  return *schema;
}

}  // namespace weft::detail
