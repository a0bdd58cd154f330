#include "policy/container_meta.h"

#include <simdjson.h>

namespace cosmoseal::policy {

using common::Code;
using common::Status;

namespace {

Status badMetadata(std::string msg) {
  return Status(Code::kBadGateway, "policy.bad_metadata", std::move(msg));
}

// Reads partitionKey.paths of one collection object.
Status readPaths(simdjson::dom::element coll, std::vector<std::string>* out) {
  simdjson::dom::element pk;
  if (coll["partitionKey"].get(pk) != simdjson::SUCCESS) return Status::ok();  // non-partitioned
  simdjson::dom::array paths;
  if (pk["paths"].get(paths) != simdjson::SUCCESS) {
    return badMetadata("collection partitionKey has no paths array");
  }
  for (simdjson::dom::element p : paths) {
    std::string_view s;
    if (p.get(s) != simdjson::SUCCESS) return badMetadata("partition-key path is not a string");
    out->emplace_back(s);
  }
  return Status::ok();
}

}  // namespace

namespace {

common::StatusOr<simdjson::dom::element> parseObject(simdjson::dom::parser& parser,
                                                     const simdjson::padded_string& padded) {
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    return badMetadata("collection metadata is not a JSON object");
  }
  return doc;
}

Status readCollection(simdjson::dom::element coll, CollectionInfo* out) {
  std::string_view id;
  if (coll["id"].get(id) != simdjson::SUCCESS) return badMetadata("collection without an id");
  out->id = std::string(id);
  return readPaths(coll, &out->partition_key_paths);
}

}  // namespace

common::StatusOr<CollectionInfo> parseCollection(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  COSMOSEAL_ASSIGN_OR_RETURN(simdjson::dom::element doc, parseObject(parser, padded));
  CollectionInfo info;
  COSMOSEAL_RETURN_IF_ERROR(readCollection(doc, &info));
  return info;
}

common::StatusOr<std::vector<CollectionInfo>> parseCollectionList(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  COSMOSEAL_ASSIGN_OR_RETURN(simdjson::dom::element doc, parseObject(parser, padded));
  std::vector<CollectionInfo> out;
  simdjson::dom::array colls;
  if (doc["DocumentCollections"].get(colls) != simdjson::SUCCESS) return out;
  for (simdjson::dom::element c : colls) {
    CollectionInfo info;
    Status s = readCollection(c, &info);
    if (s.detail() == "policy.bad_metadata" && info.id.empty()) continue;  // no id: skip
    COSMOSEAL_RETURN_IF_ERROR(s);
    out.push_back(std::move(info));
  }
  return out;
}

common::StatusOr<std::vector<const FieldRule*>> planPartitionKey(
    const ContainerPolicy& policy, const std::vector<std::string>& paths) {
  std::vector<const FieldRule*> rules;
  rules.reserve(paths.size());
  for (const std::string& path : paths) {
    std::vector<PathSegment> parsed;
    Status s = parseFieldPath(path, /*allow_wildcard=*/false, &parsed);
    if (!s.isOk()) {
      return Status(Code::kBadGateway, "policy.bad_partition_key_path",
                    "container " + policy.database() + "/" + policy.container() +
                        " has a partition-key path cosmoseal cannot read: " + path);
    }
    std::vector<std::string_view> segs;
    segs.reserve(parsed.size());
    for (const PathSegment& p : parsed) segs.emplace_back(p.name);
    const FieldRule* rule = nullptr;
    switch (policy.relation(segs, &rule)) {
      case PathRelation::kProtected:
        if (rule->mode != FieldMode::kDeterministic) {
          return Status(Code::kInvalidArgument, "policy.randomized_partition_key",
                        "partition-key path " + path + " of " + policy.database() + "/" +
                            policy.container() + " is protected by randomized field " +
                            rule->pattern +
                            ": a partition key must be deterministic (change its mode)");
        }
        rules.push_back(rule);
        break;
      case PathRelation::kInsideProtected:
        return Status(Code::kInvalidArgument, "policy.partition_key_inside_protected",
                      "partition-key path " + path + " of " + policy.database() + "/" +
                          policy.container() + " lies inside protected field " + rule->pattern +
                          ": protect the partition-key path itself (deterministic) instead");
      case PathRelation::kUnprotected:
      case PathRelation::kContainsProtected:
        rules.push_back(nullptr);
        break;
    }
  }
  return rules;
}

}  // namespace cosmoseal::policy
