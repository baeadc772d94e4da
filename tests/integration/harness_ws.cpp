#include "harness_ws.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <stdexcept>

namespace itest {

namespace {
// RFC 6455 1.3's example key and the answer it must get.
constexpr std::string_view kKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
constexpr unsigned char kText = 0x1, kClose = 0x8, kPing = 0x9;

// A client frame: FIN, opcode, masked payload (RFC 6455 5.2, 5.3).
std::string client_frame(unsigned char opcode, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(0x80 | opcode));
  const std::size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * i)) & 0xff));
  }
  const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  f.append(reinterpret_cast<const char*>(mask), 4);
  for (std::size_t i = 0; i < n; ++i) f.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return f;
}
}  // namespace

WsClient::WsClient(std::uint16_t port, std::string_view target, const Options& options) {
  ::signal(SIGPIPE, SIG_IGN);
  fd_ = connect_loopback(port);
  if (fd_ < 0) {
    error_ = "connect failed";
    return;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (options.tls) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, options.host.c_str());
    if (SSL_connect(ssl_) != 1) {
      error_ = "TLS handshake failed";
      return;
    }
  }
  if (!options.handshake) return;
  std::string req = "GET " + std::string(target) + " HTTP/1.1\r\nHost: " + options.host +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + std::string(kKey) +
                    "\r\nSec-WebSocket-Version: 13\r\n";
  for (const auto& h : options.headers) req += h + "\r\n";
  req += "\r\n";
  if (!write_all(req)) {
    error_ = "send failed";
    return;
  }
  head_ = read_head();
  if (head_.size() > 12) status_ = std::atoi(head_.c_str() + 9);
  accept_ok_ = head_header(head_, "Sec-WebSocket-Accept") == std::string(kAccept);
}

WsClient::~WsClient() {
  if (ssl_) SSL_free(ssl_);
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

int WsClient::read_more(Ms timeout) {
  char tmp[16384];
  if (!ssl_ || SSL_pending(ssl_) == 0) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return -1;
  }
  if (ssl_) {
    int n = SSL_read(ssl_, tmp, sizeof tmp);
    if (n > 0) {
      buf_.append(tmp, static_cast<std::size_t>(n));
      return n;
    }
    // Readable, yet no data: closed (close_notify), or cut without one.
    int e = SSL_get_error(ssl_, n);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? -1 : 0;
  }
  ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
  if (n > 0) buf_.append(tmp, static_cast<std::size_t>(n));
  return n > 0 ? static_cast<int>(n) : n == 0 ? 0 : (errno == ECONNRESET ? 0 : -1);
}

bool WsClient::write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ssl_ ? SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()))
                     : ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string WsClient::read_head(Ms timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto at = buf_.find("\r\n\r\n"); at != std::string::npos) {
      std::string head = buf_.substr(0, at + 4);
      buf_.erase(0, at + 4);
      return head;
    }
    auto left = std::chrono::duration_cast<Ms>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0 || read_more(std::max(left, Ms(1))) <= 0) return {};
  }
}

bool WsClient::send_text(std::string_view text) { return write_all(client_frame(kText, text)); }

bool WsClient::send_close() { return write_all(client_frame(kClose, std::string_view("\x03\xe8", 2))); }

bool WsClient::send_raw(std::string_view bytes) { return write_all(bytes); }

std::string WsClient::read_raw(std::size_t n, Ms timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (buf_.size() < n) {
    auto left = std::chrono::duration_cast<Ms>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0 || read_more(std::max(left, Ms(1))) <= 0) break;
  }
  std::string out = buf_.substr(0, std::min(n, buf_.size()));
  buf_.erase(0, out.size());
  return out;
}

std::optional<std::string> WsClient::read_text(Ms timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  std::string message;  // fragments so far (RFC 6455 5.4)
  for (;;) {
    // A whole server frame (unmasked) in buf_?
    if (buf_.size() >= 2) {
      auto b0 = static_cast<unsigned char>(buf_[0]), b1 = static_cast<unsigned char>(buf_[1]);
      std::size_t len = b1 & 0x7f, at = 2;
      if (len == 126 && buf_.size() >= 4) {
        len = (static_cast<unsigned char>(buf_[2]) << 8) | static_cast<unsigned char>(buf_[3]);
        at = 4;
      } else if (len == 127 && buf_.size() >= 10) {
        len = 0;
        for (int i = 2; i < 10; ++i) len = (len << 8) | static_cast<unsigned char>(buf_[i]);
        at = 10;
      }
      bool complete = (len < 126 || at > 2) && buf_.size() >= at + len;
      if (complete) {
        std::string payload = buf_.substr(at, len);
        buf_.erase(0, at + len);
        unsigned char opcode = b0 & 0x0f;
        const bool fin = (b0 & 0x80) != 0;
        if (opcode == kText || opcode == 0x0) {
          message += payload;
          if (fin) return message;
        }
        if (opcode == kClose) return std::nullopt;
        if (opcode == kPing) write_all(client_frame(0xA, payload));
        continue;
      }
    }
    auto left = std::chrono::duration_cast<Ms>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0 || read_more(std::max(left, Ms(1))) <= 0) return std::nullopt;
  }
}

bool WsClient::closed_by_peer(Ms timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    buf_.clear();
    auto left = std::chrono::duration_cast<Ms>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    int r = read_more(std::max(left, Ms(1)));
    if (r == 0) return true;
    if (r < 0) return false;
  }
}

// ---------------------------------------------------------------- TunnelServer

TunnelServer::TunnelServer(std::string upgrade_response) : upgrade_response_(std::move(upgrade_response)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(listen_fd_, 64) != 0)
    throw std::runtime_error("TunnelServer: bind/listen failed");
  socklen_t len = sizeof sa;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
  port_ = ntohs(sa.sin_port);
  acceptor_ = std::thread([this] {
    while (!stop_.load()) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      ++open_;
      std::lock_guard lock(mu_);
      threads_.emplace_back([this, fd] { serve(fd); });
    }
  });
}

TunnelServer::~TunnelServer() {
  stop_.store(true);
  acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  ::close(listen_fd_);
}

std::vector<std::string> TunnelServer::heads() const {
  std::lock_guard lock(mu_);
  return heads_;
}

void TunnelServer::serve(int fd) {
  std::string in;
  char tmp[16384];
  // Reads with a short poll so that stop_ is seen; false on EOF or error.
  auto read = [&]() -> int {
    while (!stop_.load()) {
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, 50);
      if (r < 0) return -1;
      if (r == 0) continue;
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n > 0) in.append(tmp, static_cast<std::size_t>(n));
      return n > 0 ? 1 : 0;
    }
    return -1;
  };
  auto send_all = [&](std::string_view b) {
    while (!b.empty()) {
      ssize_t n = ::send(fd, b.data(), b.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      b.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  };
  bool tunnel = false;
  while (!tunnel) {
    auto at = in.find("\r\n\r\n");
    if (at == std::string::npos) {
      if (read() <= 0) break;
      continue;
    }
    std::string head = in.substr(0, at + 4);
    in.erase(0, at + 4);
    {
      std::lock_guard lock(mu_);
      heads_.push_back(head);
    }
    if (head_header(head, "Upgrade")) {
      if (!send_all(upgrade_response_)) break;
      tunnel = upgrade_response_.starts_with("HTTP/1.1 101");
      if (!tunnel) break;
    } else if (!send_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")) {
      break;
    }
  }
  // The tunnel: echo everything (bytes that came with the head first).
  while (tunnel) {
    if (!in.empty() && !send_all(in)) break;
    in.clear();
    if (read() <= 0) break;
  }
  ::close(fd);
  --open_;
}

}  // namespace itest
