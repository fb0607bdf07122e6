#include "hub/sealed_rows.h"

#include <nlohmann/json.hpp>

#include "common/encoding.h"

namespace coffre::hub {

using nlohmann::json;

Result<std::string> SealedRows::HashedRow(std::string_view prefix, std::string_view label,
                                          std::string_view name) {
  COFFRE_ASSIGN_OR_RETURN(Bytes mac, keys_.Hmac(label, name));
  return std::string(prefix) + HexEncode(ByteSpan(mac).first(16));
}

Result<json> SealedRows::Open(const std::string& row, ByteSpan sealed) {
  COFFRE_ASSIGN_OR_RETURN(Bytes plain, keys_.Open(sealed, AsBytes(row)));
  json j = json::parse(AsChars(plain), nullptr, false);
  crypto::Cleanse(plain);
  if (!j.is_object()) return DataLoss("the record in row " + row + " is malformed");
  return j;
}

Result<json> SealedRows::Load(const std::string& row) {
  COFFRE_ASSIGN_OR_RETURN(Bytes sealed, kv_.Get(row));
  return Open(row, sealed);
}

Result<std::shared_ptr<crypto::EnvelopeWriter>> SealedRows::Writer() {
  std::lock_guard<std::mutex> guard(mu_);
  if (!writer_ || writer_->exhausted()) {
    COFFRE_ASSIGN_OR_RETURN(writer_, keys_.StartWriter(kRegistryScope));
  }
  return writer_;
}

Result<Bytes> SealedRows::Seal(const std::string& row, const json& record) {
  COFFRE_ASSIGN_OR_RETURN(auto writer, Writer());
  return SealWith(*writer, row, record);
}

Result<Bytes> SealedRows::SealWith(crypto::EnvelopeWriter& writer, const std::string& row,
                                   const json& record) {
  std::string text = record.dump(-1, ' ', false, json::error_handler_t::replace);
  Result<Bytes> sealed = writer.Seal(AsBytes(row), AsBytes(text));
  crypto::Cleanse(text);
  return sealed;
}

Status SealedRows::Store(const std::string& row, const json& record, bool sync) {
  COFFRE_ASSIGN_OR_RETURN(Bytes sealed, Seal(row, record));
  std::vector<storage::KvWrite> batch;
  batch.push_back({row, std::move(sealed), false});
  return keys_.row_digests().Write(std::move(batch), sync);
}

SealedTxn::SealedTxn(SealedRows& rows, storage::KvTxn& txn, crypto::EnvelopeWriter& writer)
    : rows_(rows),
      staged_([&txn](std::string_view row) { return txn.Get(row); },
              [&txn](std::string_view prefix, const auto& row) -> Status {
                COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> keys, txn.Keys(prefix));
                for (const std::string& key : keys) {
                  COFFRE_ASSIGN_OR_RETURN(Bytes sealed, txn.Get(key));  // read with the keys
                  row(key, sealed);
                }
                return Status::Ok();
              }),
      writer_(writer) {}

Result<std::vector<std::string>> SealedTxn::Rows(std::string_view prefix) {
  return staged_.Keys(prefix);
}

Result<json> SealedTxn::Load(const std::string& row) {
  COFFRE_ASSIGN_OR_RETURN(Bytes sealed, staged_.Get(row));
  return rows_.Open(row, sealed);
}

Status SealedTxn::Store(const std::string& row, const json& record) {
  COFFRE_ASSIGN_OR_RETURN(Bytes sealed, SealedRows::SealWith(writer_, row, record));
  staged_.Put(row, sealed);
  return Status::Ok();
}

void SealedTxn::Erase(const std::string& row) { staged_.Delete(row); }

Status SealedRows::Transact(const std::vector<std::string>& rows,
                            const std::function<Status(SealedTxn&)>& fn, bool sync) {
  // The writer is started outside the transaction (starting one writes to the store).
  COFFRE_ASSIGN_OR_RETURN(std::shared_ptr<crypto::EnvelopeWriter> writer, Writer());
  auto build = [&](storage::KvTxn& txn) -> Result<std::vector<storage::KvWrite>> {
    SealedTxn sealed(*this, txn, *writer);
    COFFRE_RETURN_IF_ERROR(fn(sealed));
    return sealed.staged_.writes();
  };
  return keys_.row_digests().Update(rows, build, sync);
}

Status SealedRows::Update(const std::string& row, const Change& change, bool sync,
                          const std::vector<std::string>& also_erase) {
  std::vector<std::string> rows = also_erase;
  rows.push_back(row);
  return Transact(rows, [&](SealedTxn& txn) -> Status {
    COFFRE_ASSIGN_OR_RETURN(std::optional<json> next, change(txn.Load(row)));
    if (next) return txn.Store(row, *next);
    for (const std::string& gone : rows) txn.Erase(gone);
    return Status::Ok();
  }, sync);
}

Status SealedRows::Erase(const std::string& row) { return EraseAll({row}); }

Status SealedRows::EraseAll(const std::vector<std::string>& rows) {
  std::vector<storage::KvWrite> batch;
  for (const std::string& row : rows) batch.push_back({row, {}, /*erase=*/true});
  return keys_.row_digests().Write(std::move(batch), /*sync=*/true);
}

Result<std::vector<std::string>> SealedRows::Rows(std::string_view prefix, size_t max,
                                                  std::string_view after) {
  std::vector<std::string> rows;
  COFFRE_RETURN_IF_ERROR(kv_.Scan(prefix, [&](std::string_view key, ByteSpan) {
    if (!after.empty() && key <= after) return true;
    rows.emplace_back(key);
    return max == 0 || rows.size() < max;
  }));
  return rows;
}

}  // namespace coffre::hub
