// Zero-downtime binary upgrade, the old process's side (SIGUSR2, as nginx):
// start the binary at the path this process was started from (now perhaps a
// newer file) with the same arguments, hand it every listening socket
// (handover.hpp) and wait for its "ready". The caller then stops accepting
// and drains; if the new binary fails (exits, a bad configuration, no answer
// within kReadyTimeout) this process keeps serving and logs why.
//
// Main thread only: runs on the io_context that waits for signals.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gateway/handover.hpp"

namespace gateway {

// The command line to run again at an upgrade: the executable's absolute
// path as it was named at start (not /proc/self/exe, the old inode; a
// symbolic link is kept, so pointing it at a new binary works), and the
// arguments. `cwd` and `path_env` are those at start.
struct Command {
  std::string executable;
  std::vector<std::string> args;  // after argv[0]
};
// argv[0] with a '/': made absolute against `cwd`; a bare name: looked up
// in `path_env` (PATH), the first executable file. Empty if not found.
std::string resolve_executable(const std::string& argv0, const std::string& cwd, const std::string& path_env);
// Records the command (main(), at start) for BinaryUpgrade.
void remember_command(int argc, char** argv);
const Command& remembered_command();

class BinaryUpgrade {
 public:
  static constexpr std::chrono::seconds kReadyTimeout{30};
  using Ready = std::function<void(pid_t)>;
  using Failed = std::function<void(const std::string&)>;

  explicit BinaryUpgrade(asio::io_context& io) : io_(io), timer_(io) {}
  ~BinaryUpgrade();
  BinaryUpgrade(const BinaryUpgrade&) = delete;
  BinaryUpgrade& operator=(const BinaryUpgrade&) = delete;

  bool in_progress() const noexcept { return child_ > 0; }
  // Starts the new binary and hands it `sockets`; exactly one of the
  // callbacks runs later on the io_context. False with `error` if it could
  // not even be started (then neither runs).
  bool start(const std::vector<HandedSocket>& sockets, Ready on_ready, Failed on_failed, std::string& error);
  // This process stops: a new one still starting must not run on alone
  // (it is killed and reaped); neither callback runs.
  void abandon();

 private:
  void wait_answer();
  void fail(const std::string& why);
  std::string reap(bool kill_first);

  asio::io_context& io_;
  asio::steady_timer timer_;
  std::optional<asio::posix::stream_descriptor> channel_;
  pid_t child_ = -1;
  Ready on_ready_;
  Failed on_failed_;
};

}  // namespace gateway
