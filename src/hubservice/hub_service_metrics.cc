// HubService's metrics read at scrape time (docs/METRICS.md): values its parts keep anyway
// (connections, the key's state, seals and opens, queue lengths, disk space) are read when
// GET /metrics asks, not counted twice. The event metrics are hub/hub_metrics.h's.

#include <functional>
#include <optional>

#include "common/metrics/build_info.h"
#include "hubservice/hub_routes.h"
#include "hubservice/hub_service.h"

namespace coffre::hubservice {

using metrics::MetricType;
using metrics::Sample;

void HubService::AddScrapeMetrics() {
  metrics::Registry& r = metrics_registry_;
  metrics::AddBuildInfo(r, "coffre_hub");

  // One series per protocol that `read` has a value for.
  auto by_protocol = [](std::function<std::optional<double>(hub::Protocol)> read) {
    return [read = std::move(read)] {
      std::vector<Sample> out;
      for (size_t i = 0; i < hub::kProtocols; ++i) {
        auto p = static_cast<hub::Protocol>(i);
        if (std::optional<double> v = read(p)) {
          out.push_back({{std::string(hub::ProtocolLabel(p))}, *v});
        }
      }
      return out;
    };
  };
  r.AddCallback("coffre_hub_connections",
                "Connections open now, by protocol. https: the HTTPS port's own (WebSocket "
                "upgrades count as mqtt-ws or amqp-ws).",
                MetricType::kGauge, {"protocol"},
                by_protocol([this](hub::Protocol p) -> std::optional<double> {
                  if (p == hub::Protocol::kHttps) return static_cast<double>(https_->connections());
                  return metrics_.protocol(p).open().value();
                }));
  r.AddCallback("coffre_hub_authenticated_connections",
                "Connections open now that hold a credential: MQTT after its CONNECT, AMQP after "
                "its first claim. HTTPS requests authenticate one by one.",
                MetricType::kGauge, {"protocol"},
                by_protocol([this](hub::Protocol p) -> std::optional<double> {
                  if (p == hub::Protocol::kHttps) return std::nullopt;
                  return metrics_.protocol(p).authenticated().value();
                }));

  r.AddCallback(
      "coffre_hub_customer_key_accessible",
      "1 while the hub's keys are usable, 0 while Inaccessible (devices and services refused). "
      "reason: why not (KeyDisabled, KeyExpired, KeyNotYetValid, KeyDeleted, AccessDenied, "
      "VaultUnreachable, KeyUnusable); VaultUnreachable while 1 is the grace period.",
      MetricType::kGauge, {"mode", "reason"}, [this] {
        hub::EncryptionStatus s = monitor_->status();
        std::string mode = config_->Get().customer_managed() ? "customer-managed" : "service-managed";
        return std::vector<Sample>{{{mode, s.reason}, s.accessible ? 1.0 : 0.0}};
      });
  r.AddCallback("coffre_hub_customer_key_last_good_check_timestamp_seconds",
                "When a customer key check last fully succeeded (Unix time; 0: not since the "
                "start).",
                MetricType::kGauge,
                [this] { return static_cast<double>(monitor_->status().last_good_ms) / 1000; });

  r.AddCallback("coffre_hub_seals_total",
                "Records sealed (AES-256-GCM) by the customer layer: telemetry, metadata rows, "
                "heads.",
                MetricType::kCounter, [this] { return static_cast<double>(keys_->seals()); });
  r.AddCallback("coffre_hub_opens_total",
                "Sealed records opened, by result: failed is damaged, forged or misplaced data, "
                "or a record of an erased device.",
                MetricType::kCounter, {"result"}, [this] {
                  return std::vector<Sample>{{{"ok"}, static_cast<double>(keys_->opens())},
                                             {{"failed"}, static_cast<double>(keys_->failed_opens())}};
                });

  r.AddCallback("coffre_hub_ingest_queued_messages",
                "Device-to-cloud messages waiting for the store's writers.", MetricType::kGauge,
                [this] { return static_cast<double>(ingest_->queued()); });
  r.AddCallback("coffre_hub_work_queue_tasks",
                "Tasks waiting in the HTTPS port's work queues (key changes, verifications, "
                "synced writes).",
                MetricType::kGauge, {"queue"}, [this] {
                  std::vector<Sample> out;
                  for (auto& [name, queued] : routes_->QueuedWork()) {
                    out.push_back({{name}, static_cast<double>(queued)});
                  }
                  return out;
                });
  r.AddCallback("coffre_hub_expired_segments_total",
                "Telemetry segments removed by retention.", MetricType::kCounter,
                [this] { return static_cast<double>(ingest_->stats().expired_segments); });

  r.AddCallback("coffre_hub_partition_disk_bytes",
                "Disk space of each telemetry partition's segment files (preallocated).",
                MetricType::kGauge, {"partition"}, [this] {
                  std::vector<Sample> out;
                  for (int p = 0; p < store_->partitions(); ++p) {
                    out.push_back({{std::to_string(p)}, static_cast<double>(store_->disk_bytes(p))});
                  }
                  return out;
                });
  r.AddCallback("coffre_hub_partition_retained_messages",
                "Telemetry messages each partition keeps (retention removes whole segments).",
                MetricType::kGauge, {"partition"}, [this] {
                  std::vector<Sample> out;
                  for (int p = 0; p < store_->partitions(); ++p) {
                    uint64_t kept = store_->end_sequence(p) - store_->begin_sequence(p);
                    out.push_back({{std::to_string(p)}, static_cast<double>(kept)});
                  }
                  return out;
                });
  r.AddCallback("coffre_hub_disk_free_bytes",
                "Free space on the data directory's filesystem, looked at when scraped.",
                MetricType::kGauge, [this] {
                  (void)disk_reserve_->Check(0);
                  return static_cast<double>(disk_reserve_->free_bytes());
                });
  r.AddCallback("coffre_hub_disk_reserve_bytes",
                "Free space kept in reserve: writes that would use it are refused.",
                MetricType::kGauge,
                [this] { return static_cast<double>(disk_reserve_->reserve_bytes()); });
  r.AddCallback("coffre_hub_disk_full",
                "1 while the disk is full (within the reserve): nothing is acknowledged.",
                MetricType::kGauge, [this] { return disk_reserve_->full() ? 1.0 : 0.0; });
  r.AddCallback("coffre_hub_metadata_writable",
                "0 once the metadata store failed a write: writes are refused until a restart.",
                MetricType::kGauge, [this] { return data_->kv().write_error() ? 0.0 : 1.0; });
  r.AddCallback("coffre_hub_store_reconnects_total",
                "Connections to the cluster store dropped after a failure (a failover, a lost or "
                "unanswering server); 0 in embedded mode.",
                MetricType::kCounter,
                [this] { return static_cast<double>(data_->reconnects()); });
}

}  // namespace coffre::hubservice
