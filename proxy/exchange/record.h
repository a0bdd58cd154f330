#pragma once

// The two records every request leaves behind: a metrics sample (WorkerMetrics) and an audit
// line (AuditLog). Built here from a summary of what the exchange learned, so what gets recorded
// can be tested without a loop or a socket.
//
// The returned RequestSample holds views into the summary (or status) it was built from: record
// it before those go away. AuditRecord owns its strings.

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "policy/json/transformer.h"
#include "policy/route/route.h"
#include "proxy/observability/audit.h"
#include "proxy/observability/metrics.h"

namespace cosmoseal::proxy {

// What finish() knows about a request that reached an Exchange.
struct ExchangeSummary {
  const policy::Route* route = nullptr;  // null: never classified ("unclassified")
  std::string_view client;               // "" when not authenticated
  std::string_view identity;             // Entra ID identity ("oid:..."), "" for a client key
  std::string_view method;
  int status = 0;           // status sent to the app
  std::string_view detail;  // detail code of a local reply, "" for a proxied response
  int upstream_status = 0;  // status of the upstream response (0: none)
  uint64_t latency_us = 0;
  uint64_t upstream_us = 0;         // time spent on the upstream exchange
  std::string_view request_charge;  // x-ms-request-charge the upstream answered, or ""
  const policy::TransformStats* transform = nullptr;  // null: nothing encrypted or decrypted
};

RequestSample requestSample(const ExchangeSummary& s) noexcept;
// `time_ms`: wall clock of the record. The upstream status is kept only for proxied responses
// (a local reply was not the upstream's answer).
AuditRecord auditRecord(const ExchangeSummary& s, int64_t time_ms) noexcept;

// A request refused before it had a valid head (framing, smuggling, timeouts): no exchange
// exists, but it is still counted and audited.
RequestSample unparsedSample(const common::Status& status) noexcept;
AuditRecord unparsedAuditRecord(const common::Status& status, int64_t time_ms) noexcept;

}  // namespace cosmoseal::proxy
