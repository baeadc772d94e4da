// Command-line parsing (see cli.hpp).
#include "lab/cli.hpp"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>

#include "base/units.hpp"

namespace gateway::lab {

const char* const kUsage =
    "usage: gateway-lab replay TRACE... [--policy lru,s3fifo,sieve] [--size 1%,5%,10%|BYTES]\n"
    "                          [--admission none,min_uses:N,tinylfu] [--format table|csv|json]\n"
    "                          [--trace-format gateway|csv|oracle] [--block BYTES] [--threads N]\n"
    "                          [--by-route] [--plot FILE.png]\n"
    "       gateway-lab mrc TRACE... [--policy LIST] [--admission SPEC] [--points N] [--sample R]\n"
    "                       [--salts N] [--exact-limit N] [--format table|csv|json] [--plot FILE.png]\n"
    "       gateway-lab synth zipf|scan|one-hit-wonder|diurnal -o FILE [--alpha A] [--requests N]\n"
    "                       [--objects N] [--size lognormal:1k-64k|uniform:A-B|fixed:N] [--seed S]\n"
    "                       [--ttl DURATION] [--rate R] [--share F] [--period DURATION] [--format gateway|csv]\n"
    "traces: the gateway's (a zone's trace:, several files oldest first), CSV time,key,size[,ttl]\n"
    "        (seconds, any text or a number, bytes, seconds: 0 = not storable, none = never stale)\n"
    "        or libCacheSim oracleGeneral; found by magic and name, or --trace-format\n";

namespace {

using Handler = std::function<void(const std::string&)>;

// Splits args into options (each through its handler) and positionals.
// "--name value" and "--name=value"; flags take no value.
std::vector<std::string> parse_options(const std::vector<std::string>& args, const std::map<std::string, Handler>& options,
                                       const std::map<std::string, std::function<void()>>& flags = {}) {
  std::vector<std::string> positionals;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 2 || arg[0] != '-') {
      positionals.push_back(arg);
      continue;
    }
    const std::size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    if (auto f = flags.find(name); f != flags.end() && eq == std::string::npos) {
      f->second();
      continue;
    }
    auto o = options.find(name);
    if (o == options.end()) throw UsageError("unknown option " + name);
    if (eq != std::string::npos) {
      o->second(arg.substr(eq + 1));
    } else {
      if (i + 1 >= args.size()) throw UsageError(name + ": needs a value");
      o->second(args[++i]);
    }
  }
  return positionals;
}

template <typename T>
T number(const std::string& option, const std::string& text, T low, T high) {
  T v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || !(v >= low && v <= high))
    throw UsageError(option + ": '" + text + "' is not a number in [" + std::to_string(low) + ", " +
                     std::to_string(high) + "]");
  return v;
}

std::vector<std::string> split(const std::string& text, char by) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = text.find(by, start);
    parts.push_back(text.substr(start, at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

std::map<std::string, Handler> common_options(CommonArgs& c) {
  return {
      {"--format", [&c](const std::string& v) {
         auto f = parse_output_format(v);
         if (!f) throw UsageError("--format: '" + v + "' is not one of table, csv, json");
         c.format = *f;
       }},
      {"--trace-format", [&c](const std::string& v) {
         c.read.format = parse_trace_format(v);
         if (!c.read.format) throw UsageError("--trace-format: '" + v + "' is not one of gateway, csv, oracle");
       }},
      {"--block", [&c](const std::string& v) {
         auto b = parse_size(v);
         if (!b || *b == 0 || *b > (1u << 30)) throw UsageError("--block: '" + v + "' is not a block size (1 = exact)");
         c.read.block = *b;
       }},
      {"--threads", [&c](const std::string& v) { c.threads = number<unsigned>("--threads", v, 1, 1024); }},
      {"--plot", [&c](const std::string& v) {
         if (v.empty()) throw UsageError("--plot: needs a file name");
         c.plot = v;
       }},
  };
}

void need_traces(CommonArgs& c, std::vector<std::string> positionals, const char* command) {
  if (positionals.empty()) throw UsageError(std::string(command) + ": no trace file given");
  c.traces = std::move(positionals);
}

}  // namespace

namespace {

// Each comma-separated item through `parse` (one of cache/'s spec parsers).
template <typename Spec, typename Parse>
std::vector<Spec> parse_list(const char* option, const std::string& text, Parse parse) {
  std::vector<Spec> out;
  for (const std::string& item : split(text, ',')) {
    std::string error;
    auto spec = parse(item, error, nullptr);
    if (!spec) throw UsageError(std::string(option) + ": '" + item + "': " + error);
    out.push_back(*spec);
  }
  return out;
}

}  // namespace

std::vector<cache::PolicySpec> parse_policy_list(const std::string& text) {
  return parse_list<cache::PolicySpec>("--policy", text, cache::parse_policy_spec);
}

std::vector<cache::AdmissionSpec> parse_admission_list(const std::string& text) {
  return parse_list<cache::AdmissionSpec>("--admission", text, cache::parse_admission_spec);
}

std::vector<SizeArg> parse_size_list(const std::string& text) {
  std::vector<SizeArg> out;
  for (const std::string& item : split(text, ',')) {
    SizeArg size;
    size.label = item;
    if (!item.empty() && item.back() == '%') {
      double pct = 0;
      const std::string digits = item.substr(0, item.size() - 1);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pct);
      if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() || !(pct > 0 && pct <= 100))
        throw UsageError("--size: '" + item + "' is not a percentage in (0, 100]");
      size.fraction = pct / 100;
    } else {
      auto bytes = parse_size(item);
      if (!bytes || *bytes == 0) throw UsageError("--size: '" + item + "' is neither N% nor a size (e.g. 64MiB)");
      size.bytes = *bytes;
    }
    out.push_back(size);
  }
  return out;
}

ReplayArgs parse_replay_args(const std::vector<std::string>& args) {
  ReplayArgs r;
  r.policies = parse_policy_list("lru,s3fifo,sieve");
  r.admissions = parse_admission_list("none");
  r.sizes = parse_size_list("1%,5%,10%");
  auto options = common_options(r.common);
  options["--policy"] = [&r](const std::string& v) { r.policies = parse_policy_list(v); };
  options["--admission"] = [&r](const std::string& v) { r.admissions = parse_admission_list(v); };
  options["--size"] = [&r](const std::string& v) { r.sizes = parse_size_list(v); };
  need_traces(r.common, parse_options(args, options, {{"--by-route", [&r] { r.by_route = true; }}}), "replay");
  return r;
}

MrcArgs parse_mrc_args(const std::vector<std::string>& args) {
  MrcArgs m;
  m.mrc.policies = parse_policy_list("lru,s3fifo,sieve");
  auto options = common_options(m.common);
  options["--policy"] = [&m](const std::string& v) { m.mrc.policies = parse_policy_list(v); };
  options["--admission"] = [&m](const std::string& v) {
    auto list = parse_admission_list(v);
    if (list.size() != 1) throw UsageError("--admission: mrc takes one admission rule");
    m.mrc.admission = list.front();
  };
  options["--points"] = [&m](const std::string& v) { m.mrc.points = number<unsigned>("--points", v, 2, 1000); };
  options["--sample"] = [&m](const std::string& v) { m.mrc.sample = number<double>("--sample", v, 1e-6, 1.0); };
  options["--salts"] = [&m](const std::string& v) { m.mrc.salts = number<unsigned>("--salts", v, 1, 64); };
  options["--exact-limit"] = [&m](const std::string& v) {
    m.mrc.exact_limit = number<std::uint64_t>("--exact-limit", v, 1, 1ull << 40);
  };
  need_traces(m.common, parse_options(args, options), "mrc");
  m.mrc.threads = m.common.threads;
  return m;
}

SynthArgs parse_synth_args(const std::vector<std::string>& args) {
  SynthArgs s;
  SynthOptions& o = s.synth;
  auto duration_s = [](const std::string& option, const std::string& v) {
    auto d = parse_duration(v);
    if (!d) throw UsageError(option + ": '" + v + "' is not a duration (e.g. 60s, 10m, 1d)");
    return static_cast<double>(d->count()) / 1000;
  };
  std::map<std::string, Handler> options = {
      {"--alpha", [&o](const std::string& v) { o.alpha = number<double>("--alpha", v, 0.0, 5.0); }},
      {"--requests", [&o](const std::string& v) { o.requests = number<std::uint64_t>("--requests", v, 1, 1ull << 32); }},
      {"--objects", [&o](const std::string& v) { o.objects = number<std::uint64_t>("--objects", v, 1, 1ull << 28); }},
      {"--size", [&o](const std::string& v) {
         auto spec = parse_size_spec(v);
         if (!spec) throw UsageError("--size: '" + v + "' is not lognormal:LOW-HIGH, uniform:LOW-HIGH or fixed:N");
         o.sizes = *spec;
       }},
      {"--seed", [&o](const std::string& v) { o.seed = number<std::uint64_t>("--seed", v, 0, ~0ull); }},
      {"--ttl", [&o, duration_s](const std::string& v) {
         o.ttl = static_cast<std::uint32_t>(std::min(duration_s("--ttl", v), 4294967294.0));
       }},
      {"--rate", [&o](const std::string& v) { o.rate = number<double>("--rate", v, 1e-3, 1e9); }},
      {"--share", [&o](const std::string& v) { o.share = number<double>("--share", v, 0.0, 1.0); }},
      {"--period", [&o, duration_s](const std::string& v) {
         o.period_s = duration_s("--period", v);
         if (o.period_s <= 0) throw UsageError("--period: must be positive");
       }},
      {"--format", [&s](const std::string& v) {
         if (v != "gateway" && v != "csv") throw UsageError("--format: '" + v + "' is not one of gateway, csv");
         s.csv = v == "csv";
       }},
      {"-o", [&s](const std::string& v) { s.output = v; }},
      {"--output", [&s](const std::string& v) { s.output = v; }},
  };
  const auto positionals = parse_options(args, options);
  if (positionals.size() != 1) throw UsageError("synth: name one kind: zipf, scan, one-hit-wonder or diurnal");
  auto kind = parse_synth_kind(positionals[0]);
  if (!kind) throw UsageError("synth: '" + positionals[0] + "' is not one of zipf, scan, one-hit-wonder, diurnal");
  o.kind = *kind;
  if (s.output.empty()) throw UsageError("synth: -o FILE is required");
  return s;
}

std::vector<Zone> zones_of(const ReplayArgs& args, std::uint64_t unique_bytes) {
  std::vector<Zone> zones;
  for (const auto& policy : args.policies)
    for (const auto& admission : args.admissions)
      for (const SizeArg& size : args.sizes) {
        const std::uint64_t bytes =
            size.fraction ? static_cast<std::uint64_t>(std::llround(*size.fraction * static_cast<double>(unique_bytes)))
                          : size.bytes;
        zones.push_back(Zone{.policy = policy, .admission = admission, .size = bytes, .label = size.label});
      }
  return zones;
}

}  // namespace gateway::lab
