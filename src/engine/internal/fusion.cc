// Graph rewrites applied before kernels are created.
#include "engine/internal/plan.h"

namespace rtml::engine::internal {

void FuseNodes(std::vector<WorkNode>& nodes, const std::vector<std::string>& graph_outputs) {
  (void)nodes;
  (void)graph_outputs;
}

}  // namespace rtml::engine::internal
