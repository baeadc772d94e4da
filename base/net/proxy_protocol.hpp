// The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): the
// header a load balancer in front of the gateway sends first on each
// connection, naming the client it accepted. Parsing is a pure function of
// the bytes received so far; read_proxy_header() takes the header off a
// socket without reading a byte past it, so what follows (a TLS
// ClientHello, an HTTP request) is still there for whoever reads next.
//
// What is kept: the source address and port of a TCP (or UDP) connection
// over IPv4 or IPv6. A v1 "UNKNOWN" or a v2 LOCAL command (a health check
// from the balancer itself) or an address family other than IPv4/IPv6 (a
// UNIX socket) carries no usable address: the connection keeps its own
// peer. v2 TLVs are skipped.
//
// No thread affinity; read_proxy_header runs on the socket's executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gateway::net::proxy_protocol {

// Version 1 is one text line of at most 107 bytes with its CRLF.
inline constexpr std::size_t kMaxV1 = 107;
// Version 2: a 16-byte fixed part, then `length` bytes of addresses and
// TLVs. The protocol allows 65535; balancers send a few hundred at most
// (AWS NLB, GCP: a few TLVs), so more is refused as a likely attack.
inline constexpr std::size_t kV2Fixed = 16;
inline constexpr std::size_t kMaxV2Length = 4096;

enum class Status {
  need_more,  // a valid beginning: read more bytes and parse again
  done,       // a whole header of `size` bytes
  error,      // not a PROXY header, or a malformed one: `reason` says why
};

struct Result {
  Status status = Status::need_more;
  int version = 0;        // 1 or 2 once known
  std::size_t size = 0;   // done: the header's length in bytes
  // done: the client's address and port; nullopt for UNKNOWN, LOCAL or a
  // family without one (keep the connection's own peer).
  std::optional<boost::asio::ip::address> source;
  std::uint16_t source_port = 0;
  std::string reason;     // error: why, for the log
};

// Parses `data`, the first bytes of a connection. need_more as long as the
// bytes are a valid beginning of a header; error as soon as they cannot be.
Result parse(std::string_view data);

// Reads a PROXY header from `socket` without consuming anything after it
// (MSG_PEEK, then a read of exactly the header's bytes). Bounded by the
// caller's deadline: cancelling the socket ends it with an error result.
boost::asio::awaitable<Result> read_header(boost::asio::ip::tcp::socket& socket);

}  // namespace gateway::net::proxy_protocol
