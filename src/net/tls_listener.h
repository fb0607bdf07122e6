#pragma once
// The TLS plumbing our servers and clients share: a server TLS context with our protocol floor
// and the PEM files loaded, buffer hygiene, and a listening acceptor. Asio types, so included
// only by the two server translation units.

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "common/result.h"

namespace coffre::net {

class ServerCertificates;
class TicketKeyStore;

// Plaintext copies in OpenSSL's record buffers are cleansed once delivered, and idle
// connections give their buffers back (SSL_OP_CLEANSE_PLAINTEXT, SSL_MODE_RELEASE_BUFFERS).
void ConfigureTlsHygiene(boost::asio::ssl::context& ctx);

// TLS 1.2 and up, the certificates (each handshake takes their current pair), the hygiene above,
// and session tickets under keys that rotate hourly (ticket_keys.h), kept in `ticket_keys` if
// given. The context must not outlive `certificates`.
Status ConfigureServerTls(boost::asio::ssl::context& ctx, ServerCertificates& certificates,
                          TicketKeyStore* ticket_keys = nullptr);

// `given` if set (a daemon's, which it reloads), else the pair read once from the files.
Result<std::shared_ptr<ServerCertificates>> CertificatesOrFiles(
    std::shared_ptr<ServerCertificates> given, const std::filesystem::path& cert_file,
    const std::filesystem::path& key_file);

// Opens, binds (SO_REUSEADDR) and listens on address:port (port 0: any free one).
Status Listen(boost::asio::ip::tcp::acceptor& acceptor, const std::string& address, uint16_t port);

}  // namespace coffre::net
