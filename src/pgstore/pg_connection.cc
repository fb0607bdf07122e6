#include "pgstore/pg_connection.h"

namespace coffre::pgstore {
namespace {

std::string Message(PGconn* conn) {
  std::string text = PQerrorMessage(conn);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (conn == nullptr) return Unavailable("PostgreSQL: out of memory for a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = Message(conn);
    PQfinish(conn);
    return Unavailable("PostgreSQL: cannot connect: " + why);
  }
  // Notices ("relation already exists, skipping") are not errors: not on stderr.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<PgConnection>(new PgConnection(conn));
}

PgConnection::~PgConnection() { PQfinish(conn_); }

Result<PgRows> PgConnection::Exec(const std::string& sql, const std::vector<PgParam>& params) {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const PgParam& p : params) {
    values.push_back(p.text.data());
    lengths.push_back(static_cast<int>(p.text.size()));
    formats.push_back(p.binary ? 1 : 0);
  }
  std::unique_ptr<PGresult, void (*)(PGresult*)> result(
      PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                   lengths.data(), formats.data(), 0),
      PQclear);
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

bool PgConnection::idle() const {
  return PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

}  // namespace coffre::pgstore
