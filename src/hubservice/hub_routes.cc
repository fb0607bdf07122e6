#include "hubservice/hub_routes.h"

#include "net/health_probe.h"

#include <string_view>

namespace coffre::hubservice {
HubRoutes::HubRoutes(const HubParts& parts, hubapi::HttpThrottleOptions throttling,
                     const Clock& clock, bool metrics_open)
    : parts_(parts),
      throttle_(throttling),
      service_api_(parts.registry, parts.policies),
      encryption_api_(parts.monitor, parts.config, parts.custody, parts.keys, parts.policies,
                      parts.other_nodes),
      read_api_(parts.store, parts.groups, parts.policies,
                [this] { return encryption_api_.RefuseIfInaccessible(); }),
      device_api_(parts.auth, parts.ingest, &parts.quotas),
      key_events_api_(parts.monitor, parts.config, clock),
      twin_api_(parts.twins, parts.methods, parts.policies),
      query_api_(parts.registry, parts.twins, parts.policies),
      c2d_device_api_(parts.auth, parts.registry, parts.c2d),
      c2d_service_api_(parts.registry, parts.c2d, parts.policies),
      verify_api_(parts.store, parts.keys.row_digests(), parts.policies),
      storage_api_(parts.store, parts.keys.row_digests(), parts.metadata_store, parts.disk,
                   parts.policies),
      erase_api_(parts.registry, parts.twin_store, parts.c2d, parts.device_keys, parts.policies),
      backup_api_(parts.backups, parts.policies),
      metrics_api_(parts.metrics.registry(), parts.policies, metrics_open,
                   [this] { return encryption_api_.RefuseIfInaccessible(); }),
      status_page_api_(parts.policies, [board = &parts.status_board] { return board->Data(); },
                       [board = &parts.status_board] { return board->Inaccessible(); }) {
  service_api_.set_throttle(&throttle_);
  service_api_.set_c2d_queues(&parts.c2d);
  hub::ProtocolMetrics* https = &parts.metrics.protocol(hub::Protocol::kHttps);
  device_api_.CountIn(https);
  read_api_.CountIn(https);
  c2d_device_api_.CountIn(https);
}

std::vector<std::pair<std::string, size_t>> HubRoutes::QueuedWork() const {
  return {{"key_changes", key_changes_.queued()},
          {"verifications", verifications_.queued()},
          {"store_writes", store_writes_.queued()}};
}

HubRoutes::~HubRoutes() { Stop(); }

void HubRoutes::Stop() {
  key_changes_.Stop();
  store_writes_.Stop();
  verify_api_.Stop();  // a running verification ends at its next batch
  verifications_.Stop();
}

net::HttpResponse HubRoutes::ServerError(unsigned status, std::string_view message) {
  const char* code = status == 413   ? "MessageTooLarge"
                     : status == 500 ? "ServerError"
                     : status == 503 ? "ServiceUnavailable"
                                     : "ArgumentInvalid";
  return hubapi::ServiceApi::Error(status, code, message);
}

std::optional<net::HttpResponse> HubRoutes::SyncRoutes(const net::HttpRequest& r) {
  // Metrics ask the key's state themselves: open ones are served while Inaccessible too.
  if (auto response = metrics_api_.Handle(r)) return response;
  if (auto response = status_page_api_.Handle(r)) return response;
  if (auto response = encryption_api_.Handle(r)) return response;
  if (auto response = key_events_api_.Handle(r)) return response;  // also while Inaccessible
  if (auto refusal = encryption_api_.RefuseIfInaccessible()) return refusal;
  if (auto response = query_api_.Handle(r)) return response;
  if (auto response = storage_api_.Handle(r)) return response;
  if (auto response = erase_api_.Handle(r)) return response;
  if (auto response = backup_api_.Handle(r)) return response;
  // The service's send is a POST on the path where devices GET: it goes first.
  if (auto response = c2d_service_api_.Handle(r)) return response;
  if (auto response = c2d_device_api_.Handle(r)) return response;
  return service_api_.Handle(r);
}

void HubRoutes::Route(const net::HttpRequest& r, const net::HttpResponder& respond) {
  if (auto response = SyncRoutes(r)) return respond.Send(std::move(*response));
  // The read API's long polls and the device API's durability waits answer later, from other
  // threads: no io thread waits for them.
  if (read_api_.Handle(r, respond)) return;
  if (device_api_.Handle(r, respond)) return;
  if (twin_api_.Handle(r, respond)) return;
  respond.Send(hubapi::ServiceApi::Error(404, "NotFound", "No such path: " + r.target));
}

std::vector<std::string> HubRoutes::NotReady() {
  std::vector<std::string> reasons;
  if (!parts_.monitor.accessible()) {
    reasons.push_back("the customer-managed key is inaccessible: devices and services are refused");
  }
  if (!parts_.disk.Check(0).ok()) reasons.push_back("the disk is full: nothing is acknowledged");
  if (parts_.metadata_store.write_error()) {
    reasons.push_back("the metadata store refuses writes until the hub is restarted");
  }
  return reasons;
}

void HubRoutes::Handle(net::HttpRequest r, net::HttpResponder respond) {
  // Probes first: a load balancer's are never throttled and carry no credentials.
  if (auto probe = net::HealthProbe(r, [this] { return NotReady(); })) {
    return respond.Send(std::move(*probe));
  }
  // A source that keeps sending refused credentials is turned away before they are checked;
  // every 401 it is answered counts against it.
  if (auto throttled = throttle_.RefuseSource(r)) return respond.Send(std::move(*throttled));
  net::HttpRequest source;
  source.remote_address = r.remote_address;
  respond = respond.Tapped(
      [this, source](const net::HttpResponse& out) { throttle_.Observe(source, out); });
  // PUT /$coffre/encryption (hubapi/encryption_api.h), whose work may wait for the vault.
  if (r.method == "PUT" && hubapi::ServiceApi::IsCoffrePath(r.target, "encryption")) {
    bool queued =
        key_changes_.Post([this, r, respond] { respond.Send(encryption_api_.Handle(r).value()); });
    if (!queued) {
      respond.Send(hubapi::ServiceApi::Error(503, "ServiceUnavailable",
                                             "Too many encryption changes are waiting."));
    }
    return;
  }
  if (hubapi::VerifyApi::Matches(r)) {
    if (auto refusal = encryption_api_.RefuseIfInaccessible()) return respond.Send(*refusal);
    if (auto refusal = verify_api_.Refusal(r)) return respond.Send(*refusal);
    bool queued = verifications_.Post([this, r, respond] {
      if (auto refusal = encryption_api_.RefuseIfInaccessible()) return respond.Send(*refusal);
      respond.Send(verify_api_.Run(r));
    });
    if (!queued) {
      respond.Send(hubapi::ServiceApi::Error(503, "ServiceUnavailable",
                                             "Too many verifications are waiting."));
    }
    return;
  }
  bool writes = r.method == "PUT" || r.method == "DELETE" || hubapi::TwinApi::Writes(r) ||
                hubapi::C2dDeviceApi::Matches(r) || hubapi::C2dServiceApi::Matches(r) ||
                hubapi::EraseApi::Writes(r);
  if (writes) {
    if (!store_writes_.Post([this, r, respond] { Route(r, respond); })) {
      respond.Send(hubapi::ServiceApi::Error(503, "ServiceUnavailable",
                                             "Too many registry changes are waiting."));
    }
    return;
  }
  Route(r, respond);
}

}  // namespace coffre::hubservice
