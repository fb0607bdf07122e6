// Issue 12, finding 2: a device deleted, disabled, or whose key or thumbprint is replaced, loses
// its open MQTT and MQTT-over-WebSocket sessions within a second, and what it sends afterwards
// is not stored; a change that keeps its credentials valid keeps the session. The registry calls
// are the ones the service API's PUT and DELETE make.
#include "mqtt/server_fixture.h"

namespace coffre::mqtt {
namespace {

using Clock = std::chrono::steady_clock;

// A connected device over either transport.
class Device {
 public:
  virtual ~Device() = default;
  virtual void Send(const Bytes& b) = 0;
  virtual bool TrySend(const Bytes& b) = 0;
  virtual std::optional<Packet> Receive(std::chrono::milliseconds timeout) = 0;
  std::optional<Packet> Receive() { return Receive(std::chrono::seconds(20)); }
};

class TlsDevice : public Device {
 public:
  TlsDevice(uint16_t port, const std::filesystem::path& ca, const net::PemCertificate* cert = nullptr)
      : c_(port, ca, cert) {}
  void Send(const Bytes& b) override { c_.Send(b); }
  bool TrySend(const Bytes& b) override { return c_.TrySend(b); }
  std::optional<Packet> Receive(std::chrono::milliseconds timeout) override {
    return c_.Receive(timeout);
  }

 private:
  Client c_;
};

class WsDevice : public Device {
 public:
  WsDevice(uint16_t port, const std::filesystem::path& ca) : c_(port, ca) {
    websocket::response_type response;
    EXPECT_FALSE(c_.Handshake(response));
  }
  void Send(const Bytes& b) override { c_.Send(b); }
  bool TrySend(const Bytes& b) override { return c_.TrySend(b); }
  std::optional<Packet> Receive(std::chrono::milliseconds timeout) override {
    return c_.Receive(timeout);
  }

 private:
  WsClient c_;
};

class RevocationTest : public MqttServerTest, public ::testing::WithParamInterface<bool> {
 protected:
  bool websocket() const { return GetParam(); }

  // dev-01 connected with `key`, one message sent and acknowledged.
  std::unique_ptr<Device> Connected(const std::string& key) { return ConnectedWith(ConnectPacket(key)); }

  // Module mod1 of dev-01, created with its own keys, connected with its primary key.
  std::unique_ptr<Device> ModuleConnected() {
    hub::ModuleIdentity m;
    m.device_id = "dev-01";
    m.module_id = "mod1";
    module_ = registry_->CreateModule(m).value();
    auto key = std::move(crypto::SecretBytes::CopyOf(*Base64Decode(module_.primary_key)).value());
    std::string token = *hub::MakeSasToken("localhost/devices/dev-01/modules/mod1", key, 1'800'003'600);
    std::string username = "localhost/dev-01/mod1/?api-version=2021-04-12";
    Connect c;
    c.clean_session = false;
    c.keep_alive = 180;
    c.client_id = "dev-01/mod1";
    c.username = username;
    c.password = AsBytes(token);
    Bytes connect;
    EncodeConnect(connect, c);
    publisher_ = "dev-01/modules/mod1";  // a module publishes under its own topic
    return ConnectedWith(connect);
  }

  std::unique_ptr<Device> ConnectedWith(const Bytes& connect) {
    std::unique_ptr<Device> d;
    if (websocket()) {
      d = std::make_unique<WsDevice>(hub_->https_port(), certs_.ca_file);
    } else {
      d = std::make_unique<TlsDevice>(server_->port(), certs_.ca_file);
    }
    d->Send(connect);
    auto connack = d->Receive();
    EXPECT_TRUE(connack.has_value());
    if (connack) {
      EXPECT_EQ(std::get<ConnAck>(*connack).code, ConnectCode::kAccepted);
    }
    d->Send(Publish1(1, "before", publisher_));
    auto ack = d->Receive();
    EXPECT_TRUE(ack.has_value());
    EXPECT_TRUE(WaitFor([&] { return server_->connections() == 1; }));
    return d;
  }

  // After a revoking change made at `changed`: the session closes within a second (asserted at
  // 2 s: a loaded machine), and what the device sends after the change is not stored.
  void ExpectClosedAndNothingMoreStored(Device& d, Clock::time_point changed, const char* what) {
    size_t stored = Stored();
    for (uint16_t id = 2; id <= 6; ++id) d.TrySend(Publish1(id, "after", publisher_));
    std::optional<Packet> p;
    while ((p = d.Receive(std::chrono::seconds(5)))) {
      ADD_FAILURE() << "a packet after the change: type " << static_cast<int>(TypeOf(*p));
    }
    double s = SecondsSince(changed);
    std::printf("[ measured ] %s (%s): session closed %.3f s after the change\n", what,
                websocket() ? "websocket" : "tls", s);
    EXPECT_LT(s, 2.0);
    EXPECT_EQ(Stored(), stored) << "a PUBLISH after the change was stored";
    EXPECT_TRUE(WaitFor([&] { return server_->connections() == 0; }));
  }

  hub::ModuleIdentity module_;
  std::string publisher_ = "dev-01";  // the topic's identity: devices/{publisher_}/messages/events/
};

TEST_P(RevocationTest, DeletingTheDeviceClosesItsSession) {
  auto d = Connected(device_.primary_key);
  auto changed = Clock::now();
  COFFRE_ASSERT_OK(registry_->Delete("dev-01", "*"));
  ExpectClosedAndNothingMoreStored(*d, changed, "device deleted");
}

TEST_P(RevocationTest, DisablingTheDeviceClosesItsSession) {
  auto d = Connected(device_.primary_key);
  hub::DeviceIdentity disabled = registry_->Get("dev-01").value();
  disabled.status = hub::DeviceStatus::kDisabled;
  auto changed = Clock::now();
  COFFRE_ASSERT_OK(registry_->Update(disabled, "*").status());
  ExpectClosedAndNothingMoreStored(*d, changed, "device disabled");
}

TEST_P(RevocationTest, RegeneratingTheKeyItUsedClosesItsSession) {
  auto d = Connected(device_.secondary_key);
  hub::DeviceIdentity regenerated = registry_->Get("dev-01").value();
  regenerated.secondary_key = Base64Encode(Bytes(32, std::byte{7}));
  auto changed = Clock::now();
  COFFRE_ASSERT_OK(registry_->Update(regenerated, "*").status());
  ExpectClosedAndNothingMoreStored(*d, changed, "key regenerated");
}

TEST_P(RevocationTest, AChangeThatKeepsItsCredentialsValidKeepsTheSession) {
  auto d = Connected(device_.primary_key);
  hub::DeviceIdentity changed = registry_->Get("dev-01").value();
  changed.secondary_key = Base64Encode(Bytes(32, std::byte{9}));  // not the key it used
  changed.status_reason = "rolled the secondary key";
  COFFRE_ASSERT_OK(registry_->Update(changed, "*").status());
  // Both the re-check and this PUBLISH run on the connection's strand, in that order.
  d->Send(Publish1(2, "still here"));
  auto ack = d->Receive();
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(std::get<PacketIdOnly>(*ack).packet_id, 2);
  EXPECT_EQ(Stored(), 2u);
  EXPECT_EQ(server_->connections(), 1u);
}

TEST_P(RevocationTest, AnotherDevicesChangeLeavesItAlone) {
  hub::DeviceIdentity other;
  other.device_id = "dev-02";
  COFFRE_ASSERT_OK(registry_->Create(other).status());
  auto d = Connected(device_.primary_key);
  COFFRE_ASSERT_OK(registry_->Delete("dev-02", "*"));
  d->Send(Publish1(2, "still here"));
  auto ack = d->Receive();
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(std::get<PacketIdOnly>(*ack).packet_id, 2);
}

TEST_P(RevocationTest, DeletingAModuleClosesItsSession) {
  auto d = ModuleConnected();
  auto changed = Clock::now();
  COFFRE_ASSERT_OK(registry_->DeleteModule("dev-01", "mod1", "*"));
  ExpectClosedAndNothingMoreStored(*d, changed, "module deleted");
}

TEST_P(RevocationTest, RegeneratingTheKeyAModuleUsedClosesItsSession) {
  auto d = ModuleConnected();
  hub::ModuleIdentity regenerated = module_;
  regenerated.primary_key = Base64Encode(Bytes(32, std::byte{7}));
  auto changed = Clock::now();
  COFFRE_ASSERT_OK(registry_->UpdateModule(regenerated, "*").status());
  ExpectClosedAndNothingMoreStored(*d, changed, "module key regenerated");
}

TEST_P(RevocationTest, DisablingTheDeviceClosesItsModulesSessions) {
  auto d = ModuleConnected();
  hub::DeviceIdentity disabled = registry_->Get("dev-01").value();
  disabled.status = hub::DeviceStatus::kDisabled;
  auto changed = Clock::now();
  COFFRE_ASSERT_OK(registry_->Update(disabled, "*").status());
  ExpectClosedAndNothingMoreStored(*d, changed, "device of a module disabled");
}

std::string TransportName(const ::testing::TestParamInfo<bool>& p) {
  return p.param ? "WebSocket" : "Tls";
}
INSTANTIATE_TEST_SUITE_P(Transports, RevocationTest, ::testing::Values(false, true), TransportName);

TEST_F(MqttServerTest, ReplacingAnX509DevicesThumbprintClosesItsSession) {
  Bytes connect;
  auto cert = CreateX509Device(connect);
  Client device(server_->port(), certs_.ca_file, &cert);
  device.Send(connect);
  auto accepted = device.Receive();
  ASSERT_TRUE(accepted.has_value());
  ASSERT_EQ(std::get<ConnAck>(*accepted).code, ConnectCode::kAccepted);

  // A secondary thumbprint added: the certificate still matches, the session stays.
  hub::DeviceIdentity changed = registry_->Get("cam-1").value();
  changed.secondary_thumbprint = std::string(64, 'a');
  COFFRE_ASSERT_OK(registry_->Update(changed, "*").status());
  device.Send(Publish1(1, "x", "cam-1"));
  auto ack = device.Receive();
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(TypeOf(*ack), PacketType::kPubAck);

  // The primary thumbprint replaced: the session goes.
  changed = registry_->Get("cam-1").value();
  changed.primary_thumbprint = std::string(64, 'b');
  auto at = Clock::now();
  COFFRE_ASSERT_OK(registry_->Update(changed, "*").status());
  device.TrySend(Publish1(2, "after", "cam-1"));
  EXPECT_FALSE(device.Receive().has_value());
  double s = SecondsSince(at);
  std::printf("[ measured ] thumbprint replaced (tls): session closed %.3f s after the change\n", s);
  EXPECT_LT(s, 2.0);
  EXPECT_EQ(Stored("cam-1"), 1u);
}

// A device deleted while its CONNECT is being checked: the session is re-checked once it is in
// the table, so the change cannot slip between authentication and registration.
TEST_F(MqttServerTest, ADeviceDeletedManyTimesWhileConnectingNeverKeepsASession) {
  for (int round = 0; round < 20; ++round) {
    hub::DeviceIdentity d;
    d.device_id = "flip";
    auto created = registry_->Create(d);
    ASSERT_TRUE(created.has_value()) << created.status();
    Client c(server_->port(), certs_.ca_file);
    c.Send(ConnectPacket(created->primary_key, "flip"));
    COFFRE_ASSERT_OK(registry_->Delete("flip", "*"));
    // Whatever the CONNACK said, the session does not outlive the deletion.
    auto first = c.Receive();
    if (first && std::get<ConnAck>(*first).code == ConnectCode::kAccepted) {
      EXPECT_FALSE(c.Receive().has_value()) << "round " << round;
    }
    EXPECT_TRUE(WaitFor([&] { return server_->connections() == 0; })) << "round " << round;
  }
}

}  // namespace
}  // namespace coffre::mqtt
