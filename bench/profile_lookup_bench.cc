// Google Benchmark of ProfileStore::Lookup, the pipelines' fast path: five
// computed attributes (count 30m, sum 7d, avg 24h, max 7d, distinct_count 7d)
// of a random existing identity among 100k persons, each with two linked
// identities and `events` events spread over the last 7 days. Target: under
// 2 µs per Lookup. PersonOf (resolution only) is measured alongside so the
// aggregation cost is visible.
// Usage: rtml_profile_lookup_bench [google-benchmark flags]
#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "data/profiles.h"

namespace {

using rtml::data::ComputedAttributeDef;
using rtml::data::EventView;
using rtml::data::ParseComputedAttribute;
using rtml::data::ProfileStore;
using rtml::data::ProfileStoreOptions;
using rtml::data::Value;

constexpr int64_t kNow = 1'760'000'000'000;
constexpr int64_t kWeekMs = 7LL * 24 * 60 * 60 * 1000;
constexpr int kPersons = 100'000;
constexpr size_t kQueries = 1 << 16;  // pre-drawn random identities, cycled

struct Fixture {
  std::unique_ptr<ProfileStore> store;
  std::vector<std::string> identities;  // all of them, two per person
  // Random identities in query order, stored contiguously: a pipeline's
  // identity was just parsed from its request and is in cache; only the
  // store's memory should be cold.
  std::string query_text;
  std::vector<std::string_view> queries;
};

// Thread-safe: every thread of a multi-threaded run calls it.
Fixture* BuildFixture(int events_per_person) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  static std::map<int, std::unique_ptr<Fixture>> cache;  // one at a time: large
  if (auto it = cache.find(events_per_person); it != cache.end()) return it->second.get();
  cache.clear();
  auto f = std::make_unique<Fixture>();
  ProfileStoreOptions options;
  options.clock = [] { return kNow; };
  f->store = std::make_unique<ProfileStore>(options);
  const char* defs[][2] = {
      {"views_30m", R"({"dataset":"web","function":"count","window":"30m"})"},
      {"spend_7d", R"({"dataset":"web","function":"sum","field":"order.price","window":"7d"})"},
      {"avg_price_24h",
       R"({"dataset":"web","function":"avg","field":"order.price","window":"24h"})"},
      {"max_price_7d", R"({"dataset":"web","function":"max","field":"order.price","window":"7d"})"},
      {"pages_7d", R"({"dataset":"web","function":"distinct_count","field":"page","window":"7d"})"},
  };
  for (const auto& [name, body] : defs) {
    auto def = ParseComputedAttribute(name, body);
    if (!def.ok() || !f->store->SetComputedAttribute(*def).ok()) std::abort();
  }
  // A few record bodies, parsed once and reused for every event.
  constexpr int kBodies = 16;
  std::vector<std::unique_ptr<simdjson::dom::parser>> parsers;
  std::vector<simdjson::dom::element> bodies;
  for (int i = 0; i < kBodies; ++i) {
    parsers.push_back(std::make_unique<simdjson::dom::parser>());
    const std::string json = R"({"order":{"price":)" + std::to_string(5 + i * 3.25) +
                             R"(},"page":"/p/)" + std::to_string(i % 7) +
                             R"(","device":{"type":"mobile"}})";
    simdjson::dom::element e;
    if (parsers.back()->parse(simdjson::padded_string(json)).get(e)) std::abort();
    bodies.push_back(e);
  }
  std::mt19937_64 rng(1);
  f->identities.reserve(2 * kPersons);
  for (int p = 0; p < kPersons; ++p) {
    f->identities.push_back("ECID:" +
                            std::to_string(10'000'000'000ULL + rng() % 90'000'000'000ULL));
    f->identities.push_back("email:user" + std::to_string(p) + "@example.com");
  }
  for (int round = 0; round < events_per_person; ++round) {
    for (int p = 0; p < kPersons; ++p) {
      const std::span<const std::string> ids(&f->identities[2 * static_cast<size_t>(p)],
                                             round == 0 ? 2 : 1);
      const int64_t ts = kNow - static_cast<int64_t>(rng() % kWeekMs);
      f->store->ApplyEvent(EventView{"web", "e", ts, "view", ids, bodies[rng() % kBodies]});
    }
  }
  std::vector<size_t> offsets;
  for (size_t q = 0; q < kQueries; ++q) {
    offsets.push_back(f->query_text.size());
    f->query_text += f->identities[rng() % f->identities.size()];
  }
  offsets.push_back(f->query_text.size());
  for (size_t q = 0; q < kQueries; ++q) {
    f->queries.push_back(
        std::string_view(f->query_text).substr(offsets[q], offsets[q + 1] - offsets[q]));
  }
  Fixture* raw = f.get();
  cache.emplace(events_per_person, std::move(f));
  return raw;
}

void BM_Lookup5(benchmark::State& state) {
  Fixture* f = BuildFixture(static_cast<int>(state.range(0)));
  const int indices[] = {0, 1, 2, 3, 4};
  Value out[5];
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  int64_t found = 0;
  for (auto _ : state) {
    found += f->store->Lookup(f->queries[i++ & (kQueries - 1)], indices, kNow, out);
    benchmark::DoNotOptimize(out);
  }
  if (found != static_cast<int64_t>(state.iterations()))
    state.SkipWithError("an identity was not found");
  state.counters["persons"] = benchmark::Counter(static_cast<double>(f->store->num_persons()),
                                                 benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_Lookup5)->Arg(10)->Arg(40)->Threads(1)->Threads(2)->UseRealTime();

void BM_PersonOf(benchmark::State& state) {
  Fixture* f = BuildFixture(static_cast<int>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) {
    auto person = f->store->PersonOf(f->queries[i++ & (kQueries - 1)]);
    benchmark::DoNotOptimize(person);
  }
}
BENCHMARK(BM_PersonOf)->Arg(10);

}  // namespace

BENCHMARK_MAIN();
