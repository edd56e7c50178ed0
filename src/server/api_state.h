// Per-thread state of the API server (internal to src/server).
#pragma once

#include <memory>
#include <unordered_map>
#include <vector>

#include "data/profiles.h"
#include "engine/model.h"
#include "pipeline/pipeline.h"
#include "pipeline/profile_store_source.h"
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
  // Pipeline services: one row context per pipeline; one profile source per
  // sandbox (kept with the store it reads).
  std::unordered_map<const pipeline::Pipeline*, std::unique_ptr<pipeline::Pipeline::RowContext>> row_contexts;
  struct ProfileSourceEntry {
    std::shared_ptr<const data::ProfileStore> store;
    std::unique_ptr<pipeline::ProfileStoreSource> source;
  };
  std::unordered_map<std::string, ProfileSourceEntry> profile_sources;
  std::vector<engine::Tensor> pipeline_outputs;
};

// Turns the current response into a deferred one (see Deferrer). The status
// class is then counted by the completion (ApiServer::CountResponse), not by
// Handle, which must not read a response another thread may be writing.
inline std::shared_ptr<ResponseCompleter> DeferResponse(Request& req) {
  req.deferred = true;
  return req.deferrer->Defer();
}

// Writes a handler's JSON result (status from `ok_status()`) or its error.
template <typename F>
void Reply(Response& resp, StatusOr<std::string> result, F&& ok_status) {
  if (!result.ok()) return resp.SetError(result.status());
  resp.SetJson(ok_status(), std::move(*result));
}

}  // namespace rtml::server
