#include "cli/hub_monitor_amqp.h"

#include <proton/annotation_key.hpp>
#include <proton/codec/encoder.hpp>
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
#include <proton/scalar.hpp>
#include <proton/sender.hpp>
#include <proton/sender_options.hpp>
#include <proton/source_options.hpp>
#include <proton/ssl.hpp>
#include <proton/target_options.hpp>
#include <proton/timestamp.hpp>
#include <proton/types.hpp>
#include <proton/work_queue.hpp>

#include <map>
#include <mutex>
#include <vector>

#include "common/encoding.h"
#include "common/numbers.h"
#include "common/time_format.h"
#include "common/utf8.h"
#include "hub/sas_token.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

constexpr int kCredit = 500;

std::string Text(const proton::value& v) {
  try {
    switch (v.type()) {
      case proton::STRING: return proton::get<std::string>(v);
      case proton::SYMBOL: return std::string(proton::get<proton::symbol>(v));
      case proton::LONG: return std::to_string(proton::get<int64_t>(v));
      case proton::TIMESTAMP: return FormatIsoTime(proton::get<proton::timestamp>(v).milliseconds());
      case proton::UUID: return proton::get<proton::uuid>(v).str();
      default: return "";
    }
  } catch (const std::exception&) {
    return "";
  }
}

// An event as the read API shapes a message, so that EventJsonLine and EventLine print it.
json EventJson(const proton::message& m, const std::string& partition) {
  json e;
  std::map<proton::annotation_key, proton::value> a;
  try {
    a = proton::get<std::map<proton::annotation_key, proton::value>>(m.message_annotations().value());
  } catch (const std::exception&) {
  }
  auto annotation = [&a](const char* key) {
    auto it = a.find(proton::annotation_key(key));
    return it == a.end() ? std::string() : Text(it->second);
  };
  e["partition"] = partition;
  e["offset"] = annotation("x-opt-offset");
  // A number, as the read API prints it.
  std::string sequence = annotation("x-opt-sequence-number");
  std::optional<uint64_t> number = ParseUnsigned(sequence);
  e["sequenceNumber"] = number ? json(*number) : json(nullptr);
  e["enqueuedTime"] = annotation("x-opt-enqueued-time");
  e["deviceId"] = annotation("iothub-connection-device-id");
  json system = json::object();
  if (!m.id().empty()) system["messageId"] = Text(m.id());
  if (!m.correlation_id().empty()) system["correlationId"] = Text(m.correlation_id());
  if (!m.content_type().empty()) system["contentType"] = m.content_type();
  if (!m.content_encoding().empty()) system["contentEncoding"] = m.content_encoding();
  for (const auto& [key, value] : a) {
    std::string name = Text(key);
    if (!name.starts_with("x-opt-")) system[name] = Text(value);
  }
  e["systemProperties"] = system;
  json properties = json::object();
  try {
    for (const auto& [name, value] :
         proton::get<std::map<std::string, proton::scalar>>(m.properties().value())) {
      properties[name] = Text(value);
    }
  } catch (const std::exception&) {
  }
  e["properties"] = properties;
  std::string body;
  try {
    if (m.body().type() == proton::BINARY) {
      proton::binary b = proton::get<proton::binary>(m.body());
      body.assign(b.begin(), b.end());
    } else if (m.body().type() == proton::STRING) {
      body = proton::get<std::string>(m.body());
    }
  } catch (const std::exception&) {
  }
  if (IsValidUtf8(body, false)) {
    e["body"] = body;
  } else {
    e["bodyEncoding"] = "base64";
    e["body"] = Base64Encode(AsBytes(body));
  }
  return e;
}

class Monitor final : public proton::messaging_handler {
 public:
  Monitor(const HubConnection& hub, const MonitorOptions& o, std::string token, std::ostream& out)
      : hub_(hub), o_(o), token_(std::move(token)), out_(out),
        entity_(hub.host.substr(0, hub.host.find('.'))),
        group_(o.consumer_group.empty() ? "$Default" : o.consumer_group) {}

  Status result() const { return result_; }

  void on_container_start(proton::container& c) override {
    container_ = &c;
    proton::connection_options opts;
    opts.sasl_enabled(false);  // a bare AMQP header; the claim comes by put-token
    opts.virtual_host(hub_.host);
    opts.ssl_client_options(hub_.ca_file.empty()
                                ? proton::ssl_client_options()
                                : proton::ssl_client_options(hub_.ca_file.string(),
                                                             proton::ssl::VERIFY_PEER_NAME));
    connection_ = c.connect("amqps://" + hub_.host + ":" + std::to_string(hub_.amqp_port), opts);
    if (o_.run_for.count() > 0) {
      c.schedule(proton::duration(o_.run_for.count()), [this] { Finish(Status::Ok()); });
    }
  }

  void on_connection_open(proton::connection& c) override {
    cbs_in_ = c.open_receiver("$cbs", proton::receiver_options().name("cbs").credit_window(10));
    cbs_out_ = c.open_sender("$cbs");
  }

  void on_sendable(proton::sender& s) override {
    if (s == cbs_out_ && !token_sent_) {
      token_sent_ = true;
      proton::message m;
      m.id(proton::message_id(std::string("put-token-1")));
      m.reply_to("cbs");
      m.to("$cbs");
      m.properties().put("operation", std::string("put-token"));
      m.properties().put("type", std::string("servicebus.windows.net:sastoken"));
      m.properties().put("name", hub_.host);
      m.body(token_);
      s.send(m);
    } else if (s == management_out_ && !read_sent_) {
      read_sent_ = true;
      proton::message m;
      m.id(proton::message_id(std::string("read-1")));
      m.reply_to("monitor-mgmt");
      m.properties().put("operation", std::string("READ"));
      m.properties().put("type", std::string("com.microsoft:eventhub"));
      m.properties().put("name", entity_);
      s.send(m);
    }
  }

  void on_message(proton::delivery& d, proton::message& m) override {
    if (finished_) return;  // the rest of a batch that arrived with the last one wanted
    proton::receiver r = d.receiver();
    if (r == cbs_in_) return OnTokenReply(m);
    if (r == management_in_) return OnPartitions(m);
    auto it = partitions_.find(r.source().address());
    if (it == partitions_.end()) return;
    json event = EventJson(m, it->second);
    if (!o_.device_id.empty() && event["deviceId"] != o_.device_id) return;
    out_ << (o_.json_output ? EventJsonLine(event) : EventLine(event)) << "\n";
    out_.flush();
    if (o_.max_messages != 0 && ++printed_ >= o_.max_messages) Finish(Status::Ok());
  }

  void on_receiver_error(proton::receiver& r) override {
    Finish(Unavailable("the hub detached " + r.source().address() + ": " + r.error().what()));
  }
  void on_error(const proton::error_condition& e) override {
    Finish(Unavailable("AMQP: " + e.what()));
  }

 private:
  static int32_t StatusCodeOf(const proton::message& m) {
    try {
      if (!m.properties().exists("status-code")) return 0;
      return proton::coerce<int32_t>(m.properties().get("status-code"));
    } catch (const std::exception&) {
      return 0;
    }
  }

  static std::string DescriptionOf(const proton::message& m) {
    try {
      if (!m.properties().exists("status-description")) return "";
      return Text(m.properties().get("status-description"));
    } catch (const std::exception&) {
      return "";
    }
  }

  void OnTokenReply(const proton::message& m) {
    if (StatusCodeOf(m) != 200) {
      return Finish(Unauthenticated("the hub refused the login's token: " + DescriptionOf(m)));
    }
    // The reply-to names this link by its name and target.
    management_in_ = connection_.open_receiver(
        "$management", proton::receiver_options().name("monitor-mgmt").credit_window(10).target(
                           proton::target_options().address("monitor-mgmt")));
    management_out_ = connection_.open_sender("$management");
  }

  void OnPartitions(const proton::message& m) {
    if (StatusCodeOf(m) != 200) {
      return Finish(Unavailable("the hub's management node answered: " + DescriptionOf(m)));
    }
    std::vector<std::string> ids;
    try {
      auto body = proton::get<std::map<std::string, proton::value>>(m.body());
      ids = proton::get<std::vector<std::string>>(body.at("partition_ids"));
    } catch (const std::exception&) {
      return Finish(Internal("the hub's management answer is malformed"));
    }
    std::string expr = "amqp.annotation.x-opt-offset > '@latest'";
    if (o_.from_start) expr = "amqp.annotation.x-opt-offset > '-1'";
    if (o_.enqueued_time_ms) {
      expr = "amqp.annotation.x-opt-enqueued-time >= '" + std::to_string(*o_.enqueued_time_ms) + "'";
    }
    proton::value selector;
    proton::codec::encoder enc(selector);
    enc << proton::codec::start::described() << uint64_t{0x0000468C00000004} << expr
        << proton::codec::finish();
    proton::source::filter_map filters;
    filters.put(proton::symbol("apache.org:selector-filter:string"), selector);
    for (const std::string& id : ids) {
      std::string address = entity_ + "/ConsumerGroups/" + group_ + "/Partitions/" + id;
      partitions_[address] = id;
      connection_.open_receiver(
          address, proton::receiver_options().credit_window(kCredit).source(
                       proton::source_options().filters(filters)));
    }
  }

  void Finish(Status s) {
    if (finished_) return;
    finished_ = true;
    result_ = std::move(s);
    out_.flush();
    if (container_ != nullptr) container_->stop();
  }

  const HubConnection& hub_;
  const MonitorOptions& o_;
  std::string token_;
  std::ostream& out_;
  std::string entity_, group_;
  proton::container* container_ = nullptr;
  proton::connection connection_;
  proton::receiver cbs_in_, management_in_;
  proton::sender cbs_out_, management_out_;
  std::map<std::string, std::string> partitions_;  // address -> partition id
  bool token_sent_ = false, read_sent_ = false, finished_ = false;
  size_t printed_ = 0;
  Status result_ = Status::Ok();
};

}  // namespace

Status MonitorEventsAmqp(const HubConnection& hub, const MonitorOptions& options,
                         std::ostream& out) {
  // A service token for the whole hub (IoT Hub style, like the HTTPS calls'), renewed never: a
  // monitor that outlives it (24 h) is detached and says so.
  int64_t expiry = UnixNow() + 24 * 3600;
  COFFRE_ASSIGN_OR_RETURN(std::string token,
                          hub::MakeSasToken(hub.host, hub.policy_key, expiry, hub.policy_name));
  Monitor monitor(hub, options, std::move(token), out);
  try {
    proton::container container(monitor);
    container.run();
  } catch (const std::exception& e) {
    return Unavailable(std::string("AMQP: ") + e.what());
  }
  return monitor.result();
}

}  // namespace coffre::cli
