// The configuration of upstream groups: instances, balancing, keep-alive,
// retries and health. Plain values, filled by the server's YAML loader and
// read by the upstreams library; nothing here knows about routes or caching.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/units.hpp"

namespace gateway::upstreams {

// p2c: power of two choices (Envoy's least_request).
enum class Balance { round_robin, weighted, least_conn, hash, p2c };

// Where an instance of a group comes from (H2: membership.hpp merges them).
enum class Source { file, resolve, api };
const char* to_string(Source s) noexcept;

struct InstanceConfig {
  Endpoint address;
  int weight = 1;
  Source source = Source::file;  // H2: the file, a `resolve:` lookup or the admin API
};

struct HealthCheckConfig {
  std::string path = "/health";
  Duration interval{2'000};
  Duration timeout{1'000};
  int passes = 1;  // consecutive successes to mark up
  int fails = 2;   // consecutive failures to mark down
};

class ClientTlsContext;  // upstreams/tls.hpp

// A group's `tls:` block: TLS to its instances.
struct TlsClientConfig {
  bool verify = true;  // check the instance's certificate and its name
  std::string ca;      // PEM file of the CAs to trust; empty: the system's store
  std::string sni;     // name sent (SNI) and checked; empty: the instance's host
  std::string cert;    // client certificate (PEM chain) and its key, for
  std::string key;     // instances that ask for one; both or neither
  // Built at load (so --check reports unreadable or mismatched files).
  std::shared_ptr<const ClientTlsContext> context;
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
  std::optional<TlsClientConfig> tls;  // none: plain HTTP to the instances
  // H2: re-resolve instance host names this often (their A/AAAA records
  // become the instances); zero: resolved once, at load.
  Duration resolve{0};
  // Balancing of unequal instances (issue 12):
  // - slow_start: an instance that joins or comes back gets a weight that
  //   ramps from 10% to its own over this long (0: off); slow_start.hpp;
  // - max_conns: requests in flight per instance, over all workers (0:
  //   unlimited); past it requests wait in the group's queue (slots.hpp),
  //   at most max_queue of them (over all workers; 0: none wait, a full
  //   group answers 503 at once), each at most queue_timeout (then 503).
  Duration slow_start{0};
  int max_conns = 0;
  int max_queue = 100;
  Duration queue_timeout{5'000};
};

}  // namespace gateway::upstreams
