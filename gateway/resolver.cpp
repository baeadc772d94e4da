#include "gateway/resolver.hpp"

#include <arpa/inet.h>
#include <ares.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <chrono>

namespace gateway {

namespace {

using SteadyClock = std::chrono::steady_clock;

void on_answer(void* arg, int status, int /*timeouts*/, ares_addrinfo* info) {
  auto& out = *static_cast<Resolver::Result*>(arg);
  if (status != ARES_SUCCESS || info == nullptr) {
    if (info) ares_freeaddrinfo(info);
    return;  // stays nullopt: failed
  }
  std::vector<std::string> addresses;
  for (auto* n = info->nodes; n; n = n->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (n->ai_family == AF_INET)
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(n->ai_addr)->sin_addr, text, sizeof text);
    else if (n->ai_family == AF_INET6)
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(n->ai_addr)->sin6_addr, text, sizeof text);
    else
      continue;
    if (std::find(addresses.begin(), addresses.end(), text) == addresses.end()) addresses.emplace_back(text);
  }
  ares_freeaddrinfo(info);
  std::sort(addresses.begin(), addresses.end());
  out = std::move(addresses);
}

std::string servers_csv(const std::vector<Endpoint>& servers) {
  std::string csv;
  for (const auto& s : servers) {
    if (!csv.empty()) csv += ",";
    csv += s.text;
  }
  return csv;
}

// Runs the channel's queries until they are all answered or `deadline`.
void drive(ares_channel channel, SteadyClock::time_point deadline) {
  for (;;) {
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
    std::vector<pollfd> fds;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short ev = (ARES_GETSOCK_READABLE(bits, i) ? POLLIN : 0) | (ARES_GETSOCK_WRITABLE(bits, i) ? POLLOUT : 0);
      if (ev) fds.push_back(pollfd{socks[i], ev, 0});
    }
    if (fds.empty()) return;  // nothing pending
    auto now = SteadyClock::now();
    if (now >= deadline) return;
    timeval max{}, tv{};
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - now).count();
    max.tv_sec = static_cast<time_t>(left / 1'000'000);
    max.tv_usec = static_cast<suseconds_t>(left % 1'000'000);
    auto* t = ares_timeout(channel, &max, &tv);
    int ms = static_cast<int>(t->tv_sec * 1000 + t->tv_usec / 1000) + 1;
    ::poll(fds.data(), fds.size(), ms);
    for (const auto& p : fds)
      ares_process_fd(channel, (p.revents & (POLLIN | POLLERR | POLLHUP)) ? p.fd : ARES_SOCKET_BAD,
                      (p.revents & POLLOUT) ? p.fd : ARES_SOCKET_BAD);
    ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
  }
}

}  // namespace

std::map<std::string, Resolver::Result> Resolver::lookup(const std::vector<Endpoint>& servers,
                                                         const std::vector<std::string>& names, Duration timeout) {
  static const int init = ares_library_init(ARES_LIB_INIT_ALL);
  (void)init;
  std::map<std::string, Result> results;
  for (const auto& n : names) results[n];
  ares_options options{};
  options.timeout = static_cast<int>(std::max<long>(100, timeout.count() / 2));  // per try, ms
  options.tries = 2;
  ares_channel channel = nullptr;
  if (ares_init_options(&channel, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) != ARES_SUCCESS) return results;
  if (!servers.empty()) ares_set_servers_ports_csv(channel, servers_csv(servers).c_str());
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  for (auto& [name, result] : results) ares_getaddrinfo(channel, name.c_str(), nullptr, &hints, on_answer, &result);
  drive(channel, SteadyClock::now() + timeout);
  ares_destroy(channel);  // what is left fails (ARES_EDESTRUCTION)
  return results;
}

void Resolver::watch(std::vector<Endpoint> servers, std::vector<Watch> names, Sink sink) {
  {
    std::lock_guard lock(mu_);
    servers_ = std::move(servers);
    names_ = std::move(names);
    sink_ = std::move(sink);
    changed_ = true;
  }
  cv_.notify_all();
  if (!thread_.joinable() && !names_.empty()) thread_ = std::thread([this] { run(); });
}

void Resolver::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Resolver::run() {
  std::unique_lock lock(mu_);
  std::map<std::string, SteadyClock::time_point> due;
  while (!stop_) {
    if (changed_) {
      changed_ = false;
      std::map<std::string, SteadyClock::time_point> next;
      for (const auto& w : names_) next[w.name] = due.count(w.name) ? due[w.name] : SteadyClock::now() + w.period;
      due = std::move(next);
    }
    auto now = SteadyClock::now();
    std::vector<std::string> ask;
    auto wake = now + std::chrono::hours(1);
    for (const auto& w : names_) {
      auto& d = due[w.name];
      if (d <= now) {
        ask.push_back(w.name);
        d = now + w.period;
      }
      wake = std::min(wake, d);
    }
    if (ask.empty()) {
      cv_.wait_until(lock, wake, [&] { return stop_ || changed_; });
      continue;
    }
    auto servers = servers_;
    auto sink = sink_;
    lock.unlock();
    // Bounded by the shortest period: the next round is not held up.
    auto left = std::chrono::duration_cast<Duration>(wake - now);
    auto results = lookup(servers, ask, std::clamp(left, Duration{200}, Duration{2'000}));
    for (const auto& [name, result] : results) sink(name, result);
    lock.lock();
  }
}

}  // namespace gateway
