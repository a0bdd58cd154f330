#include "bench/harness/fake_store.h"

#include <simdjson.h>
#include <time.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <mutex>

#include "bench/harness/json_writer.h"
#include "crypto/base64.h"

namespace cosmoseal::bench {

using common::equalsIgnoreCase;
using common::HeaderMap;

struct FakeStore::Doc {
  std::string id;
  std::shared_ptr<const std::string> body;
  std::string etag;
};

struct FakeStore::Container {
  std::string id;
  std::string rid;
  std::string self;
  std::string pk_path;
  std::shared_ptr<const std::string> meta;
  std::unordered_map<std::string, size_t> index;  // id -> position in docs
  std::vector<Doc> docs;                          // insertion order (deletes swap with last)
  uint64_t version = 0;                           // bumped by every write
  uint64_t doc_seq = 0;
  std::string pk_etag;
  // Rendered pages, valid for one version (guarded by page_mu; readers hold mu_ shared).
  std::mutex page_mu;
  uint64_t page_version = UINT64_MAX;
  std::map<std::pair<size_t, size_t>, std::shared_ptr<const std::string>> pages;
};

struct FakeStore::Database {
  std::string id;
  std::string rid;
  std::string self;
  std::shared_ptr<const std::string> meta;
  std::map<std::string, std::unique_ptr<Container>> colls;
  uint32_t coll_seq = 0;
};

namespace {

using Body = std::shared_ptr<const std::string>;

Body makeBody(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

const char* errorCode(int status) {
  switch (status) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 412: return "PreconditionFailed";
    case 413: return "RequestEntityTooLarge";
    default: return status >= 500 ? "InternalServerError" : "BadRequest";
  }
}

FakeReply error(int status, std::string_view message, const char* route = "other") {
  FakeReply r;
  r.status = status;
  r.body = FakeStore::errorBody(status, message);
  r.route = route;
  return r;
}

FakeReply notFound(const char* route) {
  return error(404, "Entity with the specified id does not exist in the system.", route);
}

bool headerIs(const HeaderMap& h, std::string_view name, std::string_view value) {
  const std::string_view* v = h.get(name);
  return v != nullptr && equalsIgnoreCase(*v, value);
}

bool isQuery(const HeaderMap& h) {
  if (headerIs(h, "x-ms-documentdb-isquery", "true") ||
      headerIs(h, "x-ms-documentdb-query", "true")) {
    return true;
  }
  const std::string_view* ct = h.get("content-type");
  return ct != nullptr && ct->size() >= 22 &&
         equalsIgnoreCase(std::string_view(*ct).substr(0, 22), "application/query+json");
}

int64_t headerInt(const HeaderMap& h, std::string_view name, int64_t fallback) {
  const std::string_view* v = h.get(name);
  if (v == nullptr || v->empty()) return fallback;
  const std::string text(*v);  // strtoll needs a NUL-terminated string
  char* end = nullptr;
  const long long n = std::strtoll(text.c_str(), &end, 10);
  if (end != text.c_str() + text.size()) return fallback;
  return n;
}

bool isSystemProperty(std::string_view key) {
  return key == "_rid" || key == "_self" || key == "_etag" || key == "_ts" ||
         key == "_attachments" || key == "_lsn";
}

std::string_view trimRight(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' ||
                        s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Parses a JSON object body; copies its top-level members except system properties into *out
// (starting with '{', no closing brace), and its "id" (a string without escapes) into *id.
// *extra receives the raw text of member `extra_key` if present. Returns "" or an error message.
std::string parseResourceBody(const FakeRequest& req, std::string* out, std::string* id,
                              std::string_view extra_key = {}, std::string* extra = nullptr) {
  thread_local simdjson::ondemand::parser parser;
  if (req.body.empty()) return "The request body is empty.";
  if (req.body_capacity < req.body.size() + simdjson::SIMDJSON_PADDING) {
    return "internal: body not padded";
  }
  simdjson::ondemand::document doc;
  if (parser.iterate(req.body.data(), req.body.size(), req.body_capacity).get(doc)) {
    return "The request body is not valid JSON.";
  }
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return "The request body must be a JSON object.";
  out->clear();
  out->reserve(req.body.size() + 200);
  out->push_back('{');
  bool first = true;
  bool have_id = false;
  for (auto field_result : obj) {
    simdjson::ondemand::field field;
    if (std::move(field_result).get(field)) return "The request body is not valid JSON.";
    std::string_view key;
    if (field.unescaped_key().get(key)) return "The request body is not valid JSON.";
    const std::string key_copy(key);  // the view dies with the next parser call
    simdjson::ondemand::value value = field.value();
    simdjson::ondemand::json_type type;
    if (value.type().get(type)) return "The request body is not valid JSON.";
    std::string_view raw;
    simdjson::error_code err = simdjson::SUCCESS;
    if (type == simdjson::ondemand::json_type::object) {
      simdjson::ondemand::object o;
      err = value.get_object().get(o);
      if (!err) err = o.raw_json().get(raw);
    } else if (type == simdjson::ondemand::json_type::array) {
      simdjson::ondemand::array a;
      err = value.get_array().get(a);
      if (!err) err = a.raw_json().get(raw);
    } else {
      raw = trimRight(value.raw_json_token());
    }
    if (err) return "The request body is not valid JSON.";
    if (key_copy == "id") {
      if (type != simdjson::ondemand::json_type::string || raw.size() < 2) {
        return "The 'id' property must be a string.";
      }
      std::string_view inner = raw.substr(1, raw.size() - 2);
      if (inner.find('\\') != std::string_view::npos) {
        return "cosmoseal-fake-upstream does not support JSON escapes in 'id'.";
      }
      if (inner.empty() || inner.find_first_of("/\\?#") != std::string_view::npos) {
        return "The 'id' is empty or contains one of / \\ ? #.";
      }
      *id = std::string(inner);
      have_id = true;
    }
    if (!extra_key.empty() && key_copy == extra_key && extra != nullptr) *extra = std::string(raw);
    if (isSystemProperty(key_copy)) continue;
    if (!first) out->push_back(',');
    first = false;
    appendJsonString(out, key_copy);
    out->push_back(':');
    out->append(raw);
  }
  if (!have_id) {
    return "The input content is invalid because the required properties - 'id; ' - are missing";
  }
  if (first) return "The request body is not valid JSON.";
  return "";
}

void appendSystem(std::string* out, const std::string& rid, const std::string& self,
                  const std::string& etag, int64_t ts, std::string_view extra_links = {}) {
  out->append(",\"_rid\":\"").append(rid);
  out->append("\",\"_self\":\"").append(self);
  out->append("\",\"_etag\":\"\\\"").append(etag);
  out->append("\\\"\"");
  out->append(extra_links);
  out->append(",\"_ts\":").append(std::to_string(ts));
  out->push_back('}');
}

uint64_t parseOffset(const HeaderMap& h) {
  const std::string_view* v = h.get("x-ms-continuation");
  if (v == nullptr || v->empty() || v->size() > 18) return 0;
  uint64_t n = 0;
  for (char c : *v) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

}  // namespace

std::shared_ptr<const std::string> FakeStore::errorBody(int status, std::string_view message) {
  std::string b = "{\"code\":";
  appendJsonString(&b, errorCode(status));
  b.append(",\"message\":");
  appendJsonString(&b, message);
  b.push_back('}');
  return makeBody(std::move(b));
}

FakeStore::FakeStore(FakeStoreOptions options) : options_(std::move(options)) {}
FakeStore::~FakeStore() = default;

int64_t FakeStore::now() const {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return ts.tv_sec;
}

std::string FakeStore::nextRid(size_t bytes) {
  // Cosmos rids are base64 of hierarchical binary ids; ours are base64 of a counter, unique
  // per store, with the same lengths (4 bytes: database, 8: container, 16: document).
  const uint64_t n = rid_seq_.fetch_add(1);
  std::string raw(bytes, '\0');
  raw[0] = static_cast<char>(0x80 | (n & 0x3f));
  for (size_t i = 1; i < bytes && i <= 8; ++i) {
    raw[bytes - i] = static_cast<char>((n >> (8 * (i - 1))) & 0xff);
  }
  return crypto::base64Encode(raw);
}

std::string FakeStore::etag() {
  char buf[64];
  const uint64_t n = lsn_.fetch_add(1);
  std::snprintf(buf, sizeof(buf), "%08" PRIx64 "-0000-0000-0000-%012" PRIx64,
                static_cast<uint64_t>(static_cast<uint64_t>(now()) & 0xffffffffULL), n);
  return buf;
}

size_t FakeStore::databaseCount() const {
  std::shared_lock lock(mu_);
  return dbs_.size();
}

size_t FakeStore::documentCount() const { return docs_total_.load(); }

std::shared_ptr<const std::string> FakeStore::rawDocument(const std::string& db_id,
                                                          const std::string& coll,
                                                          const std::string& id) const {
  std::shared_lock lock(mu_);
  Database* db = findDb(db_id);
  if (db == nullptr) return nullptr;
  auto c = db->colls.find(coll);
  if (c == db->colls.end()) return nullptr;
  auto it = c->second->index.find(id);
  if (it == c->second->index.end()) return nullptr;
  return c->second->docs[it->second].body;
}

FakeStore::Database* FakeStore::findDb(const std::string& id) const {
  auto it = dbs_.find(id);
  return it == dbs_.end() ? nullptr : it->second.get();
}

FakeReply FakeStore::handle(const FakeRequest& req) {
  const std::vector<std::string>& s = req.resource->segments;
  if (s.empty()) {
    if (req.method != "GET") return error(405, "Only GET is supported on the account.", "account");
    return account(req);
  }
  if (s[0] != "dbs") {
    return error(400, "cosmoseal-fake-upstream: unsupported resource '/" + s[0] + "'");
  }
  if (s.size() <= 2) return databases(req);
  if (s[2] != "colls") {
    return error(400, "cosmoseal-fake-upstream: unsupported resource '" + s[2] + "'");
  }
  if (s.size() <= 4) return containers(req, s[1]);
  if (s[4] == "docs" && s.size() <= 6) return documents(req, s[1], s[3]);
  if (s[4] == "pkranges" && s.size() == 5) return pkranges(req, s[1], s[3]);
  return error(400, "cosmoseal-fake-upstream: unsupported resource '" + s[4] + "'");
}

FakeReply FakeStore::account(const FakeRequest& req) {
  std::string url = options_.advertise_url;
  if (url.empty()) {
    url = options_.tls ? "https://" : "http://";
    url += req.headers->getOr("host", "127.0.0.1");
    url += "/";
  }
  std::string loc = "[{\"name\":\"Local\",\"databaseAccountEndpoint\":";
  appendJsonString(&loc, url);
  loc += "}]";
  std::string b = "{\"_self\":\"\",\"id\":";
  appendJsonString(&b, options_.account_id);
  b += ",\"_rid\":";
  appendJsonString(&b, options_.account_id + ".documents.azure.com");
  b += ",\"media\":\"//media/\",\"addresses\":\"//addresses/\",\"_dbs\":\"//dbs/\"";
  b += ",\"writableLocations\":" + loc + ",\"readableLocations\":" + loc;
  b += ",\"enableMultipleWriteLocations\":false,\"continuousBackupEnabled\":false"
       ",\"enableNRegionSynchronousCommit\":false"
       ",\"userReplicationPolicy\":{\"asyncReplication\":false,\"minReplicaSetSize\":3,"
       "\"maxReplicasetSize\":4},"
       "\"userConsistencyPolicy\":{\"defaultConsistencyLevel\":\"Session\"},"
       "\"systemReplicationPolicy\":{\"minReplicaSetSize\":3,\"maxReplicasetSize\":4},"
       "\"readPolicy\":{\"primaryReadCoefficient\":1,\"secondaryReadCoefficient\":1},"
       "\"queryEngineConfiguration\":\"{\\\"maxSqlQueryInputLength\\\":262144,"
       "\\\"maxJoinsPerSqlQuery\\\":5,\\\"maxLogicalAndPerSqlQuery\\\":500,"
       "\\\"maxLogicalOrPerSqlQuery\\\":500,\\\"maxUdfRefPerSqlQuery\\\":10,"
       "\\\"maxInExpressionItemsCount\\\":16000,\\\"queryMaxInMemorySortDocumentCount\\\":500,"
       "\\\"maxQueryRequestTimeoutFraction\\\":0.9,\\\"sqlAllowNonFiniteNumbers\\\":false,"
       "\\\"sqlAllowAggregateFunctions\\\":true,\\\"sqlAllowSubQuery\\\":true,"
       "\\\"sqlAllowScalarSubQuery\\\":true,\\\"allowNewKeywords\\\":true,"
       "\\\"sqlAllowLike\\\":true,\\\"sqlAllowGroupByClause\\\":true,"
       "\\\"maxSpatialQueryCells\\\":12,\\\"spatialMaxGeometryPointCount\\\":256,"
       "\\\"sqlDisableOptimizationFlags\\\":0,\\\"sqlAllowTop\\\":true,"
       "\\\"enableSpatialIndexing\\\":true}\"}";
  FakeReply r;
  r.body = makeBody(std::move(b));
  r.route = "account";
  return r;
}

FakeReply FakeStore::databases(const FakeRequest& req) {
  const std::vector<std::string>& s = req.resource->segments;
  const char* route = "database";
  if (s.size() == 1) {
    if (req.method == "GET") {
      std::shared_lock lock(mu_);
      std::string b = "{\"_rid\":\"\",\"Databases\":[";
      bool first = true;
      for (const auto& [id, db] : dbs_) {
        if (!first) b.push_back(',');
        first = false;
        b.append(*db->meta);
      }
      b.append("],\"_count\":").append(std::to_string(dbs_.size())).append("}");
      FakeReply r;
      r.body = makeBody(std::move(b));
      r.item_count = static_cast<int>(dbs_.size());
      r.route = route;
      return r;
    }
    if (req.method != "POST") return error(405, "Unsupported method on /dbs.", route);
    std::string body;
    std::string id;
    std::string err = parseResourceBody(req, &body, &id);
    if (!err.empty()) return error(400, err, route);
    std::unique_lock lock(mu_);
    if (findDb(id) != nullptr) {
      return error(409, "Entity with the specified id already exists in the system.", route);
    }
    auto db = std::make_unique<Database>();
    db->id = id;
    db->rid = nextRid(4);
    db->self = "dbs/" + db->rid + "/";
    const std::string tag = etag();
    appendSystem(&body, db->rid, db->self, tag, now(), ",\"_colls\":\"colls/\",\"_users\":\"users/\"");
    db->meta = makeBody(body);
    FakeReply r;
    r.status = 201;
    r.body = db->meta;
    r.etag = tag;
    r.route = route;
    dbs_[id] = std::move(db);
    return r;
  }
  // /dbs/{db}
  if (req.method == "GET") {
    std::shared_lock lock(mu_);
    Database* db = findDb(s[1]);
    if (db == nullptr) return notFound(route);
    FakeReply r;
    r.body = db->meta;
    r.route = route;
    return r;
  }
  if (req.method == "DELETE") {
    std::unique_lock lock(mu_);
    auto it = dbs_.find(s[1]);
    if (it == dbs_.end()) return notFound(route);
    for (const auto& [cid, c] : it->second->colls) docs_total_ -= c->docs.size();
    dbs_.erase(it);
    FakeReply r;
    r.status = 204;
    r.route = route;
    return r;
  }
  return error(405, "Unsupported method on a database.", route);
}

FakeStore::Container* FakeStore::findColl(const std::string& db_id, const std::string& coll,
                                          bool create) {
  Database* db = findDb(db_id);
  if (db == nullptr) {
    if (!create) return nullptr;
    auto d = std::make_unique<Database>();
    d->id = db_id;
    d->rid = nextRid(4);
    d->self = "dbs/" + d->rid + "/";
    std::string meta = "{\"id\":";
    appendJsonString(&meta, db_id);
    appendSystem(&meta, d->rid, d->self, etag(), now(), ",\"_colls\":\"colls/\",\"_users\":\"users/\"");
    d->meta = makeBody(std::move(meta));
    db = d.get();
    dbs_[db_id] = std::move(d);
  }
  auto it = db->colls.find(coll);
  if (it != db->colls.end()) return it->second.get();
  if (!create) return nullptr;
  auto c = std::make_unique<Container>();
  c->id = coll;
  c->rid = nextRid(8);
  c->self = db->self + "colls/" + c->rid + "/";
  c->pk_path = "/id";
  c->pk_etag = etag();
  std::string meta = "{\"id\":";
  appendJsonString(&meta, coll);
  meta += ",\"partitionKey\":{\"paths\":[\"/id\"],\"kind\":\"Hash\",\"version\":2}";
  appendSystem(&meta, c->rid, c->self, etag(), now(),
               ",\"_docs\":\"docs/\",\"_sprocs\":\"sprocs/\",\"_triggers\":\"triggers/\","
               "\"_udfs\":\"udfs/\",\"_conflicts\":\"conflicts/\"");
  c->meta = makeBody(std::move(meta));
  Container* raw = c.get();
  db->colls[coll] = std::move(c);
  return raw;
}

FakeReply FakeStore::containers(const FakeRequest& req, const std::string& db_id) {
  const std::vector<std::string>& s = req.resource->segments;
  const char* route = "container";
  if (s.size() == 3) {
    if (req.method == "GET") {
      std::shared_lock lock(mu_);
      Database* db = findDb(db_id);
      if (db == nullptr) return notFound(route);
      std::string b = "{\"_rid\":";
      appendJsonString(&b, db->rid);
      b += ",\"DocumentCollections\":[";
      bool first = true;
      for (const auto& [id, c] : db->colls) {
        if (!first) b.push_back(',');
        first = false;
        b.append(*c->meta);
      }
      b.append("],\"_count\":").append(std::to_string(db->colls.size())).append("}");
      FakeReply r;
      r.body = makeBody(std::move(b));
      r.item_count = static_cast<int>(db->colls.size());
      r.route = route;
      return r;
    }
    if (req.method != "POST") return error(405, "Unsupported method on colls.", route);
    std::string body;
    std::string id;
    std::string pk_raw;
    std::string err = parseResourceBody(req, &body, &id, "partitionKey", &pk_raw);
    if (!err.empty()) return error(400, err, route);
    std::unique_lock lock(mu_);
    Database* db = findDb(db_id);
    if (db == nullptr) return notFound(route);
    if (db->colls.count(id)) {
      return error(409, "Entity with the specified id already exists in the system.", route);
    }
    auto c = std::make_unique<Container>();
    c->id = id;
    c->rid = nextRid(8);
    c->self = db->self + "colls/" + c->rid + "/";
    c->pk_etag = etag();
    // The first path of partitionKey.paths, for logs; the raw object is echoed as sent.
    const size_t p = pk_raw.find("\"/");
    if (p != std::string::npos) {
      const size_t e = pk_raw.find('"', p + 1);
      if (e != std::string::npos) c->pk_path = pk_raw.substr(p + 1, e - p - 1);
    }
    if (pk_raw.empty()) {
      body += ",\"partitionKey\":{\"paths\":[\"/id\"],\"kind\":\"Hash\",\"version\":2}";
      c->pk_path = "/id";
    }
    if (body.find("\"indexingPolicy\"") == std::string::npos) {
      body +=
          ",\"indexingPolicy\":{\"indexingMode\":\"consistent\",\"automatic\":true,"
          "\"includedPaths\":[{\"path\":\"/*\"}],\"excludedPaths\":[{\"path\":\"/\\\"_etag\\\"/?\"}]}";
    }
    const std::string tag = etag();
    appendSystem(&body, c->rid, c->self, tag, now(),
                 ",\"_docs\":\"docs/\",\"_sprocs\":\"sprocs/\",\"_triggers\":\"triggers/\","
                 "\"_udfs\":\"udfs/\",\"_conflicts\":\"conflicts/\"");
    c->meta = makeBody(body);
    FakeReply r;
    r.status = 201;
    r.body = c->meta;
    r.etag = tag;
    r.route = route;
    db->colls[id] = std::move(c);
    return r;
  }
  // /dbs/{db}/colls/{c}
  const std::string& coll = s[3];
  if (req.method == "GET" || req.method == "PUT") {
    std::shared_lock lock(mu_);
    Database* db = findDb(db_id);
    if (db == nullptr) return notFound(route);
    auto it = db->colls.find(coll);
    if (it == db->colls.end()) return notFound(route);
    FakeReply r;
    r.body = it->second->meta;  // PUT (replace settings) echoes the current settings
    r.route = route;
    return r;
  }
  if (req.method == "DELETE") {
    std::unique_lock lock(mu_);
    Database* db = findDb(db_id);
    if (db == nullptr) return notFound(route);
    auto it = db->colls.find(coll);
    if (it == db->colls.end()) return notFound(route);
    docs_total_ -= it->second->docs.size();
    db->colls.erase(it);
    FakeReply r;
    r.status = 204;
    r.route = route;
    return r;
  }
  return error(405, "Unsupported method on a container.", route);
}

FakeReply FakeStore::pageOfContainer(const FakeRequest& req, const std::string& db_id,
                                     const std::string& coll_id, const char* route) {
  std::shared_lock lock(mu_);
  Container* c = findColl(db_id, coll_id, false);
  if (c == nullptr) {
    if (!options_.auto_create) return notFound(route);
    lock.unlock();
    std::unique_lock wlock(mu_);
    findColl(db_id, coll_id, true);
    wlock.unlock();
    return documents(req, db_id, coll_id);
  }
  return page(req, c, route);
}

FakeReply FakeStore::documents(const FakeRequest& req, const std::string& db_id,
                               const std::string& coll_id) {
  const std::vector<std::string>& s = req.resource->segments;
  const HeaderMap& h = *req.headers;
  if (s.size() == 5) {
    if (req.method == "GET") {
      return pageOfContainer(req, db_id, coll_id, "readfeed");
    }
    if (req.method != "POST") return error(405, "Unsupported method on docs.", "document");
    if (isQuery(h)) {
      return pageOfContainer(req, db_id, coll_id, "query");
    }
    if (h.has("x-ms-cosmos-is-batch-request")) {
      return error(400, "cosmoseal-fake-upstream: batch and bulk requests are not supported.",
                   "batch");
    }
    const bool upsert = headerIs(h, "x-ms-documentdb-is-upsert", "true");
    const char* route = upsert ? "upsert" : "create";
    std::string body;
    std::string id;
    std::string err = parseResourceBody(req, &body, &id);
    if (!err.empty()) return error(400, err, route);
    std::unique_lock lock(mu_);
    Container* c = findColl(db_id, coll_id, options_.auto_create);
    if (c == nullptr) return notFound(route);
    auto it = c->index.find(id);
    if (it != c->index.end() && !upsert) {
      return error(409, "Entity with the specified id already exists in the system.", route);
    }
    FakeReply r;
    r.route = route;
    r.etag = etag();
    const std::string rid = nextRid(16);
    appendSystem(&body, rid, c->self + "docs/" + rid + "/", r.etag, now(),
                 ",\"_attachments\":\"attachments/\"");
    r.body = makeBody(std::move(body));
    r.lsn = lsn_.load();
    if (it != c->index.end()) {
      r.status = 200;
      c->docs[it->second].body = r.body;
      c->docs[it->second].etag = r.etag;
    } else {
      r.status = 201;
      if (c->docs.size() < options_.max_docs) {
        c->index.emplace(id, c->docs.size());
        c->docs.push_back(Doc{id, r.body, r.etag});
        docs_total_++;
      }
    }
    c->version++;
    return r;
  }
  // /dbs/{db}/colls/{c}/docs/{id}
  const std::string& id = s[5];
  if (req.method == "GET") {
    std::shared_lock lock(mu_);
    Container* c = findColl(db_id, coll_id, false);
    if (c == nullptr) return notFound("read");
    auto it = c->index.find(id);
    if (it == c->index.end()) return notFound("read");
    const Doc& d = c->docs[it->second];
    const std::string_view* inm = h.get("if-none-match");
    FakeReply r;
    r.route = "read";
    r.etag = d.etag;
    r.lsn = lsn_.load();
    if (inm != nullptr && inm->find(d.etag) != std::string::npos) {
      r.status = 304;
      return r;
    }
    r.body = d.body;
    return r;
  }
  if (req.method == "PUT") {
    std::string body;
    std::string body_id;
    std::string err = parseResourceBody(req, &body, &body_id);
    if (!err.empty()) return error(400, err, "replace");
    if (body_id != id) {
      return error(400, "The id in the body does not match the id in the URL.", "replace");
    }
    std::unique_lock lock(mu_);
    Container* c = findColl(db_id, coll_id, false);
    if (c == nullptr) return notFound("replace");
    auto it = c->index.find(id);
    if (it == c->index.end()) return notFound("replace");
    Doc& d = c->docs[it->second];
    const std::string_view* im = h.get("if-match");
    if (im != nullptr && im->find(d.etag) == std::string::npos) {
      return error(412, "Operation cannot be performed because one of the specified precondition "
                        "is not met.", "replace");
    }
    FakeReply r;
    r.route = "replace";
    r.etag = etag();
    const std::string rid = nextRid(16);
    appendSystem(&body, rid, c->self + "docs/" + rid + "/", r.etag, now(),
                 ",\"_attachments\":\"attachments/\"");
    r.body = makeBody(std::move(body));
    r.lsn = lsn_.load();
    d.body = r.body;
    d.etag = r.etag;
    c->version++;
    return r;
  }
  if (req.method == "DELETE") {
    std::unique_lock lock(mu_);
    Container* c = findColl(db_id, coll_id, false);
    if (c == nullptr) return notFound("delete");
    auto it = c->index.find(id);
    if (it == c->index.end()) return notFound("delete");
    const size_t pos = it->second;
    c->index.erase(it);
    if (pos != c->docs.size() - 1) {
      c->docs[pos] = std::move(c->docs.back());
      c->index[c->docs[pos].id] = pos;
    }
    c->docs.pop_back();
    docs_total_--;
    c->version++;
    FakeReply r;
    r.status = 204;
    r.route = "delete";
    return r;
  }
  if (req.method == "PATCH") {
    return error(400, "cosmoseal-fake-upstream: patch is not supported.", "patch");
  }
  return error(405, "Unsupported method on a document.", "document");
}

FakeReply FakeStore::page(const FakeRequest& req, Container* c, const char* route) {
  // Called with mu_ held shared.
  const HeaderMap& h = *req.headers;
  int64_t want = headerInt(h, "x-ms-max-item-count", -1);
  if (want <= 0) want = options_.default_page_size;
  const size_t total = c->docs.size();
  const size_t offset = std::min<size_t>(parseOffset(h), total);
  const size_t count = std::min<size_t>(static_cast<size_t>(want), total - offset);
  FakeReply r;
  r.route = route;
  r.item_count = static_cast<int>(count);
  r.lsn = lsn_.load();
  if (offset + count < total) r.continuation = std::to_string(offset + count);
  std::lock_guard<std::mutex> lock(c->page_mu);
  if (c->page_version != c->version) {
    c->pages.clear();
    c->page_version = c->version;
  }
  auto key = std::make_pair(offset, count);
  auto it = c->pages.find(key);
  if (it != c->pages.end()) {
    r.body = it->second;
    return r;
  }
  std::string b = "{\"_rid\":";
  appendJsonString(&b, c->rid);
  b += ",\"Documents\":[";
  size_t bytes = 0;
  for (size_t i = offset; i < offset + count; ++i) bytes += c->docs[i].body->size() + 1;
  b.reserve(b.size() + bytes + 32);
  for (size_t i = offset; i < offset + count; ++i) {
    if (i != offset) b.push_back(',');
    b.append(*c->docs[i].body);
  }
  b.append("],\"_count\":").append(std::to_string(count)).append("}");
  r.body = makeBody(std::move(b));
  if (c->pages.size() > 64) c->pages.clear();
  c->pages.emplace(key, r.body);
  return r;
}

FakeReply FakeStore::pkranges(const FakeRequest& req, const std::string& db_id,
                              const std::string& coll_id) {
  if (req.method != "GET") return error(405, "Unsupported method on pkranges.", "pkranges");
  std::shared_lock lock(mu_);
  Container* c = findColl(db_id, coll_id, false);
  if (c == nullptr) return notFound("pkranges");
  FakeReply r;
  r.route = "pkranges";
  r.etag = c->pk_etag;
  const std::string_view* inm = req.headers->get("if-none-match");
  if (inm != nullptr && inm->find(c->pk_etag) != std::string::npos) {
    r.status = 304;
    return r;
  }
  std::string b = "{\"_rid\":";
  appendJsonString(&b, c->rid);
  b += ",\"PartitionKeyRanges\":[{\"_rid\":";
  appendJsonString(&b, c->rid + "AgAAAAAAAA==");
  b += ",\"id\":\"0\",\"_etag\":\"\\\"" + c->pk_etag +
       "\\\"\",\"minInclusive\":\"\",\"maxExclusive\":\"FF\",\"ridPrefix\":0,\"_self\":";
  appendJsonString(&b, c->self + "pkranges/" + c->rid + "AgAAAAAAAA==/");
  b += ",\"throughputFraction\":1,\"status\":\"online\",\"parents\":[],\"_ts\":" +
       std::to_string(now()) + ",\"_lsn\":1}],\"_count\":1}";
  r.body = makeBody(std::move(b));
  r.item_count = 1;
  return r;
}

}  // namespace cosmoseal::bench
