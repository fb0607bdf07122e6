#pragma once
// The digest chain that makes a telemetry partition tamper-evident. Every record carries the
// link of the records before it:
//   link(first record of a log) = 16 zero bytes
//   link(n + 1) = first 16 bytes of SHA-256("coffre-chain-v1" || link(n) || sequence(n) ||
//                 time(n) || length(n) || payload(n))
// The segment log stores each record's link beside it; the customer layer binds it into the
// record's AAD, so a record opens only where the chain it was sealed in says it belongs, and a
// sealed head (the link after the last acknowledged record) shows what was removed from the
// end. Layout and what it detects: docs/formats/segment-log.md. Thread-safe (stateless).

#include <array>
#include <cstddef>
#include <cstdint>

#include "common/bytes.h"

namespace coffre::storage {

inline constexpr size_t kChainLinkBytes = 16;
using ChainLink = std::array<std::byte, kChainLinkBytes>;

// The link that follows a record whose own link is `link`.
ChainLink NextLink(const ChainLink& link, uint64_t sequence, int64_t time_ms, ByteSpan payload);

}  // namespace coffre::storage
