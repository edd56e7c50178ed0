#include "serving/service_registry.h"

#include <algorithm>
#include <functional>

#include "common/crypto.h"
#include "common/json_writer.h"
#include "nlohmann/json.hpp"
#include "pipeline/pipeline.h"
#include "serving/kserve_codec.h"

namespace rtml::serving {

uint64_t RouteHash(std::string_view s) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  return h;
}


Status ValidateName(std::string_view kind, std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return InvalidArgumentError(std::string(kind) + " name must be 1 to 128 characters");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.';
    if (!ok) {
      return InvalidArgumentError(std::string(kind) + " name '" + std::string(name) +
                                  "' may only contain letters, digits, '_', '-' and '.'");
    }
  }
  return OkStatus();
}

RevisionStats::RevisionStats(int shards)
    : num_shards_(shards < 1 ? 1 : shards), shards_(std::make_unique<Shard[]>(static_cast<size_t>(num_shards_))) {
  for (int s = 0; s < num_shards_; ++s)
    for (auto& c : shards_[static_cast<size_t>(s)].by_class) c.store(0, std::memory_order_relaxed);
}

void RevisionStats::Count(int shard, int status_class) {
  if (shard < 0 || shard >= num_shards_) shard = 0;
  if (status_class < 0 || status_class > 5) status_class = 5;
  shards_[static_cast<size_t>(shard)].by_class[status_class].fetch_add(1, std::memory_order_relaxed);
}

uint64_t RevisionStats::Total(int status_class) const {
  uint64_t n = 0;
  for (int s = 0; s < num_shards_; ++s)
    n += shards_[static_cast<size_t>(s)].by_class[status_class].load(std::memory_order_relaxed);
  return n;
}

const Revision* Service::Route(uint64_t hash) const {
  if (routes.size() == 1) return routes[0].second;
  const int bucket = static_cast<int>(hash % 100);
  for (const auto& [upper, rev] : routes)
    if (bucket < upper) return rev;
  return routes.empty() ? nullptr : routes.back().second;
}

const Revision* Service::Find(int64_t number) const {
  for (const auto& r : revisions)
    if (r->number == number) return r.get();
  return nullptr;
}

std::string Service::TrafficJson() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray();
  for (const auto& t : traffic) {
    w.BeginObject();
    w.Key("revision");
    w.Int(t.revision);
    w.Key("percent");
    w.Int(t.percent);
    w.EndObject();
  }
  w.EndArray();
  return out;
}

const Service* RegistrySnapshot::Find(std::string_view sandbox, std::string_view name) const {
  auto sb = sandboxes.find(sandbox);
  if (sb == sandboxes.end()) return nullptr;
  auto it = sb->second.find(name);
  return it == sb->second.end() ? nullptr : it->second.get();
}

std::vector<const Service*> RegistrySnapshot::List(std::string_view sandbox) const {
  std::vector<const Service*> out;
  auto sb = sandboxes.find(sandbox);
  if (sb == sandboxes.end()) return out;
  for (const auto& [name, svc] : sb->second) out.push_back(svc.get());
  std::sort(out.begin(), out.end(), [](const Service* a, const Service* b) { return a->name < b->name; });
  return out;
}

namespace {

std::string SignatureJson(const engine::Model& m) {
  std::string out = "{";
  WriteSignatureMembers(m, &out);
  out += "}";
  return out;
}

// Runs the model once on zeros so first requests do not pay for buffer
// growth. Best effort: some models reject all-zero inputs.
void Warm(const engine::Model& m) {
  std::vector<engine::Tensor> owned;
  for (const auto& info : m.inputs()) {
    if (info.dtype == engine::DataType::kUndefined) return;
    engine::Shape s;
    if (info.has_shape) {
      for (int64_t d : info.dims) s.PushBack(d < 0 ? 1 : d);
    } else {
      s.PushBack(1);
    }
    auto t = engine::Tensor::Make(info.dtype, s);
    if (!t.ok()) return;
    owned.push_back(std::move(*t));
  }
  std::vector<const engine::Tensor*> ptrs;
  for (const auto& t : owned) ptrs.push_back(&t);
  auto ctx = m.NewContext();
  m.Run(*ctx, ptrs).IgnoreError();
}

}  // namespace

ServiceRegistry::ServiceRegistry(Catalog* catalog, RegistryOptions options)
    : catalog_(catalog), options_(options), current_(std::make_shared<RegistrySnapshot>()) {}

std::shared_ptr<const RegistrySnapshot> ServiceRegistry::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

int ServiceRegistry::num_models_loaded() const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& [sha, weak] : compiled_) n += weak.expired() ? 0 : 1;
  return n;
}

StatusOr<std::shared_ptr<const engine::Model>> ServiceRegistry::CompileLocked(const ModelVersionRecord& record) {
  auto it = compiled_.find(record.sha256);
  if (it != compiled_.end()) {
    if (auto m = it->second.lock()) return m;
  }
  ASSIGN_OR_RETURN(std::string bytes, catalog_->ReadModelFile(record.sha256));
  engine::LoadOptions opts;
  opts.name = record.name;
  auto loaded = engine::Model::Load(bytes, opts);
  if (!loaded.ok()) return loaded.status().WithPrefix("model " + record.name + " version " + std::to_string(record.version));
  std::shared_ptr<const engine::Model> model(std::move(*loaded));
  compiled_[record.sha256] = model;
  return model;
}

namespace {
// Resolves onnx nodes while the registry's lock is held.
class LockedResolver final : public pipeline::ModelResolver {
 public:
  using Lookup = std::function<StatusOr<std::shared_ptr<const engine::Model>>(std::string_view, int64_t)>;
  explicit LockedResolver(Lookup lookup) : lookup_(std::move(lookup)) {}
  StatusOr<std::shared_ptr<const engine::Model>> Resolve(std::string_view name, int64_t version) const override {
    return lookup_(name, version);
  }

 private:
  Lookup lookup_;
};
}  // namespace

StatusOr<std::shared_ptr<const pipeline::Pipeline>> ServiceRegistry::CompilePipelineLocked(const std::string& sandbox,
                                                                                           const std::string& json) {
  LockedResolver resolver([&](std::string_view name, int64_t version) -> StatusOr<std::shared_ptr<const engine::Model>> {
    ASSIGN_OR_RETURN(ModelVersionRecord rec, GetModelVersion(sandbox, name, version));
    if (version > 0 && rec.version != version) {
      return NotFoundError("model '" + std::string(name) + "' version " + std::to_string(version) + " not found");
    }
    return CompileLocked(rec);
  });
  ASSIGN_OR_RETURN(auto p, pipeline::Pipeline::Compile(json, resolver));
  if (!p->runnable()) {
    return InvalidArgumentError("the pipeline has fitted nodes without parameters; fit it in a training run first "
                                "(or give the parameters, e.g. fillna {\"value\": 0})");
  }
  return p;
}

StatusOr<std::shared_ptr<const engine::Model>> ServiceRegistry::CompiledModel(const ModelVersionRecord& record) {
  std::lock_guard<std::mutex> lock(mu_);
  return CompileLocked(record);
}

Status ServiceRegistry::LoadFromCatalog() {
  ASSIGN_OR_RETURN(auto models, catalog_->ListModels());
  ASSIGN_OR_RETURN(auto services, catalog_->ListServices());
  ASSIGN_OR_RETURN(auto revisions, catalog_->ListRevisions());
  std::map<std::tuple<std::string, std::string, int64_t>, ModelVersionRecord> by_version;
  for (auto& m : models) by_version[{m.sandbox, m.name, m.version}] = m;

  std::lock_guard<std::mutex> lock(mu_);
  auto snap = std::make_shared<RegistrySnapshot>();
  for (const auto& rec : services) {
    auto svc = std::make_shared<Service>();
    svc->sandbox = rec.sandbox;
    svc->name = rec.name;
    svc->created = rec.created;
    svc->updated = rec.updated;
    auto& stats = stats_[{rec.sandbox, rec.name}];
    if (!stats) stats = std::make_shared<ServiceStats>(options_.stat_shards);
    svc->stats = stats;
    for (const auto& r : revisions) {
      if (r.sandbox != rec.sandbox || r.service != rec.name) continue;
      auto rev = std::make_shared<Revision>();
      rev->number = r.revision;
      rev->created = r.created;
      rev->spec = r.spec;
      std::string pipeline_json;
      try {
        const auto spec = nlohmann::json::parse(r.spec);
        if (spec.contains("pipeline")) {
          pipeline_json = spec["pipeline"].dump();
        } else {
          rev->model_name = spec.at("model").at("name").get<std::string>();
          rev->model_version = spec.at("model").at("version").get<int64_t>();
        }
      } catch (const std::exception& e) {
        return InternalError("revision " + std::to_string(r.revision) + " of service " + rec.name +
                             " has an unreadable spec: " + e.what());
      }
      if (!pipeline_json.empty()) {
        auto p = CompilePipelineLocked(rec.sandbox, pipeline_json);
        if (!p.ok()) {
          return p.status().WithPrefix("service " + rec.name + " revision " + std::to_string(r.revision));
        }
        rev->pipeline = *p;
        for (const auto& ref : rev->pipeline->model_refs()) rev->model_refs.emplace_back(ref.name, ref.version);
        rev->stats = std::make_shared<RevisionStats>(options_.stat_shards);
        svc->revisions.push_back(std::move(rev));
        last_revision_[{rec.sandbox, rec.name}] = std::max(last_revision_[{rec.sandbox, rec.name}], r.revision);
        continue;
      }
      auto mv = by_version.find({rec.sandbox, rev->model_name, rev->model_version});
      if (mv == by_version.end()) {
        return InternalError("service " + rec.name + " revision " + std::to_string(r.revision) + " references model " +
                             rev->model_name + " version " + std::to_string(rev->model_version) + ", which is missing");
      }
      rev->model_sha256 = mv->second.sha256;
      rev->model_refs.emplace_back(rev->model_name, rev->model_version);
      ASSIGN_OR_RETURN(rev->model, CompileLocked(mv->second));
      rev->stats = std::make_shared<RevisionStats>(options_.stat_shards);
      svc->revisions.push_back(std::move(rev));
      last_revision_[{rec.sandbox, rec.name}] = std::max(last_revision_[{rec.sandbox, rec.name}], r.revision);
    }
    try {
      for (const auto& t : nlohmann::json::parse(rec.traffic)) {
        svc->traffic.push_back({t.at("revision").get<int64_t>(), t.at("percent").get<int>()});
      }
    } catch (const std::exception&) {
      svc->traffic.clear();  // repaired below
    }
    if (svc->revisions.empty()) continue;
    if (CheckTraffic(*svc, svc->traffic).ok()) {
      BuildRoutes(svc.get());
    } else {
      svc->traffic = {{svc->revisions.back()->number, 100}};
      BuildRoutes(svc.get());
    }
    for (const auto& r : svc->revisions)
      if (r->model) Warm(*r->model);
    snap->sandboxes[rec.sandbox][rec.name] = std::move(svc);
  }
  snap->version = version_.load() + 1;
  current_ = std::move(snap);
  version_.fetch_add(1, std::memory_order_release);
  return OkStatus();
}

StatusOr<UploadResult> ServiceRegistry::UploadModel(const std::string& sandbox, const std::string& name,
                                                    std::string bytes) {
  RETURN_IF_ERROR(ValidateName("sandbox", sandbox));
  RETURN_IF_ERROR(ValidateName("model", name));
  const std::string sha = Sha256Hex(bytes);
  std::lock_guard<std::mutex> upload_lock(upload_mu_);
  ASSIGN_OR_RETURN(auto existing, catalog_->FindModelBySha(sandbox, name, sha));
  if (existing) return UploadResult{*existing, false};
  // Validate and compile before anything is stored.
  engine::LoadOptions opts;
  opts.name = name;
  auto loaded = engine::Model::Load(bytes, opts);
  if (!loaded.ok()) return loaded.status();
  std::shared_ptr<const engine::Model> model(std::move(*loaded));
  RETURN_IF_ERROR(catalog_->StoreModelFile(sha, bytes));
  ModelVersionRecord rec;
  rec.sandbox = sandbox;
  rec.name = name;
  rec.sha256 = sha;
  rec.size_bytes = static_cast<int64_t>(bytes.size());
  rec.created = NowRfc3339();
  rec.signature = SignatureJson(*model);
  ASSIGN_OR_RETURN(rec, catalog_->AddModelVersion(rec));
  std::lock_guard<std::mutex> lock(mu_);
  compiled_[sha] = model;
  recent_uploads_.push_back(model);
  if (recent_uploads_.size() > 4) recent_uploads_.erase(recent_uploads_.begin());
  return UploadResult{rec, true};
}

StatusOr<std::vector<ModelVersionRecord>> ServiceRegistry::ListModels(std::string_view sandbox,
                                                                      std::string_view name) const {
  ASSIGN_OR_RETURN(auto all, catalog_->ListModels());
  std::vector<ModelVersionRecord> out;
  for (auto& m : all)
    if (m.sandbox == sandbox && (name.empty() || m.name == name)) out.push_back(std::move(m));
  return out;
}

StatusOr<ModelVersionRecord> ServiceRegistry::GetModelVersion(std::string_view sandbox, std::string_view name,
                                                              int64_t version) const {
  ASSIGN_OR_RETURN(auto list, ListModels(sandbox, name));
  if (list.empty()) return NotFoundError("model '" + std::string(name) + "' not found");
  if (version <= 0) return list.back();  // latest
  for (auto& m : list)
    if (m.version == version) return m;
  return NotFoundError("model '" + std::string(name) + "' has no version " + std::to_string(version));
}

Status ServiceRegistry::DeleteModelVersion(const std::string& sandbox, const std::string& name, int64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Service* svc : current_->List(sandbox)) {
    for (const auto& rev : svc->revisions) {
      const bool uses = std::any_of(rev->model_refs.begin(), rev->model_refs.end(),
                                    [&](const auto& ref) { return ref.first == name && ref.second == version; });
      if (uses) {
        return ConflictError("model '" + name + "' version " + std::to_string(version) + " is used by service '" +
                             svc->name + "' revision " + std::to_string(rev->number) +
                             "; delete or redeploy the service first");
      }
    }
  }
  ASSIGN_OR_RETURN(auto list, ListModels(sandbox, name));
  std::string sha;
  for (const auto& m : list)
    if (m.version == version) sha = m.sha256;
  if (sha.empty()) return NotFoundError("model '" + name + "' has no version " + std::to_string(version));
  RETURN_IF_ERROR(catalog_->DeleteModelVersion(sandbox, name, version));
  return catalog_->RemoveModelFileIfUnused(sha);
}

Status ServiceRegistry::CheckTraffic(const Service& service, const std::vector<TrafficEntry>& traffic) const {
  if (traffic.empty()) return InvalidArgumentError("traffic must list at least one revision");
  int sum = 0;
  for (const auto& t : traffic) {
    if (t.percent < 0 || t.percent > 100) {
      return InvalidArgumentError("traffic percent must be between 0 and 100, got " + std::to_string(t.percent));
    }
    if (service.Find(t.revision) == nullptr) {
      return InvalidArgumentError("traffic names revision " + std::to_string(t.revision) + ", which service '" +
                                  service.name + "' does not have");
    }
    sum += t.percent;
  }
  if (sum != 100) return InvalidArgumentError("traffic percents must sum to 100, got " + std::to_string(sum));
  return OkStatus();
}

void ServiceRegistry::BuildRoutes(Service* service) {
  service->routes.clear();
  int acc = 0;
  for (const auto& t : service->traffic) {
    if (t.percent == 0) continue;
    acc += t.percent;
    service->routes.emplace_back(acc, service->Find(t.revision));
  }
}

void ServiceRegistry::PublishLocked(const std::string& sandbox, const std::string& name,
                                    std::shared_ptr<const Service> service) {
  auto snap = std::make_shared<RegistrySnapshot>(*current_);
  if (service) {
    snap->sandboxes[sandbox][name] = std::move(service);
  } else {
    auto sb = snap->sandboxes.find(sandbox);
    if (sb != snap->sandboxes.end()) sb->second.erase(name);
  }
  snap->version = version_.load() + 1;
  current_ = std::move(snap);
  version_.fetch_add(1, std::memory_order_release);
}

void ServiceRegistry::PruneLocked(Service* service, std::vector<int64_t>* pruned) {
  while (service->revisions.size() > options_.max_revisions) {
    bool removed = false;
    for (auto it = service->revisions.begin(); it != service->revisions.end(); ++it) {
      const int64_t n = (*it)->number;
      const bool live = std::any_of(service->traffic.begin(), service->traffic.end(),
                                    [n](const TrafficEntry& t) { return t.revision == n; });
      if (!live) {
        pruned->push_back(n);
        service->revisions.erase(it);
        removed = true;
        break;
      }
    }
    if (!removed) break;
  }
}

StatusOr<std::shared_ptr<const Service>> ServiceRegistry::Deploy(const std::string& sandbox, const std::string& name,
                                                                  const DeploySpec& spec,
                                                                  const std::string& spec_json) {
  RETURN_IF_ERROR(ValidateName("sandbox", sandbox));
  RETURN_IF_ERROR(ValidateName("service", name));
  const bool is_pipeline = !spec.pipeline_json.empty();
  ModelVersionRecord mv;
  if (!is_pipeline) {
    RETURN_IF_ERROR(ValidateName("model", spec.model_name));
    ASSIGN_OR_RETURN(mv, GetModelVersion(sandbox, spec.model_name, spec.model_version.value_or(0)));
  }

  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<const engine::Model> model;
  std::shared_ptr<const pipeline::Pipeline> compiled_pipeline;
  if (is_pipeline) {
    auto p = CompilePipelineLocked(sandbox, spec.pipeline_json);
    if (!p.ok()) return p.status().WithPrefix("pipeline");
    compiled_pipeline = *p;
  } else {
    ASSIGN_OR_RETURN(model, CompileLocked(mv));
    Warm(*model);
  }
  const Service* old = current_->Find(sandbox, name);
  auto svc = old ? std::make_shared<Service>(*old) : std::make_shared<Service>();
  const std::string now = NowRfc3339();
  if (!old) {
    svc->sandbox = sandbox;
    svc->name = name;
    svc->created = now;
    auto& stats = stats_[{sandbox, name}];
    if (!stats) stats = std::make_shared<ServiceStats>(options_.stat_shards);
    svc->stats = stats;
  }
  svc->updated = now;
  auto rev = std::make_shared<Revision>();
  rev->number = last_revision_[{sandbox, name}] + 1;
  rev->created = now;
  rev->stats = std::make_shared<RevisionStats>(options_.stat_shards);
  if (is_pipeline) {
    rev->pipeline = compiled_pipeline;
    for (const auto& ref : compiled_pipeline->model_refs()) rev->model_refs.emplace_back(ref.name, ref.version);
    rev->spec = "{\"pipeline\":" + compiled_pipeline->json() + "}";
  } else {
  rev->model_name = mv.name;
  rev->model_version = mv.version;
  rev->model_sha256 = mv.sha256;
  rev->model = model;
  rev->model_refs.emplace_back(mv.name, mv.version);
  // The stored spec pins the resolved model version.
  {
    std::string s;
    JsonWriter w(&s);
    w.BeginObject();
    w.Key("model");
    w.BeginObject();
    w.Key("name");
    w.String(mv.name);
    w.Key("version");
    w.Int(mv.version);
    w.EndObject();
    w.EndObject();
    rev->spec = s;
  }
  }
  (void)spec_json;
  svc->revisions.push_back(rev);
  if (spec.traffic.empty()) {
    svc->traffic = {{rev->number, 100}};
  } else {
    svc->traffic = spec.traffic;
    for (auto& t : svc->traffic)
      if (t.revision == 0) t.revision = rev->number;
  }
  RETURN_IF_ERROR(CheckTraffic(*svc, svc->traffic));
  std::vector<int64_t> pruned;
  PruneLocked(svc.get(), &pruned);
  BuildRoutes(svc.get());

  ServiceRecord srec{sandbox, name, svc->created, svc->updated, svc->TrafficJson()};
  RevisionRecord rrec{sandbox, name, rev->number, rev->spec, rev->created};
  RETURN_IF_ERROR(catalog_->SaveRevision(srec, rrec));
  if (!pruned.empty()) catalog_->DeleteRevisions(sandbox, name, pruned).IgnoreError();
  last_revision_[{sandbox, name}] = rev->number;
  PublishLocked(sandbox, name, svc);
  return std::shared_ptr<const Service>(svc);
}

StatusOr<std::shared_ptr<const Service>> ServiceRegistry::SetTraffic(const std::string& sandbox,
                                                                     const std::string& name,
                                                                     std::vector<TrafficEntry> traffic) {
  std::lock_guard<std::mutex> lock(mu_);
  const Service* old = current_->Find(sandbox, name);
  if (!old) return NotFoundError("service '" + name + "' not found");
  auto svc = std::make_shared<Service>(*old);
  RETURN_IF_ERROR(CheckTraffic(*svc, traffic));
  svc->traffic = std::move(traffic);
  svc->updated = NowRfc3339();
  BuildRoutes(svc.get());
  RETURN_IF_ERROR(catalog_->UpdateService({sandbox, name, svc->created, svc->updated, svc->TrafficJson()}));
  PublishLocked(sandbox, name, svc);
  return std::shared_ptr<const Service>(svc);
}

StatusOr<std::shared_ptr<const Service>> ServiceRegistry::Rollback(const std::string& sandbox, const std::string& name,
                                                                   std::optional<int64_t> revision) {
  int64_t target;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const Service* svc = current_->Find(sandbox, name);
    if (!svc) return NotFoundError("service '" + name + "' not found");
    if (revision) {
      if (!svc->Find(*revision)) {
        return NotFoundError("service '" + name + "' has no revision " + std::to_string(*revision));
      }
      target = *revision;
    } else {
      // The primary is the revision with the largest share (newest on ties);
      // roll back to the newest revision older than it.
      const TrafficEntry* primary = nullptr;
      for (const auto& t : svc->traffic)
        if (!primary || t.percent > primary->percent || (t.percent == primary->percent && t.revision > primary->revision))
          primary = &t;
      target = -1;
      for (const auto& r : svc->revisions)
        if (primary && r->number < primary->revision) target = r->number;
      if (target < 0) {
        return ConflictError("service '" + name + "' has no revision older than " +
                             std::to_string(primary ? primary->revision : 0) + " to roll back to");
      }
    }
  }
  return SetTraffic(sandbox, name, {{target, 100}});
}

Status ServiceRegistry::DeleteService(const std::string& sandbox, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!current_->Find(sandbox, name)) return NotFoundError("service '" + name + "' not found");
  RETURN_IF_ERROR(catalog_->DeleteService(sandbox, name));
  PublishLocked(sandbox, name, nullptr);
  return OkStatus();
}

}  // namespace rtml::serving
