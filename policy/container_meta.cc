#include "policy/container_meta.h"

#include <simdjson.h>

#include "policy/details.h"

namespace cosmoseal::policy {

namespace pd = policy_detail;

using common::Code;
using common::Status;

namespace {

Status badMetadata(std::string msg) {
  return Status(Code::kBadGateway, pd::kBadMetadata, std::move(msg));
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
  std::string_view rid;
  if (coll["_rid"].get(rid) == simdjson::SUCCESS) out->rid = std::string(rid);
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
    if (s.detail() == pd::kBadMetadata && info.id.empty()) continue;  // no id: skip
    COSMOSEAL_RETURN_IF_ERROR(s);
    out.push_back(std::move(info));
  }
  return out;
}

common::StatusOr<std::string> parseResourceId(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  COSMOSEAL_ASSIGN_OR_RETURN(simdjson::dom::element doc, parseObject(parser, padded));
  std::string_view id;
  if (doc["id"].get(id) != simdjson::SUCCESS) return badMetadata("resource body without an id");
  return std::string(id);
}

namespace {

bool readName(simdjson::dom::element e, ResourceName* out) {
  std::string_view id;
  if (e["id"].get(id) != simdjson::SUCCESS) return false;
  out->id = std::string(id);
  std::string_view rid;
  if (e["_rid"].get(rid) == simdjson::SUCCESS) out->rid = std::string(rid);
  return true;
}

}  // namespace

common::StatusOr<ResourceName> parseResourceName(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  COSMOSEAL_ASSIGN_OR_RETURN(simdjson::dom::element doc, parseObject(parser, padded));
  ResourceName name;
  if (!readName(doc, &name)) return badMetadata("resource body without an id");
  return name;
}

common::StatusOr<std::vector<ResourceName>> parseResourceNames(std::string_view body,
                                                               std::string_view array_member) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  COSMOSEAL_ASSIGN_OR_RETURN(simdjson::dom::element doc, parseObject(parser, padded));
  std::vector<ResourceName> out;
  simdjson::dom::array items;
  if (doc[array_member].get(items) != simdjson::SUCCESS) return out;
  for (simdjson::dom::element e : items) {
    ResourceName name;
    if (readName(e, &name)) out.push_back(std::move(name));
  }
  return out;
}

common::StatusOr<std::string> filterResourceList(std::string_view body,
                                                 std::string_view array_member,
                                                 const std::function<bool(std::string_view)>& keep,
                                                 int* removed) {
  *removed = 0;
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(body);
  simdjson::ondemand::document doc;
  simdjson::ondemand::object root;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS || doc.get_object().get(root) != simdjson::SUCCESS) {
    return badMetadata("listing is not a JSON object");
  }
  const char* base = padded.data();
  // Byte ranges: the array's elements (start, end) and the _count value.
  std::vector<std::pair<size_t, size_t>> drop;
  size_t count_start = 0, count_end = 0;
  size_t kept = 0;
  bool have_count = false;
  for (auto field : root) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) return badMetadata("bad listing key");
    simdjson::ondemand::value v;
    if (field.value().get(v) != simdjson::SUCCESS) return badMetadata("bad listing value");
    if (key == "_count") {
      std::string_view raw = v.raw_json_token();
      count_start = static_cast<size_t>(raw.data() - base);
      count_end = count_start + raw.size();
      while (count_end > count_start && (base[count_end - 1] == ' ' || base[count_end - 1] == '\n' ||
                                         base[count_end - 1] == '\r' || base[count_end - 1] == '\t')) {
        --count_end;
      }
      have_count = true;
      continue;
    }
    if (key != array_member) continue;
    simdjson::ondemand::array arr;
    if (v.get_array().get(arr) != simdjson::SUCCESS) return badMetadata("listing array is not an array");
    for (auto el : arr) {
      simdjson::ondemand::object obj;
      if (el.get_object().get(obj) != simdjson::SUCCESS) return badMetadata("listing element");
      std::string_view raw;
      if (obj.raw_json().get(raw) != simdjson::SUCCESS) return badMetadata("listing element");
      const size_t start = static_cast<size_t>(raw.data() - base);
      simdjson::dom::parser dp;  // small objects: a DOM read of the id is simplest
      simdjson::dom::element e;
      std::string_view id;
      if (dp.parse(raw.data(), raw.size()).get(e) != simdjson::SUCCESS ||
          e["id"].get(id) != simdjson::SUCCESS || !keep(id)) {
        drop.emplace_back(start, start + raw.size());
      } else {
        ++kept;
      }
    }
  }
  if (drop.empty()) return std::string(body);
  // Splice: remove each dropped element together with one adjacent comma.
  std::string out;
  out.reserve(body.size());
  size_t pos = 0;
  for (auto [s0, e0] : drop) {
    size_t s = s0, e = e0;
    size_t after = e;
    while (after < body.size() && (body[after] == ' ' || body[after] == '\n' || body[after] == '\r' || body[after] == '\t')) ++after;
    if (after < body.size() && body[after] == ',') {
      e = after + 1;
      while (e < body.size() && (body[e] == ' ' || body[e] == '\n' || body[e] == '\r' || body[e] == '\t')) ++e;
    } else {
      size_t before = s;
      while (before > pos && (body[before - 1] == ' ' || body[before - 1] == '\n' || body[before - 1] == '\r' || body[before - 1] == '\t')) --before;
      if (before > pos && body[before - 1] == ',') s = before - 1;
    }
    if (have_count && count_start >= pos && count_start < s) {
      out.append(body.substr(pos, count_start - pos));
      out.append(std::to_string(kept));
      pos = count_end;
      have_count = false;
    }
    out.append(body.substr(pos, s - pos));
    pos = e;
  }
  if (have_count && count_start >= pos) {
    out.append(body.substr(pos, count_start - pos));
    out.append(std::to_string(kept));
    pos = count_end;
  }
  out.append(body.substr(pos));
  *removed = static_cast<int>(drop.size());
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
      return Status(Code::kBadGateway, pd::kBadPartitionKeyPath,
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
          return Status(Code::kInvalidArgument, pd::kRandomizedPartitionKey,
                        "partition-key path " + path + " of " + policy.database() + "/" +
                            policy.container() + " is protected by randomized field " +
                            rule->pattern +
                            ": a partition key must be deterministic (change its mode)");
        }
        rules.push_back(rule);
        break;
      case PathRelation::kInsideProtected:
        return Status(Code::kInvalidArgument, pd::kPartitionKeyInsideProtected,
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
