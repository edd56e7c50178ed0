// ProfileStoreSource: the ProfileSource of a live data::ProfileStore.
//
// Attribute names resolve to store indices through a name -> index snapshot
// rebuilt only when the store's attributes_version changes, so a steady-state
// Lookup takes one atomic load and performs no allocation (per-thread scratch
// buffers grow once). Numbers are returned as is, booleans as 1/0; strings,
// nulls and unknown attributes as NaN. Thread-safe; the store must outlive it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "data/profiles.h"
#include "pipeline/pipeline.h"

namespace rtml::pipeline {

class ProfileStoreSource final : public ProfileSource {
 public:
  explicit ProfileStoreSource(const data::ProfileStore* store);
  ~ProfileStoreSource() override;
  ProfileStoreSource(const ProfileStoreSource&) = delete;
  ProfileStoreSource& operator=(const ProfileStoreSource&) = delete;

  bool Lookup(std::string_view identity, std::span<const std::string> attributes, int64_t now_ms,
              std::span<double> out) const override;

 private:
  struct Snapshot;
  std::shared_ptr<const Snapshot> Current() const;

  const data::ProfileStore* store_;
  // Replaced (never mutated) when the store's attribute definitions change.
  mutable std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
};

}  // namespace rtml::pipeline
