#include "pgstore/pg_listener.h"

#include "common/clock.h"
#include "common/log.h"

namespace coffre::pgstore {
namespace {

// LISTEN takes no parameter: a channel name goes into the statement, so only these characters.
bool ValidChannel(std::string_view channel) {
  return !channel.empty() && channel.size() < 64 &&
         channel.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string_view::npos;
}

// The waits are cut into slices so that a stop is seen soon.
constexpr std::chrono::milliseconds kSlice{100};

}  // namespace

Result<std::unique_ptr<PgListener>> PgListener::Start(PgListenerOptions options) {
  for (const std::string& channel : options.channels) {
    if (!ValidChannel(channel)) return InvalidArgument("not a notification channel name: " + channel);
  }
  if (options.key == nullptr) return InvalidArgument("a listener needs the notifications' key");
  std::unique_ptr<PgListener> listener(new PgListener(std::move(options)));
  listener->thread_ = std::thread([l = listener.get()] { l->Run(); });
  return listener;
}

PgListener::~PgListener() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void PgListener::Run() {
  std::string last_error;
  while (!stopping_) {
    Status ended = Listen();
    backend_pid_ = 0;
    if (stopping_) break;
    if (ended.message() != last_error) {
      LogLine(LogLevel::kWarning, "store", "notifications: " + ended.message() + " (connecting again)");
      last_error = ended.message();
    }
    for (auto slept = std::chrono::milliseconds(0); slept < options_.retry_every && !stopping_;
         slept += kSlice) {
      std::this_thread::sleep_for(kSlice);
    }
  }
}

Status PgListener::Listen() {
  COFFRE_ASSIGN_OR_RETURN(auto db, PgConnection::Connect(options_.conninfo));
  for (const std::string& channel : options_.channels) {
    COFFRE_RETURN_IF_ERROR(db->Exec("LISTEN " + channel).status());
  }
  backend_pid_ = db->backend_pid();
  ++connections_;
  rejected_said_ = rejected_.load();
  // Listening before the resync: what changes while it reads is notified, not missed.
  if (options_.on_resync) options_.on_resync();
  auto quiet_since = std::chrono::steady_clock::now();
  while (!stopping_) {
    COFFRE_ASSIGN_OR_RETURN(std::vector<PgNotification> received, db->AwaitNotifications(kSlice));
    auto now = std::chrono::steady_clock::now();
    if (!received.empty()) quiet_since = now;
    for (PgNotification& n : received) {
      std::optional<std::string_view> body =
          options_.key->Verify(n.channel, n.payload, SystemClock().NowMillis());
      if (!body) {
        // Counted; said once per connection, not once per line an attacker sends.
        if (rejected_++ == rejected_said_) {
          LogLine(LogLevel::kWarning, "store", "a notification on " + n.channel +
                                                   " did not verify (forged, altered or late): "
                                                   "dropped");
        }
        continue;
      }
      n.payload = std::string(*body);
      if (options_.on_notify) options_.on_notify(n);
    }
    if (now - quiet_since >= options_.check_every) {
      COFFRE_RETURN_IF_ERROR(db->Exec("SELECT 1").status());  // a dead link fails here
      quiet_since = now;
    }
  }
  return Status::Ok();
}

Status PgNotify(PgPool& pool, const PgNotifyKey& key, std::string_view channel,
                std::string_view payload) {
  if (!ValidChannel(channel)) return InvalidArgument("not a notification channel name");
  if (payload.size() + kNotifyOverhead >= 8000) {
    return InvalidArgument("a notification's payload is under 8000 bytes, with its signature");
  }
  const std::string c(channel);
  COFFRE_ASSIGN_OR_RETURN(const std::string p, key.Sign(channel, payload, SystemClock().NowMillis()));
  return pool.Run([&](PgConnection& db) {
    return db.Transaction([&]() -> Status {
      COFFRE_RETURN_IF_ERROR(db.Exec("SET LOCAL synchronous_commit TO off").status());
      return db.Exec("SELECT pg_notify($1, $2)", {PgParam::Text(c), PgParam::Text(p)}).status();
    });
  });
}

}  // namespace coffre::pgstore
