// A zone's Redis master as its Sentinels name it (see redis_sentinel.hpp).
#include "cache/redis_sentinel.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/log.hpp"
#include "cache/redis_routing.hpp"

namespace gateway::cache {

namespace asio = boost::asio;

namespace {
// How often the master is asked for when nothing else asks (a missed
// +switch-master message), and at most how often when failures do.
constexpr std::chrono::seconds kAskPeriod{5};
constexpr std::chrono::milliseconds kMinAskGap{200};

// The settings of a connection to Sentinel `s`: its own address, and time
// enough for an answer (the command timeout is for the cache's requests).
RedisConfig sentinel_config(const RedisConfig& c, const Endpoint& s) {
  RedisConfig out;
  out.address = s;
  out.timeout = std::max(c.timeout, c.connect_timeout);
  out.connect_timeout = c.connect_timeout;
  return out;
}

// Command arguments, built outside the coroutines (g++ 12).
std::vector<std::string_view> ask_args(const std::string& master_name) {
  return {"SENTINEL", "get-master-addr-by-name", master_name};
}
}  // namespace

SentinelSource::SentinelSource(const RedisConfig& config, std::string name)
    : config_(config), name_(std::move(name)), asking_(config.sentinels.size()) {}

SentinelSource::~SentinelSource() = default;

std::optional<Endpoint> SentinelSource::address() {
  std::lock_guard lock(mu_);
  return master_;
}

void SentinelSource::start(asio::any_io_executor ex, std::function<void()> on_change) {
  {
    std::lock_guard lock(mu_);
    if (ex_) return;
    ex_ = ex;
  }
  on_change_ = std::move(on_change);
  timer_ = std::make_unique<asio::steady_timer>(ex);
  RedisConfig events = sentinel_config(config_, config_.sentinels.front());
  events.address.reset();
  events_ = RedisNode::create(ex, events, name_ + " sentinels", false, {},
                              std::make_shared<RotatingAddresses>(config_.sentinels));
  events_->subscribe("+switch-master", [this](std::string_view msg) {
    if (auto m = parse_switch_master(msg, config_.master_name)) set_master(*m, "a Sentinel switched it to");
  });
  asio::co_spawn(ex, [self = shared_from_this()]() { return self->run(); }, asio::detached);
}

void SentinelSource::stop() {
  stopped_ = true;
  // Gone now, while their executor (a worker's io_context) is alive: this
  // source may outlive it (in the zone's settings), and a node or timer
  // destroyed after it would touch freed memory. run() holds its own
  // references and sees stopped_ before it uses them again.
  if (timer_) timer_->cancel();
  timer_.reset();
  if (events_) events_->close();
  events_.reset();
  for (auto& a : asking_)
    if (a) a->close();
  for (auto& a : asking_) a.reset();
}

void SentinelSource::connection_failed() {
  if (wake_posted_.exchange(true)) return;
  std::lock_guard lock(mu_);
  if (!ex_) {
    wake_posted_ = false;
    return;
  }
  asio::post(*ex_, [self = shared_from_this()] {
    self->wake_posted_ = false;
    self->ask_again_ = true;
    if (self->timer_) self->timer_->cancel();
  });
}

asio::awaitable<void> SentinelSource::run() {
  auto self = shared_from_this();  // alive while asking
  std::chrono::milliseconds retry{100};
  while (!stopped_) {
    ask_again_ = false;
    bool named = co_await ask();
    if (stopped_) break;
    auto gap = named ? std::chrono::duration_cast<std::chrono::milliseconds>(kAskPeriod) : retry;
    retry = named ? std::chrono::milliseconds(100) : std::min(retry * 2, std::chrono::milliseconds(2'000));
    // Woken early by connection_failed(), but not more often than kMinAskGap.
    timer_->expires_after(kMinAskGap);
    co_await timer_->async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopped_) break;
    if (ask_again_) continue;
    timer_->expires_after(gap - kMinAskGap);
    co_await timer_->async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<bool> SentinelSource::ask() {
  const auto& sentinels = config_.sentinels;
  for (std::size_t k = 0; k < sentinels.size() && !stopped_; ++k) {
    std::size_t i = (current_ + k) % sentinels.size();
    if (!asking_[i])
      asking_[i] = RedisNode::create(timer_->get_executor(), sentinel_config(config_, sentinels[i]),
                                     name_ + " sentinel " + sentinels[i].text, false);
    auto node = asking_[i];
    auto reply = co_await node->command(ask_args(config_.master_name));
    if (auto m = parse_master_address(reply)) {
      current_ = i;
      warned_ = false;
      set_master(*m, "Sentinel " + sentinels[i].text + " names");
      co_return true;
    }
  }
  if (!warned_ && !stopped_) {
    warned_ = true;
    log::warn(name_ + ": no Sentinel names master \"" + config_.master_name +
              "\"; caching locally only until one does");
  }
  co_return false;
}

void SentinelSource::set_master(const Endpoint& master, std::string_view how) {
  {
    std::lock_guard lock(mu_);
    if (master_ && master_->host == master.host && master_->port == master.port) return;
    master_ = master;
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  log::info(name_ + ": " + std::string(how) + " master \"" + config_.master_name + "\" at " + master.text);
  if (on_change_) on_change_();
}

}  // namespace gateway::cache
