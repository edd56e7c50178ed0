// Micro-benchmarks of the condition language and traffic allocation:
// evaluating a typical 4-clause audience (matching, and failing on its first
// clause), a regex rule, a 10,000-entry $in, compiling the audience, and the
// allocation hash with the weighted pick. Inputs rotate through several
// parsed profiles so no result is constant.
#include <benchmark/benchmark.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "decision/allocation.h"
#include "decision/condition.h"

namespace rtml::decision {
namespace {

constexpr char kAudience[] = R"({
  "profile.country": {"$in": ["US", "CA"]},
  "score.churn": {"$gt": 0.7},
  "context.device": "mobile",
  "computed.purchases_7d": {"$gte": 2}})";

// Parsed documents for one request; the parsers own the memory.
struct Request {
  simdjson::dom::parser parsers[4];
  simdjson::dom::element elements[4];
  ConditionInput input;

  Request(const std::string& profile, const std::string& computed, const std::string& context,
          const std::string& score) {
    const std::string* texts[4] = {&profile, &computed, &context, &score};
    for (int i = 0; i < 4; ++i) {
      if (parsers[i].parse(*texts[i]).get(elements[i]) != simdjson::SUCCESS) std::abort();
    }
    input = {&elements[0], &elements[1], &elements[2], &elements[3]};
  }
};

// Eight requests with realistic profile sizes; `country` is the first clause.
std::vector<std::unique_ptr<Request>> MakeRequests(const std::string& country) {
  std::vector<std::unique_ptr<Request>> out;
  for (int i = 0; i < 8; ++i) {
    const std::string n = std::to_string(i);
    out.push_back(std::make_unique<Request>(
        R"({"email": "user)" + n + R"(@example.com", "age": )" + std::to_string(20 + i) +
            R"(, "tier": "gold", "signup": "2024-01-0)" + n + R"(", "country": ")" + country +
            R"(", "tags": ["a", "b"]})",
        R"({"purchases_7d": )" + std::to_string(2 + i) + R"(, "spend_24h": 12.5, "visits_30d": 9})",
        R"({"page": "/checkout/step-)" + n + R"(", "device": "mobile", "hour": 14})",
        R"({"churn": 0.)" + std::to_string(71 + i) + R"(, "ltv": 120})"));
  }
  return out;
}

Condition MustCompile(std::string_view json) {
  StatusOr<Condition> c = Condition::Compile(json);
  if (!c.ok()) std::abort();
  return *c;
}

void RunEvaluate(benchmark::State& state, const Condition& c,
                 const std::vector<std::unique_ptr<Request>>& requests, bool expected) {
  size_t i = 0;
  int64_t matched = 0;
  for (auto _ : state) {
    const bool m = c.Evaluate(requests[i++ & 7]->input);
    benchmark::DoNotOptimize(m);
    matched += m ? 1 : 0;
  }
  if ((matched == state.iterations()) != expected) state.SkipWithError("unexpected result");
}

void BM_EvaluateAudience4Match(benchmark::State& state) {
  const Condition c = MustCompile(kAudience);
  RunEvaluate(state, c, MakeRequests("US"), true);
}
BENCHMARK(BM_EvaluateAudience4Match);

void BM_EvaluateAudience4MissFirstClause(benchmark::State& state) {
  const Condition c = MustCompile(kAudience);
  const auto requests = MakeRequests("FR");
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(c.Evaluate(requests[i++ & 7]->input));
}
BENCHMARK(BM_EvaluateAudience4MissFirstClause);

void BM_EvaluateRegex(benchmark::State& state) {
  const Condition c = MustCompile(R"({"context.page": {"$regex": "^/checkout/step-[0-9]+$"}})");
  RunEvaluate(state, c, MakeRequests("US"), true);
}
BENCHMARK(BM_EvaluateRegex);

void BM_EvaluateIn10k(benchmark::State& state) {
  std::string json = R"({"profile.email": {"$in": [)";
  for (int i = 0; i < 10'000; ++i) {
    json += (i ? ",\"user" : "\"user") + std::to_string(i * 7) + "@example.com\"";
  }
  json += "]}}";
  const Condition c = MustCompile(json);
  const auto requests = MakeRequests("US");
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(c.Evaluate(requests[i++ & 7]->input));
}
BENCHMARK(BM_EvaluateIn10k);

void BM_CompileAudience4(benchmark::State& state) {
  for (auto _ : state) {
    StatusOr<Condition> c = Condition::Compile(kAudience);
    benchmark::DoNotOptimize(c.ok());
  }
}
BENCHMARK(BM_CompileAudience4);

void BM_AllocationHashAndPick(benchmark::State& state) {
  std::vector<std::string> ids;
  for (int i = 0; i < 1024; ++i) ids.push_back("CRM:user-" + std::to_string(i * 7919));
  constexpr std::array<double, 3> kWeights = {0.5, 0.3, 0.2};
  size_t i = 0;
  for (auto _ : state) {
    const uint32_t h = AllocationHash("homepage-hero", "2024-06", ids[i++ & 1023]);
    benchmark::DoNotOptimize(PickByWeights(h, kWeights));
  }
}
BENCHMARK(BM_AllocationHashAndPick);

}  // namespace
}  // namespace rtml::decision

BENCHMARK_MAIN();
