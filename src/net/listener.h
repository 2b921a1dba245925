// Opening a TCP listener: the same steps for the validator, client and admin ports.
#pragma once

#include <cstdint>
#include <string>

#include <asio/ip/tcp.hpp>

namespace kestrel::net {

enum class ListenFailure : std::uint8_t { none, bad_address, bind_or_listen };

// Opens `acceptor` on host:port (a numeric address; port 0: any free port) with
// SO_REUSEADDR, binds and listens.
inline ListenFailure open_listener(asio::ip::tcp::acceptor& acceptor, const std::string& host, std::uint16_t port) {
  asio::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return ListenFailure::bad_address;
  const asio::ip::tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  return ec ? ListenFailure::bind_or_listen : ListenFailure::none;
}

}  // namespace kestrel::net
