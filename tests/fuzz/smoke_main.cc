// rtml_fuzz_smoke: a small deterministic mutation fuzzer over the seed corpus
// of every fuzz target (fuzz_targets.h), cheap enough for ctest's ASan pass.
// It replays every corpus file (seeds and saved reproducers) as is, then runs
// N mutated inputs per target from a seeded xorshift generator, so a failure
// reproduces with the same --seed. Coverage-guided fuzzing is bench/fuzz.sh.
//
//   rtml_fuzz_smoke [--target NAME|all] [--iterations N] [--seconds S] [--seed K]
//                   [--corpus DIR] [--write-builtin-seeds DIR]
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_targets.h"

namespace {

namespace fs = std::filesystem;
using rtml::fuzz::FuzzTarget;

// Inputs larger than this are truncated after mutation (libFuzzer's default
// -max_len is 4096 as well).
constexpr size_t kMaxInputBytes = 4096;

class XorShift {
 public:
  explicit XorShift(uint64_t seed) : s_(seed ? seed : 0x9E3779B97F4A7C15ULL) {}
  uint64_t Next() {
    s_ ^= s_ << 13;
    s_ ^= s_ >> 7;
    s_ ^= s_ << 17;
    return s_;
  }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }

 private:
  uint64_t s_;
};

constexpr uint8_t kInterestingBytes[] = {0, 1, 0x7F, 0x80, 0xFF, 0xFE, 0x10, 0x20, 0x40, '0', '9', '"', '\\'};

// Tokens that stress JSON parsers: structure, escapes, numbers at the edges.
constexpr std::string_view kJsonTokens[] = {
    "{", "}", "[", "]", "\"", ":", ",", "null", "true", "false", "1e309", "-1e309", "-0", "NaN",
    "Infinity", "1e-400", "0.1", "-1", "9223372036854775807", "-9223372036854775809",
    "18446744073709551616", "4294967296", "1.7976931348623157e308", "\"\\u0000\"", "\"\\ud800\"",
    "\"\\uDFFF\"", "\"\xff\xfe\"", "[[[[[[[[[[[[[[[[", "{\"a\":{\"a\":{\"a\":{\"a\":", "\"$in\"",
    "\"$segment\"", "\"$regex\"", "\"(a+)+$\"", "\"shape\"", "\"data\"", "\"datatype\"", "\"FP32\"",
    "\"BYTES\"", "\"inputs\"", "\"nodes\"", "\"op\"", "\"params\"", "\"type\"", "\"properties\"",
    "\"items\"", "\"map\"", "\"required\"", "\"instances\"", "\"experiences\"", "\"strategy\"",
    "1000000", "65536", "0", "2"};

using Bytes = std::string;

void Mutate(XorShift& rng, const std::vector<Bytes>& corpus, bool json, Bytes& b) {
  const int rounds = 1 + static_cast<int>(rng.Below(4));
  for (int r = 0; r < rounds; ++r) {
    switch (rng.Below(json ? 9 : 7)) {
      case 0:  // bit flip
        if (!b.empty()) b[rng.Below(b.size())] ^= static_cast<char>(1u << rng.Below(8));
        break;
      case 1:  // interesting byte
        if (!b.empty()) {
          b[rng.Below(b.size())] = static_cast<char>(kInterestingBytes[rng.Below(std::size(kInterestingBytes))]);
        }
        break;
      case 2: {  // insert random bytes
        const size_t n = 1 + rng.Below(8);
        Bytes chunk;
        for (size_t i = 0; i < n; ++i) chunk.push_back(static_cast<char>(rng.Next() & 0xFF));
        b.insert(rng.Below(b.size() + 1), chunk);
        break;
      }
      case 3:  // delete a chunk
        if (!b.empty()) {
          const size_t at = rng.Below(b.size());
          b.erase(at, 1 + rng.Below(std::min<size_t>(b.size() - at, 32)));
        }
        break;
      case 4:  // duplicate a chunk
        if (!b.empty()) {
          const size_t at = rng.Below(b.size());
          const size_t n = 1 + rng.Below(std::min<size_t>(b.size() - at, 64));
          b.insert(rng.Below(b.size() + 1), b.substr(at, n));
        }
        break;
      case 5: {  // splice with another corpus entry
        const Bytes& other = corpus[rng.Below(corpus.size())];
        const size_t cut = rng.Below(b.size() + 1);
        const size_t from = rng.Below(other.size() + 1);
        b = b.substr(0, cut) + other.substr(from);
        break;
      }
      case 6:  // truncate
        b.resize(rng.Below(b.size() + 1));
        break;
      case 7:  // insert a JSON token
      case 8: {
        const std::string_view tok = kJsonTokens[rng.Below(std::size(kJsonTokens))];
        b.insert(rng.Below(b.size() + 1), tok);
        break;
      }
    }
  }
  if (b.size() > kMaxInputBytes) b.resize(kMaxInputBytes);
}

std::vector<Bytes> LoadCorpus(const fs::path& dir, std::string_view target) {
  std::vector<Bytes> corpus;
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir / target, ec)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());  // deterministic order
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  for (auto& s : rtml::fuzz::BuiltinSeeds(target)) corpus.push_back(std::move(s));
  return corpus;
}

// The input being run, written to fuzz-smoke-crash-<target>.bin (in the
// working directory) when the process dies, so a failure can be replayed with
// the libFuzzer binary or added to the corpus.
const FuzzTarget* g_target = nullptr;
const Bytes* g_input = nullptr;

void SaveCrashInput() {
  if (g_target == nullptr || g_input == nullptr) return;
  char path[128];
  std::snprintf(path, sizeof path, "fuzz-smoke-crash-%.*s.bin", static_cast<int>(g_target->name.size()),
                g_target->name.data());
  if (FILE* f = std::fopen(path, "wb")) {
    std::fwrite(g_input->data(), 1, g_input->size(), f);
    std::fclose(f);
    std::fprintf(stderr, "rtml_fuzz_smoke: input of the failing run (%zu bytes) saved to %s\n", g_input->size(),
                 path);
  }
  g_input = nullptr;
}

extern "C" void OnFatalSignal(int sig) {
  SaveCrashInput();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void Run(const FuzzTarget& t, const Bytes& input) {
  g_target = &t;
  g_input = &input;
  t.function(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  g_input = nullptr;
}

int Usage() {
  std::fprintf(stderr,
               "usage: rtml_fuzz_smoke [--target NAME|all] [--iterations N] [--seconds S] [--seed K]\n"
               "                       [--corpus DIR] [--write-builtin-seeds DIR]\n");
  return 2;
}

}  // namespace

// Set by AddressSanitizer builds; null otherwise.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

int main(int argc, char** argv) {
  std::string target = "all";
  long long iterations = 2000;
  double seconds = 0;  // 0: no time limit
  uint64_t seed = 1;
  fs::path corpus_dir = RTML_FUZZ_CORPUS_DIR;
  std::string write_seeds;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) return Usage();
    const char* v = argv[++i];
    if (a == "--target") target = v;
    else if (a == "--iterations") iterations = std::atoll(v);
    else if (a == "--seconds") seconds = std::atof(v);
    else if (a == "--seed") seed = std::strtoull(v, nullptr, 10);
    else if (a == "--corpus") corpus_dir = v;
    else if (a == "--write-builtin-seeds") write_seeds = v;
    else return Usage();
  }

  if (!write_seeds.empty()) {
    for (const FuzzTarget& t : rtml::fuzz::AllTargets()) {
      const auto seeds = rtml::fuzz::BuiltinSeeds(t.name);
      for (size_t k = 0; k < seeds.size(); ++k) {
        const fs::path dir = fs::path(write_seeds) / t.name;
        fs::create_directories(dir);
        std::ofstream(dir / ("builtin_" + std::to_string(k) + ".bin"), std::ios::binary) << seeds[k];
      }
    }
    return 0;
  }

  for (int sig : {SIGABRT, SIGSEGV, SIGFPE, SIGBUS, SIGILL}) std::signal(sig, OnFatalSignal);
  if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(SaveCrashInput);

  std::vector<const FuzzTarget*> targets;
  if (target == "all") {
    for (const FuzzTarget& t : rtml::fuzz::AllTargets()) targets.push_back(&t);
  } else if (const FuzzTarget* t = rtml::fuzz::FindTarget(target)) {
    targets.push_back(t);
  } else {
    std::fprintf(stderr, "unknown target '%s'\n", target.c_str());
    return 2;
  }

  for (const FuzzTarget* t : targets) {
    const auto start = std::chrono::steady_clock::now();
    const std::vector<Bytes> corpus = LoadCorpus(corpus_dir, t->name);
    if (corpus.empty()) {
      std::fprintf(stderr, "%s: no corpus under %s\n", std::string(t->name).c_str(),
                   (corpus_dir / t->name).c_str());
      return 1;
    }
    long long inputs = 0;
    for (const Bytes& c : corpus) {
      Run(*t, c);
      ++inputs;
    }
    // Per-target generator: adding a target does not change the others' inputs.
    XorShift rng(seed * 0x100000001B3ULL + std::hash<std::string_view>{}(t->name));
    Bytes input;
    for (long long i = 0; i < iterations; ++i) {
      if (seconds > 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > seconds) {
        break;
      }
      input = corpus[rng.Below(corpus.size())];
      Mutate(rng, corpus, t->json, input);
      Run(*t, input);
      ++inputs;
    }
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s: %lld inputs, %lld ms, ok\n", std::string(t->name).c_str(), inputs, static_cast<long long>(ms));
    std::fflush(stdout);
  }
  return 0;
}
