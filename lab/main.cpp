// gateway-lab: replays request traces through the cache's own eviction and
// admission code (replay), draws miss-ratio curves (mrc) and makes
// synthetic traces (synth). See lab/cli.hpp for the command line.
//
// Exit status: 0 done, 1 bad input (a trace, an output file), 2 bad
// arguments.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "lab/cli.hpp"
#include "lab/plot.hpp"
#include "lab/trace_writer.hpp"

namespace gateway::lab {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int run_replay(const std::vector<std::string>& args) {
  const ReplayArgs a = parse_replay_args(args);
  const Trace trace = read_traces(a.common.traces, a.common.read);
  const TraceSummary summary{.requests = trace.requests.size(), .unique_bytes = full_footprint(trace).bytes,
                             .sample_rate = trace.sample_rate, .routes = trace.routes};
  const std::vector<Zone> zones = zones_of(a, summary.unique_bytes);
  const auto start = std::chrono::steady_clock::now();
  const std::vector<ReplayResult> results = replay_all(trace, zones, a.common.threads);
  std::cout << format_replay(summary, results, seconds_since(start), a.common.format, a.by_route);
  if (a.common.plot) {
    // One line per policy and admission: miss ratio over the sizes given.
    std::vector<PlotSeries> series;
    for (const ReplayResult& r : results) {
      const std::string name = series_name(r.zone.policy, r.zone.admission);
      if (series.empty() || series.back().name != name) series.push_back(PlotSeries{.name = name});
      series.back().sizes.push_back(r.zone.size);
      series.back().miss_ratios.push_back(1 - r.total.hit_ratio());
      series.back().spreads.push_back(0);
    }
    plot_curves(*a.common.plot, "gateway-lab replay: miss ratio by cache size", series);
  }
  return 0;
}

int run_mrc(const std::vector<std::string>& args) {
  const MrcArgs a = parse_mrc_args(args);
  const Trace trace = read_traces(a.common.traces, a.common.read);
  const MrcResult mrc = miss_ratio_curves(trace, a.mrc);
  std::cout << format_mrc(mrc, a.common.format);
  if (a.common.plot) {
    std::vector<PlotSeries> series;
    for (const MrcCurve& curve : mrc.curves) {
      PlotSeries s{.name = series_name(curve.policy, a.mrc.admission)};
      for (const MrcPoint& p : curve.points) {
        s.sizes.push_back(p.size);
        s.miss_ratios.push_back(p.miss_ratio);
        s.spreads.push_back(p.spread);
      }
      series.push_back(std::move(s));
    }
    std::string title = "miss-ratio curves (" + human_bytes(mrc.unique_bytes) + " unique";
    if (mrc.sample_rate < 1) title += ", SHARDS " + std::to_string(mrc.sample_rate).substr(0, 6);
    plot_curves(*a.common.plot, title + ")", series);
  }
  return 0;
}

int run_synth(const std::vector<std::string>& args) {
  const SynthArgs a = parse_synth_args(args);
  const SynthTrace synth = synthesize(a.synth);
  std::ofstream out(a.output, std::ios::binary | std::ios::trunc);
  if (!out) throw LabError(a.output + ": cannot create");
  if (a.csv) write_csv_trace(out, synth.trace, synth.objects);
  else write_gateway_trace(out, synth.trace);
  out.close();
  if (!out) throw LabError(a.output + ": write error");
  std::cerr << "gateway-lab: wrote " << synth.trace.requests.size() << " requests to " << a.output << " ("
            << human_bytes(footprint(synth.trace.requests).bytes) << " unique)\n";
  return 0;
}

int run(int argc, char** argv) {
  if (argc < 2) throw UsageError("no command given");
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "replay") return run_replay(args);
  if (command == "mrc") return run_mrc(args);
  if (command == "synth") return run_synth(args);
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return 0;
  }
  throw UsageError("unknown command '" + command + "'");
}

}  // namespace
}  // namespace gateway::lab

int main(int argc, char** argv) {
  using namespace gateway::lab;
  try {
    return run(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "gateway-lab: " << e.what() << "\n" << kUsage;
    return 2;
  } catch (const LabError& e) {
    std::cerr << "gateway-lab: " << e.what() << "\n";
    return 1;
  }
}
