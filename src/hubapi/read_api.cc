#include "hubapi/read_api.h"

#include <chrono>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/json_fields.h"
#include "common/numbers.h"
#include "common/time_format.h"
#include "common/strings.h"
#include "hubapi/message_json.h"
#include "hubapi/service_api.h"
#include "net/http_error.h"

namespace coffre::hubapi {
namespace {

using nlohmann::json;
using net::HttpRequest;
using net::HttpResponse;

constexpr size_t kDefaultMax = 100;
constexpr size_t kMaxMessages = 1000;
constexpr int64_t kMaxWaitMs = 10000;


// A non-negative integer parameter; -1 if it is not one; nullopt if absent or empty.
std::optional<int64_t> Number(const HttpRequest& request, const char* name) {
  std::optional<std::string> text = request.Query(name);
  if (!text || text->empty()) return std::nullopt;
  char* end = nullptr;
  long long v = std::strtoll(text->c_str(), &end, 10);
  if (*end != '\0' || v < 0) return -1;
  return v;
}

}  // namespace

namespace {

// Consumer-group and checkpoint errors in the read API's shape.
const net::HttpErrorTable kGroupErrors(
    {{StatusCode::kNotFound, {404, "ConsumerGroupNotFound"}},
     {StatusCode::kAlreadyExists, {409, "ConsumerGroupAlreadyExists"}},
     {StatusCode::kInvalidArgument, {400, "ArgumentInvalid"}},
     {StatusCode::kFailedPrecondition, {400, "ArgumentInvalid"}},
     {StatusCode::kResourceExhausted, {403, "QuotaExceeded"}}},
    {500, "ServerError"});

HttpResponse GroupError(const Status& s) {
  net::HttpError e = net::HttpErrorFor(s, kGroupErrors);
  return ServiceApi::Error(e.status, e.code, s.message());
}

json GroupJson(const hub::ConsumerGroup& g) {
  return {{"name", g.name}, {"created", FormatIsoTime(g.created_ms)}};
}

}  // namespace

bool ReadApi::Handle(const HttpRequest& request, const net::HttpResponder& respond) {
  std::string_view target = request.target;
  std::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string> seg;
  for (std::string_view part : Split(path.substr(path.empty() ? 0 : 1), '/')) {
    seg.push_back(PercentDecode(part, false));
  }
  if (seg.empty() || seg[0] != "telemetry") return false;
  std::optional<HttpResponse> now = Route(seg, request, respond);
  if (now) respond.Send(std::move(*now));
  return true;
}

std::optional<HttpResponse> ReadApi::Route(const std::vector<std::string>& seg,
                                           const HttpRequest& request,
                                           const net::HttpResponder& respond) {
  Result<hub::AccessPolicy> caller =
      policies_.Authorize(request.Header("Authorization"), hub::kServiceConnect);
  if (!caller.has_value()) return ServiceApi::RefusedCaller(caller.error());
  if (seg.size() >= 2 && seg[1] == "consumergroups") return Groups(seg, request);
  if (request.method != "GET") return ServiceApi::Error(405, "MethodNotAllowed", "Use GET.");
  if (seg.size() == 2 && seg[1] == "partitions") return Partitions();
  if (seg.size() != 4 || seg[1] != "partitions" || seg[3] != "messages") {
    return ServiceApi::Error(404, "NotFound", "No such telemetry path.");
  }
  int partition = PartitionId(seg[2]);
  if (partition < 0) {
    return ServiceApi::Error(404, "PartitionNotFound", "No partition '" + seg[2] + "'.");
  }
  return Messages(partition, request, respond);
}

int ReadApi::PartitionId(std::string_view text) const {
  std::optional<uint64_t> p = text.size() <= 2 ? ParseUnsigned(text) : std::nullopt;
  return p && *p < static_cast<uint64_t>(store_.partitions()) ? static_cast<int>(*p) : -1;
}

HttpResponse ReadApi::Partitions() {
  json parts = json::array();
  for (int p = 0; p < store_.partitions(); ++p) {
    parts.push_back({{"id", std::to_string(p)},
                     {"beginSequence", store_.begin_sequence(p)},
                     {"endSequence", store_.end_sequence(p)}});
  }
  return JsonResponse({{"partitionCount", store_.partitions()}, {"partitions", parts}});
}

std::optional<HttpResponse> ReadApi::Messages(int partition, const HttpRequest& request,
                                              const net::HttpResponder& respond) {
  auto from = Number(request, "from");
  auto max = Number(request, "max");
  auto wait = Number(request, "waitMs");
  if ((from && *from < 0) || (max && (*max < 1 || *max > int64_t{kMaxMessages})) ||
      (wait && (*wait < 0 || *wait > kMaxWaitMs))) {
    return ServiceApi::Error(400, "ArgumentInvalid",
                             "from must be a sequence number, max 1-1000, waitMs 0-10000.");
  }
  std::optional<std::string> time = request.Query("fromEnqueuedTime");
  std::optional<std::string> group = request.Query("consumerGroup");
  if (from.has_value() + time.has_value() + group.has_value() > 1) {
    return ServiceApi::Error(400, "ArgumentInvalid",
                             "Give one of from, fromEnqueuedTime and consumerGroup.");
  }
  // Where to start: an offset, the first message at or after a time, a group's checkpoint (or,
  // without one, the oldest retained message), else the oldest retained message.
  uint64_t start = store_.begin_sequence(partition);
  if (from) start = static_cast<uint64_t>(*from);
  if (time) {
    std::optional<int64_t> ms = ParseIsoTime(*time);
    if (!ms) {
      return ServiceApi::Error(400, "ArgumentInvalid",
                               "fromEnqueuedTime must be an ISO 8601 time, e.g. 2026-11-29T20:30:00Z.");
    }
    Result<uint64_t> found = store_.SeekTime(partition, *ms);
    if (!found.has_value()) return ServiceApi::Error(500, "ServerError", found.error().message());
    start = *found;
  }
  if (group) {
    Result<std::optional<hub::Checkpoint>> checkpoint = groups_.GetCheckpoint(*group, partition);
    if (!checkpoint.has_value()) return GroupError(checkpoint.error());
    if (*checkpoint) start = std::max((*checkpoint)->offset, start);
  }
  size_t limit = static_cast<size_t>(max.value_or(kDefaultMax));
  if (wait.value_or(0) == 0 || store_.end_sequence(partition) > start) {
    return Page(partition, start, limit);
  }
  // Long poll: the answer is built on the connection's strand once a message is durable, at
  // the deadline, or when the hub turns Inaccessible; no thread waits meanwhile.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(*wait);
  store_.AwaitMessages(partition, start, deadline,
                       [this, respond, partition, start, limit](hub::SequenceWaiters::Wake) {
                         respond.SendLater([this, partition, start, limit] {
                           if (refusal_) {
                             if (auto refused = refusal_()) return *refused;
                           }
                           return Page(partition, start, limit);
                         });
                       });
  return std::nullopt;
}

HttpResponse ReadApi::Page(int partition, uint64_t start, size_t max) {
  auto messages = store_.Read(partition, start, max, size_t{8} << 20);
  if (!messages.has_value()) {
    StatusCode code = messages.error().code();
    // DATA_LOSS: the records asked for are in an integrity break (hub/telemetry_store.h);
    // UNAVAILABLE: the disk failed the read (EIO), or the keys locked meanwhile: ask again.
    if (code == StatusCode::kInvalidArgument) {
      return ServiceApi::Error(400, "ArgumentInvalid", messages.error().message());
    }
    if (code == StatusCode::kUnavailable) {
      return ServiceApi::Error(503, "ServiceUnavailable", messages.error().message());
    }
    return ServiceApi::Error(500, code == StatusCode::kDataLoss ? "DataIntegrityBreak" : "ServerError",
                             messages.error().message());
  }
  uint64_t next = messages->empty() ? start : messages->back().sequence + 1;
  HttpResponse r;
  r.body = "{\"partition\":\"" + std::to_string(partition) + "\",\"messages\":[";
  r.body.reserve(messages->size() * 640);
  size_t bytes = 0;
  for (size_t i = 0; i < messages->size(); ++i) {
    if (i > 0) r.body += ',';
    AppendMessageJson(r.body, partition, (*messages)[i]);
    bytes += (*messages)[i].message.body.size();
  }
  if (traffic_ != nullptr) traffic_->SentEvents(messages->size(), bytes);
  r.body += "],\"nextOffset\":\"" + std::to_string(next) + "\"}";
  return r;
}

// /telemetry/consumergroups[/{g}[/partitions/{p}/checkpoint]]
HttpResponse ReadApi::Groups(const std::vector<std::string>& seg, const HttpRequest& request) {
  const std::string& method = request.method;
  if (seg.size() == 2) {
    if (method != "GET") return ServiceApi::Error(405, "MethodNotAllowed", "Use GET.");
    Result<std::vector<hub::ConsumerGroup>> all = groups_.List();
    if (!all.has_value()) return GroupError(all.error());
    json list = json::array();
    for (const auto& g : *all) list.push_back(GroupJson(g));
    return JsonResponse({{"value", list}});
  }
  const std::string& name = seg[2];
  if (seg.size() == 6 && seg[3] == "partitions" && seg[5] == "checkpoint") {
    int partition = PartitionId(seg[4]);
    if (partition < 0) {
      return ServiceApi::Error(404, "PartitionNotFound", "No partition '" + seg[4] + "'.");
    }
    return Checkpoint(name, partition, request);
  }
  if (seg.size() != 3) return ServiceApi::Error(404, "NotFound", "No such telemetry path.");
  if (method == "GET") {
    Result<hub::ConsumerGroup> g = groups_.Get(name);
    return g.has_value() ? JsonResponse(GroupJson(*g)) : GroupError(g.error());
  }
  if (method == "PUT") {
    Result<hub::ConsumerGroup> g = groups_.Create(name);
    if (!g.has_value()) return GroupError(g.error());
    HttpResponse r = JsonResponse(GroupJson(*g));
    r.status = 201;
    return r;
  }
  if (method == "DELETE") {
    Status s = groups_.Delete(name);
    if (!s.ok()) return GroupError(s);
    return NoContent();
  }
  return ServiceApi::Error(405, "MethodNotAllowed", "Use GET, PUT or DELETE.");
}

// GET: {"offset": "N", "updated": time} or 404; PUT {"offset": "N"}: commits it.
HttpResponse ReadApi::Checkpoint(const std::string& group, int partition,
                                 const HttpRequest& request) {
  if (request.method == "GET") {
    Result<std::optional<hub::Checkpoint>> c = groups_.GetCheckpoint(group, partition);
    if (!c.has_value()) return GroupError(c.error());
    if (!*c) {
      return ServiceApi::Error(404, "CheckpointNotFound",
                               "The consumer group '" + group + "' has no checkpoint for partition " +
                                   std::to_string(partition) + ".");
    }
    return JsonResponse({{"offset", std::to_string((*c)->offset)}, {"updated", FormatIsoTime((*c)->updated_ms)}});
  }
  if (request.method != "PUT") return ServiceApi::Error(405, "MethodNotAllowed", "Use GET or PUT.");
  // The offset as Azure's checkpoint stores write it (a decimal string), or as a number.
  std::optional<uint64_t> offset;
  if (Result<json> body = ParseJsonObject(request.body); body.has_value()) {
    JsonFields fields = JsonFields::Of(*body).value();  // an object: parsed as one
    if (Result<std::optional<uint64_t>> n = fields.Optional<uint64_t>("offset"); n.has_value()) {
      offset = *n;
    } else if (Result<std::optional<std::string>> text = fields.Optional<std::string>("offset");
               text.has_value() && *text && (*text)->size() <= 19) {
      offset = ParseUnsigned(**text);
    }
  }
  if (!offset || *offset > store_.end_sequence(partition)) {
    return ServiceApi::Error(400, "ArgumentInvalid",
                             "The body must be {\"offset\": \"N\"} with N at most the partition's "
                             "end (" + std::to_string(store_.end_sequence(partition)) + ").");
  }
  Status s = groups_.SetCheckpoint(group, partition, *offset);
  if (!s.ok()) return GroupError(s);
  return JsonResponse({{"offset", std::to_string(*offset)}});
}

}  // namespace coffre::hubapi
