// The store's temporary files when two processes share a zone's directory
// (a binary upgrade: the old process still fills entries while the new one
// starts): the new store's start-up removes only the temporary files of
// processes that are gone, never the fills in flight of a running one.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cache/store.hpp"
#include "temp_dir.hpp"

using namespace gateway::cache;
using namespace gateway::cache::testing;
namespace fs = std::filesystem;

namespace {
// A pid no process has now: a child that exited and was reaped.
pid_t dead_pid() {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int st = 0;
  ::waitpid(pid, &st, 0);
  return pid;
}
}  // namespace

TEST_CASE("store: a temporary file's name holds its writer's pid") {
  CHECK(temp_file_owner("1234-17a3f.tmp") == 1234);
  CHECK(temp_file_owner("17a3f.tmp") == 0);  // the name before pids were in it
  CHECK(temp_file_owner("-17a3f.tmp") == 0);
  CHECK(temp_file_owner("x12-1.tmp") == 0);
  CHECK(temp_file_owner("0-1.tmp") == 0);
}

TEST_CASE("store: start-up keeps the temporary files of a running process, removes the others") {
  TempDir dir;
  fs::create_directories(fs::path(dir.path()) / "tmp");
  auto tmp = [&](const std::string& name) {
    auto p = fs::path(dir.path()) / "tmp" / name;
    std::ofstream(p) << "partial fill";
    return p;
  };
  // The parent of this test: a process that is running, as the old gateway is.
  auto live = tmp(std::to_string(::getppid()) + "-1.tmp");
  auto dead = tmp(std::to_string(dead_pid()) + "-2.tmp");
  auto old_name = tmp("3.tmp");
  StoreOptions o;
  o.path = dir.path();
  Store store(o);
  CHECK(fs::exists(live));
  CHECK_FALSE(fs::exists(dead));
  CHECK_FALSE(fs::exists(old_name));
}
