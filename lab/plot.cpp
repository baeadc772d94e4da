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
    sys.stderr.write("gateway-lab: --plot needs python3-matplotlib (apt-get install python3-matplotlib)\n")
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

}  // namespace

void plot_curves(const std::string& png, const std::string& title, const std::vector<PlotSeries>& series) {
  const std::filesystem::path data =
      std::filesystem::temp_directory_path() / ("gateway-lab-plot-" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(data);
    out << to_json(title, series);
    if (!out) throw LabError(data.string() + ": cannot write the plot's data");
  }
  const pid_t pid = ::fork();
  if (pid < 0) throw LabError("--plot: fork failed");
  if (pid == 0) {
    const std::string data_path = data.string();
    ::execlp("python3", "python3", "-c", kScript, data_path.c_str(), png.c_str(), static_cast<char*>(nullptr));
    std::fputs("gateway-lab: --plot needs python3 with python3-matplotlib (apt-get install python3-matplotlib)\n",
               stderr);
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::error_code ignored;
  std::filesystem::remove(data, ignored);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw LabError("--plot: could not render " + png +
                   (WIFEXITED(status) && (WEXITSTATUS(status) == 3 || WEXITSTATUS(status) == 127)
                        ? std::string(" (python3-matplotlib missing: apt-get install python3-matplotlib)")
                        : std::string(" (python3 failed, see above)")));
}

}  // namespace gateway::lab
