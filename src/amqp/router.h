#pragma once
// Router: from a link's role and normalized address (amqp/link_node.h) to the factory of the
// node that serves it. Routes are tried in the order added; the first that matches wins. The
// table of the hub's nodes is amqp/nodes.cc. Immutable once the server runs: thread-safe reads.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "amqp/link_node.h"

namespace coffre::amqp {

struct Route {
  std::string name;  // for logs
  Role role;
  std::function<bool(std::string_view address)> matches;
  NodeFactory make;
};

class Router {
 public:
  void Add(Route route) { routes_.push_back(std::move(route)); }
  // nullptr if no route matches (the link is refused with amqp:not-found).
  const Route* Find(Role role, std::string_view address) const;

 private:
  std::vector<Route> routes_;
};

// Matchers for the common cases: the exact address (case-insensitive), or a prefix of whole
// segments.
std::function<bool(std::string_view)> ExactAddress(std::string address);
std::function<bool(std::string_view)> AddressUnder(std::string prefix);

// "amqps://host:5671/a/b" and "/a/b" -> "a/b".
std::string NormalizeAddress(std::string_view address);

}  // namespace coffre::amqp
