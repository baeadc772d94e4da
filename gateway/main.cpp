// gateway: a caching reverse proxy and aggregation gateway.
//
//   gateway -c FILE          run with FILE
//   gateway --check -c FILE  validate FILE and exit (like nginx -t)
#include <curl/curl.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "gateway/config.hpp"
#include "base/log.hpp"
#include "gateway/binary_upgrade.hpp"
#include "gateway/handover.hpp"
#include "gateway/runtime.hpp"
#include "gateway/server.hpp"
#include "gateway/systemd.hpp"

#ifndef GATEWAY_VERSION
#define GATEWAY_VERSION "dev"
#endif

namespace {

constexpr const char* kUsage =
    "usage: gateway [-c FILE] [--check] [--help] [--version]\n"
    "\n"
    "  -c, --config FILE  configuration file (default: conf/gateway.yaml)\n"
    "  -t, --check        validate the configuration and exit: 0 if valid, else\n"
    "                     1 with every error printed as FILE:LINE:COLUMN: message\n"
    "                     (warnings, FILE:LINE:COLUMN: warning: ..., name keys\n"
    "                     that cannot change while it runs; they do not fail it)\n"
    "  -h, --help         this text\n"
    "  -v, --version      print the version\n"
    "\n"
    "signals: SIGHUP reloads the configuration, all of it: listeners, workers,\n"
    "cache zones (a bad file or a port taken is rejected and the running one\n"
    "kept); SIGTERM or SIGINT stop accepting, finish the requests in\n"
    "flight within timeouts.shutdown, and exit 0; SIGUSR1 reopens the access log\n"
    "file (after logrotate renamed it); SIGUSR2 starts the binary at the path\n"
    "this one was started from, with the same arguments, hands it the listening\n"
    "sockets and, once it serves, drains as on SIGTERM (if it fails, this\n"
    "process keeps serving). Under systemd (Type=notify) it reports READY,\n"
    "RELOADING and STOPPING through NOTIFY_SOCKET.\n";

// Blocks the stop, reload, log-reopen and upgrade signals; SIGPIPE is ignored.
void block_control_signals() {
  ::signal(SIGPIPE, SIG_IGN);
  // Block the stop and reload signals in every thread but the one waiting
  // for them, so they never interrupt a worker's system call; before any
  // thread starts (the cache zones' start here), so that every thread
  // inherits the mask and a signal sent while starting waits for
  // Server::wait instead of taking its default action.
  gateway::set_control_signals_blocked(true);
}

// Tells systemd, and at an upgrade the old process, that this one serves.
void report_ready(const gateway::Server& server, gateway::Inherited& inherited) {
  if (!inherited.upgrading()) {
    gateway::systemd::ready(server.serving_status());
    return;
  }
  // The old process stops accepting when it reads this.
  gateway::systemd::ready_as_main(server.serving_status());
  inherited.ready();
  gateway::log::info("upgrade: serving; the old process drains");
}

}  // namespace

int main(int argc, char** argv) {
  gateway::remember_command(argc, argv);
  std::string config_path = "conf/gateway.yaml";
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-c" || a == "--config") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "-t" || a == "--check") {
      check = true;
    } else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "-v" || a == "--version") {
      std::printf("gateway %s\n", GATEWAY_VERSION);
      return 0;
    } else {
      std::fprintf(stderr, "gateway: unknown argument '%s'\n\n%s", a.c_str(), kUsage);
      return 2;
    }
  }

  auto loaded = gateway::load_config(config_path);
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "gateway: configuration %s has %zu error%s\n", config_path.c_str(), loaded.errors.size(),
                 loaded.errors.size() == 1 ? "" : "s");
    return 1;
  }
  // Keys that cannot change while the gateway runs (a reload logs them too).
  for (const auto& w : loaded.warnings) std::fprintf(stderr, "%s\n", w.to_string().c_str());
  std::string error;
  if (check) {
    // As nginx -t: the file, and the access log it names, without starting
    // anything (no cache is opened or loaded).
    if (!gateway::AccessLogSink::open(loaded.config->access_log, loaded.config->access_log_format, error)) {
      std::fprintf(stderr, "gateway: %s\n", error.c_str());
      return 1;
    }
    std::printf("gateway: configuration %s is valid\n", loaded.config->file.c_str());
    return 0;
  }
  block_control_signals();
  // Started by SIGUSR2 of a running gateway: its listening sockets first.
  // (A failure from here on exits: the old process sees the channel close.)
  gateway::Inherited inherited;
  if (!inherited.receive_from_environment(error)) {
    std::fprintf(stderr, "gateway: %s\n", error.c_str());
    return 1;
  }
  auto runtime = gateway::Runtime::build(loaded.config, nullptr, error);
  if (!runtime) {
    std::fprintf(stderr, "gateway: %s\n", error.c_str());
    return 1;
  }

  curl_global_init(CURL_GLOBAL_DEFAULT);

  int rc;
  {
    gateway::Server server(runtime);
    server.set_inherited(&inherited);
    if (!server.start(error)) {
      gateway::log::error(error);
      return 1;
    }
    report_ready(server, inherited);
    rc = server.wait();  // unblocks them on this thread once it handles them
  }
  curl_global_cleanup();
  return rc;
}
