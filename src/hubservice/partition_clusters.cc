#include "hubservice/partition_clusters.h"

#include <set>

#include "common/numbers.h"
#include "common/strings.h"

namespace coffre::hubservice {
namespace {

constexpr uint64_t kPartitionNumberMax = 1u << 20;

std::string_view TrimBlanks(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

Result<int> PartitionNumber(std::string_view text, std::string_view item) {
  std::optional<uint64_t> p = ParseUnsigned(TrimBlanks(text), kPartitionNumberMax);
  if (!p) {
    return InvalidArgument("'" + std::string(item) + "' is not a partition number or range A-B");
  }
  return static_cast<int>(*p);
}

std::string EntryName(size_t index, const PartitionCluster& entry) {
  return "--postgres-partition-cluster entry " + std::to_string(index + 1) + " (partitions " +
         PartitionList(entry.partitions) + ")";
}

}  // namespace

std::string PartitionList(const std::vector<int>& partitions) {
  std::string text;
  for (int p : partitions) text += (text.empty() ? "" : ",") + std::to_string(p);
  return text;
}

Result<PartitionCluster> ParsePartitionCluster(std::string_view text) {
  const size_t equals = text.find('=');
  if (equals == std::string_view::npos) {
    return InvalidArgument("expects PARTITIONS=CONNINFO, e.g. \"2,3=host=db-b dbname=coffre "
                           "...\"");
  }
  PartitionCluster entry;
  entry.conninfo = std::string(TrimBlanks(text.substr(equals + 1)));
  const std::string_view list = TrimBlanks(text.substr(0, equals));
  if (list.empty()) return InvalidArgument("lists no partition before '='");
  for (std::string_view item : Split(list, ',')) {
    const size_t dash = item.find('-');
    if (dash == std::string_view::npos) {
      COFFRE_ASSIGN_OR_RETURN(int p, PartitionNumber(item, item));
      entry.partitions.push_back(p);
      continue;
    }
    COFFRE_ASSIGN_OR_RETURN(int from, PartitionNumber(item.substr(0, dash), item));
    COFFRE_ASSIGN_OR_RETURN(int to, PartitionNumber(item.substr(dash + 1), item));
    if (to < from) return InvalidArgument("'" + std::string(item) + "' is an empty range");
    for (int p = from; p <= to; ++p) entry.partitions.push_back(p);
  }
  return entry;
}

Status CheckPartitionClusters(const std::vector<PartitionCluster>& clusters, int partitions,
                              bool clustered) {
  if (!clusters.empty() && !clustered) {
    return InvalidArgument("--postgres-partition-cluster needs cluster mode "
                           "(--postgres-conninfo: the main store)");
  }
  std::set<int> seen;
  for (size_t i = 0; i < clusters.size(); ++i) {
    const PartitionCluster& entry = clusters[i];
    if (entry.partitions.empty()) return InvalidArgument(EntryName(i, entry) + " lists no partition");
    if (entry.conninfo.empty()) return InvalidArgument(EntryName(i, entry) + " has no connection string");
    if (entry.conninfo.find("password") != std::string::npos) {
      return InvalidArgument(EntryName(i, entry) + ": no password in the connection string (it "
                             "would show in the process list and the settings): use passfile=FILE");
    }
    for (int p : entry.partitions) {
      if (p < 0 || p >= partitions) {
        return InvalidArgument(EntryName(i, entry) + ": partition " + std::to_string(p) +
                               " does not exist (the hub has " + std::to_string(partitions) +
                               ": 0 to " + std::to_string(partitions - 1) + ")");
      }
      if (!seen.insert(p).second) {
        return InvalidArgument(EntryName(i, entry) + ": partition " + std::to_string(p) +
                               " is listed twice");
      }
    }
  }
  return Status::Ok();
}

}  // namespace coffre::hubservice
