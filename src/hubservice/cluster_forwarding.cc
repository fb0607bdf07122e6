#include "hubservice/cluster_forwarding.h"

#include "common/clock.h"
#include "common/json_fields.h"
#include "common/log.h"

namespace coffre::hubservice {
namespace {

// A desired-property notification matters for this long after its patch.
constexpr std::chrono::seconds kDesiredHandOffFor{30};

nlohmann::json IdentityFields(const hub::TwinId& id) {
  nlohmann::json fields = {{"device", id.device_id}};
  if (id.module_id) fields["module"] = *id.module_id;
  return fields;
}

Result<hub::TwinId> IdentityOf(const JsonFields& f) {
  hub::TwinId id;
  COFFRE_ASSIGN_OR_RETURN(id.device_id, f.Required<std::string>("device"));
  COFFRE_ASSIGN_OR_RETURN(id.module_id, f.Optional<std::string>("module"));
  return id;
}

int64_t MillisFromNow(std::chrono::milliseconds d) { return SystemClock().NowMillis() + d.count(); }

}  // namespace

Result<std::unique_ptr<ClusterForwarding>> ClusterForwarding::Start(Parts parts) {
  std::unique_ptr<ClusterForwarding> f(new ClusterForwarding(std::move(parts)));
  ClusterForwarding* self = f.get();
  COFFRE_ASSIGN_OR_RETURN(
      f->handoff_,
      ClusterHandoff::Start(f->parts_.link, f->parts_.kv, f->parts_.keys,
                            [self](const nlohmann::json& record) { self->Received(record); }));
  f->parts_.sessions.SetTakenElsewhere(
      [self](const std::string& digest) { self->TakenElsewhere(digest); });
  return f;
}

ClusterForwarding::~ClusterForwarding() {
  parts_.sessions.SetTakenElsewhere({});
  handoff_.reset();  // its thread is the only caller of Received
}

bool ClusterForwarding::HandOverMethod(const std::string& rid, const hub::MethodRequest& request) {
  const std::string key = hub::IdentityKeyOf(request.target);
  std::optional<std::string> holder = parts_.sessions.HolderOf(key);
  if (!holder) {
    // Handed over once another node announces the identity (TakenElsewhere).
    Result<std::string> digest = parts_.sessions.Digest(key);
    if (digest.has_value() && request.connect_timeout.count() > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      auto until = std::chrono::steady_clock::now() + request.connect_timeout;
      std::erase_if(waiting_, [now = std::chrono::steady_clock::now()](const auto& w) {
        return w.second.second < now;
      });
      auto& w = waiting_[*digest];
      w = {request.target, std::max(w.second, until)};
    }
    return false;
  }
  nlohmann::json record = IdentityFields(request.target);
  record["kind"] = "method";
  record["from"] = parts_.link.node_id;
  record["rid"] = rid;
  record["name"] = request.name;
  record["payload"] = request.payload;
  record["response_s"] = request.response_timeout.count();
  record["connect_s"] = request.connect_timeout.count();
  const auto whole_wait = request.connect_timeout + request.response_timeout;
  handoff_->Send(*holder, std::move(record), MillisFromNow(whole_wait),
                 [this, rid](const Status& failed) {
                   parts_.methods.End(rid, Unavailable("the hub node holding the device could "
                                                       "not be reached: " +
                                                       failed.message()));
                 });
  return true;
}

void ClusterForwarding::DesiredChanged(const hub::TwinId& id, const std::string& text,
                                       int64_t version) {
  std::optional<std::string> holder = parts_.sessions.HolderOf(hub::IdentityKeyOf(id));
  if (!holder) return;
  nlohmann::json record = IdentityFields(id);
  record["kind"] = "desired";
  record["text"] = text;
  record["version"] = version;
  handoff_->Send(*holder, std::move(record), MillisFromNow(kDesiredHandOffFor),
                 [](const Status& failed) {
                   LogLine(LogLevel::kWarning, "cluster",
                           "a desired-property notification for another node's device was not "
                           "sent (the device reads it at its next twin GET): " +
                               failed.message());
                 });
}

void ClusterForwarding::TakenElsewhere(const std::string& digest) {
  std::optional<hub::TwinId> target;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto w = waiting_.find(digest);
    if (w == waiting_.end()) return;
    target = w->second.first;
    waiting_.erase(w);
  }
  parts_.methods.Subscribed(*target);  // its waiting calls try again: now handed over
}

void ClusterForwarding::Received(const nlohmann::json& record) {
  Result<JsonFields> f = JsonFields::Of(record);
  if (!f.has_value()) return;
  Result<std::string> kind = f->Required<std::string>("kind");
  Status done = !kind.has_value()       ? kind.error()
                : *kind == "method"     ? CallHere(record)
                : *kind == "method-end" ? EndHere(record)
                : *kind == "desired"    ? DesiredHere(record)
                                        : InvalidArgument("unknown kind " + *kind);
  if (!done.ok()) {
    LogLine(LogLevel::kWarning, "cluster",
            "a hand-off from another node was not used: " + done.message());
  }
}

Status ClusterForwarding::CallHere(const nlohmann::json& record) {
  COFFRE_ASSIGN_OR_RETURN(JsonFields f, JsonFields::Of(record));
  hub::MethodRequest request;
  COFFRE_ASSIGN_OR_RETURN(request.target, IdentityOf(f));
  COFFRE_ASSIGN_OR_RETURN(std::string from, f.Required<std::string>("from"));
  COFFRE_ASSIGN_OR_RETURN(std::string rid, f.Required<std::string>("rid"));
  COFFRE_ASSIGN_OR_RETURN(request.name, f.Required<std::string>("name"));
  COFFRE_ASSIGN_OR_RETURN(request.payload, f.Required<std::string>("payload"));
  COFFRE_ASSIGN_OR_RETURN(int response_s, f.Required<int>("response_s"));
  COFFRE_ASSIGN_OR_RETURN(int connect_s, f.Required<int>("connect_s"));
  if (response_s < 0 || response_s > hub::kMaxMethodTimeoutSeconds || connect_s < 0 ||
      connect_s > hub::kMaxMethodTimeoutSeconds) {
    return InvalidArgument("a method call's timeouts out of range");
  }
  request.response_timeout = std::chrono::seconds(response_s);
  request.connect_timeout = std::chrono::seconds(connect_s);
  request.handed_over = true;
  const int64_t until =
      MillisFromNow(request.connect_timeout + request.response_timeout + hub::kHandOverMargin);
  parts_.methods.Invoke(std::move(request),
                        [this, from, rid, until](Result<hub::MethodResponse> r) {
                          nlohmann::json end = {{"kind", "method-end"}, {"rid", rid}};
                          if (r.has_value()) {
                            end["status"] = r->status;
                            end["payload"] = r->payload;
                          } else {
                            end["code"] = static_cast<int>(r.error().code());
                            end["message"] = r.error().message();
                            end["detail"] = r.error().detail();
                          }
                          handoff_->Send(from, std::move(end), until, [](const Status& failed) {
                            LogLine(LogLevel::kWarning, "cluster",
                                    "a method's answer could not go back to the node "
                                    "that called it (it times out there): " +
                                        failed.message());
                          });
                        });
  return Status::Ok();
}

Status ClusterForwarding::EndHere(const nlohmann::json& record) {
  COFFRE_ASSIGN_OR_RETURN(JsonFields f, JsonFields::Of(record));
  COFFRE_ASSIGN_OR_RETURN(std::string rid, f.Required<std::string>("rid"));
  COFFRE_ASSIGN_OR_RETURN(std::optional<int> status, f.Optional<int>("status"));
  if (status) {
    COFFRE_ASSIGN_OR_RETURN(std::string payload, f.Required<std::string>("payload"));
    parts_.methods.End(rid, hub::MethodResponse{*status, std::move(payload)});
    return Status::Ok();
  }
  COFFRE_ASSIGN_OR_RETURN(int code, f.Required<int>("code"));
  COFFRE_ASSIGN_OR_RETURN(std::string message, f.Required<std::string>("message"));
  COFFRE_ASSIGN_OR_RETURN(std::string detail, f.Or<std::string>("detail", ""));
  if (code <= static_cast<int>(StatusCode::kOk) ||
      code > static_cast<int>(StatusCode::kUnimplemented)) {
    return InvalidArgument("a method call's end with an unknown code");
  }
  Status ended(static_cast<StatusCode>(code), std::move(message));
  parts_.methods.End(rid, detail.empty() ? ended : ended.WithDetail(std::move(detail)));
  return Status::Ok();
}

Status ClusterForwarding::DesiredHere(const nlohmann::json& record) {
  COFFRE_ASSIGN_OR_RETURN(JsonFields f, JsonFields::Of(record));
  COFFRE_ASSIGN_OR_RETURN(hub::TwinId id, IdentityOf(f));
  COFFRE_ASSIGN_OR_RETURN(std::string text, f.Required<std::string>("text"));
  COFFRE_ASSIGN_OR_RETURN(int64_t version, f.Required<int64_t>("version"));
  parts_.send_desired_here(id, text, version);
  return Status::Ok();
}

}  // namespace coffre::hubservice
