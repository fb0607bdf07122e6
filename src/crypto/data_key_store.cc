#include "crypto/data_key_store.h"

namespace coffre::crypto {

std::ostream& operator<<(std::ostream& os, const DataKeyId& id) {
  return os << "dek(" << id.scope << "," << id.epoch << ")";
}

}  // namespace coffre::crypto
