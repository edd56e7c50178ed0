// Catalog routes: models, services (the gallery) and API keys. These run on
// the offload pool (they compile models and write the catalog) except the
// read-only gallery listings, which read the published snapshot.
#include <algorithm>
#include <map>

#include "common/json_writer.h"
#include "nlohmann/json.hpp"
#include "server/api_server.h"
#include "pipeline/pipeline.h"
#include "server/api_state.h"
#include "serving/training_runs.h"

namespace rtml::server {

using nlohmann::json;

namespace {

StatusOr<json> ParseBody(const Request& req, std::initializer_list<std::string_view> allowed) {
  json body;
  try {
    body = json::parse(*req.body);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for 1e309
    std::string what = e.what();
    if (auto p = what.find("parse error"); p != std::string::npos) what = what.substr(p);
    return InvalidArgumentError("request body is not valid JSON: " + what);
  }
  if (!body.is_object()) return InvalidArgumentError("request body must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return InvalidArgumentError("unknown field '" + key + "' (expected: " + list + ")");
    }
  }
  return body;
}

StatusOr<int64_t> ParseVersion(std::string_view s, std::string_view what) {
  int64_t v = 0;
  if (s.empty() || s.size() > 18) return InvalidArgumentError(std::string(what) + " must be a positive integer");
  for (char c : s) {
    if (c < '0' || c > '9') return InvalidArgumentError(std::string(what) + " must be a positive integer");
    v = v * 10 + (c - '0');
  }
  if (v <= 0) return InvalidArgumentError(std::string(what) + " must be a positive integer");
  return v;
}

// {"name","version","sha256","size_bytes","created","inputs","outputs"}
void WriteModelVersion(const serving::ModelVersionRecord& m, std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("name");
  w.String(m.name);
  w.Key("version");
  w.Int(m.version);
  w.Key("sha256");
  w.String(m.sha256);
  w.Key("size_bytes");
  w.Int(m.size_bytes);
  w.Key("created");
  w.String(m.created);
  // The stored signature is {"inputs":[...],"outputs":[...]}: splice its members.
  if (m.signature.size() > 2) {
    out->push_back(',');
    out->append(m.signature, 1, m.signature.size() - 2);
  }
  w.EndObject();
}

StatusOr<std::vector<serving::TrafficEntry>> ParseTraffic(const json& t) {
  if (!t.is_array()) return InvalidArgumentError("traffic must be an array of {\"revision\", \"percent\"}");
  std::vector<serving::TrafficEntry> out;
  for (const auto& e : t) {
    if (!e.is_object() || !e.contains("percent") || !e.contains("revision")) {
      return InvalidArgumentError("each traffic entry needs \"revision\" and \"percent\"");
    }
    for (const auto& [key, value] : e.items()) {
      if (key != "revision" && key != "percent") {
        return InvalidArgumentError("unknown field 'traffic[]." + key + "' (expected: revision, percent)");
      }
    }
    serving::TrafficEntry te;
    const auto& r = e["revision"];
    if (r.is_string() && (r == "latest" || r == "new")) {
      te.revision = 0;
    } else if (r.is_number_integer() && r.get<int64_t>() > 0) {
      te.revision = r.get<int64_t>();
    } else {
      return InvalidArgumentError("traffic revision must be a revision number or \"latest\"");
    }
    if (!e["percent"].is_number_integer()) return InvalidArgumentError("traffic percent must be an integer");
    te.percent = e["percent"].get<int>();
    out.push_back(te);
  }
  return out;
}

}  // namespace

// ------------------------------------------------------------- models ---

void ApiServer::HandleUploadModel(Request& req, Response& resp, ThreadState&) {
  const std::string name(req.param(0));
  auto result = registry_->UploadModel(std::string(req.sandbox), name, std::move(*req.body));
  if (!result.ok()) return resp.SetError(result.status());
  std::string out;
  WriteModelVersion(result->record, &out);
  resp.SetJson(result->created ? 201 : 200, std::move(out));
}

void ApiServer::HandleListModels(Request& req, Response& resp, ThreadState&) {
  auto list = registry_->ListModels(req.sandbox);
  if (!list.ok()) return resp.SetError(list.status());
  std::map<std::string, std::vector<const serving::ModelVersionRecord*>> by_name;
  for (const auto& m : *list) by_name[m.name].push_back(&m);
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("models");
  w.BeginArray();
  for (const auto& [name, versions] : by_name) {
    w.BeginObject();
    w.Key("name");
    w.String(name);
    w.Key("latest");
    w.Int(versions.back()->version);
    w.Key("versions");
    w.BeginArray();
    for (const auto* v : versions) {
      w.BeginObject();
      w.Key("version");
      w.Int(v->version);
      w.Key("sha256");
      w.String(v->sha256);
      w.Key("created");
      w.String(v->created);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  resp.SetJson(200, std::move(out));
}

void ApiServer::HandleGetModel(Request& req, Response& resp, ThreadState&) {
  auto list = registry_->ListModels(req.sandbox, req.param(0));
  if (!list.ok()) return resp.SetError(list.status());
  if (list->empty()) return resp.SetError(NotFoundError("model '" + std::string(req.param(0)) + "' not found"));
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("name");
  w.String(req.param(0));
  w.Key("latest");
  w.Int(list->back().version);
  w.Key("versions");
  w.BeginArray();
  for (size_t i = 0; i < list->size(); ++i) {
    if (i) out.push_back(',');
    WriteModelVersion((*list)[i], &out);
  }
  w.EndArray();
  w.EndObject();
  resp.SetJson(200, std::move(out));
}

void ApiServer::HandleGetArtifact(Request& req, Response& resp, ThreadState&) {
  auto version = ParseVersion(req.param(1), "version");
  if (!version.ok()) return resp.SetError(version.status());
  auto rec = registry_->GetModelVersion(req.sandbox, req.param(0), *version);
  if (!rec.ok()) return resp.SetError(rec.status());
  auto bytes = registry_->ReadModelBytes(*rec);
  if (!bytes.ok()) return resp.SetError(bytes.status());
  resp.status = 200;
  resp.content_type = "application/octet-stream";
  resp.body = std::move(*bytes);
  resp.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + rec->name + "-v" +
                                                       std::to_string(rec->version) + ".onnx\"");
  resp.headers.emplace_back("X-Model-Sha256", rec->sha256);
}

void ApiServer::HandleDeleteModelVersion(Request& req, Response& resp, ThreadState&) {
  auto version = ParseVersion(req.param(1), "version");
  if (!version.ok()) return resp.SetError(version.status());
  Status s = registry_->DeleteModelVersion(std::string(req.sandbox), std::string(req.param(0)), *version);
  if (!s.ok()) return resp.SetError(s);
  resp.SetJson(200, "{\"deleted\":true}");
}

// ----------------------------------------------------------- services ---

void ApiServer::WriteServiceJson(const serving::Service& svc, std::string* out, bool detailed) const {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("name");
  w.String(svc.name);
  w.Key("endpoint");
  w.String("/v1/services/" + svc.name + "/predict");
  w.Key("created");
  w.String(svc.created);
  w.Key("updated");
  w.String(svc.updated);
  w.Key("traffic");
  w.Raw(svc.TrafficJson());
  w.Key("revisions");
  w.BeginArray();
  for (const auto& r : svc.revisions) {
    w.BeginObject();
    w.Key("revision");
    w.Int(r->number);
    w.Key("created");
    w.String(r->created);
    w.Key("kind");
    w.String(r->pipeline ? "pipeline" : "model");
    if (!r->pipeline) {
      w.Key("model");
      w.BeginObject();
      w.Key("name");
      w.String(r->model_name);
      w.Key("version");
      w.Int(r->model_version);
      w.EndObject();
    }
    w.Key("models");
    w.BeginArray();
    for (const auto& [mname, mversion] : r->model_refs) {
      w.BeginObject();
      w.Key("name");
      w.String(mname);
      w.Key("version");
      w.Int(mversion);
      w.EndObject();
    }
    w.EndArray();
    if (detailed && r->pipeline) {
      w.Key("pipeline");
      w.Raw(r->pipeline->json());
    }
    if (detailed) {
      w.Key("requests");
      w.Int(static_cast<int64_t>(r->stats->Total(2) + r->stats->Total(4) + r->stats->Total(5)));
    }
    w.EndObject();
  }
  w.EndArray();
  // Models currently receiving traffic.
  w.Key("models");
  w.BeginArray();
  std::vector<std::pair<std::string, int64_t>> listed;
  for (const auto& t : svc.traffic) {
    const serving::Revision* r = svc.Find(t.revision);
    if (!r || t.percent == 0) continue;
    for (const auto& ref : r->model_refs) {
      if (std::find(listed.begin(), listed.end(), ref) != listed.end()) continue;
      listed.push_back(ref);
      w.BeginObject();
      w.Key("name");
      w.String(ref.first);
      w.Key("version");
      w.Int(ref.second);
      w.EndObject();
    }
  }
  w.EndArray();
  uint64_t ok = 0, client = 0, server = 0;
  for (const auto& r : svc.revisions) {
    ok += r->stats->Total(2);
    client += r->stats->Total(4);
    server += r->stats->Total(5);
  }
  const auto lat = svc.stats->total.Read();
  w.Key("requests");
  w.Int(static_cast<int64_t>(ok + client + server));
  w.Key("errors");
  w.Int(static_cast<int64_t>(client + server));
  w.Key("latency_us");
  w.BeginObject();
  w.Key("p50");
  w.Double(static_cast<double>(lat.QuantileNanos(0.5)) / 1000.0);
  w.Key("p99");
  w.Double(static_cast<double>(lat.QuantileNanos(0.99)) / 1000.0);
  w.EndObject();
  w.EndObject();
}

void ApiServer::HandlePutService(Request& req, Response& resp, ThreadState&) {
  auto body = ParseBody(req, {"model", "pipeline", "training_run", "traffic", "description"});
  if (!body.ok()) return resp.SetError(body.status());
  const json& b = *body;
  serving::DeploySpec spec;
  const int sources = (b.contains("model") ? 1 : 0) + (b.contains("pipeline") ? 1 : 0) + (b.contains("training_run") ? 1 : 0);
  if (sources != 1) {
    return resp.SetError(InvalidArgumentError(
        "body needs exactly one of \"model\": {\"name\", \"version\"}, \"pipeline\": {...} or \"training_run\": \"<id>\""));
  }
  if (b.contains("pipeline")) {
    if (!b["pipeline"].is_object()) return resp.SetError(InvalidArgumentError("\"pipeline\" must be a pipeline object"));
    spec.pipeline_json = b["pipeline"].dump();
  } else if (b.contains("training_run")) {
    if (!b["training_run"].is_string() || training_ == nullptr) {
      return resp.SetError(InvalidArgumentError("\"training_run\" must be a training run id"));
    }
    auto p = training_->PipelineOf(std::string(req.sandbox), b["training_run"].get<std::string>());
    if (!p.ok()) return resp.SetError(p.status());
    spec.pipeline_json = *p;
  }
  if (!spec.pipeline_json.empty()) {
    if (b.contains("traffic")) {
      auto t = ParseTraffic(b["traffic"]);
      if (!t.ok()) return resp.SetError(t.status());
      spec.traffic = std::move(*t);
    }
    auto svc = registry_->Deploy(std::string(req.sandbox), std::string(req.param(0)), spec, *req.body);
    if (!svc.ok()) return resp.SetError(svc.status());
    std::string out;
    JsonWriter w(&out);
    w.BeginObject();
    w.Key("name");
    w.String((*svc)->name);
    w.Key("revision");
    w.Int((*svc)->revisions.back()->number);
    w.Key("status");
    w.String("ready");
    w.Key("endpoint");
    w.String("/v1/services/" + (*svc)->name + "/predict");
    w.Key("traffic");
    w.Raw((*svc)->TrafficJson());
    w.EndObject();
    return resp.SetJson(201, std::move(out));
  }
  if (!b["model"].is_object()) {
    return resp.SetError(InvalidArgumentError("body needs \"model\": {\"name\": ..., \"version\": ...}"));
  }
  const json& m = b["model"];
  for (const auto& [key, value] : m.items()) {
    if (key != "name" && key != "version") {
      return resp.SetError(InvalidArgumentError("unknown field 'model." + key + "' (expected: name, version)"));
    }
  }
  if (!m.contains("name") || !m["name"].is_string()) {
    return resp.SetError(InvalidArgumentError("model.name must be a string"));
  }
  spec.model_name = m["name"].get<std::string>();
  if (m.contains("version")) {
    if (m["version"].is_number_integer() && m["version"].get<int64_t>() > 0) {
      spec.model_version = m["version"].get<int64_t>();
    } else if (!(m["version"].is_string() && m["version"] == "latest")) {
      return resp.SetError(InvalidArgumentError("model.version must be a positive integer or \"latest\""));
    }
  }
  if (b.contains("traffic")) {
    auto t = ParseTraffic(b["traffic"]);
    if (!t.ok()) return resp.SetError(t.status());
    spec.traffic = std::move(*t);
  }
  auto svc = registry_->Deploy(std::string(req.sandbox), std::string(req.param(0)), spec, *req.body);
  if (!svc.ok()) return resp.SetError(svc.status());
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("name");
  w.String((*svc)->name);
  w.Key("revision");
  w.Int((*svc)->revisions.back()->number);
  w.Key("status");
  w.String("ready");
  w.Key("endpoint");
  w.String("/v1/services/" + (*svc)->name + "/predict");
  w.Key("traffic");
  w.Raw((*svc)->TrafficJson());
  w.EndObject();
  resp.SetJson(201, std::move(out));
}

void ApiServer::HandleListServices(Request& req, Response& resp, ThreadState& ts) {
  const auto& snap = Snapshot(ts);
  std::string out = "{\"services\":[";
  bool first = true;
  for (const serving::Service* svc : snap.List(req.sandbox)) {
    if (!first) out.push_back(',');
    first = false;
    WriteServiceJson(*svc, &out, false);
  }
  out += "]}";
  resp.SetJson(200, std::move(out));
}

void ApiServer::HandleGetService(Request& req, Response& resp, ThreadState& ts) {
  const auto& snap = Snapshot(ts);
  const serving::Service* svc = snap.Find(req.sandbox, req.param(0));
  if (!svc) return resp.SetError(NotFoundError("service '" + std::string(req.param(0)) + "' not found"));
  std::string out;
  WriteServiceJson(*svc, &out, true);
  resp.SetJson(200, std::move(out));
}

void ApiServer::HandleDeleteService(Request& req, Response& resp, ThreadState&) {
  Status s = registry_->DeleteService(std::string(req.sandbox), std::string(req.param(0)));
  if (!s.ok()) return resp.SetError(s);
  resp.SetJson(200, "{\"deleted\":true}");
}

void ApiServer::HandleRollback(Request& req, Response& resp, ThreadState&) {
  std::optional<int64_t> revision;
  if (!req.body->empty()) {
    auto body = ParseBody(req, {"revision"});
    if (!body.ok()) return resp.SetError(body.status());
    if (body->contains("revision")) {
      if (!(*body)["revision"].is_number_integer()) {
        return resp.SetError(InvalidArgumentError("revision must be an integer"));
      }
      revision = (*body)["revision"].get<int64_t>();
    }
  }
  auto svc = registry_->Rollback(std::string(req.sandbox), std::string(req.param(0)), revision);
  if (!svc.ok()) return resp.SetError(svc.status());
  std::string out;
  WriteServiceJson(**svc, &out, false);
  resp.SetJson(200, std::move(out));
}

void ApiServer::HandleTraffic(Request& req, Response& resp, ThreadState&) {
  auto body = ParseBody(req, {"traffic"});
  if (!body.ok()) return resp.SetError(body.status());
  if (!body->contains("traffic")) return resp.SetError(InvalidArgumentError("body needs \"traffic\""));
  auto t = ParseTraffic((*body)["traffic"]);
  if (!t.ok()) return resp.SetError(t.status());
  for (const auto& e : *t) {
    if (e.revision == 0) return resp.SetError(InvalidArgumentError("name revisions by number when changing traffic"));
  }
  auto svc = registry_->SetTraffic(std::string(req.sandbox), std::string(req.param(0)), std::move(*t));
  if (!svc.ok()) return resp.SetError(svc.status());
  std::string out;
  WriteServiceJson(**svc, &out, false);
  resp.SetJson(200, std::move(out));
}

// --------------------------------------------------------------- keys ---

void ApiServer::HandleCreateKey(Request& req, Response& resp, ThreadState&) {
  auto body = ParseBody(req, {"role", "sandboxes", "description"});
  if (!body.ok()) return resp.SetError(body.status());
  const json& b = *body;
  if (!b.contains("role") || !b["role"].is_string()) {
    return resp.SetError(InvalidArgumentError("role must be one of admin, author, ingest, predict, read"));
  }
  auto role = ParseRole(b["role"].get<std::string>());
  if (!role.ok()) return resp.SetError(role.status());
  std::vector<std::string> sandboxes;
  if (!b.contains("sandboxes") || !b["sandboxes"].is_array()) {
    return resp.SetError(InvalidArgumentError("sandboxes must be an array of sandbox names (or [\"*\"])"));
  }
  for (const auto& s : b["sandboxes"]) {
    if (!s.is_string()) return resp.SetError(InvalidArgumentError("sandboxes must be strings"));
    const std::string name = s.get<std::string>();
    if (name != "*") {
      if (Status st = serving::ValidateName("sandbox", name); !st.ok()) return resp.SetError(st);
    }
    sandboxes.push_back(name);
  }
  const std::string description = b.value("description", std::string());
  auto created = keys_->Create(*role, sandboxes, description);
  if (!created.ok()) return resp.SetError(created.status());
  json out = {{"id", created->record.id},
              {"key", created->key},
              {"role", created->record.role},
              {"sandboxes", sandboxes},
              {"description", description},
              {"created", created->record.created}};
  resp.SetJson(201, out.dump());
}

void ApiServer::HandleListKeys(Request&, Response& resp, ThreadState&) {
  auto list = keys_->List();
  if (!list.ok()) return resp.SetError(list.status());
  json keys = json::array();
  for (const auto& k : *list) {
    keys.push_back({{"id", k.id},
                    {"role", k.role},
                    {"sandboxes", json::parse(k.sandboxes, nullptr, false)},
                    {"description", k.description},
                    {"created", k.created}});
  }
  resp.SetJson(200, json{{"keys", keys}}.dump());
}

void ApiServer::HandleDeleteKey(Request& req, Response& resp, ThreadState&) {
  Status s = keys_->Delete(req.param(0));
  if (!s.ok()) return resp.SetError(s);
  resp.SetJson(200, "{\"deleted\":true}");
}

}  // namespace rtml::server
