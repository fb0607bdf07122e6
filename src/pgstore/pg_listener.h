#pragma once
// PgListener: PostgreSQL notifications for one hub node, so that it learns at once what
// another node changed (a partition's new end, an identity changed, a connection to close).
// A connection of its own LISTENs on the channels given; a thread waits on it and hands each
// notification to `on_notify`. A notification is a hint, never the truth: PostgreSQL keeps
// none for a listener that is not connected, and a failover loses those not yet delivered. So
// after every connection, the first included, the listener calls `on_resync`, and each
// subscriber reads again from the store what it may have missed. A connection silent for
// `check_every` is checked with a statement (a cut network never closes a socket), and one
// that failed is made again every `retry_every`.
// Payloads are authenticated (pg_notify_key.h): PgNotify signs them and the listener hands on
// only those that verify, without the signature; others are counted and dropped.
// Send with PgNotify, never inside a transaction that commits data: NOTIFY takes a
// database-wide lock held until the end of its transaction, through the wait for the
// synchronous standby, which would put every commit of the cluster in one line.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.h"
#include "pgstore/pg_connection.h"
#include "pgstore/pg_notify_key.h"
#include "pgstore/pg_pool.h"

namespace coffre::pgstore {

struct PgListenerOptions {
  std::string conninfo;
  const PgNotifyKey* key = nullptr;  // required; must outlive the listener
  std::vector<std::string> channels;  // lowercase letters, digits and '_'
  std::function<void(const PgNotification&)> on_notify;
  std::function<void()> on_resync;  // after each (re)connection, before its notifications
  std::chrono::milliseconds retry_every{500};
  std::chrono::milliseconds check_every{5000};
};

class PgListener {
 public:
  // INVALID_ARGUMENT for a channel name outside the set above. Connects in its thread: a
  // store not reachable yet is tried again, not an error.
  static Result<std::unique_ptr<PgListener>> Start(PgListenerOptions options);
  ~PgListener();  // stops the thread: at most about one check_every or retry_every

  // Connections made so far (the first included), and the current one's server process (0
  // while none).
  uint64_t connections() const { return connections_.load(); }
  // Notifications dropped because they did not verify (forged, altered, replayed late).
  uint64_t rejected() const { return rejected_.load(); }
  int backend_pid() const { return backend_pid_.load(); }

 private:
  explicit PgListener(PgListenerOptions options) : options_(std::move(options)) {}
  void Run();
  // Listens on one connection until it fails or the listener stops.
  Status Listen();

  const PgListenerOptions options_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> rejected_{0};
  uint64_t rejected_said_ = 0;  // rejected_ when the current connection began (its thread only)
  std::atomic<int> backend_pid_{0};
  std::thread thread_;
};

// pg_notify(channel, payload signed by `key`) in a transaction of its own, not waiting for the
// standby (a hint lost in a failover is made up for by the listeners' resync). Payload under
// 8000 bytes with its signature (kNotifyOverhead).
Status PgNotify(PgPool& pool, const PgNotifyKey& key, std::string_view channel,
                std::string_view payload);

}  // namespace coffre::pgstore
