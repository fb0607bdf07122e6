#include "pgstore/pg_connection.h"

#include <poll.h>

#include <cerrno>


namespace coffre::pgstore {
namespace {

// libpq's message on one line: its hint lines ("\n\tIs the server running...") joined.
std::string Message(PGconn* conn) {
  std::string text;
  for (const char* c = PQerrorMessage(conn); *c != '\0'; ++c) {
    if (*c == '\t') continue;
    if (*c == '\n') {
      if (c[1] != '\0') text += "; ";
      continue;
    }
    text += *c;
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& conninfo,
                                                             std::chrono::milliseconds answer_within) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (conn == nullptr) return Unavailable("PostgreSQL: out of memory for a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = Message(conn);
    PQfinish(conn);
    return Unavailable("PostgreSQL: cannot connect: " + why);
  }
  // Notices ("relation already exists, skipping") are not errors: not on stderr.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<PgConnection>(new PgConnection(conn, answer_within));
}

PgConnection::~PgConnection() { PQfinish(conn_); }

Status PgConnection::AwaitAnswer() {
  const auto deadline = std::chrono::steady_clock::now() + answer_within_;
  while (PQisBusy(conn_) != 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      // Never a cancel: a COMMIT whose wait for the synchronous standby is cancelled reports
      // success with only a warning. The connection goes; the caller retries by batch id.
      broken_ = true;
      return Unavailable("PostgreSQL: no answer within " +
                         std::to_string(answer_within_.count()) +
                         " ms (a primary that can no longer commit?); the connection is dropped");
    }
    COFFRE_RETURN_IF_ERROR(ReadInput(left));
  }
  return Status::Ok();
}

Status PgConnection::ReadInput(std::chrono::milliseconds wait) {
  pollfd ready{PQsocket(conn_), POLLIN, 0};
  int polled = ::poll(&ready, 1, static_cast<int>(wait.count()));
  if (polled < 0 && errno != EINTR) return ErrnoStatus("waiting for PostgreSQL", errno);
  if (polled > 0 && PQconsumeInput(conn_) == 0) {
    return Unavailable("PostgreSQL: the connection was lost: " + Message(conn_));
  }
  return Status::Ok();
}

Result<PgRows> PgConnection::Exec(const std::string& sql, const std::vector<PgParam>& params) {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const PgParam& p : params) {
    values.push_back(p.null ? nullptr : p.text.data());
    lengths.push_back(static_cast<int>(p.text.size()));
    formats.push_back(p.binary ? 1 : 0);
  }
  if (broken_) return Unavailable("PostgreSQL: the connection was dropped after a timeout");
  if (PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                        values.data(), lengths.data(), formats.data(), 0) == 0) {
    return Unavailable("PostgreSQL: the connection was lost: " + Message(conn_));
  }
  COFFRE_RETURN_IF_ERROR(AwaitAnswer());
  // The last result is the statement's (libpq's PQexec keeps the last one too).
  std::unique_ptr<PGresult, void (*)(PGresult*)> result(nullptr, PQclear);
  while (PGresult* next = PQgetResult(conn_)) result.reset(next);
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Unavailable("PostgreSQL: the connection was lost: " + Message(conn_));
  }
  ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    const char* state = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
    std::string code = state != nullptr ? state : "";
    // 40001 serialization failure, 40P01 deadlock, 57P01 admin shutdown, 08xxx connection:
    // worth a retry, like a lost connection.
    bool transient = code == "40001" || code == "40P01" || code.rfind("57P", 0) == 0 ||
                     code.rfind("08", 0) == 0;
    std::string text = "PostgreSQL (" + code + "): " + Message(conn_);
    return transient ? Unavailable(text) : Internal(text);
  }
  PgRows rows;
  int n = PQntuples(result.get()), columns = PQnfields(result.get());
  rows.rows.resize(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < columns; ++c) {
      rows.rows[static_cast<size_t>(r)].emplace_back(PQgetvalue(result.get(), r, c),
                                                      static_cast<size_t>(PQgetlength(result.get(), r, c)));
    }
  }
  return rows;
}

Status PgConnection::Transaction(const std::function<Status()>& body) {
  COFFRE_RETURN_IF_ERROR(Exec("BEGIN").status());
  Status done = body();
  if (!done.ok()) {
    (void)Exec("ROLLBACK");
    return done;
  }
  return Exec("COMMIT").status();
}

Result<std::vector<PgNotification>> PgConnection::AwaitNotifications(
    std::chrono::milliseconds wait) {
  if (broken_) return Unavailable("PostgreSQL: the connection was dropped after a timeout");
  std::vector<PgNotification> received;
  auto take = [&] {
    while (PGnotify* n = PQnotifies(conn_)) {
      received.push_back({n->relname, n->extra});
      PQfreemem(n);
    }
  };
  take();  // some may have come with a statement's answer
  if (received.empty()) {
    COFFRE_RETURN_IF_ERROR(ReadInput(wait));
    take();
  }
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Unavailable("PostgreSQL: the connection was lost: " + Message(conn_));
  }
  return received;
}

int PgConnection::backend_pid() const { return PQbackendPID(conn_); }

bool PgConnection::idle() const {
  return !broken_ && PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

}  // namespace coffre::pgstore
