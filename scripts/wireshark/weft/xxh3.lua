-- xxh3-64 (seed 0, the default secret) for the weft dissector (../weft.lua), in pure Lua 5.2
-- on Wireshark's UInt64: a module of plain functions, loaded by weft.lua with loadfile.
-- Wireshark runs every .lua of its plugin folders as a plugin of its own; run so, this
-- file defines its functions and returns, registering nothing.

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

return xxh3_64
