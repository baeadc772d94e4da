// The integration harness's WebSocket part: a minimal RFC 6455 client over a
// blocking socket, plain or TLS (the opening handshake, masked text frames
// out, frames in), and a scripted upstream that answers an upgrade with a
// given head and then echoes raw bytes, for tests of the gateway's tunnel
// that need no WebSocket at all.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace itest {

class WsClient {
 public:
  struct Options {
    bool tls = false;  // TLS without verification (the tests check certificates elsewhere)
    std::string host = "localhost";
    std::vector<std::string> headers;  // more "Name: value" lines for the handshake
    bool handshake = true;             // false: connect only (send_raw the request yourself)
  };
  WsClient(std::uint16_t port, std::string_view target, const Options& options);
  WsClient(std::uint16_t port, std::string_view target) : WsClient(port, target, Options{}) {}
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // The handshake's answer: 101 with a valid Sec-WebSocket-Accept.
  bool open() const { return status_ == 101 && accept_ok_; }
  int status() const { return status_; }
  const std::string& head() const { return head_; }
  const std::string& error() const { return error_; }

  // One masked text frame.
  bool send_text(std::string_view text);
  // The next text message (ping and pong skipped); nullopt on close,
  // error or timeout.
  std::optional<std::string> read_text(Ms timeout = 5s);
  // Sends a close frame (1000).
  bool send_close();
  // The peer closed the TCP connection (EOF or reset) within timeout;
  // frames that arrive meanwhile are dropped.
  bool closed_by_peer(Ms timeout = 5s);

  // Raw bytes, for tunnel tests that speak no WebSocket.
  bool send_raw(std::string_view bytes);
  // Reads until `n` bytes arrived (buffered ones first), or timeout/close.
  std::string read_raw(std::size_t n, Ms timeout = 5s);
  // Reads a response head (to the blank line); the rest stays buffered.
  std::string read_head(Ms timeout = 5s);

 private:
  // One read within timeout, appended to buf_: >0, 0 on EOF, -1 on timeout/error.
  int read_more(Ms timeout);
  bool write_all(std::string_view bytes);

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buf_;
  int status_ = 0;
  bool accept_ok_ = false;
  std::string head_;
  std::string error_;
};

// An upstream on an ephemeral port. A request with an Upgrade field gets
// `upgrade_response` (bytes after its head included, sent in the same
// write); if that is a 101, every byte after is echoed back until the
// client closes. Other requests get a 200 "ok", keep-alive.
class TunnelServer {
 public:
  explicit TunnelServer(std::string upgrade_response =
                            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  ~TunnelServer();
  TunnelServer(const TunnelServer&) = delete;
  TunnelServer& operator=(const TunnelServer&) = delete;
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  int open_connections() const { return open_.load(); }
  // Request heads received, in order.
  std::vector<std::string> heads() const;

 private:
  void serve(int fd);
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string upgrade_response_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> open_{0};
  mutable std::mutex mu_;
  std::vector<std::string> heads_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace itest
