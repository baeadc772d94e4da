// Tests for cache/redis_client, without a Redis: RedisClient's hiredis
// adapter (read/write registration on the socket, command timeouts,
// connection loss, reconnection, subscription) against a scripted RESP
// server on a loopback socket this test owns. The io_context runs on the
// test thread (run_until), the server is stepped from the same loop: no other
// thread, no sleeping. The values the shared tier keeps in Redis are tested
// in shared_tier_test.cpp.
#include "cache/redis_client.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace gateway::cache;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

// ------------------------------------------------------------------ RedisClient

namespace {

// A loopback TCP server that speaks just enough RESP: it reads commands
// (arrays of bulk strings) and plays a script, one action per command.
// Non-blocking; step() does whatever can be done now.
class ScriptedServer {
 public:
  struct Action {
    enum Kind { reply, silent, close } kind = reply;
    std::string bytes;  // for reply
  };
  static Action answer(std::string bytes) { return {Action::reply, std::move(bytes)}; }
  static Action stay_silent() { return {Action::silent, {}}; }
  static Action hang_up() { return {Action::close, {}}; }

  explicit ScriptedServer(std::uint16_t port = 0) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(listen_fd_, 8) != 0)
      throw std::runtime_error(std::string("ScriptedServer: ") + std::strerror(errno));
    socklen_t len = sizeof sa;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
  }
  ~ScriptedServer() {
    drop();
    ::close(listen_fd_);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  std::uint16_t port() const { return port_; }
  void script(Action a) { script_.push_back(std::move(a)); }
  // Sends bytes unasked (pub/sub messages).
  void push(std::string bytes) { out_ += bytes; }
  // At most this many bytes per step (1: a reply arrives byte by byte).
  void dribble(std::size_t n) { dribble_ = n; }

  // Accepts, reads, answers, writes what it can. A new connection replaces
  // the old one.
  void step() {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      drop();
      conn_ = fd;
      ++accepted;
      peer_closed = false;
    }
    if (conn_ < 0) return;
    char buf[1 << 16];
    while (true) {
      ssize_t n = ::recv(conn_, buf, sizeof buf, 0);
      if (n > 0) {
        in_.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) {
        peer_closed = true;
        drop();
        return;
      }
      break;  // EAGAIN
    }
    std::vector<std::string> cmd;
    while (std::size_t used = parse_command(in_, cmd)) {
      in_.erase(0, used);
      commands.push_back(cmd);
      if (script_.empty()) continue;  // unscripted: no answer
      auto a = std::move(script_.front());
      script_.pop_front();
      if (a.kind == Action::reply) out_ += a.bytes;
      if (a.kind == Action::close) {
        drop();
        return;
      }
    }
    while (!out_.empty()) {
      std::size_t k = std::min(out_.size(), dribble_);
      ssize_t n = ::send(conn_, out_.data(), k, MSG_NOSIGNAL);
      if (n <= 0) break;
      out_.erase(0, static_cast<std::size_t>(n));
      if (dribble_ != SIZE_MAX) break;
    }
  }

  // Closes the connection, as a server going away does.
  void drop() {
    if (conn_ >= 0) ::close(conn_);
    conn_ = -1;
    in_.clear();
    out_.clear();
  }
  bool connected() const { return conn_ >= 0; }

  std::vector<std::vector<std::string>> commands;
  int accepted = 0;
  bool peer_closed = false;

 private:
  // One "*N\r\n($len\r\nbytes\r\n)*N" at the start of `in`: the bytes it
  // took, 0 if incomplete.
  static std::size_t parse_command(const std::string& in, std::vector<std::string>& out) {
    out.clear();
    if (in.empty()) return 0;
    if (in[0] != '*') throw std::runtime_error("ScriptedServer: not a RESP array: " + in.substr(0, 20));
    auto eol = in.find("\r\n");
    if (eol == std::string::npos) return 0;
    long n = std::strtol(in.c_str() + 1, nullptr, 10);
    std::size_t pos = eol + 2;
    for (long i = 0; i < n; ++i) {
      auto e = in.find("\r\n", pos);
      if (e == std::string::npos) return 0;
      if (in[pos] != '$') throw std::runtime_error("ScriptedServer: not a bulk string");
      std::size_t len = std::strtoul(in.c_str() + pos + 1, nullptr, 10);
      pos = e + 2;
      if (in.size() < pos + len + 2) return 0;
      out.push_back(in.substr(pos, len));
      pos += len + 2;
    }
    return pos;
  }

  int listen_fd_ = -1;
  int conn_ = -1;
  std::uint16_t port_ = 0;
  std::string in_, out_;
  std::deque<Action> script_;
  std::size_t dribble_ = SIZE_MAX;
};

// A loopback port on which nothing listens (bound, never listened, closed).
std::uint16_t refused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

gateway::cache::RedisConfig config_for(std::uint16_t port, Ms timeout = 1s) {
  gateway::cache::RedisConfig c;
  c.address = gateway::Endpoint{"127.0.0.1:" + std::to_string(port), "127.0.0.1", port};
  c.timeout = timeout;
  c.connect_timeout = 1s;
  return c;
}

// Runs `io` on this thread, a few milliseconds at a time, calling `tick`
// (the scripted server's step) in between, until `done` or `limit`.
bool run_until(asio::io_context& io, const std::function<bool()>& done, const std::function<void()>& tick,
               Ms limit = 5s) {
  auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    tick();
    if (done()) return true;
    if (io.stopped()) io.restart();
    // Something to wait for, so that an idle loop paces itself instead of spinning.
    asio::steady_timer pace(io, 2ms);
    pace.async_wait([](boost::system::error_code) {});
    io.run_for(2ms);
  }
  tick();
  return done();
}

// One command through `c`, with its reply and how long it took.
struct Outcome {
  std::optional<RedisReply> reply;
  Clock::time_point started, finished;
  Ms took() const { return std::chrono::duration_cast<Ms>(finished - started); }
};

std::shared_ptr<Outcome> start_command(asio::io_context& io, RedisClient& c, std::vector<std::string> args) {
  auto out = std::make_shared<Outcome>();
  out->started = Clock::now();
  // The strings live in the coroutine frame, as long as the command.
  asio::co_spawn(
      io,
      [&c, args = std::move(args)]() -> asio::awaitable<RedisReply> {
        std::vector<std::string_view> views(args.begin(), args.end());
        co_return co_await c.command(std::move(views));
      },
      [out](std::exception_ptr e, RedisReply r) {
        if (e) std::rethrow_exception(e);
        out->finished = Clock::now();
        out->reply = std::move(r);
      });
  return out;
}

struct ClientFixture {
  asio::io_context io;
  ScriptedServer server;
  std::shared_ptr<RedisClient> client;

  explicit ClientFixture(Ms timeout = 1s) {
    client = RedisClient::create(io.get_executor(), config_for(server.port(), timeout), "redis (unit test)", false);
  }
  ~ClientFixture() {
    client->close();
    client.reset();
    io.restart();
    io.poll();  // let the cancelled waits go before the io_context
  }
  bool run(const std::function<bool()>& done, Ms limit = 5s) {
    return run_until(io, done, [this] { server.step(); }, limit);
  }
  std::shared_ptr<Outcome> command(std::vector<std::string> args) {
    return start_command(io, *client, std::move(args));
  }
  // Runs one command to completion.
  RedisReply roundtrip(std::vector<std::string> args) {
    auto o = command(std::move(args));
    REQUIRE(run([&] { return o->reply.has_value(); }));
    return *o->reply;
  }
};

}  // namespace

TEST_CASE("redis client: connects when the socket becomes writable and returns each reply type") {
  ClientFixture f;
  REQUIRE(f.run([&] { return f.client->up(); }));
  CHECK(f.server.accepted == 1);

  f.server.script(ScriptedServer::answer("+OK\r\n"));
  auto ok = f.roundtrip({"SET", "foo", "bar"});
  CHECK(ok.ok());
  CHECK(ok.type == RedisReply::Type::status);
  CHECK(ok.str == "OK");
  REQUIRE(f.server.commands.size() == 1);
  CHECK(f.server.commands[0] == std::vector<std::string>{"SET", "foo", "bar"});

  f.server.script(ScriptedServer::answer("$3\r\nbar\r\n"));
  auto bar = f.roundtrip({"GET", "foo"});
  CHECK(bar.type == RedisReply::Type::string);
  CHECK(bar.str == "bar");

  f.server.script(ScriptedServer::answer("$-1\r\n"));
  CHECK(f.roundtrip({"GET", "nothing"}).type == RedisReply::Type::nil);

  f.server.script(ScriptedServer::answer(":42\r\n"));
  auto n = f.roundtrip({"INCR", "n"});
  CHECK(n.type == RedisReply::Type::integer);
  CHECK(n.integer == 42);

  f.server.script(ScriptedServer::answer("*2\r\n$1\r\na\r\n$-1\r\n"));
  auto arr = f.roundtrip({"MGET", "a", "b"});
  REQUIRE(arr.type == RedisReply::Type::array);
  REQUIRE(arr.elements.size() == 2);
  CHECK(arr.elements[0].str == "a");
  CHECK(arr.elements[1].type == RedisReply::Type::nil);

  f.server.script(ScriptedServer::answer("-ERR wrong type\r\n"));
  auto err = f.roundtrip({"LPUSH", "foo", "x"});
  CHECK_FALSE(err.ok());
  CHECK(err.str == "ERR wrong type");
  CHECK(f.client->up());  // an error reply is not a connection problem

  // Binary-safe arguments.
  f.server.script(ScriptedServer::answer("+OK\r\n"));
  const std::string binary("k\0\x1e\r\n", 5);
  f.roundtrip({"SET", binary, binary});
  CHECK(f.server.commands.back() == std::vector<std::string>{"SET", binary, binary});
  CHECK(f.server.accepted == 1);
}

TEST_CASE("redis client: send() goes out without waiting, pipelined commands get their own replies") {
  ClientFixture f;
  REQUIRE(f.run([&] { return f.client->up(); }));
  f.server.script(ScriptedServer::answer(":0\r\n"));
  f.client->send({"PUBLISH", "gw:events", "hello"});
  REQUIRE(f.run([&] { return f.server.commands.size() == 1; }));
  CHECK(f.server.commands[0] == std::vector<std::string>{"PUBLISH", "gw:events", "hello"});

  // The server answers only once it has both commands, with both replies in
  // one write: the second command went out before the first was answered.
  f.server.script(ScriptedServer::answer(""));
  f.server.script(ScriptedServer::answer("$1\r\nA\r\n$1\r\nB\r\n"));
  auto a = f.command({"GET", "a"});
  auto b = f.command({"GET", "b"});
  REQUIRE(f.run([&] { return a->reply && b->reply; }));
  CHECK(a->reply->str == "A");
  CHECK(b->reply->str == "B");
  CHECK(f.client->up());
}

TEST_CASE("redis client: a large command and a large reply cross the socket in many events") {
  ClientFixture f(5s);
  REQUIRE(f.run([&] { return f.client->up(); }));
  // Far over the socket buffers: the write interest must stay registered
  // until hiredis has written everything, the read interest until the whole
  // reply is in.
  std::string big(8 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7 + i / 4093) % 26);
  f.server.script(ScriptedServer::answer("+OK\r\n"));
  auto set = f.roundtrip({"SET", "big", big});
  CHECK(set.str == "OK");
  REQUIRE(f.server.commands.size() == 1);
  CHECK(f.server.commands[0][2] == big);

  f.server.script(ScriptedServer::answer("$" + std::to_string(big.size()) + "\r\n" + big + "\r\n"));
  auto get = f.roundtrip({"GET", "big"});
  CHECK(get.type == RedisReply::Type::string);
  CHECK(get.str.size() == big.size());
  CHECK(get.str == big);
}

TEST_CASE("redis client: a reply that arrives byte by byte is read to its end") {
  ClientFixture f;
  REQUIRE(f.run([&] { return f.client->up(); }));
  f.server.dribble(1);
  f.server.script(ScriptedServer::answer("*2\r\n$5\r\nhello\r\n:7\r\n"));
  auto r = f.roundtrip({"CMD"});
  REQUIRE(r.type == RedisReply::Type::array);
  REQUIRE(r.elements.size() == 2);
  CHECK(r.elements[0].str == "hello");
  CHECK(r.elements[1].integer == 7);
}

TEST_CASE("redis client: a silent server fails the command with 'redis timed out' after the timeout") {
  ClientFixture f(100ms);
  REQUIRE(f.run([&] { return f.client->up(); }));
  f.server.script(ScriptedServer::stay_silent());
  auto o = f.command({"GET", "foo"});
  REQUIRE(f.run([&] { return o->reply.has_value(); }));
  CHECK_FALSE(o->reply->ok());
  CHECK(o->reply->str == "redis timed out");
  INFO("took " << o->took().count() << " ms");
  CHECK(o->took() >= 95ms);
  CHECK(o->took() < 1s);
  // The stalled connection is dropped, so nothing queues behind it.
  CHECK_FALSE(f.client->up());
  CHECK(f.run([&] { return f.server.peer_closed; }));
}

TEST_CASE("redis client: a connection closed under a command fails it with 'connection lost' at once") {
  ClientFixture f(5s);
  REQUIRE(f.run([&] { return f.client->up(); }));
  f.server.script(ScriptedServer::hang_up());
  auto o = f.command({"GET", "foo"});
  REQUIRE(f.run([&] { return o->reply.has_value(); }));
  CHECK_FALSE(o->reply->ok());
  CHECK(o->reply->str == "connection lost");
  CHECK(o->took() < 1s);  // not the 5 s timeout
  CHECK_FALSE(f.client->up());

  // A later command reconnects (once the 100 ms backoff has passed) and
  // goes through on the new connection.
  f.server.script(ScriptedServer::answer("+PONG\r\n"));
  std::shared_ptr<Outcome> last;
  int down = 0;
  std::string other_failure;
  bool ok = f.run([&] {
    if (last && last->reply) {
      if (last->reply->ok()) return true;
      if (last->reply->str != "redis down") other_failure = last->reply->str;
      ++down;
      last.reset();
    }
    if (!last) last = f.command({"PING"});
    return false;
  });
  REQUIRE(ok);
  INFO(down << " commands failed while backing off");
  CHECK(other_failure.empty());  // while backing off: "redis down", at once
  CHECK(last->reply->str == "PONG");
  CHECK(f.server.accepted == 2);
  CHECK(f.client->up());
}

TEST_CASE("redis client: a refused port fails commands at once, the client connects once something listens") {
  asio::io_context io;
  const auto port = refused_port();
  auto client = RedisClient::create(io.get_executor(), config_for(port, 1s), "redis (unit test)", false);
  // The refusal is seen (nothing else keeps the loop busy).
  io.run_for(1s);
  CHECK_FALSE(client->up());

  auto o = start_command(io, *client, {"GET", "foo"});
  io.restart();
  io.run_for(500ms);
  REQUIRE(o->reply);
  CHECK_FALSE(o->reply->ok());
  CHECK(o->reply->str == "redis down");
  CHECK(o->took() < 50ms);  // at once, not after the 1 s timeout

  ScriptedServer server(port);
  server.script(ScriptedServer::answer("$3\r\nbar\r\n"));
  std::shared_ptr<Outcome> last;
  int failures = 0;
  bool ok = run_until(
      io,
      [&] {
        if (last && last->reply) {
          if (last->reply->ok()) return true;
          ++failures;
          last.reset();
        }
        if (!last) last = start_command(io, *client, {"GET", "foo"});
        return false;
      },
      [&] { server.step(); }, 5s);
  REQUIRE(ok);
  INFO(failures << " commands failed before the client connected");
  CHECK(last->reply->str == "bar");
  CHECK(server.accepted == 1);
  CHECK(client->up());
  client->close();
  client.reset();
  io.restart();
  io.poll();
}

TEST_CASE("redis client: a subscriber gets its channel's messages and resubscribes after a reconnection") {
  std::vector<std::string> got;  // outlives the client holding the callback
  ClientFixture f;
  f.client->subscribe("gw:events", [&](std::string_view m) { got.emplace_back(m); });
  REQUIRE(f.run([&] { return f.server.commands.size() == 1; }));
  CHECK(f.server.commands[0] == std::vector<std::string>{"SUBSCRIBE", "gw:events"});
  auto message = [](std::string_view payload) {
    return "*3\r\n$7\r\nmessage\r\n$9\r\ngw:events\r\n$" + std::to_string(payload.size()) + "\r\n" +
           std::string(payload) + "\r\n";
  };
  f.server.push("*3\r\n$9\r\nsubscribe\r\n$9\r\ngw:events\r\n:1\r\n");
  f.server.push(message("filled\nabc\nkey"));
  REQUIRE(f.run([&] { return got.size() == 1; }));
  CHECK(got[0] == "filled\nabc\nkey");  // the confirmation is not a message

  // The server goes away: the subscriber reconnects by itself (no command
  // needed) and subscribes again.
  f.server.drop();
  REQUIRE(f.run([&] { return f.server.accepted == 2 && f.server.commands.size() == 2; }));
  CHECK(f.server.commands[1] == std::vector<std::string>{"SUBSCRIBE", "gw:events"});
  f.server.push("*3\r\n$9\r\nsubscribe\r\n$9\r\ngw:events\r\n:1\r\n" + message("purge-tag\nabc\nt"));
  REQUIRE(f.run([&] { return got.size() == 2; }));
  CHECK(got[1] == "purge-tag\nabc\nt");
  CHECK(f.client->up());
}
