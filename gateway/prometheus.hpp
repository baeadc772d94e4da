// The /metrics page: the Prometheus text exposition format (version 0.0.4)
// of everything the gateway counts. From the workers' counters, summed over
// workers: client connections, requests by route, page fragments, upstream
// response times, connections, errors and retries, TLS handshakes by
// listener, and what the cache did per zone and per route. From the Runtime:
// each upstream group's panic state, each cache zone's store (entries,
// bytes, writes, evictions, purges) and shared Redis tier.
//
// Runs on the worker serving the admin request. Counters are read through
// their atomics; WorkerMetrics' name maps are walked under their mutex,
// which workers take only when a configuration is applied.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gateway {

class WorkerMetrics;
struct Runtime;

namespace prometheus {

// A label value as the text format writes it: backslash, double quote and
// line feed become \\, \" and \n. Every other byte is copied as is: the
// format is UTF-8 and has no other escape (a JSON-style \u00XX would be read
// as those six characters).
std::string escape_label_value(std::string_view value);

// The families of the workers' counters: connections, bad requests,
// requests and fragments by route, upstream response times and
// connections, errors and retries, TLS handshakes. Appended to `out`.
void append_worker_families(std::string& out, const std::vector<const WorkerMetrics*>& workers);

// The cache families: responses by zone and by route and what the cache did
// (workers' counters), the zones' stores and shared tiers (from `rt`).
void append_cache_families(std::string& out, const std::vector<const WorkerMetrics*>& workers, const Runtime& rt);

// The whole page: worker families, each upstream group's panic state (from
// `rt`), then cache families.
std::string render(const std::vector<const WorkerMetrics*>& workers, const Runtime& rt);

}  // namespace prometheus
}  // namespace gateway
