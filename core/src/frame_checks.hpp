// validate_frame once the op's schema is known. Internal to core/: the decoder's short way
// (wire_decode.cpp) found the schema while it read the header and does not look it up again.
#pragma once

#include "weft/wire.hpp"

namespace weft::detail {

// validate_frame(frame, limits) for a frame whose op has the schema `schema`
// (find_schema(frame.op) == &schema): the same checks, the same faults.
FrameFault validate_frame_with(const Frame& frame, const OpSchema& schema,
                               const WireLimits& limits);

}  // namespace weft::detail
