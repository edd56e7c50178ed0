// API keys, roles and sandboxes.
//
// Keys are random 32-byte tokens ("rtml_" + 64 hex); only their SHA-256 is
// stored. A key carries a role and a set of sandboxes ("*" for all). The
// environment variable RTML_ADMIN_KEY, when set, is an admin key for all
// sandboxes; with no key configured at all the server generates an admin key
// on first start and writes it to <data-dir>/admin.key (mode 0600).
// Thread-safety: Authenticate is called from every event loop; it consults a
// per-thread cache validated by a generation counter, so the hot path takes
// no lock. Key changes take a mutex and bump the generation.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "serving/catalog.h"

namespace rtml::server {

enum class Role { kAdmin, kAuthor, kIngest, kPredict, kRead };
// What a route requires.
enum class Permission { kPublic, kRead, kPredict, kIngest, kAuthor, kAdmin };

std::string_view RoleName(Role r);
StatusOr<Role> ParseRole(std::string_view name);
bool RoleAllows(Role role, Permission p);

struct Principal {
  std::string key_id;
  Role role = Role::kRead;
  bool all_sandboxes = false;
  std::vector<std::string> sandboxes;
  bool CanAccess(std::string_view sandbox) const;
  // Rate limiting state (GCRA "theoretical arrival time", ns since epoch of
  // steady_clock). Shared by all requests with this key.
  mutable std::atomic<int64_t> tat_ns{0};
  // True if a request is allowed at `now_ns` under `rate` per second with
  // bursts of `burst` requests.
  bool Admit(int64_t now_ns, double rate, double burst) const;
};

struct CreatedKey {
  std::string key;  // shown once
  serving::KeyRecord record;
};

class KeyStore {
 public:
  explicit KeyStore(serving::Catalog* catalog) : catalog_(catalog) {}

  // Loads stored keys; installs RTML_ADMIN_KEY (if non-empty); generates and
  // writes admin.key when no key exists at all. `generated_path` receives the
  // file written, if any.
  Status Init(const std::string& env_admin_key, std::string* generated_path);

  // Resolves "Bearer <key>"; null if unknown. `thread` selects the cache.
  std::shared_ptr<const Principal> Authenticate(std::string_view authorization_header, int thread);

  StatusOr<CreatedKey> Create(Role role, std::vector<std::string> sandboxes, std::string description);
  StatusOr<std::vector<serving::KeyRecord>> List() const;
  Status Delete(std::string_view id);

 private:
  struct Entry {
    std::shared_ptr<const Principal> principal;
  };
  struct TokenHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct ThreadCache {
    uint64_t generation = 0;
    std::unordered_map<std::string, std::shared_ptr<const Principal>, TokenHash, std::equal_to<>> by_token;
  };
  void RebuildLocked(const std::vector<serving::KeyRecord>& records);

  serving::Catalog* catalog_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const Principal>> by_hash_;  // guarded by mu_
  std::shared_ptr<const Principal> env_admin_;                                  // guarded by mu_
  std::string env_admin_hash_;                                                  // guarded by mu_
  std::atomic<uint64_t> generation_{1};
  static constexpr int kMaxThreads = 256;
  std::unique_ptr<ThreadCache[]> caches_ = std::make_unique<ThreadCache[]>(kMaxThreads + 1);
};

}  // namespace rtml::server
