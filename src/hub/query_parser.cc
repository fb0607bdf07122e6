// ParseQuery: a tokenizer and a recursive-descent parser for the IoT Hub query language.
// Grammar (docs/formats/query.md):
//   query      := SELECT [TOP n] projection {"," projection} | "*"  FROM source
//                 [WHERE or] [GROUP BY path {"," path}]
//   projection := COUNT "(" ")" [AS name] | path [AS name]
//   source     := devices | devices.modules
//   or := and {OR and};  and := unary {AND unary};  unary := NOT unary | primary
//   primary    := "(" or ")" | FUNCTION "(" path ["," literal] ")"
//              | operand (= | != | <> | < | <= | > | >=) operand | path [NOT] IN "[" literal... "]"
//   path       := name {"." name | "[" string "]"}
#include "hub/query.h"

#include <cctype>
#include <cstdlib>

#include "common/numbers.h"

namespace coffre::hub {

using nlohmann::json;

namespace {

constexpr size_t kMaxQueryBytes = 8 * 1024;
constexpr int kMaxNesting = 32;

struct Token {
  enum class Kind { kEnd, kName, kString, kNumber, kSymbol };
  Kind kind = Kind::kEnd;
  std::string text;  // name, string contents, number text, or the symbol
  size_t at = 0;     // byte offset in the query
};

bool NameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '$'; }
bool NameChar(char c) { return NameStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

Result<std::vector<Token>> Tokenize(std::string_view q) {
  std::vector<Token> out;
  size_t i = 0;
  auto error = [&](const std::string& what) {
    return InvalidArgument("Query: " + what + " at position " + std::to_string(i) + ".");
  };
  while (i < q.size()) {
    char c = q[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token t;
    t.at = i;
    if (NameStart(c)) {
      size_t start = i;
      while (i < q.size() && NameChar(q[i])) ++i;
      t.kind = Token::Kind::kName;
      t.text = std::string(q.substr(start, i - start));
    } else if (c == '\'' || c == '"') {
      t.kind = Token::Kind::kString;
      ++i;
      while (true) {
        if (i >= q.size()) return error("unterminated string");
        char d = q[i++];
        if (d == c) break;
        if (d == '\\') {
          if (i >= q.size()) return error("unterminated string");
          d = q[i++];
        }
        t.text += d;
      }
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '-' && i + 1 < q.size() && std::isdigit(static_cast<unsigned char>(q[i + 1])))) {
      size_t start = i++;
      while (i < q.size() && (std::isdigit(static_cast<unsigned char>(q[i])) || q[i] == '.' ||
                              q[i] == 'e' || q[i] == 'E' ||
                              ((q[i] == '-' || q[i] == '+') && (q[i - 1] == 'e' || q[i - 1] == 'E')))) {
        ++i;
      }
      t.kind = Token::Kind::kNumber;
      t.text = std::string(q.substr(start, i - start));
    } else {
      static constexpr std::string_view kTwo[] = {"!=", "<>", "<=", ">="};
      t.kind = Token::Kind::kSymbol;
      for (auto two : kTwo) {
        if (q.substr(i, 2) == two) t.text = std::string(two);
      }
      if (t.text.empty()) {
        if (std::string_view("()[],.*=<>").find(c) == std::string_view::npos) {
          return error(std::string("unexpected character '") + (std::isprint(static_cast<unsigned char>(c)) ? std::string(1, c) : "?") + "'");
        }
        t.text = std::string(1, c);
      }
      i += t.text.size();
    }
    out.push_back(std::move(t));
  }
  Token end;
  end.at = q.size();
  out.push_back(end);
  return out;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool IsKnownFunction(const std::string& f) {
  return f == "IS_DEFINED" || f == "IS_NULL" || f == "IS_STRING" || f == "IS_NUMBER" ||
         f == "IS_BOOL" || f == "IS_OBJECT" || f == "STARTSWITH" || f == "ENDSWITH";
}
bool TakesArgument(const std::string& f) { return f == "STARTSWITH" || f == "ENDSWITH"; }

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  Result<Query> Parse() {
    Query q;
    COFFRE_RETURN_IF_ERROR(Expect("SELECT"));
    if (Keyword("TOP")) {
      if (Peek().kind != Token::Kind::kNumber) return Expected("a number after TOP");
      auto n = ParseUnsigned(Peek().text, 1'000'000);
      if (!n) return Expected("a whole number from 0 to 1000000 after TOP");
      Next();
      q.top = *n;
    }
    if (Symbol("*")) {
      q.select_all = true;
    } else {
      q.select_all = false;
      do {
        COFFRE_ASSIGN_OR_RETURN(QueryProjection p, Projection());
        q.select.push_back(std::move(p));
      } while (Symbol(","));
    }
    COFFRE_RETURN_IF_ERROR(Expect("FROM"));
    if (!Keyword("devices")) return Expected("devices or devices.modules after FROM");
    if (Symbol(".")) {
      if (!Keyword("modules")) return Expected("modules after devices.");
      q.from = Query::Source::kModules;
    }
    if (Keyword("WHERE")) {
      COFFRE_ASSIGN_OR_RETURN(q.where, Or(0));
    }
    if (Keyword("GROUP")) {
      COFFRE_RETURN_IF_ERROR(Expect("BY"));
      do {
        COFFRE_ASSIGN_OR_RETURN(QueryPath p, Path());
        q.group_by.push_back(std::move(p));
      } while (Symbol(","));
    }
    if (Peek().kind != Token::Kind::kEnd) return Expected("the end of the query");
    COFFRE_RETURN_IF_ERROR(CheckGrouping(q));
    return q;
  }

 private:
  const Token& Peek(size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  const Token& Next() {
    const Token& t = t_[i_];
    if (i_ + 1 < t_.size()) ++i_;
    return t;
  }
  bool Keyword(std::string_view k) {
    if (Peek().kind != Token::Kind::kName || !IEquals(Peek().text, k)) return false;
    Next();
    return true;
  }
  bool Symbol(std::string_view s) {
    if (Peek().kind != Token::Kind::kSymbol || Peek().text != s) return false;
    Next();
    return true;
  }
  Status Expected(const std::string& what) const {
    std::string got = Peek().kind == Token::Kind::kEnd ? "the end" : "'" + Peek().text.substr(0, 40) + "'";
    return InvalidArgument("Query: expected " + what + " at position " + std::to_string(Peek().at) +
                           ", found " + got + ".");
  }
  Status Expect(std::string_view keyword) {
    return Keyword(keyword) ? Status::Ok() : Expected(std::string(keyword));
  }

  Result<QueryProjection> Projection() {
    QueryProjection p;
    if (Peek().kind == Token::Kind::kName && IEquals(Peek().text, "COUNT") && Peek(1).text == "(") {
      Next();
      Next();
      if (!Symbol(")")) return Expected("')' after COUNT(");
      p.count = true;
      p.alias = "$1";
    } else {
      COFFRE_ASSIGN_OR_RETURN(p.path, Path());
      p.alias = p.path.parts.back();
    }
    if (Keyword("AS")) {
      if (Peek().kind != Token::Kind::kName) return Expected("a name after AS");
      p.alias = Next().text;
    }
    return p;
  }

  Result<QueryPath> Path() {
    QueryPath p;
    if (Peek().kind != Token::Kind::kName || IsReserved(Peek().text)) return Expected("a property name");
    p.parts.push_back(Next().text);
    while (true) {
      if (Symbol(".")) {
        if (Peek().kind != Token::Kind::kName) return Expected("a property name after '.'");
        p.parts.push_back(Next().text);
      } else if (Peek().kind == Token::Kind::kSymbol && Peek().text == "[" &&
                 Peek(1).kind == Token::Kind::kString) {
        Next();
        p.parts.push_back(Next().text);
        if (!Symbol("]")) return Expected("']'");
      } else {
        return p;
      }
    }
  }

  static bool IsReserved(std::string_view name) {
    for (std::string_view k : {"SELECT", "FROM", "WHERE", "GROUP", "BY", "AS", "AND", "OR", "NOT",
                               "IN", "NIN", "TOP", "TRUE", "FALSE", "NULL"}) {
      if (IEquals(name, k)) return true;
    }
    return false;
  }

  Result<json> Literal() {
    const Token& t = Peek();
    if (t.kind == Token::Kind::kString) return json(Next().text);
    if (t.kind == Token::Kind::kNumber) {
      json v = json::parse(t.text, nullptr, false);
      if (v.is_discarded() || !v.is_number()) return Expected("a number");
      Next();
      return v;
    }
    if (Keyword("true")) return json(true);
    if (Keyword("false")) return json(false);
    if (Keyword("null")) return json(nullptr);
    return Expected("a string, number, true, false or null");
  }

  Result<QueryOperand> Operand() {
    QueryOperand o;
    if (Peek().kind == Token::Kind::kName && !IsReserved(Peek().text)) {
      COFFRE_ASSIGN_OR_RETURN(o.path, Path());
    } else {
      COFFRE_ASSIGN_OR_RETURN(o.literal, Literal());
    }
    return o;
  }

  using Node = std::unique_ptr<QueryCondition>;

  Result<Node> Or(int depth) {
    COFFRE_ASSIGN_OR_RETURN(Node left, And(depth));
    while (Keyword("OR")) {
      COFFRE_ASSIGN_OR_RETURN(Node right, And(depth));
      left = Join(QueryCondition::Kind::kOr, std::move(left), std::move(right));
    }
    return left;
  }

  Result<Node> And(int depth) {
    COFFRE_ASSIGN_OR_RETURN(Node left, Unary(depth));
    while (Keyword("AND")) {
      COFFRE_ASSIGN_OR_RETURN(Node right, Unary(depth));
      left = Join(QueryCondition::Kind::kAnd, std::move(left), std::move(right));
    }
    return left;
  }

  static Node Join(QueryCondition::Kind kind, Node a, Node b) {
    auto n = std::make_unique<QueryCondition>();
    n->kind = kind;
    n->a = std::move(a);
    n->b = std::move(b);
    return n;
  }

  Result<Node> Unary(int depth) {
    if (depth > kMaxNesting) {
      return InvalidArgument("Query: conditions nest deeper than " + std::to_string(kMaxNesting) +
                             " levels.");
    }
    if (Keyword("NOT")) {
      COFFRE_ASSIGN_OR_RETURN(Node inner, Unary(depth + 1));
      return Join(QueryCondition::Kind::kNot, std::move(inner), nullptr);
    }
    if (Symbol("(")) {
      COFFRE_ASSIGN_OR_RETURN(Node inner, Or(depth + 1));
      if (!Symbol(")")) return Expected("')'");
      return inner;
    }
    if (Peek().kind == Token::Kind::kName && Peek(1).text == "(" && Peek(1).kind == Token::Kind::kSymbol) {
      return Function();
    }
    if (Peek().kind == Token::Kind::kEnd) return Expected("a condition");
    COFFRE_ASSIGN_OR_RETURN(QueryOperand left, Operand());
    bool negated = false;
    if (left.path && Peek().kind == Token::Kind::kName &&
        (IEquals(Peek().text, "NOT") || IEquals(Peek().text, "NIN") || IEquals(Peek().text, "IN"))) {
      if (Keyword("NOT")) {
        negated = true;
        COFFRE_RETURN_IF_ERROR(Expect("IN"));
      } else if (Keyword("NIN")) {
        negated = true;
      } else {
        Next();
      }
      auto n = std::make_unique<QueryCondition>();
      n->kind = QueryCondition::Kind::kIn;
      n->left = std::move(left);
      if (!Symbol("[")) return Expected("'[' after IN");
      do {
        COFFRE_ASSIGN_OR_RETURN(json v, Literal());
        n->set.push_back(std::move(v));
      } while (Symbol(","));
      if (!Symbol("]")) return Expected("']'");
      return negated ? Join(QueryCondition::Kind::kNot, std::move(n), nullptr) : std::move(n);
    }
    auto n = std::make_unique<QueryCondition>();
    n->kind = QueryCondition::Kind::kCompare;
    n->left = std::move(left);
    static const std::pair<std::string_view, QueryCondition::Op> kOps[] = {
        {"=", QueryCondition::Op::kEq}, {"!=", QueryCondition::Op::kNe}, {"<>", QueryCondition::Op::kNe},
        {"<", QueryCondition::Op::kLt}, {"<=", QueryCondition::Op::kLe}, {">", QueryCondition::Op::kGt},
        {">=", QueryCondition::Op::kGe}};
    bool found = false;
    for (const auto& [text, op] : kOps) {
      if (Symbol(text)) {
        n->op = op;
        found = true;
        break;
      }
    }
    if (!found) return Expected("a comparison (=, !=, <>, <, <=, >, >=) or IN");
    COFFRE_ASSIGN_OR_RETURN(n->right, Operand());
    return n;
  }

  Result<Node> Function() {
    std::string name = Upper(Peek().text);
    if (!IsKnownFunction(name)) {
      return InvalidArgument("Query: the function " + Peek().text.substr(0, 40) + " at position " +
                             std::to_string(Peek().at) + " is not supported.");
    }
    Next();
    Next();  // "("
    auto n = std::make_unique<QueryCondition>();
    n->kind = QueryCondition::Kind::kFunction;
    n->function = name;
    COFFRE_ASSIGN_OR_RETURN(QueryPath path, Path());
    n->left.path = std::move(path);
    if (TakesArgument(name)) {
      if (!Symbol(",")) return Expected("',' and a string in " + name);
      COFFRE_ASSIGN_OR_RETURN(json arg, Literal());
      if (!arg.is_string()) return Expected("a string as " + name + "'s second argument");
      n->right.literal = std::move(arg);
    }
    if (!Symbol(")")) return Expected("')'");
    return n;
  }

  // With COUNT() or GROUP BY, every other projection must be a grouped property.
  static Status CheckGrouping(const Query& q) {
    if (!q.Aggregates() && q.group_by.empty()) return Status::Ok();
    if (q.select_all) return InvalidArgument("Query: SELECT * cannot be combined with GROUP BY.");
    for (const auto& p : q.select) {
      if (p.count) continue;
      bool grouped = false;
      for (const auto& g : q.group_by) grouped = grouped || g.parts == p.path.parts;
      if (!grouped) {
        return InvalidArgument("Query: " + p.path.ToString() +
                               " must appear in GROUP BY to be selected with COUNT().");
      }
    }
    return Status::Ok();
  }

  std::vector<Token> t_;
  size_t i_ = 0;
};

}  // namespace

std::string QueryPath::ToString() const {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += '.';
    out += p;
  }
  return out;
}

bool Query::Aggregates() const {
  for (const auto& p : select) {
    if (p.count) return true;
  }
  return false;
}

Result<Query> ParseQuery(std::string_view text) {
  if (text.size() > kMaxQueryBytes) {
    return InvalidArgument("Query: the text is " + std::to_string(text.size()) +
                           " bytes, over the limit of " + std::to_string(kMaxQueryBytes) + ".");
  }
  COFFRE_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(text));
  return Parser(std::move(tokens)).Parse();
}

}  // namespace coffre::hub
