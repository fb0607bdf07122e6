#pragma once
// DataKeyStore: where wrapped data keys and epoch reservations are kept durably. The interface
// is what nonce discipline needs (see envelope_writer.h): an epoch is never handed out twice,
// and a stored wrapped key is never replaced. Implementations are thread-safe.

#include <cstdint>
#include <ostream>

#include "common/bytes.h"
#include "common/result.h"

namespace coffre::crypto {

// A data key is named by its scope (a table or partition) and the writer epoch that made it.
struct DataKeyId {
  uint32_t scope = 0;
  uint64_t epoch = 0;
  friend auto operator<=>(const DataKeyId&, const DataKeyId&) = default;
};

std::ostream& operator<<(std::ostream& os, const DataKeyId& id);

class DataKeyStore {
 public:
  virtual ~DataKeyStore() = default;

  // Returns an epoch of `scope` greater than any returned before, durable before it returns.
  virtual Result<uint64_t> ReserveEpoch(uint32_t scope) = 0;

  // Stores the wrapped data key of `id` durably. ALREADY_EXISTS if `id` has one: never replaced.
  virtual Status PutWrapped(DataKeyId id, ByteSpan wrapped) = 0;

  // NOT_FOUND if `id` has no stored key.
  virtual Result<Bytes> GetWrapped(DataKeyId id) = 0;
  // Deletes the wrapped key of `id` durably (erasure: what it sealed can never be opened
  // again). OK if there was none.
  virtual Status DeleteWrapped(DataKeyId id) = 0;
};

}  // namespace coffre::crypto
