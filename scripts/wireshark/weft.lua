-- Wireshark dissector for the weft wire protocol, version 3 (docs/PROTOCOL.md).
--
-- Install: `cmake --install` puts this file in WEFT_WIRESHARK_PLUGIN_DIR (or copy it into
-- the folder `tshark -G folders` lists as "Personal Lua Plugins"; for one run, `tshark -X
-- lua_script:weft.lua`); docs/WIRESHARK.md says how to use it. What it does:
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
-- Lua 5.2 has no 64-bit integers: 64-bit values travel as Wireshark's UInt64 (in xxh3's
-- inner loop, as pairs of 32-bit numbers, for speed). This file holds the preferences,
-- names and schema, fields, tree, dissector and registration; weft/xxh3.lua the checksum,
-- weft/frames.lua the msgpack reader and the decoder's checks, weft/object_header.lua the
-- object header of object_begin and its checks (loaded from beside this file, see "The
-- modules" below).

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
  [11] = "object_state_lost", [12] = "unsupported", [13] = "idle", [14] = "open_timeout",
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
-- The modules beside this file (weft/xxh3.lua, weft/frames.lua, weft/object_header.lua):
-- plain functions that register nothing, so that Wireshark running them as plugins of their
-- own (it runs every .lua of its plugin folders) does no harm. Found from this file's own
-- path.

local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
local function load_module(name, argument)
  local chunk, why = loadfile(here .. "weft/" .. name .. ".lua")
  if not chunk then error("weft dissector: " .. why) end
  return chunk(argument)
end

local sbyte = string.byte
local xxh3_64 = load_module("xxh3")
local frames = load_module("frames", {field_info = field_info, op_names = op_names,
  schemas = schemas, status_names = status_names, prefs = weft.prefs, u64 = U64})
local object_header = load_module("object_header", {proto = weft, fields = f,
  experts = experts, frames = frames})
local be, check_prefix, parse_header = frames.be, frames.check_prefix, frames.parse_header
local safe_text, status_text, uint_decimal = frames.safe_text, frames.status_text,
  frames.uint_decimal
local uint_is_zero, uint_to_u64, validate = frames.uint_is_zero, frames.uint_to_u64,
  frames.validate

-- Per-connection state. Keyed by TCP stream; each direction by its source address and
-- port. Computed on the first pass over a packet and kept per frame, so that a second
-- pass (tshark -2, the GUI) shows the same.

local tcp_stream_field = Field.new("tcp.stream")
-- Sequence numbers as on the wire, whatever tcp.relative_sequence_numbers says (tcp.seq
-- follows it): positions count from the SYN's number + 1, or the first segment seen.
local tcp_seq_raw_field = Field.new("tcp.seq_raw")
local tcp_syn_field = Field.new("tcp.flags.syn")
local tcp_completeness_field = Field.new("tcp.completeness")

-- Whether the capture holds the connection's SYN: then a direction's first byte is the
-- stream's first byte, where a frame starts.
local function syn_captured()
  local completeness = tcp_completeness_field()
  return completeness ~= nil and bit32.band(completeness.value, 1) ~= 0
end

local connections = {}
local per_frame = {}  -- frame_key() -> what the first pass found
local origins = {}  -- "STREAM ADDRESS:PORT" -> the raw sequence number of position 0

function weft.init()
  connections = {}
  per_frame = {}
  origins = {}
end

-- The packet's TCP stream and direction (its source address and port), as keys.
local function direction_key(pinfo)
  local stream = tcp_stream_field()
  return stream and tostring(stream.value) or "?", tostring(pinfo.src) .. ":" ..
    tostring(pinfo.src_port)
end

-- The position of the packet's first byte in its direction: 0 at the stream's first byte
-- (the SYN captured: note_syn) or, without the SYN, at the first segment seen.
local function stream_position(pinfo)
  local raw = tcp_seq_raw_field()
  if not raw then return 0 end
  local key = table.concat({direction_key(pinfo)}, " ")
  if origins[key] == nil then origins[key] = raw.value end
  return (raw.value - origins[key]) % 4294967296
end

-- A SYN (every packet passes here: weft_end) sets its direction's origin: its number + 1.
local function note_syn(pinfo)
  local syn, raw = tcp_syn_field(), tcp_seq_raw_field()
  if not syn or not syn.value or not raw then return end
  local key = table.concat({direction_key(pinfo)}, " ")
  if origins[key] == nil then origins[key] = (raw.value + 1) % 4294967296 end
end

local function direction_state(pinfo)
  local key, dir_key = direction_key(pinfo)
  local conn = connections[key]
  if not conn then
    conn = {dirs = {}, checksums_asked = false}
    connections[key] = conn
  end
  local dir = conn.dirs[dir_key]
  if not dir then
    -- The position of the first segment seen: 0 from the stream's start.
    local base = stream_position(pinfo)
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
    object_header.add(tree, tvb, base, s, payload_at, payload_at + payload_len)
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
-- the error name, its offset in the frame and the detail. With `header_first` (the search
-- for a frame start in a capture begun mid-stream, where only pass or fail matters) the
-- cheap checks come first: the hash of a long candidate, in Lua, is what made a hostile
-- capture take minutes.
local function decode_frame(s, prefix, header_first)
  local frame = {header_bytes = prefix.header_bytes}
  frame.payload_at = 8 + prefix.header_bytes
  frame.payload_len = prefix.total - frame.payload_at - (prefix.checksum and 8 or 0)
  local function checksum()
    if not prefix.checksum then return nil end
    frame.carried, frame.checksum_status, frame.computed = check_checksum(s, prefix)
    if frame.checksum_status == "bad" then
      return "checksum_mismatch", prefix.total - 8, string.format(
        "checksum %s does not match the frame's xxh3-64", frame.carried:tohex())
    end
  end
  local err, at, message
  if not header_first then
    err, at, message = checksum()
    if err then return frame, err, at, message end
  end
  err, at, message = parse_header(s, prefix, frame)
  if err then return frame, err, at, message end
  local element
  err, element, message = validate(frame, frame.payload_len)
  if err then
    return frame, err, element < 0 and frame.payload_at or frame.element_at[element + 1], message
  end
  if header_first then
    err, at, message = checksum()
    if err then return frame, err, at, message end
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
  if left < prefix.total then
    -- Its header may already tell: a candidate that fails it is no frame, and asking TCP for
    -- the rest of each such candidate made a hostile capture's search quadratic.
    if left >= 8 + prefix.header_bytes then
      local frame = {header_bytes = prefix.header_bytes, payload_at = 8 + prefix.header_bytes}
      frame.payload_len = prefix.total - frame.payload_at - (prefix.checksum and 8 or 0)
      if parse_header(s:sub(pos, pos + 7 + prefix.header_bytes), prefix, frame) or
          validate(frame, frame.payload_len) then
        return "no"
      end
    end
    return "more", prefix
  end
  local _, frame_err = decode_frame(s:sub(pos, pos + prefix.total - 1), prefix, true)
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
  if stream_position(pinfo) ~= 0 then return false end  -- not the stream's first byte
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
  note_syn(pinfo)
  if not pinfo.visited then
    local stream = tcp_stream_field()
    local conn = stream and ends_stream() and connections[tostring(stream.value)]
    local dir = conn and conn.dirs[tostring(pinfo.src) .. ":" .. tostring(pinfo.src_port)]
    if not dir or not dir.pending or dir.broken or dir.syncing then return end
    local bytes = tcp_len_field()
    local stream_end = stream_position(pinfo) + (bytes and bytes.value or 0)
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
