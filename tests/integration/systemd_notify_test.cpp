// sd_notify as systemd sees it (Type=notify, NotifyAccess=all): the test
// binds an AF_UNIX datagram socket, passes it as NOTIFY_SOCKET and reads
// what the gateway sends: READY=1 once the port accepts, RELOADING=1 then
// READY=1 around SIGHUP, MAINPID=<new pid> with READY=1 from the binary a
// SIGUSR2 starts, STOPPING=1 on SIGTERM.
#include <doctest/doctest.h>

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "upgrade_fixture.hpp"

using namespace itest;

namespace {

// The datagram socket systemd would listen on.
class NotifySocket {
 public:
  explicit NotifySocket(const TempDir& dir) : path_(dir.file("notify")) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    REQUIRE(path_.size() < sizeof sa.sun_path);
    std::strcpy(sa.sun_path, path_.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  }
  ~NotifySocket() { ::close(fd_); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  const std::string& path() const { return path_; }

  // The next message, or nullopt if none arrives within `timeout`.
  std::optional<std::string> next(Ms timeout = 10s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buf[4096];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }
  // Messages until one holds `needle` (returned), skipping the others.
  std::optional<std::string> until(std::string_view needle, Ms timeout = 10s) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      auto left = std::chrono::duration_cast<Ms>(end - std::chrono::steady_clock::now());
      auto m = next(left);
      if (!m) return std::nullopt;
      if (m->find(needle) != std::string::npos) return m;
      skipped_.push_back(*m);
    }
    return std::nullopt;
  }
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> skipped_;
};

bool has_line(const std::string& message, const std::string& line) {
  return ("\n" + message + "\n").find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("systemd: READY, RELOADING then READY, MAINPID of the upgraded process, STOPPING") {
  TempDir dir;
  SampleService svc(dir);
  NotifySocket notify(dir);
  ::setenv("NOTIFY_SOCKET", notify.path().c_str(), 1);
  UpgradeGateway gw(dir, "workers: 2\nupstreams:\n" + upstream_yaml("app", {&svc}) +
                             "routes:\n  - {prefix: /, upstream: app}\n");
  ::unsetenv("NOTIFY_SOCKET");

  auto ready = notify.next();
  REQUIRE(ready.has_value());
  CHECK(has_line(*ready, "READY=1"));
  CHECK(ready->find("STATUS=serving 1 listeners with 2 workers") != std::string::npos);
  CHECK(can_connect(gw.port()));

  gw.process().signal(SIGHUP);
  auto reloading = notify.next();
  REQUIRE(reloading.has_value());
  CHECK(has_line(*reloading, "RELOADING=1"));
  CHECK(reloading->find("MONOTONIC_USEC=") != std::string::npos);
  auto reloaded = notify.next();
  REQUIRE(reloaded.has_value());
  CHECK(has_line(*reloaded, "READY=1"));

  gw.process().signal(SIGUSR2);
  auto main_pid = notify.until("MAINPID=", 30s);
  REQUIRE(main_pid.has_value());
  CHECK(has_line(*main_pid, "READY=1"));
  pid_t new_pid = 0;
  REQUIRE(eventually([&] { return (new_pid = gw.serving_pid()) != gw.first_pid() && new_pid > 0; }, 10s));
  CHECK(has_line(*main_pid, "MAINPID=" + std::to_string(new_pid)));
  REQUIRE(gw.process().wait_exit(30s) == 0);
  // The old process drained without telling systemd the service stops.
  for (const auto& m : notify.skipped()) CHECK_FALSE(has_line(m, "STOPPING=1"));
  while (auto m = notify.next(200ms)) CHECK_FALSE(has_line(*m, "STOPPING=1"));

  ::kill(new_pid, SIGTERM);
  auto stopping = notify.until("STOPPING=1");
  REQUIRE(stopping.has_value());
}
