#include "serving/catalog.h"

#include "common/crypto.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace rtml::serving {

namespace fs = std::filesystem;

std::string NowRfc3339() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t t = system_clock::to_time_t(now);
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

namespace {

Status WriteFileDurably(const fs::path& path, std::string_view bytes) {
  // A unique temporary name: concurrent writers of the same content must not
  // rename each other's files away.
  const fs::path tmp = path.string() + "." + RandomHex(8) + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return InternalError("cannot create " + tmp.string());
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      ::close(fd);
      return InternalError("cannot write " + tmp.string());
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return InternalError("cannot fsync " + tmp.string());
  }
  ::close(fd);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return InternalError("cannot rename " + tmp.string() + ": " + ec.message());
  const int dfd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return OkStatus();
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS model_versions (
  sandbox TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
  sha256 TEXT NOT NULL, size_bytes INTEGER NOT NULL, created TEXT NOT NULL, signature TEXT NOT NULL,
  PRIMARY KEY (sandbox, name, version));
CREATE TABLE IF NOT EXISTS services (
  sandbox TEXT NOT NULL, name TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,
  traffic TEXT NOT NULL, PRIMARY KEY (sandbox, name));
CREATE TABLE IF NOT EXISTS revisions (
  sandbox TEXT NOT NULL, service TEXT NOT NULL, revision INTEGER NOT NULL,
  spec TEXT NOT NULL, created TEXT NOT NULL, PRIMARY KEY (sandbox, service, revision));
CREATE TABLE IF NOT EXISTS service_counters (
  sandbox TEXT NOT NULL, name TEXT NOT NULL, last_revision INTEGER NOT NULL,
  PRIMARY KEY (sandbox, name));
CREATE TABLE IF NOT EXISTS training_runs (
  id TEXT PRIMARY KEY, sandbox TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL, sandboxes TEXT NOT NULL,
  description TEXT NOT NULL, created TEXT NOT NULL);
)sql";

}  // namespace

Catalog::Catalog(std::string data_dir, std::unique_ptr<sqlite::Database> db)
    : data_dir_(std::move(data_dir)), db_(std::move(db)) {}

StatusOr<std::unique_ptr<Catalog>> Catalog::Open(const std::string& data_dir) {
  std::error_code ec;
  fs::create_directories(fs::path(data_dir) / "models", ec);
  if (ec) return UnavailableError("cannot create data directory '" + data_dir + "': " + ec.message());
  ASSIGN_OR_RETURN(auto db, sqlite::Database::Open((fs::path(data_dir) / "catalog.db").string(),
                                                   sqlite::Durability::kFull));
  auto catalog = std::unique_ptr<Catalog>(new Catalog(data_dir, std::move(db)));
  RETURN_IF_ERROR(catalog->Migrate());
  return catalog;
}

Status Catalog::Migrate() {
  std::lock_guard<std::mutex> lock(mu_);
  return db_->Exec(kSchema);
}

std::string Catalog::ModelPath(const std::string& sha256) const {
  return (fs::path(data_dir_) / "models" / (sha256 + ".onnx")).string();
}

Status Catalog::StoreModelFile(const std::string& sha256, std::string_view bytes) {
  const fs::path path = ModelPath(sha256);
  std::error_code ec;
  if (fs::exists(path, ec) && fs::file_size(path, ec) == bytes.size()) return OkStatus();
  return WriteFileDurably(path, bytes);
}

StatusOr<std::string> Catalog::ReadModelFile(const std::string& sha256) const {
  std::ifstream in(ModelPath(sha256), std::ios::binary);
  if (!in) return NotFoundError("model file " + sha256 + ".onnx is missing from the data directory");
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

Status Catalog::RemoveModelFileIfUnused(const std::string& sha256) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT COUNT(*) FROM model_versions WHERE sha256 = ?"));
    st.Bind(1, sha256);
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (row && st.ColumnInt(0) > 0) return OkStatus();
  }
  std::error_code ec;
  fs::remove(ModelPath(sha256), ec);
  return OkStatus();
}

namespace {
ModelVersionRecord ReadModelRow(const sqlite::Statement& st) {
  ModelVersionRecord r;
  r.sandbox = st.ColumnText(0);
  r.name = st.ColumnText(1);
  r.version = st.ColumnInt(2);
  r.sha256 = st.ColumnText(3);
  r.size_bytes = st.ColumnInt(4);
  r.created = st.ColumnText(5);
  r.signature = st.ColumnText(6);
  return r;
}
constexpr const char* kModelColumns = "sandbox, name, version, sha256, size_bytes, created, signature";
}  // namespace

StatusOr<std::vector<ModelVersionRecord>> Catalog::ListModels() const {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare(std::string("SELECT ") + kModelColumns +
                                         " FROM model_versions ORDER BY sandbox, name, version"));
  std::vector<ModelVersionRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadModelRow(st));
  }
  return out;
}

StatusOr<std::optional<ModelVersionRecord>> Catalog::FindModelBySha(std::string_view sandbox, std::string_view name,
                                                                     std::string_view sha256) const {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare(std::string("SELECT ") + kModelColumns +
                                         " FROM model_versions WHERE sandbox=? AND name=? AND sha256=?"
                                         " ORDER BY version LIMIT 1"));
  st.Bind(1, sandbox).Bind(2, name).Bind(3, sha256);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<ModelVersionRecord>();
  return std::optional<ModelVersionRecord>(ReadModelRow(st));
}

StatusOr<ModelVersionRecord> Catalog::AddModelVersion(ModelVersionRecord r) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite::Transaction txn(db_.get());
  RETURN_IF_ERROR(txn.status());
  ASSIGN_OR_RETURN(auto q, db_->Prepare("SELECT COALESCE(MAX(version), 0) FROM model_versions WHERE sandbox=? AND name=?"));
  q.Bind(1, r.sandbox).Bind(2, r.name);
  ASSIGN_OR_RETURN(bool row, q.Step());
  r.version = (row ? q.ColumnInt(0) : 0) + 1;
  ASSIGN_OR_RETURN(auto ins, db_->Prepare("INSERT INTO model_versions VALUES (?,?,?,?,?,?,?)"));
  ins.Bind(1, r.sandbox).Bind(2, r.name).Bind(3, r.version).Bind(4, r.sha256).Bind(5, r.size_bytes)
      .Bind(6, r.created).Bind(7, r.signature);
  RETURN_IF_ERROR(ins.Run());
  RETURN_IF_ERROR(txn.Commit());
  return r;
}

Status Catalog::DeleteModelVersion(std::string_view sandbox, std::string_view name, int64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare("DELETE FROM model_versions WHERE sandbox=? AND name=? AND version=?"));
  st.Bind(1, sandbox).Bind(2, name).Bind(3, version);
  RETURN_IF_ERROR(st.Run());
  if (db_->Changes() == 0) return NotFoundError("model version not found");
  return OkStatus();
}

StatusOr<std::vector<ServiceRecord>> Catalog::ListServices() const {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT sandbox, name, created, updated, traffic FROM services ORDER BY sandbox, name"));
  std::vector<ServiceRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.ColumnText(0), st.ColumnText(1), st.ColumnText(2), st.ColumnText(3), st.ColumnText(4)});
  }
  return out;
}

StatusOr<std::vector<RevisionRecord>> Catalog::ListRevisions() const {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT sandbox, service, revision, spec, created FROM revisions "
                                         "ORDER BY sandbox, service, revision"));
  std::vector<RevisionRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.ColumnText(0), st.ColumnText(1), st.ColumnInt(2), st.ColumnText(3), st.ColumnText(4)});
  }
  return out;
}

Status Catalog::SaveRevision(const ServiceRecord& s, const RevisionRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite::Transaction txn(db_.get());
  RETURN_IF_ERROR(txn.status());
  ASSIGN_OR_RETURN(auto up, db_->Prepare("INSERT INTO services VALUES (?,?,?,?,?) ON CONFLICT(sandbox, name) "
                                         "DO UPDATE SET updated=excluded.updated, traffic=excluded.traffic"));
  up.Bind(1, s.sandbox).Bind(2, s.name).Bind(3, s.created).Bind(4, s.updated).Bind(5, s.traffic);
  RETURN_IF_ERROR(up.Run());
  ASSIGN_OR_RETURN(auto ins, db_->Prepare("INSERT INTO revisions VALUES (?,?,?,?,?)"));
  ins.Bind(1, r.sandbox).Bind(2, r.service).Bind(3, r.revision).Bind(4, r.spec).Bind(5, r.created);
  RETURN_IF_ERROR(ins.Run());
  ASSIGN_OR_RETURN(auto ctr, db_->Prepare("INSERT INTO service_counters VALUES (?,?,?) ON CONFLICT(sandbox, name) "
                                          "DO UPDATE SET last_revision=MAX(last_revision, excluded.last_revision)"));
  ctr.Bind(1, r.sandbox).Bind(2, r.service).Bind(3, r.revision);
  RETURN_IF_ERROR(ctr.Run());
  return txn.Commit();
}

Status Catalog::UpdateService(const ServiceRecord& s) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare("UPDATE services SET updated=?, traffic=? WHERE sandbox=? AND name=?"));
  st.Bind(1, s.updated).Bind(2, s.traffic).Bind(3, s.sandbox).Bind(4, s.name);
  return st.Run();
}

Status Catalog::DeleteRevisions(std::string_view sandbox, std::string_view service,
                                const std::vector<int64_t>& revisions) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite::Transaction txn(db_.get());
  RETURN_IF_ERROR(txn.status());
  ASSIGN_OR_RETURN(auto st, db_->Prepare("DELETE FROM revisions WHERE sandbox=? AND service=? AND revision=?"));
  for (int64_t rev : revisions) {
    st.Bind(1, sandbox).Bind(2, service).Bind(3, rev);
    RETURN_IF_ERROR(st.Run());
    st.Reset();
  }
  return txn.Commit();
}

Status Catalog::DeleteService(std::string_view sandbox, std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite::Transaction txn(db_.get());
  RETURN_IF_ERROR(txn.status());
  for (const char* sql : {"DELETE FROM revisions WHERE sandbox=? AND service=?",
                          "DELETE FROM services WHERE sandbox=? AND name=?"}) {
    ASSIGN_OR_RETURN(auto st, db_->Prepare(sql));
    st.Bind(1, sandbox).Bind(2, name);
    RETURN_IF_ERROR(st.Run());
  }
  return txn.Commit();
}

Status Catalog::SaveTrainingRun(const TrainingRunRecord& run) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare("INSERT INTO training_runs VALUES (?,?,?) ON CONFLICT(id) DO UPDATE SET "
                                         "record=excluded.record"));
  st.Bind(1, run.id).Bind(2, run.sandbox).Bind(3, run.record);
  return st.Run();
}

StatusOr<std::vector<Catalog::TrainingRunRecord>> Catalog::ListTrainingRuns() const {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT id, sandbox, record FROM training_runs ORDER BY rowid"));
  std::vector<TrainingRunRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.ColumnText(0), st.ColumnText(1), st.ColumnText(2)});
  }
  return out;
}

Status Catalog::StoreRunArtifact(const std::string& id, const std::string& suffix, std::string_view bytes) {
  const fs::path dir = fs::path(data_dir_) / "runs";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return InternalError("cannot create " + dir.string());
  return WriteFileDurably(dir / (id + "." + suffix), bytes);
}

StatusOr<std::string> Catalog::ReadRunArtifact(const std::string& id, const std::string& suffix) const {
  std::ifstream in(fs::path(data_dir_) / "runs" / (id + "." + suffix), std::ios::binary);
  if (!in) return NotFoundError("training run '" + id + "' has no " + suffix);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

StatusOr<std::vector<KeyRecord>> Catalog::ListKeys() const {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT id, hash, role, sandboxes, description, created FROM api_keys ORDER BY created"));
  std::vector<KeyRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.ColumnText(0), st.ColumnText(1), st.ColumnText(2), st.ColumnText(3), st.ColumnText(4),
                   st.ColumnText(5)});
  }
  return out;
}

Status Catalog::AddKey(const KeyRecord& k) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare("INSERT INTO api_keys VALUES (?,?,?,?,?,?)"));
  st.Bind(1, k.id).Bind(2, k.hash).Bind(3, k.role).Bind(4, k.sandboxes).Bind(5, k.description).Bind(6, k.created);
  return st.Run();
}

Status Catalog::DeleteKey(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto st, db_->Prepare("DELETE FROM api_keys WHERE id=?"));
  st.Bind(1, id);
  RETURN_IF_ERROR(st.Run());
  if (db_->Changes() == 0) return NotFoundError("no API key with id '" + std::string(id) + "'");
  return OkStatus();
}

}  // namespace rtml::serving
