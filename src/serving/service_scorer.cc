#include "serving/service_scorer.h"

#include <cmath>
#include <unordered_map>

#include "data/data_store.h"
#include "pipeline/profile_store_source.h"

namespace rtml::serving {

namespace {

StatusOr<const Revision*> Resolve(const RegistrySnapshot& snap, const std::string& sandbox,
                                  const std::string& service, std::string_view identity) {
  const Service* svc = snap.Find(sandbox, service);
  if (svc == nullptr) return NotFoundError("service '" + service + "' does not exist in sandbox '" + sandbox + "'");
  const Revision* rev = svc->Route(RouteHash(identity));
  if (rev == nullptr) return UnavailableError("service '" + service + "' has no revision receiving traffic");
  if (!rev->pipeline) {
    return InvalidArgumentError("service '" + service + "' is a model service (revision " +
                                std::to_string(rev->number) +
                                "); scoring experiences needs a pipeline service, whose inputs are named fields");
  }
  return rev;
}

StatusOr<int> OutputIndex(const pipeline::Pipeline& p, const std::string& service, const std::string& output) {
  if (output.empty()) return 0;
  auto idx = p.OutputIndex(output);
  if (!idx.ok()) {
    std::string names;
    for (const auto& n : p.output_names()) names += (names.empty() ? "" : ", ") + n;
    return NotFoundError("service '" + service + "' has no output '" + output + "' (outputs: " + names + ")");
  }
  return *idx;
}

// Per-thread state: row contexts by pipeline (kept alive with them) and a
// profile source per sandbox.
struct ThreadCache {
  struct Entry {
    std::shared_ptr<const pipeline::Pipeline> pipeline;
    std::unique_ptr<pipeline::Pipeline::RowContext> ctx;
  };
  std::unordered_map<const pipeline::Pipeline*, Entry> contexts;
  struct Profiles {
    std::shared_ptr<const data::ProfileStore> store;
    std::unique_ptr<pipeline::ProfileStoreSource> source;
  };
  std::unordered_map<std::string, Profiles> profiles;
};

}  // namespace

Status ServiceScorer::Check(const std::string& sandbox, const std::string& service, const std::string& output) const {
  auto snap = registry_->snapshot();
  ASSIGN_OR_RETURN(const Revision* rev, Resolve(*snap, sandbox, service, ""));
  ASSIGN_OR_RETURN(int idx, OutputIndex(*rev->pipeline, service, output));
  if (rev->pipeline->output_type(idx).kind == pipeline::ValueKind::kString) {
    return InvalidArgumentError("output '" + rev->pipeline->output_names()[static_cast<size_t>(idx)] + "' of service '" +
                                service + "' is a string; a score must be a number or a vector of numbers");
  }
  return OkStatus();
}

Status ServiceScorer::Score(const std::string& sandbox, const std::string& service, const std::string& output,
                            std::string_view identity, int64_t now_ms,
                            std::span<const decision::FeatureSource* const> rows, std::span<double> scores) {
  auto snap = registry_->snapshot();
  ASSIGN_OR_RETURN(const Revision* rev, Resolve(*snap, sandbox, service, identity));
  const pipeline::Pipeline& p = *rev->pipeline;
  ASSIGN_OR_RETURN(int out_idx, OutputIndex(p, service, output));
  thread_local ThreadCache cache;
  if (cache.contexts.size() > 64) cache.contexts.clear();
  auto& entry = cache.contexts[&p];
  if (!entry.ctx) {
    entry.pipeline = rev->pipeline;
    entry.ctx = p.NewRowContext();
  }
  pipeline::Pipeline::RowContext& ctx = *entry.ctx;
  const pipeline::ProfileSource* profiles = nullptr;
  if (data_ != nullptr) {
    if (auto store = data_->Profiles(sandbox)) {
      auto& pe = cache.profiles[sandbox];
      if (pe.store != store) {
        pe.source = std::make_unique<pipeline::ProfileStoreSource>(store.get());
        pe.store = std::move(store);
      }
      profiles = pe.source.get();
    }
  }
  const auto& inputs = p.inputs();
  for (size_t r = 0; r < rows.size(); ++r) {
    ctx.ClearInputs();
    ctx.SetIdentity(identity);
    for (size_t i = 0; i < inputs.size(); ++i) {
      const decision::FeatureValue* v = rows[r]->Find(inputs[i].name);
      if (v == nullptr) continue;  // missing: the pipeline's fillna decides
      if (v->is_string) {
        Status s = ctx.SetString(static_cast<int>(i), v->text);
        if (!s.ok()) return s.WithPrefix("input '" + inputs[i].name + "'");
      } else {
        ctx.SetNumber(static_cast<int>(i), v->number);
      }
    }
    RETURN_IF_ERROR(ctx.Run(now_ms, profiles));
    double s;
    if (ctx.output_is_vector(out_idx)) {
      auto vec = ctx.output_vector(out_idx);
      s = vec.empty() ? NAN : vec.back();
    } else {
      s = ctx.output_number(out_idx);
    }
    scores[r] = std::isfinite(s) ? s : -INFINITY;
  }
  return OkStatus();
}

}  // namespace rtml::serving
