#pragma once

// Local replies: the answers the sidecar writes itself (refusals, upstream failures, timeouts)
// instead of forwarding the upstream's. They look like Cosmos's own errors so SDKs surface them
// normally: a JSON body {"code","message","detail"} plus x-cosmoseal-detail, the stable detail
// code that logs, metrics and tests key on.
//
// Pure functions: no state, no I/O. They never fail.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cosmoseal::proxy {

// Cosmos-style error code word for a status ("BadRequest", "Unauthorized", ...; "Error" when
// Cosmos has none).
const char* cosmosErrorCode(int status) noexcept;

// JSON body of a local error reply: {"code":"...","message":"...","detail":"..."}.
std::string localErrorBody(int status, std::string_view detail, std::string_view message) noexcept;

// The Cosmos substatus (x-ms-substatus) a local reply with this detail code carries, where SDKs
// act on it: 3 (WriteForbidden) for upstream.region_write_unreachable; 0 (none) otherwise.
int localReplySubstatus(std::string_view detail) noexcept;

// Appends the whole reply for `status` (head and body) to `out`: the status line, Content-Type,
// Content-Length, x-cosmoseal-detail, x-ms-request-charge: 0, x-ms-retry-after-ms on a 429
// (`retry_after_ms`, 100 when 0), x-ms-substatus when localReplySubstatus() gives one, and
// Connection: close when `close`.
void appendLocalReply(std::string* out, const common::Status& status, uint64_t retry_after_ms,
                      bool close) noexcept;

}  // namespace cosmoseal::proxy
