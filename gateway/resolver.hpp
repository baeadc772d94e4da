// DNS lookups for `resolve:` upstream groups, with c-ares: one thread of
// the server asks for the A and AAAA records of each watched name on its
// period and hands the answers to a sink; never a worker. DNS servers are
// the `resolver:` list, or the system's (/etc/resolv.conf, /etc/hosts).
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/units.hpp"

namespace gateway {

class Resolver {
 public:
  // The addresses (IP text, no brackets) a name has; nullopt: the lookup
  // failed (no answer, NXDOMAIN, no record).
  using Result = std::optional<std::vector<std::string>>;
  using Sink = std::function<void(const std::string& name, const Result& result)>;
  struct Watch {
    std::string name;
    Duration period;
  };

  Resolver() = default;
  ~Resolver() { stop(); }
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // One lookup of each name (concurrently), at most `timeout` in all.
  static std::map<std::string, Result> lookup(const std::vector<Endpoint>& servers,
                                              const std::vector<std::string>& names, Duration timeout);

  // Looks each name up on its period from now on (the first time after one
  // period), on the resolver thread, started on first use; replaces what
  // was watched. `sink` is called on that thread.
  void watch(std::vector<Endpoint> servers, std::vector<Watch> names, Sink sink);
  void stop();

 private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Endpoint> servers_;
  std::vector<Watch> names_;
  Sink sink_;
  bool changed_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace gateway
