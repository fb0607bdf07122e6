#pragma once
// HubClusterFixture: whole hubs in cluster mode, in-process, over a PostgreSQL 15 server of the
// test's own (one server, so relaxed durability); each node has its own data directory and
// shares the service key. Skipped with the reason where PostgreSQL is not installed.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "common/encoding.h"
#include "hub/sas_token.h"
#include "hubservice/dev01_connect.h"
#include "hubservice/hub_service.h"
#include "hubservice/test_hub_options.h"
#include "mqtt/server_fixture.h"
#include "net/certificates.h"
#include "pg_server.h"
#include "pgstore/pg_connection.h"
#include "test_util.h"

namespace coffre::hubservice {

class HubClusterFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_.available()) GTEST_SKIP() << server_.why_not();
    certs_ = std::move(net::EnsureStackCertificates(dir_.path() / "tls", {}).value());
  }
  HubOptions Node(const std::string& name) {
    HubOptions o = coffre::testing::TestHubOptions(dir_.path() / name, certs_);
    o.service_key_file = dir_.path() / "service-key";  // the nodes share it
    o.telemetry.partitions = 2;
    o.postgres_conninfo = server_.conninfo();
    o.postgres_relaxed_durability = true;  // one server: no standby to wait for
    return o;
  }
  // Every row of the hub's tables as PostgreSQL stores them, as text.
  std::string EverythingStored() {
    auto db = pgstore::PgConnection::Connect(server_.conninfo()).value();
    std::string all;
    for (const char* sql : {"SELECT encode(record, 'escape') FROM coffre_records",
                            "SELECT encode(key, 'escape') || encode(value, 'escape') FROM coffre_kv"}) {
      pgstore::PgRows rows = db->Exec(sql).value();
      for (auto& row : rows.rows) all += row[0];
    }
    return all;
  }
  // An Authorization header line with iothubowner's SAS token, valid for an hour.
  static std::string OwnerAuthorization(HubService& hub) {
    auto key = crypto::SecretBytes::CopyOf(
                   *Base64Decode(hub.policies().Get("iothubowner").value().primary_key)).value();
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    return "Authorization: " + *hub::MakeSasToken("localhost", key, now + 3600, "iothubowner") +
           "\r\n";
  }
  // dev-01's CONNECT through `hub` on `device`: accepted?
  static bool ConnectDev01(HubService& hub, mqtt::Client& device) {
    device.Send(coffre::testing::Dev01ConnectPacket(hub.registry().Get("dev-01").value().primary_key));
    auto connack = device.Receive();
    return connack && std::get<mqtt::ConnAck>(*connack).code == mqtt::ConnectCode::kAccepted;
  }
  static bool Publish(HubService& hub, const net::StackCertificates& certs, const std::string& body) {
    mqtt::Client device(hub.mqtt_port(), certs.ca_file);
    if (!ConnectDev01(hub, device)) return false;
    device.Send(mqtt::Publish1(9, body));
    auto ack = device.Receive();
    return ack.has_value() && std::get<mqtt::PacketIdOnly>(*ack).packet_id == 9;
  }

  testing::PgServer server_;
  coffre::testing::TempDir dir_;
  net::StackCertificates certs_;
};

// Two nodes, a_ and b_, running over the fixture's store from the start of each test.
class TwoHubNodesFixture : public HubClusterFixture {
 protected:
  void SetUp() override {
    HubClusterFixture::SetUp();
    if (IsSkipped()) return;
    a_ = std::move(HubService::Start(Node("node-a")).value());
    b_ = std::move(HubService::Start(Node("node-b")).value());
  }
  std::unique_ptr<HubService> a_, b_;
};

}  // namespace coffre::hubservice
