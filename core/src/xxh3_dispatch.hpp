// xxh3 through libxxhash's dispatcher where it has one (x86-64): it picks the widest vector
// unit the CPU has (AVX2 / AVX-512), two to three times the baseline build's speed on large
// inputs, with the same hashes. Elsewhere the baseline functions.
#pragma once

#define XXH_STATIC_LINKING_ONLY 1  // XXH3_state_t on the stack
#include <xxhash.h>
#if defined(__x86_64__) && __has_include(<xxh_x86dispatch.h>)
#define XXH_DISPATCH_DISABLE_REPLACE 1
#include <xxh_x86dispatch.h>
#define WEFT_XXH3_DISPATCH 1
#endif

#include "weft/bytes.hpp"

namespace weft::detail {

// Feeds `bytes` to a running xxh3-64.
inline void xxh3_update(XXH3_state_t* state, Bytes bytes) {
#if WEFT_XXH3_DISPATCH
  XXH3_64bits_update_dispatch(state, bytes.data(), bytes.size());
#else
  XXH3_64bits_update(state, bytes.data(), bytes.size());
#endif
}

}  // namespace weft::detail
