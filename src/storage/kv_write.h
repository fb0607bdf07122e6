#pragma once
// KvWrite: one row of a KvStore's atomic batch: a value to store, or a deletion.

#include <string>

#include "common/bytes.h"

namespace coffre::storage {

struct KvWrite {
  std::string key;
  Bytes value;
  bool erase = false;
};

}  // namespace coffre::storage
