// Counts the heap allocations of the whole process. A test binary that links
// alloc_counter.cpp replaces the global operator new with a counting one, so only such a
// binary (its own process, no other test affected) may include this.
#pragma once

#include <cstddef>

namespace weft::testing {

// Allocations made by any thread of this process since it started.
std::size_t allocations_so_far();

}  // namespace weft::testing
