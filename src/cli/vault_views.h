#pragma once
// The `coffre vault ...` tables: how key bundles, key items, deleted keys and principals (the
// vault's JSON bodies) print for an operator. Fields missing from a body print as "-", so a
// partial or unexpected reply still prints. Stateless.

#include <nlohmann/json.hpp>
#include <string>

#include "cli/table.h"

namespace coffre::cli {

// A key bundle or list item, one per row: NAME VERSION KTY SIZE ENABLED UPDATED.
Table KeyListTable();
void AddKeyRow(Table& table, const nlohmann::json& bundle_or_item);

// One key bundle (or deleted key bundle) as "FIELD  value" lines.
Table KeyDetails(const nlohmann::json& bundle);

// GET /keys/{n}/versions items: VERSION ENABLED CREATED UPDATED.
Table VersionsTable(const nlohmann::json& items);

// GET /deletedkeys items: NAME DELETED SCHEDULED-PURGE ENABLED.
Table DeletedKeysTable(const nlohmann::json& items);

// A key's rotation policy (GET/PUT /keys/{n}/rotationpolicy) as "FIELD  value" lines: ID,
// ROTATE ("after creation P90D" or "before expiry P30D"), NOTIFY, EXPIRES IN, CREATED, UPDATED.
Table PolicyDetails(const nlohmann::json& policy);

// One principal, with its new token if the vault issued one.
Table PrincipalDetails(const nlohmann::json& principal);

// GET /coffre/principals items: NAME ADMIN PERMISSIONS.
Table PrincipalsTable(const nlohmann::json& items);

// One event subscription, with its secret if the vault just made it.
Table SubscriptionDetails(const nlohmann::json& subscription);

// GET /coffre/eventsubscriptions items: ID ENDPOINT EVENT TYPES CREATED.
Table SubscriptionsTable(const nlohmann::json& items);

// The key's name from the kid of a bundle or item ("https://v/keys/k1/ab12" -> "k1"; also
// /deletedkeys/k1); "" if there is none.
std::string KeyNameOf(const nlohmann::json& bundle_or_item);

// A NumericDate (seconds since the epoch) as ISO-8601 UTC: "2026-11-29T19:34:33Z".
std::string IsoTime(const nlohmann::json& seconds);

}  // namespace coffre::cli
