#pragma once
// ConsumerGroups: the named readers of the telemetry stream, as the Event Hubs-compatible
// endpoint of IoT Hub has them. "$Default" always exists and cannot be deleted; others are
// created and deleted by the service (at most 20 per hub, Azure's standard-tier limit). Each
// group keeps one checkpoint per partition: the offset its reader committed (the next message
// it wants), which survives restarts. Records are sealed rows (hub/sealed_rows.h) named by HMAC.
// Thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "hub/sealed_rows.h"

namespace coffre::hub {

inline constexpr std::string_view kDefaultConsumerGroup = "$Default";
inline constexpr size_t kMaxConsumerGroups = 20;

struct ConsumerGroup {
  std::string name;
  int64_t created_ms = 0;
};

struct Checkpoint {
  uint64_t offset = 0;  // the next sequence number the reader wants
  int64_t updated_ms = 0;
};

// Azure's rule: 1-50 letters, digits, '.', '-' and '_', starting and ending with a letter or
// digit ("$Default" is the built-in exception).
bool ValidConsumerGroupName(std::string_view name);

class ConsumerGroups {
 public:

  // Creates "$Default" if missing (not while the keys are locked: a hub that ever started has
  // it). kv, keys and clock must outlive the groups.
  static Result<std::unique_ptr<ConsumerGroups>> Open(storage::KvStore& kv, HubKeys& keys,
                                                      int partitions, const Clock& clock);

  Result<ConsumerGroup> Create(const std::string& name);  // ALREADY_EXISTS, RESOURCE_EXHAUSTED
  Result<ConsumerGroup> Get(const std::string& name);     // NOT_FOUND
  Result<std::vector<ConsumerGroup>> List();              // by name
  // Deletes the group and its checkpoints. FAILED_PRECONDITION for "$Default".
  Status Delete(const std::string& name);

  // NOT_FOUND if the group does not exist; nullopt if it has no checkpoint for the partition.
  Result<std::optional<Checkpoint>> GetCheckpoint(const std::string& group, int partition);
  Status SetCheckpoint(const std::string& group, int partition, uint64_t offset);

 private:
  ConsumerGroups(storage::KvStore& kv, HubKeys& keys, int partitions, const Clock& clock)
      : rows_(kv, keys), partitions_(partitions), clock_(clock) {}
  Result<std::string> GroupRow(const std::string& name);
  Result<std::string> CheckpointRow(const std::string& group, int partition);
  Status CheckPartition(int partition) const;

  SealedRows rows_;
  int partitions_;
  const Clock& clock_;
};

}  // namespace coffre::hub
