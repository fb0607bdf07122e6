#pragma once
// `coffre hub monitor-events --amqp`: the same output as monitor-events, read through the hub's
// Event Hubs-compatible endpoint (AMQPS, docs/AMQP.md) instead of the read API, as any Event
// Hubs consumer reads it: a put-token on $cbs with the login's service token, a $management READ
// for the partitions, and one receiver per partition of the consumer group (default $Default)
// started by a selector filter (the end, --from-start, or --enqueued-time). Event Hubs keeps no
// checkpoints on the server: a consumer group here only chooses the stream's reader slots.

#include <ostream>

#include "cli/hub_connection.h"
#include "cli/hub_monitor.h"

namespace coffre::cli {

Status MonitorEventsAmqp(const HubConnection& hub, const MonitorOptions& options,
                         std::ostream& out);

}  // namespace coffre::cli
