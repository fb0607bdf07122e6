#pragma once
// `coffre hub monitor-events --amqp`: the same tail as MonitorEvents (cli/hub_monitor.h), read as
// an Event Hubs client would: AMQPS to the endpoint of an Event Hubs connection string, SASL
// ANONYMOUS, an Event Hubs-style SAS token for the entity put on `$cbs`, `$management` READ of the
// partition ids, then one receiver per partition on {entity}/ConsumerGroups/{group}/Partitions/{p}
// whose selector filter says where to start. Events print exactly as the read API's do. The
// consumer group only names the AMQP reader: nothing is committed (Event Hubs keeps no
// checkpoints; clients store their own). Qpid Proton's container, on the calling thread.

#include <chrono>
#include <ostream>
#include <string>

#include "cli/eventhub_connection.h"
#include "cli/hub_monitor.h"
#include "common/status.h"

namespace coffre::cli {

// The selector filter expression for `o`'s start: --enqueued-time, else --from-start, else the
// end (events enqueued after the receiver attaches).
std::string StartFilter(const MonitorOptions& o);

// Returns OK once run_for has passed (counted from when every partition's receiver is open) or
// max_messages were printed; the first error otherwise
// (UNAUTHENTICATED for a refused token, UNAVAILABLE for an endpoint that cannot be reached or
// closes on us, NOT_FOUND for an unknown event hub or consumer group, DEADLINE_EXCEEDED when
// the endpoint does not get to the partitions within `setup_timeout`).
Status MonitorEventsAmqp(const EventHubConnection& connection, const MonitorOptions& options,
                         std::ostream& out, std::chrono::seconds setup_timeout);

}  // namespace coffre::cli
