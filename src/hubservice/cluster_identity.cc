#include "hubservice/cluster_identity.h"

#include <nlohmann/json.hpp>

#include "common/json_fields.h"

namespace coffre::hubservice {
namespace {

constexpr const char* kIdentityRow = "cluster/identity";

}  // namespace

Status CheckClusterIdentity(storage::KvStore& kv, const ClusterIdentity& mine) {
  const std::string record =
      nlohmann::json{{"hubName", mine.hub_name}, {"partitions", mine.partitions}}.dump();
  Status put = kv.PutIfAbsent(kIdentityRow, AsBytes(record), /*sync=*/true);
  if (put.code() != StatusCode::kAlreadyExists) return put;
  COFFRE_ASSIGN_OR_RETURN(Bytes stored, kv.Get(kIdentityRow));
  COFFRE_ASSIGN_OR_RETURN(nlohmann::json object,
                          ParseJsonObject(AsChars(stored), "The cluster identity row"));
  COFFRE_ASSIGN_OR_RETURN(JsonFields fields, JsonFields::Of(object));
  COFFRE_ASSIGN_OR_RETURN(std::string hub_name, fields.Required<std::string>("hubName"));
  COFFRE_ASSIGN_OR_RETURN(int partitions, fields.Required<int>("partitions"));
  if (hub_name != mine.hub_name) {
    return FailedPrecondition("this cluster store is hub '" + hub_name +
                              "'; this node was started as '" + mine.hub_name +
                              "' (its first --host name must be the same on every node)");
  }
  if (partitions != mine.partitions) {
    return FailedPrecondition("this cluster store has " + std::to_string(partitions) +
                              " telemetry partitions; this node was started with " +
                              std::to_string(mine.partitions) +
                              " (the count must be the same on every node)");
  }
  return Status::Ok();
}

}  // namespace coffre::hubservice
