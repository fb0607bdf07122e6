#include "hub/c2d_message.h"

#include "common/encoding.h"
#include "common/json_fields.h"
#include "common/time_format.h"

namespace coffre::hub {

using nlohmann::json;

namespace {

const std::pair<std::optional<std::string> SystemProperties::*, const char*> kSystemFields[] = {
    {&SystemProperties::message_id, "mid"},     {&SystemProperties::correlation_id, "cid"},
    {&SystemProperties::user_id, "uid"},        {&SystemProperties::to, "to"},
    {&SystemProperties::content_type, "ct"},    {&SystemProperties::content_encoding, "ce"},
    {&SystemProperties::expiry_time, "exp"}};

Status DataLossFrom(const Status& s) { return DataLoss("stored C2D record: " + s.message()); }

}  // namespace

std::optional<C2dAck> ParseC2dAck(std::string_view text) {
  if (text == "none") return C2dAck::kNone;
  if (text == "positive") return C2dAck::kPositive;
  if (text == "negative") return C2dAck::kNegative;
  if (text == "full") return C2dAck::kFull;
  return std::nullopt;
}

std::string_view C2dAckName(C2dAck ack) {
  switch (ack) {
    case C2dAck::kNone: return "none";
    case C2dAck::kPositive: return "positive";
    case C2dAck::kNegative: return "negative";
    case C2dAck::kFull: return "full";
  }
  return "none";
}

std::string_view C2dOutcomeName(C2dOutcome outcome) {
  switch (outcome) {
    case C2dOutcome::kSuccess: return "Success";
    case C2dOutcome::kExpired: return "Expired";
    case C2dOutcome::kDeliveryCountExceeded: return "DeliveryCountExceeded";
    case C2dOutcome::kRejected: return "Rejected";
    case C2dOutcome::kPurged: return "Purged";
  }
  return "Success";
}

json C2dFeedback::ToJson() const {
  static const char* const kDescriptions[] = {"Success", "Message Expired",
                                              "Message delivery count exceeded", "Message rejected",
                                              "Message purged"};
  return {{"originalMessageId", original_message_id},
          {"deviceId", device_id},
          {"deviceGenerationId", device_generation_id},
          {"statusCode", C2dOutcomeName(outcome)},
          {"description", kDescriptions[static_cast<int>(outcome)]},
          {"enqueuedTimeUtc", FormatIsoTime(ToMillis(enqueued_time))}};
}

Result<C2dFeedback> C2dFeedback::FromJson(const json& j) {
  auto fields = JsonFields::Of(j);
  if (!fields) return DataLossFrom(fields.error());
  C2dFeedback f;
  auto read = [&]() -> Status {
    COFFRE_ASSIGN_OR_RETURN(f.original_message_id, fields->Required<std::string>("originalMessageId"));
    COFFRE_ASSIGN_OR_RETURN(f.device_id, fields->Required<std::string>("deviceId"));
    COFFRE_ASSIGN_OR_RETURN(f.device_generation_id, fields->Required<std::string>("deviceGenerationId"));
    COFFRE_ASSIGN_OR_RETURN(std::string code, fields->Required<std::string>("statusCode"));
    COFFRE_ASSIGN_OR_RETURN(std::string when, fields->Required<std::string>("enqueuedTimeUtc"));
    bool known = false;
    for (auto o : {C2dOutcome::kSuccess, C2dOutcome::kExpired, C2dOutcome::kDeliveryCountExceeded,
                   C2dOutcome::kRejected, C2dOutcome::kPurged}) {
      if (C2dOutcomeName(o) == code) {
        f.outcome = o;
        known = true;
      }
    }
    auto ms = ParseIsoTime(when);
    if (!known || !ms) return InvalidArgument("unknown statusCode or time");
    f.enqueued_time = FromMillis(*ms);
    return Status::Ok();
  };
  if (Status s = read(); !s.ok()) return DataLossFrom(s);
  return f;
}

json QueuedC2d::ToJson() const {
  json system = json::object();
  for (const auto& [field, name] : kSystemFields) {
    if (message.properties.system.*field) system[name] = *(message.properties.system.*field);
  }
  json app = json::array();
  for (const auto& [k, v] : message.properties.application) app.push_back({k, v});
  json j = {{"seq", sequence},
            {"system", std::move(system)},
            {"app", std::move(app)},
            {"body", Base64Encode(AsBytes(message.body))},
            {"ack", C2dAckName(message.ack)},
            {"expiry", message.expiry ? ToMillis(*message.expiry) : 0},
            {"generation", device_generation_id},
            {"enqueued", ToMillis(enqueued_time)},
            {"deliveries", delivery_count}};
  if (!lock_token.empty()) {
    j["lock"] = {{"token", lock_token},
                 {"until", ToMillis(locked_until)},
                 {"node", locked_by.node},
                 {"run", locked_by.run}};
  }
  return j;
}

Result<QueuedC2d> QueuedC2d::FromJson(const json& j) {
  auto fields = JsonFields::Of(j);
  if (!fields) return DataLossFrom(fields.error());
  QueuedC2d q;
  auto read = [&]() -> Status {
    COFFRE_ASSIGN_OR_RETURN(q.sequence, fields->Required<uint64_t>("seq"));
    COFFRE_ASSIGN_OR_RETURN(JsonFields system, fields->Required<JsonFields>("system"));
    for (const auto& [field, name] : kSystemFields) {
      COFFRE_ASSIGN_OR_RETURN(q.message.properties.system.*field, system.Optional<std::string>(name));
    }
    COFFRE_ASSIGN_OR_RETURN(json app, fields->Required<json>("app"));
    if (!app.is_array()) return InvalidArgument("app is not an array");
    for (const auto& pair : app) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
        return InvalidArgument("app holds something other than name/value pairs");
      }
      q.message.properties.application.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
    }
    COFFRE_ASSIGN_OR_RETURN(std::string body, fields->Required<std::string>("body"));
    COFFRE_ASSIGN_OR_RETURN(Bytes raw, Base64Decode(body));
    q.message.body.assign(reinterpret_cast<const char*>(raw.data()), raw.size());
    COFFRE_ASSIGN_OR_RETURN(std::string ack, fields->Required<std::string>("ack"));
    auto parsed_ack = ParseC2dAck(ack);
    if (!parsed_ack) return InvalidArgument("unknown ack");
    q.message.ack = *parsed_ack;
    COFFRE_ASSIGN_OR_RETURN(int64_t expiry, fields->Required<int64_t>("expiry"));
    if (expiry != 0) q.message.expiry = FromMillis(expiry);
    COFFRE_ASSIGN_OR_RETURN(q.device_generation_id, fields->Required<std::string>("generation"));
    COFFRE_ASSIGN_OR_RETURN(int64_t enqueued, fields->Required<int64_t>("enqueued"));
    q.enqueued_time = FromMillis(enqueued);
    COFFRE_ASSIGN_OR_RETURN(q.delivery_count, fields->Required<uint32_t>("deliveries"));
    // Absent (a message never delivered, or a row from before locks were stored): not locked.
    COFFRE_ASSIGN_OR_RETURN(std::optional<JsonFields> lock, fields->Optional<JsonFields>("lock"));
    if (!lock) return Status::Ok();
    COFFRE_ASSIGN_OR_RETURN(q.lock_token, lock->Required<std::string>("token"));
    COFFRE_ASSIGN_OR_RETURN(int64_t until, lock->Required<int64_t>("until"));
    q.locked_until = FromMillis(until);
    COFFRE_ASSIGN_OR_RETURN(q.locked_by.node, lock->Required<std::string>("node"));
    COFFRE_ASSIGN_OR_RETURN(q.locked_by.run, lock->Required<std::string>("run"));
    return Status::Ok();
  };
  if (Status s = read(); !s.ok()) return DataLossFrom(s);
  return q;
}

}  // namespace coffre::hub
