#pragma once
// The TLS server plumbing both servers share (HTTPS and MQTT): a server TLS context with our
// protocol floor and the PEM files loaded, and a listening acceptor. Asio types, so included
// only by the two server translation units.

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <filesystem>
#include <string>

#include "common/status.h"

namespace coffre::net {

// TLS 1.2 and up, the certificate chain and key from PEM files.
Status ConfigureServerTls(boost::asio::ssl::context& ctx, const std::filesystem::path& cert_file,
                          const std::filesystem::path& key_file);

// Opens, binds (SO_REUSEADDR) and listens on address:port (port 0: any free one).
Status Listen(boost::asio::ip::tcp::acceptor& acceptor, const std::string& address, uint16_t port);

}  // namespace coffre::net
