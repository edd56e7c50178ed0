#include "data/profiles.h"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <unordered_map>

#include "common/json_writer.h"
#include "data/time_util.h"

namespace rtml::data {
namespace {

constexpr int64_t kSecondMs = 1000;
constexpr int64_t kMinuteMs = 60 * kSecondMs;
constexpr int64_t kHourMs = 60 * kMinuteMs;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int64_t kWeekMs = 7 * kDayMs;
constexpr size_t kMaxNameLength = 128;
constexpr size_t kMaxQuotedLength = 40;  // of user values echoed in error messages
// Identity-map stripes, a power of two. Definitions change with every stripe
// locked, and ThreadSanitizer tracks at most 64 locks held by one thread.
constexpr size_t kNumShards = 32;
constexpr uint32_t kNoString = std::numeric_limits<uint32_t>::max();

// ------------------------------------------------------------ helpers ---

int64_t SaturatingSub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r))
    return b > 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
  return r;
}

// A user value for an error message: single-quoted, printable ASCII, truncated.
std::string Quote(std::string_view v) {
  std::string out = "'";
  for (size_t i = 0; i < v.size() && i < kMaxQuotedLength; ++i) {
    const unsigned char c = static_cast<unsigned char>(v[i]);
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  if (v.size() > kMaxQuotedLength) out += "...";
  out += "'";
  return out;
}

// FNV-1a, 64-bit (http://www.isthe.com/chongo/tech/comp/fnv/).
uint64_t Fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

struct StringHash {
  using is_transparent = void;
  // Deliberately not noexcept: libstdc++ then caches hash codes in the nodes
  // instead of re-hashing keys while walking a bucket.
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Splits "a.b.c"; nullopt when a segment is empty.
std::optional<std::vector<std::string>> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  if (path.empty()) return std::nullopt;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string_view part =
        path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (part.empty()) return std::nullopt;
    parts.emplace_back(part);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts;
}

bool FindPath(simdjson::dom::element e, const std::vector<std::string>& path,
              simdjson::dom::element* out) {
  for (const std::string& key : path) {
    simdjson::dom::object obj;
    if (e.get_object().get(obj)) return false;
    if (obj.at_key(key).get(e)) return false;
  }
  *out = e;
  return true;
}

bool GetNumber(simdjson::dom::element e, double* out) {
  switch (e.type()) {
    case simdjson::dom::element_type::INT64: {
      int64_t v = 0;
      if (e.get_int64().get(v)) return false;
      *out = static_cast<double>(v);
      return true;
    }
    case simdjson::dom::element_type::UINT64: {
      uint64_t v = 0;
      if (e.get_uint64().get(v)) return false;
      *out = static_cast<double>(v);
      return true;
    }
    case simdjson::dom::element_type::DOUBLE:
      return !e.get_double().get(*out);
    default:
      return false;
  }
}

template <typename T>
void AppendNumber(std::string* out, T v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

// Canonical text of a JSON scalar into *out (replacing it): strings quoted
// and escaped as JsonWriter does, integral numbers without a fraction (so 3,
// 3.0 and 3e0 agree), other numbers in shortest round-trip form, true/false.
// False for null, objects and arrays.
bool CanonicalScalar(simdjson::dom::element e, std::string* out) {
  out->clear();
  switch (e.type()) {
    case simdjson::dom::element_type::STRING: {
      std::string_view s;
      if (e.get_string().get(s)) return false;
      JsonWriter(out).AppendString(s);
      return true;
    }
    case simdjson::dom::element_type::INT64: {
      int64_t v = 0;
      if (e.get_int64().get(v)) return false;
      AppendNumber(out, v);
      return true;
    }
    case simdjson::dom::element_type::UINT64: {
      uint64_t v = 0;
      if (e.get_uint64().get(v)) return false;
      AppendNumber(out, v);
      return true;
    }
    case simdjson::dom::element_type::DOUBLE: {
      double v = 0;
      if (e.get_double().get(v)) return false;
      if (std::trunc(v) == v && v >= -9223372036854775808.0 && v < 9223372036854775808.0) {
        AppendNumber(out, static_cast<int64_t>(v));
      } else {
        AppendNumber(out, v);
      }
      return true;
    }
    case simdjson::dom::element_type::BOOL: {
      bool v = false;
      if (e.get_bool().get(v)) return false;
      out->append(v ? "true" : "false");
      return true;
    }
    default:
      return false;
  }
}

// Serializes any element (recursively) with JsonWriter.
void WriteElement(JsonWriter& w, simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      w.BeginObject();
      simdjson::dom::object obj;
      if (!e.get_object().get(obj)) {
        for (const auto field : obj) {
          w.Key(field.key);
          WriteElement(w, field.value);
        }
      }
      w.EndObject();
      return;
    }
    case simdjson::dom::element_type::ARRAY: {
      w.BeginArray();
      simdjson::dom::array arr;
      if (!e.get_array().get(arr)) {
        for (const auto item : arr) WriteElement(w, item);
      }
      w.EndArray();
      return;
    }
    case simdjson::dom::element_type::NULL_VALUE:
      w.Null();
      return;
    default: {
      std::string text;
      if (CanonicalScalar(e, &text))
        w.Raw(text);
      else
        w.Null();
      return;
    }
  }
}

// A writer-preferring reader/writer lock. glibc's default rwlock prefers
// readers, so a steady stream of lookups could starve the ingestion writer.
// Non-recursive: a thread must not take a read lock it already holds.
class RwMutex {
 public:
  RwMutex() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&rw_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~RwMutex() { pthread_rwlock_destroy(&rw_); }
  RwMutex(const RwMutex&) = delete;
  RwMutex& operator=(const RwMutex&) = delete;

  void lock() { pthread_rwlock_wrlock(&rw_); }
  void unlock() { pthread_rwlock_unlock(&rw_); }
  void lock_shared() { pthread_rwlock_rdlock(&rw_); }
  void unlock_shared() { pthread_rwlock_unlock(&rw_); }

 private:
  pthread_rwlock_t rw_;
};

// ------------------------------------------------- computed attributes ---

// Interned strings of one person's attribute (values of `last`, canonical
// texts of `distinct_count`), reference-counted by the entries holding them.
class StringPool {
 public:
  uint32_t Intern(std::string_view s) {
    if (auto it = index_.find(s); it != index_.end()) {
      ++slots_[it->second].refs;
      return it->second;
    }
    uint32_t id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
    } else {
      id = static_cast<uint32_t>(slots_.size());
      slots_.push_back({});
    }
    auto [it, inserted] = index_.emplace(std::string(s), id);
    slots_[id] = {&it->first, 1};
    return id;
  }
  void Release(uint32_t id) {
    Slot& slot = slots_[id];
    if (--slot.refs > 0) return;
    index_.erase(*slot.text);
    slot.text = nullptr;
    if (index_.empty()) {  // reclaim everything once nothing is referenced
      slots_.clear();
      free_.clear();
      return;
    }
    free_.push_back(id);
  }
  const std::string& Get(uint32_t id) const { return *slots_[id].text; }
  // Every id handed out is below this.
  size_t id_limit() const { return slots_.size(); }

 private:
  struct Slot {
    const std::string* text = nullptr;  // the key in index_ (node-based: stable)
    uint32_t refs = 0;
  };
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> index_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
};

enum class EntryKind : uint8_t { kNone, kNumber, kString, kBool };

// One event's contribution to one attribute.
struct Entry {
  int64_t ts = 0;
  uint64_t seq = 0;  // global apply order: breaks timestamp ties for `last`
  double number = 0;
  uint32_t sid = kNoString;  // into AttributeState::pool
  EntryKind kind = EntryKind::kNone;
};

bool EntryBefore(const Entry& a, const Entry& b) {
  return a.ts != b.ts ? a.ts < b.ts : a.seq < b.seq;
}

// The retained entries of one person for one attribute, sorted by (ts, seq).
// entries_[0, head_) are dead (evicted, awaiting compaction).
class AttributeState {
 public:
  std::span<const Entry> live() const { return std::span<const Entry>(entries_).subspan(head_); }
  const StringPool* pool() const { return pool_.get(); }
  StringPool* mutable_pool() {
    if (!pool_) pool_ = std::make_unique<StringPool>();
    return pool_.get();
  }

  void Insert(const Entry& e, size_t cap) {
    if (entries_.size() == head_ || !EntryBefore(e, entries_.back())) {
      entries_.push_back(e);
    } else {
      auto pos = std::upper_bound(entries_.begin() + static_cast<ptrdiff_t>(head_), entries_.end(),
                                  e, EntryBefore);
      entries_.insert(pos, e);
    }
    EnforceCap(cap);
  }

  // Drops entries with ts <= cutoff; returns how many.
  size_t EvictThrough(int64_t cutoff) {
    size_t dropped = 0;
    for (; head_ < entries_.size() && entries_[head_].ts <= cutoff; ++dropped) DropFront();
    Compact();
    return dropped;
  }

  // Moves every entry of `src` in (exact union), then applies the cap.
  void MergeFrom(AttributeState& src, size_t cap) {
    std::span<const Entry> theirs = src.live();
    if (theirs.empty()) return;
    std::vector<Entry> remapped(theirs.begin(), theirs.end());
    for (Entry& e : remapped) {
      if (e.sid != kNoString) e.sid = mutable_pool()->Intern(src.pool_->Get(e.sid));
    }
    std::span<const Entry> ours = live();
    std::vector<Entry> merged;
    merged.reserve(ours.size() + remapped.size());
    std::merge(ours.begin(), ours.end(), remapped.begin(), remapped.end(),
               std::back_inserter(merged), EntryBefore);
    entries_ = std::move(merged);
    head_ = 0;
    src.Clear();
    EnforceCap(cap);
  }

  void Clear() {
    entries_ = {};
    head_ = 0;
    pool_.reset();
  }

 private:
  void DropFront() {
    const Entry& e = entries_[head_];
    if (e.sid != kNoString) pool_->Release(e.sid);
    ++head_;
  }
  void EnforceCap(size_t cap) {
    while (entries_.size() - head_ > cap) DropFront();
    Compact();
  }
  // Dead prefixes are erased once they are at least half the vector, so
  // eviction from the front is amortized O(1) per entry.
  void Compact() {
    constexpr size_t kMinDeadToCompact = 32;
    if (head_ == entries_.size()) {
      entries_.clear();
      if (entries_.capacity() > 64) entries_.shrink_to_fit();
      head_ = 0;
    } else if (head_ >= kMinDeadToCompact && head_ * 2 >= entries_.size()) {
      entries_.erase(entries_.begin(), entries_.begin() + static_cast<ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  std::vector<Entry> entries_;
  size_t head_ = 0;
  std::unique_ptr<StringPool> pool_;  // only for `last` strings and `distinct_count`
};

struct CompiledAttribute {
  ComputedAttributeDef def;
  std::vector<std::string> field_path;
  struct Filter {
    std::vector<std::string> path;
    std::string value;  // canonical text
  };
  std::vector<Filter> filters;
};

// The value of an attribute over an empty window.
void SetEmpty(AggregateFunction f, Value& out) {
  const bool zero = f == AggregateFunction::kCount || f == AggregateFunction::kSum ||
                    f == AggregateFunction::kDistinctCount;
  out.kind = zero ? Value::Kind::kNumber : Value::Kind::kNull;
  out.number = 0;
}

void SetNumber(double v, Value& out) {
  out.kind = Value::Kind::kNumber;
  out.number = v;
}

// Per-thread marks for distinct counting without allocation in steady state.
struct DistinctScratch {
  std::vector<uint32_t> marks;
  uint32_t generation = 0;
};

void Evaluate(const CompiledAttribute& attr, const AttributeState* state, int64_t now_ms,
              Value& out) {
  const AggregateFunction f = attr.def.function;
  if (state == nullptr) {
    SetEmpty(f, out);
    return;
  }
  const std::span<const Entry> live = state->live();
  const int64_t after = SaturatingSub(now_ms, attr.def.window_ms);  // exclusive lower bound
  auto by_ts = [](int64_t ts, const Entry& e) { return ts < e.ts; };
  const auto lo = std::upper_bound(live.begin(), live.end(), after, by_ts);
  const auto hi = std::upper_bound(lo, live.end(), now_ms, by_ts);
  const std::span<const Entry> window(lo, hi);
  if (window.empty()) {
    SetEmpty(f, out);
    return;
  }
  switch (f) {
    case AggregateFunction::kCount:
      SetNumber(static_cast<double>(window.size()), out);
      return;
    case AggregateFunction::kSum:
    case AggregateFunction::kAvg: {
      double sum = 0;
      for (const Entry& e : window) sum += e.number;
      SetNumber(f == AggregateFunction::kSum ? sum : sum / static_cast<double>(window.size()), out);
      return;
    }
    case AggregateFunction::kMin:
    case AggregateFunction::kMax: {
      double best = window.front().number;
      for (const Entry& e : window)
        best = f == AggregateFunction::kMin ? std::min(best, e.number) : std::max(best, e.number);
      SetNumber(best, out);
      return;
    }
    case AggregateFunction::kLast: {
      const Entry& e = window.back();
      switch (e.kind) {
        case EntryKind::kNumber:
          SetNumber(e.number, out);
          return;
        case EntryKind::kBool:
          out.kind = Value::Kind::kBool;
          out.number = e.number;
          return;
        case EntryKind::kString:
          out.kind = Value::Kind::kString;
          out.number = 0;
          out.string.assign(state->pool()->Get(e.sid));
          return;
        case EntryKind::kNone:
          SetEmpty(f, out);
          return;
      }
      return;
    }
    case AggregateFunction::kDistinctCount: {
      thread_local DistinctScratch scratch;
      const size_t limit = state->pool() != nullptr ? state->pool()->id_limit() : 0;
      if (scratch.marks.size() < limit) scratch.marks.resize(limit, 0);
      if (++scratch.generation == 0) {
        std::fill(scratch.marks.begin(), scratch.marks.end(), 0);
        scratch.generation = 1;
      }
      size_t distinct = 0;
      for (const Entry& e : window) {
        uint32_t& mark = scratch.marks[e.sid];
        if (mark != scratch.generation) {
          mark = scratch.generation;
          ++distinct;
        }
      }
      SetNumber(static_cast<double>(distinct), out);
      return;
    }
  }
}

void WriteValue(JsonWriter& w, const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNull:
      w.Null();
      return;
    case Value::Kind::kNumber:
      w.Double(v.number);
      return;
    case Value::Kind::kString:
      w.String(v.string);
      return;
    case Value::Kind::kBool:
      w.Bool(v.number != 0);
      return;
  }
}

// ------------------------------------------------- profile attributes ---

struct Stamp {
  int64_t ts = std::numeric_limits<int64_t>::min();
  uint64_t seq = 0;
  auto operator<=>(const Stamp&) const = default;
};

struct AttrChild;

// A merged attribute value. A leaf holds JSON text; an object holds children
// sorted by key. The stamp of a leaf is its write's; of an object, the newest
// write inside it. A node that is neither (fresh) is absent.
struct AttrNode {
  Stamp stamp;
  bool is_object = false;
  std::string json;
  std::vector<AttrChild> children;

  bool absent() const { return !is_object && json.empty(); }
  AttrNode& Child(std::string_view key);
};

struct AttrChild {
  std::string key;
  AttrNode node;
};

AttrNode& AttrNode::Child(std::string_view key) {
  auto it = std::lower_bound(children.begin(), children.end(), key,
                             [](const AttrChild& c, std::string_view k) { return c.key < k; });
  if (it == children.end() || it->key != key)
    it = children.insert(it, AttrChild{std::string(key), AttrNode{}});
  return it->node;
}

void MakeObject(AttrNode& node) {
  node.is_object = true;
  node.json.clear();
  node.children.clear();
}

// Writes record value `v` (stamped `s`) at `node`: see the header's rule.
void WriteRecordValue(AttrNode& node, simdjson::dom::element v, Stamp s) {
  simdjson::dom::object obj;
  if (!v.get_object().get(obj)) {
    if (!node.is_object) {
      if (node.stamp > s) return;
      MakeObject(node);
    }
    node.stamp = std::max(node.stamp, s);
    for (const auto field : obj) WriteRecordValue(node.Child(field.key), field.value, s);
    return;
  }
  if (node.stamp > s) return;
  std::string json;
  JsonWriter w(&json);
  WriteElement(w, v);
  node.is_object = false;
  node.children.clear();
  node.json = std::move(json);
  node.stamp = s;
}

void MergeAttrNode(AttrNode& dst, AttrNode&& src) {
  if (src.absent()) return;
  if (!src.is_object || !(dst.is_object || dst.absent())) {
    // Leaf against anything, or object against a leaf: the newer side wins whole.
    if (dst.absent() || src.stamp > dst.stamp) dst = std::move(src);
    return;
  }
  if (dst.absent()) MakeObject(dst);
  for (AttrChild& c : src.children) MergeAttrNode(dst.Child(c.key), std::move(c.node));
  dst.stamp = std::max(dst.stamp, src.stamp);
}

void WriteAttrNode(JsonWriter& w, const AttrNode& node) {
  if (!node.is_object) {
    w.Raw(node.json);
    return;
  }
  w.BeginObject();
  for (const AttrChild& c : node.children) {
    if (c.node.absent()) continue;
    w.Key(c.key);
    WriteAttrNode(w, c.node);
  }
  w.EndObject();
}

// ------------------------------------------------------------ persons ---

struct Person;

// One identity: its person and its text in a single allocation, so resolving
// an identity touches the table slot and this record only.
struct IdentityRecord {
  Person* person;  // guarded by the shard's mu; null while being published
  uint32_t shard;
  uint32_t size;
  std::string_view key() const { return {reinterpret_cast<const char*>(this + 1), size}; }
};

bool IdentityLess(const IdentityRecord* a, const IdentityRecord* b) { return a->key() < b->key(); }

// Identities are never removed, so their records live in a bump arena.
class RecordArena {
 public:
  IdentityRecord* Make(std::string_view key, uint32_t shard) {
    constexpr size_t kAlign = alignof(IdentityRecord);
    const size_t bytes = (sizeof(IdentityRecord) + key.size() + kAlign - 1) / kAlign * kAlign;
    if (bytes > remaining_) {
      const size_t block = std::max(kBlockBytes, bytes);
      blocks_.push_back(std::make_unique<char[]>(block));  // operator new[]: max_align_t aligned
      next_ = blocks_.back().get();
      remaining_ = block;
    }
    auto* record = new (next_) IdentityRecord{nullptr, shard, static_cast<uint32_t>(key.size())};
    std::memcpy(next_ + sizeof(IdentityRecord), key.data(), key.size());
    next_ += bytes;
    remaining_ -= bytes;
    return record;
  }

 private:
  static constexpr size_t kBlockBytes = 64 * 1024;
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* next_ = nullptr;
  size_t remaining_ = 0;
};

// Open addressing with linear probing, at most half full; the full hash is
// kept in the slot so a probe rarely touches a record that does not match.
// Not synchronized: see Shard.
class IdentityTable {
 public:
  IdentityRecord* Find(std::string_view key, uint64_t hash) const {
    if (slots_.empty()) return nullptr;
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot& slot = slots_[i];
      if (slot.record == nullptr) return nullptr;
      if (slot.hash == hash && slot.record->key() == key) return slot.record;
    }
  }
  // `key` must not be present.
  IdentityRecord* Insert(std::string_view key, uint64_t hash, uint32_t shard) {
    if ((count_ + 1) * 2 > slots_.size()) Grow();
    IdentityRecord* record = arena_.Make(key, shard);
    Place(hash, record);
    ++count_;
    return record;
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    IdentityRecord* record = nullptr;
  };
  void Place(uint64_t hash, IdentityRecord* record) {
    const size_t mask = slots_.size() - 1;
    size_t i = hash & mask;
    while (slots_[i].record != nullptr) i = (i + 1) & mask;
    slots_[i] = {hash, record};
  }
  void Grow() {
    std::vector<Slot> old =
        std::exchange(slots_, std::vector<Slot>(std::max<size_t>(16, slots_.size() * 2)));
    for (const Slot& slot : old) {
      if (slot.record != nullptr) Place(slot.hash, slot.record);
    }
  }

  std::vector<Slot> slots_;  // size: zero or a power of two
  size_t count_ = 0;
  RecordArena arena_;
};

uint64_t IdentityHash(std::string_view identity) { return std::hash<std::string_view>{}(identity); }
// The top bits pick the shard; the table uses the low bits.
uint32_t ShardOfHash(uint64_t hash) { return static_cast<uint32_t>(hash >> 59) & (kNumShards - 1); }
static_assert(kNumShards == 32, "ShardOfHash takes the top 5 bits");

// One stitched person. All fields are guarded by mu and written only by the
// writer (which may read them without the lock). A person absorbed by a merge
// points at its successor through merged_into until it is freed, which
// happens only after no identity maps to it any more.
struct Person {
  mutable RwMutex mu;
  uint64_t id = 0;
  Person* merged_into = nullptr;
  std::vector<AttributeState> computed;  // by attribute index; may be shorter than the definitions
  std::vector<const IdentityRecord*> identities;  // sorted by identity string
  AttrNode attributes;                            // the root object
  int64_t updated_ms = std::numeric_limits<int64_t>::min();
  size_t registry_index = 0;  // position in Impl::persons (writer only)
};

struct alignas(64) Shard {
  mutable RwMutex mu;
  IdentityTable table;  // changed only under mu (exclusive); the writer reads it without the lock
};

// --------------------------------------------------------- validation ---

Status ValidateName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return InvalidArgumentError("computed attribute name must be 1 to 128 characters");
  }
  if (name.find('.') != std::string_view::npos) {
    return InvalidArgumentError("computed attribute name " + Quote(name) +
                                " may not contain '.' (values are addressed as computed.<name>)");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) {
      return InvalidArgumentError("computed attribute name " + Quote(name) +
                                  " may only contain letters, digits, '_' and '-'");
    }
  }
  return OkStatus();
}

StatusOr<std::vector<std::string>> ValidatePath(std::string_view what, std::string_view path) {
  auto parts = SplitPath(path);
  if (!parts) {
    return InvalidArgumentError(std::string(what) +
                                " must be a dotted path of non-empty names such as " +
                                "'commerce.order.priceTotal' (got " + Quote(path) + ")");
  }
  return std::move(*parts);
}

StatusOr<CompiledAttribute> Compile(ComputedAttributeDef def) {
  RETURN_IF_ERROR(ValidateName(def.name));
  if (def.dataset.empty()) return InvalidArgumentError("'dataset' must be a non-empty string");
  if (def.event_type && def.event_type->empty())
    return InvalidArgumentError("'eventType' must be a non-empty string");
  if (def.window_ms < kSecondMs || def.window_ms > kMaxWindowMs || def.window_ms % kSecondMs != 0) {
    return InvalidArgumentError("'window' must be a whole number of seconds from 1s to 400d (got " +
                                std::to_string(def.window_ms) + " ms)");
  }
  CompiledAttribute out;
  if (def.field.empty()) {
    if (def.function != AggregateFunction::kCount) {
      return InvalidArgumentError("'field' is required for function '" +
                                  std::string(AggregateFunctionName(def.function)) + "'");
    }
  } else {
    ASSIGN_OR_RETURN(out.field_path, ValidatePath("'field'", def.field));
  }
  simdjson::dom::parser parser;
  for (auto& [path, value] : def.filters) {
    CompiledAttribute::Filter filter;
    ASSIGN_OR_RETURN(filter.path, ValidatePath("'filter' path", path));
    for (const auto& other : out.filters) {
      if (other.path == filter.path)
        return InvalidArgumentError("'filter' names path " + Quote(path) + " twice");
    }
    simdjson::dom::element e;
    if (parser.parse(simdjson::padded_string(value)).get(e) || !CanonicalScalar(e, &filter.value)) {
      return InvalidArgumentError("'filter' value for " + Quote(path) +
                                  " must be a JSON string, number or boolean (got " + Quote(value) +
                                  ")");
    }
    value = filter.value;
    out.filters.push_back(std::move(filter));
  }
  out.def = std::move(def);
  return out;
}

}  // namespace

// ---------------------------------------------------------- functions ---

std::string_view AggregateFunctionName(AggregateFunction f) {
  switch (f) {
    case AggregateFunction::kCount:
      return "count";
    case AggregateFunction::kSum:
      return "sum";
    case AggregateFunction::kMin:
      return "min";
    case AggregateFunction::kMax:
      return "max";
    case AggregateFunction::kAvg:
      return "avg";
    case AggregateFunction::kLast:
      return "last";
    case AggregateFunction::kDistinctCount:
      return "distinct_count";
  }
  return "unknown";
}

StatusOr<int64_t> ParseWindow(std::string_view w) {
  const auto malformed = [&] {
    return InvalidArgumentError(
        "window " + Quote(w) +
        " must be a whole number followed by s, m, h, d or w (e.g. '30m', '24h', '7d')");
  };
  if (w.size() < 2) return malformed();
  int64_t unit_ms = 0;
  switch (w.back()) {
    case 's':
      unit_ms = kSecondMs;
      break;
    case 'm':
      unit_ms = kMinuteMs;
      break;
    case 'h':
      unit_ms = kHourMs;
      break;
    case 'd':
      unit_ms = kDayMs;
      break;
    case 'w':
      unit_ms = kWeekMs;
      break;
    default:
      return malformed();
  }
  const std::string_view digits = w.substr(0, w.size() - 1);
  for (char c : digits) {
    if (c < '0' || c > '9') return malformed();
  }
  uint64_t n = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  const bool too_large = ec == std::errc::result_out_of_range ||
                         (ec == std::errc() && n > static_cast<uint64_t>(kMaxWindowMs / unit_ms));
  if (too_large)
    return InvalidArgumentError("window " + Quote(w) + " exceeds the maximum of 400 days");
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return malformed();
  if (n == 0)
    return InvalidArgumentError("window " + Quote(w) + " must be at least 1 unit (e.g. '1m')");
  return static_cast<int64_t>(n) * unit_ms;
}

std::string FormatWindow(int64_t window_ms) {
  static constexpr std::array<std::pair<int64_t, char>, 4> kUnits = {
      {{kDayMs, 'd'}, {kHourMs, 'h'}, {kMinuteMs, 'm'}, {kSecondMs, 's'}}};
  for (const auto& [unit_ms, suffix] : kUnits) {
    if (window_ms > 0 && window_ms % unit_ms == 0)
      return std::to_string(window_ms / unit_ms) + suffix;
  }
  return std::to_string(window_ms) + "ms";  // not a valid definition; shown for diagnosis only
}

StatusOr<ComputedAttributeDef> ParseComputedAttribute(std::string_view name,
                                                      std::string_view json) {
  RETURN_IF_ERROR(ValidateName(name));
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(simdjson::padded_string(json)).get(root)) {
    return InvalidArgumentError(std::string("request body is not valid JSON: ") +
                                simdjson::error_message(error));
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) return InvalidArgumentError("request body must be a JSON object");

  static constexpr std::array<std::string_view, 6> kFields = {"dataset", "eventType", "function",
                                                              "field",   "window",    "filter"};
  std::array<std::optional<simdjson::dom::element>, kFields.size()> values;
  for (const auto field : obj) {
    const auto it = std::find(kFields.begin(), kFields.end(), field.key);
    if (it == kFields.end()) {
      return InvalidArgumentError(
          "unknown field " + Quote(field.key) +
          " (expected: dataset, eventType, function, field, window, filter)");
    }
    auto& slot = values[static_cast<size_t>(it - kFields.begin())];
    if (slot) return InvalidArgumentError("duplicate field " + Quote(field.key));
    slot = field.value;
  }
  const auto& [dataset, event_type, function, field, window, filter] = values;

  ComputedAttributeDef def;
  def.name = std::string(name);
  std::string_view s;
  if (!dataset) return InvalidArgumentError("'dataset' is required");
  if (dataset->get_string().get(s) || s.empty())
    return InvalidArgumentError("'dataset' must be a non-empty string");
  def.dataset = std::string(s);
  if (event_type) {
    if (event_type->get_string().get(s) || s.empty()) {
      return InvalidArgumentError("'eventType' must be a non-empty string");
    }
    def.event_type = std::string(s);
  }
  if (!function) return InvalidArgumentError("'function' is required");
  static constexpr std::string_view kFunctionList =
      "count, sum, min, max, avg, last, distinct_count";
  if (function->get_string().get(s)) {
    return InvalidArgumentError("'function' must be a string: one of " +
                                std::string(kFunctionList));
  }
  bool known = false;
  for (AggregateFunction f :
       {AggregateFunction::kCount, AggregateFunction::kSum, AggregateFunction::kMin,
        AggregateFunction::kMax, AggregateFunction::kAvg, AggregateFunction::kLast,
        AggregateFunction::kDistinctCount}) {
    if (AggregateFunctionName(f) == s) {
      def.function = f;
      known = true;
    }
  }
  if (!known) {
    return InvalidArgumentError("'function' must be one of " + std::string(kFunctionList) +
                                " (got " + Quote(s) + ")");
  }
  if (field) {
    if (field->get_string().get(s)) return InvalidArgumentError("'field' must be a string");
    def.field = std::string(s);
  }
  if (!window) return InvalidArgumentError("'window' is required");
  if (window->get_string().get(s))
    return InvalidArgumentError("'window' must be a string such as '30m', '24h' or '7d'");
  ASSIGN_OR_RETURN(def.window_ms, ParseWindow(s));
  if (filter) {
    simdjson::dom::object filter_obj;
    if (filter->get_object().get(filter_obj)) {
      return InvalidArgumentError("'filter' must be an object mapping field paths to values");
    }
    std::string canonical;
    for (const auto f : filter_obj) {
      if (!CanonicalScalar(f.value, &canonical)) {
        return InvalidArgumentError("'filter' value for " + Quote(f.key) +
                                    " must be a string, number or boolean");
      }
      def.filters.emplace_back(std::string(f.key), canonical);
    }
  }
  ASSIGN_OR_RETURN(CompiledAttribute compiled, Compile(std::move(def)));
  return std::move(compiled.def);
}

std::string ComputedAttributeJson(const ComputedAttributeDef& def) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("dataset");
  w.String(def.dataset);
  if (def.event_type) {
    w.Key("eventType");
    w.String(*def.event_type);
  }
  w.Key("function");
  w.String(AggregateFunctionName(def.function));
  if (!def.field.empty()) {
    w.Key("field");
    w.String(def.field);
  }
  w.Key("window");
  w.String(FormatWindow(def.window_ms));
  if (!def.filters.empty()) {
    w.Key("filter");
    w.BeginObject();
    for (const auto& [path, value] : def.filters) {
      w.Key(path);
      w.Raw(value);
    }
    w.EndObject();
  }
  w.EndObject();
  return out;
}

// ------------------------------------------------------- ProfileStore ---

// Locking: write_mu serializes all mutations. Readers take the identity's
// shard lock (shared) for the whole call, then one person lock (shared) at a
// time. The writer takes a person lock (exclusive) to change a person, never
// while acquiring a shard lock, and two person locks only to merge; so no
// cycle can form. `defs` (and the layout of every person's `computed`) is
// changed only with write_mu and every shard lock held exclusively, which
// also keeps readers out of every person; it may be read under write_mu or
// any shard lock. A person is freed only after all its identities have been
// relinked, each under its shard's exclusive lock, so no reader can still
// hold it.
struct ProfileStore::Impl {
  explicit Impl(ProfileStoreOptions o) : options(std::move(o)) {
    if (!options.clock) {
      options.clock = [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
      };
    }
    options.max_entries_per_attribute = std::max<size_t>(options.max_entries_per_attribute, 1);
    options.lateness_ms = std::max<int64_t>(options.lateness_ms, 0);
  }

  ProfileStoreOptions options;
  std::mutex write_mu;
  uint64_t seq = 0;                     // guarded by write_mu
  std::vector<CompiledAttribute> defs;  // see the locking note
  std::array<Shard, kNumShards> shards;
  std::vector<std::unique_ptr<Person>> persons;  // guarded by write_mu
  std::atomic<uint64_t> attributes_version{0};
  std::atomic<size_t> num_persons{0};

  // Writer scratch (guarded by write_mu), reused to avoid per-event allocation.
  std::vector<Person*> found_persons;
  std::vector<std::string_view> new_identities;
  std::vector<const IdentityRecord*> relink;
  struct Pending {
    size_t index;
    Entry entry;
    bool intern;            // entry.sid is to be `text` interned
    std::string_view text;  // into the event or into `texts`
  };
  std::vector<Pending> pending;
  std::vector<std::string> texts;

  void LockAllShards() {
    for (Shard& s : shards) s.mu.lock();
  }
  void UnlockAllShards() {
    for (Shard& s : shards) s.mu.unlock();
  }

  int64_t Cutoff(const CompiledAttribute& a, int64_t wall) const {
    return SaturatingSub(SaturatingSub(wall, a.def.window_ms), options.lateness_ms);
  }

  Person* NewPerson() {
    auto p = std::make_unique<Person>();
    p->registry_index = persons.size();
    persons.push_back(std::move(p));
    num_persons.fetch_add(1, std::memory_order_relaxed);
    return persons.back().get();
  }

  void FreePerson(Person* p) {
    const size_t i = p->registry_index;
    std::swap(persons[i], persons.back());
    persons[i]->registry_index = i;
    persons.pop_back();
    num_persons.fetch_sub(1, std::memory_order_relaxed);
  }

  // Moves everything of `from` into `into`. Requires write_mu; takes both person locks.
  void MergeInto(Person* into, Person* from) {
    relink.assign(from->identities.begin(), from->identities.end());
    {
      std::unique_lock<RwMutex> a(into->mu);
      std::unique_lock<RwMutex> b(from->mu);
      std::vector<const IdentityRecord*> ids;
      ids.reserve(into->identities.size() + from->identities.size());
      std::merge(into->identities.begin(), into->identities.end(), from->identities.begin(),
                 from->identities.end(), std::back_inserter(ids), IdentityLess);
      into->identities = std::move(ids);
      if (into->computed.size() < from->computed.size())
        into->computed.resize(from->computed.size());
      for (size_t i = 0; i < from->computed.size(); ++i) {
        into->computed[i].MergeFrom(from->computed[i], options.max_entries_per_attribute);
      }
      MergeAttrNode(into->attributes, std::move(from->attributes));
      into->updated_ms = std::max(into->updated_ms, from->updated_ms);
      into->id = Fnv1a64(into->identities.front()->key());
      from->merged_into = into;
      from->identities.clear();
      from->computed.clear();
      from->attributes = AttrNode{};
    }
    // Readers that found `from` hold the shard lock of its identity; once every
    // identity is relinked no reader can still reach `from`.
    for (const IdentityRecord* record : relink) {
      std::unique_lock<RwMutex> lock(shards[record->shard].mu);
      const_cast<IdentityRecord*>(record)->person = into;
    }
    FreePerson(from);
  }

  // Unites the identities into one person (created if all are new). Requires write_mu.
  Person* Link(std::span<const std::string> identities) {
    found_persons.clear();
    new_identities.clear();
    for (const std::string& id : identities) {
      if (id.empty()) continue;
      const uint64_t hash = IdentityHash(id);
      if (const IdentityRecord* record = shards[ShardOfHash(hash)].table.Find(id, hash)) {
        Person* p = record->person;
        if (std::find(found_persons.begin(), found_persons.end(), p) == found_persons.end())
          found_persons.push_back(p);
      } else if (std::find(new_identities.begin(), new_identities.end(), id) ==
                 new_identities.end()) {
        new_identities.push_back(id);
      }
    }
    if (found_persons.empty() && new_identities.empty()) return nullptr;
    Person* target;
    if (found_persons.empty()) {
      target = NewPerson();
    } else {
      // Merge into the person with the most identities: each identity is then
      // relinked O(log n) times over the store's life.
      target = *std::max_element(found_persons.begin(), found_persons.end(),
                                 [](const Person* a, const Person* b) {
                                   return a->identities.size() < b->identities.size();
                                 });
      for (Person* p : found_persons) {
        if (p != target) MergeInto(target, p);
      }
    }
    for (std::string_view id : new_identities) {
      const uint64_t hash = IdentityHash(id);
      const uint32_t shard_index = ShardOfHash(hash);
      Shard& shard = shards[shard_index];
      IdentityRecord* record;
      {
        std::unique_lock<RwMutex> lock(shard.mu);
        record = shard.table.Insert(id, hash, shard_index);
      }
      {
        std::unique_lock<RwMutex> lock(target->mu);
        auto pos = std::upper_bound(target->identities.begin(), target->identities.end(), record,
                                    IdentityLess);
        target->identities.insert(pos, record);
        target->id = Fnv1a64(target->identities.front()->key());
      }
      // Published only now, so a reader never sees the person without this identity.
      std::unique_lock<RwMutex> lock(shard.mu);
      record->person = target;
    }
    return target;
  }

  // Collects the entry `e` contributes to attribute i (if any) into `pending`.
  void Collect(size_t i, const EventView& e, int64_t wall) {
    const CompiledAttribute& a = defs[i];
    if (a.def.dataset != e.dataset) return;
    if (a.def.event_type && *a.def.event_type != e.event_type) return;
    if (e.timestamp_ms <= Cutoff(a, wall)) return;
    std::string& text = texts[i];
    for (const auto& filter : a.filters) {
      simdjson::dom::element v;
      if (!FindPath(e.record, filter.path, &v) || !CanonicalScalar(v, &text) ||
          text != filter.value)
        return;
    }
    Pending p{i, Entry{}, false, {}};
    p.entry.ts = e.timestamp_ms;
    p.entry.seq = seq;
    const AggregateFunction f = a.def.function;
    if (f != AggregateFunction::kCount) {
      simdjson::dom::element v;
      if (!FindPath(e.record, a.field_path, &v)) return;
      if (f == AggregateFunction::kDistinctCount) {
        if (!CanonicalScalar(v, &text)) return;
        p.intern = true;
        p.text = text;
      } else if (f == AggregateFunction::kLast) {
        if (GetNumber(v, &p.entry.number)) {
          p.entry.kind = EntryKind::kNumber;
        } else if (bool b; !v.get_bool().get(b)) {
          p.entry.kind = EntryKind::kBool;
          p.entry.number = b ? 1 : 0;
        } else if (!v.get_string().get(p.text)) {
          p.entry.kind = EntryKind::kString;
          p.intern = true;
        } else {
          return;
        }
      } else {
        if (!GetNumber(v, &p.entry.number)) return;
        p.entry.kind = EntryKind::kNumber;
      }
    }
    pending.push_back(p);
  }

  // ApplyEvent for all attributes (only < 0) or one.
  void Apply(const EventView& e, int only) {
    std::lock_guard<std::mutex> lock(write_mu);
    ++seq;
    Person* person = Link(e.identities);
    if (person == nullptr) return;
    const int64_t wall = options.clock();
    pending.clear();
    if (texts.size() < defs.size()) texts.resize(defs.size());  // before views into it are taken
    if (only < 0) {
      for (size_t i = 0; i < defs.size(); ++i) Collect(i, e, wall);
    } else if (static_cast<size_t>(only) < defs.size()) {
      Collect(static_cast<size_t>(only), e, wall);
    }
    std::unique_lock<RwMutex> person_lock(person->mu);
    if (!pending.empty() && person->computed.size() < defs.size())
      person->computed.resize(defs.size());
    for (Pending& p : pending) {
      AttributeState& state = person->computed[p.index];
      if (p.intern) p.entry.sid = state.mutable_pool()->Intern(p.text);
      state.Insert(p.entry, options.max_entries_per_attribute);
      state.EvictThrough(Cutoff(defs[p.index], wall));
    }
    person->updated_ms = std::max(person->updated_ms, e.timestamp_ms);
  }

  // Finds the live person of `identity`. Requires the identity's shard lock
  // (shared); returns with *lock holding that person's lock, or null.
  const Person* Resolve(const Shard& shard, std::string_view identity, uint64_t hash,
                        std::shared_lock<RwMutex>* lock) const {
    const IdentityRecord* record = shard.table.Find(identity, hash);
    if (record == nullptr || record->person == nullptr) return nullptr;
    const Person* p = record->person;
    *lock = std::shared_lock<RwMutex>(p->mu);
    while (p->merged_into != nullptr) {
      const Person* next = p->merged_into;
      lock->unlock();
      p = next;
      *lock = std::shared_lock<RwMutex>(p->mu);
    }
    return p;
  }

  void EvaluateInto(const Person* p, int index, int64_t now_ms, Value& out) const {
    if (index < 0 || static_cast<size_t>(index) >= defs.size()) {
      out.kind = Value::Kind::kNull;
      return;
    }
    const size_t i = static_cast<size_t>(index);
    Evaluate(defs[i], p != nullptr && i < p->computed.size() ? &p->computed[i] : nullptr, now_ms,
             out);
  }
};

ProfileStore::ProfileStore(ProfileStoreOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
ProfileStore::~ProfileStore() = default;

Status ProfileStore::SetComputedAttribute(ComputedAttributeDef def) {
  ASSIGN_OR_RETURN(CompiledAttribute compiled, Compile(std::move(def)));
  std::lock_guard<std::mutex> lock(impl_->write_mu);
  impl_->LockAllShards();
  auto& defs = impl_->defs;
  auto it = std::find_if(defs.begin(), defs.end(), [&](const CompiledAttribute& a) {
    return a.def.name == compiled.def.name;
  });
  if (it == defs.end()) {
    defs.push_back(std::move(compiled));
  } else {
    const size_t index = static_cast<size_t>(it - defs.begin());
    *it = std::move(compiled);
    for (auto& p : impl_->persons) {
      if (index < p->computed.size()) p->computed[index].Clear();
    }
  }
  impl_->attributes_version.fetch_add(1, std::memory_order_acq_rel);
  impl_->UnlockAllShards();
  return OkStatus();
}

Status ProfileStore::RemoveComputedAttribute(std::string_view name) {
  std::lock_guard<std::mutex> lock(impl_->write_mu);
  auto& defs = impl_->defs;
  auto it = std::find_if(defs.begin(), defs.end(),
                         [&](const CompiledAttribute& a) { return a.def.name == name; });
  if (it == defs.end()) return NotFoundError("computed attribute " + Quote(name) + " not found");
  const size_t index = static_cast<size_t>(it - defs.begin());
  impl_->LockAllShards();
  defs.erase(it);
  for (auto& p : impl_->persons) {
    if (index < p->computed.size())
      p->computed.erase(p->computed.begin() + static_cast<ptrdiff_t>(index));
  }
  impl_->attributes_version.fetch_add(1, std::memory_order_acq_rel);
  impl_->UnlockAllShards();
  return OkStatus();
}

std::vector<ComputedAttributeDef> ProfileStore::ComputedAttributes() const {
  std::shared_lock<RwMutex> lock(impl_->shards[0].mu);
  std::vector<ComputedAttributeDef> out;
  out.reserve(impl_->defs.size());
  for (const auto& a : impl_->defs) out.push_back(a.def);
  return out;
}

std::optional<int> ProfileStore::AttributeIndex(std::string_view name) const {
  std::shared_lock<RwMutex> lock(impl_->shards[0].mu);
  for (size_t i = 0; i < impl_->defs.size(); ++i) {
    if (impl_->defs[i].def.name == name) return static_cast<int>(i);
  }
  return std::nullopt;
}

uint64_t ProfileStore::attributes_version() const {
  return impl_->attributes_version.load(std::memory_order_acquire);
}

size_t ProfileStore::num_persons() const {
  return impl_->num_persons.load(std::memory_order_relaxed);
}

void ProfileStore::ApplyEvent(const EventView& e) { impl_->Apply(e, -1); }

void ProfileStore::ReplayEvent(const EventView& e, int attribute_index) {
  if (attribute_index < 0) return;
  impl_->Apply(e, attribute_index);
}

void ProfileStore::ApplyProfileRecord(std::span<const std::string> identities,
                                      simdjson::dom::element attributes, int64_t record_ts_ms) {
  std::lock_guard<std::mutex> lock(impl_->write_mu);
  const Stamp stamp{record_ts_ms, ++impl_->seq};
  Person* person = impl_->Link(identities);
  if (person == nullptr) return;
  std::unique_lock<RwMutex> person_lock(person->mu);
  simdjson::dom::object obj;
  if (!attributes.get_object().get(obj)) WriteRecordValue(person->attributes, attributes, stamp);
  person->updated_ms = std::max(person->updated_ms, record_ts_ms);
}

size_t ProfileStore::EvictExpired() {
  std::lock_guard<std::mutex> lock(impl_->write_mu);
  const int64_t wall = impl_->options.clock();
  size_t evicted = 0;
  for (auto& p : impl_->persons) {
    std::unique_lock<RwMutex> person_lock(p->mu);
    for (size_t i = 0; i < p->computed.size(); ++i) {
      evicted += p->computed[i].EvictThrough(impl_->Cutoff(impl_->defs[i], wall));
    }
  }
  return evicted;
}

std::optional<uint64_t> ProfileStore::PersonOf(std::string_view identity) const {
  const uint64_t hash = IdentityHash(identity);
  const Shard& shard = impl_->shards[ShardOfHash(hash)];
  std::shared_lock<RwMutex> shard_lock(shard.mu);
  std::shared_lock<RwMutex> person_lock;
  const Person* p = impl_->Resolve(shard, identity, hash, &person_lock);
  if (p == nullptr) return std::nullopt;
  return p->id;
}

bool ProfileStore::Lookup(std::string_view identity, std::span<const int> attribute_indices,
                          int64_t now_ms, std::span<Value> out) const {
  const size_t n = std::min(attribute_indices.size(), out.size());
  const uint64_t hash = IdentityHash(identity);
  const Shard& shard = impl_->shards[ShardOfHash(hash)];
  std::shared_lock<RwMutex> shard_lock(shard.mu);
  std::shared_lock<RwMutex> person_lock;
  const Person* p = impl_->Resolve(shard, identity, hash, &person_lock);
  if (p != nullptr) {
    // The attributes' entries are separate allocations: start every cache
    // miss before the first is waited for.
    for (size_t i = 0; i < n; ++i) {
      const size_t index = static_cast<size_t>(attribute_indices[i]);
      if (index < p->computed.size()) __builtin_prefetch(p->computed[index].live().data());
    }
  }
  for (size_t i = 0; i < n; ++i) impl_->EvaluateInto(p, attribute_indices[i], now_ms, out[i]);
  return p != nullptr;
}

StatusOr<std::string> ProfileStore::ProfileJson(std::string_view identity, int64_t now_ms) const {
  const uint64_t hash = IdentityHash(identity);
  const Shard& shard = impl_->shards[ShardOfHash(hash)];
  std::shared_lock<RwMutex> shard_lock(shard.mu);
  std::shared_lock<RwMutex> person_lock;
  const Person* p = impl_->Resolve(shard, identity, hash, &person_lock);
  if (p == nullptr) return NotFoundError("no profile for identity " + Quote(identity));
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("identity");
  w.String(identity);
  w.Key("person");
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(p->id));
  w.String(hex);
  w.Key("identities");
  w.BeginArray();
  for (const IdentityRecord* record : p->identities) w.String(record->key());
  w.EndArray();
  w.Key("attributes");
  if (p->attributes.is_object) {
    WriteAttrNode(w, p->attributes);
  } else {
    w.BeginObject();
    w.EndObject();
  }
  w.Key("computed");
  w.BeginObject();
  Value v;
  for (size_t i = 0; i < impl_->defs.size(); ++i) {
    impl_->EvaluateInto(p, static_cast<int>(i), now_ms, v);
    w.Key(impl_->defs[i].def.name);
    WriteValue(w, v);
  }
  w.EndObject();
  w.Key("updated");
  if (p->updated_ms == std::numeric_limits<int64_t>::min())
    w.Null();
  else
    w.String(FormatRfc3339Millis(p->updated_ms));
  w.EndObject();
  return out;
}

}  // namespace rtml::data
