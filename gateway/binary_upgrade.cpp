// Zero-downtime binary upgrade, the old process's side (see
// binary_upgrade.hpp). Main thread only.
#include "gateway/binary_upgrade.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/log.hpp"

extern char** environ;

namespace gateway {

namespace {
Command g_command;
constexpr int kChildChannelFd = 3;

std::string describe_status(int st) {
  if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return std::string("killed by signal ") + std::to_string(WTERMSIG(st));
  return "stopped";
}

// In the child, between fork and exec: async-signal-safe calls only.
[[noreturn]] void exec_child(int channel, const char* exe, char* const* argv, char* const* envp) {
  if (channel == kChildChannelFd) ::fcntl(channel, F_SETFD, 0);
  else ::dup2(channel, kChildChannelFd);  // the copy is not close-on-exec
  // Nothing else goes over: a client or upstream connection held by the
  // new process too would not close when this one closes it.
  if (::syscall(SYS_close_range, kChildChannelFd + 1, ~0U, 0) != 0)
    for (long fd = kChildChannelFd + 1, max = ::sysconf(_SC_OPEN_MAX); fd < max; ++fd) ::close(static_cast<int>(fd));
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(exe, argv, envp);
  ::_exit(127);
}
}  // namespace

std::string resolve_executable(const std::string& argv0, const std::string& cwd, const std::string& path_env) {
  namespace fs = std::filesystem;
  if (argv0.empty()) return {};
  if (argv0.find('/') != std::string::npos)
    return (argv0.front() == '/' ? fs::path(argv0) : fs::path(cwd) / argv0).lexically_normal().string();
  std::size_t start = 0;
  while (start <= path_env.size()) {
    auto end = path_env.find(':', start);
    if (end == std::string::npos) end = path_env.size();
    std::string dir = path_env.substr(start, end - start);
    if (dir.empty()) dir = ".";
    auto candidate = (fs::path(dir).is_absolute() ? fs::path(dir) : fs::path(cwd) / dir) / argv0;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.lexically_normal().string();
    start = end + 1;
  }
  return {};
}

void remember_command(int argc, char** argv) {
  std::error_code ec;
  auto cwd = std::filesystem::current_path(ec).string();
  const char* path = std::getenv("PATH");
  g_command.executable = resolve_executable(argc > 0 ? argv[0] : "", cwd, path ? path : "");
  g_command.args.assign(argv + (argc > 0 ? 1 : 0), argv + argc);
}

const Command& remembered_command() { return g_command; }

BinaryUpgrade::~BinaryUpgrade() { abandon(); }

void BinaryUpgrade::abandon() {
  on_ready_ = nullptr;
  on_failed_ = nullptr;
  timer_.cancel();
  channel_.reset();
  if (in_progress()) log::warn("upgrade abandoned: the new process, not ready yet, was " + reap(true));
}

bool BinaryUpgrade::start(const std::vector<HandedSocket>& sockets, Ready on_ready, Failed on_failed,
                          std::string& error) {
  const auto& cmd = remembered_command();
  if (cmd.executable.empty() || ::access(cmd.executable.c_str(), X_OK) != 0) {
    error = "cannot run the new binary " + (cmd.executable.empty() ? "(path unknown)" : cmd.executable) + ": " +
            std::strerror(errno);
    return false;
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    error = std::string("socketpair: ") + std::strerror(errno);
    return false;
  }
  // Everything the child needs is built before fork (no allocation after).
  std::vector<std::string> strings{cmd.executable};
  strings.insert(strings.end(), cmd.args.begin(), cmd.args.end());
  std::vector<char*> argv;
  for (auto& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  const std::string prefix = std::string(kUpgradeFdVariable) + "=";
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, prefix.c_str(), prefix.size()) != 0) env_strings.emplace_back(*e);
  env_strings.push_back(prefix + std::to_string(kChildChannelFd));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    ::close(sv[0]);
    ::close(sv[1]);
    return false;
  }
  if (pid == 0) exec_child(sv[1], cmd.executable.c_str(), argv.data(), envp.data());
  ::close(sv[1]);
  child_ = pid;
  log::info("upgrade: started " + cmd.executable + " as pid " + std::to_string(pid) + ", handing over " +
            std::to_string(sockets.size()) + " listening sockets");
  if (!send_sockets(sv[0], sockets, error)) {
    ::close(sv[0]);
    error += " (the new process " + reap(true) + ")";
    return false;
  }
  on_ready_ = std::move(on_ready);
  on_failed_ = std::move(on_failed);
  channel_.emplace(io_, sv[0]);
  timer_.expires_after(kReadyTimeout);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && in_progress())
      fail("the new process was not ready within " + std::to_string(kReadyTimeout.count()) + "s; it was " + reap(true));
  });
  wait_answer();
  return true;
}

void BinaryUpgrade::wait_answer() {
  channel_->async_wait(asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
    if (ec || !in_progress()) return;
    char buf[256];
    ssize_t n = ::recv(channel_->native_handle(), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return wait_answer();
    std::string answer = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
    if (answer.rfind("ready ", 0) != 0) {
      // End of file: the new process exited (or closed the channel).
      fail("the new process " + reap(false) + " before it was ready");
      return;
    }
    pid_t pid = child_;
    child_ = -1;  // the successor now, not a child to reap
    timer_.cancel();
    channel_.reset();
    auto done = std::move(on_ready_);
    on_failed_ = nullptr;
    done(pid);
  });
}

void BinaryUpgrade::fail(const std::string& why) {
  timer_.cancel();
  channel_.reset();
  auto failed = std::move(on_failed_);
  on_ready_ = nullptr;
  if (failed) failed(why);
}

std::string BinaryUpgrade::reap(bool kill_first) {
  if (child_ <= 0) return "gone";
  if (kill_first) ::kill(child_, SIGKILL);
  int st = 0;
  pid_t r;
  do r = ::waitpid(child_, &st, 0);
  while (r < 0 && errno == EINTR);
  child_ = -1;
  return r < 0 ? "gone" : describe_status(st);
}

}  // namespace gateway
