#pragma once
// The cluster store's passwords, generated once by `coffre up --cluster` and kept in DIR:
//   DIR/cluster/secrets.json  (0600) the superuser's, the replication role's, the application
//                             role's and Patroni's REST API's (its POST endpoints: switchover,
//                             restart); read by `coffre up` only
//   DIR/cluster/pgpass        (0600) libpq's passfile with the application role's line only:
//                             what the hub is given, so it never holds the superuser's
// Stateless.

#include <filesystem>
#include <string>

#include "common/result.h"

namespace coffre::cli {

inline constexpr const char* kPgSuperuser = "postgres";
inline constexpr const char* kPgReplicationUser = "replicator";
inline constexpr const char* kPgApplicationRole = "coffre";
inline constexpr const char* kPgDatabase = "coffre";
inline constexpr const char* kPatroniRestUser = "patroni";

struct ClusterSecrets {
  std::string superuser;
  std::string replication;
  std::string application;
  std::string restapi;
};

// Reads DIR/cluster/secrets.json, making it first if missing; also (re)writes DIR/cluster/pgpass
// with a line for each of `hosts`, the PostgreSQL nodes' addresses.
Result<ClusterSecrets> EnsureClusterSecrets(const std::filesystem::path& cluster_dir,
                                            const std::vector<std::string>& hosts);

// PostgreSQL's SCRAM-SHA-256 verifier of `password` ("SCRAM-SHA-256$4096:salt$stored:server"),
// what CREATE ROLE ... PASSWORD stores: the server (and its log, should the statement fail)
// never sees the password itself.
Result<std::string> ScramVerifier(const std::string& password);

}  // namespace coffre::cli
