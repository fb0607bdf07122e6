#include "cli/hub_monitor_amqp.h"

#include <proton/binary.hpp>
#include <proton/codec/encoder.hpp>
#include <proton/codec/map.hpp>
#include <proton/codec/vector.hpp>
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/error_condition.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/sender.hpp>
#include <proton/sender_options.hpp>
#include <proton/session.hpp>
#include <proton/source.hpp>
#include <proton/source_options.hpp>
#include <proton/ssl.hpp>
#include <proton/symbol.hpp>
#include <proton/target_options.hpp>
#include <proton/transport.hpp>
#include <proton/work_queue.hpp>

#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "amqp/proton_util.h"
#include "cli/amqp_event_json.h"
#include "cli/json_member.h"
#include "crypto/random.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

constexpr int64_t kTokenSeconds = 3600;
// @azure/event-hubs puts a new token 45 minutes into an hour's token; so does this.
constexpr auto kRenewEvery = std::chrono::minutes(45);
constexpr int kPartitionCredit = 100;
// Event Hubs allows at most 2,048 partitions (dedicated tiers); an endpoint that lists more is
// not believed, rather than given a receiver per id.
constexpr size_t kMaxPartitions = 4096;
constexpr uint64_t kSelectorDescriptor = 0x0000468C00000004;  // apache.org:selector-filter:string
constexpr const char* kSelectorKey = "apache.org:selector-filter:string";
// After our close, how long the endpoint may take to answer it before the run just ends.
constexpr auto kCloseGrace = std::chrono::seconds(2);
// How often the deadlines are checked. One short timer, not one per deadline: Proton's container
// does not return from run() while any scheduled task is pending, even after stop().
constexpr auto kTick = std::chrono::milliseconds(200);
using SteadyClock = std::chrono::steady_clock;

proton::duration Millis(std::chrono::milliseconds d) { return proton::duration(d.count()); }

std::string Describe(const proton::error_condition& e) {
  if (e.empty()) return "no reason given";
  if (e.description().empty()) return e.name();
  return e.name() + ": " + e.description();
}

// The AMQP status-code of a $cbs or $management reply (an int, or another integer width).
int64_t StatusCodeOf(const proton::message& m) {
  try {
    const proton::message::property_map& p = m.properties();
    if (!p.exists("status-code")) return 0;
    proton::scalar s = p.get("status-code");
    if (proton::type_id_is_signed_int(s.type()) || proton::type_id_is_unsigned_int(s.type())) {
      return proton::coerce<int64_t>(s);
    }
  } catch (const std::exception&) {
  }
  return 0;
}

std::string StatusText(const proton::message& m) {
  std::string text = std::to_string(StatusCodeOf(m));
  if (auto condition = amqp::AppString(m, "error-condition")) text += " " + *condition;
  if (auto description = amqp::AppString(m, "status-description")) text += ": " + *description;
  return text;
}

std::string RandomId() {
  Result<std::string> id = crypto::RandomUuid();
  return id.has_value() ? *id : std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

class Monitor final : public proton::messaging_handler {
 public:
  Monitor(const EventHubConnection& c, const MonitorOptions& o, std::ostream& out,
          std::chrono::seconds setup_timeout)
      : c_(c), o_(o), out_(out), setup_timeout_(setup_timeout),
        where_(c.host + ":" + std::to_string(c.port)), audience_(c.endpoint + "/" + c.entity),
        group_(o.consumer_group.empty() ? "$Default" : o.consumer_group) {}

  Status result() const { return result_; }

  void on_container_start(proton::container& container) override {
    Guard([&] {
      container_ = &container;
      proton::connection_options co;
      co.virtual_host(c_.host).sasl_enabled(true).sasl_allowed_mechs("ANONYMOUS");
      co.idle_timeout(proton::duration(60000));  // as the Event Hubs SDK asks
      if (c_.tls) {
        co.ssl_client_options(c_.ca_file.empty()
                                  ? proton::ssl_client_options(proton::ssl::VERIFY_PEER_NAME)
                                  : proton::ssl_client_options(c_.ca_file.string(),
                                                               proton::ssl::VERIFY_PEER_NAME));
      }
      std::string host = c_.host.find(':') != std::string::npos ? "[" + c_.host + "]" : c_.host;
      std::string url = std::string(c_.tls ? "amqps://" : "amqp://") + host + ":" + std::to_string(c_.port);
      connection_ = container.connect(url, co);
      SteadyClock::time_point now = SteadyClock::now();
      setup_deadline_ = now + setup_timeout_;
      ScheduleTick();
    });
  }

  void on_connection_open(proton::connection& connection) override {
    Guard([&] {
      opened_ = true;
      session_ = connection.open_session();
      // Replies come back on receivers whose names the requests' reply-to carry.
      cbs_reply_name_ = "cbs-" + RandomId();
      cbs_reply_ = session_.open_receiver(
          "$cbs", proton::receiver_options().name(cbs_reply_name_).credit_window(10));
      cbs_ = session_.open_sender("$cbs", proton::sender_options().name("cbs-put-" + RandomId()));
      management_reply_name_ = RandomId();
      proton::target_options reply_target;
      reply_target.address(management_reply_name_);
      management_reply_ = session_.open_receiver(
          "$management",
          proton::receiver_options().name(management_reply_name_).credit_window(10).target(reply_target));
      management_ = session_.open_sender("$management",
                                         proton::sender_options().name("mgmt-" + RandomId()));
      PutToken();
    });
  }

  void on_sendable(proton::sender& s) override {
    Guard([&] {
      std::deque<proton::message>& queue = s == cbs_ ? cbs_queue_ : management_queue_;
      while (s.credit() > 0 && !queue.empty()) {
        s.send(queue.front());
        queue.pop_front();
      }
    });
  }

  void on_message(proton::delivery& d, proton::message& m) override {
    Guard([&] {
      proton::receiver r = d.receiver();
      if (r == cbs_reply_) return OnTokenReply(m);
      if (r == management_reply_) return OnPartitions(m);
      auto it = partitions_.find(r.name());
      if (it == partitions_.end() || done_) return;
      json event = AmqpEventJson(m, it->second);
      if (!o_.device_id.empty() && !(Member(event, "deviceId").is_string() &&
                                     event["deviceId"].get<std::string>() == o_.device_id)) {
        return;
      }
      out_ << (o_.json_output ? EventJsonLine(event) : EventLine(event)) << "\n";
      out_.flush();
      if (o_.max_messages > 0 && ++printed_ == o_.max_messages) Finish(Status::Ok());
    });
  }

  void on_receiver_open(proton::receiver& r) override {
    Guard([&] {
      if (partitions_.count(r.name()) != 0 && ++open_partitions_ == partitions_.size()) {
        reading_ = true;
        // --timeout counts from here: a slow setup neither eats it nor passes for "nothing new".
        if (o_.run_for.count() > 0) run_deadline_ = SteadyClock::now() + o_.run_for;
      }
    });
  }

  void on_transport_error(proton::transport& t) override {
    Guard([&] {
      Finish(Unavailable("cannot connect to the Event Hubs-compatible endpoint at " + where_ + ": " +
                         Describe(t.error())));
    });
  }
  void on_transport_close(proton::transport&) override { Stop(); }
  // The endpoint answered our close (or closed first): the transport's end stops the run.
  void on_connection_close(proton::connection&) override {
    if (!done_) Finish(Unavailable("the Event Hubs-compatible endpoint at " + where_ + " closed the connection"));
  }
  void on_connection_error(proton::connection& c) override {
    Guard([&] { Finish(Refused("closed the connection", c.error())); });
  }
  void on_session_error(proton::session& s) override {
    Guard([&] { Finish(Refused("ended the session", s.error())); });
  }
  void on_receiver_error(proton::receiver& r) override {
    Guard([&] { Finish(Refused("detached " + r.source().address(), r.error())); });
  }
  void on_receiver_close(proton::receiver& r) override {
    Guard([&] {
      if (!done_ && partitions_.count(r.name()) != 0) {
        Finish(Unavailable("the endpoint detached " + r.source().address() + " without a reason"));
      }
    });
  }
  void on_sender_error(proton::sender& s) override {
    Guard([&] { Finish(Refused("detached " + s.target().address(), s.error())); });
  }
  void on_error(const proton::error_condition& e) override {
    Guard([&] { Finish(Unavailable("AMQP error: " + Describe(e))); });
  }

 private:
  // Proton's accessors throw on surprises; none may end the run without a message.
  template <class F>
  void Guard(F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      Finish(Internal(std::string("AMQP client: ") + e.what()));
    }
  }

  Status Refused(const std::string& what, const proton::error_condition& e) {
    std::string text = "the Event Hubs-compatible endpoint at " + where_ + " " + what + " (" + Describe(e) + ")";
    if (e.name() == "amqp:unauthorized-access") {
      return Unauthenticated(text + "; check the connection string's SharedAccessKeyName and SharedAccessKey");
    }
    if (e.name() == "amqp:not-found") return NotFound(text);
    return Unavailable(text);
  }

  // Checks the deadlines: the setup's, --timeout's, the token's renewal, the close's grace.
  void Tick() {
    SteadyClock::time_point now = SteadyClock::now();
    if (done_) {
      if (now >= close_deadline_) return Stop();
    } else if (!reading_ && now >= setup_deadline_) {
      Finish(DeadlineExceeded("the Event Hubs-compatible endpoint at " + where_ +
                              " did not open the partitions within " +
                              std::to_string(setup_timeout_.count()) + " s"));
    } else if (run_deadline_ && now >= *run_deadline_) {
      Finish(Status::Ok());
    } else if (token_puts_ > 0 && now >= renew_at_) {
      PutToken();
    }
  }

  void ScheduleTick() {
    container_->schedule(Millis(kTick), [this] {
      if (stopped_) return;  // nothing pending: the container's run() can return
      // In the connection's context, so that what the tick does to it (a close, a new token)
      // is written now rather than with its next frame.
      auto tick = [this] {
        Guard([&] { Tick(); });
        if (!stopped_) ScheduleTick();
      };
      bool queued = false;
      try {
        queued = connection_ && connection_.work_queue().add(tick);
      } catch (const std::exception&) {
      }
      if (!queued) tick();
    });
  }

  void PutToken() {
    if (done_) return;
    Result<std::string> token = EventHubToken(c_, audience_, UnixNow() + kTokenSeconds);
    if (!token.has_value()) return Finish(token.error());
    token_ = *token;
    proton::message m;
    m.id(proton::message_id("put-token-" + std::to_string(++token_puts_)));
    m.to("$cbs");
    m.reply_to(cbs_reply_name_);
    m.properties().put("operation", std::string("put-token"));
    m.properties().put("type", std::string("servicebus.windows.net:sastoken"));
    m.properties().put("name", audience_);
    m.body(*token);
    Send(cbs_, cbs_queue_, std::move(m));
    // A long run keeps its claim: a new token well before this one expires.
    renew_at_ = SteadyClock::now() + kRenewEvery;
  }

  void Send(proton::sender& s, std::deque<proton::message>& queue, proton::message m) {
    if (s.credit() > 0 && queue.empty()) {
      s.send(m);
    } else {
      queue.push_back(std::move(m));  // sent from on_sendable
    }
  }

  void OnTokenReply(const proton::message& m) {
    int64_t code = StatusCodeOf(m);
    if (code < 200 || code > 299) {
      std::string text = "the Event Hubs-compatible endpoint at " + where_ + " refused the token (" + StatusText(m) + ")";
      if (code == 401 || code == 403) {
        return Finish(Unauthenticated(text + "; check the connection string's SharedAccessKeyName and SharedAccessKey"));
      }
      return Finish(Unavailable(text));
    }
    if (asked_partitions_) return;  // a renewal
    asked_partitions_ = true;
    proton::message read;
    read.id(proton::message_id("read-" + RandomId()));
    read.to("$management");
    read.reply_to(management_reply_name_);
    read.properties().put("operation", std::string("READ"));
    read.properties().put("name", c_.entity);
    read.properties().put("type", std::string("com.microsoft:eventhub"));
    read.properties().put("security_token", token_);
    read.body(proton::binary(std::string("[]")));
    Send(management_, management_queue_, std::move(read));
  }

  void OnPartitions(const proton::message& m) {
    int64_t code = StatusCodeOf(m);
    if (code != 200) {
      std::string text = "the Event Hubs-compatible endpoint at " + where_ + " did not list the partitions of '" +
                         c_.entity + "' (" + StatusText(m) + ")";
      if (code == 404) return Finish(NotFound(text));
      if (code == 401 || code == 403) return Finish(Unauthenticated(text));
      return Finish(Unavailable(text));
    }
    std::vector<std::string> ids;
    try {
      std::map<std::string, proton::value> body;
      proton::get(m.body(), body);
      auto it = body.find("partition_ids");
      if (it != body.end()) proton::get(it->second, ids);
    } catch (const std::exception&) {
      ids.clear();
    }
    if (ids.empty() || ids.size() > kMaxPartitions) {
      return Finish(Internal("the endpoint's answer to READ com.microsoft:eventhub has no usable "
                             "partition_ids (" + std::to_string(ids.size()) + ")"));
    }
    std::string filter = StartFilter(o_);
    for (const std::string& id : ids) OpenPartition(id, filter);
  }

  void OpenPartition(const std::string& id, const std::string& expression) {
    std::string address = c_.entity + "/ConsumerGroups/" + group_ + "/Partitions/" + id;
    proton::value selector;
    proton::codec::encoder enc(selector);
    enc << proton::codec::start::described() << kSelectorDescriptor << expression
        << proton::codec::finish();
    proton::source::filter_map filters;
    filters.put(proton::symbol(kSelectorKey), selector);
    proton::source_options source;
    source.address(address).filters(filters);
    std::string name = address + "-" + RandomId();
    partitions_[name] = id;
    session_.open_receiver(address, proton::receiver_options()
                                        .name(name)
                                        .credit_window(kPartitionCredit)
                                        .auto_accept(true)
                                        .source(source));
  }

  // Ends the run with `s` (the first one wins): closes the connection, which stops the
  // container once the endpoint answers (or after a grace period).
  void Finish(Status s) {
    if (done_) return;
    done_ = true;
    result_ = std::move(s);
    try {
      // An endpoint that never opened the connection would not answer its close either.
      if (opened_ && connection_ && connection_.active()) {
        connection_.close();
        close_deadline_ = SteadyClock::now() + kCloseGrace;
        return;
      }
    } catch (const std::exception&) {
    }
    Stop();
  }

  void Stop() {
    if (!done_) {
      // The endpoint ended the connection without an error of its own.
      done_ = true;
      result_ = Unavailable("the Event Hubs-compatible endpoint at " + where_ + " closed the connection");
    }
    if (container_ != nullptr && !stopped_) {
      stopped_ = true;
      container_->stop();
    }
  }

  const EventHubConnection& c_;
  const MonitorOptions& o_;
  std::ostream& out_;
  std::chrono::seconds setup_timeout_;
  SteadyClock::time_point setup_deadline_, renew_at_, close_deadline_;
  std::optional<SteadyClock::time_point> run_deadline_;
  std::string where_, audience_, group_;
  proton::container* container_ = nullptr;
  proton::connection connection_;
  proton::session session_;
  proton::sender cbs_, management_;
  proton::receiver cbs_reply_, management_reply_;
  std::string cbs_reply_name_, management_reply_name_, token_;
  std::deque<proton::message> cbs_queue_, management_queue_;
  std::map<std::string, std::string> partitions_;  // receiver name -> partition id
  size_t open_partitions_ = 0;
  size_t printed_ = 0;
  uint64_t token_puts_ = 0;
  bool opened_ = false, asked_partitions_ = false, reading_ = false, done_ = false, stopped_ = false;
  Status result_;
};

}  // namespace

std::string StartFilter(const MonitorOptions& o) {
  constexpr std::string_view kAnnotation = "amqp.annotation.";
  if (o.enqueued_time_ms && *o.enqueued_time_ms > 0) {
    // Event Hubs' enqueued-time filter is exclusive: one millisecond earlier reads "at or
    // after", as the read API's fromEnqueuedTime does.
    return std::string(kAnnotation) + "x-opt-enqueued-time > '" +
           std::to_string(*o.enqueued_time_ms - 1) + "'";
  }
  if (o.from_start || o.enqueued_time_ms) {
    return std::string(kAnnotation) + "x-opt-offset > '-1'";
  }
  return std::string(kAnnotation) + "x-opt-offset > '@latest'";
}

Status MonitorEventsAmqp(const EventHubConnection& connection, const MonitorOptions& options,
                         std::ostream& out, std::chrono::seconds setup_timeout) {
  Monitor monitor(connection, options, out, setup_timeout);
  try {
    proton::container container(monitor);
    container.run();
  } catch (const std::exception& e) {
    return Internal(std::string("AMQP client: ") + e.what());
  }
  return monitor.result();
}

}  // namespace coffre::cli
