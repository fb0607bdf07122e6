#pragma once
// The AMQP front end's extension point: a link's address is routed (amqp/router.h) to a node,
// and the node serves that one link. Everything the hub does over AMQP is a node: `$cbs`,
// `$management`, the Event Hubs partition receivers, the service client's C2D sender and
// feedback receiver, the device links. To add one: write a LinkNode and a factory, and add one
// line to the table in amqp/nodes.cc.
//
// Contract (what the connection guarantees a node, and what it expects back):
// - One LinkNode instance per attached link, made by its route's factory when the client
//   attaches. Every call below runs on the connection's strand, one at a time, so a node needs
//   no lock for its own state; work from other threads comes back through LinkContext::Post.
// - OnAttach comes first, exactly once. Returning a LinkError refuses the link: the connection
//   answers the attach and detaches it at once with that error (as Azure does); the node then
//   gets OnDetach and is destroyed. Returning nullopt means the node accepted the link: the
//   connection has opened it (its local terminus copies the client's source and target).
// - OnMessage: a transfer arrived on a link the hub receives (role kHubReceives). The node
//   settles it (accept, or a rejection with a condition via amqp/proton_util.h) now or later,
//   as long as the link is open. Credit for the client is the node's to give (Credit()); the
//   connection gives an initial window (LinkLimits::receive_window) before OnAttach.
// - OnSendable: a link the hub sends on (role kHubSends) has credit; send at most that much.
//   A node that stops early because the connection's output is backlogged asks for
//   LinkContext::WhenWritable and continues there.
// - OnOutcome: the client settled or gave an outcome for a delivery the hub sent on this link
//   (accepted, rejected, released or modified); the tracker's tag is the one the node sent with.
// - OnDetach: the link closed (the client detached it, the node or the connection closed it, or
//   the connection ended). Exactly once, last; the node is destroyed right after. Release any
//   registration (waiters, epoch tables) here, never rely on the destructor alone.
// - A node may close its own link at any time with CloseLink(link, error) (amqp/proton_util.h):
//   OnDetach follows.
// - Authorization: a node calls ctx.claims() to see whether the connection holds a claim
//   ($cbs put-token or SASL PLAIN) for its resource, and GuardLink(...) to have the connection
//   detach the link with amqp:unauthorized-access once no unexpired claim covers it. A
//   connection must hold some claim within ConnectionLimits::claim_deadline of its open (it is
//   counted as unauthenticated until then): a node that authenticates by other means (a device's
//   TLS client certificate) adds the claim it proves with ctx.claims().Add(...).

#include <proton/delivery.hpp>
#include <proton/link.hpp>
#include <proton/message.hpp>
#include <proton/receiver.hpp>
#include <proton/sender.hpp>
#include <proton/tracker.hpp>

#include <openssl/ssl.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "amqp/claims.h"
#include "hub/hub_metrics.h"

namespace coffre::amqp {

struct HubParts;  // amqp/hub_parts.h

// An AMQP error condition (amqp:not-found, com.microsoft:argument-out-of-range, ...).
struct LinkError {
  std::string condition;
  std::string description;
};

// Which end the hub holds: kHubSends = the client attached a receiver (the hub's end is a
// proton::sender, the address is the client's source); kHubReceives = the client attached a
// sender (the hub's end is a proton::receiver, the address is the client's target).
enum class Role { kHubSends, kHubReceives };

// The client's outcome for a delivery the hub sent (modified counts as released).
enum class Outcome { kAccepted, kRejected, kReleased };

struct LinkRequest {
  Role role;
  // The address as the client sent it, and normalized: an "amqps://host[:port]" prefix and the
  // leading '/' removed ("/messages/devicebound" -> "messages/devicebound").
  std::string raw_address;
  std::string address;
  proton::link link;
  proton::sender sender;      // valid for kHubSends
  proton::receiver receiver;  // valid for kHubReceives
};

class ReplyLink;

// What a node sees of its connection. Valid for the node's whole life; strand-only, except Post.
class LinkContext {
 public:
  virtual ~LinkContext() = default;
  virtual HubParts& hub() = 0;
  // The claims this connection holds (put-token, SASL PLAIN), unexpired or not.
  virtual ClaimSet& claims() = 0;
  // A token (put-token, a device's credentials) was refused: past a few on one connection the
  // connection is closed (amqp:unauthorized-access), so that it cannot make the hub check
  // signatures without end.
  virtual void TokenRefused() = 0;
  // Detach `link` with amqp:unauthorized-access once no unexpired claim of claims() grants
  // `need` (checked every second and at each put-token).
  virtual void GuardLink(const proton::link& link, ClaimNeed need) = 0;
  // Runs `fn` on this connection's strand, from any thread; dropped if the connection is gone.
  // The returned poster may be kept and called later (it holds the connection weakly).
  virtual std::function<void(std::function<void()>)> Poster() = 0;
  // Runs `fn` on the strand after `delay`, unless the connection ended first.
  virtual void After(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
  // True while the connection's unsent output is over its bound: senders should pause, and
  // continue in WhenWritable.
  virtual bool OutputBacklogged() = 0;
  virtual void WhenWritable(std::function<void()> fn) = 0;
  // Reply links of request/response nodes ($cbs, $management, twin, methods): a hub-sends
  // link registers under its node's name; a request's reply-to finds it by link name or target
  // address, else the node's only reply link on this connection.
  virtual void AddReplyLink(const std::string& node, ReplyLink* link) = 0;
  virtual void RemoveReplyLink(const std::string& node, ReplyLink* link) = 0;
  virtual ReplyLink* FindReplyLink(const std::string& node, const std::string& reply_to) = 0;
  // Closes the whole connection with `condition` (e.g. another connection took the device over).
  virtual void Close(const std::string& condition, const std::string& description) = 0;
  // The TLS connection (client certificate), nullptr if none; the peer, for logs.
  virtual SSL* tls() = 0;
  virtual const std::string& peer() const = 0;
  // This connection's protocol's traffic counts (amqp or amqp-ws), nullptr if not counted.
  virtual hub::ProtocolMetrics* traffic() = 0;
};

class LinkNode {
 public:
  virtual ~LinkNode() = default;
  virtual std::optional<LinkError> OnAttach(const LinkRequest& request) = 0;
  virtual void OnMessage(proton::delivery&, proton::message&) {}
  virtual void OnSendable(proton::sender&) {}
  virtual void OnOutcome(proton::tracker&, Outcome) {}
  virtual void OnDetach() {}
};

using NodeFactory = std::function<std::unique_ptr<LinkNode>(LinkContext&, const LinkRequest&)>;

// A hub-sends link that carries replies (the reply side of $cbs, $management, ...): messages are
// queued while the client gives no credit (bounded: past max_queued the oldest are dropped,
// since a client that asks without reading has given up on the answers).
class ReplyLink : public LinkNode {
 public:
  ReplyLink(LinkContext& ctx, std::string node, size_t max_queued = 64)
      : ctx_(ctx), node_(std::move(node)), max_queued_(max_queued) {}
  std::optional<LinkError> OnAttach(const LinkRequest& request) override;
  void OnSendable(proton::sender& s) override;
  void OnDetach() override;
  void Send(proton::message m);
  const std::string& name() const { return name_; }
  const std::string& target() const { return target_; }

 private:
  void Pump();
  LinkContext& ctx_;
  std::string node_;
  size_t max_queued_;
  std::string name_, target_;
  proton::sender sender_;
  std::vector<proton::message> queued_;
  bool registered_ = false;
};

}  // namespace coffre::amqp
