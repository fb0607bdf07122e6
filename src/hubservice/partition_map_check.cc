#include "hubservice/partition_map_check.h"

#include <algorithm>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "common/json_fields.h"
#include "crypto/random.h"
#include "hubservice/partition_clusters.h"
#include "pgstore/pg_cluster_stamp.h"
#include "pgstore/pg_partition_log.h"

namespace coffre::hubservice {
namespace {

constexpr const char* kPartitionMapRow = "cluster/partition-map";
constexpr const char* kMainPlace = "main";  // the main store's cluster id

// The map as recorded: the store's id and each partition's cluster id (absent: main).
struct RecordedMap {
  std::string store_id;
  std::map<int, std::string> clusters;
};

Result<std::optional<RecordedMap>> LoadRecordedMap(storage::KvStore& kv) {
  Result<Bytes> stored = kv.Get(kPartitionMapRow);
  if (!stored.has_value()) {
    if (stored.error().code() == StatusCode::kNotFound) return std::optional<RecordedMap>();
    return stored.error();
  }
  COFFRE_ASSIGN_OR_RETURN(nlohmann::json object,
                          ParseJsonObject(AsChars(*stored), "The partition map row"));
  COFFRE_ASSIGN_OR_RETURN(JsonFields fields, JsonFields::Of(object));
  RecordedMap map;
  COFFRE_ASSIGN_OR_RETURN(map.store_id, fields.Required<std::string>("storeId"));
  COFFRE_ASSIGN_OR_RETURN(JsonFields clusters, fields.Required<JsonFields>("clusters"));
  for (const auto& [partition, unused] : clusters.object().items()) {
    std::optional<uint64_t> p = ParseUnsigned(partition, INT32_MAX);
    if (!p) return DataLoss("the partition map row names partition '" + partition + "'");
    COFFRE_ASSIGN_OR_RETURN(map.clusters[static_cast<int>(*p)],
                            clusters.Required<std::string>(partition));
  }
  return std::optional<RecordedMap>(std::move(map));
}

Status StoreRecordedMap(storage::KvStore& kv, const RecordedMap& map) {
  nlohmann::json clusters = nlohmann::json::object();
  for (const auto& [p, id] : map.clusters) clusters[std::to_string(p)] = id;
  const std::string text = nlohmann::json{{"storeId", map.store_id}, {"clusters", clusters}}.dump();
  return kv.Put(kPartitionMapRow, AsBytes(text), /*sync=*/true);
}

// A place this node reaches: the main store or a listed cluster.
struct Reached {
  std::string id;    // its cluster id (kMainPlace, or a new one for an unstamped cluster)
  std::string name;  // for errors
  pgstore::PgPool* pool = nullptr;
  bool stamped = false;
  std::vector<int> partitions;  // this node's map: what it holds
  std::vector<int> written;     // partitions it holds records of
};

std::string Partition(int p) { return "telemetry partition " + std::to_string(p); }

std::string Joined(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& i : items) text += (text.empty() ? "" : ", ") + i;
  return text;
}

class MapCheck {
 public:
  explicit MapCheck(const PartitionMapInput& in) : in_(in) {}

  Status Run() {
    COFFRE_ASSIGN_OR_RETURN(std::optional<RecordedMap> recorded, LoadRecordedMap(*in_.kv));
    if (!recorded && in_.clusters.empty()) return Status::Ok();  // all on the main store
    COFFRE_ASSIGN_OR_RETURN(std::optional<pgstore::PgClusterStamp> main_stamp,
                            in_.main->Query([](pgstore::PgConnection& db) {
                              return pgstore::ReadClusterStamp(db);
                            }));
    if (recorded) {
      recorded_ = std::move(*recorded);
      had_record_ = true;
      if (main_stamp && main_stamp->store_id != recorded_.store_id) {
        return FailedPrecondition("the main store's coffre_cluster_stamp names store " +
                                  main_stamp->store_id + ", its partition map row store " +
                                  recorded_.store_id + ": they were written by different stores");
      }
    } else if (main_stamp) {
      recorded_.store_id = main_stamp->store_id;  // a start refused after stamping it
    } else {
      COFFRE_ASSIGN_OR_RETURN(recorded_.store_id, crypto::RandomUuid());
    }
    COFFRE_RETURN_IF_ERROR(Reach());
    for (int p = 0; p < in_.partitions; ++p) COFFRE_RETURN_IF_ERROR(CheckMove(p));
    for (const Reached& place : places_) {
      for (int p : place.written) {
        if (PlaceOf(p).id == place.id) continue;
        return FailedPrecondition(Partition(p) + " has records in " + place.name +
                                  ", but this node's map puts it in " + PlaceOf(p).name +
                                  ": its history would be split. Fix the map, or finish moving "
                                  "the partition (docs/CLUSTER.md)");
      }
    }
    return Record();
  }

 private:
  // Every place's stamp read and checked, and what it holds records of.
  Status Reach() {
    places_.push_back({kMainPlace, "the main store (--postgres-conninfo)", in_.main, true, {}, {}});
    for (const PartitionPlace& c : in_.clusters) {
      Reached place{"", c.name, c.pool, false, c.partitions, {}};
      COFFRE_ASSIGN_OR_RETURN(std::optional<pgstore::PgClusterStamp> stamp,
                              c.pool->Query([](pgstore::PgConnection& db) {
                                return pgstore::ReadClusterStamp(db);
                              }));
      if (stamp) {
        COFFRE_RETURN_IF_ERROR(CheckStamp(c.name, *stamp));
        place.id = stamp->cluster_id;
        place.stamped = true;
      } else {
        COFFRE_ASSIGN_OR_RETURN(place.id, crypto::RandomUuid());
      }
      for (const Reached& other : places_) {
        if (other.id == place.id) {
          return FailedPrecondition(c.name + " and " + other.name +
                                    " reach the same PostgreSQL cluster (cluster " + place.id +
                                    "): each must be a cluster of its own");
        }
      }
      places_.push_back(std::move(place));
    }
    for (Reached& place : places_) {
      COFFRE_ASSIGN_OR_RETURN(place.written, place.pool->Query([](pgstore::PgConnection& db) {
        return pgstore::PgPartitionLog::Written(db);
      }));
    }
    return Status::Ok();
  }

  Status CheckStamp(const std::string& name, const pgstore::PgClusterStamp& stamp) const {
    if (stamp.store_id != recorded_.store_id) {
      return FailedPrecondition(name + " belongs to another store (hub '" + stamp.hub_name +
                                "', store " + stamp.store_id + ", partitions " +
                                PartitionList(stamp.partitions) + "), not this one (hub '" +
                                in_.hub_name + "', store " +
                                (had_record_ ? recorded_.store_id : "new") + ")");
    }
    if (stamp.cluster_id == kMainPlace) {
      return FailedPrecondition(name + " is this store's main store (--postgres-conninfo): a "
                                "partition cluster must be another PostgreSQL cluster");
    }
    return Status::Ok();
  }

  const Reached& PlaceOf(int p) const {
    for (const Reached& place : places_) {
      if (std::find(place.partitions.begin(), place.partitions.end(), p) != place.partitions.end()) {
        return place;
      }
    }
    return places_.front();  // not listed: the main store
  }

  std::string RecordedId(int p) const {
    auto at = recorded_.clusters.find(p);
    return at == recorded_.clusters.end() ? kMainPlace : at->second;
  }

  // P where the recorded map puts it, or moved with its history out of its recorded place.
  Status CheckMove(int p) const {
    const Reached& now = PlaceOf(p);
    const std::string was_id = RecordedId(p);
    if (now.id == was_id) return Status::Ok();
    const Reached* was = nullptr;
    for (const Reached& place : places_) {
      if (place.id == was_id) was = &place;
    }
    const std::string was_name = was ? was->name : "cluster " + was_id;
    const std::string moved = Partition(p) + ": the store's map puts it in " + was_name +
                              "; this node's map puts it in " + now.name;
    if (!in_.other_live_nodes.empty()) {
      return FailedPrecondition(moved + ". The map changes only while no other hub node runs "
                                "(running: " + Joined(in_.other_live_nodes) + ")");
    }
    if (was == nullptr) {
      return FailedPrecondition(moved + ", and this node does not reach that cluster (its "
                                "coffre_cluster_stamp names it): list it, or move the partition "
                                "out of it first (docs/CLUSTER.md)");
    }
    if (std::find(was->written.begin(), was->written.end(), p) != was->written.end()) {
      return FailedPrecondition(moved + ", but its records are still in " + was_name +
                                ": move them first (docs/CLUSTER.md), or start with the "
                                "store's map");
    }
    return Status::Ok();
  }

  // The stamps claimed and the map recorded as this node's.
  Status Record() {
    RecordedMap now{recorded_.store_id, {}};
    for (size_t i = 0; i < places_.size(); ++i) {
      Reached& place = places_[i];
      pgstore::PgClusterStamp proposed{recorded_.store_id, place.id, in_.hub_name,
                                       place.partitions};
      if (i == 0) {  // the main store: the partitions not listed
        proposed.partitions.clear();
        for (int p = 0; p < in_.partitions; ++p) {
          if (PlaceOf(p).id == kMainPlace) proposed.partitions.push_back(p);
        }
      }
      COFFRE_ASSIGN_OR_RETURN(pgstore::PgClusterStamp stamp,
                              place.pool->Query([&](pgstore::PgConnection& db) {
                                return pgstore::ClaimClusterStamp(db, proposed);
                              }));
      // Claimed by another node meanwhile, or, for a listed cluster, the main store itself.
      if (i > 0) COFFRE_RETURN_IF_ERROR(CheckStamp(place.name, stamp));
      if (stamp.store_id != recorded_.store_id) return CheckStamp(place.name, stamp);
      place.id = stamp.cluster_id;
      if (stamp.partitions != proposed.partitions) {
        COFFRE_RETURN_IF_ERROR(place.pool->Run([&](pgstore::PgConnection& db) {
          return pgstore::SetStampedPartitions(db, proposed.partitions);
        }));
      }
      if (i > 0) {
        for (int p : place.partitions) now.clusters[p] = place.id;
      }
    }
    if (had_record_ && now.clusters == recorded_.clusters) return Status::Ok();
    return StoreRecordedMap(*in_.kv, now);
  }

  const PartitionMapInput& in_;
  RecordedMap recorded_;
  bool had_record_ = false;
  std::vector<Reached> places_;  // the main store first
};

}  // namespace

Status CheckPartitionMap(const PartitionMapInput& input) { return MapCheck(input).Run(); }

}  // namespace coffre::hubservice
