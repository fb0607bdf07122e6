#include "hub/query_eval.h"

namespace coffre::hub {

using nlohmann::json;

namespace {

enum class Truth { kFalse, kTrue, kUndefined };

Truth Of(bool b) { return b ? Truth::kTrue : Truth::kFalse; }

const json* Lookup(const json& record, const QueryPath& path) {
  const json* at = &record;
  for (const auto& part : path.parts) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(part);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

const json* Value(const json& record, const QueryOperand& o) {
  return o.path ? Lookup(record, *o.path) : &o.literal;
}

// Values compare only within one type family (numbers with numbers, strings with strings...).
bool SameFamily(const json& a, const json& b) {
  return (a.is_number() && b.is_number()) || a.type() == b.type();
}

Truth Compare(const json* a, const json* b, QueryCondition::Op op) {
  if (a == nullptr || b == nullptr || !SameFamily(*a, *b)) return Truth::kUndefined;
  using Op = QueryCondition::Op;
  if (op == Op::kEq) return Of(*a == *b);
  if (op == Op::kNe) return Of(*a != *b);
  if (!(a->is_number() || a->is_string())) return Truth::kUndefined;  // no order for the rest
  switch (op) {
    case Op::kLt: return Of(*a < *b);
    case Op::kLe: return Of(*a <= *b);
    case Op::kGt: return Of(*a > *b);
    case Op::kGe: return Of(*a >= *b);
    default: return Truth::kUndefined;
  }
}

Truth Function(const QueryCondition& c, const json& record) {
  const json* v = Lookup(record, *c.left.path);
  if (c.function == "IS_DEFINED") return Of(v != nullptr);
  if (v == nullptr) return Truth::kUndefined;
  if (c.function == "IS_NULL") return Of(v->is_null());
  if (c.function == "IS_STRING") return Of(v->is_string());
  if (c.function == "IS_NUMBER") return Of(v->is_number());
  if (c.function == "IS_BOOL") return Of(v->is_boolean());
  if (c.function == "IS_OBJECT") return Of(v->is_object());
  if (!v->is_string()) return Truth::kUndefined;
  const auto& text = v->get_ref<const std::string&>();
  const auto& arg = c.right.literal.get_ref<const std::string&>();
  if (c.function == "STARTSWITH") return Of(text.starts_with(arg));
  if (c.function == "ENDSWITH") return Of(text.ends_with(arg));
  return Truth::kUndefined;
}

Truth Evaluate(const QueryCondition& c, const json& record) {
  switch (c.kind) {
    case QueryCondition::Kind::kCompare:
      return Compare(Value(record, c.left), Value(record, c.right), c.op);
    case QueryCondition::Kind::kIn: {
      const json* v = Value(record, c.left);
      if (v == nullptr) return Truth::kUndefined;
      for (const auto& candidate : c.set) {
        if (SameFamily(*v, candidate) && *v == candidate) return Truth::kTrue;
      }
      return Truth::kFalse;
    }
    case QueryCondition::Kind::kFunction: return Function(c, record);
    case QueryCondition::Kind::kNot: {
      Truth t = Evaluate(*c.a, record);
      return t == Truth::kUndefined ? t : Of(t == Truth::kFalse);
    }
    case QueryCondition::Kind::kAnd: {
      Truth a = Evaluate(*c.a, record);
      if (a == Truth::kFalse) return a;
      Truth b = Evaluate(*c.b, record);
      if (b == Truth::kFalse) return b;
      return (a == Truth::kTrue && b == Truth::kTrue) ? Truth::kTrue : Truth::kUndefined;
    }
    case QueryCondition::Kind::kOr: {
      Truth a = Evaluate(*c.a, record);
      if (a == Truth::kTrue) return a;
      Truth b = Evaluate(*c.b, record);
      if (b == Truth::kTrue) return b;
      return (a == Truth::kFalse && b == Truth::kFalse) ? Truth::kFalse : Truth::kUndefined;
    }
  }
  return Truth::kUndefined;
}

}  // namespace

bool QueryMatches(const Query& query, const json& record) {
  return !query.where || Evaluate(*query.where, record) == Truth::kTrue;
}

json QueryProject(const Query& query, const json& record) {
  if (query.select_all) return record;
  json row = json::object();
  for (const auto& p : query.select) {
    if (const json* v = Lookup(record, p.path)) row[p.alias] = *v;
  }
  return row;
}

void QueryGroups::Add(const json& record) {
  Group g;
  g.values = json::array();
  g.defined = json::array();
  for (const auto& path : query_.group_by) {
    const json* v = Lookup(record, path);
    g.values.push_back(v ? *v : json(nullptr));
    g.defined.push_back(v != nullptr);
  }
  std::string key = json::array({g.values, g.defined}).dump(-1, ' ', false, json::error_handler_t::replace);
  auto [it, inserted] = groups_.try_emplace(std::move(key), std::move(g));
  ++it->second.count;
}

json QueryGroups::Rows() const {
  json rows = json::array();
  if (groups_.empty() && query_.group_by.empty()) {
    json row = json::object();
    for (const auto& p : query_.select) {
      if (p.count) row[p.alias] = 0;
    }
    rows.push_back(std::move(row));
    return rows;
  }
  for (const auto& [key, g] : groups_) {
    json row = json::object();
    for (const auto& p : query_.select) {
      if (p.count) {
        row[p.alias] = g.count;
        continue;
      }
      for (size_t i = 0; i < query_.group_by.size(); ++i) {
        if (query_.group_by[i].parts == p.path.parts && g.defined[i].get<bool>()) {
          row[p.alias] = g.values[i];
        }
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace coffre::hub
