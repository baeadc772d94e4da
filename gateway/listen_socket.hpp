// Listening sockets: how the server makes them (at start and at a reload)
// and names them in its log; the worker count. Defined in server.cpp; main thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <string>

#include "gateway/config.hpp"

namespace gateway {

// An acceptor on `ep`, listening; with `reuse_port`, it shares its port with
// the other workers' (SO_REUSEPORT: the kernel spreads connections over
// them). Throws boost::system::system_error if it cannot be bound. The one
// place where listening sockets are created.
boost::asio::ip::tcp::acceptor make_acceptor(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& ep,
                                             bool reuse_port);
// The endpoint of a listen address (a host name: the first address it resolves to).
boost::asio::ip::tcp::endpoint to_endpoint(const Endpoint& e);
// "1.2.3.4:80", "[::1]:80".
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& ep);
// How many workers `config` asks for (`workers: 0`: one per core).
int worker_count(const Config& config);

}  // namespace gateway
