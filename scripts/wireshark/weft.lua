-- Wireshark dissector for the weft wire protocol, version 3 (docs/PROTOCOL.md).
--
-- Install: `cmake --install` puts this file in WEFT_WIRESHARK_PLUGIN_DIR, or copy it into
-- the "Personal Lua Plugins" folder that `tshark -G folders` lists; for one run,
-- `tshark -X lua_script:weft.lua`. docs/WIRESHARK.md says how to use it.
--
-- What it does:
--   * finds weft on TCP by a hello at the start of a stream (a heuristic), or where told
--     (`-d tcp.port==PORT,weft`); reassembles frames split across segments and splits
--     segments that hold several frames; in a capture without the connection's SYN,
--     starts at the first whole frame that decodes;
--   * decodes every frame: the prefix, the msgpack header (op, flags, mux, seq and the op's
--     fields), the payload (reason texts, proofs, the object header of object_begin, the
--     data size of an LZ4 chunk); a field weft.K shows exactly what `weft-dump --json`
--     prints for key K (weft.stream_offset is the frame's position in its direction's
--     byte stream);
--   * verifies checksums (xxh3-64, seed 0) up to a size set in the preferences;
--   * runs every check of PROTOCOL.md §2.1, §3.3 and §5.1 in the decoder's order and flags
--     the first failure as expert info with its name and byte offset (weft.error,
--     weft.error_offset), as weft's decoder reports it; like a receiver, it decodes nothing
--     more of that direction after an error.
--
-- Lua 5.2 has no 64-bit integers: 64-bit values travel as Wireshark's UInt64 (in xxh3's
-- inner loop, as pairs of 32-bit numbers, for speed). One file, in sections (preferences,
-- names and schema, fields, xxh3, msgpack, checks, tree, dissector, registration):
-- Wireshark runs every .lua of its plugin folders as a plugin of its own, so modules would
-- need a search path of their own.

local weft = Proto("weft", "weft cluster transport")

----------------------------------------------------------------------------------------
-- Preferences

weft.prefs.verify_max_kib = Pref.uint("Verify checksums up to (KiB)", 8192,
  "Frames longer than this are shown with their checksum not verified (xxh3 in Lua " ..
  "takes about 0.05 ms per KiB; the default covers weft's largest frames)")
weft.prefs.max_frame_bytes = Pref.uint("Largest frame body (bytes)", 8388608,
  "The receiver's max_frame_bytes: a longer body_length is frame_too_large")
weft.prefs.max_header_bytes = Pref.uint("Largest header (bytes)", 1024,
  "The receiver's max_header_bytes: a longer header_length is header_too_large")
weft.prefs.heuristic_hello = Pref.bool("Find weft by its hello", true,
  "Take a TCP stream whose first bytes are a weft hello as weft")

----------------------------------------------------------------------------------------
-- Names

local op_names = {
  [1] = "hello", [2] = "welcome", [3] = "reject", [4] = "ping", [5] = "pong",
  [6] = "goaway", [7] = "challenge", [8] = "auth",
  [16] = "request", [17] = "response", [18] = "cancel", [19] = "continuation",
  [32] = "stream_open", [33] = "stream_accept", [34] = "stream_reject",
  [35] = "stream_msg", [36] = "stream_credit", [37] = "stream_end", [38] = "stream_reset",
  [39] = "stream_ping", [40] = "stream_pong",
  [48] = "object_open", [49] = "object_accept", [50] = "object_reject",
  [51] = "object_begin", [52] = "object_data", [53] = "object_end", [54] = "object_ack",
  [55] = "object_credit", [56] = "object_close",
}

local status_names = {
  [0] = "ok", [1] = "remote_error", [2] = "unknown_handler", [3] = "too_large",
  [4] = "busy", [5] = "deadline_exceeded", [6] = "canceled", [7] = "protocol_error",
  [8] = "shutting_down", [9] = "bad_payload", [10] = "keepalive_timeout",
  [11] = "object_state_lost", [12] = "unsupported", [13] = "idle",
  [32] = "version_mismatch", [33] = "unknown_node", [34] = "auth_failed",
  [35] = "clock_skew", [36] = "wrong_dialer", [37] = "wrong_target",
  [38] = "handshake_timeout", [39] = "stale_hello",
}

-- Errors of PROTOCOL.md §2.1 and §3.3, as weft's decoder (WireError) names them.
local error_names = {
  "bad_magic", "unknown_frame_flags", "zero_length", "frame_too_large", "header_too_large",
  "header_exceeds_body", "checksum_missing", "checksum_mismatch", "header_truncated",
  "header_trailing_bytes", "header_not_array", "field_count", "wrong_type",
  "integer_out_of_range", "unknown_op", "unknown_flags", "invalid_field",
  "payload_not_allowed", "truncated",
}

----------------------------------------------------------------------------------------
-- The schema (PROTOCOL.md §5): fields after op, flags, mux, seq; allowed flag bits; mux
-- 0 (connection level) or not; whether seq is used; whether a payload is allowed.

local U16, U32, U64 = 0xffff, 0xffffffff, "u64"

-- kind: "uint" (max), "str" or "bin"; display as weft-dump prints it.
local field_info = {
  version_min = {kind = "uint", max = U16}, version_max = {kind = "uint", max = U16},
  version = {kind = "uint", max = U16}, name = {kind = "str"}, peer_name = {kind = "str"},
  incarnation = {kind = "uint", max = U64, hex = true},
  wall_ms = {kind = "uint", max = U64}, max_frame_bytes = {kind = "uint", max = U32},
  nonce = {kind = "bin"}, handler = {kind = "uint", max = U16},
  route = {kind = "uint", max = U64, hex = true}, deadline_ms = {kind = "uint", max = U32},
  status = {kind = "uint", max = U16, status = true},
  credit_msgs = {kind = "uint", max = U32}, credit_bytes = {kind = "uint", max = U32},
  size = {kind = "uint", max = U64}, offset = {kind = "uint", max = U64},
  stream_key = {kind = "uint", max = U64, hex = true},
}

local function schema(fields, flags, conn, seq, payload)
  return {fields = fields, flags = flags, conn = conn, seq = seq, payload = payload}
end
local credit = {"credit_msgs", "credit_bytes"}
local schemas = {
  [1] = schema({"version_min", "version_max", "name", "peer_name", "incarnation", "wall_ms",
                "max_frame_bytes", "nonce"}, 1, true, true, false),
  [2] = schema({}, 0, true, false, false),
  [3] = schema({"status"}, 0, true, false, true),
  [4] = schema({}, 0, true, true, false),
  [5] = schema({}, 0, true, true, false),
  [6] = schema({"status"}, 0, true, false, true),
  [7] = schema({"version", "name", "incarnation", "wall_ms", "max_frame_bytes", "nonce"},
               1, true, false, true),
  [8] = schema({}, 0, true, false, true),
  [16] = schema({"handler", "route", "deadline_ms"}, 1, false, true, true),
  [17] = schema({"status"}, 1, false, true, true),
  [18] = schema({}, 0, false, false, false),
  [19] = schema({}, 1, false, true, true),
  [32] = schema({"handler", "route", "deadline_ms", "credit_msgs", "credit_bytes"}, 3, false,
                false, true),
  [33] = schema(credit, 0, false, false, false),
  [34] = schema({"status"}, 0, false, false, true),
  [35] = schema({}, 1, false, true, true),
  [36] = schema(credit, 0, false, false, false),
  [37] = schema({"status"}, 0, false, true, true),
  [38] = schema({"status"}, 0, false, false, true),
  [39] = schema({}, 0, false, true, false),
  [40] = schema({}, 0, false, true, false),
  [48] = schema({"name", "stream_key"}, 3, false, true, false),
  [49] = schema({"credit_msgs", "credit_bytes", "offset"}, 1, false, true, false),
  [50] = schema({"status"}, 0, false, false, true),
  [51] = schema({"size"}, 3, false, true, true),
  [52] = schema({"offset"}, 1, false, true, true),
  [53] = schema({"status", "size"}, 0, false, true, true),
  [54] = schema({"status"}, 1, false, true, true),
  [55] = schema(credit, 0, false, false, false),
  [56] = schema({"status"}, 0, false, true, true),
}

-- Flag bit names per op, for the tree and the Info column.
local flag_names = {
  [1] = {[1] = "checksums"}, [7] = {[1] = "checksums"},
  [16] = {[1] = "more"}, [17] = {[1] = "more"}, [19] = {[1] = "more"}, [35] = {[1] = "more"},
  [32] = {[1] = "has_payload", [2] = "has_input"},
  [48] = {[1] = "resume", [2] = "lz4"}, [49] = {[1] = "begun"},
  [51] = {[1] = "size_unknown", [2] = "ends"}, [52] = {[1] = "lz4"}, [54] = {[1] = "through"},
}

----------------------------------------------------------------------------------------
-- Fields

local f = {}
local function add_field(key, field) f[key] = field end

add_field("stream_offset", ProtoField.uint64("weft.stream_offset", "Stream offset", base.DEC,
  nil, nil, "Position of the frame's first byte in its direction (weft-dump's offset)"))
add_field("magic", ProtoField.uint8("weft.magic", "Magic", base.HEX))
add_field("frame_flags", ProtoField.uint8("weft.frame_flags", "Frame flags", base.HEX))
add_field("cksum", ProtoField.bool("weft.cksum", "Checksummed", 8, nil, 0x01,
  "Frame flag bit 0: the frame ends with an xxh3-64 checksum"))
add_field("header_length", ProtoField.uint16("weft.header_length", "Header length", base.DEC))
add_field("body_length", ProtoField.uint32("weft.body_length", "Body length", base.DEC))
add_field("op", ProtoField.string("weft.op", "Op"))
add_field("opcode", ProtoField.uint8("weft.opcode", "Op value", base.DEC, op_names))
add_field("flags", ProtoField.uint16("weft.flags", "Flags", base.HEX))
add_field("flag_names", ProtoField.string("weft.flags.names", "Flags set"))
add_field("mux", ProtoField.uint64("weft.mux", "Mux", base.DEC))
add_field("seq", ProtoField.uint64("weft.seq", "Seq", base.DEC))
for _, name in ipairs({"version_min", "version_max", "version", "handler"}) do
  add_field(name, ProtoField.uint16("weft." .. name, name, base.DEC))
end
for _, name in ipairs({"max_frame_bytes", "deadline_ms", "credit_msgs", "credit_bytes"}) do
  add_field(name, ProtoField.uint32("weft." .. name, name, base.DEC))
end
for _, name in ipairs({"wall_ms", "size", "offset"}) do
  add_field(name, ProtoField.uint64("weft." .. name, name, base.DEC))
end
for _, name in ipairs({"incarnation", "route", "stream_key"}) do
  add_field(name, ProtoField.uint64("weft." .. name, name, base.HEX))
end
add_field("name", ProtoField.string("weft.name", "name"))
add_field("peer_name", ProtoField.string("weft.peer_name", "peer_name"))
add_field("nonce", ProtoField.bytes("weft.nonce", "nonce"))
add_field("status", ProtoField.string("weft.status", "status",
  "The status by name, or its number when it has none"))
add_field("status_code", ProtoField.uint16("weft.status_code", "Status value", base.DEC,
  status_names))
add_field("len", ProtoField.uint32("weft.len", "Payload length", base.DEC))
add_field("payload", ProtoField.bytes("weft.payload", "Payload"))
add_field("reason", ProtoField.string("weft.reason", "Reason text"))
add_field("proof", ProtoField.bytes("weft.proof", "Proof"))
add_field("lz4_size", ProtoField.uint32("weft.lz4_size", "LZ4 chunk data size", base.DEC))
add_field("checksum", ProtoField.uint64("weft.checksum", "Checksum", base.HEX))
add_field("checksum_computed", ProtoField.uint64("weft.checksum_computed",
  "Computed checksum", base.HEX))
add_field("checksum_status", ProtoField.string("weft.checksum_status", "Checksum status",
  "good, bad, or not verified (longer than the preference allows)"))
add_field("error", ProtoField.string("weft.error", "Protocol error",
  "The first check of PROTOCOL.md §2.1/§3.3/§5.1 the frame fails, as weft names it"))
add_field("error_offset", ProtoField.uint64("weft.error_offset", "Error at byte", base.DEC,
  nil, nil, "Stream offset weft's decoder reports the error at"))
add_field("error_text", ProtoField.string("weft.error_text", "Error detail"))
add_field("after_error", ProtoField.bytes("weft.after_error",
  "Bytes after a protocol error (not decoded)"))
add_field("skipped", ProtoField.bytes("weft.skipped",
  "Bytes before the first whole frame (the capture began inside the stream)"))
-- The object header of object_begin (PROTOCOL.md §6.3.1).
for _, name in ipairs({"name", "checksum_type", "checksum_value", "version", "custom"}) do
  add_field("obj_" .. name, ProtoField.string("weft.object." .. name, name))
end
add_field("obj_opaque", ProtoField.bytes("weft.object.opaque", "opaque"))
add_field("obj_opcode", ProtoField.uint16("weft.object.opcode", "opcode", base.DEC))
add_field("obj_present", ProtoField.uint8("weft.object.present", "present", base.HEX))
add_field("obj_size", ProtoField.uint64("weft.object.size", "size", base.DEC))
add_field("obj_access_time", ProtoField.uint64("weft.object.access_time", "access_time",
  base.DEC))
add_field("obj_bad", ProtoField.string("weft.object.bad", "Object header does not decode"))

local field_list = {}
for _, field in pairs(f) do field_list[#field_list + 1] = field end
weft.fields = field_list

local experts = {}
local expert_list = {}
for _, name in ipairs(error_names) do
  local group = expert.group.MALFORMED
  if name == "checksum_mismatch" or name == "checksum_missing" then
    group = expert.group.CHECKSUM
  end
  experts[name] = ProtoExpert.new("weft.expert." .. name, name, group, expert.severity.ERROR)
  expert_list[#expert_list + 1] = experts[name]
end
experts.unverified = ProtoExpert.new("weft.expert.checksum_not_verified",
  "checksum not verified", expert.group.CHECKSUM, expert.severity.NOTE)
experts.after_error = ProtoExpert.new("weft.expert.after_error",
  "bytes after a protocol error", expert.group.SEQUENCE, expert.severity.WARN)
experts.object_header = ProtoExpert.new("weft.expert.bad_object_header",
  "object header does not decode", expert.group.PROTOCOL, expert.severity.WARN)
experts.skipped = ProtoExpert.new("weft.expert.skipped",
  "the capture began inside the stream", expert.group.SEQUENCE, expert.severity.NOTE)
expert_list[#expert_list + 1] = experts.unverified
expert_list[#expert_list + 1] = experts.after_error
expert_list[#expert_list + 1] = experts.object_header
expert_list[#expert_list + 1] = experts.skipped
weft.experts = expert_list

----------------------------------------------------------------------------------------
-- xxh3-64 with seed 0 and the default secret (xxHash 0.8), in UInt64 arithmetic (the long
-- path's inner loop below in pairs of 32-bit numbers).

local kSecretHex = "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f" ..
  "cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c" ..
  "3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8" ..
  "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364" ..
  "eac5ac8334d3ebc3c581a0fffa1363eb170ddd51b7f0da49d316552629d4689e" ..
  "2b16be587d47a1fc8ff8b8d17ad031ce45cb3a8f95160428afd7fbcabb4b407e"
local kSecretString = (kSecretHex:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
local kSecretBytes = #kSecretString

local function u64(hi, lo) return UInt64.new(lo, hi) end
local PRIME32_1 = u64(0, 0x9E3779B1)
local PRIME32_2 = u64(0, 0x85EBCA77)
local PRIME32_3 = u64(0, 0xC2B2AE3D)
local PRIME64_1 = u64(0x9E3779B1, 0x85EBCA87)
local PRIME64_2 = u64(0xC2B2AE3D, 0x27D4EB4F)
local PRIME64_3 = u64(0x165667B1, 0x9E3779F9)
local PRIME64_4 = u64(0x85EBCA77, 0xC2B2AE63)
local PRIME64_5 = u64(0x27D4EB2F, 0x165667C5)
local PRIME_MX1 = u64(0x16566791, 0x9E3779F9)
local PRIME_MX2 = u64(0x9FB21C65, 0x1E98DF25)
local MASK32 = u64(0, 0xffffffff)

local sbyte = string.byte

-- Little-endian reads from a Lua string, `at` counting from 0.
local function le32(s, at)
  local a, b, c, d = sbyte(s, at + 1, at + 4)
  return a + b * 0x100 + c * 0x10000 + d * 0x1000000
end
local function le64(s, at)
  return UInt64.new(le32(s, at), le32(s, at + 4))
end

local secret64 = {}  -- secret64[k]: the UInt64 at byte k of the secret
for k = 0, kSecretBytes - 8 do secret64[k] = le64(kSecretString, k) end

-- The 128-bit product of two UInt64s, folded: low 64 bits xor high 64 bits.
local function mul128_fold64(a, b)
  local a_lo, a_hi = UInt64.new(a:lower()), UInt64.new(a:higher())
  local b_lo, b_hi = UInt64.new(b:lower()), UInt64.new(b:higher())
  local lo_lo = a_lo * b_lo
  local hi_lo = a_hi * b_lo
  local lo_hi = a_lo * b_hi
  local hi_hi = a_hi * b_hi
  local cross = lo_lo:rshift(32) + hi_lo:band(MASK32) + lo_hi
  local upper = hi_lo:rshift(32) + cross:rshift(32) + hi_hi
  local lower = cross:lshift(32):bor(lo_lo:band(MASK32))
  return lower:bxor(upper)
end

local function xxh64_avalanche(h)
  h = h:bxor(h:rshift(33)) * PRIME64_2
  h = h:bxor(h:rshift(29)) * PRIME64_3
  return h:bxor(h:rshift(32))
end

local function xxh3_avalanche(h)
  h = h:bxor(h:rshift(37)) * PRIME_MX1
  return h:bxor(h:rshift(32))
end

local function rrmxmx(h, len)
  h = h:bxor(h:rol(49)):bxor(h:rol(24)) * PRIME_MX2
  h = h:bxor(h:rshift(35) + UInt64.new(len)) * PRIME_MX2
  return h:bxor(h:rshift(28))
end

local function swap32(x)
  return bit32.bor(bit32.lshift(bit32.band(x, 0xff), 24), bit32.lshift(bit32.band(x, 0xff00), 8),
                   bit32.band(bit32.rshift(x, 8), 0xff00), bit32.rshift(x, 24))
end
local function swap64(x) return UInt64.new(swap32(x:higher()), swap32(x:lower())) end

local function mix16(s, at, secret_at)
  return mul128_fold64(le64(s, at):bxor(secret64[secret_at]),
                       le64(s, at + 8):bxor(secret64[secret_at + 8]))
end

local function hash_0to16(s, len)
  if len > 8 then
    local lo = le64(s, 0):bxor(secret64[24]:bxor(secret64[32]))
    local hi = le64(s, len - 8):bxor(secret64[40]:bxor(secret64[48]))
    return xxh3_avalanche(UInt64.new(len) + swap64(lo) + hi + mul128_fold64(lo, hi))
  elseif len >= 4 then
    local in1, in2 = le32(s, 0), le32(s, len - 4)
    local keyed = u64(in1, in2):bxor(secret64[8]:bxor(secret64[16]))
    return rrmxmx(keyed, len)
  elseif len > 0 then
    local c1, c2, c3 = sbyte(s, 1), sbyte(s, (len - len % 2) / 2 + 1), sbyte(s, len)
    local combined = c1 * 0x10000 + c2 * 0x1000000 + c3 + len * 0x100
    local bitflip = bit32.bxor(le32(kSecretString, 0), le32(kSecretString, 4))
    return xxh64_avalanche(UInt64.new(bit32.bxor(combined, bitflip)))
  end
  return xxh64_avalanche(secret64[56]:bxor(secret64[64]))
end

local function hash_17to128(s, len)
  local acc = UInt64.new(len) * PRIME64_1
  if len > 32 then
    if len > 64 then
      if len > 96 then
        acc = acc + mix16(s, 48, 96) + mix16(s, len - 64, 112)
      end
      acc = acc + mix16(s, 32, 64) + mix16(s, len - 48, 80)
    end
    acc = acc + mix16(s, 16, 32) + mix16(s, len - 32, 48)
  end
  acc = acc + mix16(s, 0, 0) + mix16(s, len - 16, 16)
  return xxh3_avalanche(acc)
end

local function hash_129to240(s, len)
  local acc = UInt64.new(len) * PRIME64_1
  for i = 0, 7 do acc = acc + mix16(s, 16 * i, 16 * i) end
  acc = xxh3_avalanche(acc)
  local rounds = (len - len % 16) / 16
  for i = 8, rounds - 1 do acc = acc + mix16(s, 16 * i, 16 * (i - 8) + 3) end
  acc = acc + mix16(s, len - 16, 136 - 17)
  return xxh3_avalanche(acc)
end

-- The long path's inner loop runs on 64-bit values held as two Lua numbers, high and low
-- 32 bits, with bit32 and plain arithmetic kept exact below 2^53: no UInt64 is made per
-- byte, which is about five times faster than UInt64 arithmetic.
local TWO32 = 4294967296
local bxor32, rshift32 = bit32.bxor, bit32.rshift

local secret_hi, secret_lo = {}, {}  -- the secret's 64-bit words at each byte offset
for k = 0, kSecretBytes - 8 do
  secret_lo[k] = le32(kSecretString, k)
  secret_hi[k] = le32(kSecretString, k + 4)
end

-- The 64-bit product of two 32-bit numbers, as high and low halves: 16-bit pieces keep
-- every partial product exact.
local function mul32(a, b)
  local a0, b0 = a % 65536, b % 65536
  local a1, b1 = (a - a0) / 65536, (b - b0) / 65536
  local mid = a0 * b1 + a1 * b0
  local mid_lo = mid % 65536
  local lo = a0 * b0 + mid_lo * 65536
  local carry = lo >= TWO32 and 1 or 0  -- lo < 2^33
  return a1 * b1 + (mid - mid_lo) / 65536 + carry, lo - carry * TWO32
end

-- One 64-byte stripe at `at` into the accumulators (acc_hi, acc_lo, lanes 1..8), with the
-- secret from `secret_at`: lane i ^ 1 adds the data, lane i the product of the halves of
-- data xor secret.
local function accumulate_512(acc_hi, acc_lo, s, at, secret_at)
  for i = 0, 7 do
    local b1, b2, b3, b4, b5, b6, b7, b8 = sbyte(s, at + 8 * i + 1, at + 8 * i + 8)
    local lo = b1 + b2 * 0x100 + b3 * 0x10000 + b4 * 0x1000000
    local hi = b5 + b6 * 0x100 + b7 * 0x10000 + b8 * 0x1000000
    local j = i % 2 == 0 and i + 2 or i  -- lane i ^ 1, counting from 1
    local sum = acc_lo[j] + lo
    if sum >= TWO32 then
      acc_lo[j] = sum - TWO32
      acc_hi[j] = (acc_hi[j] + hi + 1) % TWO32
    else
      acc_lo[j] = sum
      acc_hi[j] = (acc_hi[j] + hi) % TWO32
    end
    local p_hi, p_lo = mul32(bxor32(lo, secret_lo[secret_at + 8 * i]),
                             bxor32(hi, secret_hi[secret_at + 8 * i]))
    sum = acc_lo[i + 1] + p_lo
    if sum >= TWO32 then
      acc_lo[i + 1] = sum - TWO32
      acc_hi[i + 1] = (acc_hi[i + 1] + p_hi + 1) % TWO32
    else
      acc_lo[i + 1] = sum
      acc_hi[i + 1] = (acc_hi[i + 1] + p_hi) % TWO32
    end
  end
end

-- acc ^= acc >> 47; acc ^= secret; acc *= PRIME32_1 (mod 2^64), per lane.
local function scramble(acc_hi, acc_lo)
  local prime = 0x9E3779B1
  for i = 0, 7 do
    local k = kSecretBytes - 64 + 8 * i
    local hi = bxor32(acc_hi[i + 1], secret_hi[k])
    local lo = bxor32(acc_lo[i + 1], rshift32(acc_hi[i + 1], 15), secret_lo[k])
    local p_hi, p_lo = mul32(lo, prime)
    local _, hi_times_prime = mul32(hi, prime)
    acc_hi[i + 1] = (p_hi + hi_times_prime) % TWO32
    acc_lo[i + 1] = p_lo
  end
end

local function hash_long(s, len)
  local initial = {PRIME32_3, PRIME64_1, PRIME64_2, PRIME64_3, PRIME64_4, PRIME32_2, PRIME64_5,
                   PRIME32_1}
  local acc_hi, acc_lo = {}, {}
  for i = 1, 8 do acc_hi[i], acc_lo[i] = initial[i]:higher(), initial[i]:lower() end
  local stripes_per_block = (kSecretBytes - 64) / 8
  local block_bytes = 64 * stripes_per_block
  local blocks = math.floor((len - 1) / block_bytes)
  for n = 0, blocks - 1 do
    for stripe = 0, stripes_per_block - 1 do
      accumulate_512(acc_hi, acc_lo, s, n * block_bytes + stripe * 64, stripe * 8)
    end
    scramble(acc_hi, acc_lo)
  end
  local stripes = math.floor(((len - 1) - block_bytes * blocks) / 64)
  for stripe = 0, stripes - 1 do
    accumulate_512(acc_hi, acc_lo, s, blocks * block_bytes + stripe * 64, stripe * 8)
  end
  accumulate_512(acc_hi, acc_lo, s, len - 64, kSecretBytes - 64 - 7)
  local result = UInt64.new(len) * PRIME64_1
  for i = 0, 3 do
    local a = UInt64.new(acc_lo[2 * i + 1], acc_hi[2 * i + 1])
    local b = UInt64.new(acc_lo[2 * i + 2], acc_hi[2 * i + 2])
    result = result + mul128_fold64(a:bxor(secret64[11 + 16 * i]),
                                    b:bxor(secret64[11 + 16 * i + 8]))
  end
  return xxh3_avalanche(result)
end

-- xxh3-64 (seed 0) of the Lua string `s`.
local function xxh3_64(s)
  local len = #s
  if len <= 16 then return hash_0to16(s, len) end
  if len <= 128 then return hash_17to128(s, len) end
  if len <= 240 then return hash_129to240(s, len) end
  return hash_long(s, len)
end

----------------------------------------------------------------------------------------
-- msgpack items of a frame header, read from a Lua string (positions count from 0).
-- A reader returns status "ok", "truncated", "wrong_type" or "negative" and, on "ok",
-- the value and the position after the item.

local function be(s, at, width)
  local v = 0
  for k = 1, width do v = v * 256 + sbyte(s, at + k) end
  return v
end

-- An unsigned integer as {hi, lo} (two 32-bit halves).
local function read_uint(s, at, stop)
  if at >= stop then return "truncated" end
  local tag = sbyte(s, at + 1)
  if tag <= 0x7f then return "ok", {hi = 0, lo = tag}, at + 1 end
  if tag >= 0xe0 then return "negative" end
  local widths = {[0xcc] = 1, [0xcd] = 2, [0xce] = 4, [0xcf] = 8,
                  [0xd0] = 1, [0xd1] = 2, [0xd2] = 4, [0xd3] = 8}
  local width = widths[tag]
  if width == nil then return "wrong_type" end
  if stop - at < 1 + width then return "truncated" end
  if tag >= 0xd0 and sbyte(s, at + 2) >= 0x80 then return "negative" end
  if width == 8 then
    return "ok", {hi = be(s, at + 1, 4), lo = be(s, at + 5, 4)}, at + 9
  end
  return "ok", {hi = 0, lo = be(s, at + 1, width)}, at + 1 + width
end

-- A str (is_str) or bin: returns the bytes' position and length.
local function read_blob(s, at, stop, is_str)
  if at >= stop then return "truncated" end
  local tag = sbyte(s, at + 1)
  local head, length
  if is_str and tag >= 0xa0 and tag <= 0xbf then
    head, length = 1, tag - 0xa0
  else
    local base_tag = is_str and 0xd9 or 0xc4
    if tag < base_tag or tag > base_tag + 2 then return "wrong_type" end
    local width = ({1, 2, 4})[tag - base_tag + 1]
    if stop - at < 1 + width then return "truncated" end
    head, length = 1 + width, be(s, at + 1, width)
  end
  if stop - at - head < length then return "truncated" end
  return "ok", {at = at + head, length = length}, at + head + length
end

local function read_array(s, at, stop)
  if at >= stop then return "truncated" end
  local tag = sbyte(s, at + 1)
  if tag >= 0x90 and tag <= 0x9f then return "ok", tag - 0x90, at + 1 end
  if tag == 0xdc or tag == 0xdd then
    local width = tag == 0xdc and 2 or 4
    if stop - at < 1 + width then return "truncated" end
    return "ok", be(s, at + 1, width), at + 1 + width
  end
  return "wrong_type"
end

local function msgpack_type_name(tag)
  if tag <= 0x7f or (tag >= 0xcc and tag <= 0xcf) then return "unsigned integer" end
  if tag >= 0xe0 or (tag >= 0xd0 and tag <= 0xd3) then return "signed integer" end
  if (tag >= 0x80 and tag <= 0x8f) or tag == 0xde or tag == 0xdf then return "map" end
  if (tag >= 0x90 and tag <= 0x9f) or tag == 0xdc or tag == 0xdd then return "array" end
  if (tag >= 0xa0 and tag <= 0xbf) or (tag >= 0xd9 and tag <= 0xdb) then return "str" end
  if tag >= 0xc4 and tag <= 0xc6 then return "bin" end
  if tag == 0xc0 then return "nil" end
  if tag == 0xc2 or tag == 0xc3 then return "bool" end
  if tag == 0xca or tag == 0xcb then return "float" end
  if (tag >= 0xc7 and tag <= 0xc9) or (tag >= 0xd4 and tag <= 0xd8) then return "ext" end
  return "never-used byte 0xc1"
end

-- "str (0xa5)": the type of the item starting with byte `tag`, as weft's decoder says it.
local function describe_type(tag)
  return string.format("%s (0x%02x)", msgpack_type_name(tag), tag)
end

----------------------------------------------------------------------------------------
-- Values

local function uint_to_u64(v) return UInt64.new(v.lo, v.hi) end
local function uint_is_zero(v) return v.hi == 0 and v.lo == 0 end
local function uint_number(v) return v.hi * 4294967296 + v.lo end  -- exact below 2^53
local function uint_decimal(v)
  if v.hi < 0x200000 then return string.format("%.0f", uint_number(v)) end
  return tostring(uint_to_u64(v))
end
local function uint_fits(v, max)
  if max == U64 then return true end
  return v.hi == 0 and v.lo <= max
end

-- `text` as it can be shown: valid UTF-8 kept, control characters and bytes that are not
-- UTF-8 written as \xNN (a reason text or a name may hold anything; Wireshark's outputs
-- must stay UTF-8).
local function safe_text(text)
  if not text:find("[%z\1-\31\127-\255]") then return text end
  local out, k, n = {}, 1, #text
  while k <= n do
    local c = sbyte(text, k)
    local width = c >= 0xf0 and c <= 0xf4 and 4 or c >= 0xe0 and c <= 0xef and 3 or
                  c >= 0xc2 and c <= 0xdf and 2 or 1
    local ok = width > 1 and k + width - 1 <= n
    for j = k + 1, ok and k + width - 1 or k do
      local d = sbyte(text, j)
      if d < 0x80 or d > 0xbf then ok = false end
    end
    if ok then
      out[#out + 1] = text:sub(k, k + width - 1)
      k = k + width
    else
      out[#out + 1] = (c < 0x20 or c >= 0x7f) and string.format("\\x%02x", c) or string.char(c)
      k = k + 1
    end
  end
  return table.concat(out)
end

local function status_text(code)
  return status_names[code] or tostring(code)
end

----------------------------------------------------------------------------------------
-- Checks a frame's prefix (PROTOCOL.md §2.1 checks 1-8). `p` holds at least its 8 bytes.
-- Returns nil and the prefix, or an error name, its offset in the frame and a message.

local function check_prefix(p, require_checksum)
  local magic, flags = sbyte(p, 1), sbyte(p, 2)
  local header_bytes, body_bytes = be(p, 2, 2), be(p, 4, 4)
  if magic ~= 0x77 then
    return "bad_magic", 0, string.format("frame starts with 0x%02x, expected 0x77", magic)
  end
  if bit32.band(flags, 0xfe) ~= 0 then
    return "unknown_frame_flags", 1, string.format("frame flags 0x%02x has unknown bits", flags)
  end
  if body_bytes == 0 then return "zero_length", 4, "body length is 0" end
  if body_bytes > weft.prefs.max_frame_bytes then
    return "frame_too_large", 4, string.format("body length %d exceeds limit %d", body_bytes,
                                               weft.prefs.max_frame_bytes)
  end
  if header_bytes == 0 then return "zero_length", 2, "header length is 0" end
  if header_bytes > weft.prefs.max_header_bytes then
    return "header_too_large", 2, string.format("header length %d exceeds limit %d",
                                                header_bytes, weft.prefs.max_header_bytes)
  end
  local has_checksum = flags == 1
  if header_bytes + (has_checksum and 8 or 0) > body_bytes then
    return "header_exceeds_body", 2, string.format("header length %d%s exceeds body length %d",
      header_bytes, has_checksum and " plus 8 checksum bytes" or "", body_bytes)
  end
  if require_checksum and not has_checksum then
    return "checksum_missing", 1, "frame has no checksum; this connection requires one"
  end
  return nil, {total = 8 + body_bytes, header_bytes = header_bytes, checksum = has_checksum}
end

----------------------------------------------------------------------------------------
-- Parses the header of a whole frame (`s`, the frame's bytes) into `frame`. Returns nil,
-- or the error name, its offset in the frame and a message (PROTOCOL.md §3.3).

local function parse_header(s, prefix, frame)
  local at, stop = 8, 8 + prefix.header_bytes
  frame.element_at = {}
  local status, count, next_at = read_array(s, at, stop)
  if status ~= "ok" then
    if status == "truncated" then
      return "header_truncated", at, "header array length runs past the header"
    end
    return "header_not_array", at, "header must be a msgpack array, found " ..
      describe_type(sbyte(s, at + 1))
  end
  if count == 0 then return "field_count", 8, "header array is empty" end
  at = next_at
  local function uint_element(what, max)
    frame.element_at[#frame.element_at + 1] = at
    local st, v, after = read_uint(s, at, stop)
    if st == "truncated" then return nil, "header_truncated", what .. " runs past the header" end
    if st == "negative" then return nil, "integer_out_of_range", what .. " is negative" end
    if st == "wrong_type" then
      return nil, "wrong_type", what .. " must be an unsigned integer, found " ..
        describe_type(sbyte(s, at + 1))
    end
    if not uint_fits(v, max) then
      return nil, "integer_out_of_range", string.format("%s is %s, above %d", what,
                                                         uint_decimal(v), max)
    end
    at = after
    return v
  end
  local v, err, msg = uint_element("op", 0xff)
  if not v then return err, at, msg end
  frame.opcode = v.lo
  frame.schema = schemas[v.lo]
  if not frame.schema then return "unknown_op", frame.element_at[1], "unknown op " .. v.lo end
  local expected = 4 + #frame.schema.fields
  if count ~= expected then
    return "field_count", 8, string.format("%s has %d header elements, got %d",
                                           op_names[v.lo], expected, count)
  end
  for _, element in ipairs({{"flags", 0xffff}, {"mux", U64}, {"seq", U64}}) do
    v, err, msg = uint_element(element[1], element[2])
    if not v then return err, at, msg end
    frame[element[1]] = v
  end
  frame.values = {}
  for _, name in ipairs(frame.schema.fields) do
    local info = field_info[name]
    if info.kind == "uint" then
      v, err, msg = uint_element(name, info.max)
      if not v then return err, at, msg end
    else
      frame.element_at[#frame.element_at + 1] = at
      local st, blob, after = read_blob(s, at, stop, info.kind == "str")
      if st == "wrong_type" then
        return "wrong_type", at, string.format("%s must be a %s, found %s", name, info.kind,
                                               describe_type(sbyte(s, at + 1)))
      elseif st ~= "ok" then
        return "header_truncated", at, name .. " runs past the header"
      end
      v = s:sub(blob.at + 1, blob.at + blob.length)
      frame.blob_at = frame.blob_at or {}
      frame.blob_at[name] = blob
      at = after
    end
    frame.values[name] = v
  end
  if at ~= stop then
    return "header_trailing_bytes", at, string.format("%d bytes follow the header array",
                                                      stop - at)
  end
  return nil
end

----------------------------------------------------------------------------------------
-- The schema checks of PROTOCOL.md §2.1 check 11 and §5.1 (weft's validate_frame), in its
-- order. Returns nil, or the error name, the element at fault (-1: the payload) and why.

local function valid_name(name)
  if #name == 0 then return false, " must not be empty" end
  if #name > 255 then return false, string.format(" is %d bytes, limit 255", #name) end
  for k = 1, #name do
    local c = sbyte(name, k)
    if c < 0x21 or c > 0x7e then return false, " has a byte outside 0x21..0x7e" end
  end
  return true
end

local function check_field(frame, name, op)
  local v = frame.values
  local flags = frame.flags.lo
  if name == "version_min" then
    if uint_is_zero(v.version_min) then return "version_min must be at least 1" end
  elseif name == "version_max" then
    if v.version_max.lo < v.version_min.lo then return "version_max is below version_min" end
  elseif name == "version" then
    if uint_is_zero(v.version) then return "version must be at least 1" end
  elseif name == "name" or name == "peer_name" then
    local ok, why = valid_name(v[name])
    if not ok then return name .. why end
  elseif name == "max_frame_bytes" then
    if v.max_frame_bytes.lo < 65536 then return "max_frame_bytes is below 65536" end
  elseif name == "nonce" then
    if #v.nonce > 256 then return string.format("nonce is %d bytes, limit 256", #v.nonce) end
  elseif name == "handler" then
    if uint_is_zero(v.handler) then return "handler must not be 0" end
  elseif name == "status" then
    if op == 54 and bit32.band(flags, 1) ~= 0 then
      if not uint_is_zero(v.status) then return "object_ack with through needs status 0" end
    elseif uint_is_zero(v.status) and (op == 3 or op == 34 or op == 38 or op == 50) then
      return op_names[op] .. " needs a non-zero status"
    end
  elseif name == "credit_bytes" then
    if (op == 36 or op == 55) and uint_is_zero(v.credit_msgs) and uint_is_zero(v.credit_bytes)
    then
      return op_names[op] .. " grants nothing"
    end
  elseif name == "stream_key" then
    if uint_is_zero(v.stream_key) then return "stream_key must not be 0" end
  elseif name == "size" and op == 51 then
    if bit32.band(flags, 2) ~= 0 then
      if bit32.band(flags, 1) ~= 0 then return "ends excludes size_unknown" end
      if not uint_is_zero(v.size) then return "size must be 0 when ends is set" end
    elseif bit32.band(flags, 1) ~= 0 and not uint_is_zero(v.size) then
      return "size must be 0 when size_unknown is set"
    end
  end
  return nil
end

local function validate(frame, payload_len)
  local op, sc = frame.opcode, frame.schema
  local name = op_names[op]
  local flags = frame.flags.lo
  if bit32.band(flags, bit32.bnot(sc.flags)) ~= 0 then
    return "unknown_flags", 1, string.format("%s does not define flag bits %d", name,
                                             bit32.band(flags, bit32.bnot(sc.flags)))
  end
  if sc.conn and not uint_is_zero(frame.mux) then return "invalid_field", 2, name .. " needs mux 0" end
  if not sc.conn and uint_is_zero(frame.mux) then
    return "invalid_field", 2, name .. " needs a non-zero mux"
  end
  if not sc.seq and not uint_is_zero(frame.seq) then
    return "invalid_field", 3, name .. " needs seq 0"
  end
  if op == 16 or op == 17 then
    local more = bit32.band(flags, 1) ~= 0
    local seq = frame.seq
    if more and not (seq.hi > 0 or seq.lo >= payload_len) then
      return "invalid_field", 3, string.format("%s announces %s bytes in all but carries %d",
                                               name, uint_decimal(seq), payload_len)
    end
    if not more and not uint_is_zero(seq) then
      return "invalid_field", 3, name .. " without flag more needs seq 0"
    end
  end
  if op == 48 then
    local seq = frame.seq
    if uint_is_zero(seq) or seq.hi > 0x80000000 or (seq.hi == 0x80000000 and seq.lo > 0) then
      return "invalid_field", 3, "object_open seq must be in 1..2^63"
    end
  end
  for i, field in ipairs(sc.fields) do
    local why = check_field(frame, field, op)
    if why then return "invalid_field", 3 + i, why end
  end
  local payload_allowed = sc.payload and (op ~= 32 or bit32.band(flags, 1) ~= 0)
  if not payload_allowed and payload_len > 0 then
    return "payload_not_allowed", -1, string.format("%s carries no payload here, got %d bytes",
                                                    name, payload_len)
  end
  return nil
end

----------------------------------------------------------------------------------------
-- Per-connection state. Keyed by TCP stream; each direction by its source address and
-- port. Computed on the first pass over a packet and kept per frame, so that a second
-- pass (tshark -2, the GUI) shows the same.

local tcp_stream_field = Field.new("tcp.stream")
local tcp_seq_field = Field.new("tcp.seq")
local tcp_completeness_field = Field.new("tcp.completeness")

-- Whether the capture holds the connection's SYN: then a direction's first byte is the
-- stream's first byte, where a frame starts.
local function syn_captured()
  local completeness = tcp_completeness_field()
  return completeness ~= nil and bit32.band(completeness.value, 1) ~= 0
end

local connections = {}
local per_frame = {}  -- frame_key() -> what the first pass found

function weft.init()
  connections = {}
  per_frame = {}
end

local function direction_state(pinfo)
  local stream = tcp_stream_field()
  local key = stream and tostring(stream.value) or "?"
  local conn = connections[key]
  if not conn then
    conn = {dirs = {}, checksums_asked = false}
    connections[key] = conn
  end
  local dir_key = tostring(pinfo.src) .. ":" .. tostring(pinfo.src_port)
  local dir = conn.dirs[dir_key]
  if not dir then
    local seq = tcp_seq_field()
    -- The relative sequence number of the first segment seen: 1 from the stream's start.
    local base = seq and (seq.value - 1) or 0
    -- Without the SYN the capture may begin inside a frame: look for the first whole one
    -- (and, not knowing the handshake, require no checksums).
    dir = {next_offset = base, broken = nil, role = nil, established = false,
           syncing = not syn_captured()}
    conn.dirs[dir_key] = dir
  end
  return conn, dir
end

----------------------------------------------------------------------------------------
-- The tree

local function add_uint(tree, field, range, v, as_u64)
  if as_u64 then return tree:add(field, range, uint_to_u64(v)) end
  return tree:add(field, range, v.lo)
end

local function flag_text(op, flags)
  local names = flag_names[op] or {}
  local set = {}
  for bit = 0, 15 do
    local mask = bit32.lshift(1, bit)
    if bit32.band(flags, mask) ~= 0 then set[#set + 1] = names[mask] or string.format("0x%04x", mask) end
  end
  return table.concat(set, ",")
end

-- The object header of object_begin (PROTOCOL.md §6.3.1) under `tree`.
local function add_object_header(tree, tvb, base, s, at, stop)
  local sub = tree:add(weft, tvb(base + at, stop - at), "Object header")
  local function bad(why)
    sub:add(f.obj_bad, tvb(base + at, stop - at), why)
    sub:add_proto_expert_info(experts.object_header, "object header does not decode: " .. why)
  end
  local st, count, next_at = read_array(s, at, stop)
  if st ~= "ok" or count ~= 10 then return bad("not an array of 10 elements") end
  local pos = next_at
  local function str(field, what)
    local status, blob, after = read_blob(s, pos, stop, true)
    if status ~= "ok" then return false, what .. " is not a str" end
    sub:add(field, tvb(base + pos, after - pos),
            safe_text(s:sub(blob.at + 1, blob.at + blob.length)))
    pos = after
    return true
  end
  local function uint(field, what, as_u64)
    local status, v, after = read_uint(s, pos, stop)
    if status ~= "ok" then return false, what .. " is not unsigned" end
    add_uint(sub, field, tvb(base + pos, after - pos), v, as_u64)
    pos = after
    return true
  end
  local ok, why = str(f.obj_name, "name")
  if not ok then return bad(why) end
  local status, blob, after = read_blob(s, pos, stop, false)
  if status ~= "ok" then return bad("opaque is not a bin") end
  sub:add(f.obj_opaque, tvb(base + blob.at, blob.length))
  pos = after
  for _, step in ipairs({{f.obj_opcode, "opcode"}, {f.obj_present, "present"},
                         {f.obj_size, "size", true}, {f.obj_access_time, "access_time", true}}) do
    ok, why = uint(step[1], step[2], step[3])
    if not ok then return bad(why) end
  end
  for _, step in ipairs({{f.obj_checksum_type, "checksum_type"},
                         {f.obj_checksum_value, "checksum_value"}, {f.obj_version, "version"}}) do
    ok, why = str(step[1], step[2])
    if not ok then return bad(why) end
  end
  st, count, next_at = read_array(s, pos, stop)
  if st ~= "ok" or count % 2 ~= 0 then return bad("custom is not an array of key, value strings") end
  local custom_at = pos
  pos = next_at
  local pairs_text = {}
  for _ = 1, count do
    local status2, item, after2 = read_blob(s, pos, stop, true)
    if status2 ~= "ok" then return bad("custom is not an array of key, value strings") end
    pairs_text[#pairs_text + 1] = s:sub(item.at + 1, item.at + item.length)
    pos = after2
  end
  local joined = {}
  for k = 1, #pairs_text, 2 do joined[#joined + 1] = pairs_text[k] .. "=" .. pairs_text[k + 1] end
  sub:add(f.obj_custom, tvb(base + custom_at, pos - custom_at), safe_text(table.concat(joined, " ")))
  if pos ~= stop then return bad("bytes follow the object header") end
end

-- What the payload holds, by op (PROTOCOL.md §5's payload column).
local function add_payload(tree, tvb, base, s, frame, payload_at, payload_len)
  if payload_len == 0 then return end
  local range = tvb(base + payload_at, payload_len)
  tree:add(f.payload, range)
  local op = frame.opcode
  local status = frame.values and frame.values.status
  local is_text = op == 3 or op == 6 or op == 34 or op == 38 or op == 50 or
    ((op == 17 or op == 37 or op == 53 or op == 54 or op == 56) and status and
     not uint_is_zero(status))
  if is_text then
    tree:add(f.reason, range, safe_text(s:sub(payload_at + 1, payload_at + payload_len)))
  elseif op == 7 or op == 8 then
    tree:add(f.proof, range)
  elseif op == 51 then
    add_object_header(tree, tvb, base, s, payload_at, payload_at + payload_len)
  elseif op == 52 and bit32.band(frame.flags.lo, 1) ~= 0 and payload_len >= 4 then
    tree:add(f.lz4_size, tvb(base + payload_at, 4))
  end
end

-- The header's fields as weft-dump shows them.
local function add_header_fields(tree, tvb, base, s, frame)
  local ea = frame.element_at
  local function range_of(index)
    local from = ea[index + 1]
    local to = ea[index + 2] or (8 + frame.header_bytes)
    return tvb(base + from, to - from)
  end
  tree:add(f.op, range_of(0), op_names[frame.opcode])
  tree:add(f.opcode, range_of(0), frame.opcode)
  if not frame.flags then return end
  local flags_item = tree:add(f.flags, range_of(1), frame.flags.lo)
  local names = flag_text(frame.opcode, frame.flags.lo)
  if names ~= "" then flags_item:add(f.flag_names, range_of(1), names) end
  if not frame.seq then return end
  add_uint(tree, f.mux, range_of(2), frame.mux, true)
  add_uint(tree, f.seq, range_of(3), frame.seq, true)
  for i, name in ipairs(frame.schema.fields) do
    local v = frame.values and frame.values[name]
    if v == nil then return end
    local info = field_info[name]
    local range = range_of(3 + i)
    if info.kind == "str" then
      tree:add(f[name], range, safe_text(v))
    elseif info.kind == "bin" then
      local blob = frame.blob_at[name]
      tree:add(f.nonce, tvb(base + blob.at, blob.length))
    elseif info.status then
      tree:add(f.status, range, status_text(v.lo))
      tree:add(f.status_code, range, v.lo)
    else
      add_uint(tree, f[name], range, v, info.max == U64)
    end
  end
end

-- A one-line summary for the Info column.
local function summary(frame)
  local parts = {op_names[frame.opcode]}
  if frame.mux and not uint_is_zero(frame.mux) then
    parts[#parts + 1] = "mux=" .. uint_decimal(frame.mux)
  end
  if frame.seq and not uint_is_zero(frame.seq) then
    parts[#parts + 1] = "seq=" .. uint_decimal(frame.seq)
  end
  local v = frame.values or {}
  if v.name then parts[#parts + 1] = v.name end
  if v.peer_name then parts[#parts + 1] = "to " .. v.peer_name end
  if v.status then parts[#parts + 1] = status_text(v.status.lo) end
  return table.concat(parts, " ")
end

----------------------------------------------------------------------------------------
-- One frame

-- Flags the error on the frame's item and records it.
local function flag_error(item, pinfo, frame_range_tvb, err, stream_offset, message)
  local where = UInt64.new(stream_offset % 4294967296, math.floor(stream_offset / 4294967296))
  item:add(f.error, frame_range_tvb, err)
  item:add(f.error_offset, frame_range_tvb, where)
  item:add(f.error_text, frame_range_tvb, message)
  item:add_proto_expert_info(experts[err], string.format("error at byte %.0f: %s: %s",
                                                          stream_offset, err, message))
  pinfo.cols.info:append(string.format(" [%s]", err))
end

-- Checks the checksum of the whole frame `s`: returns what it carries, its status ("good",
-- "bad", "not verified") and, when bad, the hash computed.
local function check_checksum(s, prefix)
  local at = prefix.total - 8
  local carried = UInt64.new(be(s, at + 4, 4), be(s, at, 4))
  if prefix.total > weft.prefs.verify_max_kib * 1024 then return carried, "not verified" end
  local computed = xxh3_64(s:sub(1, at))
  if computed == carried then return carried, "good" end
  return carried, "bad", computed
end

-- Decodes the whole frame `s` (its prefix checked: `prefix`) as a receiver does: the
-- checksum, the header, the op's schema. Returns the frame and, for a frame that fails,
-- the error name, its offset in the frame and the detail.
local function decode_frame(s, prefix)
  local frame = {header_bytes = prefix.header_bytes}
  frame.payload_at = 8 + prefix.header_bytes
  frame.payload_len = prefix.total - frame.payload_at - (prefix.checksum and 8 or 0)
  if prefix.checksum then
    frame.carried, frame.checksum_status, frame.computed = check_checksum(s, prefix)
    if frame.checksum_status == "bad" then
      return frame, "checksum_mismatch", prefix.total - 8, string.format(
        "checksum %s does not match the frame's xxh3-64", frame.carried:tohex())
    end
  end
  local err, at, message = parse_header(s, prefix, frame)
  if err then return frame, err, at, message end
  local element
  err, element, message = validate(frame, frame.payload_len)
  if err then
    return frame, err, element < 0 and frame.payload_at or frame.element_at[element + 1], message
  end
  return frame
end

-- Updates the connection's handshake state after a valid frame of direction `dir`.
local function follow_handshake(conn, dir, frame)
  local op = frame.opcode
  if (op == 1 or op == 7) and bit32.band(frame.flags.lo, 1) ~= 0 then
    conn.checksums_asked = true
  end
  if op == 1 and dir.role == nil then dir.role = "dialer" end
  if op == 7 and dir.role == nil then dir.role = "acceptor" end
  -- Every frame after the auth (dialer) or the welcome (acceptor) is of the established
  -- connection (PROTOCOL.md §4.3).
  if (op == 8 and dir.role == "dialer") or (op == 2 and dir.role == "acceptor") then
    dir.established = true
  end
end

-- The checksum's items: what the frame carries and whether it matches.
local function add_checksum(item, tvb, base, prefix, frame)
  local range = tvb(base + prefix.total - 8, 8)
  item:add(f.checksum, range, frame.carried)
  item:add(f.checksum_status, range, frame.checksum_status)
  if frame.checksum_status == "bad" then item:add(f.checksum_computed, range, frame.computed) end
  if frame.checksum_status == "not verified" then
    item:add_proto_expert_info(experts.unverified, string.format(
      "checksum not verified: the frame is longer than %d KiB (preference)",
      weft.prefs.verify_max_kib))
  end
end

-- Decodes the whole frame at `base` (prefix checked: `prefix`) into `tree`. Returns the
-- error name when the frame fails a check.
local function dissect_frame(tvb, pinfo, tree, base, prefix, stream_offset, conn, dir)
  local total = prefix.total
  local s = tvb:raw(base, total)
  local item = tree:add(weft, tvb(base, total))
  item:add(f.stream_offset, tvb(base, total), UInt64.new(stream_offset % 4294967296,
    math.floor(stream_offset / 4294967296)))
  item:add(f.magic, tvb(base, 1))
  item:add(f.frame_flags, tvb(base + 1, 1))
  item:add(f.cksum, tvb(base + 1, 1))
  item:add(f.header_length, tvb(base + 2, 2))
  item:add(f.body_length, tvb(base + 4, 4))
  local frame, err, at, message = decode_frame(s, prefix)
  if prefix.checksum then add_checksum(item, tvb, base, prefix, frame) end
  if frame.opcode and frame.schema then
    add_header_fields(item, tvb, base, s, frame)
    item:append_text(", " .. summary(frame))
  end
  local payload_at, payload_len = frame.payload_at, frame.payload_len
  if not err or err == "checksum_mismatch" or err == "payload_not_allowed" then
    item:add(f.len, tvb(base + payload_at, payload_len), payload_len)
    add_payload(item, tvb, base, s, frame, payload_at, payload_len)
  end
  local info = frame.opcode and op_names[frame.opcode] and summary(frame) or "?"
  pinfo.cols.info:append((dir.frames_in_packet > 0 and ", " or " ") .. info)
  dir.frames_in_packet = dir.frames_in_packet + 1
  if err then
    -- The decoder may report the byte just past the header (a header cut short): mark the
    -- frame's last byte then.
    flag_error(item, pinfo, tvb(base + math.min(at, total - 1), 1), err, stream_offset + at,
               message)
    return err
  end
  follow_handshake(conn, dir, frame)
  return nil
end

-- Shows bytes of a direction that broke earlier (or at a prefix error), undecoded.
local function add_after_error(tvb, tree, from)
  if from >= tvb:len() then return end
  local item = tree:add(weft, tvb(from), "weft: bytes after a protocol error")
  item:add(f.after_error, tvb(from))
  item:add_proto_expert_info(experts.after_error)
end

----------------------------------------------------------------------------------------
-- The dissector: frames of one direction, reassembled by TCP.

-- Whether a frame may start at `pos` of `s` (`left` bytes from there): "no", "more" (too
-- few bytes to tell; the prefix when known) or "frame" (a whole frame that decodes).
local function frame_candidate(s, pos, left)
  if left >= 2 and sbyte(s, pos + 1) > 1 then return "no" end
  if left < 10 then return "more" end
  local err, prefix = check_prefix(s:sub(pos, pos + 7), false)
  local tag, op = sbyte(s, pos + 8), sbyte(s, pos + 9)
  if err or not schemas[op] or tag ~= 0x94 + #schemas[op].fields then return "no" end
  if left < prefix.total then return "more", prefix end
  local _, frame_err = decode_frame(s:sub(pos, pos + prefix.total - 1), prefix)
  if frame_err then return "no" end
  return "frame", prefix
end

-- Looks for the first frame start from `offset` in a direction whose capture began inside
-- the stream. Returns the bytes to skip before it and frame_candidate's verdict there.
local function resync(tvb, offset)
  local s = tvb:raw(offset, tvb:len() - offset)
  local pos = 1
  while true do
    pos = s:find("\119", pos, true)  -- 0x77, the magic
    if not pos then return #s, "no" end
    local verdict, prefix = frame_candidate(s, pos, #s - pos + 1)
    if verdict ~= "no" then return pos - 1, verdict, prefix end
    pos = pos + 1
  end
end

local function add_skipped(tvb, tree, from, count)
  local item = tree:add(weft, tvb(from, count), "weft: bytes before the first whole frame")
  item:add(f.skipped, tvb(from, count))
  item:add_proto_expert_info(experts.skipped, string.format(
    "the capture began inside the stream: %d bytes before the first whole frame", count))
end

-- A frame's key among the revisits of its packet. A packet holds at most one reassembled
-- PDU (a tvb of its own, starting at a frame: offset 0) and slices of its own segment (at
-- their offset in the packet). A later pass may hand over a reassembled PDU of another
-- length (TCP may have added the whole segment on the first pass), so the length is no
-- part of the key.
local function frame_key(pinfo, tvb, offset)
  return string.format("%d:%d:%d", pinfo.number, tvb:offset(), offset)
end

local function dissect_weft(tvb, pinfo, tree)
  local conn, dir = direction_state(pinfo)
  -- The first call for this packet in this dissection (TCP may call again for the rest of
  -- a segment after a reassembled frame) starts the Info column afresh.
  local first_call = tostring(pinfo.cols.protocol) ~= "weft"
  pinfo.cols.protocol = "weft"
  if first_call then
    dir.frames_in_packet = 0
    pinfo.cols.info:clear()
    pinfo.cols.info:set(string.format("%d → %d", pinfo.src_port, pinfo.dst_port))
  end
  local len = tvb:len()
  local offset = 0
  while offset < len do
    local key = frame_key(pinfo, tvb, offset)
    local seen = pinfo.visited and per_frame[key] or nil
    if not seen then
      -- The first pass: the direction's state now is the frame's.
      seen = {broken = dir.broken, stream_offset = dir.next_offset,
              require_checksum = dir.established and conn.checksums_asked,
              syncing = dir.syncing}
    end
    if seen.broken then
      per_frame[key] = seen
      add_after_error(tvb, tree, offset)
      return len
    end
    if seen.syncing then
      per_frame[key] = seen
      local skip, verdict, candidate = resync(tvb, offset)
      if skip > 0 then
        add_skipped(tvb, tree, offset, skip)
        if not pinfo.visited then dir.next_offset = dir.next_offset + skip end
        if offset + skip >= len then return len end
        offset = offset + skip
        key = frame_key(pinfo, tvb, offset)
        seen = pinfo.visited and per_frame[key] or
               {stream_offset = dir.next_offset, require_checksum = false, syncing = true}
        per_frame[key] = seen
      end
      if verdict == "more" then
        pinfo.desegment_offset = offset
        pinfo.desegment_len = candidate and candidate.total - (len - offset) or
                              DESEGMENT_ONE_MORE_SEGMENT
        return len
      end
      -- A whole frame that decodes starts here: the direction is in step from now on.
      if not pinfo.visited then dir.syncing = false end
    end
    if len - offset < 8 then
      if not pinfo.visited then dir.pending = {at = seen.stream_offset} end
      pinfo.desegment_offset = offset
      pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
      return len
    end
    local p = tvb:raw(offset, 8)
    local err, prefix, message = check_prefix(p, seen.require_checksum)
    if err then
      per_frame[key] = seen
      local item = tree:add(weft, tvb(offset), "weft frame")
      item:add(f.stream_offset, tvb(offset, 8), UInt64.new(seen.stream_offset % 4294967296,
        math.floor(seen.stream_offset / 4294967296)))
      item:add(f.magic, tvb(offset, 1))
      item:add(f.frame_flags, tvb(offset + 1, 1))
      item:add(f.header_length, tvb(offset + 2, 2))
      item:add(f.body_length, tvb(offset + 4, 4))
      flag_error(item, pinfo, tvb(offset + prefix, 1), err, seen.stream_offset + prefix, message)
      dir.broken = dir.broken or seen.stream_offset
      add_after_error(tvb, tree, offset + 8)
      return len
    end
    if len - offset < prefix.total then
      if not pinfo.visited then dir.pending = {at = seen.stream_offset, total = prefix.total} end
      pinfo.desegment_offset = offset
      pinfo.desegment_len = prefix.total - (len - offset)
      return len
    end
    if not pinfo.visited then dir.pending = nil end
    per_frame[key] = seen
    local frame_err = dissect_frame(tvb, pinfo, tree, offset, prefix, seen.stream_offset, conn,
                                    dir)
    if seen.stream_offset == dir.next_offset then
      dir.next_offset = dir.next_offset + prefix.total
      if frame_err then dir.broken = seen.stream_offset end
    end
    offset = offset + prefix.total
    if frame_err then
      add_after_error(tvb, tree, offset)
      return len
    end
  end
  return offset
end

function weft.dissector(tvb, pinfo, tree)
  return dissect_weft(tvb, pinfo, tree)
end

----------------------------------------------------------------------------------------
-- Registration: a hello at the start of a TCP stream, and Decode As on tcp.port.

-- Whether the stream's first bytes are (or, fewer than 10 so far, may be) a hello: magic,
-- frame flags 0 or 1, a header length under 1024, a body at least as long, and a header
-- that starts as a 12-element array of op 1.
local function looks_like_hello(tvb)
  local n = math.min(tvb:len(), 10)
  if n == 0 then return false end
  local p = tvb:raw(0, n)
  local function at(k) return sbyte(p, k + 1) end
  if at(0) ~= 0x77 then return false end
  if n > 1 and at(1) > 1 then return false end
  if n > 2 and at(2) > 3 then return false end
  if n > 4 and at(4) ~= 0 then return false end
  if n > 8 and at(8) ~= 0x9c then return false end
  if n > 9 and at(9) ~= 0x01 then return false end
  if n < 8 then return true end
  local header_bytes, body_bytes = be(p, 2, 2), be(p, 4, 4)
  return header_bytes >= 2 and body_bytes >= header_bytes
end

local function heuristic(tvb, pinfo, tree)
  if not weft.prefs.heuristic_hello then return false end
  local seq = tcp_seq_field()
  if not seq or seq.value ~= 1 then return false end
  if not looks_like_hello(tvb) then return false end
  pinfo.conversation = weft
  dissect_weft(tvb, pinfo, tree)
  return true
end

-- The end of a direction (its sender's FIN or RST) inside a frame: PROTOCOL.md's
-- `truncated`, at the frame's first byte. A postdissector sees every packet, also those
-- without payload, which TCP hands to no dissector.
local weft_end = Proto("weft_end", "weft end of a stream")
local tcp_fin_field = Field.new("tcp.flags.fin")
local tcp_reset_field = Field.new("tcp.flags.reset")
local tcp_len_field = Field.new("tcp.len")

local function ends_stream()
  local fin, reset = tcp_fin_field(), tcp_reset_field()
  return (fin ~= nil and fin.value) or (reset ~= nil and reset.value)
end

function weft_end.dissector(tvb, pinfo, tree)
  local key = "end:" .. pinfo.number
  local cut = per_frame[key]
  if not pinfo.visited then
    local stream = tcp_stream_field()
    local conn = stream and ends_stream() and connections[tostring(stream.value)]
    local dir = conn and conn.dirs[tostring(pinfo.src) .. ":" .. tostring(pinfo.src_port)]
    if not dir or not dir.pending or dir.broken or dir.syncing then return end
    local seq, bytes = tcp_seq_field(), tcp_len_field()
    local stream_end = seq.value - 1 + (bytes and bytes.value or 0)
    cut = {at = dir.pending.at, have = stream_end - dir.pending.at, total = dir.pending.total}
    per_frame[key] = cut
    dir.broken = cut.at
  end
  if not cut then return end
  local item = tree:add(weft, tvb(0, 0), "weft: the stream ends inside a frame")
  flag_error(item, pinfo, tvb(0, 0), "truncated", cut.at, string.format(
    "stream ends inside a frame: have %d of its %s bytes", cut.have,
    cut.total and tostring(cut.total) or "8 prefix"))
end

register_postdissector(weft_end)
weft:register_heuristic("tcp", heuristic)
DissectorTable.get("tcp.port"):add_for_decode_as(weft)

-- For tests of the checksum code (another script loaded after this one): xxh3-64 of a Lua
-- string, as a UInt64.
package.loaded["weft.xxh3"] = xxh3_64
