// RapidCheck generators of valid frames and byte-stream splits.
#pragma once

#include <rapidcheck.h>

#include <vector>

#include "weft/wire.hpp"

namespace weft::testing {

// An arbitrary frame that validate_frame accepts under default limits: any op, any legal
// flags, extreme and ordinary integers, names and tokens up to their limits, payloads from
// empty to tens of KiB, with or without checksum.
rc::Gen<OwnedFrame> gen_valid_frame();

// Sizes of consecutive pieces that add up to `total`: whole, byte by byte, or random cuts.
rc::Gen<std::vector<std::size_t>> gen_split(std::size_t total);

}  // namespace weft::testing

namespace rc {
// Lets RC_ASSERT print frames when a property fails.
void showValue(const weft::OwnedFrame& frame, std::ostream& os);
}  // namespace rc
