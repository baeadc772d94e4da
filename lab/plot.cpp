// Plots through python3-matplotlib (see plot.hpp): the data goes to the
// child as a small JSON document on its command line's file argument, the
// script inline (-c), so nothing is installed besides the binary.
#include "lab/plot.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "base/json.hpp"
#include "lab/trace.hpp"

namespace gateway::lab {
namespace {

constexpr const char* kScript = R"PY(
import json, sys
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit(3)
data = json.load(open(sys.argv[1]))
fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
for s in data["series"]:
    x = [v / 2**20 for v in s["sizes"]]
    y = [100 * v for v in s["miss"]]
    e = [100 * v for v in s["spread"]]
    if any(e):
        ax.errorbar(x, y, yerr=e, marker="o", markersize=3, capsize=2, label=s["name"])
    else:
        ax.plot(x, y, marker="o", markersize=3, label=s["name"])
ax.set_xscale("log")
ax.set_xlabel("cache size (MiB, log scale)")
ax.set_ylabel("miss ratio (%)")
ax.set_title(data["title"])
ax.grid(True, which="both", alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(sys.argv[2])
)PY";

std::string to_json(const std::string& title, const std::vector<PlotSeries>& series) {
  std::string out = "{\"title\":" + json::quote(title) + ",\"series\":[";
  for (std::size_t i = 0; i < series.size(); ++i) {
    const PlotSeries& s = series[i];
    out += (i ? ",{\"name\":" : "{\"name\":") + json::quote(s.name);
    auto list = [&](const char* key, const auto& values) {
      out += std::string(",\"") + key + "\":[";
      for (std::size_t k = 0; k < values.size(); ++k) out += (k ? "," : "") + std::to_string(values[k]);
      out += "]";
    };
    list("sizes", s.sizes);
    list("miss", s.miss_ratios);
    list("spread", s.spreads);
    out += "}";
  }
  return out + "]}";
}

// Runs one interpreter on the script; its exit status (127: not found).
int run_python(const char* python, const std::string& data, const std::string& png) {
  const pid_t pid = ::fork();
  if (pid < 0) throw LabError("--plot: fork failed");
  if (pid == 0) {
    ::execlp(python, python, "-c", kScript, data.c_str(), png.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

}  // namespace

void plot_curves(const std::string& png, const std::string& title, const std::vector<PlotSeries>& series) {
  const std::filesystem::path data =
      std::filesystem::temp_directory_path() / ("gateway-lab-plot-" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(data);
    out << to_json(title, series);
    if (!out) throw LabError(data.string() + ": cannot write the plot's data");
  }
  // The python3 on PATH first; then Debian's, where python3-matplotlib
  // installs (a pyenv or venv python3 on PATH does not see it).
  int status = 127;
  for (const char* python : {"python3", "/usr/bin/python3"}) {
    status = run_python(python, data.string(), png);
    if (status != 3 && status != 127) break;  // 3: no matplotlib there
  }
  std::error_code ignored;
  std::filesystem::remove(data, ignored);
  if (status == 3 || status == 127)
    throw LabError("--plot: needs python3 with matplotlib (Debian: apt-get install python3-matplotlib)");
  if (status != 0) throw LabError("--plot: python3 could not render " + png + " (see above)");
}

}  // namespace gateway::lab
