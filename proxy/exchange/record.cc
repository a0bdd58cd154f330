#include "proxy/exchange/record.h"

#include <string>

namespace cosmoseal::proxy {

namespace {

std::string_view operationOf(const ExchangeSummary& s) noexcept {
  return s.route != nullptr ? policy::operationName(s.route->op) : "unclassified";
}

}  // namespace

RequestSample requestSample(const ExchangeSummary& s) noexcept {
  RequestSample sample;
  sample.client = s.client;
  sample.operation = operationOf(s);
  sample.status = s.status;
  sample.detail = s.detail;
  sample.latency_us = s.latency_us;
  sample.upstream_us = s.upstream_us;
  if (s.transform != nullptr) {
    sample.encrypted = s.transform->encrypted;
    sample.decrypted = s.transform->decrypted;
    sample.lookalikes = s.transform->lookalikes;
    sample.plaintext_at_protected = s.transform->plaintext_at_protected;
  }
  return sample;
}

AuditRecord auditRecord(const ExchangeSummary& s, int64_t time_ms) noexcept {
  AuditRecord r;
  r.time_ms = time_ms;
  r.client = std::string(s.client);
  r.identity = std::string(s.identity);
  r.verb = std::string(s.method);
  r.resource = s.route != nullptr ? policy::resourceKindName(s.route->kind) : "unclassified";
  if (s.route != nullptr) {
    r.database = s.route->database;
    r.container = s.route->container;
    r.id = s.route->item_id;
  }
  r.operation = std::string(operationOf(s));
  r.status = s.status;
  r.upstream_status = s.detail.empty() ? s.upstream_status : 0;
  r.latency_us = s.latency_us;
  r.request_charge = std::string(s.request_charge);
  r.detail = std::string(s.detail);
  if (s.transform != nullptr) {
    r.encrypted = s.transform->encrypted;
    r.decrypted = s.transform->decrypted;
    for (uint8_t i = 0; i < s.transform->key_id_count; ++i) {
      r.key_ids.push_back(s.transform->key_ids[i]);
    }
  }
  return r;
}

RequestSample unparsedSample(const common::Status& status) noexcept {
  RequestSample sample;
  sample.status = status.httpStatus();
  sample.detail = status.detail();
  return sample;
}

AuditRecord unparsedAuditRecord(const common::Status& status, int64_t time_ms) noexcept {
  AuditRecord r;
  r.time_ms = time_ms;
  r.resource = "unclassified";
  r.operation = "unclassified";
  r.status = status.httpStatus();
  r.detail = std::string(status.detail());
  return r;
}

}  // namespace cosmoseal::proxy
