#include "amqp/router.h"

#include "amqp/claims.h"

namespace coffre::amqp {

const Route* Router::Find(Role role, std::string_view address) const {
  for (const Route& r : routes_) {
    if (r.role == role && r.matches(address)) return &r;
  }
  return nullptr;
}

std::function<bool(std::string_view)> ExactAddress(std::string address) {
  return [address = std::move(address)](std::string_view a) { return EqualsIgnoreCase(a, address); };
}

std::function<bool(std::string_view)> AddressUnder(std::string prefix) {
  return [prefix = std::move(prefix)](std::string_view a) {
    if (a.size() < prefix.size() || !EqualsIgnoreCase(a.substr(0, prefix.size()), prefix)) {
      return false;
    }
    return a.size() == prefix.size() || a[prefix.size()] == '/';
  };
}

std::string NormalizeAddress(std::string_view address) {
  for (std::string_view scheme : {"amqps://", "amqp://"}) {
    if (address.size() >= scheme.size() &&
        EqualsIgnoreCase(address.substr(0, scheme.size()), scheme)) {
      address.remove_prefix(scheme.size());
      size_t slash = address.find('/');
      address = slash == std::string_view::npos ? std::string_view() : address.substr(slash);
      break;
    }
  }
  while (!address.empty() && address.front() == '/') address.remove_prefix(1);
  return std::string(address);
}

}  // namespace coffre::amqp
