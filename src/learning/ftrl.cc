// FTRL-Proximal learner, published weights and snapshots; see ftrl.h.
#include "learning/ftrl.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "learning/internal/snapshot_codec.h"

namespace rtml::learning {
namespace {

constexpr std::string_view kSnapshotMagic = "RTMLFTRL";
constexpr uint32_t kSnapshotVersion = 1;
// magic, format version, total length.
constexpr size_t kSnapshotPrefix = 8 + 4 + 8;
constexpr size_t kCoordinateRecord = 4 + 8 + 8;
constexpr size_t kRecentRecord = 8 + 8;
constexpr double kLoglossClip = 1e-15;
// Upper bounds of the options (generous; they only keep arithmetic finite).
constexpr double kHuge = 1e12;
constexpr double kHugeValue = 1e30;
constexpr double kMinAlpha = 1e-12;

bool InRange(double v, double lo, double hi, bool lo_open) {
  return std::isfinite(v) && (lo_open ? v > lo : v >= lo) && v <= hi;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// OK when v is finite and in (lo, hi] or [lo, hi]; otherwise an error that
// names the field and the allowed range.
Status CheckRange(std::string_view field, double v, double lo, double hi, bool lo_open) {
  if (InRange(v, lo, hi, lo_open)) return OkStatus();
  return InvalidArgumentError(std::string(field) + " must be finite and in " +
                              (lo_open ? "(" : "[") + Num(lo) + ", " + Num(hi) + "], got " +
                              Num(v));
}

inline double Sigmoid(double margin) { return 1.0 / (1.0 + std::exp(-margin)); }

double LogLoss(double p, double label) {
  const double q = std::clamp(p, kLoglossClip, 1.0 - kLoglossClip);
  return -(label * std::log(q) + (1.0 - label) * std::log(1.0 - q));
}

// Area under the ROC curve by the Mann-Whitney rank sum (ties get average
// ranks). Labels >= 0.5 count as positive. NaN without both classes.
template <typename Entry>
double RankAuc(std::vector<Entry>& entries) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.p < b.p; });
  double positives = 0, rank_sum = 0;
  size_t i = 0;
  while (i < entries.size()) {
    size_t j = i;
    double group_pos = 0;
    while (j < entries.size() && entries[j].p == entries[i].p) {
      if (entries[j].label >= 0.5) group_pos += 1;
      ++j;
    }
    // Ranks i+1 .. j share the average (i + 1 + j) / 2.
    rank_sum += group_pos * (static_cast<double>(i + 1 + j) / 2.0);
    positives += group_pos;
    i = j;
  }
  const double negatives = static_cast<double>(entries.size()) - positives;
  if (positives == 0 || negatives == 0) return std::nan("");
  return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives);
}

}  // namespace

namespace {

// Each field that fails validation on its own is replaced by its default, so
// a learner built from unchecked options can never divide by zero or learn
// NaN (Create reports the error instead).
FtrlOptions Sanitized(FtrlOptions o) {
  const FtrlOptions d;
  auto fix = [](double& v, double fallback, double lo, double hi, bool lo_open) {
    if (!InRange(v, lo, hi, lo_open)) v = fallback;
  };
  fix(o.alpha, d.alpha, 0, kHuge, true);
  fix(o.beta, d.beta, 0, kHuge, false);
  fix(o.l1, d.l1, 0, kHuge, false);
  fix(o.l2, d.l2, 0, kHuge, false);
  if (o.beta == 0 && o.l2 == 0) o.l2 = d.l2;
  o.bits = std::clamp(o.bits, FeatureHasher::kMinBits, FeatureHasher::kMaxBits);
  fix(o.max_abs_gradient, d.max_abs_gradient, 0, kHuge, true);
  fix(o.max_abs_feature_value, d.max_abs_feature_value, 0, kHugeValue, true);
  fix(o.max_abs_weight, d.max_abs_weight, 0, kHuge, true);
  return o;
}

}  // namespace

Status ValidateOptions(const FtrlOptions& o) {
  RETURN_IF_ERROR(CheckRange("alpha", o.alpha, 0, kHuge, true));
  // Not just > 0: sigma = (...) / alpha overflows to inf for a subnormal alpha
  // and inf * 0 then makes z (and every prediction) NaN.
  if (o.alpha < kMinAlpha) {
    return InvalidArgumentError("alpha must be at least " + Num(kMinAlpha) + ", got " + Num(o.alpha));
  }
  RETURN_IF_ERROR(CheckRange("beta", o.beta, 0, kHuge, false));
  RETURN_IF_ERROR(CheckRange("l1", o.l1, 0, kHuge, false));
  RETURN_IF_ERROR(CheckRange("l2", o.l2, 0, kHuge, false));
  if (o.bits < FeatureHasher::kMinBits || o.bits > FeatureHasher::kMaxBits) {
    return InvalidArgumentError("bits must be in [" + std::to_string(FeatureHasher::kMinBits) +
                                ", " + std::to_string(FeatureHasher::kMaxBits) + "], got " +
                                std::to_string(o.bits));
  }
  RETURN_IF_ERROR(CheckRange("max_abs_gradient", o.max_abs_gradient, 0, kHuge, true));
  RETURN_IF_ERROR(
      CheckRange("max_abs_feature_value", o.max_abs_feature_value, 0, kHugeValue, true));
  RETURN_IF_ERROR(CheckRange("max_abs_weight", o.max_abs_weight, 0, kHuge, true));
  // A zero (beta + sqrt(n)) / alpha + l2 denominator at n = 0 would divide by zero.
  if (o.beta == 0 && o.l2 == 0) {
    return InvalidArgumentError(
        "beta and l2 must not both be 0 (the first weight would divide by 0)");
  }
  return OkStatus();
}

// ------------------------------------------------------------ FtrlWeights

FtrlWeights::FtrlWeights(int bits)
    : bits_(bits),
      mask_((uint32_t{1} << bits) - 1),
      w_(std::make_unique_for_overwrite<double[]>(size_t{1} << bits)) {}

double FtrlWeights::Margin(std::span<const HashedFeature> x) const {
  const double* w = w_.get();
  double margin = 0;
  for (const HashedFeature& f : x) {
    const double v = f.value;
    if (!std::isfinite(v)) continue;
    margin += w[f.index & mask_] * v;
  }
  return margin;
}

double FtrlWeights::Predict(std::span<const HashedFeature> x) const { return Sigmoid(Margin(x)); }

// ------------------------------------------------------------ FtrlLearner

FtrlLearner::FtrlLearner(FtrlOptions options)
    : options_(Sanitized(options)),
      mask_((uint32_t{1} << options_.bits) - 1),
      coords_(std::make_unique<Coordinate[]>(size_t{1} << options_.bits)),
      recent_(kRecentWindow),
      dirty_bits_(((size_t{1} << options_.bits) + 63) / 64, 0) {
  front_ = std::shared_ptr<FtrlWeights>(new FtrlWeights(options_.bits));
  std::fill_n(front_->w_.get(), front_->size(), 0.0);
  current_.store(front_, std::memory_order_release);
}

FtrlLearner::~FtrlLearner() = default;

StatusOr<std::unique_ptr<FtrlLearner>> FtrlLearner::Create(const FtrlOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  return std::make_unique<FtrlLearner>(options);
}

double FtrlLearner::WeightOf(double z, double n) const { return WeightOfRoot(z, std::sqrt(n)); }

double FtrlLearner::WeightOfRoot(double z, double sqrt_n) const {
  if (std::abs(z) <= options_.l1) return 0.0;
  const double sign = z < 0 ? -1.0 : 1.0;
  const double w =
      -(z - sign * options_.l1) / ((options_.beta + sqrt_n) / options_.alpha + options_.l2);
  return std::clamp(w, -options_.max_abs_weight, options_.max_abs_weight);
}

void FtrlLearner::MarkDirty(uint32_t index) {
  if (all_dirty_) return;
  uint64_t& word = dirty_bits_[index >> 6];
  const uint64_t bit = uint64_t{1} << (index & 63);
  if (word & bit) return;
  if (dirty_.size() >= (size_t{mask_} + 1) / 8) {
    all_dirty_ = true;  // a full copy is now cheaper than the list
    return;
  }
  word |= bit;
  dirty_.push_back(index);
}

Status FtrlLearner::Update(std::span<const HashedFeature> x, double label, double weight) {
  Status invalid;
  if (!(std::isfinite(label) && label >= 0.0 && label <= 1.0)) {
    invalid = InvalidArgumentError("label must be finite and in [0, 1], got " + Num(label));
  } else if (!(std::isfinite(weight) && weight > 0.0)) {
    invalid = InvalidArgumentError("weight must be finite and > 0, got " + Num(weight));
  } else {
    const Coordinate* coords = coords_.get();
    for (size_t i = 0; i < x.size(); ++i) {
      const double v = x[i].value;
      // Start fetching the coordinate (the table never moves; a prefetch
      // cannot fault) so the misses overlap before the lock is taken.
      __builtin_prefetch(coords + (x[i].index & mask_), 1);
      if (x[i].index > mask_) {
        invalid = InvalidArgumentError("feature " + std::to_string(i) + ": index " +
                                       std::to_string(x[i].index) + " is outside the 2^" +
                                       std::to_string(options_.bits) +
                                       "-coordinate table (hashed with different bits?)");
        break;
      }
      if (!std::isfinite(v)) {
        invalid = InvalidArgumentError("feature " + std::to_string(i) + " (index " +
                                       std::to_string(x[i].index) + "): value is not finite");
        break;
      }
      if (std::abs(v) > options_.max_abs_feature_value) {
        invalid = InvalidArgumentError("feature " + std::to_string(i) + " (index " +
                                       std::to_string(x[i].index) + "): |value| " +
                                       Num(std::abs(v)) + " exceeds max_abs_feature_value " +
                                       Num(options_.max_abs_feature_value));
        break;
      }
    }
  }
  std::lock_guard lock(mu_);
  if (!invalid.ok()) {
    ++rejected_;
    return invalid;
  }
  Coordinate* coords = coords_.get();
  // Progressive validation: score with the weights before this example.
  double margin = 0;
  for (const HashedFeature& f : x) margin += coords[f.index].w * static_cast<double>(f.value);
  const double p = Sigmoid(margin);
  logloss_sum_ += LogLoss(p, label);
  recent_[recent_next_] = {p, label};
  recent_next_ = (recent_next_ + 1) % kRecentWindow;
  recent_size_ = std::min(recent_size_ + 1, kRecentWindow);

  // Algorithm 1 of McMahan et al. 2013, per coordinate i with x_i != 0.
  const double residual = weight * (p - label);
  const double clip = options_.max_abs_gradient;
  for (const HashedFeature& f : x) {
    Coordinate& c = coords[f.index];
    const double g = std::clamp(residual * static_cast<double>(f.value), -clip, clip);
    // sqrt(n + g^2) is also sqrt of the new n: computed once, bit-identical.
    const double root_new = std::sqrt(c.n + g * g);
    const double sigma = (root_new - std::sqrt(c.n)) / options_.alpha;
    c.z += g - sigma * c.w;
    c.n += g * g;
    c.w = WeightOfRoot(c.z, root_new);
    MarkDirty(f.index);
  }
  ++updates_;
  return OkStatus();
}

void FtrlLearner::Publish() {
  std::lock_guard lock(mu_);
  PublishLocked();
}

void FtrlLearner::PublishLocked() {
  if (updates_ == front_->version_) return;
  const size_t size = size_t{mask_} + 1;
  const Coordinate* coords = coords_.get();
  std::shared_ptr<FtrlWeights> target;
  bool full = all_dirty_;
  if (retired_ != nullptr && retired_.use_count() == 1) {
    // No reader holds the snapshot before last, and none can get it again
    // (it left current_ one Publish ago). The acquire fence pairs with the
    // release decrement of the last reader's reference, so its reads of the
    // old weights happen before we overwrite them.
    std::atomic_thread_fence(std::memory_order_acquire);
    target = std::move(retired_);
    // target is one delta behind front_: replay that delta, then this one.
    if (previous_all_dirty_) {
      full = true;
    } else if (!full) {
      double* w = target->w_.get();
      for (uint32_t i : previous_dirty_) w[i] = coords[i].w;
    }
  } else {
    retired_.reset();  // a reader still holds it; it dies with that reader
    target = std::shared_ptr<FtrlWeights>(new FtrlWeights(options_.bits));
    if (!full) std::memcpy(target->w_.get(), front_->w_.get(), size * sizeof(double));
  }
  double* w = target->w_.get();
  if (full) {
    for (size_t i = 0; i < size; ++i) w[i] = coords[i].w;
  } else {
    for (uint32_t i : dirty_) w[i] = coords[i].w;
  }
  target->version_ = updates_;
  current_.store(target, std::memory_order_release);
  retired_ = std::move(front_);
  front_ = std::move(target);

  // This delta becomes the previous one; reset the tracking.
  if (all_dirty_) {
    std::fill(dirty_bits_.begin(), dirty_bits_.end(), 0);
  } else {
    for (uint32_t i : dirty_) dirty_bits_[i >> 6] = 0;
  }
  previous_all_dirty_ = all_dirty_;
  previous_dirty_.swap(dirty_);
  dirty_.clear();
  all_dirty_ = false;
}

FtrlLearner::Coordinate FtrlLearner::coordinate(uint32_t index) const {
  std::lock_guard lock(mu_);
  return coords_[index & mask_];
}

ProgressiveMetrics FtrlLearner::metrics() const {
  ProgressiveMetrics m;
  std::vector<Recent> window;
  {
    std::lock_guard lock(mu_);
    m.updates = updates_;
    m.rejected = rejected_;
    m.logloss = updates_ == 0 ? 0.0 : logloss_sum_ / static_cast<double>(updates_);
    // Oldest first, so the sums do not depend on where the ring wraps.
    window.reserve(recent_size_);
    const size_t start = (recent_next_ + kRecentWindow - recent_size_) % kRecentWindow;
    for (size_t k = 0; k < recent_size_; ++k)
      window.push_back(recent_[(start + k) % kRecentWindow]);
  }
  m.published_version = Current()->version();
  m.recent_count = window.size();
  double sum = 0;
  for (const Recent& r : window) sum += LogLoss(r.p, r.label);
  m.recent_logloss = window.empty() ? std::nan("") : sum / static_cast<double>(window.size());
  m.auc = RankAuc(window);
  return m;
}

// --------------------------------------------------------------- snapshot

std::string FtrlLearner::SaveSnapshot() const {
  std::string out;
  internal::ByteWriter w(out);
  std::lock_guard lock(mu_);
  const size_t size = size_t{mask_} + 1;
  uint64_t touched = 0;
  for (size_t i = 0; i < size; ++i) {
    if (std::bit_cast<uint64_t>(coords_[i].z) != 0 || std::bit_cast<uint64_t>(coords_[i].n) != 0)
      ++touched;
  }
  const size_t total = kSnapshotPrefix + 7 * 8 + 4 + 3 * 8 + 4 + recent_size_ * kRecentRecord + 8 +
                       touched * kCoordinateRecord + 4;
  out.reserve(total);
  w.Bytes(kSnapshotMagic);
  w.U32(kSnapshotVersion);
  w.U64(total);
  w.F64(options_.alpha);
  w.F64(options_.beta);
  w.F64(options_.l1);
  w.F64(options_.l2);
  w.F64(options_.max_abs_gradient);
  w.F64(options_.max_abs_feature_value);
  w.F64(options_.max_abs_weight);
  w.U32(static_cast<uint32_t>(options_.bits));
  w.U64(updates_);
  w.U64(rejected_);
  w.F64(logloss_sum_);
  w.U32(static_cast<uint32_t>(recent_size_));
  // Oldest first.
  const size_t start = (recent_next_ + kRecentWindow - recent_size_) % kRecentWindow;
  for (size_t k = 0; k < recent_size_; ++k) {
    const Recent& r = recent_[(start + k) % kRecentWindow];
    w.F64(r.p);
    w.F64(r.label);
  }
  w.U64(touched);
  for (size_t i = 0; i < size; ++i) {
    const Coordinate& c = coords_[i];
    if (std::bit_cast<uint64_t>(c.z) == 0 && std::bit_cast<uint64_t>(c.n) == 0) continue;
    w.U32(static_cast<uint32_t>(i));
    w.F64(c.z);
    w.F64(c.n);
  }
  w.U32(internal::Crc32(out));
  return out;
}

StatusOr<std::unique_ptr<FtrlLearner>> FtrlLearner::LoadSnapshot(std::string_view bytes) {
  auto corrupt = [](std::string what) { return InvalidArgumentError("FTRL snapshot: " + what); };
  if (bytes.size() < kSnapshotPrefix + 4) {
    return corrupt("truncated: " + std::to_string(bytes.size()) +
                   " bytes is shorter than the header");
  }
  internal::ByteReader r(bytes);
  if (r.Bytes(kSnapshotMagic.size()) != kSnapshotMagic) {
    return corrupt("bad magic (not an rtml FTRL snapshot)");
  }
  const uint32_t version = r.U32();
  if (version != kSnapshotVersion) {
    return corrupt("unsupported format version " + std::to_string(version) + " (this build reads " +
                   std::to_string(kSnapshotVersion) + ")");
  }
  const uint64_t total = r.U64();
  if (total != bytes.size()) {
    return corrupt(total > bytes.size()
                       ? "truncated: header says " + std::to_string(total) + " bytes, got " +
                             std::to_string(bytes.size())
                       : std::to_string(bytes.size() - total) + " unexpected trailing bytes");
  }
  const std::string_view body = bytes.substr(0, bytes.size() - 4);
  internal::ByteReader crc_reader(bytes.substr(bytes.size() - 4));
  if (crc_reader.U32() != internal::Crc32(body)) return corrupt("checksum mismatch (corrupt data)");

  FtrlOptions options;
  options.alpha = r.F64();
  options.beta = r.F64();
  options.l1 = r.F64();
  options.l2 = r.F64();
  options.max_abs_gradient = r.F64();
  options.max_abs_feature_value = r.F64();
  options.max_abs_weight = r.F64();
  options.bits = static_cast<int>(std::min<uint32_t>(r.U32(), 1000));
  if (Status s = ValidateOptions(options); !s.ok()) return corrupt("options: " + s.message());
  auto learner = std::make_unique<FtrlLearner>(options);
  FtrlLearner& l = *learner;
  l.updates_ = r.U64();
  l.rejected_ = r.U64();
  l.logloss_sum_ = r.F64();
  if (!(std::isfinite(l.logloss_sum_) && l.logloss_sum_ >= 0)) return corrupt("bad logloss sum");
  const uint32_t recent = r.U32();
  if (recent > kRecentWindow || recent > l.updates_) {
    return corrupt("recent window of " + std::to_string(recent) + " entries exceeds " +
                   std::to_string(kRecentWindow) + " or the update count");
  }
  if (r.remaining() < size_t{recent} * kRecentRecord) return corrupt("truncated recent window");
  for (uint32_t k = 0; k < recent; ++k) {
    const double p = r.F64(), label = r.F64();
    if (!(p >= 0 && p <= 1 && label >= 0 && label <= 1)) return corrupt("bad recent prediction");
    l.recent_[k] = {p, label};
  }
  l.recent_size_ = recent;
  l.recent_next_ = recent % kRecentWindow;
  const uint64_t touched = r.U64();
  const size_t size = size_t{l.mask_} + 1;
  if (!r.ok() || touched > size || r.remaining() != touched * kCoordinateRecord + 4) {
    return corrupt("coordinate section does not match its count");
  }
  int64_t previous = -1;
  for (uint64_t k = 0; k < touched; ++k) {
    const uint32_t index = r.U32();
    const double z = r.F64(), n = r.F64();
    if (static_cast<int64_t>(index) <= previous || index > l.mask_) {
      return corrupt("coordinate index " + std::to_string(index) + " out of order or out of range");
    }
    if (!(std::isfinite(z) && std::isfinite(n) && n >= 0)) {
      return corrupt("coordinate " + std::to_string(index) + " has a non-finite z or negative n");
    }
    previous = index;
    l.coords_[index] = {z, n, l.WeightOf(z, n)};
  }
  if (!r.ok()) return corrupt("truncated");
  double* w = l.front_->w_.get();
  for (size_t i = 0; i < size; ++i) w[i] = l.coords_[i].w;
  l.front_->version_ = l.updates_;
  return learner;
}

}  // namespace rtml::learning
