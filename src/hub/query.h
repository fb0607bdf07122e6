#pragma once
// The IoT Hub query language over twins, parsed into a tree: what azure-iothub's
// Registry.createQuery and `az iot hub query` send to POST /devices/query. The grammar and what is
// not supported are written down in docs/formats/query.md. Value types, thread-compatible.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace coffre::hub {

// A dotted property path into a twin: "tags.site.building", "properties.reported.fw".
struct QueryPath {
  std::vector<std::string> parts;
  std::string ToString() const;
};

// One side of a comparison: a path into the twin or a literal.
struct QueryOperand {
  std::optional<QueryPath> path;  // set: read from the twin
  nlohmann::json literal;         // otherwise: this value
};

struct QueryCondition {
  enum class Kind { kCompare, kAnd, kOr, kNot, kIn, kFunction };
  enum class Op { kEq, kNe, kLt, kLe, kGt, kGe };

  Kind kind = Kind::kCompare;
  Op op = Op::kEq;                  // kCompare
  QueryOperand left, right;         // kCompare; `left` alone for kIn and kFunction
  std::vector<nlohmann::json> set;  // kIn
  std::string function;             // kFunction, upper case: "IS_DEFINED", "STARTSWITH", ...
  std::unique_ptr<QueryCondition> a, b;  // kAnd, kOr (both), kNot (a)
};

struct QueryProjection {
  bool count = false;  // COUNT()
  QueryPath path;      // otherwise: this property
  std::string alias;   // AS alias, or the path's last part
};

struct Query {
  enum class Source { kDevices, kModules };

  Source from = Source::kDevices;
  bool select_all = true;                 // SELECT *
  std::vector<QueryProjection> select;    // otherwise
  std::optional<uint64_t> top;            // SELECT TOP n
  std::unique_ptr<QueryCondition> where;  // null: every twin
  std::vector<QueryPath> group_by;

  bool Aggregates() const;  // has COUNT() (with or without GROUP BY)
};

// INVALID_ARGUMENT with the position and what was expected ("expected FROM at 14"), or what is
// not supported. Text over 8 KiB (Azure's limit) is refused before parsing.
Result<Query> ParseQuery(std::string_view text);

}  // namespace coffre::hub
