// sd_notify(3) for a Type=notify service: READY=1 once the listeners are
// bound and the workers run, RELOADING=1 ... READY=1 around a SIGHUP,
// STOPPING=1 when a drain starts, STATUS= lines for `systemctl status`, and
// MAINPID= when a new binary takes over (binary_upgrade.hpp; the unit needs
// NotifyAccess=all for that, the new process being a child of the old).
// Every call is a no-op when NOTIFY_SOCKET is unset (not under systemd).
//
// Main thread only.
#pragma once

#include <sys/types.h>

#include <string>

namespace gateway::systemd {

// True if the message was sent (false: no NOTIFY_SOCKET, or it failed).
bool notify(const std::string& state);

void ready(const std::string& status);
// RELOADING=1 with MONOTONIC_USEC (as Type=notify-reload requires).
void reloading();
void stopping(const std::string& status);
void status(const std::string& status);
// The upgraded process: MAINPID=<its pid>, then READY=1.
void ready_as_main(const std::string& status);

}  // namespace gateway::systemd
