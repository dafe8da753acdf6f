-- The weft dissector's (../weft.lua) object header of object_begin (PROTOCOL.md §6.3.1):
-- its fields in the tree, checked as weft's decoder checks them (core/src/object_header.cpp:
-- decode_object_header), in its order and with its reasons. Loaded by weft.lua with
-- loadfile and given the protocol, its fields and experts and the msgpack reader
-- (weft/frames.lua) as the chunk's argument. Wireshark runs every .lua of its plugin
-- folders as a plugin of its own: run so, without that argument, this file returns at once
-- and registers nothing.

local given = ...
if type(given) ~= "table" then return {} end
local proto, f, experts, frames = given.proto, given.fields, given.experts, given.frames
local read_array, read_blob, read_uint = frames.read_array, frames.read_blob, frames.read_uint
local safe_text, uint_is_zero, uint_to_u64 = frames.safe_text, frames.uint_is_zero,
  frames.uint_to_u64

local function fits(v, max) return v.hi == 0 and v.lo <= max end

-- The header in payload bytes [at, stop) of `s` (the frame at `base` of `tvb`) under `tree`:
-- each field as far as it decodes, then the first reason weft's decoder would refuse it for
-- (weft.object.bad and an expert item).
local function add(tree, tvb, base, s, at, stop)
  local sub = tree:add(proto, tvb(base + at, stop - at), "Object header")
  local function bad(why)
    sub:add(f.obj_bad, tvb(base + at, stop - at), why)
    sub:add_proto_expert_info(experts.object_header, "object header does not decode: " .. why)
  end
  local st, count, next_at = read_array(s, at, stop)
  if st ~= "ok" or count ~= 10 then return bad("not an array of 10 elements") end
  local pos = next_at
  local function str(field, what)
    local status, blob, after = read_blob(s, pos, stop, true)
    if status ~= "ok" then return nil, what .. " is not a str" end
    sub:add(field, tvb(base + pos, after - pos),
            safe_text(s:sub(blob.at + 1, blob.at + blob.length)))
    pos = after
    return blob
  end
  -- An unsigned integer; over `max`, or not one, refused with `why` when given.
  local function uint(field, what, as_u64, max, why)
    local status, v, after = read_uint(s, pos, stop)
    if status ~= "ok" then return nil, why or (what .. " is not unsigned") end
    if max and not fits(v, max) then return nil, why end
    local range = tvb(base + pos, after - pos)
    if as_u64 then sub:add(field, range, uint_to_u64(v)) else sub:add(field, range, v.lo) end
    pos = after
    return v
  end
  local _, why = str(f.obj_name, "name")
  if why then return bad(why) end
  local status, blob, after = read_blob(s, pos, stop, false)
  if status ~= "ok" then return bad("opaque is not a bin") end
  sub:add(f.obj_opaque, tvb(base + blob.at, blob.length))
  pos = after
  local values = {}
  for _, step in ipairs({
      {"opcode", f.obj_opcode, false, 0xffff, "opcode is not an unsigned 16-bit integer"},
      {"present", f.obj_present, false, 7, "present is not an integer in 0..7"},
      {"size", f.obj_size, true}, {"access_time", f.obj_access_time, true}}) do
    values[step[1]], why = uint(step[2], step[1], step[3], step[4], step[5])
    if why then return bad(why) end
  end
  for _, step in ipairs({{f.obj_checksum_type, "checksum_type"},
                         {f.obj_checksum_value, "checksum_value"}, {f.obj_version, "version"}}) do
    values[step[2]], why = str(step[1], step[2])
    if why then return bad(why) end
  end
  -- present: bit 0 size, bit 1 access time, bit 2 version; an attribute absent has no value.
  local present = values.present.lo
  if (bit32.band(present, 1) == 0 and not uint_is_zero(values.size)) or
      (bit32.band(present, 2) == 0 and not uint_is_zero(values.access_time)) or
      (bit32.band(present, 4) == 0 and values.version.length ~= 0) then
    return bad("an absent attribute has a value")
  end
  st, count, next_at = read_array(s, pos, stop)
  if st ~= "ok" or count % 2 ~= 0 then return bad("custom is not an array of key, value strings") end
  -- Each string takes at least a byte: a count the bytes left cannot hold is refused first.
  if count > stop - next_at then return bad("custom announces more strings than bytes") end
  if count / 2 > 1024 then return bad("custom has more than 1024 entries") end
  local custom_at = pos
  pos = next_at
  local pairs_text = {}
  for _ = 1, count do
    local status2, item, after2 = read_blob(s, pos, stop, true)
    if status2 ~= "ok" then return bad("a custom entry is not a str") end
    pairs_text[#pairs_text + 1] = s:sub(item.at + 1, item.at + item.length)
    pos = after2
  end
  local joined = {}
  for k = 1, #pairs_text, 2 do joined[#joined + 1] = pairs_text[k] .. "=" .. pairs_text[k + 1] end
  sub:add(f.obj_custom, tvb(base + custom_at, pos - custom_at), safe_text(table.concat(joined, " ")))
  if pos ~= stop then return bad("bytes after the header's array") end
end

return {add = add}
