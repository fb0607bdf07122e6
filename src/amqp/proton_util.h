#pragma once
// What Proton C++ 0.37 cannot say by itself, through its C API: a rejection with an error
// condition (delivery::reject() takes none, and a rejection without one reads as success to the
// service SDK), a link detach whose error carries an info map (sender::close drops it: the
// redirect needs it), and the raw handles behind the wrappers. Also small value helpers.

#include <proton/codec/decoder.hpp>
#include <proton/delivery.hpp>
#include <proton/link.hpp>
#include <proton/message.hpp>
#include <proton/sender.hpp>
#include <proton/value.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

struct pn_link_t;
struct pn_delivery_t;
struct pn_condition_t;

namespace coffre::amqp {

pn_link_t* RawLink(const proton::link& link);
pn_delivery_t* RawDelivery(const proton::delivery& delivery);

// The credit a client gave a link the hub sends on, less what the hub has sent on it and Proton
// has not framed yet. AMQP's link-credit is an unsigned 32-bit count, but sender::credit() gives
// it as an int: a client granting more than 2^31 - 1 (many grant 4,294,967,295, "all you have")
// would read as no credit and get nothing.
uint32_t SendCredit(const proton::sender& sender);
// The arithmetic, from Proton's counts: `credit` (pn_link_credit: the client's remaining grant
// less `queued`, modulo 2^32) and `queued` (pn_link_queued: sent, not yet framed). The grant is
// credit + queued modulo 2^32; what is left is the grant less queued, none if the client lowered
// its grant below what was already queued (Proton's credit then reads negative, as a huge one
// would).
uint32_t AvailableCredit(int credit, int queued);

// Settles `d` as rejected with `condition` and `description`.
void Reject(proton::delivery& d, const std::string& condition, const std::string& description);

// Sets an error condition (of a link, session, transport, disposition) through the C API.
void SetCondition(pn_condition_t* c, const std::string& condition, const std::string& description);

// Detaches (closes) `link` with an error condition and, if given, an info map of symbol keys to
// string or int values (the redirect's hostname, port, address). A link already closed here is
// left as it is.
struct InfoValue {
  std::string text;
  std::optional<int32_t> number;
};
void CloseLink(pn_link_t* link, const std::string& condition, const std::string& description,
               const std::vector<std::pair<std::string, InfoValue>>& info = {});
void CloseLink(const proton::link& link, const std::string& condition,
               const std::string& description,
               const std::vector<std::pair<std::string, InfoValue>>& info = {});

// The message's application property `key` as a string, if it is one.
std::optional<std::string> AppString(const proton::message& m, const std::string& key);
// The message's body as text: an amqp-value string, or a Data section / binary.
std::optional<std::string> BodyText(const proton::message& m);
// A message id (string, uuid, ulong, binary) as text; uuids in canonical lower case.
std::string IdText(const proton::message_id& id);

}  // namespace coffre::amqp
