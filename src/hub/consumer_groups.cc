#include "hub/consumer_groups.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace coffre::hub {

using nlohmann::json;

namespace {

constexpr std::string_view kGroupPrefix = "cg/";
constexpr std::string_view kCheckpointPrefix = "ckpt/";
// Locked, never written, by every create and delete (the 20-group limit).
constexpr std::string_view kTableLock = "cg/";
constexpr std::string_view kRowLabel = "consumer-group-row-names";

bool Alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

Status GroupNotFound(const std::string& name) {
  return NotFound("The consumer group '" + name + "' does not exist.");
}

}  // namespace

bool ValidConsumerGroupName(std::string_view name) {
  if (name == kDefaultConsumerGroup) return true;
  if (name.empty() || name.size() > 50 || !Alnum(name.front()) || !Alnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return Alnum(c) || c == '.' || c == '-' || c == '_'; });
}

Result<std::unique_ptr<ConsumerGroups>> ConsumerGroups::Open(storage::KvStore& kv, HubKeys& keys,
                                                             int partitions, const Clock& clock) {
  std::unique_ptr<ConsumerGroups> groups(
      new ConsumerGroups(kv, keys, partitions, clock));
  Result<ConsumerGroup> existing = groups->Get(std::string(kDefaultConsumerGroup));
  if (existing.has_value()) return groups;
  // A hub opened while its keys are inaccessible created $Default when it first started.
  if (existing.error().code() == StatusCode::kUnavailable) return groups;
  if (existing.error().code() != StatusCode::kNotFound) return existing.error();
  Status created = groups->Create(std::string(kDefaultConsumerGroup)).status();
  // Another hub node starting on the same new store made it first.
  if (!created.ok() && created.code() != StatusCode::kAlreadyExists) return created;
  return groups;
}

Result<std::string> ConsumerGroups::GroupRow(const std::string& name) {
  return rows_.HashedRow(kGroupPrefix, kRowLabel, name);
}

// Under the group's own row name, so deleting a group finds its checkpoints without names.
Result<std::string> ConsumerGroups::CheckpointRow(const std::string& group, int partition) {
  COFFRE_ASSIGN_OR_RETURN(std::string row, GroupRow(group));
  return std::string(kCheckpointPrefix) + row.substr(kGroupPrefix.size()) + "/" +
         std::to_string(partition);
}

Status ConsumerGroups::CheckPartition(int partition) const {
  if (partition < 0 || partition >= partitions_) {
    return NotFound("No partition '" + std::to_string(partition) + "'.");
  }
  return Status::Ok();
}

Result<ConsumerGroup> ConsumerGroups::Create(const std::string& name) {
  if (!ValidConsumerGroupName(name)) {
    return InvalidArgument("A consumer group name has 1-50 letters, digits, '.', '-' and '_', "
                           "and starts and ends with a letter or digit.");
  }
  COFFRE_ASSIGN_OR_RETURN(std::string row, GroupRow(name));
  ConsumerGroup group{name, clock_.NowMillis()};
  // Creates and deletes lock the table's lock row too: the count is exact across hub nodes.
  Status created = rows_.Transact({std::string(kTableLock), row}, [&](SealedTxn& txn) -> Status {
    Result<json> existing = txn.Load(row);
    if (existing.has_value()) return AlreadyExists("The consumer group '" + name + "' already exists.");
    if (existing.error().code() != StatusCode::kNotFound) return existing.error();
    COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> all, rows_.Rows(kGroupPrefix));
    if (all.size() >= kMaxConsumerGroups) {
      return ResourceExhausted("A hub has at most " + std::to_string(kMaxConsumerGroups) +
                               " consumer groups.");
    }
    return txn.Store(row, json{{"name", name}, {"created", group.created_ms}});
  });
  COFFRE_RETURN_IF_ERROR(created);
  return group;
}

Result<ConsumerGroup> ConsumerGroups::Get(const std::string& name) {
  COFFRE_ASSIGN_OR_RETURN(std::string row, GroupRow(name));
  Result<json> j = rows_.Load(row);
  if (!j.has_value()) {
    return j.error().code() == StatusCode::kNotFound ? GroupNotFound(name) : j.error();
  }
  return ConsumerGroup{j->value("name", ""), j->value("created", int64_t{0})};
}

Result<std::vector<ConsumerGroup>> ConsumerGroups::List() {
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> rows, rows_.Rows(kGroupPrefix));
  std::vector<ConsumerGroup> out;
  for (const std::string& row : rows) {
    COFFRE_ASSIGN_OR_RETURN(json j, rows_.Load(row));
    out.push_back({j.value("name", ""), j.value("created", int64_t{0})});
  }
  std::sort(out.begin(), out.end(),
            [](const ConsumerGroup& a, const ConsumerGroup& b) { return a.name < b.name; });
  return out;
}

Status ConsumerGroups::Delete(const std::string& name) {
  if (name == kDefaultConsumerGroup) {
    return FailedPrecondition("The $Default consumer group cannot be deleted.");
  }
  COFFRE_ASSIGN_OR_RETURN(std::string row, GroupRow(name));
  std::vector<std::string> rows = {std::string(kTableLock), row};
  for (int p = 0; p < partitions_; ++p) {
    COFFRE_ASSIGN_OR_RETURN(std::string checkpoint, CheckpointRow(name, p));
    rows.push_back(checkpoint);
  }
  // The group and its checkpoints in one write, under the group's lock: a checkpoint set on
  // another hub node meanwhile is not left behind for a group made again under the name.
  return rows_.Transact(rows, [&](SealedTxn& txn) -> Status {
    Result<json> existing = txn.Load(row);
    if (!existing.has_value()) {
      return existing.error().code() == StatusCode::kNotFound ? GroupNotFound(name) : existing.error();
    }
    for (const std::string& gone : rows) {
      if (gone != kTableLock) txn.Erase(gone);
    }
    return Status::Ok();
  });
}

Result<std::optional<Checkpoint>> ConsumerGroups::GetCheckpoint(const std::string& group,
                                                                int partition) {
  COFFRE_RETURN_IF_ERROR(CheckPartition(partition));
  COFFRE_RETURN_IF_ERROR(Get(group).status());
  COFFRE_ASSIGN_OR_RETURN(std::string row, CheckpointRow(group, partition));
  Result<json> j = rows_.Load(row);
  if (!j.has_value()) {
    if (j.error().code() == StatusCode::kNotFound) return std::optional<Checkpoint>();
    return j.error();
  }
  return std::optional<Checkpoint>(
      Checkpoint{j->value("offset", uint64_t{0}), j->value("updated", int64_t{0})});
}

Status ConsumerGroups::SetCheckpoint(const std::string& group, int partition, uint64_t offset) {
  COFFRE_RETURN_IF_ERROR(CheckPartition(partition));
  COFFRE_ASSIGN_OR_RETURN(std::string group_row, GroupRow(group));
  COFFRE_ASSIGN_OR_RETURN(std::string row, CheckpointRow(group, partition));
  // Under the group's lock: a deleted group gets no new checkpoint, on any hub node.
  return rows_.Transact({group_row, row}, [&](SealedTxn& txn) -> Status {
    Result<json> exists = txn.Load(group_row);
    if (!exists.has_value()) {
      return exists.error().code() == StatusCode::kNotFound ? GroupNotFound(group) : exists.error();
    }
    return txn.Store(row, json{{"offset", offset}, {"updated", clock_.NowMillis()}});
  });
}

}  // namespace coffre::hub
