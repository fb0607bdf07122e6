// Fuzzes MQTT over WebSocket as the hub serves it: after the upgrade (with the hub's own
// WebSocket settings, mqtt/websocket_options.h), the input is what the client sends: frames of
// any shape (masked or not, fragmented, control frames, text, oversize lengths). Whatever Beast
// unframes goes to a device Session. Never a crash; replies decode; the stream ends with an
// error or a close, never a hang (the input is finite and the far end closes).
#include <cstdint>

#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "fuzz_session_host.h"
#include "mqtt/websocket_options.h"

using namespace coffre;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  boost::asio::io_context ioc;
  beast::test::stream server(ioc), client(ioc);
  server.connect(client);

  http::request<http::string_body> upgrade{http::verb::get, mqtt::kWebSocketPath, 11};
  upgrade.set(http::field::host, "localhost");
  upgrade.set(http::field::upgrade, "websocket");
  upgrade.set(http::field::connection, "Upgrade");
  upgrade.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  upgrade.set(http::field::sec_websocket_version, "13");
  upgrade.set(http::field::sec_websocket_protocol, "mqtt");
  COFFRE_CHECK(mqtt::OffersMqttSubprotocol(upgrade));

  websocket::stream<beast::test::stream&> ws(server);
  mqtt::ConfigureMqttWebSocket(ws, 64 * 1024);
  boost::system::error_code ec;
  ws.accept(upgrade, ec);
  COFFRE_CHECK(!ec);

  server.append(beast::string_view(reinterpret_cast<const char*>(data), size));
  client.close();  // after the input, the server reads end-of-stream

  fuzz::SessionHost host;
  mqtt::Session session(host);
  std::array<char, 4096> buffer;
  for (int reads = 0; reads < 10000; ++reads) {
    size_t n = ws.read_some(boost::asio::buffer(buffer), ec);
    if (ec || ws.got_text()) break;  // text is not MQTT: the transport closes
    auto out = session.OnBytes(ByteSpan(reinterpret_cast<const std::byte*>(buffer.data()), n));
    fuzz::CheckReplies(out.to_send);
    if (out.close) break;
  }
  return 0;
}
