#include "net/tls_listener.h"

#include "net/server_certificates.h"
#include "net/ticket_keys.h"

namespace coffre::net {

namespace asio = boost::asio;
namespace ssl = asio::ssl;

void ConfigureTlsHygiene(ssl::context& ctx) {
  SSL_CTX_set_options(ctx.native_handle(), SSL_OP_CLEANSE_PLAINTEXT);
  SSL_CTX_set_mode(ctx.native_handle(), SSL_MODE_RELEASE_BUFFERS);
}

Status ConfigureServerTls(ssl::context& ctx, ServerCertificates& certificates,
                          TicketKeyStore* ticket_keys) {
  ConfigureTlsHygiene(ctx);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  COFFRE_RETURN_IF_ERROR(certificates.Install(ctx.native_handle()));
  return InstallTicketKeys(ctx.native_handle(), SystemClock(), kTicketKeyPeriod, ticket_keys);
}

Result<std::shared_ptr<ServerCertificates>> CertificatesOrFiles(
    std::shared_ptr<ServerCertificates> given, const std::filesystem::path& cert_file,
    const std::filesystem::path& key_file) {
  if (given) return given;
  return ServerCertificates::Load(cert_file, key_file);
}

Status Listen(asio::ip::tcp::acceptor& acceptor, const std::string& address, uint16_t port) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  if (ec) return InvalidArgument("listen address " + address + ": " + ec.message());
  asio::ip::tcp::endpoint endpoint(ip, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Unavailable("listen on " + address + ":" + std::to_string(port) + ": " + ec.message());
  return Status::Ok();
}

}  // namespace coffre::net
