#include "harness_h2.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace itest {

namespace h2frame {

namespace {
void put32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// An HPACK integer with a `prefix`-bit prefix (RFC 7541 5.1); `first` holds
// the bits above the prefix.
void hpack_int(std::string& out, std::uint8_t first, int prefix, std::size_t v) {
  const std::size_t max = (1u << prefix) - 1;
  if (v < max) {
    out.push_back(static_cast<char>(first | v));
    return;
  }
  out.push_back(static_cast<char>(first | max));
  v -= max;
  while (v >= 128) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void string_literal(std::string& out, std::string_view s) {
  hpack_int(out, 0, 7, s.size());
  out.append(s);
}
}  // namespace

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::string_view payload) {
  std::string out;
  const auto n = static_cast<std::uint32_t>(payload.size());
  out.push_back(static_cast<char>((n >> 16) & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>(n & 0xff));
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(flags));
  put32(out, stream & 0x7fffffff);
  out.append(payload);
  return out;
}

std::string literal(std::string_view name, std::string_view value) {
  std::string out(1, '\0');  // literal without indexing, new name
  string_literal(out, name);
  string_literal(out, value);
  return out;
}

std::string request_block(std::string_view path, std::string_view authority,
                          const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out = "\x82\x86";  // :method GET, :scheme http (static table)
  hpack_int(out, 0, 4, 4);       // :path, literal without indexing, indexed name 4
  string_literal(out, path);
  hpack_int(out, 0, 4, 1);       // :authority
  string_literal(out, authority);
  for (const auto& [n, v] : fields) out += literal(n, v);
  return out;
}

std::string rst_stream(std::uint32_t stream, std::uint32_t code) {
  std::string payload;
  put32(payload, code);
  return frame(kRstStream, 0, stream, payload);
}

}  // namespace h2frame

RawH2::RawH2(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  send(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + h2frame::frame(h2frame::kSettings, 0, 0, ""));
}

RawH2::~RawH2() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawH2::send(std::string_view bytes) {
  if (fd_ < 0) return false;
  while (!bytes.empty()) {
    auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::optional<RawH2::Frame> RawH2::read_frame(Ms timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (in_.size() >= 9) {
      const auto* p = reinterpret_cast<const unsigned char*>(in_.data());
      std::size_t len = (std::size_t{p[0]} << 16) | (std::size_t{p[1]} << 8) | p[2];
      if (in_.size() >= 9 + len) {
        Frame f;
        f.type = p[3];
        f.flags = p[4];
        f.stream = ((std::uint32_t{p[5]} << 24) | (std::uint32_t{p[6]} << 16) | (std::uint32_t{p[7]} << 8) | p[8]) &
                   0x7fffffff;
        f.payload = in_.substr(9, len);
        in_.erase(0, 9 + len);
        return f;
      }
    }
    auto left = std::chrono::duration_cast<Ms>(until - std::chrono::steady_clock::now());
    if (fd_ < 0 || left.count() <= 0) return std::nullopt;
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    char buf[16384];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      ::close(fd_);
      fd_ = -1;
      continue;  // frames already buffered are still returned
    }
    in_.append(buf, static_cast<std::size_t>(n));
  }
}

std::optional<std::uint32_t> RawH2::wait_goaway(Ms timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    auto f = read_frame(std::chrono::duration_cast<Ms>(until - std::chrono::steady_clock::now()));
    if (!f) return std::nullopt;
    if (f->type == h2frame::kGoaway && f->payload.size() >= 8) {
      const auto* p = reinterpret_cast<const unsigned char*>(f->payload.data()) + 4;
      return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
    }
  }
  return std::nullopt;
}

bool RawH2::wait_closed(Ms timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (fd_ >= 0 && std::chrono::steady_clock::now() < until)
    read_frame(std::chrono::duration_cast<Ms>(until - std::chrono::steady_clock::now()));
  return fd_ < 0;
}

}  // namespace itest
