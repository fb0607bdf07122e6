#include "hubapi/backup_api.h"

#include <nlohmann/json.hpp>

#include "common/numbers.h"
#include "common/time_format.h"
#include "hubapi/service_api.h"

namespace coffre::hubapi {

using nlohmann::json;

namespace {

json BackupJson(const hub::BackupStatus& b) {
  return {{"id", b.id},
          {"state", b.state},
          {"error", b.error},
          {"requestedBy", b.requested_by},
          {"startedAt", FormatIsoTime(b.started_ms)},
          {"finishedAt", b.finished_ms != 0 ? FormatIsoTime(b.finished_ms) : ""},
          {"rows", b.rows},
          {"records", b.records},
          {"recordsTotal", b.records_total},
          {"bytes", b.bytes}};
}

// The path after /$coffre/backups: "" (the collection), "/{id}" or "/{id}/content"; nullopt
// for any other path.
std::optional<std::string_view> BackupsTail(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  for (std::string_view prefix : {"/$coffre/backups", "/%24coffre/backups"}) {
    if (path.substr(0, prefix.size()) != prefix) continue;
    std::string_view tail = path.substr(prefix.size());
    if (tail.empty() || tail.front() == '/') return tail;
  }
  return std::nullopt;
}

net::HttpResponse BackupError(const Status& s) {
  if (s.code() == StatusCode::kFailedPrecondition) {
    return ServiceApi::Error(409, "BackupConflict", s.message());
  }
  if (s.code() == StatusCode::kNotFound) return ServiceApi::Error(404, "BackupNotFound", s.message());
  return ErrorFor(s);
}

}  // namespace

std::optional<net::HttpResponse> BackupApi::Handle(const net::HttpRequest& request) {
  std::optional<std::string_view> tail = BackupsTail(request.target);
  if (!tail) return std::nullopt;
  Result<hub::AccessPolicy> caller = policies_.Authorize(
      request.Header("Authorization"), hub::kRegistryWrite | hub::kServiceConnect);
  if (!caller.has_value()) return ServiceApi::RefusedCaller(caller.error());

  if (tail->empty()) {
    if (request.method == "GET") {
      json list = json::array();
      for (const hub::BackupStatus& b : backups_.List()) list.push_back(BackupJson(b));
      return JsonResponse(list);
    }
    if (request.method != "POST") return ServiceApi::Error(405, "MethodNotAllowed", "Use GET or POST.");
    Result<hub::BackupStatus> started = backups_.Start(caller->name);
    if (!started.has_value()) return BackupError(started.error());
    return JsonResponse(BackupJson(*started), 202);
  }
  std::string_view rest = tail->substr(1);
  size_t slash = rest.find('/');
  std::string_view id = rest.substr(0, slash);
  std::string_view sub = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (id.empty()) return ServiceApi::Error(404, "BackupNotFound", "No backup id in the path.");
  if (sub == "/content") {
    if (request.method != "GET") return ServiceApi::Error(405, "MethodNotAllowed", "Use GET.");
    return Content(request, id);
  }
  if (!sub.empty()) return ServiceApi::Error(404, "NotFound", "No such path: " + request.target);
  if (request.method == "GET") {
    Result<hub::BackupStatus> b = backups_.Get(id);
    if (!b.has_value()) return BackupError(b.error());
    return JsonResponse(BackupJson(*b));
  }
  if (request.method == "DELETE") {
    Status deleted = backups_.Delete(id);
    if (!deleted.ok()) return BackupError(deleted);
    net::HttpResponse r;
    r.status = 204;
    return r;
  }
  return ServiceApi::Error(405, "MethodNotAllowed", "Use GET or DELETE.");
}

net::HttpResponse BackupApi::Content(const net::HttpRequest& request, std::string_view id) {
  uint64_t offset = 0;
  if (std::optional<std::string> text = request.Query("offset")) {
    std::optional<uint64_t> parsed = ParseUnsigned(*text, uint64_t{1} << 50);
    if (!parsed) return ServiceApi::Error(400, "ArgumentInvalid", "offset must be a byte offset.");
    offset = *parsed;
  }
  Result<Bytes> piece = backups_.Read(id, offset, kBackupContentPiece);
  if (!piece.has_value()) return BackupError(piece.error());
  net::HttpResponse r;
  r.content_type = "application/octet-stream";
  r.body.assign(reinterpret_cast<const char*>(piece->data()), piece->size());
  return r;
}

}  // namespace coffre::hubapi
