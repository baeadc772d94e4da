// A two-way byte tunnel between a client connection and an upstream
// connection, after the instance answered an upgrade with 101 Switching
// Protocols (a WebSocket, gateway/upgrade.hpp). The gateway reads no frame of
// the new protocol: bytes are copied as they come, each way, through either
// stream plain or TLS (net::Stream), the bytes already read past the heads on
// either side first.
//
// It ends, and both streams are to be closed by their owners, when:
//   one side closes or fails        the other is cut at once, as nginx does
//                                   (WebSocket's closing handshake has
//                                   already crossed by then)
//   no byte moves for `idle`        timeouts.tunnel_idle
//   the worker drains               drain(grace): what is in flight gets
//                                   timeouts.tunnel_drain, then it is cut
// Counted in the worker's metrics (open tunnels, total, bytes each way, how
// each ended).
//
// Runs on the worker that owns the client connection: the connection's
// coroutine awaits run(); its two copying loops are that coroutine's
// children, and the idle and drain deadlines are the worker's coarse ones.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <span>
#include <string_view>

#include "base/deadline.hpp"
#include "base/net/stream.hpp"

namespace gateway {

class Worker;

class Tunnel {
 public:
  enum class End { client_closed, upstream_closed, idle, drained, error };
  static constexpr std::size_t kEnds = 5;
  static constexpr std::string_view kEndNames[kEnds] = {"client_closed", "upstream_closed", "idle", "drained",
                                                        "error"};

  struct Result {
    std::uint64_t from_client = 0;  // bytes the client sent into the tunnel
    std::uint64_t to_client = 0;    // bytes the client was sent
    End end = End::error;
  };

  Tunnel(Worker& worker, net::Stream& client, net::Stream& upstream);
  ~Tunnel();
  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;

  // Copies both ways until the tunnel ends (see above). `from_client` and
  // `from_upstream` are bytes already read from each side, sent on first.
  boost::asio::awaitable<Result> run(std::span<const char> from_client, std::span<const char> from_upstream,
                                     Clock::duration idle);
  // The worker drains: the tunnel is cut `grace` from now (at once if 0).
  void drain(Clock::duration grace);

 private:
  struct Direction;
  static void on_idle(void* self);
  static void on_drain(void* self);
  boost::asio::awaitable<void> pump(Direction& d);
  void end(End why);

  Worker& worker_;
  net::Stream& client_;
  net::Stream& upstream_;
  Clock::duration idle_timeout_{};
  Deadline idle_;
  Deadline drain_;
  bool ended_ = false;
  bool draining_ = false;
  End why_ = End::error;
};

}  // namespace gateway
