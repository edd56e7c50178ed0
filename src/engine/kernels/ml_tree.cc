#include "engine/internal/kernel_util.h"
#include "engine/internal/registry.h"

namespace rtml::engine::internal {

void RegisterMlTreeKernels(KernelRegistry& r) { (void)r; }

}  // namespace rtml::engine::internal
