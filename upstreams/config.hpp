// The configuration of upstream groups: instances, balancing, keep-alive,
// retries and health. Plain values, filled by the server's YAML loader and
// read by the upstreams library; nothing here knows about routes or caching.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/units.hpp"

namespace gateway::upstreams {

enum class Balance { round_robin, weighted, least_conn, hash };

struct InstanceConfig {
  Endpoint address;
  int weight = 1;
};

struct HealthCheckConfig {
  std::string path = "/health";
  Duration interval{2'000};
  Duration timeout{1'000};
  int passes = 1;  // consecutive successes to mark up
  int fails = 2;   // consecutive failures to mark down
};

struct GroupConfig {
  std::string name;
  Balance balance = Balance::round_robin;
  std::vector<InstanceConfig> instances;
  int keepalive = 32;        // idle connections kept per worker per instance
  int retries = 1;           // extra tries on another instance
  int max_fails = 1;         // passive health: failures in a row ...
  Duration fail_timeout{10'000};  // ... take the instance out this long
                                  //     (never the only instance: availability.hpp)
  // Below this share of usable instances, in percent, the group balances
  // over all of them (Envoy's panic threshold; 0: never). availability.hpp.
  int panic_threshold = 50;
  std::optional<HealthCheckConfig> health;
};

}  // namespace gateway::upstreams
