-- The weft dissector's (../weft.lua) reading of frames: msgpack items, values shown as
-- weft-dump shows them, and the decoder's checks (PROTOCOL.md §2.1, §3.3, §5.1) in its
-- order. Plain functions, loaded by weft.lua with loadfile and given the protocol's names
-- and schema (and its preferences) as the chunk's argument. Wireshark runs every .lua of
-- its plugin folders as a plugin of its own: run so, without that argument, this file
-- returns at once and registers nothing.

local given = ...
if type(given) ~= "table" then return {} end
local sbyte = string.byte
local field_info, op_names, schemas, status_names, prefs =
  given.field_info, given.op_names, given.schemas, given.status_names, given.prefs
local U64 = given.u64  -- field_info's `max` of a field that takes any 64-bit value

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
  if body_bytes > prefs.max_frame_bytes then
    return "frame_too_large", 4, string.format("body length %d exceeds limit %d", body_bytes,
                                               prefs.max_frame_bytes)
  end
  if header_bytes == 0 then return "zero_length", 2, "header length is 0" end
  if header_bytes > prefs.max_header_bytes then
    return "header_too_large", 2, string.format("header length %d exceeds limit %d",
                                                header_bytes, prefs.max_header_bytes)
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

return {
  be = be, check_prefix = check_prefix, parse_header = parse_header,
  read_array = read_array, read_blob = read_blob, read_uint = read_uint,
  safe_text = safe_text, status_text = status_text, uint_decimal = uint_decimal,
  uint_is_zero = uint_is_zero, uint_to_u64 = uint_to_u64, validate = validate,
}
