// sd_notify through libsystemd (see systemd.hpp).
#include "gateway/systemd.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>

namespace gateway::systemd {

bool notify(const std::string& state) {
  if (!std::getenv("NOTIFY_SOCKET")) return false;
  // unset_environment = 0: a successor started at an upgrade notifies too.
  return sd_notify(0, state.c_str()) > 0;
}

void ready(const std::string& status) { notify("READY=1\nSTATUS=" + status); }

void reloading() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  auto usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ull + static_cast<unsigned long long>(ts.tv_nsec) / 1000;
  notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading the configuration");
}

void stopping(const std::string& status) { notify("STOPPING=1\nSTATUS=" + status); }

void status(const std::string& status) { notify("STATUS=" + status); }

void ready_as_main(const std::string& status) {
  notify("MAINPID=" + std::to_string(::getpid()) + "\nREADY=1\nSTATUS=" + status);
}

}  // namespace gateway::systemd
