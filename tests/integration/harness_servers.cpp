// The servers of the integration harness besides the gateway and
// sample-service processes (harness.cpp): a real redis-server on a loopback
// port, with a small RESP client to inspect and freeze it, and a
// CaptureServer that records the raw requests a gateway forwards.
#include "harness.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace itest {

namespace fs = std::filesystem;

ssize_t read_with_timeout(int fd, std::string& out, Ms timeout);  // harness.cpp

// ---------------------------------------------------------------- RedisServer

namespace {
// redis-server: $REDIS_SERVER, else the first one on PATH, else the Debian path.
std::string find_redis_server() {
  if (const char* env = std::getenv("REDIS_SERVER"); env && *env) return env;
  if (const char* path = std::getenv("PATH")) {
    std::string_view rest = path;
    while (!rest.empty()) {
      auto colon = rest.find(':');
      std::string candidate = std::string(rest.substr(0, colon)) + "/redis-server";
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  return "/usr/bin/redis-server";
}

// Parses one RESP value at the start of `in`; returns the bytes it took, 0
// if `in` does not hold a whole value yet.
std::size_t parse_resp(std::string_view in, RedisValue& out) {
  auto eol = in.find("\r\n");
  if (eol == std::string_view::npos || eol == 0) return 0;
  out = RedisValue{};
  out.type = in[0];
  std::string line(in.substr(1, eol - 1));
  std::size_t used = eol + 2;
  switch (out.type) {
    case '+':
    case '-':
      out.str = line;
      return used;
    case ':':
      out.integer = std::strtoll(line.c_str(), nullptr, 10);
      return used;
    case '$': {
      long long n = std::strtoll(line.c_str(), nullptr, 10);
      if (n < 0) {
        out.nil = true;
        return used;
      }
      if (in.size() < used + static_cast<std::size_t>(n) + 2) return 0;
      out.str = std::string(in.substr(used, static_cast<std::size_t>(n)));
      return used + static_cast<std::size_t>(n) + 2;
    }
    case '*': {
      long long n = std::strtoll(line.c_str(), nullptr, 10);
      if (n < 0) {
        out.nil = true;
        return used;
      }
      for (long long i = 0; i < n; ++i) {
        RedisValue e;
        std::size_t k = parse_resp(in.substr(used), e);
        if (k == 0) return 0;
        out.elements.push_back(std::move(e));
        used += k;
      }
      return used;
    }
    default:
      throw std::runtime_error("RedisServer: not RESP: " + std::string(in.substr(0, 40)));
  }
}
}  // namespace

int connect_loopback(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

RedisServer::RedisServer(const TempDir& dir) : RedisServer(dir, "", {}) {}

RedisServer::RedisServer(const TempDir& dir, std::string config_file, std::vector<std::string> extra_args)
    : dir_(dir.path()), bin_(find_redis_server()), config_file_(std::move(config_file)),
      extra_args_(std::move(extra_args)) {
  if (::access(bin_.c_str(), X_OK) != 0)
    throw std::runtime_error("redis-server not found at " + bin_ + " (scripts/setup.sh installs it for the tests)");
  // free_port() hands out a port nobody listens on; another process may
  // take it before redis-server binds, so try a few.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    if (launch()) return;
  }
  throw std::runtime_error("redis-server did not start:\n" + log());
}

RedisServer::~RedisServer() { proc_.reset(); }

bool RedisServer::launch() {
  ++starts_;
  std::string base = dir_ + "/redis-" + std::to_string(port_) + "-" + std::to_string(starts_);
  proc_.reset();
  std::vector<std::string> argv{bin_};
  if (!config_file_.empty()) argv.push_back(config_file_);
  argv.insert(argv.end(), {"--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                           "--dir", dir_, "--daemonize", "no", "--protected-mode", "no"});
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  proc_.emplace(std::move(argv), base + ".out", base + ".err");
  bool ok = eventually(
      [&] {
        if (!proc_->running()) return true;
        auto r = command({"PING"}, 1s);
        return r.type == '+' && r.str == "PONG";
      },
      15s);
  return ok && proc_->running();
}

bool RedisServer::running() { return proc_ && proc_->running(); }

void RedisServer::stop() {
  if (proc_) {
    proc_->signal(SIGCONT);  // a frozen server cannot act on SIGTERM
    proc_->stop(10s);
  }
}

void RedisServer::start() {
  if (running()) return;
  // The port is ours: the server that held it just exited (its listening
  // socket used SO_REUSEADDR, so TIME_WAIT connections do not block it).
  for (int attempt = 0; attempt < 3; ++attempt)
    if (launch()) return;
  throw std::runtime_error("redis-server did not restart on port " + std::to_string(port_) + ":\n" + log());
}

void RedisServer::freeze() {
  if (proc_) proc_->signal(SIGSTOP);
}

void RedisServer::thaw() {
  if (proc_) proc_->signal(SIGCONT);
}

RedisValue RedisServer::command(const std::vector<std::string>& args, Ms timeout) const {
  RedisValue out;
  int fd = connect_loopback(port_);
  if (fd < 0) return out;
  std::string req = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) req += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  std::string_view pending = req;
  bool sent = true;
  while (!pending.empty()) {
    ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      sent = false;
      break;
    }
    pending.remove_prefix(static_cast<std::size_t>(n));
  }
  std::string in;
  auto end = std::chrono::steady_clock::now() + timeout;
  while (sent && std::chrono::steady_clock::now() < end) {
    RedisValue v;
    if (!in.empty() && parse_resp(in, v) > 0) {
      out = std::move(v);
      break;
    }
    auto left = std::chrono::duration_cast<Ms>(end - std::chrono::steady_clock::now());
    if (read_with_timeout(fd, in, std::max(left, Ms(1))) <= 0) break;
  }
  ::close(fd);
  return out;
}

std::vector<std::string> RedisServer::keys(const std::string& pattern) const {
  std::vector<std::string> out;
  for (auto& e : command({"KEYS", pattern}).elements) out.push_back(std::move(e.str));
  std::sort(out.begin(), out.end());
  return out;
}

bool RedisServer::exists(const std::string& key) const { return command({"EXISTS", key}).integer == 1; }

std::int64_t RedisServer::pttl(const std::string& key) const { return command({"PTTL", key}).integer; }

std::string RedisServer::log() const {
  std::string out;
  for (int i = 1; i <= starts_; ++i) {
    std::string base = dir_ + "/redis-" + std::to_string(port_) + "-" + std::to_string(i);
    out += read_file(base + ".out") + read_file(base + ".err");
  }
  return out;
}

// ---------------------------------------------------------------- CaptureServer

CaptureServer::CaptureServer(std::string response) : response_(std::move(response)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(listen_fd_, 64) != 0)
    throw std::runtime_error(std::string("CaptureServer: ") + std::strerror(errno));
  socklen_t len = sizeof sa;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
  port_ = ntohs(sa.sin_port);
  thread_ = std::thread([this] { run(); });
}

CaptureServer::~CaptureServer() {
  stop_.store(true);
  thread_.join();
  ::close(listen_fd_);
}

std::vector<std::string> CaptureServer::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

namespace {
// Length of the first complete request in `in` (head + body framed by
// Content-Length or chunked), or 0 if it is not complete yet.
std::size_t complete_request(const std::string& in) {
  auto head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos) return 0;
  std::string_view head(in.data(), head_end + 4);
  std::size_t body_start = head_end + 4;
  auto te = head_header(head, "Transfer-Encoding");
  if (te && te->find("chunked") != std::string::npos) {
    auto end = in.find("0\r\n\r\n", body_start);
    // The terminating chunk: at the body's start or right after a chunk's CRLF.
    while (end != std::string::npos && end != body_start && in.compare(end - 2, 2, "\r\n") != 0)
      end = in.find("0\r\n\r\n", end + 1);
    return end == std::string::npos ? 0 : end + 5;
  }
  std::size_t cl = 0;
  if (auto v = head_header(head, "Content-Length")) cl = std::strtoull(v->c_str(), nullptr, 10);
  return in.size() >= body_start + cl ? body_start + cl : 0;
}
}  // namespace

void CaptureServer::run() {
  struct Conn {
    int fd;
    std::string in;
  };
  std::vector<Conn> conns;
  while (!stop_.load()) {
    std::vector<pollfd> fds;
    fds.push_back({listen_fd_, POLLIN, 0});
    for (auto& c : conns) fds.push_back({c.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        conns.push_back({fd, {}});
        connections_.fetch_add(1);
      }
    }
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto& c = conns[i - 1];
      char buf[65536];
      ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n <= 0) {
        ::close(c.fd);
        c.fd = -1;
        continue;
      }
      c.in.append(buf, static_cast<std::size_t>(n));
      while (std::size_t len = complete_request(c.in)) {
        {
          std::lock_guard lock(mu_);
          requests_.push_back(c.in.substr(0, len));
        }
        c.in.erase(0, len);
        std::string_view out = response_;
        while (!out.empty()) {
          ssize_t w = ::send(c.fd, out.data(), out.size(), MSG_NOSIGNAL);
          if (w <= 0) break;
          out.remove_prefix(static_cast<std::size_t>(w));
        }
      }
    }
    std::erase_if(conns, [](const Conn& c) { return c.fd < 0; });
  }
  for (auto& c : conns) ::close(c.fd);
}

}  // namespace itest
