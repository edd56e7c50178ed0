#include "data/data_store.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

#include "common/json_writer.h"
#include "data/profiles.h"
#include "data/query.h"
#include "data/schema.h"
#include "data/time_util.h"
#include "nlohmann/json.hpp"
#include "simdjson.h"

namespace rtml::data {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kMaxJsonDepth = 128;

Status ValidateDataName(std::string_view kind, std::string_view name) {
  if (name.empty() || name.size() > 128) return InvalidArgumentError(std::string(kind) + " name must be 1 to 128 characters");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.';
    if (!ok) {
      return InvalidArgumentError(std::string(kind) + " name '" + std::string(name) +
                                  "' may only contain letters, digits, '_', '-' and '.'");
    }
  }
  if (name.front() == '_') return InvalidArgumentError(std::string(kind) + " names may not start with '_'");
  return OkStatus();
}

StatusOr<json> ParseJsonObject(std::string_view body, std::initializer_list<std::string_view> allowed) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for 1e309
    std::string what = e.what();
    if (auto p = what.find("parse error"); p != std::string::npos) what = what.substr(p);
    return InvalidArgumentError("request body is not valid JSON: " + what);
  }
  if (!j.is_object()) return InvalidArgumentError("request body must be a JSON object");
  if (allowed.size() > 0) {
    for (const auto& [key, value] : j.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return InvalidArgumentError("unknown field '" + key + "' (expected: " + list + ")");
      }
    }
  }
  return j;
}

// Walks a dotted path ("a.b.c") in a DOM object.
bool FindPath(simdjson::dom::element e, std::string_view path, simdjson::dom::element* out) {
  while (!path.empty()) {
    const size_t dot = path.find('.');
    std::string_view key = path.substr(0, dot);
    simdjson::dom::object obj;
    if (e.get_object().get(obj)) return false;
    if (obj.at_key(key).get(e)) return false;
    if (dot == std::string_view::npos) break;
    path.remove_prefix(dot + 1);
  }
  *out = e;
  return true;
}

}  // namespace

std::string QuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string IngestResult::ToJson() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("accepted");
  w.Int(accepted);
  w.Key("duplicates");
  w.Int(duplicates);
  w.Key("rejected");
  w.BeginArray();
  for (const auto& r : rejected) {
    w.BeginObject();
    w.Key("index");
    w.Int(r.index);
    w.Key("errors");
    w.BeginArray();
    for (const auto& e : r.errors) w.String(e);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return out;
}

struct DataStore::Dataset {
  std::string name;
  std::string schema;  // schema name
  std::string created;
  std::shared_ptr<const Schema> schema_def;  // current version
};

struct DataStore::Sandbox {
  std::string name;
  std::string db_path;
  // Two locks. `mu` guards the write connection and the consistency of
  // stored records with `profiles` (the writer holds it across a commit and
  // the profile updates). `meta_mu` guards the maps and the `profiles`
  // pointer for readers, so validation and lookups never wait for a commit.
  // Whoever changes the maps or the pointer holds both (mu first).
  mutable std::mutex mu;
  mutable std::mutex meta_mu;
  std::unique_ptr<sqlite::Database> db;
  struct SchemaEntry {
    std::shared_ptr<const Schema> schema;
    int64_t version = 1;
    std::string created;
    std::string updated;
  };
  std::map<std::string, SchemaEntry> schemas;
  std::map<std::string, Dataset> datasets;
  std::map<std::string, std::string> computed_json;  // name -> definition as stored
  std::shared_ptr<ProfileStore> profiles;
};

struct DataStore::ParsedRecord {
  std::string id;  // empty when the record has no _id
  int64_t ts = 0;
  std::string event_type;
  std::vector<std::string> identities;
  std::string_view body;  // the record's JSON text, a slice of the request body
};

struct DataStore::Batch {
  Sandbox* sandbox = nullptr;
  std::string dataset;
  SchemaClass schema_class = SchemaClass::kAdhoc;
  std::vector<ParsedRecord> records;
  IngestResult result;
  std::function<void(StatusOr<IngestResult>)> done;
};

DataStore::DataStore(DataOptions options) : options_(std::move(options)) {}

StatusOr<std::unique_ptr<DataStore>> DataStore::Open(DataOptions options) {
  std::error_code ec;
  fs::create_directories(fs::path(options.data_dir) / "data", ec);
  if (ec) return UnavailableError("cannot create '" + options.data_dir + "/data': " + ec.message());
  auto store = std::unique_ptr<DataStore>(new DataStore(std::move(options)));
  store->writer_ = std::thread([s = store.get()] { s->WriterLoop(); });
  return store;
}

DataStore::~DataStore() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

namespace {
constexpr const char* kSandboxSchema = R"sql(
CREATE TABLE IF NOT EXISTS _schemas (name TEXT PRIMARY KEY, definition TEXT NOT NULL, version INTEGER NOT NULL,
  created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _datasets (name TEXT PRIMARY KEY, schema TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _computed (name TEXT PRIMARY KEY, definition TEXT NOT NULL, created TEXT NOT NULL);
)sql";
}  // namespace

Status DataStore::OpenSandbox(const std::string& name, Sandbox* sb) {
  sb->name = name;
  sb->db_path = (fs::path(options_.data_dir) / "data" / (name + ".db")).string();
  ASSIGN_OR_RETURN(sb->db, sqlite::Database::Open(sb->db_path, sqlite::Durability::kFull));
  // A 64 MiB page cache keeps the _id and time indexes in memory while
  // ingesting; checkpoints every ~16 MiB of WAL amortise copying pages back.
  RETURN_IF_ERROR(sb->db->Exec("PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=4000"));
  RETURN_IF_ERROR(sb->db->Exec(kSandboxSchema));
  // Schemas
  {
    ASSIGN_OR_RETURN(auto st, sb->db->Prepare("SELECT name, definition, version, created, updated FROM _schemas"));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      auto parsed = Schema::Parse(st.ColumnText(0), st.ColumnText(1));
      if (!parsed.ok()) return parsed.status().WithPrefix("stored schema '" + st.ColumnText(0) + "'");
      sb->schemas[st.ColumnText(0)] = {*parsed, st.ColumnInt(2), st.ColumnText(3), st.ColumnText(4)};
    }
  }
  {
    ASSIGN_OR_RETURN(auto st, sb->db->Prepare("SELECT name, schema, created FROM _datasets"));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      Dataset ds{st.ColumnText(0), st.ColumnText(1), st.ColumnText(2), nullptr};
      auto it = sb->schemas.find(ds.schema);
      if (it == sb->schemas.end()) return InternalError("dataset '" + ds.name + "' has no schema '" + ds.schema + "'");
      ds.schema_def = it->second.schema;
      sb->datasets[ds.name] = ds;
    }
  }
  {
    ASSIGN_OR_RETURN(auto st, sb->db->Prepare("SELECT name, definition FROM _computed ORDER BY created, name"));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      sb->computed_json[st.ColumnText(0)] = st.ColumnText(1);
    }
  }
  return OkStatus();
}

Status DataStore::Load() {
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(fs::path(options_.data_dir) / "data", ec)) {
    if (e.path().extension() == ".db") names.push_back(e.path().stem().string());
  }
  for (const auto& name : names) {
    auto sb = std::make_unique<Sandbox>();
    RETURN_IF_ERROR(OpenSandbox(name, sb.get()));
    {
      std::scoped_lock lock(sb->mu, sb->meta_mu);
      RETURN_IF_ERROR(RebuildProfiles(sb.get()));
    }
    std::lock_guard<std::mutex> lock(sandboxes_mu_);
    sandboxes_[name] = std::move(sb);
  }
  return OkStatus();
}

DataStore::Sandbox* DataStore::FindSandbox(const std::string& name) const {
  std::lock_guard<std::mutex> lock(sandboxes_mu_);
  auto it = sandboxes_.find(name);
  return it == sandboxes_.end() ? nullptr : it->second.get();
}

StatusOr<DataStore::Sandbox*> DataStore::GetOrCreateSandbox(const std::string& name, bool create) {
  std::lock_guard<std::mutex> lock(sandboxes_mu_);
  auto it = sandboxes_.find(name);
  if (it != sandboxes_.end()) return it->second.get();
  if (!create) return NotFoundError("sandbox '" + name + "' has no data yet");
  auto sb = std::make_unique<Sandbox>();
  RETURN_IF_ERROR(OpenSandbox(name, sb.get()));
  ProfileStoreOptions profile_options;
  profile_options.lateness_ms = options_.lateness_ms;
  sb->profiles = std::make_shared<ProfileStore>(profile_options);
  Sandbox* raw = sb.get();
  sandboxes_[name] = std::move(sb);
  return raw;
}

// ------------------------------------------------------------ schemas ---

namespace {
std::string SchemaResponse(const std::string& name, const DataStore::Sandbox& sb);
}

StatusOr<std::string> DataStore::PutSchema(const std::string& sandbox, const std::string& name, std::string_view body,
                                           bool* created) {
  RETURN_IF_ERROR(ValidateDataName("schema", name));
  ASSIGN_OR_RETURN(std::shared_ptr<const Schema> schema, Schema::Parse(name, body));
  ASSIGN_OR_RETURN(Sandbox * sb, GetOrCreateSandbox(sandbox, true));
  std::scoped_lock lock(sb->mu, sb->meta_mu);
  auto it = sb->schemas.find(name);
  const std::string now = FormatRfc3339Millis(NowMillis());
  *created = it == sb->schemas.end();
  if (!*created) {
    if (it->second.schema->canonical_json() == schema->canonical_json()) return SchemaResponse(name, *sb);
    RETURN_IF_ERROR(it->second.schema->CheckEvolution(*schema));
  }
  const int64_t version = *created ? 1 : it->second.version + 1;
  sqlite::Transaction txn(sb->db.get());
  RETURN_IF_ERROR(txn.status());
  ASSIGN_OR_RETURN(auto st, sb->db->Prepare("INSERT INTO _schemas VALUES (?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET "
                                            "definition=excluded.definition, version=excluded.version, "
                                            "updated=excluded.updated"));
  st.Bind(1, name).Bind(2, schema->canonical_json()).Bind(3, version)
      .Bind(4, *created ? now : it->second.created).Bind(5, now);
  RETURN_IF_ERROR(st.Run());
  // Datasets bound to this schema get the new columns in their views.
  for (auto& [ds_name, ds] : sb->datasets) {
    if (ds.schema == name) RETURN_IF_ERROR(RecreateView(sb, ds_name, *schema));
  }
  RETURN_IF_ERROR(txn.Commit());
  sb->schemas[name] = {schema, version, *created ? now : it->second.created, now};
  for (auto& [ds_name, ds] : sb->datasets)
    if (ds.schema == name) ds.schema_def = schema;
  return SchemaResponse(name, *sb);
}

namespace {
std::string SchemaResponse(const std::string& name, const DataStore::Sandbox& sb) {
  const auto& e = sb.schemas.at(name);
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("name");
  w.String(name);
  w.Key("class");
  w.String(SchemaClassName(e.schema->schema_class()));
  w.Key("version");
  w.Int(e.version);
  w.Key("created");
  w.String(e.created);
  w.Key("updated");
  w.String(e.updated);
  w.Key("definition");
  w.Raw(e.schema->canonical_json());
  w.EndObject();
  return out;
}
}  // namespace

StatusOr<std::string> DataStore::GetSchema(const std::string& sandbox, const std::string& name) const {
  Sandbox* sb = FindSandbox(sandbox);
  if (!sb) return NotFoundError("schema '" + name + "' not found");
  std::lock_guard<std::mutex> lock(sb->meta_mu);
  if (!sb->schemas.count(name)) return NotFoundError("schema '" + name + "' not found");
  return SchemaResponse(name, *sb);
}

StatusOr<std::string> DataStore::ListSchemas(const std::string& sandbox) const {
  std::string out = "{\"schemas\":[";
  if (Sandbox* sb = FindSandbox(sandbox)) {
    std::lock_guard<std::mutex> lock(sb->meta_mu);
    bool first = true;
    for (const auto& [name, e] : sb->schemas) {
      if (!first) out += ',';
      first = false;
      out += SchemaResponse(name, *sb);
    }
  }
  return out + "]}";
}

// ----------------------------------------------------------- datasets ---

Status DataStore::RecreateView(Sandbox* sb, const std::string& dataset, const Schema& schema) {
  const std::string table = QuoteIdentifier("_records_" + dataset);
  std::string sql = "DROP VIEW IF EXISTS " + QuoteIdentifier(dataset) + "; CREATE VIEW " + QuoteIdentifier(dataset) +
                    " AS SELECT ";
  std::vector<std::string> seen;
  auto add = [&](const std::string& expr, const std::string& column) {
    if (std::find(seen.begin(), seen.end(), column) != seen.end()) return;
    seen.push_back(column);
    if (seen.size() > 1) sql += ", ";
    sql += expr + " AS " + QuoteIdentifier(column);
  };
  for (const FieldColumn& c : schema.Columns()) {
    std::string path = "'";
    for (char ch : c.json_path) {
      if (ch == '\'') path += '\'';
      path += ch;
    }
    path += "'";
    add("json_extract(body, " + path + ")", c.path);
  }
  add("_id", "_id");
  add("ts", "_ts");
  add("ingested", "_ingested");
  add("identities", "_identities");
  add("body", "_raw");
  sql += " FROM " + table;
  return sb->db->Exec(sql);
}

namespace {
std::string DatasetResponse(const DataStore::Dataset& ds, int64_t records) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("name");
  w.String(ds.name);
  w.Key("schema");
  w.String(ds.schema);
  w.Key("class");
  w.String(SchemaClassName(ds.schema_def->schema_class()));
  w.Key("created");
  w.String(ds.created);
  w.Key("records");
  w.Int(records);
  w.EndObject();
  return out;
}

StatusOr<int64_t> CountRecords(sqlite::Database* db, const std::string& dataset) {
  ASSIGN_OR_RETURN(auto st, db->Prepare("SELECT COUNT(*) FROM " + QuoteIdentifier("_records_" + dataset)));
  ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.ColumnInt(0) : 0;
}
}  // namespace

StatusOr<std::string> DataStore::PutDataset(const std::string& sandbox, const std::string& name, std::string_view body,
                                            bool* created) {
  RETURN_IF_ERROR(ValidateDataName("dataset", name));
  ASSIGN_OR_RETURN(json b, ParseJsonObject(body, {"schema", "description"}));
  if (!b.contains("schema") || !b["schema"].is_string()) {
    return InvalidArgumentError("body needs \"schema\": \"<schema name>\"");
  }
  const std::string schema = b["schema"].get<std::string>();
  ASSIGN_OR_RETURN(Sandbox * sb, GetOrCreateSandbox(sandbox, true));
  std::scoped_lock lock(sb->mu, sb->meta_mu);
  auto sc = sb->schemas.find(schema);
  if (sc == sb->schemas.end()) return NotFoundError("schema '" + schema + "' not found; create it with PUT /v1/schemas/" + schema);
  auto it = sb->datasets.find(name);
  if (it != sb->datasets.end()) {
    if (it->second.schema != schema) {
      return ConflictError("dataset '" + name + "' is bound to schema '" + it->second.schema +
                           "'; a dataset's schema cannot change");
    }
    *created = false;
    ASSIGN_OR_RETURN(int64_t n, CountRecords(sb->db.get(), name));
    return DatasetResponse(it->second, n);
  }
  Dataset ds{name, schema, FormatRfc3339Millis(NowMillis()), sc->second.schema};
  sqlite::Transaction txn(sb->db.get());
  RETURN_IF_ERROR(txn.status());
  RETURN_IF_ERROR(sb->db->Exec("CREATE TABLE " + QuoteIdentifier("_records_" + name) +
                               " (rowid INTEGER PRIMARY KEY, _id TEXT UNIQUE, ts INTEGER NOT NULL, event_type TEXT, "
                               "identities TEXT, ingested INTEGER NOT NULL, body TEXT NOT NULL)"));
  RETURN_IF_ERROR(RecreateView(sb, name, *sc->second.schema));
  ASSIGN_OR_RETURN(auto st, sb->db->Prepare("INSERT INTO _datasets VALUES (?,?,?)"));
  st.Bind(1, name).Bind(2, schema).Bind(3, ds.created);
  RETURN_IF_ERROR(st.Run());
  RETURN_IF_ERROR(txn.Commit());
  sb->datasets[name] = ds;
  *created = true;
  return DatasetResponse(ds, 0);
}

StatusOr<std::string> DataStore::GetDataset(const std::string& sandbox, const std::string& name) const {
  Sandbox* sb = FindSandbox(sandbox);
  if (!sb) return NotFoundError("dataset '" + name + "' not found");
  std::lock_guard<std::mutex> lock(sb->mu);
  auto it = sb->datasets.find(name);
  if (it == sb->datasets.end()) return NotFoundError("dataset '" + name + "' not found");
  ASSIGN_OR_RETURN(int64_t n, CountRecords(sb->db.get(), name));
  return DatasetResponse(it->second, n);
}

StatusOr<std::string> DataStore::ListDatasets(const std::string& sandbox) const {
  std::string out = "{\"datasets\":[";
  if (Sandbox* sb = FindSandbox(sandbox)) {
    std::lock_guard<std::mutex> lock(sb->mu);
    bool first = true;
    for (const auto& [name, ds] : sb->datasets) {
      ASSIGN_OR_RETURN(int64_t n, CountRecords(sb->db.get(), name));
      if (!first) out += ',';
      first = false;
      out += DatasetResponse(ds, n);
    }
  }
  return out + "]}";
}

// ----------------------------------------------------------- ingestion ---

namespace {

// Extracts the system fields of a validated record.
void ExtractSystemFields(simdjson::dom::element rec, const Schema& schema, int64_t now_ms,
                         DataStore::ParsedRecord* out) {
  std::string_view sv;
  simdjson::dom::element e;
  if (rec.at_key("_id").get(e) == simdjson::SUCCESS && e.get_string().get(sv) == simdjson::SUCCESS) out->id.assign(sv);
  out->ts = now_ms;
  if (rec.at_key("timestamp").get(e) == simdjson::SUCCESS && e.get_string().get(sv) == simdjson::SUCCESS) {
    if (auto ts = ParseDateTimeMillis(sv)) out->ts = *ts;
  }
  if (rec.at_key("eventType").get(e) == simdjson::SUCCESS && e.get_string().get(sv) == simdjson::SUCCESS) {
    out->event_type.assign(sv);
  }
  // identityMap: {"NS": [{"id": "...", "primary": true}, ...], ...}; primary first.
  simdjson::dom::object map;
  if (rec.at_key("identityMap").get(e) == simdjson::SUCCESS && e.get_object().get(map) == simdjson::SUCCESS) {
    for (auto [ns, list] : map) {
      simdjson::dom::array arr;
      if (list.get_array().get(arr)) continue;
      for (simdjson::dom::element item : arr) {
        std::string_view id;
        if (item.at_key("id").get_string().get(id)) continue;
        bool primary = false;
        if (item.at_key("primary").get_bool().get(primary)) primary = false;
        std::string identity = std::string(ns) + ":" + std::string(id);
        if (primary) out->identities.insert(out->identities.begin(), std::move(identity));
        else out->identities.push_back(std::move(identity));
      }
    }
  }
  if (!schema.identity_path().empty()) {
    simdjson::dom::element idv;
    if (FindPath(rec, schema.identity_path(), &idv) && idv.get_string().get(sv) == simdjson::SUCCESS) {
      out->identities.insert(out->identities.begin(), std::string(sv));
    }
  }
}

simdjson::ondemand::parser& OnDemandParser() {
  thread_local simdjson::ondemand::parser parser(size_t{256} << 20);
  return parser;
}

std::string IdentitiesJson(const std::vector<std::string>& ids) {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray();
  for (const auto& id : ids) w.String(id);
  w.EndArray();
  return out;
}

}  // namespace

void DataStore::Ingest(const std::string& sandbox, const std::string& dataset, std::string* body_storage, bool ndjson,
                       std::function<void(StatusOr<IngestResult>)> done) {
  std::string_view body = *body_storage;
  Sandbox* sb = FindSandbox(sandbox);
  std::shared_ptr<const Schema> schema;
  if (sb) {
    std::lock_guard<std::mutex> lock(sb->meta_mu);
    auto it = sb->datasets.find(dataset);
    if (it != sb->datasets.end()) schema = it->second.schema_def;
  }
  if (!schema) return done(NotFoundError("dataset '" + dataset + "' not found in sandbox '" + sandbox + "'"));

  auto batch = std::make_unique<Batch>();
  batch->sandbox = sb;
  batch->dataset = dataset;
  batch->schema_class = schema->schema_class();
  batch->done = std::move(done);
  const int64_t now = NowMillis();
  thread_local simdjson::dom::parser parser(size_t{64} << 20);
  std::vector<std::string> errors;
  int64_t index = 0;
  if (body.size() >= 3 && body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);  // UTF-8 byte order mark
  auto accept = [&](simdjson::dom::element rec, std::string_view text) {
    errors.clear();
    simdjson::dom::object obj;
    if (rec.get_object().get(obj)) {
      errors.push_back("a record must be a JSON object");
    } else if (schema->Validate(rec, now, &errors, options_.max_errors_per_record)) {
      ParsedRecord pr;
      ExtractSystemFields(rec, *schema, now, &pr);
      pr.body = text;
      batch->records.push_back(std::move(pr));
      ++batch->result.accepted;
      ++index;
      return;
    }
    batch->result.rejected.push_back({index, errors});
    ++index;
  };

  // Each record is parsed on its own from its slice of the body, so a bad
  // record (even malformed JSON in NDJSON) rejects only itself, and the
  // slice is what gets stored.
  auto accept_text = [&](std::string_view text) {
    simdjson::dom::element rec;
    if (auto e = parser.parse(text.data(), text.size()).get(rec)) {
      batch->result.rejected.push_back({index, {std::string("malformed JSON (") + simdjson::error_message(e) + ")"}});
      ++index;
      return;
    }
    accept(rec, text);
  };
  if (ndjson) {
    size_t pos = 0;
    while (pos < body.size()) {
      size_t nl = body.find('\n', pos);
      if (nl == std::string_view::npos) nl = body.size();
      std::string_view line = body.substr(pos, nl - pos);
      pos = nl + 1;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
      if (line.empty()) continue;
      accept_text(line);
    }
  } else {
    // Split the array with the on-demand API (raw text of each element),
    // after validating the whole document's structure.
    if (body_storage->capacity() < body_storage->size() + simdjson::SIMDJSON_PADDING) {
      body_storage->reserve(body_storage->size() + simdjson::SIMDJSON_PADDING);
      body = *body_storage;
    }
    simdjson::ondemand::parser& od = OnDemandParser();
    simdjson::ondemand::document doc;
    std::string_view raw;
    const char* rest = nullptr;
    auto bad = [&](const char* why) {
      return batch->done(InvalidArgumentError(std::string("request body: ") + why +
                                              "; send a JSON array of records or NDJSON (Content-Type: "
                                              "application/x-ndjson)"));
    };
    if (auto e = od.iterate(body.data(), body.size(), body_storage->capacity()).get(doc)) return bad(simdjson::error_message(e));
    if (auto e = doc.raw_json().get(raw)) return bad(simdjson::error_message(e));
    if (!doc.current_location().get(rest)) return bad("unexpected content after the JSON value");
    doc.rewind();
    simdjson::ondemand::json_type type;
    if (auto e = doc.type().get(type)) return bad(simdjson::error_message(e));
    if (type == simdjson::ondemand::json_type::object) {
      accept_text(raw);  // a single record
    } else if (type == simdjson::ondemand::json_type::array) {
      simdjson::ondemand::array arr;
      if (auto e = doc.get_array().get(arr)) return bad(simdjson::error_message(e));
      for (auto element : arr) {
        simdjson::ondemand::value v;
        std::string_view text;
        simdjson::ondemand::json_type et;
        if (element.get(v) || v.type().get(et)) return bad("malformed array element");
        if (et == simdjson::ondemand::json_type::object) {
          simdjson::ondemand::object o;
          if (v.get_object().get(o) || o.raw_json().get(text)) return bad("malformed array element");
        } else if (et == simdjson::ondemand::json_type::array) {
          simdjson::ondemand::array a;
          if (v.get_array().get(a) || a.raw_json().get(text)) return bad("malformed array element");
        } else {
          text = v.raw_json_token();
        }
        while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r' || text.back() == '\t')) {
          text.remove_suffix(1);
        }
        accept_text(text);
      }
    } else {
      return bad("the body is neither an array nor an object");
    }
  }
  if (batch->records.empty()) {
    IngestResult r = std::move(batch->result);
    return batch->done(std::move(r));
  }
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (stopping_) {
      auto b = std::move(batch);
      b->done(UnavailableError("the server is shutting down"));
      return;
    }
    queue_.push_back(std::move(batch));
  }
  queue_cv_.notify_one();
}

StatusOr<IngestResult> DataStore::IngestAndWait(const std::string& sandbox, const std::string& dataset,
                                                std::string_view body, bool ndjson) {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  StatusOr<IngestResult> out = InternalError("not finished");
  std::string storage(body);
  Ingest(sandbox, dataset, &storage, ndjson, [&](StatusOr<IngestResult> r) {
    std::lock_guard<std::mutex> lock(mu);
    out = std::move(r);
    finished = true;
    cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return finished; });
  return out;
}

void DataStore::WriterLoop() {
  for (;;) {
    std::vector<std::unique_ptr<Batch>> group;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      size_t records = 0;
      while (!queue_.empty() && (group.empty() || records + queue_.front()->records.size() <= options_.max_group_records)) {
        records += queue_.front()->records.size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    CommitGroup(group);
  }
}

void DataStore::CommitGroup(std::vector<std::unique_ptr<Batch>>& group) {
  // Group by sandbox: one transaction (one fsync) per sandbox database.
  std::map<Sandbox*, std::vector<Batch*>> by_sandbox;
  for (auto& b : group) by_sandbox[b->sandbox].push_back(b.get());
  const int64_t ingested = NowMillis();
  thread_local simdjson::dom::parser parser;
  thread_local simdjson::dom::parser empty_parser;
  simdjson::dom::element empty_record;
  if (empty_parser.parse(std::string_view("{}")).get(empty_record)) return;
  for (auto& [sb, batches] : by_sandbox) {
    Status status;
    // inserted[i][j]: whether record j of batch i was new.
    std::vector<std::vector<char>> inserted(batches.size());
    // The commit and the profile updates happen under the sandbox lock, so a
    // computed attribute defined concurrently (which replays stored events
    // under the same lock) sees each event exactly once.
    std::lock_guard<std::mutex> lock(sb->mu);
    ProfileStore* profiles = sb->profiles.get();
    std::set<std::string> used_datasets;
    if (profiles) {
      for (const auto& def : profiles->ComputedAttributes()) used_datasets.insert(def.dataset);
    }
    {
      sqlite::Transaction txn(sb->db.get());
      status = txn.status();
      std::map<std::string, sqlite::Statement> stmts;
      std::string identities_json;
      for (size_t i = 0; i < batches.size() && status.ok(); ++i) {
        Batch* b = batches[i];
        auto it = stmts.find(b->dataset);
        if (it == stmts.end()) {
          auto st = sb->db->Prepare("INSERT OR IGNORE INTO " + QuoteIdentifier("_records_" + b->dataset) +
                                    " (_id, ts, event_type, identities, ingested, body) VALUES (?,?,?,?,?,?)");
          if (!st.ok()) {
            status = st.status();
            break;
          }
          it = stmts.emplace(b->dataset, std::move(*st)).first;
        }
        sqlite::Statement& st = it->second;
        inserted[i].assign(b->records.size(), 0);
        for (size_t j = 0; j < b->records.size(); ++j) {
          const ParsedRecord& r = b->records[j];
          st.Reset();
          identities_json = IdentitiesJson(r.identities);
          if (r.id.empty()) st.BindNull(1);
          else st.BindStatic(1, r.id);
          st.Bind(2, r.ts);
          if (r.event_type.empty()) st.BindNull(3);
          else st.BindStatic(3, r.event_type);
          st.BindStatic(4, identities_json);
          st.Bind(5, ingested);
          st.BindStatic(6, r.body);
          status = st.Run();
          if (!status.ok()) break;
          inserted[i][j] = sb->db->Changes() > 0 ? 1 : 0;
        }
      }
      if (status.ok()) status = txn.Commit();
    }
    for (size_t i = 0; i < batches.size(); ++i) {
      Batch* b = batches[i];
      if (!status.ok()) {
        b->done(status.WithPrefix("records were not stored"));
        b->done = nullptr;
        continue;
      }
      for (size_t j = 0; j < b->records.size(); ++j) {
        const ParsedRecord& r = b->records[j];
        if (!inserted[i][j]) {
          ++b->result.duplicates;
          continue;
        }
        if (options_.on_event && b->schema_class == SchemaClass::kExperienceEvent && !r.event_type.empty() &&
            !r.identities.empty()) {
          options_.on_event(CommittedEvent{sb->name, b->dataset, r.event_type, r.identities, r.ts});
        }
        if (!profiles || b->schema_class == SchemaClass::kAdhoc) continue;
        // Events of a dataset no computed attribute reads only link
        // identities: no need to parse them again.
        simdjson::dom::element rec = empty_record;
        const bool needs_body = b->schema_class == SchemaClass::kProfile || used_datasets.count(b->dataset) > 0;
        if (needs_body && parser.parse(r.body.data(), r.body.size()).get(rec)) continue;
        if (b->schema_class == SchemaClass::kProfile) {
          profiles->ApplyProfileRecord(r.identities, rec, r.ts);
        } else {
          EventView ev{b->dataset, r.id, r.ts, r.event_type, r.identities, rec};
          profiles->ApplyEvent(ev);
        }
      }
    }
  }
  for (auto& b : group) {
    if (b->done) b->done(std::move(b->result));
  }
}

// ------------------------------------------------------------- profiles ---

Status DataStore::RebuildProfiles(Sandbox* sb) {
  ProfileStoreOptions profile_options;
  profile_options.lateness_ms = options_.lateness_ms;
  auto store = std::make_shared<ProfileStore>(profile_options);
  int64_t max_window = 0;
  for (const auto& [name, def_json] : sb->computed_json) {
    ASSIGN_OR_RETURN(ComputedAttributeDef def, ParseComputedAttribute(name, def_json));
    max_window = std::max(max_window, def.window_ms);
    RETURN_IF_ERROR(store->SetComputedAttribute(std::move(def)));
  }
  const int64_t horizon = NowMillis() - max_window - options_.lateness_ms;
  simdjson::dom::parser parser;
  simdjson::dom::element empty;
  if (parser.parse(std::string_view("{}")).get(empty)) return InternalError("cannot parse {}");
  simdjson::dom::parser record_parser;
  // Profile records first (attributes), then events, each in ingestion
  // order (rowid): the order they were applied live, so ties resolve the
  // same way after a restart.
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& [ds_name, ds] : sb->datasets) {
      const SchemaClass cls = ds.schema_def->schema_class();
      if ((pass == 0) != (cls == SchemaClass::kProfile) || cls == SchemaClass::kAdhoc) continue;
      ASSIGN_OR_RETURN(auto st, sb->db->Prepare("SELECT _id, ts, event_type, identities, body FROM " +
                                                QuoteIdentifier("_records_" + ds_name) + " ORDER BY rowid"));
      for (;;) {
        ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        std::vector<std::string> ids;
        try {
          for (const auto& id : json::parse(st.ColumnText(3))) ids.push_back(id.get<std::string>());
        } catch (const std::exception&) {
        }
        const int64_t ts = st.ColumnInt(1);
        const std::string body = st.ColumnText(4);
        simdjson::dom::element rec = empty;
        const bool needs_body = cls == SchemaClass::kProfile || ts > horizon;
        if (needs_body && record_parser.parse(body).get(rec)) continue;
        if (cls == SchemaClass::kProfile) {
          store->ApplyProfileRecord(ids, rec, ts);
        } else {
          const std::string id = st.ColumnText(0);
          const std::string event_type = st.ColumnText(2);
          EventView ev{ds_name, id, ts, event_type, ids, rec};
          store->ApplyEvent(ev);
        }
      }
    }
  }
  sb->profiles = std::move(store);
  return OkStatus();
}

StatusOr<std::string> DataStore::PutComputedAttribute(const std::string& sandbox, const std::string& name,
                                                      std::string_view body, bool* created) {
  RETURN_IF_ERROR(ValidateDataName("computed attribute", name));
  ASSIGN_OR_RETURN(ComputedAttributeDef def, ParseComputedAttribute(name, body));
  ASSIGN_OR_RETURN(Sandbox * sb, GetOrCreateSandbox(sandbox, true));
  std::scoped_lock lock(sb->mu, sb->meta_mu);
  auto ds = sb->datasets.find(def.dataset);
  if (ds == sb->datasets.end()) return NotFoundError("dataset '" + def.dataset + "' not found");
  if (ds->second.schema_def->schema_class() != SchemaClass::kExperienceEvent) {
    return InvalidArgumentError("computed attributes aggregate experience events; dataset '" + def.dataset +
                                "' holds " + std::string(SchemaClassName(ds->second.schema_def->schema_class())) +
                                " records");
  }
  const std::string stored(body);
  *created = !sb->computed_json.count(name);
  ASSIGN_OR_RETURN(auto st, sb->db->Prepare("INSERT INTO _computed VALUES (?,?,?) ON CONFLICT(name) DO UPDATE SET "
                                            "definition=excluded.definition"));
  st.Bind(1, name).Bind(2, stored).Bind(3, FormatRfc3339Millis(NowMillis()));
  RETURN_IF_ERROR(st.Run());
  sb->computed_json[name] = stored;
  // Compute the new (or redefined) attribute from the stored events that can
  // still be inside its window; the others keep their state. The sandbox
  // lock keeps the writer out meanwhile, so no event is counted twice or
  // missed.
  const int64_t window = def.window_ms;
  const std::string dataset = def.dataset;
  RETURN_IF_ERROR(sb->profiles->SetComputedAttribute(std::move(def)));
  const std::optional<int> index = sb->profiles->AttributeIndex(name);
  if (!index) return InternalError("computed attribute '" + name + "' vanished");
  ASSIGN_OR_RETURN(auto rows, sb->db->Prepare("SELECT _id, ts, event_type, identities, body FROM " +
                                              QuoteIdentifier("_records_" + dataset) + " WHERE ts > ? ORDER BY rowid"));
  rows.Bind(1, NowMillis() - window - options_.lateness_ms);
  simdjson::dom::parser parser;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, rows.Step());
    if (!row) break;
    std::vector<std::string> ids;
    try {
      for (const auto& id : json::parse(rows.ColumnText(3))) ids.push_back(id.get<std::string>());
    } catch (const std::exception&) {
    }
    simdjson::dom::element rec;
    const std::string record_body = rows.ColumnText(4);
    if (parser.parse(record_body).get(rec)) continue;
    const std::string id = rows.ColumnText(0);
    const std::string event_type = rows.ColumnText(2);
    EventView ev{dataset, id, rows.ColumnInt(1), event_type, ids, rec};
    sb->profiles->ReplayEvent(ev, *index);
  }
  std::string out = "{\"name\":";
  JsonWriter(&out).String(name);
  out += ",\"definition\":" + stored + "}";
  return out;
}

StatusOr<std::string> DataStore::ListComputedAttributes(const std::string& sandbox) const {
  std::string out = "{\"computed_attributes\":[";
  if (Sandbox* sb = FindSandbox(sandbox)) {
    std::lock_guard<std::mutex> lock(sb->meta_mu);
    bool first = true;
    for (const auto& [name, def] : sb->computed_json) {
      if (!first) out += ',';
      first = false;
      out += "{\"name\":";
      JsonWriter(&out).String(name);
      out += ",\"definition\":" + def + "}";
    }
  }
  return out + "]}";
}

Status DataStore::DeleteComputedAttribute(const std::string& sandbox, const std::string& name) {
  Sandbox* sb = FindSandbox(sandbox);
  if (!sb) return NotFoundError("computed attribute '" + name + "' not found");
  std::scoped_lock lock(sb->mu, sb->meta_mu);
  if (!sb->computed_json.count(name)) return NotFoundError("computed attribute '" + name + "' not found");
  ASSIGN_OR_RETURN(auto st, sb->db->Prepare("DELETE FROM _computed WHERE name=?"));
  st.Bind(1, name);
  RETURN_IF_ERROR(st.Run());
  sb->computed_json.erase(name);
  return sb->profiles->RemoveComputedAttribute(name);
}

StatusOr<std::string> DataStore::ProfileJson(const std::string& sandbox, std::string_view identity) const {
  auto profiles = Profiles(sandbox);
  if (!profiles) return NotFoundError("no profile for identity '" + std::string(identity) + "'");
  return profiles->ProfileJson(identity, NowMillis());
}

std::shared_ptr<const ProfileStore> DataStore::Profiles(const std::string& sandbox) const {
  Sandbox* sb = FindSandbox(sandbox);
  if (!sb) return nullptr;
  std::lock_guard<std::mutex> lock(sb->meta_mu);
  return sb->profiles;
}

// --------------------------------------------------------------- query ---

StatusOr<Table> DataStore::QueryTable(const std::string& sandbox, std::string_view sql, int64_t row_limit,
                                      int64_t time_limit_ms) const {
  Sandbox* sb = FindSandbox(sandbox);
  if (!sb) return NotFoundError("sandbox '" + sandbox + "' has no datasets yet");
  return RunReadOnlyQueryTable(sb->db_path, sql, row_limit, time_limit_ms);
}

StatusOr<std::string> DataStore::Query(const std::string& sandbox, std::string_view sql) const {
  Sandbox* sb = FindSandbox(sandbox);
  if (!sb) return NotFoundError("sandbox '" + sandbox + "' has no datasets yet");
  // Queries hold a thread for up to the time limit: cap how many run at once
  // so ingestion and deploys always find a free thread.
  if (running_queries_.fetch_add(1) >= options_.max_concurrent_queries) {
    running_queries_.fetch_sub(1);
    return ResourceExhaustedError("too many queries running (limit " + std::to_string(options_.max_concurrent_queries) +
                                  "); retry later");
  }
  auto result = RunReadOnlyQuery(sb->db_path, sql, options_.query_row_limit, options_.query_time_limit_ms);
  running_queries_.fetch_sub(1);
  return result;
}

}  // namespace rtml::data
