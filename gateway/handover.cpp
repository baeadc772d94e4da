// Listening sockets handed over at a binary upgrade (see handover.hpp).
// Main thread only.
#include "gateway/handover.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/log.hpp"

namespace gateway {

namespace {
constexpr std::string_view kEnd = "end";
constexpr std::size_t kMaxRecord = 1024;

bool send_record(int channel, std::string_view text, int fd) {
  iovec iov{const_cast<char*>(text.data()), text.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  for (;;) {
    ssize_t n = ::sendmsg(channel, &msg, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n) == text.size();
    if (errno != EINTR) return false;
  }
}

// One record: its text, and the descriptor attached (-1 if none). False on
// end of file or an error.
bool receive_record(int channel, std::string& text, int& fd) {
  char buf[kMaxRecord];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(channel, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  fd = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  text.assign(buf, static_cast<std::size_t>(n));
  return true;
}

tcp::acceptor adopt(asio::io_context& io, int fd) {
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  tcp::acceptor a(io);
  a.assign(sa.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd);
  a.non_blocking(true);
  return a;
}

bool bound_to(int fd, const tcp::endpoint& ep) {
  tcp::endpoint local;
  socklen_t len = static_cast<socklen_t>(local.capacity());
  if (::getsockname(fd, local.data(), &len) != 0) return false;
  local.resize(len);
  return local == ep;
}
}  // namespace

std::string encode_record(const HandedSocket& s) { return std::string(s.admin ? "admin " : "public ") + s.text; }

std::optional<HandedSocket> decode_record(std::string_view text) {
  HandedSocket s;
  auto space = text.find(' ');
  if (space == std::string_view::npos || space + 1 == text.size()) return std::nullopt;
  auto kind = text.substr(0, space);
  if (kind != "admin" && kind != "public") return std::nullopt;
  s.admin = kind == "admin";
  s.text = std::string(text.substr(space + 1));
  return s;
}

std::vector<std::vector<std::size_t>> assign_sockets(std::size_t handed, std::size_t workers) {
  std::vector<std::vector<std::size_t>> out(workers);
  if (workers == 0) return out;
  for (std::size_t k = 0; k < handed; ++k) out[k % workers].push_back(k);
  return out;
}

bool send_sockets(int channel, const std::vector<HandedSocket>& sockets, std::string& error) {
  for (const auto& s : sockets)
    if (!send_record(channel, encode_record(s), s.fd)) {
      error = std::string("cannot hand over ") + s.text + ": " + std::strerror(errno);
      return false;
    }
  if (!send_record(channel, kEnd, -1)) {
    error = std::string("cannot hand over the sockets: ") + std::strerror(errno);
    return false;
  }
  return true;
}

Inherited::~Inherited() {
  for (const auto& s : sockets_) ::close(s.fd);
  if (channel_ >= 0) ::close(channel_);
}

Inherited::Inherited(Inherited&& o) noexcept : channel_(o.channel_), sockets_(std::move(o.sockets_)) {
  o.channel_ = -1;
  o.sockets_.clear();
}

bool Inherited::receive_from_environment(std::string& error) {
  const char* v = std::getenv(kUpgradeFdVariable);
  if (!v) return true;
  channel_ = std::atoi(v);
  ::unsetenv(kUpgradeFdVariable);
  ::fcntl(channel_, F_SETFD, FD_CLOEXEC);  // not for this process's own successor
  for (;;) {
    std::string text;
    int fd = -1;
    if (!receive_record(channel_, text, fd)) {
      error = std::string("upgrade: the old process's channel broke before all sockets arrived: ") +
              (errno ? std::strerror(errno) : "end of file");
      return false;
    }
    if (text == kEnd) break;
    auto s = decode_record(text);
    if (!s || fd < 0) {
      if (fd >= 0) ::close(fd);
      error = "upgrade: unexpected record from the old process: " + text;
      return false;
    }
    s->fd = fd;
    sockets_.push_back(std::move(*s));
  }
  log::info("upgrade: received " + std::to_string(sockets_.size()) + " listening sockets from the old process");
  return true;
}

std::vector<int> Inherited::take(bool admin, const std::string& text, const tcp::endpoint& ep) {
  std::vector<int> fds;
  std::vector<HandedSocket> rest;
  for (auto& s : sockets_) {
    if (s.admin == admin && (s.text == text || (ep.port() != 0 && bound_to(s.fd, ep)))) fds.push_back(s.fd);
    else rest.push_back(std::move(s));
  }
  sockets_ = std::move(rest);
  return fds;
}

std::vector<std::string> Inherited::close_unused() {
  std::vector<std::string> texts;
  for (const auto& s : sockets_) {
    ::close(s.fd);
    if (texts.empty() || texts.back() != s.text) texts.push_back(s.text);
  }
  sockets_.clear();
  return texts;
}

void Inherited::ready() {
  if (channel_ < 0) return;
  send_record(channel_, "ready " + std::to_string(::getpid()), -1);
  ::close(channel_);
  channel_ = -1;
}

std::vector<std::vector<tcp::acceptor>> listen_on(const std::vector<asio::io_context*>& ios, tcp::endpoint ep,
                                                  const std::string& text, bool admin, Inherited* inherited,
                                                  const BindAcceptor& bind) {
  std::size_t workers = admin ? std::min<std::size_t>(1, ios.size()) : ios.size();
  std::vector<std::vector<tcp::acceptor>> out(ios.size());
  std::vector<int> fds;
  if (inherited) fds = inherited->take(admin, text, ep);
  auto plan = assign_sockets(fds.size(), workers);
  // Adopt every handed socket first (a throw below must not leak one).
  for (std::size_t w = 0; w < workers; ++w)
    for (auto k : plan[w]) out[w].push_back(adopt(*ios[w], fds[k]));
  if (!fds.empty()) ep = out[0].front().local_endpoint();
  for (std::size_t w = 0; w < workers; ++w) {
    if (!out[w].empty()) continue;
    out[w].push_back(bind(*ios[w], ep));
    // Port 0: the first bind picks the port, the other workers join it.
    ep = out[w].back().local_endpoint();
  }
  return out;
}

}  // namespace gateway
