#include "vault/api/event_subscriptions_api.h"

#include <nlohmann/json.hpp>

#include "crypto/secret_bytes.h"
#include "net/http_error.h"
#include "vault/api/http_reply.h"

namespace coffre::vault {
namespace {

using nlohmann::json;
using net::HttpResponse;

const net::HttpErrorTable kSubscriptionErrors(
    {{StatusCode::kInvalidArgument, {400, "BadParameter"}},
     {StatusCode::kNotFound, {404, "SubscriptionNotFound"}},
     {StatusCode::kResourceExhausted, {409, "Conflict"}}},
    {500, "InternalError"});

HttpResponse Refused(const Status& s) {
  net::HttpError e = net::HttpErrorFor(s, kSubscriptionErrors);
  return ErrorReply(e.status, e.code, s.message(), e.detail);
}

json View(const EventSubscription& s) {
  return json{{"id", s.id},
              {"endpoint", s.endpoint},
              {"eventTypes", s.event_types},
              {"customCa", !s.ca_pem.empty()},
              {"created", s.created}};
}

}  // namespace

HttpResponse AddEventSubscription(EventSubscriptions& subscriptions,
                                  const net::HttpRequest& request) {
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return ErrorReply(400, "BadParameter", "The request body is not a valid JSON object.");
  }
  auto endpoint = body.find("endpoint");
  if (endpoint == body.end() || !endpoint->is_string()) {
    return ErrorReply(400, "BadParameter", "The field 'endpoint' (an https URL) is required.");
  }
  std::vector<std::string> types;
  if (auto it = body.find("eventTypes"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) {
      return ErrorReply(400, "BadParameter", "The field 'eventTypes' must be an array of names.");
    }
    for (const json& t : *it) {
      if (!t.is_string()) {
        return ErrorReply(400, "BadParameter", "The field 'eventTypes' must be an array of names.");
      }
      types.push_back(t.get<std::string>());
    }
  }
  std::string ca_pem;
  if (auto it = body.find("caPem"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return ErrorReply(400, "BadParameter", "The field 'caPem' must be a string.");
    ca_pem = it->get<std::string>();
  }
  Result<EventSubscriptions::Created> created =
      subscriptions.Create(endpoint->get<std::string>(), types, ca_pem);
  if (!created.has_value()) return Refused(created.error());
  json out = View(created->subscription);
  out["secret"] = std::string(AsChars(created->secret.Reveal()));
  HttpResponse r = JsonReply(out, 201);
  crypto::Cleanse(out["secret"].get_ref<std::string&>());
  return r;
}

HttpResponse ListEventSubscriptions(EventSubscriptions& subscriptions) {
  json value = json::array();
  for (const EventSubscription& s : subscriptions.List()) value.push_back(View(s));
  return JsonReply(json{{"value", value}, {"nextLink", nullptr}});
}

HttpResponse GetEventSubscription(EventSubscriptions& subscriptions, const std::string& id) {
  Result<EventSubscription> s = subscriptions.Get(id);
  return s.has_value() ? JsonReply(View(*s)) : Refused(s.error());
}

HttpResponse RemoveEventSubscription(EventSubscriptions& subscriptions, const std::string& id) {
  if (Status s = subscriptions.Delete(id); !s.ok()) return Refused(s);
  return NoContent();
}

}  // namespace coffre::vault
