#include "engine/internal/kernel_util.h"
#include "engine/internal/registry.h"

namespace rtml::engine::internal {

void RegisterReduceKernels(KernelRegistry& r) { (void)r; }

}  // namespace rtml::engine::internal
