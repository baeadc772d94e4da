// For binary upgrade tests (SIGUSR2): a gateway started from a copy of the
// binary in the test's directory (so a test can replace the file, remove it
// or put a script there), and a load generator that counts failed requests
// and refused connections.
//
// The new process a SIGUSR2 starts is a child of the old one; the test
// process becomes a child subreaper, so that when the old one exits the new
// one becomes the test's child: UpgradeGateway stops and reaps it at the end
// (SIGTERM, then SIGKILL), as the harness does for the processes it starts.
#pragma once

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace itest {

// The port in the first line holding "<prefix>HOST:PORT", 0 if none.
inline std::uint16_t upgrade_port_after(const std::string& log, const std::string& prefix) {
  auto pos = log.find(prefix);
  if (pos == std::string::npos) return 0;
  auto end = log.find_first_of(" \n", pos + prefix.size());
  auto addr = log.substr(pos + prefix.size(), end - pos - prefix.size());
  auto colon = addr.rfind(':');
  return colon == std::string::npos ? 0 : static_cast<std::uint16_t>(std::stoi(addr.substr(colon + 1)));
}

class UpgradeGateway {
 public:
  UpgradeGateway(const TempDir& dir, const std::string& yaml)
      : dir_(dir), bin_(copy_binary(dir)), config_(dir.write("gateway.yaml", preamble() + yaml)),
        proc_({bin_, "-c", config_}, dir.file("gateway.out"), dir.file("gateway.err")) {
    bool ok = eventually(
        [&] {
          auto err = proc_.err();
          port_ = upgrade_port_after(err, "] listening on ");
          admin_port_ = upgrade_port_after(err, "admin listening on ");
          return (port_ && admin_port_) || !proc_.running();
        },
        kStartTimeout);
    if (!ok || !port_ || !admin_port_) throw std::runtime_error("gateway did not start:\n" + proc_.not_ready_report());
  }
  ~UpgradeGateway() {
    proc_.stop(10s);
    for (pid_t pid : successors_) stop_successor(pid);
    check_sanitizer_report("gateway", proc_.err());
  }
  UpgradeGateway(const UpgradeGateway&) = delete;
  UpgradeGateway& operator=(const UpgradeGateway&) = delete;

  static std::string preamble() { return "listen: [\"127.0.0.1:0\"]\nadmin: {listen: \"127.0.0.1:0\"}\n"; }
  const std::string& binary() const { return bin_; }
  std::uint16_t port() const { return port_; }
  std::uint16_t admin_port() const { return admin_port_; }
  Process& process() { return proc_; }
  std::string error_log() const { return proc_.err(); }
  void rewrite_config(const std::string& yaml) const { dir_.write("gateway.yaml", preamble() + yaml); }
  std::string status() const { return http_get(url(admin_port_, "/status")).body; }
  // The pid /status reports (the process that accepted the request), 0 if
  // none answered. A pid other than the first is remembered, to be stopped.
  pid_t serving_pid() {
    auto pid = static_cast<pid_t>(json_int(status(), "pid").value_or(0));
    if (pid > 0 && pid != first_pid_ && std::find(successors_.begin(), successors_.end(), pid) == successors_.end())
      successors_.push_back(pid);
    return pid;
  }
  pid_t first_pid() const { return first_pid_; }
  // After a SIGUSR2: waits for a new process to serve and the first one to
  // exit 0; returns the new pid.
  pid_t wait_taken_over() {
    pid_t new_pid = 0;
    REQUIRE(eventually(
        [&] {
          auto pid = serving_pid();
          if (pid != first_pid_ && pid > 0) new_pid = pid;
          return new_pid != 0;
        },
        30s));
    auto code = proc_.wait_exit(30s);
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    return new_pid;
  }
  // A new file at the binary's path, as a package upgrade does (the
  // running process keeps its old inode).
  void replace_binary(const std::string& from = GATEWAY_BIN) const {
    namespace fs = std::filesystem;
    fs::copy_file(from, bin_ + ".new", fs::copy_options::overwrite_existing);
    fs::rename(bin_ + ".new", bin_);
  }

 private:
  static std::string copy_binary(const TempDir& dir) {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    std::filesystem::create_directories(dir.file("bin"));
    auto path = dir.file("bin/gateway");
    std::filesystem::copy_file(GATEWAY_BIN, path, std::filesystem::copy_options::overwrite_existing);
    return path;
  }
  static void stop_successor(pid_t pid) {
    ::kill(pid, SIGTERM);
    auto gone = [pid] {
      int st = 0;
      return ::waitpid(pid, &st, WNOHANG) == pid || ::kill(pid, 0) != 0;
    };
    if (!eventually(gone, 10s)) {
      ::kill(pid, SIGKILL);
      eventually(gone, 5s);
    }
  }

  const TempDir& dir_;
  std::string bin_;
  std::string config_;
  Process proc_;
  pid_t first_pid_ = proc_.pid();
  std::uint16_t port_ = 0, admin_port_ = 0;
  std::vector<pid_t> successors_;
};

// Threads sending GET `path` until stopped or `max_per_thread` requests
// each: half on one keep-alive connection each (reused), half on a new
// connection per request. A request fails unless it gets a 200; a transport
// error on connect counts as refused.
class LoadGenerator {
 public:
  LoadGenerator(std::uint16_t port, std::string path, int threads, int max_per_thread = 20000) {
    for (int t = 0; t < threads; ++t)
      threads_.emplace_back([this, port, path, t, max_per_thread] {
        Client keep_alive;
        for (int i = 0; i < max_per_thread && !stop_.load(); ++i) {
          auto r = t % 2 ? keep_alive.get(url(port, path)) : http_get(url(port, path));
          record(r);
        }
      });
  }
  ~LoadGenerator() { finish(); }
  void finish() {
    stop_.store(true);
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  int ok() const { return ok_.load(); }
  int failed() const { return failed_.load(); }
  int refused() const { return refused_.load(); }
  std::vector<std::string> errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }

 private:
  void record(const Response& r) {
    if (r.status == 200) {
      ok_.fetch_add(1);
      return;
    }
    bool refused = r.status == 0 && (r.body.find("refused") != std::string::npos ||
                                      r.body.find("Couldn't connect") != std::string::npos);
    (refused ? refused_ : failed_).fetch_add(1);
    std::lock_guard lock(mu_);
    if (errors_.size() < 10) errors_.push_back(std::to_string(r.status) + " " + r.body.substr(0, 200));
  }

  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0}, failed_{0}, refused_{0};
  std::mutex mu_;
  std::vector<std::string> errors_;
  std::vector<std::thread> threads_;
};

}  // namespace itest
