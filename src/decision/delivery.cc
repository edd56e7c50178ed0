#include "decision/delivery.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/histogram.h"
#include "common/json_writer.h"
#include "data/data_store.h"
#include "data/time_util.h"
#include "decision/allocation.h"
#include "decision/decision_log.h"
#include "decision/features.h"
#include "learning/ftrl.h"
#include "learning/off_policy.h"

namespace rtml::decision {

namespace {

int64_t WallMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Goal events may be stamped up to this long before the decision (client clocks).
constexpr int64_t kEventSkewMs = 60'000;
constexpr double kMaxAbsReward = 1e9;

Status AlreadyClosed(const std::string& id, double reward, const std::string& reason) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", reward);
  return ConflictError("decision '" + id + "' is already closed (reward " + buf + ", " + reason + ")");
}

std::string IdentityKey(std::string_view sandbox, std::string_view identity) {
  std::string k(sandbox);
  k.push_back('\n');
  k.append(identity);
  return k;
}

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^ static_cast<uint64_t>(SteadyNanos()));
  return rng;
}

std::string NewDecisionId() {
  static const char* kHex = "0123456789abcdef";
  uint64_t a = Rng()(), b = Rng()();
  std::string id = "dc_";
  for (int i = 0; i < 16; ++i, a >>= 4) id.push_back(kHex[a & 15]);
  for (int i = 0; i < 8; ++i, b >>= 4) id.push_back(kHex[b & 15]);
  return id;
}

// A request's values for a service input: the experience's own feature of
// that name, else context.<name>, computed.<name>, profile.<name>, else the
// name as a full path.
class RowFeatures final : public FeatureSource {
 public:
  RowFeatures(const FeatureMap* request, const Experience* experience) : request_(request), experience_(experience) {}
  const FeatureValue* Find(std::string_view name) const override {
    if (experience_ != nullptr) {
      for (const auto& [n, v] : experience_->features) {
        if (n == name) return &v;
      }
    }
    for (std::string_view prefix : {"context.", "computed.", "profile."}) {
      key_.assign(prefix);
      key_.append(name);
      if (const FeatureValue* v = FindFeature(*request_, key_)) return v;
    }
    return FindFeature(*request_, name);
  }

 private:
  const FeatureMap* request_;
  const Experience* experience_;
  mutable std::string key_;
};

struct LearnerEntry {
  std::unique_ptr<learning::FtrlLearner> learner;
  learning::FeatureHasher hasher;
  std::atomic<bool> dirty{false};
  std::atomic<int64_t> first_unpublished_ns{0};
  uint64_t seq = 0;        // last applied close; writer thread only
  uint64_t saved_seq = 0;  // seq of the last snapshot written; writer thread only
  bool saved = false;
  struct Config {
    std::string base;                         // options and feature selection
    std::map<std::string, std::string> arms;  // experience id -> its features
  } config;  // of the activity it learns for
  // Random id of this learner; decisions record the generation that scored
  // them, and only those teach it (live and on replay).
  int64_t gen = 0;
  explicit LearnerEntry(std::unique_ptr<learning::FtrlLearner> l)
      : learner(std::move(l)), hasher(learner->options().bits) {}
};

// What a learner's vectors depend on: its options, the feature selection and
// each experience's features. A learner is kept across an activity change
// only if these agree for every experience the two versions share (adding or
// removing experiences keeps it: weights are per experience id), so live
// learning and replay from the log always build the same vectors.
LearnerEntry::Config LearnerConfig(const Activity& a) {
  LearnerEntry::Config c;
  const learning::FtrlOptions& o = a.learner;
  char buf[128];
  std::snprintf(buf, sizeof buf, "%.17g/%.17g/%.17g/%.17g/%d|", o.alpha, o.beta, o.l1, o.l2, o.bits);
  c.base = buf;
  for (const std::string& p : a.feature_paths) c.base += p + ",";
  for (const Experience& e : a.experiences) c.arms[e.id] = FeaturesJson(e.features);
  return c;
}

bool Compatible(const LearnerEntry::Config& was, const LearnerEntry::Config& now) {
  if (was.base != now.base) return false;
  for (const auto& [id, features] : now.arms) {
    auto it = was.arms.find(id);
    if (it != was.arms.end() && it->second != features) return false;
  }
  return true;
}

struct SegmentEntry {
  std::string body;
  std::string condition;
};

struct SandboxState {
  std::map<std::string, std::shared_ptr<const Activity>> activities;
  std::map<std::string, std::pair<int64_t, int64_t>> times;  // created, updated
  std::map<std::string, SegmentEntry> segments;
};

struct OpenDecision {
  std::string id, sandbox, activity, identity, experience;
  int64_t ts = 0, expires = 0;
  double default_reward = 0;
  std::string goal;
  std::vector<learning::HashedFeature> x;  // bandit: the chosen experience's vector
  int64_t learner_gen = 0;                 // bandit: the learner that scored it
  std::multimap<int64_t, std::string>::iterator by_expiry;
};

// What one decision produced, before it is logged.
struct Outcome {
  std::shared_ptr<const Activity> activity;
  int chosen = -1;
  double probability = 1;
  std::vector<double> scores;         // model and bandit
  std::vector<double> probabilities;  // split and bandit
  std::vector<learning::HashedFeature> x;
  int64_t learner_gen = 0;  // bandit: the learner that scored it
};


}  // namespace

struct Delivery::Impl {
  DeliveryOptions options;
  data::DataStore* data = nullptr;
  ExperienceScorer* scorer = nullptr;
  std::unique_ptr<DecisionLog> log;

  std::atomic<bool> loaded{false};
  // Serializes definition changes (validate, commit, install) so memory and
  // the database apply them in the same order. Taken before mu.
  std::mutex defs_mu;
  mutable std::mutex mu;  // sandboxes, learners
  std::map<std::string, SandboxState> sandboxes;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<LearnerEntry>> learners;

  std::mutex open_mu;
  std::unordered_map<std::string, OpenDecision> open;
  // "sandbox\nidentity" -> its open decisions (a set: O(1) removal however
  // many one identity has).
  std::unordered_map<std::string, std::unordered_set<std::string>> open_by_identity;
  std::multimap<int64_t, std::string> open_by_expiry;
  uint64_t next_seq = 0;  // guarded by open_mu
  // Recently closed decisions (reward, reason), so feedback racing a close
  // that is not yet committed gets the right answer. Bounded, oldest out.
  struct Closed {
    std::string sandbox;
    double reward;
    std::string reason;
  };
  std::unordered_map<std::string, Closed> recently_closed;
  std::deque<std::string> recently_closed_order;
  static constexpr size_t kRecentlyClosed = 100'000;

  std::atomic<uint64_t> decisions_total{0}, feedback_total{0}, goal_rewards_total{0}, window_closes_total{0};
  LatencyHistogram visibility{1};

  std::mutex bg_mu;
  std::condition_variable bg_cv;
  bool stopping = false;
  std::thread background;

  int64_t Now() const { return options.clock ? options.clock() : WallMillis(); }

  Status Ready() const {
    if (loaded.load(std::memory_order_acquire)) return OkStatus();
    return UnavailableError("delivery is still loading its decision log; retry shortly");
  }

  // ------------------------------------------------------------ lookups ---
  std::shared_ptr<const Activity> FindActivity(const std::string& sandbox, const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu);
    auto sb = sandboxes.find(sandbox);
    if (sb == sandboxes.end()) return nullptr;
    auto it = sb->second.activities.find(name);
    return it == sb->second.activities.end() ? nullptr : it->second;
  }

  std::vector<std::shared_ptr<const Activity>> AllActivities(const std::string& sandbox) const {
    std::vector<std::shared_ptr<const Activity>> out;
    std::lock_guard<std::mutex> lock(mu);
    auto sb = sandboxes.find(sandbox);
    if (sb == sandboxes.end()) return out;
    for (const auto& [name, a] : sb->second.activities) out.push_back(a);
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->priority > b->priority; });
    return out;
  }

  std::shared_ptr<LearnerEntry> Learner(const std::string& sandbox, const std::string& activity) const {
    std::lock_guard<std::mutex> lock(mu);
    auto it = learners.find({sandbox, activity});
    return it == learners.end() ? nullptr : it->second;
  }

  // Resolver over the sandbox's segments; requires mu.
  SegmentResolver ResolverLocked(const std::string& sandbox) const {
    const SandboxState* sb = nullptr;
    if (auto it = sandboxes.find(sandbox); it != sandboxes.end()) sb = &it->second;
    return [sb](std::string_view name) -> StatusOr<std::string> {
      if (sb != nullptr) {
        auto it = sb->segments.find(std::string(name));
        if (it != sb->segments.end()) return it->second.condition;
      }
      return NotFoundError("segment '" + std::string(name) + "' does not exist");
    };
  }

  // ------------------------------------------------------------- decide ---
  struct Request {
    std::string activity;
    std::string identity;
    simdjson::dom::element context;
    bool has_context = false;
  };

  static StatusOr<Request> ParseDecideBody(simdjson::dom::parser& parser, std::string_view body) {
    simdjson::dom::element root;
    if (auto e = parser.parse(body.data(), body.size()).get(root)) {
      return InvalidArgumentError(std::string("request body: malformed JSON (") + simdjson::error_message(e) + ")");
    }
    if (!root.is_object()) {
      return InvalidArgumentError("request body must be {\"identity\": \"NS:ID\", \"activity\"?, \"context\"?}");
    }
    Request r;
    bool has_identity = false;
    for (auto field : simdjson::dom::object(root)) {
      if (field.key == "activity") {
        if (!field.value.is_string() || std::string_view(field.value).empty()) {
          return InvalidArgumentError("activity: must be a non-empty string (omit it to decide every activity)");
        }
        r.activity = std::string(std::string_view(field.value));
      } else if (field.key == "identity") {
        if (!field.value.is_string()) return InvalidArgumentError("identity: must be a string \"NS:ID\"");
        r.identity = std::string(std::string_view(field.value));
        has_identity = true;
      } else if (field.key == "context") {
        if (!field.value.is_object()) return InvalidArgumentError("context: must be an object");
        r.context = field.value;
        r.has_context = true;
      } else {
        return InvalidArgumentError("unknown field '" + std::string(field.key) +
                                    "' (expected: activity, identity, context)");
      }
    }
    if (!has_identity) return InvalidArgumentError("identity: required, \"NS:ID\" (e.g. \"ECID:123\")");
    const size_t colon = r.identity.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == r.identity.size() || r.identity.size() > 512) {
      return InvalidArgumentError("identity: expected \"NS:ID\" (e.g. \"ECID:123\"), got '" + r.identity.substr(0, 64) +
                                  "'");
    }
    return r;
  }

  // Everything one decide call needs across activities.
  struct Frame {
    std::string sandbox;
    Request req;
    int64_t now = 0;
    bool profile_loaded = false;
    std::string profile_json;
    simdjson::dom::element profile, computed;
    bool has_profile = false, has_computed = false;
    FeatureMap features;  // context., profile., computed.
    bool features_built = false;
    std::map<std::string, double> service_scores;
    std::string score_json;
    simdjson::dom::element score;
    bool has_score = false;
    std::vector<std::pair<std::string, Status>> errors;  // activities skipped when deciding all
  };

  void LoadProfile(Frame& f) {
    if (f.profile_loaded) return;
    f.profile_loaded = true;
    if (data == nullptr) return;
    auto p = data->ProfileJson(f.sandbox, f.req.identity);
    if (!p.ok()) return;  // unknown identity: an empty profile
    f.profile_json = std::move(*p);
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(f.profile_json).get(root)) return;
    if (!root["attributes"].get(f.profile)) f.has_profile = true;
    if (!root["computed"].get(f.computed)) f.has_computed = true;
  }

  void BuildFeatures(Frame& f) {
    if (f.features_built) return;
    f.features_built = true;
    LoadProfile(f);
    // Each root has its own kMaxFeatures budget, so a large context cannot
    // push the profile's values out.
    FeatureMap part;
    auto add = [&](bool has, simdjson::dom::element e, std::string_view root) {
      if (!has) return;
      part.clear();
      FlattenObject(e, root, &part);
      std::move(part.begin(), part.end(), std::back_inserter(f.features));
    };
    add(f.req.has_context, f.req.context, "context");
    add(f.has_profile, f.profile, "profile");
    add(f.has_computed, f.computed, "computed");
    SortFeatures(&f.features);
  }

  Status LoadScores(Frame& f, const Activity& a) {
    bool changed = false;
    for (const std::string& svc : a.audience_services()) {
      if (f.service_scores.count(svc)) continue;
      BuildFeatures(f);
      if (scorer == nullptr) return UnavailableError("no services to score with");
      RowFeatures row(&f.features, nullptr);
      const FeatureSource* rows[1] = {&row};
      double score = 0;
      Status s = scorer->Score(f.sandbox, svc, "", f.req.identity, f.now, rows, std::span<double>(&score, 1));
      if (!s.ok()) return s.WithPrefix("activity '" + a.name + "': audience reads score." + svc);
      f.service_scores[svc] = score;
      changed = true;
    }
    if (!changed) return OkStatus();
    f.score_json.clear();
    JsonWriter w(&f.score_json);
    w.BeginObject();
    for (const auto& [svc, v] : f.service_scores) {
      w.Key(svc);
      w.Double(v);
    }
    w.EndObject();
    thread_local simdjson::dom::parser parser;
    f.has_score = !parser.parse(f.score_json).get(f.score);
    return OkStatus();
  }

  StatusOr<bool> Matches(Frame& f, const Activity& a) {
    const Condition& c = a.audience;
    if (c.reads(Root::kProfile) || c.reads(Root::kComputed)) LoadProfile(f);
    if (c.reads(Root::kScore)) RETURN_IF_ERROR(LoadScores(f, a));
    ConditionInput in;
    if (f.has_profile) in.profile = &f.profile;
    if (f.has_computed) in.computed = &f.computed;
    if (f.req.has_context) in.context = &f.req.context;
    if (f.has_score) in.score = &f.score;
    return c.Evaluate(in);
  }

  Status Choose(Frame& f, const Activity& a, Outcome* out) {
    const size_t n = a.experiences.size();
    switch (a.strategy) {
      case StrategyType::kSplit: {
        const uint32_t h = AllocationHash(a.name, a.salt, f.req.identity);
        out->chosen = PickByWeights(h, a.weights);
        out->probability = a.weights[static_cast<size_t>(out->chosen)];
        out->probabilities = a.weights;
        return OkStatus();
      }
      case StrategyType::kModel: {
        if (scorer == nullptr) return UnavailableError("no services to score with");
        BuildFeatures(f);
        std::vector<RowFeatures> rows;
        rows.reserve(n);
        std::vector<const FeatureSource*> ptrs;
        for (const Experience& e : a.experiences) {
          rows.emplace_back(&f.features, &e);
          ptrs.push_back(&rows.back());
        }
        out->scores.assign(n, 0);
        Status s = scorer->Score(f.sandbox, a.service, a.output, f.req.identity, f.now, ptrs, out->scores);
        if (!s.ok()) return s.WithPrefix("activity '" + a.name + "': scoring with service '" + a.service + "'");
        out->chosen = static_cast<int>(std::max_element(out->scores.begin(), out->scores.end()) - out->scores.begin());
        out->probability = 1;
        return OkStatus();
      }
      case StrategyType::kBandit: {
        auto entry = Learner(f.sandbox, a.name);
        if (!entry) return InternalError("activity '" + a.name + "' has no learner");
        BuildFeatures(f);
        FeatureMap base = f.features;
        SelectFeatures(a.feature_paths, &base);
        auto weights = entry->learner->Current();
        thread_local std::vector<learning::HashedFeature> scratch;
        std::vector<std::vector<learning::HashedFeature>> xs(n);
        out->scores.resize(n);
        for (size_t i = 0; i < n; ++i) {
          ArmFeatures(entry->hasher, base, a.experiences[i], &scratch, &xs[i]);
          out->scores[i] = weights->Predict(xs[i]);
        }
        out->probabilities.assign(n, 0);
        learning::ActionProbabilities(out->scores, a.explore, out->probabilities);
        const double u = std::uniform_real_distribution<double>(0.0, 1.0)(Rng());
        out->chosen = learning::SampleAction(out->probabilities, u);
        out->probability = out->probabilities[static_cast<size_t>(out->chosen)];
        out->x = std::move(xs[static_cast<size_t>(out->chosen)]);
        out->learner_gen = entry->gen;
        return OkStatus();
      }
    }
    return InternalError("unknown strategy");
  }

  static void WriteDecision(JsonWriter& w, const std::string& id, const Outcome& o) {
    const Activity& a = *o.activity;
    const Experience& e = a.experiences[static_cast<size_t>(o.chosen)];
    w.BeginObject();
    w.Key("decisionId");
    w.String(id);
    w.Key("activity");
    w.String(a.name);
    w.Key("strategy");
    w.String(StrategyName(a.strategy));
    w.Key("experience");
    w.BeginObject();
    w.Key("id");
    w.String(e.id);
    w.Key("content");
    w.Raw(e.content_json);
    w.EndObject();
    w.Key("probability");
    w.Double(o.probability);
    auto per_experience = [&](std::string_view key, const std::vector<double>& values) {
      if (values.empty()) return;
      w.Key(key);
      w.BeginObject();
      for (size_t i = 0; i < values.size(); ++i) {
        w.Key(a.experiences[i].id);
        if (std::isfinite(values[i])) w.Double(values[i]);
        else w.Null();  // the service gave no usable score
      }
      w.EndObject();
    };
    per_experience("scores", o.scores);
    per_experience("probabilities", o.probabilities);
    w.EndObject();
  }

  // Runs the decision for every selected activity. Fills `outcomes` (one per
  // matching activity) and the frame's features.
  Status Compute(Frame& f, std::vector<Outcome>* outcomes) {
    std::vector<std::shared_ptr<const Activity>> candidates;
    if (!f.req.activity.empty()) {
      auto a = FindActivity(f.sandbox, f.req.activity);
      if (!a) return NotFoundError("activity '" + f.req.activity + "' does not exist in sandbox '" + f.sandbox + "'");
      candidates.push_back(std::move(a));
    } else {
      candidates = AllActivities(f.sandbox);
    }
    // A named activity's error is the request's error. Deciding them all, one
    // broken activity (a deleted scoring service, say) is reported in
    // "errors" and skipped, and the others are still decided.
    const bool named = !f.req.activity.empty();
    for (auto& a : candidates) {
      Outcome o;
      o.activity = a;
      auto match = Matches(f, *a);
      Status s = match.ok() ? (*match ? Choose(f, *a, &o) : OkStatus()) : match.status();
      if (!s.ok()) {
        if (named) return s;
        f.errors.emplace_back(a->name, std::move(s));
        continue;
      }
      if (*match) outcomes->push_back(std::move(o));
    }
    BuildFeatures(f);  // logged with every decision
    return OkStatus();
  }

  std::string ResponseJson(const Frame& f, const std::vector<Outcome>& outcomes, const std::vector<std::string>& ids) {
    std::string out;
    JsonWriter w(&out);
    if (!f.req.activity.empty()) {
      if (outcomes.empty()) {
        w.BeginObject();
        w.Key("decisionId");
        w.Null();
        w.Key("activity");
        w.String(f.req.activity);
        w.Key("experience");
        w.Null();
        w.Key("reason");
        w.String("the identity is not in the activity's audience");
        w.EndObject();
      } else {
        WriteDecision(w, ids[0], outcomes[0]);
      }
      return out;
    }
    w.BeginObject();
    w.Key("decisions");
    w.BeginArray();
    for (size_t i = 0; i < outcomes.size(); ++i) WriteDecision(w, ids[i], outcomes[i]);
    w.EndArray();
    if (!f.errors.empty()) {
      w.Key("errors");
      w.BeginArray();
      for (const auto& [activity, status] : f.errors) {
        w.BeginObject();
        w.Key("activity");
        w.String(activity);
        w.Key("code");
        w.String(StatusCodeName(status.code()));
        w.Key("error");
        w.String(status.message());
        w.EndObject();
      }
      w.EndArray();
    }
    w.EndObject();
    return out;
  }

  void Decide(const std::string& sandbox, std::string_view body, bool dry_run,
              std::function<void(StatusOr<std::string>)> done) {
    thread_local simdjson::dom::parser parser;
    auto req = ParseDecideBody(parser, body);
    if (!req.ok()) return done(req.status());
    Frame f;
    f.sandbox = sandbox;
    f.req = std::move(*req);
    f.now = Now();
    std::vector<Outcome> outcomes;
    if (Status s = Compute(f, &outcomes); !s.ok()) return done(s);
    std::vector<std::string> ids;
    for (size_t i = 0; i < outcomes.size(); ++i) ids.push_back(NewDecisionId());
    std::string response = ResponseJson(f, outcomes, ids);
    if (dry_run || outcomes.empty()) return done(std::move(response));
    decisions_total.fetch_add(outcomes.size(), std::memory_order_relaxed);
    auto features = std::make_shared<std::string>(FeaturesJson(f.features));
    auto shared_done = std::make_shared<std::function<void(StatusOr<std::string>)>>(std::move(done));
    auto remaining = std::make_shared<std::atomic<size_t>>(outcomes.size());
    auto first_error = std::make_shared<Status>();
    auto text = std::make_shared<std::string>(std::move(response));
    for (size_t i = 0; i < outcomes.size(); ++i) {
      Outcome& o = outcomes[i];
      OpenDecision od;
      od.id = ids[i];
      od.sandbox = sandbox;
      od.activity = o.activity->name;
      od.identity = f.req.identity;
      od.experience = o.activity->experiences[static_cast<size_t>(o.chosen)].id;
      od.ts = f.now;
      od.expires = f.now + o.activity->reward_window_ms;
      od.default_reward = o.activity->default_reward;
      od.goal = o.activity->goal;
      od.x = std::move(o.x);
      od.learner_gen = o.learner_gen;
      std::string scores;
      if (!o.scores.empty()) {
        JsonWriter w(&scores);
        w.BeginArray();
        for (double s : o.scores) w.Double(s);
        w.EndArray();
      }
      const double probability = o.probability;
      DecisionLog::Op op = [id = od.id, sandbox, activity = od.activity, identity = od.identity,
                            experience = od.experience, probability, features, scores = std::move(scores), ts = od.ts,
                            expires = od.expires, goal = od.goal, default_reward = od.default_reward,
                            gen = od.learner_gen](DecisionLog::Writer& w) -> Status {
        ASSIGN_OR_RETURN(sqlite::Statement * st,
                         w.Statement("INSERT INTO decisions (id, sandbox, activity, identity, experience, probability, "
                                     "features, scores, ts, expires, goal, default_reward, learner_gen) "
                                     "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"));
        st->Bind(1, id).Bind(2, sandbox).Bind(3, activity).Bind(4, identity).Bind(5, experience);
        st->Bind(6, probability).Bind(7, *features);
        if (scores.empty()) st->BindNull(8);
        else st->Bind(8, scores);
        st->Bind(9, ts).Bind(10, expires).Bind(11, goal).Bind(12, default_reward);
        if (gen != 0) st->Bind(13, gen);
        else st->BindNull(13);
        return st->Run();
      };
      DecisionLog::Done on_done = [this, id = od.id, shared_done, remaining, first_error, text](Status s) {
        if (!s.ok()) {
          // Not stored: the decision was never shown, so it must not be
          // closed or learned from later.
          std::lock_guard<std::mutex> lock(open_mu);
          Forget(id);
          if (first_error->ok()) *first_error = s;
        }
        if (remaining->fetch_sub(1) != 1) return;
        if (!first_error->ok()) (*shared_done)(*first_error);
        else (*shared_done)(std::move(*text));
      };
      // The decision opens before it is durable, so a goal event that races
      // the commit still finds it; the close is queued after the insert.
      std::lock_guard<std::mutex> lock(open_mu);
      Open(std::move(od));
      log->SubmitSingleStatement(std::move(op), std::move(on_done));
    }
  }

  // --------------------------------------------------- open and closing ---
  void Open(OpenDecision od) {  // requires open_mu
    while (open.size() >= options.max_open_decisions && !open_by_expiry.empty()) {
      CloseLocked(open_by_expiry.begin()->second, std::nullopt, "capacity", "", nullptr);
    }
    std::string id = od.id;
    auto [it, inserted] = open.emplace(id, std::move(od));
    if (!inserted) return;
    it->second.by_expiry = open_by_expiry.emplace(it->second.expires, id);
    open_by_identity[IdentityKey(it->second.sandbox, it->second.identity)].insert(id);
  }

  void Unindex(const OpenDecision& od) {  // requires open_mu
    auto it = open_by_identity.find(IdentityKey(od.sandbox, od.identity));
    if (it == open_by_identity.end()) return;
    it->second.erase(od.id);
    if (it->second.empty()) open_by_identity.erase(it);
  }

  // Drops an open decision without closing it. Requires open_mu.
  void Forget(const std::string& id) {
    auto it = open.find(id);
    if (it == open.end()) return;
    open_by_expiry.erase(it->second.by_expiry);
    Unindex(it->second);
    open.erase(it);
  }

  // Closes an open decision with `reward` (nullopt: its default), logs the
  // close and, once durable, teaches the activity's learner. Requires open_mu.
  void CloseLocked(const std::string& id, std::optional<double> reward, std::string_view reason,
                   std::string_view event, std::function<void(StatusOr<std::string>)> done) {
    auto it = open.find(id);
    if (it == open.end()) return;
    OpenDecision od = std::move(it->second);
    open_by_expiry.erase(od.by_expiry);
    Unindex(od);
    open.erase(it);
    const double r = reward.value_or(od.default_reward);
    const uint64_t seq = ++next_seq;
    recently_closed[od.id] = Closed{od.sandbox, r, std::string(reason)};
    recently_closed_order.push_back(od.id);
    if (recently_closed_order.size() > kRecentlyClosed) {
      recently_closed.erase(recently_closed_order.front());
      recently_closed_order.pop_front();
    }
    const int64_t now = Now();
    auto shared = std::make_shared<OpenDecision>(std::move(od));
    DecisionLog::Op op = [shared, r, seq, now, reason = std::string(reason),
                          event = std::string(event)](DecisionLog::Writer& w) -> Status {
      ASSIGN_OR_RETURN(sqlite::Statement * ins, w.Statement("INSERT INTO feedback (decision_id, ts, reward, event, "
                                                            "source) VALUES (?,?,?,?,?)"));
      ins->Bind(1, shared->id).Bind(2, now).Bind(3, r).Bind(5, reason);
      if (event.empty()) ins->BindNull(4);
      else ins->Bind(4, event);
      RETURN_IF_ERROR(ins->Run());
      ASSIGN_OR_RETURN(sqlite::Statement * up, w.Statement("UPDATE decisions SET reward = ?, closed = ?, "
                                                           "close_reason = ?, seq = ? WHERE id = ?"));
      up->Bind(1, r).Bind(2, now).Bind(3, reason).Bind(4, static_cast<int64_t>(seq)).Bind(5, shared->id);
      return up->Run();
    };
    DecisionLog::Done on_done = [this, shared, r, seq, done = std::move(done)](Status s) {
      if (s.ok()) Learn(*shared, r, seq);
      if (!done) return;
      if (!s.ok()) return done(s);
      std::string out;
      JsonWriter w(&out);
      w.BeginObject();
      w.Key("decisionId");
      w.String(shared->id);
      w.Key("activity");
      w.String(shared->activity);
      w.Key("experience");
      w.String(shared->experience);
      w.Key("reward");
      w.Double(r);
      w.Key("closed");
      w.Bool(true);
      w.EndObject();
      done(std::move(out));
    };
    log->Submit(std::move(op), std::move(on_done));
  }

  // Writer thread, in close order.
  void Learn(const OpenDecision& od, double reward, uint64_t seq) {
    if (od.x.empty()) return;
    auto entry = Learner(od.sandbox, od.activity);
    // A learner holds exactly the closes after its start up to entry->seq
    // (what its snapshot records and Load replays from); an older close of a
    // learner it replaced is not its to learn.
    if (!entry || seq <= entry->seq) return;
    if (entry->gen != od.learner_gen) {  // scored by a learner since replaced
      entry->seq = seq;
      return;
    }
    const double label = std::clamp(reward, 0.0, 1.0);
    if (entry->learner->Update(od.x, label).ok()) {
      int64_t expected = 0;
      entry->first_unpublished_ns.compare_exchange_strong(expected, SteadyNanos());
      entry->dirty.store(true, std::memory_order_release);
    }
    entry->seq = seq;
  }

  void Feedback(const std::string& sandbox, std::string_view body, std::function<void(StatusOr<std::string>)> done) {
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (auto e = parser.parse(body.data(), body.size()).get(root)) {
      return done(InvalidArgumentError(std::string("request body: malformed JSON (") + simdjson::error_message(e) +
                                       ")"));
    }
    if (!root.is_object()) return done(InvalidArgumentError("request body must be {\"decisionId\", \"reward\"|\"event\"}"));
    std::string id, event;
    std::optional<double> reward;
    for (auto field : simdjson::dom::object(root)) {
      if (field.key == "decisionId") {
        if (!field.value.is_string()) return done(InvalidArgumentError("decisionId: must be a string"));
        id = std::string(std::string_view(field.value));
      } else if (field.key == "reward") {
        double d;
        if (field.value.get_double().get(d) || !std::isfinite(d) || std::abs(d) > kMaxAbsReward) {
          return done(InvalidArgumentError("reward: must be a finite number with |reward| <= 1e9"));
        }
        reward = d;
      } else if (field.key == "event") {
        if (!field.value.is_string() || std::string_view(field.value).empty()) {
          return done(InvalidArgumentError("event: must be a non-empty event type"));
        }
        event = std::string(std::string_view(field.value));
      } else {
        return done(InvalidArgumentError("unknown field '" + std::string(field.key) +
                                         "' (expected: decisionId, reward, event)"));
      }
    }
    if (id.empty()) return done(InvalidArgumentError("decisionId: required"));
    if (reward.has_value() == !event.empty()) {
      return done(InvalidArgumentError("exactly one of \"reward\" (a number) or \"event\" (an event type) is required"));
    }
    feedback_total.fetch_add(1, std::memory_order_relaxed);
    std::unique_lock<std::mutex> lock(open_mu);
    auto it = open.find(id);
    if (it == open.end() || it->second.sandbox != sandbox) {
      if (auto rc = recently_closed.find(id); rc != recently_closed.end() && rc->second.sandbox == sandbox) {
        Status conflict = AlreadyClosed(id, rc->second.reward, rc->second.reason);
        lock.unlock();
        return done(conflict);
      }
      lock.unlock();
      return done(ClosedOrUnknown(sandbox, id));
    }
    if (reward.has_value()) return CloseLocked(id, reward, "feedback", "", std::move(done));
    if (!it->second.goal.empty() && event == it->second.goal) return CloseLocked(id, 1.0, "goal", event, std::move(done));
    // Another event: recorded, the decision stays open.
    const int64_t now = Now();
    const std::string activity = it->second.activity;
    log->Submit(
        [id, now, event](DecisionLog::Writer& w) -> Status {
          ASSIGN_OR_RETURN(sqlite::Statement * ins, w.Statement("INSERT INTO feedback (decision_id, ts, reward, event, "
                                                                "source) VALUES (?,?,?,?,?)"));
          ins->Bind(1, id).Bind(2, now).BindNull(3).Bind(4, event).Bind(5, "event");
          return ins->Run();
        },
        [id, activity, done = std::move(done)](Status s) {
          if (!s.ok()) return done(s);
          std::string out;
          JsonWriter w(&out);
          w.BeginObject();
          w.Key("decisionId");
          w.String(id);
          w.Key("activity");
          w.String(activity);
          w.Key("closed");
          w.Bool(false);
          w.Key("reason");
          w.String("the event is not the activity's goal; recorded");
          w.EndObject();
          done(std::move(out));
        });
  }

  Status ClosedOrUnknown(const std::string& sandbox, const std::string& id) {
    // Its own connection: a long report holding the reader must not stall
    // feedback on an event loop.
    std::lock_guard<std::mutex> lock(log->lookup_mu());
    auto st = log->lookup().Prepare("SELECT reward, close_reason FROM decisions WHERE id = ? AND sandbox = ?");
    if (!st.ok()) return st.status();
    st->Bind(1, id).Bind(2, sandbox);
    auto row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return NotFoundError("decision '" + id + "' does not exist in sandbox '" + sandbox + "'");
    if (st->ColumnIsNull(0)) {
      return ConflictError("decision '" + id + "' is being logged; retry");
    }
    return AlreadyClosed(id, st->ColumnDouble(0), st->ColumnText(1));
  }

  void OnEvent(const data::CommittedEvent& ev) {
    std::lock_guard<std::mutex> lock(open_mu);
    for (const std::string& identity : ev.identities) {
      auto ids = open_by_identity.find(IdentityKey(ev.sandbox, identity));
      if (ids == open_by_identity.end()) continue;
      std::vector<std::string> hits;
      for (const std::string& open_id : ids->second) {
        const OpenDecision& od = open.at(open_id);
        if (od.goal.empty() || od.goal != ev.event_type) continue;
        if (ev.timestamp_ms < od.ts - kEventSkewMs) continue;
        hits.push_back(od.id);
      }
      for (const std::string& id : hits) {
        goal_rewards_total.fetch_add(1, std::memory_order_relaxed);
        CloseLocked(id, 1.0, "goal", ev.event_type, nullptr);
      }
    }
  }

  // --------------------------------------------------------- background ---
  void PublishDirty() {
    std::vector<std::shared_ptr<LearnerEntry>> entries;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto& [k, e] : learners) entries.push_back(e);
    }
    for (auto& e : entries) {
      if (!e->dirty.exchange(false, std::memory_order_acq_rel)) continue;
      const int64_t first = e->first_unpublished_ns.exchange(0);
      e->learner->Publish();
      if (first > 0) visibility.Record(0, SteadyNanos() - first);
    }
  }

  void SweepExpired() {
    const int64_t now = Now();
    // At most kSweepBatch closes per lock hold (after downtime many windows
    // end at once), so decisions and goal events are not held up.
    constexpr int kSweepBatch = 10'000;
    while (true) {
      std::lock_guard<std::mutex> lock(open_mu);
      int n = 0;
      while (n < kSweepBatch && !open_by_expiry.empty() && open_by_expiry.begin()->first <= now) {
        window_closes_total.fetch_add(1, std::memory_order_relaxed);
        CloseLocked(open_by_expiry.begin()->second, std::nullopt, "window", "", nullptr);
        ++n;
      }
      if (n < kSweepBatch) return;
    }
  }

  // Snapshots run on the writer thread, between closes, so each holds
  // exactly the updates up to its recorded seq.
  Status SaveSnapshots(bool wait) {
    std::vector<std::pair<std::pair<std::string, std::string>, std::shared_ptr<LearnerEntry>>> entries;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto& [k, e] : learners) entries.emplace_back(k, e);
    }
    if (entries.empty()) return OkStatus();
    DecisionLog::Op op = [this, entries, now = Now()](DecisionLog::Writer& w) -> Status {
      for (const auto& [key, e] : entries) {
        {
          // A learner replaced or deleted since the list was taken must not
          // be written back over its successor.
          std::lock_guard<std::mutex> lock(mu);
          auto it = learners.find(key);
          if (it == learners.end() || it->second != e) continue;
        }
        if (e->saved && e->saved_seq == e->seq) continue;  // nothing learned since the last one
        ASSIGN_OR_RETURN(sqlite::Statement * st,
                         w.Statement("INSERT OR REPLACE INTO learners (sandbox, activity, snapshot, seq, saved, gen) "
                                     "VALUES (?,?,?,?,?,?)"));
        const std::string bytes = e->learner->SaveSnapshot();
        st->Bind(1, key.first).Bind(2, key.second).BindBlob(3, bytes).Bind(4, static_cast<int64_t>(e->seq)).Bind(5, now);
        st->Bind(6, e->gen);
        RETURN_IF_ERROR(st->Run());
        e->saved_seq = e->seq;
        e->saved = true;
      }
      return OkStatus();
    };
    if (wait) return log->SubmitAndWait(std::move(op));
    log->Submit(std::move(op), nullptr);
    return OkStatus();
  }

  void BackgroundLoop() {
    int64_t last_sweep = 0, last_snapshot = SteadyNanos();
    const int64_t step_ms = std::max<int64_t>(1, std::min(options.publish_interval_ms, options.sweep_interval_ms));
    while (true) {
      {
        std::unique_lock<std::mutex> lock(bg_mu);
        bg_cv.wait_for(lock, std::chrono::milliseconds(std::min<int64_t>(step_ms, options.publish_interval_ms)),
                       [&] { return stopping; });
        if (stopping) return;
      }
      PublishDirty();
      const int64_t t = SteadyNanos();
      if (t - last_sweep >= options.sweep_interval_ms * 1'000'000) {
        SweepExpired();
        last_sweep = t;
      }
      if (t - last_snapshot >= options.snapshot_interval_ms * 1'000'000) {
        SaveSnapshots(false).IgnoreError();
        last_snapshot = t;
      }
    }
  }

  // --------------------------------------------------------------- load ---
  StatusOr<std::shared_ptr<LearnerEntry>> NewLearner(const learning::FtrlOptions& o) {
    ASSIGN_OR_RETURN(auto l, learning::FtrlLearner::Create(o));
    auto entry = std::make_shared<LearnerEntry>(std::move(l));
    entry->gen = static_cast<int64_t>(Rng()() >> 1) | 1;  // positive, never 0 (0: no learner)
    return entry;
  }

  Status LoadAll();
  Status ReplayLearner(const std::string& sandbox, const Activity& a, LearnerEntry* e);
  StatusOr<std::string> Report(const std::string& sandbox, const std::string& name) const;
};

// ------------------------------------------------------------------ load ---

Status Delivery::Impl::ReplayLearner(const std::string& sandbox, const Activity& a, LearnerEntry* e) {
  std::lock_guard<std::mutex> lock(log->reader_mu());
  ASSIGN_OR_RETURN(sqlite::Statement st, log->reader().Prepare(
                                             "SELECT experience, features, reward, seq FROM decisions WHERE sandbox = ? "
                                             "AND activity = ? AND seq > ? AND learner_gen = ? ORDER BY seq"));
  st.Bind(1, sandbox).Bind(2, a.name).Bind(3, static_cast<int64_t>(e->seq)).Bind(4, e->gen);
  std::vector<learning::HashedFeature> scratch, x;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    e->seq = static_cast<uint64_t>(st.ColumnInt(3));
    const int idx = a.ExperienceIndex(st.ColumnText(0));
    if (idx < 0) continue;  // an experience since removed
    ASSIGN_OR_RETURN(FeatureMap base, ParseFeaturesJson(st.ColumnText(1)));
    SelectFeatures(a.feature_paths, &base);
    ArmFeatures(e->hasher, base, a.experiences[static_cast<size_t>(idx)], &scratch, &x);
    e->learner->Update(x, std::clamp(st.ColumnDouble(2), 0.0, 1.0)).IgnoreError();
  }
  e->learner->Publish();
  return OkStatus();
}

Status Delivery::Impl::LoadAll() {
  // Segments first (activities reference them), then activities, learners,
  // and the decisions still open.
  std::vector<std::tuple<std::string, std::string, std::string>> activity_rows;
  {
    std::lock_guard<std::mutex> lock(log->reader_mu());
    ASSIGN_OR_RETURN(sqlite::Statement seg, log->reader().Prepare("SELECT sandbox, name, body, condition FROM segments"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, seg.Step());
      if (!row) break;
      sandboxes[seg.ColumnText(0)].segments[seg.ColumnText(1)] = SegmentEntry{seg.ColumnText(2), seg.ColumnText(3)};
    }
    ASSIGN_OR_RETURN(sqlite::Statement act,
                     log->reader().Prepare("SELECT sandbox, name, body, created, updated FROM activities"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, act.Step());
      if (!row) break;
      activity_rows.emplace_back(act.ColumnText(0), act.ColumnText(1), act.ColumnText(2));
      sandboxes[act.ColumnText(0)].times[act.ColumnText(1)] = {act.ColumnInt(3), act.ColumnInt(4)};
    }
  }
  for (const auto& [sandbox, name, body] : activity_rows) {
    auto a = ParseActivity(name, body, ResolverLocked(sandbox));
    if (!a.ok()) return a.status().WithPrefix("stored activity '" + name + "' in sandbox '" + sandbox + "'");
    sandboxes[sandbox].activities[name] = *a;
    if ((*a)->strategy != StrategyType::kBandit) continue;
    std::shared_ptr<LearnerEntry> entry;
    {
      std::lock_guard<std::mutex> lock(log->reader_mu());
      ASSIGN_OR_RETURN(sqlite::Statement st,
                       log->reader().Prepare("SELECT snapshot, seq, gen FROM learners WHERE sandbox = ? AND activity = ?"));
      st.Bind(1, sandbox).Bind(2, name);
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (row) {
        auto l = learning::FtrlLearner::LoadSnapshot(st.ColumnBlob(0));
        if (!l.ok()) return l.status().WithPrefix("learner snapshot of activity '" + name + "'");
        entry = std::make_shared<LearnerEntry>(std::move(*l));
        entry->seq = static_cast<uint64_t>(st.ColumnInt(1));
        entry->gen = st.ColumnInt(2);
        entry->saved_seq = entry->seq;
        entry->saved = true;
      }
    }
    if (!entry) {
      ASSIGN_OR_RETURN(entry, NewLearner((*a)->learner));
    }
    entry->config = LearnerConfig(**a);
    RETURN_IF_ERROR(ReplayLearner(sandbox, **a, entry.get()));
    learners[{sandbox, name}] = entry;
  }
  // Open decisions.
  std::lock_guard<std::mutex> reader_lock(log->reader_mu());
  {
    ASSIGN_OR_RETURN(sqlite::Statement st, log->reader().Prepare("SELECT COALESCE(MAX(seq), 0) FROM decisions"));
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) next_seq = static_cast<uint64_t>(st.ColumnInt(0));
  }
  ASSIGN_OR_RETURN(sqlite::Statement st,
                   log->reader().Prepare("SELECT id, sandbox, activity, identity, experience, features, ts, expires, "
                                         "goal, default_reward, learner_gen FROM decisions WHERE closed IS NULL "
                                         "ORDER BY ts"));
  std::vector<learning::HashedFeature> scratch;
  std::lock_guard<std::mutex> open_lock(open_mu);
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    OpenDecision od;
    od.id = st.ColumnText(0);
    od.sandbox = st.ColumnText(1);
    od.activity = st.ColumnText(2);
    od.identity = st.ColumnText(3);
    od.experience = st.ColumnText(4);
    od.ts = st.ColumnInt(6);
    od.expires = st.ColumnInt(7);
    // The reward rules in force when it was decided.
    od.goal = st.ColumnIsNull(8) ? "" : st.ColumnText(8);
    od.default_reward = st.ColumnIsNull(9) ? 0.0 : st.ColumnDouble(9);
    od.learner_gen = st.ColumnIsNull(10) ? 0 : st.ColumnInt(10);
    auto sb = sandboxes.find(od.sandbox);
    std::shared_ptr<const Activity> a;
    if (sb != sandboxes.end()) {
      if (auto it = sb->second.activities.find(od.activity); it != sb->second.activities.end()) a = it->second;
    }
    if (a) {
      const int idx = a->ExperienceIndex(od.experience);
      auto le = learners.find({od.sandbox, od.activity});
      if (idx >= 0 && le != learners.end() && le->second->gen == od.learner_gen) {
        auto base = ParseFeaturesJson(st.ColumnText(5));
        if (base.ok()) {
          SelectFeatures(a->feature_paths, &*base);
          ArmFeatures(le->second->hasher, *base, a->experiences[static_cast<size_t>(idx)], &scratch, &od.x);
        }
      }
    }
    Open(std::move(od));
  }
  return OkStatus();
}

// ---------------------------------------------------------------- report ---

StatusOr<std::string> Delivery::Impl::Report(const std::string& sandbox, const std::string& name) const {
  auto a = FindActivity(sandbox, name);
  if (!a) return NotFoundError("activity '" + name + "' does not exist in sandbox '" + sandbox + "'");
  auto entry = Learner(sandbox, name);
  struct PerExperience {
    int64_t decisions = 0, closed = 0;
    double sum = 0, sum_sq = 0;
    bool binary = true;
  };
  std::map<std::string, PerExperience> per;
  std::vector<learning::LoggedOutcome> logged;
  std::lock_guard<std::mutex> lock(log->reader_mu());
  {
    ASSIGN_OR_RETURN(sqlite::Statement st,
                     log->reader().Prepare("SELECT experience, COUNT(*), COUNT(reward), TOTAL(reward), "
                                           "TOTAL(reward * reward), SUM(reward IS NOT NULL AND reward NOT IN (0, 1)) "
                                           "FROM decisions WHERE sandbox = ? AND activity = ? GROUP BY experience"));
    st.Bind(1, sandbox).Bind(2, name);
    while (true) {
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      PerExperience& p = per[st.ColumnText(0)];
      p.decisions = st.ColumnInt(1);
      p.closed = st.ColumnInt(2);
      p.sum = st.ColumnDouble(3);
      p.sum_sq = st.ColumnDouble(4);
      p.binary = st.ColumnInt(5) == 0;
    }
  }
  // Off-policy estimate of the current policy over the most recent closed decisions.
  {
    ASSIGN_OR_RETURN(sqlite::Statement st,
                     log->reader().Prepare("SELECT experience, probability, reward, features, scores, identity FROM "
                                           "decisions WHERE sandbox = ? AND activity = ? AND reward IS NOT NULL "
                                           "ORDER BY ts DESC LIMIT ?"));
    st.Bind(1, sandbox).Bind(2, name).Bind(3, static_cast<int64_t>(options.report_log_limit));
    std::shared_ptr<const learning::FtrlWeights> weights = entry ? entry->learner->Current() : nullptr;
    std::vector<learning::HashedFeature> scratch, x;
    std::vector<double> scores(a->experiences.size()), probs(a->experiences.size());
    while (true) {
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      const int idx = a->ExperienceIndex(st.ColumnText(0));
      const double logged_p = st.ColumnDouble(1);
      if (idx < 0 || !(logged_p > 0)) continue;
      double target = 0;
      switch (a->strategy) {
        case StrategyType::kSplit:
          target = a->weights[static_cast<size_t>(idx)];
          break;
        case StrategyType::kModel: {
          // The current policy is greedy on the scores it logged.
          const std::string logged_scores = st.ColumnText(4);
          thread_local simdjson::dom::parser parser;
          simdjson::dom::element arr;
          if (parser.parse(logged_scores).get(arr) || !arr.is_array()) continue;
          size_t best = 0, i = 0;
          double best_score = -INFINITY;
          for (auto v : simdjson::dom::array(arr)) {
            double d = 0;
            if (!v.get_double().get(d) && d > best_score) {
              best_score = d;
              best = i;
            }
            ++i;
          }
          target = best == static_cast<size_t>(idx) ? 1.0 : 0.0;
          break;
        }
        case StrategyType::kBandit: {
          if (!weights) continue;
          auto base = ParseFeaturesJson(st.ColumnText(3));
          if (!base.ok()) continue;
          SelectFeatures(a->feature_paths, &*base);
          for (size_t i = 0; i < a->experiences.size(); ++i) {
            ArmFeatures(entry->hasher, *base, a->experiences[i], &scratch, &x);
            scores[i] = weights->Predict(x);
          }
          learning::ActionProbabilities(scores, a->explore, probs);
          target = probs[static_cast<size_t>(idx)];
          break;
        }
      }
      logged.push_back(learning::LoggedOutcome{st.ColumnDouble(2), logged_p, target});
    }
  }
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("activity");
  w.String(name);
  w.Key("strategy");
  w.String(StrategyName(a->strategy));
  int64_t total = 0, closed = 0;
  double sum = 0;
  w.Key("experiences");
  w.BeginArray();
  for (const Experience& e : a->experiences) {
    const PerExperience p = per.count(e.id) ? per[e.id] : PerExperience{};
    total += p.decisions;
    closed += p.closed;
    sum += p.sum;
    w.BeginObject();
    w.Key("id");
    w.String(e.id);
    w.Key("decisions");
    w.Int(p.decisions);
    w.Key("rewarded");
    w.Int(p.closed);
    w.Key("rewards");
    w.Double(p.sum);
    const learning::Interval ci = p.binary ? learning::WilsonInterval95(p.sum, static_cast<double>(p.closed))
                                           : learning::MeanInterval95(static_cast<double>(p.closed), p.sum, p.sum_sq);
    w.Key("rate");
    if (p.closed > 0) w.Double(p.sum / static_cast<double>(p.closed));
    else w.Null();
    w.Key("interval95");
    w.BeginArray();
    if (p.closed > 0) {
      w.Double(ci.low);
      w.Double(ci.high);
    }
    w.EndArray();
    w.Key("interval_method");
    w.String(p.binary ? "wilson" : "normal");
    w.EndObject();
  }
  w.EndArray();
  w.Key("decisions");
  w.Int(total);
  w.Key("rewarded");
  w.Int(closed);
  w.Key("rate");
  if (closed > 0) w.Double(sum / static_cast<double>(closed));
  else w.Null();
  const learning::OffPolicyEstimate est = learning::EstimateOffPolicy(logged);
  w.Key("off_policy");
  w.BeginObject();
  w.Key("policy");
  w.String("current");
  w.Key("n");
  w.Uint(est.n);
  auto num = [&](std::string_view k, double v) {
    w.Key(k);
    if (std::isfinite(v)) w.Double(v);
    else w.Null();
  };
  num("ips", est.ips);
  num("snips", est.snips);
  num("effective_sample_size", est.effective_sample_size);
  w.Key("ips_interval95");
  w.BeginArray();
  if (std::isfinite(est.ips_low) && std::isfinite(est.ips_high)) {
    w.Double(est.ips_low);
    w.Double(est.ips_high);
  }
  w.EndArray();
  w.EndObject();
  if (entry) {
    const learning::ProgressiveMetrics m = entry->learner->metrics();
    w.Key("learner");
    w.BeginObject();
    w.Key("updates");
    w.Uint(m.updates);
    w.Key("published_version");
    w.Uint(m.published_version);
    num("logloss", m.logloss);
    num("auc", m.auc);
    num("recent_logloss", m.recent_logloss);
    w.EndObject();
  }
  w.EndObject();
  return out;
}

// ------------------------------------------------------------ Delivery ---

Delivery::Delivery(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StatusOr<std::unique_ptr<Delivery>> Delivery::Open(DeliveryOptions options, data::DataStore* data,
                                                   ExperienceScorer* scorer) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->data = data;
  impl->scorer = scorer;
  ASSIGN_OR_RETURN(impl->log, DecisionLog::Open(impl->options.data_dir + "/delivery.db", impl->options.max_group));
  return std::unique_ptr<Delivery>(new Delivery(std::move(impl)));
}

Delivery::~Delivery() {
  if (impl_->background.joinable()) {
    {
      std::lock_guard<std::mutex> lock(impl_->bg_mu);
      impl_->stopping = true;
    }
    impl_->bg_cv.notify_all();
    impl_->background.join();
    impl_->PublishDirty();
    impl_->SaveSnapshots(true).IgnoreError();
  }
  impl_->log.reset();  // drains queued writes
}

Status Delivery::Load() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    RETURN_IF_ERROR(impl_->LoadAll());
  }
  impl_->loaded.store(true, std::memory_order_release);
  impl_->background = std::thread([this] { impl_->BackgroundLoop(); });
  return OkStatus();
}

StatusOr<std::string> Delivery::PutActivity(const std::string& sandbox, const std::string& name,
                                            std::string_view body, bool* created) {
  RETURN_IF_ERROR(impl_->Ready());
  std::lock_guard<std::mutex> defs(impl_->defs_mu);
  std::shared_ptr<const Activity> a;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    ASSIGN_OR_RETURN(a, ParseActivity(name, body, impl_->ResolverLocked(sandbox)));
  }
  if (a->strategy == StrategyType::kModel) {
    if (impl_->scorer == nullptr) return InvalidArgumentError("strategy.service: this server has no services");
    Status s = impl_->scorer->Check(sandbox, a->service, a->output);
    if (!s.ok()) return s.WithPrefix("strategy.service");
  }
  for (const std::string& svc : a->audience_services()) {
    Status s = impl_->scorer ? impl_->scorer->Check(sandbox, svc, "") : NotFoundError("no services");
    if (!s.ok()) return s.WithPrefix("audience: score." + svc);
  }
  const int64_t now = impl_->Now();
  int64_t created_ts = now;
  const LearnerEntry::Config config = LearnerConfig(*a);
  bool needs_learner = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto& sb = impl_->sandboxes[sandbox];
    auto it = sb.times.find(name);
    *created = it == sb.times.end();
    if (!*created) created_ts = it->second.first;
    if (a->strategy == StrategyType::kBandit) {
      auto le = impl_->learners.find({sandbox, name});
      needs_learner = le == impl_->learners.end() || !Compatible(le->second->config, config);
    }
  }
  std::shared_ptr<LearnerEntry> new_learner;
  if (needs_learner) {  // allocated outside the locks: a large table takes a while to zero
    ASSIGN_OR_RETURN(new_learner, impl_->NewLearner(a->learner));
    new_learner->config = config;
  }
  // Stored and installed on the writer thread, between closes: every close
  // queued before teaches the previous learner, every close after the new one,
  // and a restart replays exactly the closes after the new learner's seq.
  Status stored = impl_->log->SubmitAndWait([&](DecisionLog::Writer& w) -> Status {
    ASSIGN_OR_RETURN(sqlite::Statement * st, w.Statement("INSERT OR REPLACE INTO activities (sandbox, name, body, "
                                                         "created, updated) VALUES (?,?,?,?,?)"));
    st->Bind(1, sandbox).Bind(2, name).Bind(3, a->json).Bind(4, created_ts).Bind(5, now);
    RETURN_IF_ERROR(st->Run());
    if (a->strategy != StrategyType::kBandit) {
      ASSIGN_OR_RETURN(sqlite::Statement * del, w.Statement("DELETE FROM learners WHERE sandbox = ? AND activity = ?"));
      del->Bind(1, sandbox).Bind(2, name);
      RETURN_IF_ERROR(del->Run());
    } else if (new_learner) {
      {
        std::lock_guard<std::mutex> open_lock(impl_->open_mu);
        new_learner->seq = impl_->next_seq;
      }
      ASSIGN_OR_RETURN(sqlite::Statement * snap,
                       w.Statement("INSERT OR REPLACE INTO learners (sandbox, activity, snapshot, seq, saved, gen) "
                                   "VALUES (?,?,?,?,?,?)"));
      snap->Bind(1, sandbox).Bind(2, name).BindBlob(3, new_learner->learner->SaveSnapshot());
      snap->Bind(4, static_cast<int64_t>(new_learner->seq)).Bind(5, now).Bind(6, new_learner->gen);
      RETURN_IF_ERROR(snap->Run());
      new_learner->saved_seq = new_learner->seq;
      new_learner->saved = true;
    }
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto& sb = impl_->sandboxes[sandbox];
    sb.activities[name] = a;
    sb.times[name] = {created_ts, now};
    if (new_learner) {
      impl_->learners[{sandbox, name}] = new_learner;
    } else if (auto le = impl_->learners.find({sandbox, name}); le != impl_->learners.end()) {
      // Kept: remember removed experiences' features too, so re-adding one
      // with other features is caught.
      for (auto& [id, features] : config.arms) le->second->config.arms[id] = features;
    }
    if (a->strategy != StrategyType::kBandit) impl_->learners.erase({sandbox, name});
    return OkStatus();
  });
  if (!stored.ok()) return stored;
  return GetActivity(sandbox, name);
}

StatusOr<std::string> Delivery::GetActivity(const std::string& sandbox, const std::string& name) const {
  RETURN_IF_ERROR(impl_->Ready());
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto sb = impl_->sandboxes.find(sandbox);
  if (sb == impl_->sandboxes.end() || !sb->second.activities.count(name)) {
    return NotFoundError("activity '" + name + "' does not exist in sandbox '" + sandbox + "'");
  }
  const auto& a = sb->second.activities.at(name);
  const auto& t = sb->second.times.at(name);
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("name");
  w.String(name);
  w.Key("strategy");
  w.String(StrategyName(a->strategy));
  w.Key("experiences");
  w.Int(static_cast<int64_t>(a->experiences.size()));
  w.Key("created");
  w.String(data::FormatRfc3339Millis(t.first));
  w.Key("updated");
  w.String(data::FormatRfc3339Millis(t.second));
  w.Key("definition");
  w.Raw(a->json);
  w.EndObject();
  return out;
}

StatusOr<std::string> Delivery::ListActivities(const std::string& sandbox) const {
  RETURN_IF_ERROR(impl_->Ready());
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto sb = impl_->sandboxes.find(sandbox);
    if (sb != impl_->sandboxes.end()) {
      for (const auto& [n, a] : sb->second.activities) names.push_back(n);
    }
  }
  std::string out = "{\"activities\":[";
  for (size_t i = 0; i < names.size(); ++i) {
    auto one = GetActivity(sandbox, names[i]);
    if (!one.ok()) continue;
    if (out.back() != '[') out.push_back(',');
    out += *one;
  }
  out += "]}";
  return out;
}

Status Delivery::DeleteActivity(const std::string& sandbox, const std::string& name) {
  RETURN_IF_ERROR(impl_->Ready());
  std::lock_guard<std::mutex> defs(impl_->defs_mu);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto sb = impl_->sandboxes.find(sandbox);
    if (sb == impl_->sandboxes.end() || !sb->second.activities.count(name)) {
      return NotFoundError("activity '" + name + "' does not exist in sandbox '" + sandbox + "'");
    }
  }
  // Removed on the writer thread too, so no later snapshot op writes the
  // learner back.
  return impl_->log->SubmitAndWait([&](DecisionLog::Writer& w) -> Status {
    for (const char* sql : {"DELETE FROM activities WHERE sandbox = ? AND name = ?",
                            "DELETE FROM learners WHERE sandbox = ? AND activity = ?"}) {
      ASSIGN_OR_RETURN(sqlite::Statement * st, w.Statement(sql));
      st->Bind(1, sandbox).Bind(2, name);
      RETURN_IF_ERROR(st->Run());
    }
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto& sb = impl_->sandboxes[sandbox];
    sb.activities.erase(name);
    sb.times.erase(name);
    impl_->learners.erase({sandbox, name});
    return OkStatus();
  });
}

StatusOr<std::string> Delivery::PutSegment(const std::string& sandbox, const std::string& name, std::string_view body,
                                           bool* created) {
  RETURN_IF_ERROR(impl_->Ready());
  std::lock_guard<std::mutex> defs(impl_->defs_mu);
  std::string condition;
  std::map<std::string, std::shared_ptr<const Activity>> recompiled;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    const SandboxState* sb = nullptr;
    if (auto it = impl_->sandboxes.find(sandbox); it != impl_->sandboxes.end()) sb = &it->second;
    *created = sb == nullptr || !sb->segments.count(name);
    ASSIGN_OR_RETURN(condition, ParseSegment(name, body, impl_->ResolverLocked(sandbox)));
    // Every activity that uses the segment must still compile with the new
    // body; nothing changes until it is stored.
    const SegmentResolver base = impl_->ResolverLocked(sandbox);
    const SegmentResolver with_new = [&](std::string_view n) -> StatusOr<std::string> {
      if (n == name) return condition;
      return base(n);
    };
    if (sb != nullptr) {
      for (const auto& [an, a] : sb->activities) {
        const auto& used = a->audience.segments();
        if (std::find(used.begin(), used.end(), name) == used.end()) continue;
        auto r = ParseActivity(an, a->json, with_new);
        if (!r.ok()) return r.status().WithPrefix("activity '" + an + "' uses segment '" + name + "'");
        recompiled[an] = *r;
      }
    }
  }
  Status stored = impl_->log->SubmitAndWait([&](DecisionLog::Writer& w) -> Status {
    ASSIGN_OR_RETURN(sqlite::Statement * st, w.Statement("INSERT OR REPLACE INTO segments (sandbox, name, body, "
                                                         "condition, updated) VALUES (?,?,?,?,?)"));
    st->Bind(1, sandbox).Bind(2, name).Bind(3, body).Bind(4, condition).Bind(5, impl_->Now());
    return st->Run();
  });
  if (!stored.ok()) return stored;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto& sb = impl_->sandboxes[sandbox];
    sb.segments[name] = SegmentEntry{std::string(body), condition};
    for (auto& [an, a] : recompiled) sb.activities[an] = a;
  }
  return GetSegment(sandbox, name);
}

StatusOr<std::string> Delivery::GetSegment(const std::string& sandbox, const std::string& name) const {
  RETURN_IF_ERROR(impl_->Ready());
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto sb = impl_->sandboxes.find(sandbox);
  if (sb == impl_->sandboxes.end() || !sb->second.segments.count(name)) {
    return NotFoundError("segment '" + name + "' does not exist in sandbox '" + sandbox + "'");
  }
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("name");
  w.String(name);
  w.Key("condition");
  w.Raw(sb->second.segments.at(name).condition);
  w.Key("used_by");
  w.BeginArray();
  for (const auto& [an, a] : sb->second.activities) {
    const auto& used = a->audience.segments();
    if (std::find(used.begin(), used.end(), name) != used.end()) w.String(an);
  }
  w.EndArray();
  w.EndObject();
  return out;
}

StatusOr<std::string> Delivery::ListSegments(const std::string& sandbox) const {
  RETURN_IF_ERROR(impl_->Ready());
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto sb = impl_->sandboxes.find(sandbox);
    if (sb != impl_->sandboxes.end()) {
      for (const auto& [n, s] : sb->second.segments) names.push_back(n);
    }
  }
  std::string out = "{\"segments\":[";
  for (const std::string& n : names) {
    auto one = GetSegment(sandbox, n);
    if (!one.ok()) continue;
    if (out.back() != '[') out.push_back(',');
    out += *one;
  }
  out += "]}";
  return out;
}

Status Delivery::DeleteSegment(const std::string& sandbox, const std::string& name) {
  RETURN_IF_ERROR(impl_->Ready());
  std::lock_guard<std::mutex> defs(impl_->defs_mu);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto sb = impl_->sandboxes.find(sandbox);
    if (sb == impl_->sandboxes.end() || !sb->second.segments.count(name)) {
      return NotFoundError("segment '" + name + "' does not exist in sandbox '" + sandbox + "'");
    }
    for (const auto& [an, a] : sb->second.activities) {
      const auto& used = a->audience.segments();
      if (std::find(used.begin(), used.end(), name) != used.end()) {
        return ConflictError("segment '" + name + "' is used by activity '" + an + "'");
      }
    }
    for (const auto& [sn, s] : sb->second.segments) {
      if (sn != name && s.condition.find("\"" + name + "\"") != std::string::npos) {
        auto c = Condition::Compile(s.condition, impl_->ResolverLocked(sandbox));
        if (c.ok()) {
          const auto& used = c->segments();
          if (std::find(used.begin(), used.end(), name) != used.end()) {
            return ConflictError("segment '" + name + "' is used by segment '" + sn + "'");
          }
        }
      }
    }
  }
  Status stored = impl_->log->SubmitAndWait([&](DecisionLog::Writer& w) -> Status {
    ASSIGN_OR_RETURN(sqlite::Statement * st, w.Statement("DELETE FROM segments WHERE sandbox = ? AND name = ?"));
    st->Bind(1, sandbox).Bind(2, name);
    return st->Run();
  });
  if (!stored.ok()) return stored;
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->sandboxes[sandbox].segments.erase(name);
  return OkStatus();
}

void Delivery::Decide(const std::string& sandbox, std::string_view body,
                      std::function<void(StatusOr<std::string>)> done) {
  if (Status s = impl_->Ready(); !s.ok()) return done(s);
  impl_->Decide(sandbox, body, false, std::move(done));
}

void Delivery::Feedback(const std::string& sandbox, std::string_view body,
                        std::function<void(StatusOr<std::string>)> done) {
  if (Status s = impl_->Ready(); !s.ok()) return done(s);
  impl_->Feedback(sandbox, body, std::move(done));
}

namespace {

StatusOr<std::string> Wait(const std::function<void(std::function<void(StatusOr<std::string>)>)>& call) {
  std::promise<StatusOr<std::string>> p;
  auto f = p.get_future();
  call([&p](StatusOr<std::string> r) { p.set_value(std::move(r)); });
  return f.get();
}

}  // namespace

StatusOr<std::string> Delivery::DecideAndWait(const std::string& sandbox, std::string_view body) {
  return Wait([&](auto done) { Decide(sandbox, body, std::move(done)); });
}

StatusOr<std::string> Delivery::FeedbackAndWait(const std::string& sandbox, std::string_view body) {
  return Wait([&](auto done) { Feedback(sandbox, body, std::move(done)); });
}

StatusOr<std::string> Delivery::DecideDryRun(const std::string& sandbox, std::string_view body) {
  RETURN_IF_ERROR(impl_->Ready());
  return Wait([&](auto done) { impl_->Decide(sandbox, body, true, std::move(done)); });
}

StatusOr<std::string> Delivery::Report(const std::string& sandbox, const std::string& name) const {
  RETURN_IF_ERROR(impl_->Ready());
  return impl_->Report(sandbox, name);
}

StatusOr<std::string> Delivery::LearnerJson(const std::string& sandbox, const std::string& name) const {
  RETURN_IF_ERROR(impl_->Ready());
  auto a = impl_->FindActivity(sandbox, name);
  if (!a) return NotFoundError("activity '" + name + "' does not exist in sandbox '" + sandbox + "'");
  auto entry = impl_->Learner(sandbox, name);
  if (!entry) return NotFoundError("activity '" + name + "' has no online learner (strategy " +
                                   std::string(StrategyName(a->strategy)) + ")");
  const learning::ProgressiveMetrics m = entry->learner->metrics();
  const auto vis = impl_->visibility.Read();
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("activity");
  w.String(name);
  w.Key("algorithm");
  w.String("ftrl-proximal");
  w.Key("updates");
  w.Uint(m.updates);
  w.Key("rejected");
  w.Uint(m.rejected);
  w.Key("published_version");
  w.Uint(m.published_version);
  auto num = [&](std::string_view k, double v) {
    w.Key(k);
    if (std::isfinite(v)) w.Double(v);
    else w.Null();
  };
  num("logloss", m.logloss);
  num("auc", m.auc);
  num("recent_logloss", m.recent_logloss);
  w.Key("visibility_ms_p50");
  w.Double(static_cast<double>(vis.QuantileNanos(0.5)) / 1e6);
  w.Key("visibility_ms_p99");
  w.Double(static_cast<double>(vis.QuantileNanos(0.99)) / 1e6);
  w.EndObject();
  return out;
}

void Delivery::OnEvent(const data::CommittedEvent& event) { impl_->OnEvent(event); }

void Delivery::AppendMetrics(std::string* out) const {
  auto line = [&](std::string_view name, std::string_view help, std::string_view type, double v) {
    out->append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name).append(" ");
    out->append(type).append("\n").append(name).append(" ");
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g\n", v);
    out->append(buf);
  };
  line("rtml_decisions_total", "Decisions made and logged.", "counter",
       static_cast<double>(impl_->decisions_total.load()));
  line("rtml_feedback_total", "Feedback requests received.", "counter",
       static_cast<double>(impl_->feedback_total.load()));
  line("rtml_goal_rewards_total", "Decisions closed by an ingested goal event.", "counter",
       static_cast<double>(impl_->goal_rewards_total.load()));
  line("rtml_window_closes_total", "Decisions closed with their default reward at the end of the window.", "counter",
       static_cast<double>(impl_->window_closes_total.load()));
  size_t open = 0;
  {
    std::lock_guard<std::mutex> lock(impl_->open_mu);
    open = impl_->open.size();
  }
  line("rtml_decisions_open", "Decisions waiting for a reward.", "gauge", static_cast<double>(open));
  const auto vis = impl_->visibility.Read();
  line("rtml_learner_visibility_seconds_p99", "Time from a learner update to its publication (p99).", "gauge",
       static_cast<double>(vis.QuantileNanos(0.99)) / 1e9);
  std::vector<std::pair<std::pair<std::string, std::string>, std::shared_ptr<LearnerEntry>>> entries;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& [k, e] : impl_->learners) entries.emplace_back(k, e);
  }
  if (entries.empty()) return;
  out->append("# HELP rtml_learner_logloss Progressive-validation log loss of an activity's online learner.\n"
              "# TYPE rtml_learner_logloss gauge\n");
  std::string auc = "# HELP rtml_learner_auc Progressive-validation AUC (recent window).\n# TYPE rtml_learner_auc gauge\n";
  std::string updates = "# HELP rtml_learner_updates_total Updates applied.\n# TYPE rtml_learner_updates_total counter\n";
  for (const auto& [k, e] : entries) {
    const auto m = e->learner->metrics();
    const std::string labels = "{sandbox=\"" + k.first + "\",activity=\"" + k.second + "\"} ";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g\n", std::isfinite(m.logloss) ? m.logloss : 0.0);
    out->append("rtml_learner_logloss").append(labels).append(buf);
    std::snprintf(buf, sizeof buf, "%.17g\n", std::isfinite(m.auc) ? m.auc : 0.0);
    auc.append("rtml_learner_auc").append(labels).append(buf);
    updates.append("rtml_learner_updates_total").append(labels).append(std::to_string(m.updates)).append("\n");
  }
  out->append(auc).append(updates);
}

}  // namespace rtml::decision
