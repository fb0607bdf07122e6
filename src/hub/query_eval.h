#pragma once
// Applying a parsed Query (hub/query.h) to twin records, one at a time, in the order the caller
// reads them. A record is a twin as the service sees it (deviceId, status, connectionState, tags,
// properties.desired/reported, ...). Conditions use three-valued logic as the IoT Hub query
// language does: a missing property or a comparison of different types is "undefined", which no
// WHERE accepts, and NOT of undefined stays undefined. Thread-compatible.

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "hub/query.h"

namespace coffre::hub {

// True when the record passes the query's WHERE (always, without one).
bool QueryMatches(const Query& query, const nlohmann::json& record);

// The result row for a matching record of a query that does not aggregate: the record itself for
// SELECT *, else {alias: value} for each projected property that is defined.
nlohmann::json QueryProject(const Query& query, const nlohmann::json& record);

// The rows of an aggregating query (COUNT() and/or GROUP BY), fed the matching records.
class QueryGroups {
 public:
  explicit QueryGroups(const Query& query) : query_(query) {}

  void Add(const nlohmann::json& record);
  // One row per group, ordered by the grouped values; without GROUP BY one row even if empty.
  nlohmann::json Rows() const;

 private:
  struct Group {
    nlohmann::json values;  // the grouped properties' values, null where undefined
    nlohmann::json defined;  // matching booleans
    uint64_t count = 0;
  };
  const Query& query_;
  std::map<std::string, Group> groups_;  // by the values' JSON text
};

}  // namespace coffre::hub
