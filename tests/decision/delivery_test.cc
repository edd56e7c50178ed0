// Tests of Delivery over real SQLite files in a temp dir: activities and
// segments, decisions (split, model, bandit), feedback and goal events, the
// reward window with an injected clock, the learning loop across restarts
// (shutdown snapshot, and snapshot + replay after a simulated crash),
// reports, durability at the API level and concurrency.
#include "decision/delivery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/sqlite.h"
#include "data/data_store.h"
#include "decision/allocation.h"
#include "decision/decision_log.h"

namespace rtml::decision {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr int64_t kStart = 1'700'000'000'000;  // epoch ms of the injected clock
constexpr double kZ = 1.959963984540054;

class TempDir {
 public:
  TempDir() {
    std::string t = (fs::temp_directory_path() / "rtml_delivery_test_XXXXXX").string();
    if (mkdtemp(t.data()) != nullptr) path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

json Parse(const StatusOr<std::string>& r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return json();
  return json::parse(*r);
}

template <class F>
bool WaitFor(F done, int timeout_ms = 5000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

// A deterministic scorer over named inputs: for "ranker",
//   score = price * (device == "mobile" ? -1 : 1) + boost
// (price and boost looked up through FeatureSource, so an experience's own
// feature wins over context.<name>); for "churn", score = churn_hint.
class TestScorer final : public ExperienceScorer {
 public:
  Status Check(const std::string& sandbox, const std::string& service, const std::string& output) const override {
    if (sandbox != "prod") return NotFoundError("service '" + service + "' does not exist in sandbox '" + sandbox + "'");
    if (service != "ranker" && service != "churn" && service != "broken") {
      return NotFoundError("service '" + service + "' does not exist");
    }
    if (!output.empty() && output != "probability") return NotFoundError("output '" + output + "' does not exist");
    return OkStatus();
  }
  Status Score(const std::string& sandbox, const std::string& service, const std::string& output,
               std::string_view identity, int64_t now_ms, std::span<const FeatureSource* const> rows,
               std::span<double> scores) override {
    EXPECT_EQ(sandbox, "prod");
    EXPECT_FALSE(identity.empty());
    EXPECT_GT(now_ms, 0);
    calls.fetch_add(1);
    last_output = output;
    if (service == "broken") return UnavailableError("service 'broken' is not ready");
    EXPECT_EQ(rows.size(), scores.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      const FeatureSource& row = *rows[i];
      if (service == "churn") {
        const FeatureValue* h = row.Find("churn_hint");
        scores[i] = h != nullptr ? h->number : 0;
        continue;
      }
      double s = 0;
      const FeatureValue* device = row.Find("device");
      const bool mobile = device != nullptr && device->is_string && device->text == "mobile";
      if (const FeatureValue* p = row.Find("price")) s += (mobile ? -1 : 1) * p->number;
      if (const FeatureValue* b = row.Find("boost")) s += b->number;
      scores[i] = s;
    }
    return OkStatus();
  }
  std::atomic<int> calls{0};
  std::string last_output;
};

// One row of a query against the delivery database, read with a separate
// read-only SQLite connection (what a restarted server would see).
struct DbRow {
  std::vector<std::string> text;
  std::vector<bool> null;
};

class DeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    options_.data_dir = dir_.path();
    options_.clock = [this] { return now_.load(); };
    options_.publish_interval_ms = 20;
    options_.sweep_interval_ms = 10;
    options_.snapshot_interval_ms = 3'600'000;  // only the shutdown snapshot unless a test asks
    OpenDelivery();
  }

  void OpenDelivery() { d_ = OpenAt(dir_.path()); }

  std::unique_ptr<Delivery> OpenAt(const std::string& path) {
    DeliveryOptions o = options_;
    o.data_dir = path;
    auto d = Delivery::Open(o, nullptr, &scorer_);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    if (!d.ok()) return nullptr;
    Status s = (*d)->Load();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return std::move(*d);
  }

  void Reopen() {
    d_.reset();
    OpenDelivery();
  }

  // A crash-consistent copy of what is committed now (as kill -9 would
  // leave it), opened as a second Delivery.
  std::unique_ptr<Delivery> CrashCopy(const TempDir& into) {
    auto db = sqlite::Database::Open(DbPath(), sqlite::Durability::kFull, /*read_only=*/true);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    Status s = (*db)->Exec("VACUUM INTO '" + into.path() + "/delivery.db'");
    EXPECT_TRUE(s.ok()) << s.ToString();
    return OpenAt(into.path());
  }

  std::string DbPath() const { return dir_.path() + "/delivery.db"; }

  std::vector<DbRow> Query(const std::string& sql, const std::vector<std::string>& params = {},
                           const std::string& path = "") const {
    std::vector<DbRow> rows;
    auto db = sqlite::Database::Open(path.empty() ? DbPath() : path, sqlite::Durability::kFull, true);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    if (!db.ok()) return rows;
    auto st = (*db)->Prepare(sql);
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    if (!st.ok()) return rows;
    for (size_t i = 0; i < params.size(); ++i) st->Bind(static_cast<int>(i + 1), std::string_view(params[i]));
    while (true) {
      auto more = st->Step();
      EXPECT_TRUE(more.ok());
      if (!more.ok() || !*more) break;
      DbRow r;
      for (int c = 0; c < st->ColumnCount(); ++c) {
        r.null.push_back(st->ColumnIsNull(c));
        r.text.push_back(st->ColumnIsNull(c) ? "" : st->ColumnText(c));
      }
      rows.push_back(std::move(r));
    }
    return rows;
  }

  int64_t Count(const std::string& sql, const std::vector<std::string>& params = {}, const std::string& path = "") {
    auto rows = Query(sql, params, path);
    return rows.empty() ? -1 : std::stoll(rows[0].text[0]);
  }

  json Put(const std::string& name, const std::string& body, const std::string& sandbox = "prod",
           bool* created_out = nullptr) {
    bool created = false;
    auto r = d_->PutActivity(sandbox, name, body, &created);
    if (created_out != nullptr) *created_out = created;
    return Parse(r);
  }

  json Decide(const json& body, const std::string& sandbox = "prod") {
    return Parse(d_->DecideAndWait(sandbox, body.dump()));
  }

  json Feedback(const std::string& id, double reward, const std::string& sandbox = "prod") {
    return Parse(d_->FeedbackAndWait(sandbox, json{{"decisionId", id}, {"reward", reward}}.dump()));
  }

  Status FeedbackStatus(const std::string& id, double reward, const std::string& sandbox = "prod") {
    return d_->FeedbackAndWait(sandbox, json{{"decisionId", id}, {"reward", reward}}.dump()).status();
  }

  json Learner(const std::string& name, Delivery* d = nullptr) {
    return Parse((d ? d : d_.get())->LearnerJson("prod", name));
  }

  // Waits until every update of the activity's learner is published.
  void WaitPublished(const std::string& name, Delivery* d = nullptr) {
    EXPECT_TRUE(WaitFor([&] {
      json l = Learner(name, d);
      return l["published_version"] == l["updates"];
    })) << Learner(name, d).dump();
  }

  // Scores a dry-run decision gives for `context` (no logging, no RNG in them).
  std::map<std::string, double> Scores(const std::string& name, const json& context, Delivery* d = nullptr) {
    json r = Parse((d ? d : d_.get())
                       ->DecideDryRun("prod", json{{"activity", name}, {"identity", "ECID:probe"}, {"context", context}}
                                                  .dump()));
    return r["scores"].get<std::map<std::string, double>>();
  }

  double Metric(const std::string& name) {
    std::string text;
    d_->AppendMetrics(&text);
    const std::string key = "\n" + name + " ";
    const size_t at = ("\n" + text).find(key);
    if (at == std::string::npos) return NAN;
    return std::stod(text.substr(at + key.size() - 1));
  }

  TempDir dir_;
  std::atomic<int64_t> now_{kStart};
  TestScorer scorer_;
  DeliveryOptions options_;
  std::unique_ptr<Delivery> d_;  // declared last: destroyed before what it uses
};

const char* kSplit = R"({"experiences": [{"id": "a", "content": {"title": "A"}}, {"id": "b", "content": {"title": "B"}},
                                         {"id": "c"}],
                         "strategy": {"type": "split", "weights": [1, 2, 1], "salt": "s1"}})";

std::string Bandit(const std::string& extra = "") {
  return R"({"experiences": [{"id": "a"}, {"id": "b", "features": {"price": 2}}],
             "strategy": {"type": "bandit", "epsilon": 0.5, "features": ["context."],
                          "learner": {"bits": 16, "alpha": 0.5}})" +
         extra + "}";
}

// ------------------------------------------------------------ activities ---

TEST_F(DeliveryTest, ActivitiesPutGetListDelete) {
  bool created = false;
  json put = Put("hero", kSplit, "prod", &created);
  EXPECT_TRUE(created);
  EXPECT_EQ(put["name"], "hero");
  EXPECT_EQ(put["strategy"], "split");
  EXPECT_EQ(put["experiences"], 3);
  EXPECT_EQ(put["created"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(put["updated"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(put["definition"], json::parse(kSplit));

  now_ += 1500;
  json again = Put("hero", kSplit, "prod", &created);
  EXPECT_FALSE(created);
  EXPECT_EQ(again["created"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(again["updated"], "2023-11-14T22:13:21.500Z");

  Put("other", kSplit);
  Put("elsewhere", kSplit, "staging");
  json list = Parse(d_->ListActivities("prod"));
  ASSERT_EQ(list["activities"].size(), 2u);
  EXPECT_EQ(list["activities"][0]["name"], "hero");
  EXPECT_EQ(list["activities"][1]["name"], "other");
  EXPECT_EQ(Parse(d_->ListActivities("nobody")), json::parse(R"({"activities": []})"));

  // Sandboxes are separate.
  auto missing = d_->GetActivity("staging", "hero");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "activity 'hero' does not exist in sandbox 'staging'");

  ASSERT_TRUE(d_->DeleteActivity("prod", "hero").ok());
  EXPECT_EQ(d_->GetActivity("prod", "hero").status().code(), StatusCode::kNotFound);
  Status again_delete = d_->DeleteActivity("prod", "hero");
  EXPECT_EQ(again_delete.code(), StatusCode::kNotFound);
  EXPECT_EQ(again_delete.message(), "activity 'hero' does not exist in sandbox 'prod'");
  EXPECT_EQ(Count("SELECT COUNT(*) FROM activities WHERE sandbox = 'prod'"), 1);

  // Deleted activities are gone after a restart; the others come back as they were.
  json other = Parse(d_->GetActivity("prod", "other"));
  Reopen();
  EXPECT_EQ(d_->GetActivity("prod", "hero").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Parse(d_->GetActivity("prod", "other")), other);
  EXPECT_EQ(Parse(d_->GetActivity("staging", "elsewhere"))["name"], "elsewhere");
}

TEST_F(DeliveryTest, PutActivityErrors) {
  bool created = true;
  auto bad = d_->PutActivity("prod", "hero", R"({"experiences": []})", &created);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), StartsWith("experiences: required"));

  auto model = d_->PutActivity("prod", "hero",
                               R"({"experiences": [{"id": "a"}], "strategy": {"type": "model", "service": "nope"}})",
                               &created);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(model.status().message(), "strategy.service: service 'nope' does not exist");

  auto output = d_->PutActivity(
      "prod", "hero",
      R"({"experiences": [{"id": "a"}], "strategy": {"type": "model", "service": "ranker", "output": "x"}})", &created);
  ASSERT_FALSE(output.ok());
  EXPECT_EQ(output.status().message(), "strategy.service: output 'x' does not exist");

  auto audience = d_->PutActivity("prod", "hero",
                                  R"({"audience": {"score.nope": {"$gt": 0.5}}, "experiences": [{"id": "a"}],
                                      "strategy": {"type": "split"}})",
                                  &created);
  ASSERT_FALSE(audience.ok());
  EXPECT_EQ(audience.status().message(), "audience: score.nope: service 'nope' does not exist");

  // Nothing was stored.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM activities"), 0);
  EXPECT_EQ(d_->GetActivity("prod", "hero").status().code(), StatusCode::kNotFound);
}

TEST_F(DeliveryTest, ModelActivityNeedsAScorer) {
  d_.reset();
  DeliveryOptions o = options_;
  auto d = Delivery::Open(o, nullptr, nullptr);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE((*d)->Load().ok());
  bool created = false;
  auto r = (*d)->PutActivity(
      "prod", "m", R"({"experiences": [{"id": "a"}], "strategy": {"type": "model", "service": "ranker"}})", &created);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "strategy.service: this server has no services");
}

// -------------------------------------------------------------- segments ---

TEST_F(DeliveryTest, SegmentsAreReferencedAndUpdatesReachActivities) {
  bool created = false;
  json seg = Parse(d_->PutSegment("prod", "mobile", R"({"condition": {"context.device": "mobile"}})", &created));
  EXPECT_TRUE(created);
  EXPECT_EQ(seg, json::parse(R"({"name": "mobile", "condition": {"context.device": "mobile"}, "used_by": []})"));

  // An activity may not name a segment that does not exist.
  auto unknown = d_->PutActivity("prod", "hero",
                                 R"({"audience": {"$segment": "tablet"}, "experiences": [{"id": "a"}],
                                     "strategy": {"type": "split"}})",
                                 &created);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("tablet"));

  Put("hero", R"({"audience": {"$segment": "mobile"}, "experiences": [{"id": "a"}], "strategy": {"type": "split"}})");
  EXPECT_EQ(Parse(d_->GetSegment("prod", "mobile"))["used_by"], json::parse(R"(["hero"])"));
  auto decide = [&](const std::string& device) {
    return Decide({{"activity", "hero"}, {"identity", "ECID:1"}, {"context", {{"device", device}}}});
  };
  EXPECT_EQ(decide("mobile")["experience"]["id"], "a");
  EXPECT_TRUE(decide("desktop")["decisionId"].is_null());

  // Updating the segment changes the activity's audience at once...
  seg = Parse(d_->PutSegment("prod", "mobile", R"({"condition": {"context.device": "desktop"}})", &created));
  EXPECT_FALSE(created);
  EXPECT_EQ(seg["condition"], json::parse(R"({"context.device": "desktop"})"));
  EXPECT_TRUE(decide("mobile")["decisionId"].is_null());
  EXPECT_EQ(decide("desktop")["experience"]["id"], "a");
  // ...and after a restart.
  Reopen();
  EXPECT_TRUE(decide("mobile")["decisionId"].is_null());
  EXPECT_EQ(decide("desktop")["experience"]["id"], "a");
  json list = Parse(d_->ListSegments("prod"));
  ASSERT_EQ(list["segments"].size(), 1u);
  EXPECT_EQ(list["segments"][0]["name"], "mobile");

  // Segments are per sandbox.
  EXPECT_EQ(d_->GetSegment("staging", "mobile").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(d_->GetSegment("staging", "mobile").status().message(),
            "segment 'mobile' does not exist in sandbox 'staging'");
}

TEST_F(DeliveryTest, SegmentErrors) {
  bool created = false;
  auto bad = d_->PutSegment("prod", "s", R"({"condition": {"context.x": {"$regex": "(["}}})", &created);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), StartsWith("condition: "));
  EXPECT_EQ(d_->GetSegment("prod", "s").status().code(), StatusCode::kNotFound);

  // A segment updated to refer to itself would make it unusable: rejected,
  // and the previous body stays.
  ASSERT_TRUE(d_->PutSegment("prod", "loop", R"({"condition": {"context.x": 1}})", &created).ok());
  auto self = d_->PutSegment("prod", "loop", R"({"condition": {"$segment": "loop"}})", &created);
  ASSERT_FALSE(self.ok());
  EXPECT_THAT(self.status().message(), HasSubstr("cycle"));
  EXPECT_EQ(Parse(d_->GetSegment("prod", "loop"))["condition"], json::parse(R"({"context.x": 1})"));
  ASSERT_TRUE(
      d_->PutActivity("prod", "hero",
                      R"({"audience": {"$segment": "loop"}, "experiences": [{"id": "a"}], "strategy": {"type": "split"}})",
                      &created)
          .ok());
}

TEST_F(DeliveryTest, DeleteSegmentConflictsWhileUsed) {
  bool created = false;
  ASSERT_TRUE(d_->PutSegment("prod", "inner", R"({"condition": {"context.device": "mobile"}})", &created).ok());
  ASSERT_TRUE(d_->PutSegment("prod", "outer", R"({"condition": {"$segment": "inner"}})", &created).ok());
  ASSERT_TRUE(d_->PutSegment("prod", "lone", R"({"condition": {"context.x": 1}})", &created).ok());
  Put("hero", R"({"audience": {"$segment": "outer"}, "experiences": [{"id": "a"}], "strategy": {"type": "split"}})");

  Status s = d_->DeleteSegment("prod", "outer");
  EXPECT_EQ(s.code(), StatusCode::kConflict);
  EXPECT_EQ(s.message(), "segment 'outer' is used by activity 'hero'");
  // Used transitively by the activity (through outer).
  s = d_->DeleteSegment("prod", "inner");
  EXPECT_EQ(s.code(), StatusCode::kConflict);
  EXPECT_EQ(s.message(), "segment 'inner' is used by activity 'hero'");

  ASSERT_TRUE(d_->DeleteActivity("prod", "hero").ok());
  s = d_->DeleteSegment("prod", "inner");
  EXPECT_EQ(s.code(), StatusCode::kConflict);
  EXPECT_EQ(s.message(), "segment 'inner' is used by segment 'outer'");

  ASSERT_TRUE(d_->DeleteSegment("prod", "lone").ok());
  ASSERT_TRUE(d_->DeleteSegment("prod", "outer").ok());
  ASSERT_TRUE(d_->DeleteSegment("prod", "inner").ok());
  s = d_->DeleteSegment("prod", "inner");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "segment 'inner' does not exist in sandbox 'prod'");
  EXPECT_EQ(Count("SELECT COUNT(*) FROM segments"), 0);
  Reopen();
  EXPECT_EQ(Parse(d_->ListSegments("prod")), json::parse(R"({"segments": []})"));
}

// ---------------------------------------------------------------- decide ---

TEST_F(DeliveryTest, SplitFollowsThePublishedAllocation) {
  Put("hero", kSplit);
  const std::vector<double> weights = {0.25, 0.5, 0.25};
  const char* ids[] = {"a", "b", "c"};
  std::map<std::string, int> seen;
  for (int i = 0; i < 60; ++i) {
    const std::string identity = "ECID:" + std::to_string(i * 7919);
    const bool dry = i % 2 == 1;
    const json body = {{"activity", "hero"}, {"identity", identity}};
    json r = dry ? Parse(d_->DecideDryRun("prod", body.dump())) : Decide(body);
    const int arm = PickByWeights(AllocationHash("hero", "s1", identity), weights);
    ASSERT_GE(arm, 0);
    EXPECT_EQ(r["experience"]["id"], ids[arm]) << identity;
    EXPECT_DOUBLE_EQ(r["probability"].get<double>(), weights[static_cast<size_t>(arm)]);
    EXPECT_EQ(r["probabilities"], json::parse(R"({"a": 0.25, "b": 0.5, "c": 0.25})"));
    EXPECT_FALSE(r.contains("scores"));
    ++seen[ids[arm]];
    // The same identity always gets the same experience.
    EXPECT_EQ(Parse(d_->DecideDryRun("prod", body.dump()))["experience"]["id"], ids[arm]);
  }
  EXPECT_EQ(seen.size(), 3u);
}

TEST_F(DeliveryTest, DecisionResponseAndLoggedRow) {
  Put("hero", kSplit);
  now_ += 42;
  json r = Decide({{"activity", "hero"}, {"identity", "ECID:7"}, {"context", {{"device", "mobile"}, {"n", 3}}}});
  const std::string id = r["decisionId"];
  EXPECT_THAT(id, StartsWith("dc_"));
  EXPECT_EQ(id.size(), 27u);
  EXPECT_EQ(r["activity"], "hero");
  EXPECT_EQ(r["strategy"], "split");
  const std::string exp = r["experience"]["id"];
  const json contents = {{"a", {{"title", "A"}}}, {"b", {{"title", "B"}}}, {"c", json::object()}};
  EXPECT_EQ(r["experience"]["content"], contents[exp]);
  EXPECT_TRUE(r.contains("probability"));

  // The row is in SQLite when DecideAndWait returns (a separate read-only
  // connection sees it), with the features used and the window's end.
  auto rows = Query("SELECT sandbox, activity, identity, experience, probability, features, scores, ts, expires, "
                    "reward, closed FROM decisions WHERE id = ?",
                    {id});
  ASSERT_EQ(rows.size(), 1u);
  const DbRow& row = rows[0];
  EXPECT_EQ(row.text[0], "prod");
  EXPECT_EQ(row.text[1], "hero");
  EXPECT_EQ(row.text[2], "ECID:7");
  EXPECT_EQ(row.text[3], exp);
  EXPECT_DOUBLE_EQ(std::stod(row.text[4]), r["probability"].get<double>());
  EXPECT_EQ(json::parse(row.text[5]), json::parse(R"({"context.device": "mobile", "context.n": 3})"));
  EXPECT_TRUE(row.null[6]);
  EXPECT_EQ(std::stoll(row.text[7]), kStart + 42);
  EXPECT_EQ(std::stoll(row.text[8]), kStart + 42 + 3'600'000);
  EXPECT_TRUE(row.null[9]);
  EXPECT_TRUE(row.null[10]);
  EXPECT_EQ(Metric("rtml_decisions_total"), 1);
  EXPECT_EQ(Metric("rtml_decisions_open"), 1);
}

TEST_F(DeliveryTest, DryRunLogsNothing) {
  Put("hero", kSplit);
  Put("bandit", Bandit());
  for (const char* name : {"hero", "bandit"}) {
    json r = Parse(d_->DecideDryRun("prod", json{{"activity", name}, {"identity", "ECID:1"}}.dump()));
    ASSERT_TRUE(r["decisionId"].is_string());
    auto fb = d_->FeedbackAndWait("prod", json{{"decisionId", r["decisionId"]}, {"reward", 1}}.dump());
    EXPECT_EQ(fb.status().code(), StatusCode::kNotFound);
  }
  json all = Parse(d_->DecideDryRun("prod", R"({"identity": "ECID:1"})"));
  EXPECT_EQ(all["decisions"].size(), 2u);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM decisions"), 0);
  EXPECT_EQ(Metric("rtml_decisions_total"), 0);
  EXPECT_EQ(Metric("rtml_decisions_open"), 0);
}

TEST_F(DeliveryTest, AudienceFiltersDecisions) {
  Put("hero", R"({"audience": {"context.device": {"$in": ["mobile", "tablet"]}},
                  "experiences": [{"id": "a"}], "strategy": {"type": "split"}})");
  json miss = Decide({{"activity", "hero"}, {"identity", "ECID:1"}, {"context", {{"device", "desktop"}}}});
  EXPECT_EQ(miss, json::parse(R"({"decisionId": null, "activity": "hero", "experience": null,
                                 "reason": "the identity is not in the activity's audience"})"));
  json none = Decide({{"activity", "hero"}, {"identity", "ECID:1"}});
  EXPECT_TRUE(none["decisionId"].is_null());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM decisions"), 0);
  json hit = Decide({{"activity", "hero"}, {"identity", "ECID:1"}, {"context", {{"device", "tablet"}}}});
  EXPECT_TRUE(hit["decisionId"].is_string());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM decisions"), 1);
}

TEST_F(DeliveryTest, WithoutAnActivityEveryMatchingOneIsDecidedByPriority) {
  const std::string exps = R"("experiences": [{"id": "x"}], "strategy": {"type": "split"})";
  Put("alpha", "{" + exps + R"(, "priority": 1})");
  Put("beta", "{" + exps + R"(, "priority": 5})");
  Put("gamma", "{" + exps + R"(, "priority": 5, "audience": {"context.page": "cart"}})");
  Put("delta", "{" + exps + "}");
  Put("aardvark", "{" + exps + R"(, "priority": 5})");
  Put("staging_only", "{" + exps + "}", "staging");
  json r = Decide({{"identity", "ECID:1"}, {"context", {{"page", "home"}}}});
  std::vector<std::string> order;
  for (const json& d : r["decisions"]) order.push_back(d["activity"]);
  EXPECT_EQ(order, (std::vector<std::string>{"aardvark", "beta", "alpha", "delta"}));
  // Each is its own logged decision.
  EXPECT_EQ(Count("SELECT COUNT(DISTINCT id) FROM decisions"), 4);
  r = Decide({{"identity", "ECID:1"}, {"context", {{"page", "cart"}}}});
  order.clear();
  for (const json& d : r["decisions"]) order.push_back(d["activity"]);
  EXPECT_EQ(order, (std::vector<std::string>{"aardvark", "beta", "gamma", "alpha", "delta"}));
  EXPECT_EQ(Decide({{"identity", "ECID:1"}}, "nobody"), json::parse(R"({"decisions": []})"));
}

TEST_F(DeliveryTest, DecideErrors) {
  Put("hero", kSplit);
  struct Case {
    std::string body;
    StatusCode code;
    std::string message;
  } cases[] = {
      {R"({"activity": "nope", "identity": "ECID:1"})", StatusCode::kNotFound,
       "activity 'nope' does not exist in sandbox 'prod'"},
      {R"({"activity": "hero"})", StatusCode::kInvalidArgument, R"(identity: required, "NS:ID" (e.g. "ECID:123"))"},
      {R"({"activity": "hero", "identity": "ECID"})", StatusCode::kInvalidArgument,
       R"(identity: expected "NS:ID" (e.g. "ECID:123"), got 'ECID')"},
      {R"({"activity": "hero", "identity": ":123"})", StatusCode::kInvalidArgument,
       R"(identity: expected "NS:ID" (e.g. "ECID:123"), got ':123')"},
      {R"({"activity": "hero", "identity": "ECID:"})", StatusCode::kInvalidArgument,
       R"(identity: expected "NS:ID" (e.g. "ECID:123"), got 'ECID:')"},
      {R"({"activity": "hero", "identity": "ECID:)" + std::string(600, '9') + "\"}", StatusCode::kInvalidArgument,
       R"(identity: expected "NS:ID" (e.g. "ECID:123"), got 'ECID:)" + std::string(59, '9') + "'"},
      {R"({"activity": "hero", "identity": 12})", StatusCode::kInvalidArgument, R"(identity: must be a string "NS:ID")"},
      {R"({"activity": 1, "identity": "ECID:1"})", StatusCode::kInvalidArgument, "activity: must be a non-empty string (omit it to decide every activity)"},
      {R"({"identity": "ECID:1", "context": [1]})", StatusCode::kInvalidArgument, "context: must be an object"},
      {R"({"identity": "ECID:1", "profile": {}})", StatusCode::kInvalidArgument,
       "unknown field 'profile' (expected: activity, identity, context)"},
      {R"([1])", StatusCode::kInvalidArgument, R"(request body must be {"identity": "NS:ID", "activity"?, "context"?})"},
  };
  for (const Case& c : cases) {
    auto r = d_->DecideAndWait("prod", c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), c.code) << c.body;
    EXPECT_EQ(r.status().message(), c.message) << c.body;
  }
  auto malformed = d_->DecideAndWait("prod", "{");
  ASSERT_FALSE(malformed.ok());
  EXPECT_THAT(malformed.status().message(), StartsWith("request body: malformed JSON ("));
  // The activity exists in prod only.
  auto other = d_->DecideAndWait("staging", R"({"activity": "hero", "identity": "ECID:1"})");
  EXPECT_EQ(other.status().message(), "activity 'hero' does not exist in sandbox 'staging'");
  EXPECT_EQ(Count("SELECT COUNT(*) FROM decisions"), 0);
}

TEST_F(DeliveryTest, ModelStrategyScoresEveryExperience) {
  Put("rank", R"({"experiences": [{"id": "cheap", "features": {"price": 1}}, {"id": "mid", "features": {"price": 5}},
                                  {"id": "dear", "features": {"price": 9}}, {"id": "boosted", "features": {"price": 2, "boost": 10}}],
                  "strategy": {"type": "model", "service": "ranker", "output": "probability"}})");
  // desktop: price + boost (the experience's own boost wins over context.boost).
  json r = Decide({{"activity", "rank"}, {"identity", "ECID:1"}, {"context", {{"device", "desktop"}, {"boost", 0.5}}}});
  EXPECT_EQ(r["strategy"], "model");
  EXPECT_EQ(r["scores"], json::parse(R"({"cheap": 1.5, "mid": 5.5, "dear": 9.5, "boosted": 12})"));
  EXPECT_EQ(r["experience"]["id"], "boosted");
  EXPECT_EQ(r["probability"], 1.0);
  EXPECT_FALSE(r.contains("probabilities"));
  EXPECT_EQ(scorer_.last_output, "probability");
  // mobile: -price + boost.
  r = Decide({{"activity", "rank"}, {"identity", "ECID:1"}, {"context", {{"device", "mobile"}}}});
  EXPECT_EQ(r["scores"], json::parse(R"({"cheap": -1, "mid": -5, "dear": -9, "boosted": 8})"));
  EXPECT_EQ(r["experience"]["id"], "boosted");
  // context.boost reaches only the experiences without their own boost.
  r = Decide({{"activity", "rank"}, {"identity", "ECID:1"}, {"context", {{"device", "mobile"}, {"boost", -20}}}});
  EXPECT_EQ(r["experience"]["id"], "boosted");
  EXPECT_EQ(Decide({{"activity", "rank"}, {"identity", "ECID:1"}, {"context", {{"device", "mobile"}, {"boost", 30}}}})
                ["experience"]["id"],
            "cheap");
  // The logged scores are the array in experience order.
  auto rows = Query("SELECT scores, probability FROM decisions WHERE id = ?", {r["decisionId"]});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(json::parse(rows[0].text[0]), json::parse("[-21, -25, -29, 8]"));
  EXPECT_EQ(rows[0].text[1], "1.0");
}

TEST_F(DeliveryTest, ScoringFailureIsReportedAndNothingLogged) {
  Put("rank", R"({"experiences": [{"id": "a"}], "strategy": {"type": "model", "service": "broken"}})");
  auto r = d_->DecideAndWait("prod", R"({"activity": "rank", "identity": "ECID:1"})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "activity 'rank': scoring with service 'broken': service 'broken' is not ready");
  EXPECT_EQ(Count("SELECT COUNT(*) FROM decisions"), 0);
}

TEST_F(DeliveryTest, AudienceCanReadAServiceScore) {
  Put("retain", R"({"audience": {"score.churn": {"$gt": 0.7}}, "experiences": [{"id": "offer"}],
                    "strategy": {"type": "split"}})");
  const int before = scorer_.calls.load();
  json low = Decide({{"activity", "retain"}, {"identity", "ECID:1"}, {"context", {{"churn_hint", 0.2}}}});
  EXPECT_TRUE(low["decisionId"].is_null());
  json high = Decide({{"activity", "retain"}, {"identity", "ECID:1"}, {"context", {{"churn_hint", 0.9}}}});
  EXPECT_EQ(high["experience"]["id"], "offer");
  EXPECT_EQ(scorer_.calls.load() - before, 2);
}

// -------------------------------------------------------------- feedback ---

TEST_F(DeliveryTest, RewardClosesADecisionOnce) {
  Put("hero", kSplit);
  json r = Decide({{"activity", "hero"}, {"identity", "ECID:1"}});
  const std::string id = r["decisionId"];
  now_ += 10;
  json fb = Feedback(id, 0.75);
  EXPECT_EQ(fb, (json{{"decisionId", id}, {"activity", "hero"}, {"experience", r["experience"]["id"]},
                      {"reward", 0.75}, {"closed", true}}));
  // Durable when acknowledged.
  auto rows = Query("SELECT reward, closed, close_reason, seq FROM decisions WHERE id = ?", {id});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].text[0], "0.75");
  EXPECT_EQ(std::stoll(rows[0].text[1]), kStart + 10);
  EXPECT_EQ(rows[0].text[2], "feedback");
  EXPECT_EQ(rows[0].text[3], "1");
  auto fbrows = Query("SELECT reward, event, source FROM feedback WHERE decision_id = ?", {id});
  ASSERT_EQ(fbrows.size(), 1u);
  EXPECT_EQ(fbrows[0].text[0], "0.75");
  EXPECT_TRUE(fbrows[0].null[1]);
  EXPECT_EQ(fbrows[0].text[2], "feedback");

  Status second = FeedbackStatus(id, 1);
  EXPECT_EQ(second.code(), StatusCode::kConflict);
  EXPECT_EQ(second.message(), "decision '" + id + "' is already closed (reward 0.75, feedback)");
  // The same answer from the database after a restart.
  Reopen();
  second = FeedbackStatus(id, 1);
  EXPECT_EQ(second.code(), StatusCode::kConflict);
  EXPECT_EQ(second.message(), "decision '" + id + "' is already closed (reward 0.75, feedback)");
  EXPECT_EQ(Count("SELECT COUNT(*) FROM feedback"), 1);
}

TEST_F(DeliveryTest, FeedbackForUnknownDecisionsAndOtherSandboxes) {
  Put("hero", kSplit);
  Status s = FeedbackStatus("dc_nope", 1);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "decision 'dc_nope' does not exist in sandbox 'prod'");

  const std::string id = Decide({{"activity", "hero"}, {"identity", "ECID:1"}})["decisionId"];
  s = FeedbackStatus(id, 1, "staging");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "decision '" + id + "' does not exist in sandbox 'staging'");
  // Still open in its own sandbox.
  EXPECT_EQ(Feedback(id, 1)["closed"], true);
  // A closed decision is not revealed to another sandbox either.
  s = FeedbackStatus(id, 1, "staging");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  Reopen();
  EXPECT_EQ(FeedbackStatus(id, 1, "staging").code(), StatusCode::kNotFound);
  EXPECT_EQ(FeedbackStatus(id, 1).code(), StatusCode::kConflict);
}

TEST_F(DeliveryTest, EventsAndGoals) {
  Put("hero", std::string(kSplit).insert(1, R"("goal": "commerce.purchase", )"));
  Put("nogoal", kSplit);
  const std::string id = Decide({{"activity", "hero"}, {"identity", "ECID:1"}})["decisionId"];
  const std::string other = Decide({{"activity", "nogoal"}, {"identity", "ECID:1"}})["decisionId"];

  json view = Parse(d_->FeedbackAndWait("prod", json{{"decisionId", id}, {"event", "page.view"}}.dump()));
  EXPECT_EQ(view, (json{{"decisionId", id}, {"activity", "hero"}, {"closed", false},
                        {"reason", "the event is not the activity's goal; recorded"}}));
  auto rows = Query("SELECT reward, event, source FROM feedback WHERE decision_id = ?", {id});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(rows[0].null[0]);
  EXPECT_EQ(rows[0].text[1], "page.view");
  EXPECT_EQ(rows[0].text[2], "event");
  EXPECT_TRUE(Query("SELECT closed FROM decisions WHERE id = ?", {id})[0].null[0]);

  // Without a goal, any event is only recorded.
  json none = Parse(d_->FeedbackAndWait("prod", json{{"decisionId", other}, {"event", "commerce.purchase"}}.dump()));
  EXPECT_EQ(none["closed"], false);

  json goal = Parse(d_->FeedbackAndWait("prod", json{{"decisionId", id}, {"event", "commerce.purchase"}}.dump()));
  EXPECT_EQ(goal["closed"], true);
  EXPECT_EQ(goal["reward"], 1.0);
  rows = Query("SELECT reward, close_reason FROM decisions WHERE id = ?", {id});
  EXPECT_EQ(rows[0].text[0], "1.0");
  EXPECT_EQ(rows[0].text[1], "goal");
  EXPECT_EQ(Count("SELECT COUNT(*) FROM feedback WHERE decision_id = ? AND event = 'commerce.purchase' AND "
                  "source = 'goal'",
                  {id}),
            1);
  Status again = d_->FeedbackAndWait("prod", json{{"decisionId", id}, {"event", "commerce.purchase"}}.dump()).status();
  EXPECT_EQ(again.code(), StatusCode::kConflict);
  EXPECT_EQ(again.message(), "decision '" + id + "' is already closed (reward 1, goal)");
  EXPECT_EQ(Metric("rtml_feedback_total"), 4);
}

TEST_F(DeliveryTest, FeedbackBodyErrors) {
  struct Case {
    std::string body, message;
  } cases[] = {
      {"[]", R"(request body must be {"decisionId", "reward"|"event"})"},
      {R"({"decisionId": 1, "reward": 1})", "decisionId: must be a string"},
      {R"({"reward": 1})", "decisionId: required"},
      {R"({"decisionId": "", "reward": 1})", "decisionId: required"},
      {R"({"decisionId": "dc_1", "reward": "1"})", "reward: must be a finite number with |reward| <= 1e9"},
      {R"({"decisionId": "dc_1", "reward": 2e9})", "reward: must be a finite number with |reward| <= 1e9"},
      {R"({"decisionId": "dc_1", "reward": -2e9})", "reward: must be a finite number with |reward| <= 1e9"},
      {R"({"decisionId": "dc_1", "event": ""})", "event: must be a non-empty event type"},
      {R"({"decisionId": "dc_1", "event": 3})", "event: must be a non-empty event type"},
      {R"({"decisionId": "dc_1", "score": 1})", "unknown field 'score' (expected: decisionId, reward, event)"},
      {R"({"decisionId": "dc_1"})", R"(exactly one of "reward" (a number) or "event" (an event type) is required)"},
      {R"({"decisionId": "dc_1", "reward": 1, "event": "x"})",
       R"(exactly one of "reward" (a number) or "event" (an event type) is required)"},
  };
  for (const Case& c : cases) {
    auto r = d_->FeedbackAndWait("prod", c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.body;
    EXPECT_EQ(r.status().message(), c.message) << c.body;
  }
  auto malformed = d_->FeedbackAndWait("prod", "{\"decisionId\":");
  EXPECT_THAT(malformed.status().message(), StartsWith("request body: malformed JSON ("));
}

TEST_F(DeliveryTest, IngestedGoalEventsCloseMatchingDecisions) {
  Put("hero", std::string(kSplit).insert(1, R"("goal": "commerce.purchase", )"));
  Put("hero2", std::string(kSplit).insert(1, R"("goal": "commerce.purchase", )"));
  Put("signup", std::string(kSplit).insert(1, R"("goal": "account.signup", )"));
  auto decide = [&](const std::string& activity, const std::string& identity) -> std::string {
    return Decide({{"activity", activity}, {"identity", identity}})["decisionId"];
  };
  const std::string d1 = decide("hero", "ECID:1");
  const std::string d2 = decide("hero2", "ECID:1");
  const std::string d3 = decide("signup", "ECID:1");
  const std::string d4 = decide("hero", "ECID:2");
  const std::string d5 = decide("hero", "ECID:3");
  auto event = [&](std::string_view sandbox, std::string_view type, std::vector<std::string> identities, int64_t ts) {
    data::CommittedEvent ev{sandbox, "events", type, identities, ts};
    d_->OnEvent(ev);
  };
  auto closed_reason = [&](const std::string& id) -> std::string {
    Status s = FeedbackStatus(id, 0.5);
    if (s.ok()) return "was open";
    return s.message();
  };

  // Wrong type, other identity, other sandbox, too early: nothing closes.
  event("prod", "page.view", {"ECID:1"}, kStart);
  event("prod", "commerce.purchase", {"ECID:9"}, kStart);
  event("staging", "commerce.purchase", {"ECID:1"}, kStart);
  // Stamped more than 60 s before the decision (client clock skew allowance).
  event("prod", "commerce.purchase", {"ECID:2"}, kStart - 60'001);
  EXPECT_EQ(Metric("rtml_goal_rewards_total"), 0);
  EXPECT_EQ(Metric("rtml_decisions_open"), 5);

  // One event closes every open decision of that identity with that goal.
  event("prod", "commerce.purchase", {"ECID:7", "ECID:1"}, kStart + 5);
  EXPECT_EQ(Metric("rtml_goal_rewards_total"), 2);
  EXPECT_EQ(closed_reason(d1), "decision '" + d1 + "' is already closed (reward 1, goal)");
  EXPECT_EQ(closed_reason(d2), "decision '" + d2 + "' is already closed (reward 1, goal)");
  EXPECT_EQ(closed_reason(d3), "was open");
  // At the skew limit it still counts.
  event("prod", "commerce.purchase", {"ECID:2"}, kStart - 60'000);
  EXPECT_EQ(closed_reason(d4), "decision '" + d4 + "' is already closed (reward 1, goal)");
  EXPECT_EQ(closed_reason(d5), "was open");
  EXPECT_TRUE(WaitFor([&] {
    return Count("SELECT COUNT(*) FROM feedback WHERE source = 'goal' AND event = 'commerce.purchase'") == 3;
  }));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM decisions WHERE close_reason = 'goal' AND reward = 1"), 3);
}

// ---------------------------------------------------------------- window ---

TEST_F(DeliveryTest, TheWindowClosesIdleDecisionsWithTheDefaultReward) {
  Put("hero", std::string(kSplit).insert(1, R"("reward_window": "1m", "default_reward": 0.25, )"));
  const std::string id = Decide({{"activity", "hero"}, {"identity", "ECID:1"}})["decisionId"];
  const std::string answered = Decide({{"activity", "hero"}, {"identity", "ECID:2"}})["decisionId"];
  EXPECT_EQ(Feedback(answered, 0.9)["closed"], true);
  // The sweeper runs every 10 ms: nothing closes before the window ends.
  now_ += 59'999;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Metric("rtml_window_closes_total"), 0);
  EXPECT_TRUE(Query("SELECT closed FROM decisions WHERE id = ?", {id})[0].null[0]);
  now_ += 1;
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT COUNT(*) FROM decisions WHERE closed IS NOT NULL") == 2; }));
  auto rows = Query("SELECT reward, close_reason, closed FROM decisions WHERE id = ?", {id});
  EXPECT_EQ(rows[0].text[0], "0.25");
  EXPECT_EQ(rows[0].text[1], "window");
  EXPECT_EQ(std::stoll(rows[0].text[2]), kStart + 60'000);
  EXPECT_EQ(Metric("rtml_window_closes_total"), 1);
  EXPECT_EQ(Metric("rtml_decisions_open"), 0);
  Status late = FeedbackStatus(id, 1);
  EXPECT_EQ(late.code(), StatusCode::kConflict);
  EXPECT_EQ(late.message(), "decision '" + id + "' is already closed (reward 0.25, window)");
  // The answered decision kept its own reward.
  EXPECT_EQ(Query("SELECT reward FROM decisions WHERE id = ?", {answered})[0].text[0], "0.9");
}

TEST_F(DeliveryTest, OpenDecisionsExpireAfterARestartToo) {
  Put("hero", std::string(kSplit).insert(1, R"("reward_window": "10s", "default_reward": -1, )"));
  const std::string id = Decide({{"activity", "hero"}, {"identity", "ECID:1"}})["decisionId"];
  Reopen();
  EXPECT_EQ(Metric("rtml_decisions_open"), 1);
  now_ += 10'000;
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT COUNT(*) FROM decisions WHERE close_reason = 'window'") == 1; }));
  EXPECT_EQ(Query("SELECT reward FROM decisions WHERE id = ?", {id})[0].text[0], "-1.0");
}

// -------------------------------------------------------------- learning ---

TEST_F(DeliveryTest, BanditLearnsFromFeedbackAndPublishesQuickly) {
  Put("bandit", Bandit());
  json l = Learner("bandit");
  EXPECT_EQ(l["updates"], 0);
  EXPECT_EQ(l["algorithm"], "ftrl-proximal");
  const json ctx = {{"device", "mobile"}};
  const auto before = Scores("bandit", ctx);
  EXPECT_EQ(before, (std::map<std::string, double>{{"a", 0.5}, {"b", 0.5}}));

  json r = Decide({{"activity", "bandit"}, {"identity", "ECID:1"}, {"context", ctx}});
  EXPECT_EQ(r["strategy"], "bandit");
  EXPECT_EQ(r["scores"], json::parse(R"({"a": 0.5, "b": 0.5})"));
  // Epsilon-greedy with 0.5 over 2 arms, ties to the first: 0.75 / 0.25.
  EXPECT_EQ(r["probabilities"], json::parse(R"({"a": 0.75, "b": 0.25})"));
  const std::string exp = r["experience"]["id"];
  EXPECT_EQ(r["probability"], exp == "a" ? 0.75 : 0.25);
  EXPECT_DOUBLE_EQ(std::stod(Query("SELECT probability FROM decisions WHERE id = ?", {r["decisionId"]})[0].text[0]),
                   exp == "a" ? 0.75 : 0.25);

  Feedback(r["decisionId"], 1);
  const auto t0 = std::chrono::steady_clock::now();
  // The update is applied once the close is durable, before the ack.
  EXPECT_EQ(Learner("bandit")["updates"], 1);
  ASSERT_TRUE(WaitFor([&] { return Learner("bandit")["published_version"] == 1; }, 1000));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000));
  const auto after = Scores("bandit", ctx);
  EXPECT_GT(after.at(exp), 0.5);
  // Report and metrics expose the learner.
  json report = Parse(d_->Report("prod", "bandit"));
  EXPECT_EQ(report["learner"]["updates"], 1);
  std::string metrics;
  d_->AppendMetrics(&metrics);
  EXPECT_THAT(metrics, HasSubstr("rtml_learner_updates_total{sandbox=\"prod\",activity=\"bandit\"} 1\n"));

  // A split activity has no learner.
  Put("hero", kSplit);
  auto none = d_->LearnerJson("prod", "hero");
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(none.status().message(), "activity 'hero' has no online learner (strategy split)");
  EXPECT_EQ(d_->LearnerJson("prod", "nope").status().code(), StatusCode::kNotFound);
}

// Decisions over a few contexts with a reward that depends on context and
// experience; returns the ids left open.
std::vector<std::string> Play(DeliveryTest* t, Delivery* d, int n, int first, int leave_open) {
  std::vector<std::string> open;
  for (int i = 0; i < n; ++i) {
    const std::string device = (first + i) % 3 == 0 ? "mobile" : ((first + i) % 3 == 1 ? "desktop" : "tablet");
    const json body = {{"activity", "bandit"},
                       {"identity", "ECID:" + std::to_string(first + i)},
                       {"context", {{"device", device}, {"visits", (first + i) % 5}}}};
    auto r = d->DecideAndWait("prod", body.dump());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) continue;
    json dec = json::parse(*r);
    if (i >= n - leave_open) {
      open.push_back(dec["decisionId"]);
      continue;
    }
    const bool good = (device == "mobile") == (dec["experience"]["id"] == "a");
    auto fb = d->FeedbackAndWait("prod", json{{"decisionId", dec["decisionId"]}, {"reward", good ? 1 : 0}}.dump());
    EXPECT_TRUE(fb.ok()) << fb.status().ToString();
  }
  (void)t;
  return open;
}

const json kProbes[] = {{{"device", "mobile"}, {"visits", 1}},
                        {{"device", "desktop"}, {"visits", 3}},
                        {{"device", "tablet"}, {"visits", 0}}};

TEST_F(DeliveryTest, ShutdownSnapshotRestoresTheLearnerAndOpenDecisionsSurvive) {
  Put("bandit", Bandit());
  std::vector<std::string> open = Play(this, d_.get(), 20, 0, 5);
  WaitPublished("bandit");
  json before = Learner("bandit");
  EXPECT_EQ(before["updates"], 15);
  std::vector<std::map<std::string, double>> scores;
  for (const json& p : kProbes) scores.push_back(Scores("bandit", p));
  EXPECT_NE(scores[0].at("a"), 0.5);

  Reopen();
  // The destructor saved a snapshot holding every close so far.
  auto snap = Query("SELECT seq FROM learners WHERE sandbox = 'prod' AND activity = 'bandit'");
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].text[0], "15");
  json after = Learner("bandit");
  EXPECT_EQ(after["updates"], 15);
  EXPECT_EQ(after["published_version"], 15);
  EXPECT_EQ(after["logloss"], before["logloss"]);
  for (size_t i = 0; i < std::size(kProbes); ++i) {
    const auto s = Scores("bandit", kProbes[i]);
    EXPECT_DOUBLE_EQ(s.at("a"), scores[i].at("a")) << i;
    EXPECT_DOUBLE_EQ(s.at("b"), scores[i].at("b")) << i;
  }
  // The five open decisions survived the restart, can be closed, and teach the learner.
  EXPECT_EQ(Metric("rtml_decisions_open"), 5);
  for (const std::string& id : open) EXPECT_EQ(Feedback(id, 1)["closed"], true);
  EXPECT_EQ(Learner("bandit")["updates"], 20);
  EXPECT_EQ(Count("SELECT MAX(seq) FROM decisions"), 20);
}

TEST_F(DeliveryTest, ACrashLosesNoLearningSnapshotPlusReplay) {
  Put("bandit", Bandit());
  auto check_same = [&](Delivery* copy, int updates) {
    WaitPublished("bandit");
    EXPECT_EQ(Learner("bandit")["updates"], updates);
    EXPECT_EQ(Learner("bandit", copy)["updates"], updates);
    EXPECT_EQ(Learner("bandit", copy)["published_version"], updates);
    EXPECT_EQ(Learner("bandit", copy)["logloss"], Learner("bandit")["logloss"]);
    for (size_t i = 0; i < std::size(kProbes); ++i) {
      const auto want = Scores("bandit", kProbes[i]);
      const auto got = Scores("bandit", kProbes[i], copy);
      EXPECT_DOUBLE_EQ(got.at("a"), want.at("a")) << i;
      EXPECT_DOUBLE_EQ(got.at("b"), want.at("b")) << i;
    }
  };
  // 1. Only the learner's empty starting snapshot: every close is replayed.
  std::vector<std::string> open = Play(this, d_.get(), 20, 0, 5);
  {
    TempDir crash;
    auto copy = CrashCopy(crash);
    ASSERT_NE(copy, nullptr);
    EXPECT_EQ(Count("SELECT seq FROM learners", {}, crash.path() + "/delivery.db"), 0);
    check_same(copy.get(), 15);
  }
  // 2. A shutdown snapshot at seq 15, then closes after it: the five
  // decisions still open and ten new ones.
  Reopen();
  for (const std::string& id : open) Feedback(id, 0);
  Play(this, d_.get(), 10, 100, 0);
  {
    TempDir crash;
    auto copy = CrashCopy(crash);
    ASSERT_NE(copy, nullptr);
    auto snap = Query("SELECT seq FROM learners", {}, crash.path() + "/delivery.db");
    ASSERT_EQ(snap.size(), 1u);
    EXPECT_EQ(snap[0].text[0], "15");  // the replay supplied the other 15
    check_same(copy.get(), 30);
  }
  // 3. A periodic snapshot taken while running is as good as a shutdown one.
  d_.reset();
  options_.snapshot_interval_ms = 30;
  OpenDelivery();
  Play(this, d_.get(), 6, 200, 0);
  ASSERT_TRUE(WaitFor([&] { return Count("SELECT seq FROM learners") == 36; }));
  Play(this, d_.get(), 4, 300, 0);
  {
    TempDir crash;
    auto copy = CrashCopy(crash);
    ASSERT_NE(copy, nullptr);
    check_same(copy.get(), 40);
  }
}

TEST_F(DeliveryTest, ANewLearnerDoesNotLearnFromDecisionsBeforeIt) {
  // Decisions of a split activity, closed; then the activity becomes a bandit.
  Put("bandit", R"({"experiences": [{"id": "a"}, {"id": "b", "features": {"price": 2}}], "strategy": {"type": "split"}})");
  Play(this, d_.get(), 8, 0, 0);
  Put("bandit", Bandit());
  EXPECT_EQ(Learner("bandit")["updates"], 0);
  {
    TempDir crash;
    auto copy = CrashCopy(crash);
    ASSERT_NE(copy, nullptr);
    EXPECT_EQ(Learner("bandit", copy.get())["updates"], 0);
  }
  Play(this, d_.get(), 3, 50, 0);
  EXPECT_EQ(Learner("bandit")["updates"], 3);
  {
    TempDir crash;
    auto copy = CrashCopy(crash);
    ASSERT_NE(copy, nullptr);
    EXPECT_EQ(Learner("bandit", copy.get())["updates"], 3);
  }
  // Changing the learner's options starts a new learner, also after a crash.
  Put("bandit", Bandit().replace(Bandit().find("\"alpha\": 0.5"), 12, "\"alpha\": 0.3"));
  EXPECT_EQ(Learner("bandit")["updates"], 0);
  {
    TempDir crash;
    auto copy = CrashCopy(crash);
    ASSERT_NE(copy, nullptr);
    EXPECT_EQ(Learner("bandit", copy.get())["updates"], 0);
  }
  // Deleting and re-creating it too.
  Play(this, d_.get(), 2, 70, 0);
  ASSERT_TRUE(d_->DeleteActivity("prod", "bandit").ok());
  Put("bandit", Bandit());
  EXPECT_EQ(Learner("bandit")["updates"], 0);
  Reopen();
  EXPECT_EQ(Learner("bandit")["updates"], 0);
  // Same options as before: the learner is kept.
  Play(this, d_.get(), 2, 80, 0);
  Put("bandit", Bandit(R"(, "priority": 3)"));
  EXPECT_EQ(Learner("bandit")["updates"], 2);
}

TEST_F(DeliveryTest, DecisionsOfAReplacedLearnerDoNotTeachItsSuccessor) {
  Put("bandit", Bandit());
  // Two decisions scored by the first learner stay open across the change.
  std::vector<std::string> open = Play(this, d_.get(), 2, 0, 2);
  ASSERT_EQ(open.size(), 2u);
  Put("bandit", Bandit().replace(Bandit().find("\"alpha\": 0.5"), 12, "\"alpha\": 0.3"));
  for (const std::string& id : open) Feedback(id, 1);
  EXPECT_EQ(Learner("bandit")["updates"], 0);  // live
  TempDir crash;
  auto copy = CrashCopy(crash);
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(Learner("bandit", copy.get())["updates"], 0);  // replay agrees
  // Decisions of the new learner teach it, live and on replay.
  Play(this, d_.get(), 3, 10, 0);
  EXPECT_EQ(Learner("bandit")["updates"], 3);
  TempDir crash2;
  auto copy2 = CrashCopy(crash2);
  ASSERT_NE(copy2, nullptr);
  EXPECT_EQ(Learner("bandit", copy2.get())["updates"], 3);
}

TEST_F(DeliveryTest, ChangingExperienceFeaturesStartsANewLearner) {
  Put("bandit", Bandit());
  Play(this, d_.get(), 3, 0, 0);
  EXPECT_EQ(Learner("bandit")["updates"], 3);
  std::string changed = Bandit();
  changed.replace(changed.find("\"price\": 2"), 10, "\"price\": 9");
  Put("bandit", changed);
  EXPECT_EQ(Learner("bandit")["updates"], 0);
  // Adding an experience keeps what was learned about the others.
  Play(this, d_.get(), 2, 20, 0);
  std::string more = changed;
  more.replace(more.find("]"), 1, R"(, {"id": "c", "features": {"price": 4}}])");
  Put("bandit", more);
  EXPECT_EQ(Learner("bandit")["updates"], 2);
}

TEST_F(DeliveryTest, OneBrokenActivityDoesNotStopTheOthers) {
  Put("ok", R"({"experiences": [{"id": "x"}], "strategy": {"type": "split"}})");
  Put("rank", R"({"experiences": [{"id": "a"}], "strategy": {"type": "model", "service": "broken"}, "priority": 9})");
  json r = Decide({{"identity", "ECID:1"}});
  ASSERT_EQ(r["decisions"].size(), 1u);
  EXPECT_EQ(r["decisions"][0]["activity"], "ok");
  ASSERT_EQ(r["errors"].size(), 1u);
  EXPECT_EQ(r["errors"][0]["activity"], "rank");
  EXPECT_EQ(r["errors"][0]["code"], "UNAVAILABLE");
  EXPECT_THAT(r["errors"][0]["error"].get<std::string>(), HasSubstr("service 'broken' is not ready"));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM decisions"), 1);
}

TEST_F(DeliveryTest, NothingIsServedBeforeLoad) {
  auto d = Delivery::Open(options_, nullptr, &scorer_);
  ASSERT_TRUE(d.ok());
  auto r = (*d)->DecideAndWait("prod", R"({"identity": "ECID:1"})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  bool created = false;
  EXPECT_EQ((*d)->PutActivity("prod", "x", R"({"experiences": [{"id": "a"}], "strategy": {"type": "split"}})",
                              &created).status().code(),
            StatusCode::kUnavailable);
  EXPECT_EQ((*d)->Report("prod", "x").status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE((*d)->Load().ok());
  EXPECT_TRUE((*d)->DecideAndWait("prod", R"({"identity": "ECID:1"})").ok());
}

// ---------------------------------------------------------------- report ---

struct ExpectedArm {
  int decisions = 0, rewarded = 0;
  double sum = 0, sum_sq = 0;
  bool binary = true;
};

void CheckArm(const json& e, const ExpectedArm& want) {
  SCOPED_TRACE(e.dump());
  EXPECT_EQ(e["decisions"], want.decisions);
  EXPECT_EQ(e["rewarded"], want.rewarded);
  EXPECT_DOUBLE_EQ(e["rewards"].get<double>(), want.sum);
  if (want.rewarded == 0) {
    EXPECT_TRUE(e["rate"].is_null());
    EXPECT_TRUE(e["interval95"].empty());
    return;
  }
  const double n = want.rewarded, p = want.sum / n;
  EXPECT_DOUBLE_EQ(e["rate"].get<double>(), p);
  double low, high;
  if (want.binary) {
    EXPECT_EQ(e["interval_method"], "wilson");
    const double z2 = kZ * kZ;
    const double center = (p + z2 / (2 * n)) / (1 + z2 / n);
    const double half = kZ * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
    low = std::max(0.0, center - half);
    high = std::min(1.0, center + half);
  } else {
    EXPECT_EQ(e["interval_method"], "normal");
    const double var = n > 1 ? (want.sum_sq - want.sum * want.sum / n) / (n - 1) : 0;
    low = p - kZ * std::sqrt(var / n);
    high = p + kZ * std::sqrt(var / n);
  }
  ASSERT_EQ(e["interval95"].size(), 2u);
  EXPECT_NEAR(e["interval95"][0].get<double>(), low, 1e-12);
  EXPECT_NEAR(e["interval95"][1].get<double>(), high, 1e-12);
}

TEST_F(DeliveryTest, ReportForASplitActivity) {
  Put("hero", R"({"experiences": [{"id": "a"}, {"id": "b"}, {"id": "never"}],
                  "strategy": {"type": "split", "weights": [1, 1, 0]}})");
  std::map<std::string, ExpectedArm> want;
  int closed = 0;
  double total = 0;
  for (int i = 0; i < 40; ++i) {
    json r = Decide({{"activity", "hero"}, {"identity", "ECID:" + std::to_string(i)}});
    ExpectedArm& arm = want[r["experience"]["id"]];
    ++arm.decisions;
    if (i % 7 == 6) continue;  // left open
    const double reward = (i % 3 == 0 || (r["experience"]["id"] == "b" && i % 2 == 0)) ? 1 : 0;
    Feedback(r["decisionId"], reward);
    ++arm.rewarded;
    arm.sum += reward;
    ++closed;
    total += reward;
  }
  ASSERT_EQ(want.size(), 2u);
  json report = Parse(d_->Report("prod", "hero"));
  EXPECT_EQ(report["activity"], "hero");
  EXPECT_EQ(report["strategy"], "split");
  ASSERT_EQ(report["experiences"].size(), 3u);
  EXPECT_EQ(report["experiences"][0]["id"], "a");
  CheckArm(report["experiences"][0], want["a"]);
  CheckArm(report["experiences"][1], want["b"]);
  CheckArm(report["experiences"][2], ExpectedArm{});
  EXPECT_EQ(report["decisions"], 40);
  EXPECT_EQ(report["rewarded"], closed);
  EXPECT_DOUBLE_EQ(report["rate"].get<double>(), total / closed);
  // The target policy is the configured split, the same as the logging one:
  // every weight is 1 and IPS = SNIPS = the observed mean.
  const json& op = report["off_policy"];
  EXPECT_EQ(op["policy"], "current");
  EXPECT_EQ(op["n"], closed);
  EXPECT_NEAR(op["ips"].get<double>(), total / closed, 1e-12);
  EXPECT_NEAR(op["snips"].get<double>(), total / closed, 1e-12);
  EXPECT_NEAR(op["effective_sample_size"].get<double>(), closed, 1e-9);
  EXPECT_EQ(op["ips_interval95"].size(), 2u);
  EXPECT_FALSE(report.contains("learner"));

  auto missing = d_->Report("prod", "nope");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "activity 'nope' does not exist in sandbox 'prod'");
}

TEST_F(DeliveryTest, ReportUsesANormalIntervalForNonBinaryRewards) {
  Put("rev", R"({"experiences": [{"id": "only"}, {"id": "binary"}], "strategy": {"type": "split", "weights": [1, 0]}})");
  const double rewards[] = {0.5, 2, 3.5, 1, 0};
  ExpectedArm want;
  for (double reward : rewards) {
    json r = Decide({{"activity", "rev"}, {"identity", "ECID:" + std::to_string(want.decisions)}});
    ASSERT_EQ(r["experience"]["id"], "only");
    Feedback(r["decisionId"], reward);
    ++want.decisions;
    ++want.rewarded;
    want.sum += reward;
    want.sum_sq += reward * reward;
  }
  want.binary = false;
  json report = Parse(d_->Report("prod", "rev"));
  CheckArm(report["experiences"][0], want);
  EXPECT_NEAR(report["off_policy"]["ips"].get<double>(), want.sum / want.rewarded, 1e-12);
  // One reward: no spread, the interval is the mean itself.
  Put("one", R"({"experiences": [{"id": "x"}], "strategy": {"type": "split"}})");
  Feedback(Decide({{"activity", "one"}, {"identity", "ECID:1"}})["decisionId"], 2.5);
  report = Parse(d_->Report("prod", "one"));
  EXPECT_EQ(report["experiences"][0]["interval_method"], "normal");
  EXPECT_EQ(report["experiences"][0]["interval95"], json::parse("[2.5, 2.5]"));
}

TEST_F(DeliveryTest, ReportOffPolicyForABandit) {
  Put("bandit", Bandit());
  struct Logged {
    std::string device, experience;
    double p, reward;
  };
  std::vector<Logged> log;
  for (int i = 0; i < 40; ++i) {
    const std::string device = i % 2 == 0 ? "mobile" : "desktop";
    json r = Decide({{"activity", "bandit"}, {"identity", "ECID:" + std::to_string(i)}, {"context", {{"device", device}}}});
    const std::string exp = r["experience"]["id"];
    const double reward = (device == "mobile") == (exp == "a") ? 1 : 0;
    if (i < 36) {
      Feedback(r["decisionId"], reward);
      log.push_back({device, exp, r["probability"].get<double>(), reward});
    }
  }
  WaitPublished("bandit");
  // The target policy is the learner's current one: its probabilities are
  // what a dry-run decision shows for the same context.
  std::map<std::string, json> target;
  for (const char* device : {"mobile", "desktop"}) {
    target[device] = Parse(d_->DecideDryRun("prod", json{{"activity", "bandit"}, {"identity", "ECID:x"},
                                                         {"context", {{"device", device}}}}
                                                        .dump()))["probabilities"];
  }
  double sum_wr = 0, sum_w = 0;
  for (const Logged& l : log) {
    const double w = target[l.device][l.experience].get<double>() / l.p;
    sum_wr += w * l.reward;
    sum_w += w;
  }
  json report = Parse(d_->Report("prod", "bandit"));
  const json& op = report["off_policy"];
  EXPECT_EQ(op["n"], log.size());
  EXPECT_NEAR(op["ips"].get<double>(), sum_wr / static_cast<double>(log.size()), 1e-9);
  EXPECT_NEAR(op["snips"].get<double>(), sum_wr / sum_w, 1e-9);
  EXPECT_EQ(report["learner"]["updates"], 36);
  EXPECT_EQ(report["decisions"], 40);
  EXPECT_EQ(report["rewarded"], 36);
}

TEST_F(DeliveryTest, ReportOffPolicyForAModel) {
  Put("rank", R"({"experiences": [{"id": "cheap", "features": {"price": 1}}, {"id": "dear", "features": {"price": 9}}],
                  "strategy": {"type": "model", "service": "ranker"}})");
  double sum = 0;
  for (int i = 0; i < 6; ++i) {
    json r = Decide({{"activity", "rank"}, {"identity", "ECID:1"},
                     {"context", {{"device", i % 2 ? "mobile" : "desktop"}}}});
    EXPECT_EQ(r["experience"]["id"], i % 2 ? "cheap" : "dear");
    Feedback(r["decisionId"], i % 3 == 0 ? 1 : 0);
    sum += i % 3 == 0 ? 1 : 0;
  }
  json op = Parse(d_->Report("prod", "rank"))["off_policy"];
  EXPECT_EQ(op["n"], 6);
  EXPECT_NEAR(op["ips"].get<double>(), sum / 6, 1e-12);
  EXPECT_NEAR(op["snips"].get<double>(), sum / 6, 1e-12);
}

// ----------------------------------------------------------- concurrency ---

TEST_F(DeliveryTest, ConcurrentDecisionsAndFeedbackStayConsistent) {
  Put("bandit", Bandit());
  constexpr int kThreads = 4, kPerThread = 40;
  std::atomic<int> rewards{0}, failures{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string device = (i + t) % 2 ? "mobile" : "desktop";
        const json body = {{"activity", "bandit"},
                           {"identity", "ECID:" + std::to_string(t * 1000 + i)},
                           {"context", {{"device", device}}}};
        auto r = d_->DecideAndWait("prod", body.dump());
        if (!r.ok()) {
          ++failures;
          continue;
        }
        json dec = json::parse(*r);
        const int reward = (device == "mobile") == (dec["experience"]["id"] == "a") ? 1 : 0;
        rewards += reward;
        auto fb = d_->FeedbackAndWait("prod", json{{"decisionId", dec["decisionId"]}, {"reward", reward}}.dump());
        if (!fb.ok()) ++failures;
      }
    });
  }
  // Readers at the same time.
  std::thread reader([&] {
    while (!stop.load()) {
      if (!d_->Report("prod", "bandit").ok()) ++failures;
      if (!d_->DecideDryRun("prod", R"({"activity": "bandit", "identity": "ECID:r"})").ok()) ++failures;
      std::string m;
      d_->AppendMetrics(&m);
    }
  });
  for (auto& th : threads) th.join();
  stop = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  constexpr int kTotal = kThreads * kPerThread;
  json report = Parse(d_->Report("prod", "bandit"));
  EXPECT_EQ(report["decisions"], kTotal);
  EXPECT_EQ(report["rewarded"], kTotal);
  double sum = 0;
  for (const json& e : report["experiences"]) sum += e["rewards"].get<double>();
  EXPECT_EQ(sum, rewards.load());
  EXPECT_EQ(report["learner"]["updates"], kTotal);
  EXPECT_EQ(Metric("rtml_decisions_total"), kTotal);
  EXPECT_EQ(Metric("rtml_feedback_total"), kTotal);
  EXPECT_EQ(Metric("rtml_decisions_open"), 0);
  EXPECT_EQ(Count("SELECT COUNT(DISTINCT seq) FROM decisions WHERE seq IS NOT NULL"), kTotal);
  EXPECT_EQ(Count("SELECT MAX(seq) FROM decisions"), kTotal);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM feedback"), kTotal);
  // And a restart sees the same learner.
  WaitPublished("bandit");
  const auto scores = Scores("bandit", {{"device", "mobile"}});
  Reopen();
  EXPECT_EQ(Learner("bandit")["updates"], kTotal);
  const auto again = Scores("bandit", {{"device", "mobile"}});
  EXPECT_DOUBLE_EQ(again.at("a"), scores.at("a"));
  EXPECT_DOUBLE_EQ(again.at("b"), scores.at("b"));
}

TEST_F(DeliveryTest, AsyncDecideCallsDoneOnceDurable) {
  Put("hero", kSplit);
  std::promise<StatusOr<std::string>> p;
  auto f = p.get_future();
  d_->Decide("prod", R"({"activity": "hero", "identity": "ECID:1"})",
             [&](StatusOr<std::string> r) { p.set_value(std::move(r)); });
  auto r = f.get();
  ASSERT_TRUE(r.ok());
  const std::string id = json::parse(*r)["decisionId"];
  EXPECT_EQ(Count("SELECT COUNT(*) FROM decisions WHERE id = ?", {id}), 1);
  // Errors are reported at once, through the same callback.
  std::promise<StatusOr<std::string>> q;
  d_->Feedback("prod", "{}", [&](StatusOr<std::string> s) { q.set_value(std::move(s)); });
  EXPECT_EQ(q.get_future().get().status().code(), StatusCode::kInvalidArgument);
}

// ----------------------------------------------------------- decision log ---

TEST(DecisionLog, RunsOpsInOrderAndReportsEachStatus) {
  TempDir dir;
  const std::string path = dir.path() + "/log.db";
  std::vector<int> order;
  std::mutex order_mu;
  int failed = 0;
  {
    auto log = DecisionLog::Open(path, 8);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ASSERT_TRUE((*log)->SubmitAndWait([](DecisionLog::Writer& w) { return w.db().Exec("CREATE TABLE t (x INTEGER)"); })
                    .ok());
    for (int i = 0; i < 50; ++i) {
      (*log)->Submit(
          [i](DecisionLog::Writer& w) -> Status {
            if (i == 17) return InvalidArgumentError("op 17 refuses");
            ASSIGN_OR_RETURN(sqlite::Statement * st, w.Statement("INSERT INTO t (x) VALUES (?)"));
            st->Bind(1, static_cast<int64_t>(i));
            return st->Run();
          },
          [&, i](Status s) {
            std::lock_guard<std::mutex> lock(order_mu);
            order.push_back(i);
            if (!s.ok()) {
              ++failed;
              EXPECT_EQ(s.message(), "op 17 refuses");
            }
          });
    }
    // A bad statement fails only its own op.
    Status bad = (*log)->SubmitAndWait([](DecisionLog::Writer& w) { return w.Statement("SELECT nope FROM").status(); });
    EXPECT_FALSE(bad.ok());
    // The counters are updated after a group's callbacks.
    EXPECT_TRUE(WaitFor([&] { return (*log)->ops() == 52u; }));
    EXPECT_LE((*log)->commits(), 52u);
    EXPECT_GE((*log)->commits(), 52u / 8);
    // Queued ops still run when the log is destroyed.
    for (int i = 50; i < 60; ++i) {
      (*log)->Submit(
          [i](DecisionLog::Writer& w) -> Status {
            ASSIGN_OR_RETURN(sqlite::Statement * st, w.Statement("INSERT INTO t (x) VALUES (?)"));
            st->Bind(1, static_cast<int64_t>(i));
            return st->Run();
          },
          [&, i](Status s) {
            EXPECT_TRUE(s.ok());
            std::lock_guard<std::mutex> lock(order_mu);
            order.push_back(i);
          });
    }
  }
  std::vector<int> want(60);
  for (int i = 0; i < 60; ++i) want[static_cast<size_t>(i)] = i;
  EXPECT_EQ(order, want);
  EXPECT_EQ(failed, 1);
  auto db = sqlite::Database::Open(path, sqlite::Durability::kFull, true);
  ASSERT_TRUE(db.ok());
  auto st = (*db)->Prepare("SELECT COUNT(*), SUM(x) FROM t");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->Step());
  EXPECT_EQ(st->ColumnInt(0), 59);
  EXPECT_EQ(st->ColumnInt(1), 59 * 60 / 2 - 17);
}

}  // namespace
}  // namespace rtml::decision
