// Data routes: schemas, datasets, ingestion, SQL queries, computed
// attributes and profiles. Everything except profile reads runs on the
// offload pool; ingestion answers through a deferred response completed by
// the data store's writer thread after the group commit.
#include "data/data_store.h"
#include "nlohmann/json.hpp"
#include "server/api_server.h"
#include "server/api_state.h"
#include "serving/training_runs.h"

namespace rtml::server {

void ApiServer::HandlePutSchema(Request& req, Response& resp, ThreadState&) {
  bool created = false;
  auto r = data_->PutSchema(std::string(req.sandbox), std::string(req.param(0)), *req.body, &created);
  Reply(resp, std::move(r), [&] { return created ? 201 : 200; });
}

void ApiServer::HandleListSchemas(Request& req, Response& resp, ThreadState&) {
  Reply(resp, data_->ListSchemas(std::string(req.sandbox)), [] { return 200; });
}

void ApiServer::HandleGetSchema(Request& req, Response& resp, ThreadState&) {
  Reply(resp, data_->GetSchema(std::string(req.sandbox), std::string(req.param(0))), [] { return 200; });
}

void ApiServer::HandlePutDataset(Request& req, Response& resp, ThreadState&) {
  bool created = false;
  auto r = data_->PutDataset(std::string(req.sandbox), std::string(req.param(0)), *req.body, &created);
  Reply(resp, std::move(r), [&] { return created ? 201 : 200; });
}

void ApiServer::HandleListDatasets(Request& req, Response& resp, ThreadState&) {
  Reply(resp, data_->ListDatasets(std::string(req.sandbox)), [] { return 200; });
}

void ApiServer::HandleGetDataset(Request& req, Response& resp, ThreadState&) {
  Reply(resp, data_->GetDataset(std::string(req.sandbox), std::string(req.param(0))), [] { return 200; });
}

void ApiServer::HandleIngest(Request& req, Response& resp, ThreadState&) {
  const std::string_view type = req.Header(http::field::content_type);
  const bool ndjson = type.find("ndjson") != std::string_view::npos || type.find("jsonl") != std::string_view::npos ||
                      type.find("json-seq") != std::string_view::npos;
  auto completer = DeferResponse(req);
  Response* out = &resp;
  data_->Ingest(std::string(req.sandbox), std::string(req.param(0)), req.body, ndjson,
                [this, completer, out](StatusOr<data::IngestResult> result) {
                  if (!result.ok()) out->SetError(result.status());
                  else out->SetJson(200, result->ToJson());
                  CountResponse(out->status);
                  completer->Complete();
                });
}

void ApiServer::HandleQuery(Request& req, Response& resp, ThreadState&) {
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(*req.body);
  } catch (const std::exception&) {
    return resp.SetError(InvalidArgumentError("request body must be JSON: {\"sql\": \"SELECT ...\"}"));
  }
  if (!body.is_object() || !body.contains("sql") || !body["sql"].is_string()) {
    return resp.SetError(InvalidArgumentError("request body needs \"sql\": \"SELECT ...\""));
  }
  for (const auto& [key, value] : body.items()) {
    if (key != "sql") return resp.SetError(InvalidArgumentError("unknown field '" + key + "' (expected: sql)"));
  }
  Reply(resp, data_->Query(std::string(req.sandbox), body["sql"].get<std::string>()), [] { return 200; });
}

void ApiServer::HandlePutComputed(Request& req, Response& resp, ThreadState&) {
  bool created = false;
  auto r = data_->PutComputedAttribute(std::string(req.sandbox), std::string(req.param(0)), *req.body, &created);
  Reply(resp, std::move(r), [&] { return created ? 201 : 200; });
}

void ApiServer::HandleListComputed(Request& req, Response& resp, ThreadState&) {
  Reply(resp, data_->ListComputedAttributes(std::string(req.sandbox)), [] { return 200; });
}

void ApiServer::HandleDeleteComputed(Request& req, Response& resp, ThreadState&) {
  Status s = data_->DeleteComputedAttribute(std::string(req.sandbox), std::string(req.param(0)));
  if (!s.ok()) return resp.SetError(s);
  resp.SetJson(200, "{\"deleted\":true}");
}

void ApiServer::HandleGetProfile(Request& req, Response& resp, ThreadState&) {
  const std::string identity = PercentDecode(req.param(0)) + ":" + PercentDecode(req.param(1));
  Reply(resp, data_->ProfileJson(std::string(req.sandbox), identity), [] { return 200; });
}

// ------------------------------------------------------------- training ---

void ApiServer::HandleStartTraining(Request& req, Response& resp, ThreadState&) {
  Reply(resp, training_->Start(std::string(req.sandbox), *req.body), [] { return 202; });
}

void ApiServer::HandleListTraining(Request& req, Response& resp, ThreadState&) {
  Reply(resp, training_->List(std::string(req.sandbox)), [] { return 200; });
}

void ApiServer::HandleGetTraining(Request& req, Response& resp, ThreadState&) {
  Reply(resp, training_->Get(std::string(req.sandbox), std::string(req.param(0))), [] { return 200; });
}

void ApiServer::HandleCancelTraining(Request& req, Response& resp, ThreadState&) {
  Status s = training_->Cancel(std::string(req.sandbox), std::string(req.param(0)));
  if (!s.ok()) return resp.SetError(s);
  Reply(resp, training_->Get(std::string(req.sandbox), std::string(req.param(0))), [] { return 200; });
}

void ApiServer::HandleTrainingValidation(Request& req, Response& resp, ThreadState&) {
  Reply(resp, training_->ValidationOf(std::string(req.sandbox), std::string(req.param(0))), [] { return 200; });
}

}  // namespace rtml::server
