// Active health checks: every instance of a group with `health:` is probed
// with GET <path> at its interval; `fails` failures in a row take it out of
// rotation, `passes` successes bring it back.
//
// Runs on its own thread with a libcurl multi handle, so probes of many
// instances go out concurrently and never stall a worker. Verdicts are
// published through the groups' atomics.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "upstreams/group.hpp"

namespace gateway::upstreams {

class HealthChecker {
 public:
  HealthChecker() = default;
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Replaces the groups probed (at start and on reload). Thread-safe.
  void set_groups(std::vector<std::shared_ptr<Group>> groups);
  void start();
  void stop();

 private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Group>> groups_;
  bool changed_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace gateway::upstreams
