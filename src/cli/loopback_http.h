#pragma once
// A plain-HTTP GET to 127.0.0.1 (or a cluster node's own address, docs/CLUSTER.md), for the
// cluster store's local control APIs (etcd's /health, Patroni's REST API), which the local stack
// serves without TLS. HTTP/1.0 with
// "Connection: close": the body is what comes before EOF, never chunked. Bounded by `timeout`
// for the whole exchange. Stateless, thread-safe.

#include <chrono>
#include <cstdint>
#include <string>

#include "common/result.h"

namespace coffre::cli {

struct LoopbackReply {
  int status = 0;
  std::string body;
};

// UNAVAILABLE when nothing answers (refused, reset, timed out). `host`: an IPv4 address.
Result<LoopbackReply> LoopbackGet(const std::string& host, uint16_t port, const std::string& path,
                                  std::chrono::milliseconds timeout);
// On 127.0.0.1.
Result<LoopbackReply> LoopbackGet(uint16_t port, const std::string& path,
                                  std::chrono::milliseconds timeout);

}  // namespace coffre::cli
