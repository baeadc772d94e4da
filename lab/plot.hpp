// PNG plots of miss-ratio curves with python3-matplotlib (Debian's
// package; scripts/setup.sh installs it with the test set): miss ratio
// over cache size, one line per series, the size axis logarithmic so the
// knee of each curve shows. Runs python3 as a child process and waits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gateway::lab {

struct PlotSeries {
  std::string name{};
  std::vector<std::uint64_t> sizes{};    // bytes
  std::vector<double> miss_ratios{};     // 0..1
  std::vector<double> spreads{};         // error bars (0: none)
};

// Writes `png`. Throws LabError with a clear message if python3 or
// matplotlib is missing, or if the plot fails.
void plot_curves(const std::string& png, const std::string& title, const std::vector<PlotSeries>& series);

}  // namespace gateway::lab
