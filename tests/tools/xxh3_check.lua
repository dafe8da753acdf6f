-- Checks the Wireshark dissector's xxh3-64 against libxxhash's, on the inputs
-- weft_xxh3_vectors wrote to the file $WEFT_XXH3_VECTORS. Loaded after the dissector:
--   WEFT_XXH3_VECTORS=FILE tshark -G protocols -X lua_script:weft.lua -X lua_script:xxh3_check.lua
-- Prints "xxh3_check: N inputs, M mismatches, S seconds" and a line per mismatch.
local xxh3 = package.loaded["weft.xxh3"]
local path = os.getenv("WEFT_XXH3_VECTORS")
if not xxh3 or not path then
  print("xxh3_check: the dissector's xxh3 or WEFT_XXH3_VECTORS is missing")
  return
end
local file = io.open(path, "rb")
local data = file:read("*a")
file:close()

local function be(at, width)
  local value = 0
  for k = 0, width - 1 do value = value * 256 + data:byte(at + k) end
  return value
end

local inputs, mismatches = 0, 0
local started = os.clock()
local at = 1
while at <= #data do
  local length = be(at, 4)
  local input = data:sub(at + 4, at + 3 + length)
  at = at + 4 + length
  local want = UInt64.new(be(at + 4, 4), be(at, 4))
  at = at + 8
  local got = xxh3(input)
  inputs = inputs + 1
  if got ~= want then
    mismatches = mismatches + 1
    print(string.format("xxh3_check: length %d: %s, libxxhash %s", length, got:tohex(),
                        want:tohex()))
  end
end
print(string.format("xxh3_check: %d inputs, %d mismatches, %.2f seconds", inputs, mismatches,
                    os.clock() - started))
