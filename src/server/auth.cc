#include "server/auth.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "common/crypto.h"
#include "nlohmann/json.hpp"

namespace rtml::server {

std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kAdmin: return "admin";
    case Role::kAuthor: return "author";
    case Role::kIngest: return "ingest";
    case Role::kPredict: return "predict";
    case Role::kRead: return "read";
  }
  return "read";
}

StatusOr<Role> ParseRole(std::string_view name) {
  if (name == "admin") return Role::kAdmin;
  if (name == "author") return Role::kAuthor;
  if (name == "ingest") return Role::kIngest;
  if (name == "predict") return Role::kPredict;
  if (name == "read") return Role::kRead;
  return InvalidArgumentError("role must be one of admin, author, ingest, predict, read; got '" +
                              std::string(name) + "'");
}

bool RoleAllows(Role role, Permission p) {
  switch (p) {
    case Permission::kPublic: return true;
    case Permission::kAdmin: return role == Role::kAdmin;
    case Permission::kAuthor: return role == Role::kAdmin || role == Role::kAuthor;
    case Permission::kIngest: return role == Role::kAdmin || role == Role::kIngest;
    case Permission::kPredict: return role == Role::kAdmin || role == Role::kAuthor || role == Role::kPredict;
    case Permission::kRead: return role != Role::kPredict && role != Role::kIngest;
  }
  return false;
}

bool Principal::CanAccess(std::string_view sandbox) const {
  if (all_sandboxes) return true;
  for (const auto& s : sandboxes)
    if (s == sandbox) return true;
  return false;
}

bool Principal::Admit(int64_t now_ns, double rate, double burst) const {
  const int64_t interval = static_cast<int64_t>(1e9 / rate);
  const int64_t tolerance = static_cast<int64_t>(static_cast<double>(interval) * std::max(burst - 1.0, 0.0));
  int64_t tat = tat_ns.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t base = std::max(tat, now_ns);
    if (base - now_ns > tolerance) return false;
    if (tat_ns.compare_exchange_weak(tat, base + interval, std::memory_order_relaxed)) return true;
  }
}

namespace {
std::shared_ptr<const Principal> FromRecord(const serving::KeyRecord& r) {
  auto p = std::make_shared<Principal>();
  p->key_id = r.id;
  auto role = ParseRole(r.role);
  p->role = role.ok() ? *role : Role::kRead;
  try {
    for (const auto& s : nlohmann::json::parse(r.sandboxes)) {
      const std::string name = s.get<std::string>();
      if (name == "*") p->all_sandboxes = true;
      else p->sandboxes.push_back(name);
    }
  } catch (const std::exception&) {
    // An unreadable sandbox list grants nothing.
  }
  return p;
}
}  // namespace

void KeyStore::RebuildLocked(const std::vector<serving::KeyRecord>& records) {
  by_hash_.clear();
  for (const auto& r : records) by_hash_[r.hash] = FromRecord(r);
  generation_.fetch_add(1, std::memory_order_release);
}

Status KeyStore::Init(const std::string& env_admin_key, std::string* generated_path) {
  ASSIGN_OR_RETURN(auto records, catalog_->ListKeys());
  std::lock_guard<std::mutex> lock(mu_);
  if (!env_admin_key.empty()) {
    auto p = std::make_shared<Principal>();
    p->key_id = "env:RTML_ADMIN_KEY";
    p->role = Role::kAdmin;
    p->all_sandboxes = true;
    env_admin_ = p;
    env_admin_hash_ = Sha256Hex(env_admin_key);
  }
  if (records.empty() && env_admin_key.empty()) {
    const std::string key = "rtml_" + RandomHex(32);
    serving::KeyRecord rec{"key_" + RandomHex(6), Sha256Hex(key), "admin", "[\"*\"]",
                           "generated on first start", serving::NowRfc3339()};
    RETURN_IF_ERROR(catalog_->AddKey(rec));
    records.push_back(rec);
    const std::string path = (std::filesystem::path(catalog_->data_dir()) / "admin.key").string();
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return InternalError("cannot write " + path);
    ::fchmod(fd, 0600);
    const std::string line = key + "\n";
    const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::fsync(fd);
    ::close(fd);
    if (!ok) return InternalError("cannot write " + path);
    if (generated_path) *generated_path = path;
  }
  RebuildLocked(records);
  return OkStatus();
}

std::shared_ptr<const Principal> KeyStore::Authenticate(std::string_view header, int thread) {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() || header.substr(0, kBearer.size()) != kBearer) return nullptr;
  std::string_view token = header.substr(kBearer.size());
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty() || token.size() > 256) return nullptr;
  ThreadCache* cache = nullptr;
  if (thread >= 0 && thread < kMaxThreads) {
    cache = &caches_[static_cast<size_t>(thread) + 1];
    const uint64_t gen = generation_.load(std::memory_order_acquire);
    if (cache->generation != gen) {
      cache->by_token.clear();
      cache->generation = gen;
    } else if (auto it = cache->by_token.find(token); it != cache->by_token.end()) {
      return it->second;
    }
  }
  const std::string hash = Sha256Hex(token);
  std::shared_ptr<const Principal> found;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (env_admin_ && hash == env_admin_hash_) {
      found = env_admin_;
    } else if (auto it = by_hash_.find(hash); it != by_hash_.end()) {
      found = it->second;
    }
  }
  // Unknown tokens are not cached, so the cache cannot be flooded.
  if (found && cache && cache->by_token.size() < 4096) cache->by_token.emplace(std::string(token), found);
  return found;
}

StatusOr<CreatedKey> KeyStore::Create(Role role, std::vector<std::string> sandboxes, std::string description) {
  if (sandboxes.empty()) return InvalidArgumentError("sandboxes must list at least one sandbox (or \"*\")");
  nlohmann::json sb = sandboxes;
  CreatedKey out;
  out.key = "rtml_" + RandomHex(32);
  out.record = {"key_" + RandomHex(6), Sha256Hex(out.key), std::string(RoleName(role)), sb.dump(),
                std::move(description), serving::NowRfc3339()};
  RETURN_IF_ERROR(catalog_->AddKey(out.record));
  ASSIGN_OR_RETURN(auto records, catalog_->ListKeys());
  std::lock_guard<std::mutex> lock(mu_);
  RebuildLocked(records);
  return out;
}

StatusOr<std::vector<serving::KeyRecord>> KeyStore::List() const { return catalog_->ListKeys(); }

Status KeyStore::Delete(std::string_view id) {
  RETURN_IF_ERROR(catalog_->DeleteKey(id));
  ASSIGN_OR_RETURN(auto records, catalog_->ListKeys());
  std::lock_guard<std::mutex> lock(mu_);
  RebuildLocked(records);
  return OkStatus();
}

}  // namespace rtml::server
