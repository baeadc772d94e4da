// Shared by the membership tests (membership_*_test.cpp): admin API calls,
// reading GET /upstreams, and a tiny DNS responder for `resolve:`.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace itest {

inline Response admin_call(const Gateway& gw, std::string method, std::string path, std::string body = "") {
  Client c;
  Request r;
  r.method = std::move(method);
  r.url = url(gw.admin_port(), path);
  r.body = std::move(body);
  if (!r.body.empty()) r.headers.push_back("Content-Type: application/json");
  return c.send(r);
}

// One instance as GET /upstreams lists it.
struct Listed {
  std::string address;
  std::string state;
  std::string source;
  std::int64_t weight = 0;
  std::int64_t in_flight = 0;
};

inline std::string json_string_field(std::string_view obj, std::string_view field) {
  auto key = "\"" + std::string(field) + "\":\"";
  auto p = obj.find(key);
  if (p == std::string_view::npos) return "";
  p += key.size();
  return std::string(obj.substr(p, obj.find('"', p) - p));
}

// The instances of `group` in a GET /upstreams answer.
inline std::vector<Listed> listed(const Gateway& gw, std::string_view group) {
  auto body = admin_call(gw, "GET", "/upstreams").body;
  std::vector<Listed> out;
  auto start = body.find("\"" + std::string(group) + "\":{\"instances\":[");
  if (start == std::string::npos) return out;
  auto end = body.find("]}", start);
  std::string_view list = std::string_view(body).substr(start, end - start);
  for (auto p = list.find("{\"address\""); p != std::string_view::npos; p = list.find("{\"address\"", p + 1)) {
    auto obj = list.substr(p, list.find('}', p) - p);
    Listed l;
    l.address = json_string_field(obj, "address");
    l.state = json_string_field(obj, "state");
    l.source = json_string_field(obj, "source");
    l.weight = json_int(obj, "weight").value_or(-1);
    l.in_flight = json_int(obj, "in_flight").value_or(-1);
    out.push_back(std::move(l));
  }
  return out;
}

inline std::optional<Listed> find_listed(const Gateway& gw, std::string_view group, std::string_view address) {
  for (auto& l : listed(gw, group))
    if (l.address == address) return l;
  return std::nullopt;
}

// The instance of `group` with a request in flight, once there is one ("" if none comes).
inline std::string busy_instance(const Gateway& gw, std::string_view group) {
  std::string busy;
  eventually([&] {
    for (const auto& l : listed(gw, group))
      if (l.in_flight == 1) busy = l.address;
    return !busy.empty();
  });
  return busy;
}

// A DNS server on a loopback UDP port answering A and AAAA questions from a
// table the test changes; a name not in the table gets NXDOMAIN.
class DnsResponder {
 public:
  DnsResponder() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) throw std::runtime_error("dns bind");
    socklen_t len = sizeof sa;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~DnsResponder() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  DnsResponder(const DnsResponder&) = delete;
  DnsResponder& operator=(const DnsResponder&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // The addresses of `name` (IPv4 and IPv6 text); empty: NXDOMAIN.
  void set(const std::string& name, std::vector<std::string> addresses) {
    std::lock_guard lock(mu_);
    if (addresses.empty())
      table_.erase(name);
    else
      table_[name] = std::move(addresses);
  }
  int queries() const { return queries_.load(); }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      unsigned char q[512];
      sockaddr_in from{};
      socklen_t flen = sizeof from;
      auto n = ::recvfrom(fd_, q, sizeof q, 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n < 17) continue;
      ++queries_;
      auto reply = answer(q, static_cast<std::size_t>(n));
      if (!reply.empty())
        ::sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
    }
  }

  std::string answer(const unsigned char* q, std::size_t n) {
    // The question: labels from offset 12, then type and class.
    std::size_t i = 12;
    std::string name;
    while (i < n && q[i] != 0) {
      std::size_t len = q[i];
      if (i + 1 + len > n) return "";
      if (!name.empty()) name += ".";
      name.append(reinterpret_cast<const char*>(q + i + 1), len);
      i += 1 + len;
    }
    if (i + 5 > n) return "";
    std::size_t qend = i + 5;
    int qtype = (q[i + 1] << 8) | q[i + 2];
    std::vector<std::string> records;
    bool known = false;
    {
      std::lock_guard lock(mu_);
      auto it = table_.find(name);
      known = it != table_.end();
      if (known)
        for (const auto& a : it->second)
          if ((a.find(':') != std::string::npos) == (qtype == 28) && (qtype == 1 || qtype == 28)) records.push_back(a);
    }
    std::string r(reinterpret_cast<const char*>(q), qend);
    r[2] = static_cast<char>(0x84 | (q[2] & 0x01));  // QR, AA, RD as asked
    r[3] = static_cast<char>(known ? 0x80 : 0x83);   // RA; NXDOMAIN if unknown
    r[4] = 0, r[5] = 1;                               // one question
    r[6] = 0, r[7] = static_cast<char>(records.size());
    r[8] = r[9] = r[10] = r[11] = 0;
    for (const auto& a : records) {
      bool v6 = qtype == 28;
      unsigned char rdata[16];
      ::inet_pton(v6 ? AF_INET6 : AF_INET, a.c_str(), rdata);
      const unsigned char rr[] = {0xC0, 0x0C, 0, static_cast<unsigned char>(qtype), 0, 1, 0, 0, 0, 1,
                                  0, static_cast<unsigned char>(v6 ? 16 : 4)};
      r.append(reinterpret_cast<const char*>(rr), sizeof rr);
      r.append(reinterpret_cast<const char*>(rdata), v6 ? 16 : 4);
    }
    return r;
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::mutex mu_;
  std::map<std::string, std::vector<std::string>> table_;
  std::thread thread_;
};

}  // namespace itest
