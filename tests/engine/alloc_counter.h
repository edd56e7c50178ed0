// Counts heap allocations made by the current thread while enabled. The
// counting operator new/delete replacements live in alloc_counter.cc and are
// linked only into non-sanitizer test builds (RTML_ALLOC_COUNTER defined).
#pragma once

#include <cstdint>

namespace rtml::testing {

bool AllocCounterAvailable();
// Starts counting on this thread and resets the count.
void StartCountingAllocs();
// Stops counting and returns the number of allocations since Start.
int64_t StopCountingAllocs();

}  // namespace rtml::testing
