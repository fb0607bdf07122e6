#include "hubservice/cluster_link.h"

#include "pgstore/pg_listener.h"
#include "pgstore/pg_notify_key.h"

namespace coffre::hubservice {

pgstore::PgListenerOptions ClusterLink::Listen(std::vector<std::string> channels) const {
  pgstore::PgListenerOptions o;
  o.conninfo = conninfo;
  o.key = &notify_key;
  o.channels = std::move(channels);
  return o;
}

Status ClusterLink::Notify(std::string_view channel, std::string_view payload) const {
  return pgstore::PgNotify(pool, notify_key, channel, payload);
}

}  // namespace coffre::hubservice
