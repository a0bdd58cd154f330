#pragma once

// Bulk bodies, read after the transform, for routing (issue 15): the sidecar regroups a bulk
// request per real partition-key range (the SDK grouped it by the hash of the plaintext keys)
// and merges the per-range answers back into the original order.
//
// Pure functions over JSON text; the views returned point into the input, which must outlive
// them. The encryption of batch bodies itself is JsonTransformer::encryptBatch (batch.cc).

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cosmoseal::policy {

struct BatchOperationView {
  std::string_view raw;        // the operation object, byte for byte
  std::string partition_key;   // the JSON array text its "partitionKey" string holds
  bool has_partition_key = false;
};

// The operations of a bulk / batch body (a JSON array of objects). Errors: policy.bad_batch
// (not an array of objects, a "partitionKey" that is not a string).
common::StatusOr<std::vector<BatchOperationView>> batchOperations(std::string_view body);

// The elements of a JSON array (a bulk answer), byte for byte. Errors: policy.bad_batch.
common::StatusOr<std::vector<std::string_view>> jsonArrayElements(std::string_view body);

}  // namespace cosmoseal::policy
