#pragma once

// Container metadata the proxy needs and learns from traffic: a container's partition-key paths.
//
// Why: the SDK sends the partition-key value in the x-ms-documentdb-partitionkey header. When a
// protected field is the partition key, that header must carry the same deterministic
// ciphertext as the document body, and the proxy has to know the container's partition-key
// paths to tell. They come from the policy (`partition_key:`), or from container metadata that
// passes through (create / read / list collections), or from a metadata read the proxy makes
// itself.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "policy/policy.h"

namespace cosmoseal::policy {

struct CollectionInfo {
  std::string id;
  std::string rid;                               // "_rid"; empty when the body has none
  std::vector<std::string> partition_key_paths;  // empty: non-partitioned (legacy)
};

// One collection resource ({"id":..,"partitionKey":{"paths":[..]}}), as read, created or
// replaced. Errors: policy.bad_metadata (not a JSON object, no id, malformed partitionKey).
common::StatusOr<CollectionInfo> parseCollection(std::string_view body);

// Every collection of a list or query page ({"DocumentCollections":[...]}); entries without an
// id are skipped. Errors: policy.bad_metadata.
common::StatusOr<std::vector<CollectionInfo>> parseCollectionList(std::string_view body);

// The "id" of a resource body (database / collection create). Errors: policy.bad_metadata.
common::StatusOr<std::string> parseResourceId(std::string_view body);

// A resource's "id" and "_rid" (rid empty when absent).
struct ResourceName {
  std::string id;
  std::string rid;
};
// One resource body (a database read or create). Errors: policy.bad_metadata (not an object,
// no id).
common::StatusOr<ResourceName> parseResourceName(std::string_view body);
// Every element of the array member `array_member` ("Databases") of a list or query page;
// elements without an id are skipped. Errors: policy.bad_metadata.
common::StatusOr<std::vector<ResourceName>> parseResourceNames(std::string_view body,
                                                               std::string_view array_member);

// Removes from the array member `array_member` ("Databases", "DocumentCollections") of a list or
// query response every element whose "id" fails `keep`, and updates "_count". Everything else is
// copied byte for byte. *removed receives the number of elements removed.
// Errors: policy.bad_metadata.
common::StatusOr<std::string> filterResourceList(std::string_view body,
                                                 std::string_view array_member,
                                                 const std::function<bool(std::string_view)>& keep,
                                                 int* removed);

// For each partition-key path of a protected container: the rule that protects it (nullptr when
// the component is not protected). Refused, because the header and the stored value could not
// be transformed consistently:
//   policy.randomized_partition_key         the rule protecting a partition-key path is randomized
//   policy.partition_key_inside_protected   a protected field covers a partition-key path from
//                                           above (/address protected, partition key /address/zip)
//   policy.bad_partition_key_path           a path that is not a plain /a/b path
common::StatusOr<std::vector<const FieldRule*>> planPartitionKey(
    const ContainerPolicy& policy, const std::vector<std::string>& paths);

}  // namespace cosmoseal::policy
