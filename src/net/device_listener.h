#pragma once
// DeviceListener: the TLS port of a connection-oriented protocol (MQTT 8883, AMQPS 5671): one
// single-threaded io_context per thread, accepted sockets handed out in turn (a connection's
// events, hand-offs and writes all stay on one thread, with no locking inside Asio), a TLS
// context that asks for a client certificate without verifying it (X.509 devices are checked by
// thumbprint or CA later), and the Admission caps on not-yet-authenticated connections applied at
// accept, before TLS costs anything. The protocol's server makes a connection of each socket
// admitted. Stop() (or the destructor) closes the acceptor, stops the io_contexts and joins their
// threads. Asio types, so included only by the servers' translation units.

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "net/admission.h"

namespace coffre::net {

class ServerCertificates;
class TicketKeyStore;

struct DeviceListenerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port
  std::filesystem::path cert_file, key_file;
  int threads = 0;  // 0: one per core
  TicketKeyStore* ticket_keys = nullptr;  // where the TLS ticket keys outlive the process
  // The daemon's certificates, which it reloads; null: read once from cert_file and key_file.
  std::shared_ptr<ServerCertificates> certificates;
};

class DeviceListener {
 public:
  // Called on the socket's io_context for each admitted socket, with its source address (the IP,
  // no port), which holds an Admission slot the connection gives back.
  using OnAccept = std::function<void(boost::asio::ip::tcp::socket socket, std::string source)>;

  // Listens at once; accepting and the io threads start with Run(), so that the server can
  // finish its own set-up first. `admission` must outlive the listener.
  static Result<std::unique_ptr<DeviceListener>> Listen(DeviceListenerOptions options,
                                                        Admission& admission);
  ~DeviceListener();
  void Run(OnAccept on_accept);
  void Stop();

  boost::asio::ssl::context& tls() { return tls_; }
  uint16_t port() const { return port_; }

  // The IP address of a socket's peer, without the port; empty if unknown.
  static std::string SourceOf(const boost::asio::ip::tcp::socket& socket);

 private:
  DeviceListener(int threads, Admission& admission);
  void Accept();

  Admission& admission_;
  std::vector<std::unique_ptr<boost::asio::io_context>> iocs_;
  size_t next_context_ = 0;  // on the acceptor's thread only
  std::shared_ptr<ServerCertificates> certificates_;  // outlives tls_, which calls it
  boost::asio::ssl::context tls_;
  boost::asio::ip::tcp::acceptor acceptor_;
  OnAccept on_accept_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  bool stopped_ = false;
};

}  // namespace coffre::net
