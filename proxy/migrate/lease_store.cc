#include "proxy/migrate/lease_store.h"

#include "common/text.h"
#include "common/url.h"
#include "policy/json/fields.h"
#include "proxy/migrate/details.h"

namespace cosmoseal::proxy::migrate {

namespace {

std::string pkHeaderForId(std::string_view id) {
  std::string out = "[\"";
  common::appendJsonEscaped(&out, id);
  out += "\"]";
  return out;
}

}  // namespace

std::string responseEtag(const HttpResponse& response) {
  std::string etag(response.header("etag"));
  if (!etag.empty()) return etag;
  auto raw = policy::rawValueAt(response.body, std::vector<std::string>{"_etag"});
  if (raw.isOk() && raw->has_value()) return policy::jsonStringValue(**raw).value_or("");
  return {};
}

common::Status unexpectedAnswer(std::string_view what, const HttpResponse& response) {
  std::string body = response.body.substr(0, 300);
  return common::Status(
      common::Code::kBadGateway, details::kUpstream,
      std::string(what) + ": HTTP " + std::to_string(response.status) + " " + body);
}

CosmosLeaseStore::CosmosLeaseStore(CosmosClient* client, std::string database,
                                   std::string container)
    : client_(client), database_(std::move(database)), container_(std::move(container)) {}

common::Status CosmosLeaseStore::ensureContainer() {
  const std::string path = CosmosClient::collectionPath(database_, container_);
  auto got = client_->call("GET", path);
  if (!got.isOk()) return got.status();
  if (got->status == 200) return common::Status::ok();
  if (got->status != 404) return unexpectedAnswer("reading the lease container", *got);
  std::string body = "{\"id\":\"";
  common::appendJsonEscaped(&body, container_);
  body += "\",\"partitionKey\":{\"paths\":[\"/id\"],\"kind\":\"Hash\",\"version\":2}}";
  auto made =
      client_->call("POST", "/dbs/" + common::percentEncodeSegment(database_) + "/colls", {}, body);
  if (!made.isOk()) return made.status();
  if (made->status == 201 || made->status == 409) return common::Status::ok();
  return common::Status(common::Code::kFailedPrecondition, details::kLeaseContainer,
                        "the lease container '" + container_ +
                            "' is missing and could not be created (HTTP " +
                            std::to_string(made->status) +
                            "): create it with partition key /id, or pass --lease-container");
}

common::StatusOr<std::optional<StoredDocument>> CosmosLeaseStore::read(const std::string& id) {
  auto res = client_->call("GET", CosmosClient::documentPath(database_, container_, id),
                           {{"x-ms-documentdb-partitionkey", pkHeaderForId(id)}});
  if (!res.isOk()) return res.status();
  if (res->status == 404) return std::optional<StoredDocument>();
  if (res->status != 200) return unexpectedAnswer("reading " + id, *res);
  std::string etag = responseEtag(*res);  // before the body is moved out
  StoredDocument d{std::move(res->body), std::move(etag)};
  return std::optional<StoredDocument>(std::move(d));
}

common::StatusOr<WriteOutcome> CosmosLeaseStore::create(const std::string& id,
                                                        const std::string& json) {
  auto res = client_->call("POST", CosmosClient::collectionPath(database_, container_) + "/docs",
                           {{"x-ms-documentdb-partitionkey", pkHeaderForId(id)}}, json);
  if (!res.isOk()) return res.status();
  if (res->status == 409) return WriteOutcome{WriteResult::kConflict, {}};
  if (res->status != 201 && res->status != 200) return unexpectedAnswer("creating " + id, *res);
  return WriteOutcome{WriteResult::kOk, responseEtag(*res)};
}

common::StatusOr<WriteOutcome> CosmosLeaseStore::replace(const std::string& id,
                                                         const std::string& json,
                                                         const std::string& if_match) {
  common::StatusOr<HttpResponse> res = common::Status::ok();
  if (if_match.empty()) {
    res = client_->call("POST", CosmosClient::collectionPath(database_, container_) + "/docs",
                        {{"x-ms-documentdb-partitionkey", pkHeaderForId(id)},
                         {"x-ms-documentdb-is-upsert", "True"}},
                        json);
  } else {
    res = client_->call(
        "PUT", CosmosClient::documentPath(database_, container_, id),
        {{"x-ms-documentdb-partitionkey", pkHeaderForId(id)}, {"if-match", if_match}}, json);
  }
  if (!res.isOk()) return res.status();
  if (res->status == 412 || res->status == 404) {
    return WriteOutcome{WriteResult::kPreconditionFailed, {}};
  }
  if (res->status != 200 && res->status != 201) return unexpectedAnswer("writing " + id, *res);
  return WriteOutcome{WriteResult::kOk, responseEtag(*res)};
}

common::StatusOr<std::vector<StoredDocument>> CosmosLeaseStore::list(const std::string& prefix) {
  std::vector<StoredDocument> out;
  std::string continuation;
  for (;;) {
    HeaderList headers = {{"x-ms-max-item-count", "1000"}};
    if (!continuation.empty()) headers.emplace_back("x-ms-continuation", continuation);
    auto res = client_->call("GET", CosmosClient::collectionPath(database_, container_) + "/docs",
                             headers);
    if (!res.isOk()) return res.status();
    if (res->status != 200) return unexpectedAnswer("listing the lease container", *res);
    auto docs = policy::arrayMemberElements(res->body, "Documents");
    if (!docs.isOk()) return docs.status();
    for (std::string& d : *docs) {
      auto id = policy::rawValueAt(d, std::vector<std::string>{"id"});
      if (!id.isOk() || !id->has_value()) continue;
      const std::string idv = policy::jsonStringValue(**id).value_or("");
      if (idv.rfind(prefix, 0) != 0) continue;
      auto etag = policy::rawValueAt(d, std::vector<std::string>{"_etag"});
      std::string e = etag.isOk() && etag->has_value()
                          ? policy::jsonStringValue(**etag).value_or("")
                          : std::string();
      out.push_back(StoredDocument{std::move(d), std::move(e)});
    }
    continuation = std::string(res->header("x-ms-continuation"));
    if (continuation.empty()) break;
  }
  return out;
}

}  // namespace cosmoseal::proxy::migrate
