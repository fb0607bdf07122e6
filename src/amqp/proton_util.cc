#include "amqp/proton_util.h"

#include <proton/binary.hpp>
#include <proton/condition.h>
#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/link.h>
#include <proton/scalar.hpp>
#include <proton/uuid.hpp>
#include <proton/codec.h>
#include <proton/connection.h>
#include <proton/message_id.hpp>

#include <map>

namespace coffre::amqp {

namespace {

// The wrappers keep their handle protected; a derived copy exposes it.
struct LinkHandle : proton::link {
  explicit LinkHandle(const proton::link& l) : proton::link(l) {}
  using proton::link::pn_object;
};
struct DeliveryHandle : proton::delivery {
  explicit DeliveryHandle(const proton::delivery& d) : proton::delivery(d) {}
  using proton::delivery::pn_object;
};

}  // namespace

pn_link_t* RawLink(const proton::link& link) { return LinkHandle(link).pn_object(); }
pn_delivery_t* RawDelivery(const proton::delivery& delivery) {
  return DeliveryHandle(delivery).pn_object();
}

uint32_t AvailableCredit(int credit, int queued) {
  if (queued < 0) return 0;
  uint32_t grant = static_cast<uint32_t>(credit) + static_cast<uint32_t>(queued);
  int64_t left = static_cast<int64_t>(grant) - queued;
  return left > 0 ? static_cast<uint32_t>(left) : 0;
}

uint32_t SendCredit(const proton::sender& sender) {
  pn_link_t* raw = RawLink(sender);
  return raw == nullptr ? 0 : AvailableCredit(pn_link_credit(raw), pn_link_queued(raw));
}

void Reject(proton::delivery& d, const std::string& condition, const std::string& description) {
  pn_delivery_t* raw = RawDelivery(d);
  if (raw == nullptr || pn_delivery_settled(raw)) return;
  SetCondition(pn_disposition_condition(pn_delivery_local(raw)), condition, description);
  pn_delivery_update(raw, PN_REJECTED);
  pn_delivery_settle(raw);
}

void SetCondition(pn_condition_t* c, const std::string& condition, const std::string& description) {
  pn_condition_set_name(c, condition.c_str());
  pn_condition_set_description(c, description.c_str());
}

void CloseLink(const proton::link& link, const std::string& condition,
               const std::string& description,
               const std::vector<std::pair<std::string, InfoValue>>& info) {
  CloseLink(RawLink(link), condition, description, info);
}

void CloseLink(pn_link_t* raw, const std::string& condition, const std::string& description,
               const std::vector<std::pair<std::string, InfoValue>>& info) {
  if (raw == nullptr) return;
  pn_state_t state = pn_link_state(raw);
  if (state & PN_LOCAL_CLOSED) return;
  pn_condition_t* c = pn_link_condition(raw);
  SetCondition(c, condition, description);
  if (!info.empty()) {
    pn_data_t* data = pn_condition_info(c);
    pn_data_clear(data);
    pn_data_put_map(data);
    pn_data_enter(data);
    for (const auto& [key, value] : info) {
      pn_data_put_symbol(data, pn_bytes(key.size(), key.data()));
      if (value.number) {
        pn_data_put_int(data, *value.number);
      } else {
        pn_data_put_string(data, pn_bytes(value.text.size(), value.text.data()));
      }
    }
    pn_data_exit(data);
  }
  pn_link_close(raw);
}

std::optional<std::string> AppString(const proton::message& m, const std::string& key) {
  const proton::message::property_map& props = m.properties();
  if (!props.exists(key)) return std::nullopt;
  proton::scalar v = props.get(key);
  if (v.type() == proton::STRING) return proton::get<std::string>(v);
  if (v.type() == proton::SYMBOL) return std::string(proton::get<proton::symbol>(v));
  return std::nullopt;
}

std::optional<std::string> BodyText(const proton::message& m) {
  const proton::value& body = m.body();
  try {
    switch (body.type()) {
      case proton::STRING:
        return proton::get<std::string>(body);
      case proton::BINARY: {
        proton::binary b = proton::get<proton::binary>(body);
        return std::string(b.begin(), b.end());
      }
      default:
        return std::nullopt;
    }
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string IdText(const proton::message_id& id) {
  switch (id.type()) {
    case proton::STRING:
      return proton::get<std::string>(id);
    case proton::UUID:
      return proton::get<proton::uuid>(id).str();
    case proton::ULONG:
      return std::to_string(proton::get<uint64_t>(id));
    case proton::BINARY: {
      proton::binary b = proton::get<proton::binary>(id);
      return std::string(b.begin(), b.end());
    }
    default:
      return "";
  }
  return "";
}

}  // namespace coffre::amqp
