// Tests for gateway/handover.hpp and binary_upgrade.hpp's pure parts: the
// records, which worker accepts on which handed socket, the executable's
// path resolved at start, and a real handover of listening sockets over a
// socket pair (SCM_RIGHTS) with the readiness answer back.
#include <doctest/doctest.h>

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "gateway/binary_upgrade.hpp"
#include "gateway/handover.hpp"

using namespace gateway;

TEST_CASE("handover: records name the kind and the listen entry, and nothing else decodes") {
  CHECK(encode_record({false, "127.0.0.1:8080", 7}) == "public 127.0.0.1:8080");
  CHECK(encode_record({true, "[::1]:9000", 7}) == "admin [::1]:9000");
  auto p = decode_record("public 0.0.0.0:80");
  REQUIRE(p);
  CHECK_FALSE(p->admin);
  CHECK(p->text == "0.0.0.0:80");
  auto a = decode_record("admin 127.0.0.1:0");
  REQUIRE(a);
  CHECK(a->admin);
  for (const char* bad : {"", "public", "public ", "other 1.2.3.4:5", "end", "ready 12"}) {
    INFO(bad);
    CHECK_FALSE(decode_record(bad));
  }
}

TEST_CASE("handover: every handed socket stays in use, whatever the new worker count") {
  using Plan = std::vector<std::vector<std::size_t>>;
  struct Case {
    std::size_t handed, workers;
    Plan plan;
  };
  const Case cases[] = {
      {2, 2, {{0}, {1}}},
      {2, 3, {{0}, {1}, {}}},  // the third worker binds a new SO_REUSEPORT socket
      {3, 1, {{0, 1, 2}}},
      {4, 2, {{0, 2}, {1, 3}}},
      {0, 2, {{}, {}}},  // a new listener: every worker binds
      {1, 0, {}},
  };
  for (const auto& c : cases) {
    INFO(c.handed << " handed, " << c.workers << " workers");
    CHECK(assign_sockets(c.handed, c.workers) == c.plan);
  }
}

TEST_CASE("binary upgrade: the executable is the path given at start, made absolute, or found in PATH") {
  auto dir = std::filesystem::temp_directory_path() / ("handover_test." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "bin");
  auto exe = dir / "bin" / "gw";
  { std::FILE* f = std::fopen(exe.c_str(), "w"); std::fclose(f); }
  std::filesystem::permissions(exe, std::filesystem::perms::owner_all);
  CHECK(resolve_executable("/usr/sbin/gateway", "/srv", "") == "/usr/sbin/gateway");
  CHECK(resolve_executable("./build/gateway", "/srv/app", "") == "/srv/app/build/gateway");
  CHECK(resolve_executable("../gw/./gateway", "/srv/app", "") == "/srv/gw/gateway");
  CHECK(resolve_executable("gw", "/", "/nonexistent:" + (dir / "bin").string()) == exe.string());
  CHECK(resolve_executable("gw", dir.string(), "bin") == exe.string());  // a relative PATH entry
  CHECK(resolve_executable("gw", "/", "/nonexistent") == "");
  CHECK(resolve_executable("", "/", "/bin") == "");
  std::filesystem::remove_all(dir);
}

TEST_CASE("handover: listening sockets cross a socket pair and are taken by listen entry or address") {
  boost::asio::io_context io;
  auto listener = [&] {
    tcp::acceptor a(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    return a;
  };
  auto public1 = listener(), public2 = listener(), admin = listener(), gone = listener();
  const auto public_ep = public1.local_endpoint();
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
  std::string error;
  REQUIRE(send_sockets(sv[0],
                       {{false, "127.0.0.1:0", public1.native_handle()},
                        {false, "127.0.0.1:0", public2.native_handle()},
                        {true, "127.0.0.1:0", admin.native_handle()},
                        {false, "127.0.0.1:9", gone.native_handle()}},
                       error));
  ::setenv(kUpgradeFdVariable, std::to_string(sv[1]).c_str(), 1);
  Inherited inherited;
  REQUIRE(inherited.receive_from_environment(error));
  CHECK(std::getenv(kUpgradeFdVariable) == nullptr);  // not passed on to a later upgrade by mistake
  CHECK(inherited.upgrading());

  // By the entry's text; then (a renamed entry) by the address bound.
  auto publics = inherited.take(false, "127.0.0.1:0", {});
  REQUIRE(publics.size() == 2);
  CHECK(inherited.take(false, "127.0.0.1:0", {}).empty());
  auto admins = inherited.take(true, "localhost:" + std::to_string(admin.local_endpoint().port()),
                               admin.local_endpoint());
  REQUIRE(admins.size() == 1);
  // The descriptors received are the same sockets.
  tcp::endpoint got;
  socklen_t len = static_cast<socklen_t>(got.capacity());
  REQUIRE(::getsockname(publics[0], got.data(), &len) == 0);
  got.resize(len);
  CHECK(got == public_ep);
  CHECK(inherited.close_unused() == std::vector<std::string>{"127.0.0.1:9"});

  inherited.ready();
  char buf[64];
  auto n = ::recv(sv[0], buf, sizeof buf, 0);
  REQUIRE(n > 0);
  CHECK(std::string(buf, static_cast<std::size_t>(n)) == "ready " + std::to_string(::getpid()));
  CHECK(::recv(sv[0], buf, sizeof buf, 0) == 0);  // the channel is closed after
  for (int fd : publics) ::close(fd);
  for (int fd : admins) ::close(fd);
  ::close(sv[0]);
}

TEST_CASE("handover: a process not started by an upgrade has nothing to take") {
  ::unsetenv(kUpgradeFdVariable);
  Inherited inherited;
  std::string error;
  CHECK(inherited.receive_from_environment(error));
  CHECK_FALSE(inherited.upgrading());
  CHECK(inherited.take(false, "127.0.0.1:0", {}).empty());
}
