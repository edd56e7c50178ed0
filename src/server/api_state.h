// Per-thread state of the API server (internal to src/server).
#pragma once

#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/model.h"
#include "server/api_server.h"
#include "serving/kserve_codec.h"
#include "serving/row_codec.h"
#include "serving/service_registry.h"

namespace rtml::server {

struct ApiServer::ThreadState {
  int index = -1;  // event-loop index; -1 for the offload pool
  std::shared_ptr<const serving::RegistrySnapshot> snapshot;
  uint64_t snapshot_version = 0;
  std::unordered_map<const engine::Model*, std::unique_ptr<engine::RunContext>> contexts;
  serving::KServeParser parser;
  serving::InferRequest infer;
  std::vector<const engine::Tensor*> inputs;
  std::vector<serving::OutputRef> outputs;
  std::vector<int> output_index;
  serving::RowParser row_parser;  // row-form predict
  serving::RowRequest rows;
  uint64_t round_robin = 0;
};

}  // namespace rtml::server
