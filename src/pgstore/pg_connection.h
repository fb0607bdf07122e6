#pragma once
// PgConnection: one libpq connection to PostgreSQL, for the cluster store. Statements run with
// text parameters (never spliced into SQL); a result's rows come back as text, bytea decoded.
// Errors are Statuses: a lost connection or a server going away is UNAVAILABLE (the caller
// retries, on another host if the connection string names several), a statement's error
// INTERNAL with the server's SQLSTATE. Not thread-safe: one per thread or per caller.

#include <libpq-fe.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace coffre::pgstore {

// One statement's parameter: text, or bytes sent as binary (bytea), or SQL NULL.
struct PgParam {
  std::string text;
  bool binary = false;
  bool null = false;
  static PgParam Null() { return {std::string(), false, true}; }
  static PgParam Text(std::string value) { return {std::move(value), false, false}; }
  static PgParam Int(int64_t value) { return {std::to_string(value), false, false}; }
  static PgParam Bytes(ByteSpan value) {
    return {std::string(reinterpret_cast<const char*>(value.data()), value.size()), true, false};
  }
};

// A result's rows, each value in PostgreSQL's text form.
struct PgRows {
  size_t size() const { return rows.size(); }
  const std::string& Value(size_t row, size_t column) const { return rows[row][column]; }
  std::vector<std::vector<std::string>> rows;
};

// A NOTIFY received on a connection that LISTENs.
struct PgNotification {
  std::string channel;
  std::string payload;
};

class PgConnection {
 public:
  // `conninfo`: libpq's form, e.g. "host=127.0.0.1 port=5432 dbname=coffre user=coffre
  // target_session_attrs=read-write", several hosts allowed.
  // A statement with no answer within `answer_within` drops the connection (UNAVAILABLE): a
  // primary cut off from its synchronous standby holds a COMMIT forever.
  static Result<std::unique_ptr<PgConnection>> Connect(
      const std::string& conninfo,
      std::chrono::milliseconds answer_within = std::chrono::seconds(10));
  ~PgConnection();

  Result<PgRows> Exec(const std::string& sql, const std::vector<PgParam>& params = {});
  // BEGIN, body, COMMIT; ROLLBACK if body fails. A COMMIT whose answer is lost is UNAVAILABLE
  // with an unknown outcome: the caller's retry must be idempotent.
  Status Transaction(const std::function<Status()>& body);
  // Whether no transaction is open or aborted on the connection (it can be lent again).
  bool idle() const;
  // Notifications received for this connection's LISTENs, waiting up to `wait` for the first
  // (none: an empty list). UNAVAILABLE once the connection is lost.
  Result<std::vector<PgNotification>> AwaitNotifications(std::chrono::milliseconds wait);
  // The server process serving this connection (pg_stat_activity.pid).
  int backend_pid() const;

 private:
  PgConnection(PGconn* conn, std::chrono::milliseconds answer_within)
      : conn_(conn), answer_within_(answer_within) {}
  Status AwaitAnswer();  // until the statement's results are in, or the deadline
  Status ReadInput(std::chrono::milliseconds wait);  // what arrives within `wait`, if anything

  PGconn* conn_;
  const std::chrono::milliseconds answer_within_;
  bool broken_ = false;  // dropped after a timeout: every later statement fails
};

}  // namespace coffre::pgstore
