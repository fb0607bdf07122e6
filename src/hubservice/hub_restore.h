#pragma once
// Restoring a hub from its backup (hub/backup_stream.h) while it is stopped: HubService does it
// first thing when its options name a backup (`coffre hub restore`, coffre-hub --restore-from).
//  1. The backup's header holds the encryption settings and the wrapped root key. The hub's key
//     custody unwraps the root key through the customer's key, which must be usable, and the
//     backup's own key, derived from it, opens the stream: a backup changed anywhere, or made
//     by another hub, stops here.
//  2. Rows and records are written afresh into DIR/restore/{meta,telemetry}, the records as
//     they were sealed (so the chains and digests are the ones the hub had) and the files under
//     this machine's service key. The current data is not touched.
//  3. Erasures are kept: when DIR holds this hub's data, each device erased there and not in
//     the backup is erased in the restored data too (identity, twins, C2D, key), with the
//     erasure's time and author. DIR holding data that cannot be opened, or another hub's, is
//     refused, since its erasures could not be carried over, unless the caller discards it.
//  4. DIR/restore/READY is written and synced, then the restored directories replace the
//     current ones. A crash before READY leaves the current data as it was (the next start
//     discards the half-made restore); a crash after it is finished by the next start.

#include <filesystem>

#include "common/result.h"
#include "crypto/secret_bytes.h"
#include "hub/key_custody.h"
#include "hubservice/hub_options.h"
#include "storage/disk_reserve.h"

namespace coffre::hubservice {

// Restores options.restore_from into options.dir (steps 1 to 4).
Status RestoreBackup(const HubOptions& options, const crypto::SecretBytes& service_key,
                     storage::DiskReserve* reserve,
                     const hub::KeyCustody::ProviderFactory& customer_keys);

// What a crash left of a restore in `dir`: a verified one is put in place, an unfinished one
// discarded. Nothing to do: OK at once.
Status FinishRestore(const std::filesystem::path& dir);

}  // namespace coffre::hubservice
