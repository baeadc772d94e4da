#include "cache/redis_client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/log.hpp"
#include "cache/redis_cluster.hpp"
#include "cache/redis_routing.hpp"

namespace gateway::cache {

namespace asio = boost::asio;

namespace {
constexpr std::chrono::milliseconds kMaxBackoff{5'000};
}  // namespace

RedisReply convert_reply(const redisReply* r) {
  if (!r) return RedisReply::failure("connection lost");
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::string; break;
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::status; break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::error; break;
    case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::integer; break;
    case REDIS_REPLY_NIL: out.type = RedisReply::Type::nil; break;
    case REDIS_REPLY_ARRAY: out.type = RedisReply::Type::array; break;
    default: return RedisReply::failure("unexpected reply type");
  }
  if (r->str) out.str.assign(r->str, r->len);
  out.integer = r->integer;
  for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert_reply(r->element[i]));
  return out;
}

std::string glob_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::optional<Endpoint> RotatingAddresses::address() {
  if (list_.empty()) return std::nullopt;
  return list_[next_.load(std::memory_order_relaxed) % list_.size()];
}

// hiredis's event hooks on an Asio descriptor. hiredis owns the socket; the
// descriptor only waits on it and lets go of it in cleanup.
struct RedisNode::Watcher : std::enable_shared_from_this<Watcher> {
  Watcher(asio::any_io_executor ex, redisAsyncContext* c, int fd) : sd(ex, fd), ac(c) {}

  asio::posix::stream_descriptor sd;
  redisAsyncContext* ac;
  bool alive = true;
  bool want_read = false, want_write = false;
  bool read_waiting = false, write_waiting = false;

  void arm(bool write) {
    bool& waiting = write ? write_waiting : read_waiting;
    if (waiting || !alive) return;
    waiting = true;
    sd.async_wait(write ? asio::posix::descriptor_base::wait_write : asio::posix::descriptor_base::wait_read,
                  [self = shared_from_this(), write](boost::system::error_code ec) {
                    (write ? self->write_waiting : self->read_waiting) = false;
                    if (ec || !self->alive) return;
                    bool& want = write ? self->want_write : self->want_read;
                    if (!want) return;
                    // May end in a disconnect, which frees the context and
                    // calls cleanup (alive = false).
                    write ? redisAsyncHandleWrite(self->ac) : redisAsyncHandleRead(self->ac);
                    if (self->alive && want) self->arm(write);
                  });
  }

  static Watcher& of(void* p) { return *static_cast<Watcher*>(p); }
  static void add_read(void* p) {
    of(p).want_read = true;
    of(p).arm(false);
  }
  static void del_read(void* p) { of(p).want_read = false; }
  static void add_write(void* p) {
    of(p).want_write = true;
    of(p).arm(true);
  }
  static void del_write(void* p) { of(p).want_write = false; }
  static void cleanup(void* p) {
    auto& w = of(p);
    w.alive = false;
    w.want_read = w.want_write = false;
    boost::system::error_code ec;
    w.sd.cancel(ec);
    (void)w.sd.release();  // hiredis closes the socket itself
  }
};

struct RedisNode::Pending {
  explicit Pending(asio::any_io_executor ex) : timer(ex) {}
  asio::steady_timer timer;
  RedisReply reply;
  bool done = false;
  bool abandoned = false;  // timed out: a late reply is dropped
};

std::shared_ptr<RedisClient> RedisClient::create(asio::any_io_executor ex, const RedisConfig& config,
                                                 std::string name, bool log_state,
                                                 std::function<void(bool up)> on_state,
                                                 std::shared_ptr<RedisAddressSource> source) {
  if (!config.cluster.empty())
    return RedisCluster::create(std::move(ex), config, std::move(name), log_state, std::move(on_state));
  return RedisNode::create(std::move(ex), config, std::move(name), log_state, std::move(on_state), std::move(source));
}

std::shared_ptr<RedisNode> RedisNode::create(asio::any_io_executor ex, const RedisConfig& config, std::string name,
                                             bool log_state, std::function<void(bool up)> on_state,
                                             std::shared_ptr<RedisAddressSource> source) {
  auto c = std::shared_ptr<RedisNode>(new RedisNode(ex, config, std::move(name), log_state));
  c->on_state_ = std::move(on_state);
  c->source_ = std::move(source);
  c->connect();
  return c;
}
RedisNode::RedisNode(asio::any_io_executor ex, const RedisConfig& config, std::string name, bool log_state)
    : ex_(std::move(ex)), config_(config), name_(std::move(name)), log_state_(log_state), connect_timer_(ex_) {}

RedisNode::~RedisNode() { close(); }

void RedisNode::close() {
  closing_ = true;
  connect_timer_.cancel();
  if (ac_) {
    auto* ac = ac_;
    ac_ = nullptr;
    redisAsyncFree(ac);  // pending commands complete with "connection lost"
  }
}

void RedisNode::set_state(State s, std::string_view why) {
  if (s == state_) return;
  bool was_up = state_ == State::up;
  state_ = s;
  if (on_state_ && !closing_ && (s == State::up || (was_up && s == State::down))) on_state_(s == State::up);
  if (!log_state_) {
    ever_up_ = ever_up_ || s == State::up;
    return;
  }
  if (s == State::up) {
    log::info(name_ + ": connected" + (ever_up_ ? " again; shared caching resumes" : ""));
    ever_up_ = true;
  } else if (s == State::down && was_up) {
    log::warn(name_ + ": " + std::string(why) + "; caching locally only until it is back");
  }
}

void RedisNode::connect() {
  if (closing_ || ac_) return;
  std::optional<Endpoint> a = config_.address;
  if (source_) {
    source_generation_ = source_->generation();
    a = source_->address();
    if (!a) {  // not known yet (no Sentinel answered): try again later
      schedule_reconnect();
      return;
    }
  }
  ac_ = config_.unix_socket.empty() || source_
            ? redisAsyncConnect(a ? a->host.c_str() : "127.0.0.1", a ? a->port : 6379)
            : redisAsyncConnectUnix(config_.unix_socket.c_str());
  if (!ac_ || ac_->err) {
    if (source_) source_->connection_failed();
    if (ac_) redisAsyncFree(ac_);
    ac_ = nullptr;
    if (log_state_ && !ever_up_ && !warned_unreachable_) {
      warned_unreachable_ = true;
      log::warn(name_ + ": cannot connect; caching locally only until it is reachable");
    }
    schedule_reconnect();
    return;
  }
  ac_->data = this;
  watcher_ = std::make_shared<Watcher>(ex_, ac_, ac_->c.fd);
  ac_->ev.data = watcher_.get();
  ac_->ev.addRead = &Watcher::add_read;
  ac_->ev.delRead = &Watcher::del_read;
  ac_->ev.addWrite = &Watcher::add_write;
  ac_->ev.delWrite = &Watcher::del_write;
  ac_->ev.cleanup = &Watcher::cleanup;
  redisAsyncSetConnectCallback(ac_, &RedisNode::on_connect_cb);
  redisAsyncSetDisconnectCallback(ac_, &RedisNode::on_disconnect_cb);
  // hiredis reports the connection on the first writable event.
  Watcher::add_write(watcher_.get());
  set_state(State::connecting, "");
  connect_timer_.expires_after(config_.connect_timeout);
  connect_timer_.async_wait([self = weak_from_this()](boost::system::error_code ec) {
    auto c = self.lock();
    if (ec || !c || c->state_ != State::connecting || !c->ac_) return;
    if (c->source_) c->source_->connection_failed();
    auto* ac = c->ac_;
    c->ac_ = nullptr;
    redisAsyncFree(ac);
    if (c->log_state_ && !c->ever_up_ && !c->warned_unreachable_) {
      c->warned_unreachable_ = true;
      log::warn(c->name_ + ": connect timed out; caching locally only until it is reachable");
    }
    c->set_state(State::down, "connect timed out");
    c->schedule_reconnect();
  });
}

void RedisNode::on_connect_cb(const redisAsyncContext* ac, int status) {
  static_cast<RedisNode*>(ac->data)->on_connected(status);
}

void RedisNode::on_connected(int status) {
  connect_timer_.cancel();
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback.
    ac_ = nullptr;
    if (source_) source_->connection_failed();
    if (log_state_ && !ever_up_ && !warned_unreachable_) {
      warned_unreachable_ = true;
      log::warn(name_ + ": cannot connect; caching locally only until it is reachable");
    }
    set_state(State::down, "connection refused");
    schedule_reconnect();
    return;
  }
  backoff_ = std::chrono::milliseconds(100);
  set_state(State::up, "");
  if (!channel_.empty()) {
    const char* argv[] = {"SUBSCRIBE", channel_.c_str()};
    std::size_t lens[] = {9, channel_.size()};
    redisAsyncCommandArgv(ac_, &RedisNode::on_message_cb, this, 2, argv, lens);
  }
}

void RedisNode::on_disconnect_cb(const redisAsyncContext* ac, int status) {
  (void)status;
  static_cast<RedisNode*>(ac->data)->on_disconnected();
}

void RedisNode::on_disconnected() {
  ac_ = nullptr;  // hiredis frees it after this callback
  if (closing_) return;
  if (source_) source_->connection_failed();
  set_state(State::down, "connection lost");
  schedule_reconnect();
}

void RedisNode::schedule_reconnect() {
  if (closing_) return;
  state_ = State::down;
  retry_at_ = std::chrono::steady_clock::now() + backoff_;
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  // A subscriber reconnects by itself; a command client when next used.
  if (!channel_.empty()) {
    connect_timer_.expires_at(retry_at_);
    connect_timer_.async_wait([self = weak_from_this()](boost::system::error_code ec) {
      if (auto c = self.lock(); c && !ec) c->connect();
    });
  }
}

void RedisNode::ensure_connected() {
  if (state_ == State::down && !ac_ && std::chrono::steady_clock::now() >= retry_at_) connect();
}

bool RedisNode::dispatch(std::vector<std::string_view> args, void (*fn)(redisAsyncContext*, void*, void*),
                           void* privdata) {
  if (!ac_ || state_ == State::down) return false;
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (auto a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return redisAsyncCommandArgv(ac_, fn, privdata, static_cast<int>(args.size()), argv.data(), lens.data()) == REDIS_OK;
}

void RedisNode::on_reply_cb(redisAsyncContext*, void* reply, void* privdata) {
  auto* holder = static_cast<std::shared_ptr<Pending>*>(privdata);
  auto p = std::move(*holder);
  delete holder;
  if (p->abandoned) return;
  p->done = true;
  p->reply = convert_reply(static_cast<redisReply*>(reply));
  p->timer.cancel();
}

void RedisNode::follow_source() {
  if (!source_ || closing_ || source_->generation() == source_generation_) return;
  drop("the master changed");
  // To the new one at once, not after the backoff of the old one's failures.
  backoff_ = std::chrono::milliseconds(100);
  retry_at_ = {};
  connect_timer_.cancel();
  connect();
}

void RedisNode::drop(std::string_view why) {
  if (!ac_) return;
  auto* ac = ac_;
  ac_ = nullptr;
  set_state(State::down, why);
  redisAsyncFree(ac);
  schedule_reconnect();
}

asio::awaitable<RedisReply> RedisNode::command(std::vector<std::string_view> args) {
  follow_source();
  ensure_connected();
  if (state_ == State::down) co_return RedisReply::failure("redis down");
  auto p = std::make_shared<Pending>(ex_);
  p->timer.expires_after(config_.timeout);
  auto* holder = new std::shared_ptr<Pending>(p);
  if (!dispatch(std::move(args), &RedisNode::on_reply_cb, holder)) {
    delete holder;
    co_return RedisReply::failure("redis down");
  }
  co_await p->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!p->done) {
    // Too slow: drop the connection rather than queue more behind it.
    p->abandoned = true;
    drop("timed out");
    co_return RedisReply::failure("redis timed out");
  }
  if (source_ && route_reply(p->reply).kind == ReplyRoute::Kind::stale) {
    // READONLY: this server is a replica now. Ask where the master went.
    source_->connection_failed();
    drop("no longer the master");
  }
  co_return std::move(p->reply);
}

void RedisNode::send(std::vector<std::string_view> args) {
  follow_source();
  ensure_connected();
  dispatch(std::move(args), nullptr, nullptr);
}

void RedisNode::subscribe(std::string channel, std::function<void(std::string_view)> on_message) {
  channel_ = std::move(channel);
  on_message_ = std::move(on_message);
  if (state_ == State::up && ac_) {
    const char* argv[] = {"SUBSCRIBE", channel_.c_str()};
    std::size_t lens[] = {9, channel_.size()};
    redisAsyncCommandArgv(ac_, &RedisNode::on_message_cb, this, 2, argv, lens);
  } else if (state_ == State::down && !ac_) {
    schedule_reconnect();
  }
}

void RedisNode::on_message_cb(redisAsyncContext*, void* reply, void* privdata) {
  auto* self = static_cast<RedisNode*>(privdata);
  auto* r = static_cast<redisReply*>(reply);
  // ["message", channel, payload]; the subscribe confirmation is skipped.
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) return;
  if (std::string_view(r->element[0]->str, r->element[0]->len) != "message") return;
  if (self->on_message_) self->on_message_(std::string_view(r->element[2]->str, r->element[2]->len));
}

}  // namespace gateway::cache
