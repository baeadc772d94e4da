// The harness's own process handling: what every other integration test
// stands on when it starts a gateway, a sample-service or a client tool.
#include <doctest/doctest.h>

#include <signal.h>

#include "harness.hpp"

using namespace itest;

TEST_CASE("harness: a spawned process writes to its files, and one that never answers is described") {
  TempDir dir;
  // While another thread of the test runs and allocates: what a forked
  // child could hang on before exec.
  std::atomic<bool> stop{false};
  std::thread busy([&] {
    while (!stop) std::vector<std::string>(64, std::string(100, 'x'));
  });
  for (int i = 0; i < 50; ++i) {
    Process p({"sh", "-c", "echo out; echo err >&2"}, dir.file("o"), dir.file("e"));
    REQUIRE(p.wait_exit(10s) == 0);
    CHECK(p.out() == "out\n");
    CHECK(p.err() == "err\n");
  }
  stop = true;
  busy.join();

  Process sleeper({"sleep", "60"}, dir.file("o"), dir.file("e"));
  // Asleep, past exec's last steps (its command line is set by then).
  REQUIRE(eventually([&] { return read_file("/proc/" + std::to_string(sleeper.pid()) + "/cmdline").size() > 0; }, 10s));
  std::string report = sleeper.not_ready_report();
  CAPTURE(report);
  CHECK(report.find("sleep 60") != std::string::npos);
  CHECK(report.find("State:") != std::string::npos);
  CHECK(report.find("wchan") != std::string::npos);

  CHECK_THROWS_WITH_AS(Process({"/nonexistent/program"}, dir.file("o"), dir.file("e")),
                       doctest::Contains("cannot start /nonexistent/program"), std::runtime_error);
}
