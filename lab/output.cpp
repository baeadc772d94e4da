// Output formatting (see output.hpp).
#include "lab/output.hpp"

#include <cstdio>

#include "base/json.hpp"

namespace gateway::lab {
namespace {

std::string printf_string(const char* format, auto... args) {
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf, format, args...);
  return std::string(buf, n < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
}

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

struct Row {
  const ReplayResult& result;
  std::string route;  // "" for the total
  const Counters& counters;
};

std::vector<Row> rows_of(const TraceSummary& trace, const std::vector<ReplayResult>& results, bool by_route) {
  std::vector<Row> rows;
  for (const ReplayResult& r : results) {
    rows.push_back({r, "", r.total});
    if (!by_route) continue;
    for (std::size_t i = 0; i < r.routes.size() && i < trace.routes.size(); ++i)
      if (r.routes[i].requests) rows.push_back({r, trace.routes[i], r.routes[i]});
  }
  return rows;
}

}  // namespace

std::optional<OutputFormat> parse_output_format(std::string_view name) {
  if (name == "table") return OutputFormat::table;
  if (name == "csv") return OutputFormat::csv;
  if (name == "json") return OutputFormat::json;
  return std::nullopt;
}

std::string series_name(const cache::PolicySpec& policy, const cache::AdmissionSpec& admission) {
  std::string name = cache::to_string(policy);
  if (admission.kind != cache::AdmissionKind::none) name += "+" + cache::to_string(admission);
  return name;
}

std::string human_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) v /= 1024, ++unit;
  return unit == 0 ? printf_string("%llu B", ull(bytes)) : printf_string("%.1f %s", v, kUnits[unit]);
}

std::string format_replay(const TraceSummary& trace, const std::vector<ReplayResult>& results, double wall_seconds,
                          OutputFormat format, bool by_route) {
  const std::vector<Row> rows = rows_of(trace, results, by_route);
  std::uint64_t simulated = 0;
  for (const ReplayResult& r : results) simulated += r.total.requests;
  const double total_rate = wall_seconds > 0 ? static_cast<double>(simulated) / wall_seconds : 0;
  std::string out;
  switch (format) {
    case OutputFormat::table:
      out += printf_string("trace: %llu requests, %s unique, sample rate %g\n", ull(trace.requests),
                           human_bytes(trace.unique_bytes).c_str(), trace.sample_rate);
      out += printf_string("%-28s %-12s %-8s %11s %10s %9s %9s %12s\n", "policy", "admission", "size", "bytes",
                           "requests", "hit%", "byte_hit%", "requests/s");
      for (const Row& row : rows) {
        const ReplayResult& r = row.result;
        std::string policy = cache::to_string(r.zone.policy);
        if (!row.route.empty()) policy = "  route " + row.route;
        out += printf_string("%-28s %-12s %-8s %11s %10llu %9.2f %9.2f %12.0f\n", policy.c_str(),
                             cache::to_string(r.zone.admission).c_str(), r.zone.label.c_str(),
                             human_bytes(r.zone.size).c_str(), ull(row.counters.requests),
                             100 * row.counters.hit_ratio(), 100 * row.counters.byte_hit_ratio(), r.rate());
      }
      out += printf_string("total: %zu simulations, %llu requests in %.2f s: %.0f requests/s\n", results.size(),
                           ull(simulated), wall_seconds, total_rate);
      return out;
    case OutputFormat::csv:
      out += "policy,admission,size,size_bytes,route,requests,hits,hit_ratio,bytes,hit_bytes,byte_hit_ratio,"
             "evictions,seconds,requests_per_s\n";
      for (const Row& row : rows) {
        const ReplayResult& r = row.result;
        const Counters& c = row.counters;
        out += printf_string("%s,%s,%s,%llu,%s,%llu,%llu,%.6f,%llu,%llu,%.6f,%llu,%.6f,%.0f\n",
                             cache::to_string(r.zone.policy).c_str(), cache::to_string(r.zone.admission).c_str(),
                             r.zone.label.c_str(), ull(r.zone.size), row.route.c_str(), ull(c.requests), ull(c.hits),
                             c.hit_ratio(), ull(c.bytes), ull(c.hit_bytes), c.byte_hit_ratio(), ull(r.evictions),
                             r.seconds, r.rate());
      }
      return out;
    case OutputFormat::json: {
      out += printf_string("{\"trace\":{\"requests\":%llu,\"unique_bytes\":%llu,\"sample_rate\":%g},\"results\":[",
                           ull(trace.requests), ull(trace.unique_bytes), trace.sample_rate);
      for (std::size_t i = 0; i < rows.size(); ++i) {
        const ReplayResult& r = rows[i].result;
        const Counters& c = rows[i].counters;
        out += i ? "," : "";
        out += "{\"policy\":" + json::quote(cache::to_string(r.zone.policy)) +
               ",\"admission\":" + json::quote(cache::to_string(r.zone.admission)) + ",\"size\":" + json::quote(r.zone.label);
        if (!rows[i].route.empty()) out += ",\"route\":" + json::quote(rows[i].route);
        out += printf_string(",\"size_bytes\":%llu,\"requests\":%llu,\"hits\":%llu,\"hit_ratio\":%.6f,"
                             "\"byte_hit_ratio\":%.6f,\"evictions\":%llu,\"requests_per_s\":%.0f}",
                             ull(r.zone.size), ull(c.requests), ull(c.hits), c.hit_ratio(), c.byte_hit_ratio(),
                             ull(r.evictions), r.rate());
      }
      out += printf_string("],\"wall_seconds\":%.6f,\"requests_per_s\":%.0f}\n", wall_seconds, total_rate);
      return out;
    }
  }
  return out;
}

std::string format_mrc(const MrcResult& mrc, OutputFormat format) {
  std::string out;
  const double unique = static_cast<double>(mrc.unique_bytes ? mrc.unique_bytes : 1);
  std::string method = "exact (one simulation per size over the whole trace)";
  if (mrc.sample_rate < 1.0) {
    method = printf_string("SHARDS at rate %g (more at small sizes) over %u hash salts, adjusted; spread of the "
                           "salts up to %.2f points",
                           mrc.sample_rate, mrc.salts, 100 * mrc.max_spread);
    if (mrc.measured_error >= 0)
      method += printf_string("; measured error against exact on the first %llu requests: %.2f points",
                              ull(mrc.validated_requests), 100 * mrc.measured_error);
  }
  switch (format) {
    case OutputFormat::table:
      out += printf_string("trace: %llu requests, %s unique; %s; %.2f s\n", ull(mrc.requests),
                           human_bytes(mrc.unique_bytes).c_str(), method.c_str(), mrc.seconds);
      for (const MrcCurve& curve : mrc.curves) {
        out += "\n" + cache::to_string(curve.policy) + "\n";
        out += printf_string("%12s %9s %9s %10s %8s\n", "size", "size%", "miss%", "byte_miss%", "+-");
        for (const MrcPoint& p : curve.points)
          out += printf_string("%12s %9.3f %9.2f %10.2f %8.2f\n", human_bytes(p.size).c_str(),
                               100 * static_cast<double>(p.size) / unique, 100 * p.miss_ratio,
                               100 * p.byte_miss_ratio, 100 * p.spread);
      }
      return out;
    case OutputFormat::csv:
      out += "policy,size_bytes,size_fraction,miss_ratio,byte_miss_ratio,spread,sample_rate\n";
      for (const MrcCurve& curve : mrc.curves)
        for (const MrcPoint& p : curve.points)
          out += printf_string("%s,%llu,%.6f,%.6f,%.6f,%.6f,%g\n", cache::to_string(curve.policy).c_str(),
                               ull(p.size), static_cast<double>(p.size) / unique, p.miss_ratio, p.byte_miss_ratio,
                               p.spread, p.rate);
      return out;
    case OutputFormat::json:
      out += printf_string("{\"requests\":%llu,\"unique_bytes\":%llu,\"sample_rate\":%g,\"salts\":%u,"
                           "\"max_spread\":%.6f,\"measured_error\":%.6f,\"validated_requests\":%llu,\"method\":",
                           ull(mrc.requests), ull(mrc.unique_bytes), mrc.sample_rate, mrc.salts, mrc.max_spread,
                           mrc.measured_error, ull(mrc.validated_requests));
      out += json::quote(method) + ",\"curves\":[";
      for (std::size_t c = 0; c < mrc.curves.size(); ++c) {
        out += (c ? ",{\"policy\":" : "{\"policy\":") + json::quote(cache::to_string(mrc.curves[c].policy)) + ",\"points\":[";
        for (std::size_t i = 0; i < mrc.curves[c].points.size(); ++i) {
          const MrcPoint& p = mrc.curves[c].points[i];
          out += printf_string("%s{\"size_bytes\":%llu,\"miss_ratio\":%.6f,\"byte_miss_ratio\":%.6f,\"spread\":%.6f,"
                               "\"sample_rate\":%g}",
                               i ? "," : "", ull(p.size), p.miss_ratio, p.byte_miss_ratio, p.spread, p.rate);
        }
        out += "]}";
      }
      out += "]}\n";
      return out;
  }
  return out;
}

}  // namespace gateway::lab
