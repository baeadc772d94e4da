#include "gateway/worker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/connection.hpp"
#include "base/log.hpp"

namespace gateway {

namespace {
constexpr std::chrono::milliseconds kTick{100};
}

Worker::Worker(int id, Admin& admin)
    : id_(id), admin_(admin), io_(std::make_unique<asio::io_context>(1)) {
  tick_.emplace(*io_);
  parking_.emplace(*this);
}

Worker::~Worker() {
  join();
  release_redis();
  listeners_.clear();
  tick_.reset();
  parking_.reset();
  state_.reset();
  io_.reset();
}

void Worker::add_acceptor(tcp::acceptor acceptor, const ListenConfig* config, std::size_t index) {
  auto l = std::make_unique<Listener>();
  l->acceptor = std::make_unique<tcp::acceptor>(std::move(acceptor));
  l->admin = config == nullptr;
  l->index = index;
  if (config) {
    l->config = *config;
    l->label = config->address.text;
    if (config->address.port == 0) {
      boost::system::error_code ec;
      auto ep = l->acceptor->local_endpoint(ec);
      auto a = ep.address();
      if (!ec) l->label = (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
    }
    if (config->tls) l->tls_stats = &metrics_.tls(l->label);
  }
  listeners_.push_back(std::move(l));
}

void Worker::post_listen(int fd, tcp protocol, std::optional<ListenConfig> config, std::size_t index) {
  asio::post(*io_, [this, fd, protocol, config = std::move(config), index] {
    tcp::acceptor a(*io_, protocol, fd);
    add_acceptor(std::move(a), config ? &*config : nullptr, index);
    if (draining_.load()) {
      listeners_.back()->acceptor->close();  // a reload raced with a stop
      return;
    }
    asio::co_spawn(*io_, accept_loop(*listeners_.back()), log::on_exception("accept loop"));
  });
}

void Worker::post_unlisten(std::string address, bool admin) {
  asio::post(*io_, [this, address = std::move(address), admin] {
    for (auto& l : listeners_) {
      if (l->admin != admin || (!admin && l->config.address.text != address)) continue;
      boost::system::error_code ec;
      l->acceptor->close(ec);  // the accept loop ends; the Listener stays for its connections
    }
  });
}

void Worker::post_retire(Worker& heir) {
  asio::post(*io_, [this, &heir] {
    for (auto& l : listeners_) {
      if (!l->acceptor->is_open()) continue;
      // release(): the pending accept ends (operation_aborted) and the
      // socket stays open, its backlog with it, for the heir.
      boost::system::error_code ec;
      auto protocol = l->acceptor->local_endpoint(ec).protocol();
      int fd = l->acceptor->release(ec);
      if (ec) continue;
      heir.post_listen(fd, protocol, l->admin ? std::nullopt : std::optional<ListenConfig>(l->config), l->index);
    }
    begin_drain(false);
  });
}

void Worker::start(std::shared_ptr<const Runtime> rt) {
  apply(std::move(rt));
  for (auto& l : listeners_) asio::co_spawn(*io_, accept_loop(*l), log::on_exception("accept loop"));
  schedule_tick();
  thread_ = std::thread([this] {
    try {
      io_->run();
    } catch (const std::exception& e) {
      log::error(std::string("worker ") + std::to_string(id_) + " stopped: " + e.what());
    }
    access_log_.flush();
    finished_.store(true);
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::release_redis() {
  if (!state_) return;
  for (const auto& z : state_->runtime->zones) {
    if (!z->tier) continue;
    z->tier->release_client(static_cast<std::size_t>(id_));
    if (id_ == 0) z->tier->release_subscriber();
  }
}

void Worker::apply(std::shared_ptr<const Runtime> rt) {
  access_log_.set_sink(rt->access_log);
  // The first worker listens for the fleet's announcements and purges.
  if (id_ == 0)
    for (const auto& z : rt->zones)
      if (z->tier) z->tier->start(io_->get_executor());
  state_ = std::make_shared<WorkerState>(std::move(rt), metrics_, static_cast<std::size_t>(id_), state_.get());
}

void Worker::post_runtime(std::shared_ptr<const Runtime> rt) {
  asio::post(*io_, [this, rt = std::move(rt)]() mutable { apply(std::move(rt)); });
}

void Worker::post_drain() {
  asio::post(*io_, [this] { begin_drain(true); });
}

void Worker::begin_drain(bool close_idle) {
  draining_.store(true);
  for (auto& l : listeners_) {
    boost::system::error_code ec;
    l->acceptor->close(ec);
  }
  // Closing an idle keep-alive connection races with a request its client
  // may be sending (it would get nothing). A stop must be quick and takes
  // that risk; a retiring worker need not: each connection ends after its
  // next answer (Connection: close) or at its keep-alive timeout.
  if (close_idle) {
    for (auto& c : connections_) c.close_if_idle();
    parking_->close_all();
  }
  release_redis();  // its sockets would keep the loop running
  maybe_finish_drain();
}

void Worker::maybe_finish_drain() {
  if (draining_.load() && connections_.empty() && parking_->size() == 0) {
    // Nothing left: let io_context::run() return.
    tick_->cancel();
    parking_->stop();
    access_log_.flush();
  }
}

void Worker::schedule_tick() {
  tick_->expires_after(kTick);
  tick_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    deadlines_.expire(Clock::now());
    access_log_.flush();
    parking_->trim();
    if (draining_.load() && connections_.empty() && parking_->size() == 0) return;
    schedule_tick();
  });
}

std::unique_ptr<char[]> Worker::take_buffer() {
  if (free_buffers_.empty()) return std::unique_ptr<char[]>(new char[kBufferSize]);
  auto b = std::move(free_buffers_.back());
  free_buffers_.pop_back();
  return b;
}

void Worker::give_buffer(std::unique_ptr<char[]> b) {
  // Keep a few for the next borrower; return the rest to the allocator.
  constexpr std::size_t kKeep = 64;
  if (free_buffers_.size() < kKeep) free_buffers_.push_back(std::move(b));
}

void Worker::attach(Attached& c) {
  connections_.push_back(c);
  metrics_.connections_active.inc();
  metrics_.connections_total.inc();
}

void Worker::detach(Attached& c) {
  c.unlink();
  metrics_.connections_active.dec();
  maybe_finish_drain();
}

void Worker::parked_closed() {
  metrics_.connections_active.dec();
  maybe_finish_drain();
}

std::optional<limit::ClientConnections::Slot> Worker::client_slot(const Listener& listener, const tcp::socket& s) {
  // max_conns_per_client counts by the peer's address, the only one known
  // at accept: not on the admin listener, nor behind a PROXY protocol
  // sender (every connection's peer is the balancer).
  const std::size_t max = state_->runtime->config->max_conns_per_client;
  if (max == 0 || listener.admin || listener.config.proxy_protocol) return limit::ClientConnections::Slot{};
  boost::system::error_code ec;
  auto address = s.remote_endpoint(ec).address();
  if (ec) return limit::ClientConnections::Slot{};
  std::string bytes;
  if (address.is_v4()) {
    auto b = address.to_v4().to_bytes();
    bytes.assign(b.begin(), b.end());
  } else {
    auto b = address.to_v6().to_bytes();
    bytes.assign(b.begin(), b.end());
  }
  return limit::ClientConnections::process().acquire(bytes, max);
}

asio::awaitable<void> Worker::accept_loop(const Listener& listener) {
  auto& acceptor = *listener.acceptor;
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      // Out of descriptors or a connection aborted before accept: note it,
      // pause briefly so a persistent error does not spin, and go on.
      log::warn("accept failed: " + ec.message());
      asio::steady_timer pause(*io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    auto slot = client_slot(listener, socket);
    if (!slot) {
      metrics_.connections_refused_per_client.inc();
      continue;  // closed at once: the socket goes
    }
    // Accepted as the drain began: served all the same (its client sent a
    // request already, perhaps), with Connection: close.
    ClientConnection::start(std::make_unique<ClientConnection>(*this, std::move(socket), listener, std::move(*slot)));
    if (draining_.load()) co_return;
  }
}

}  // namespace gateway
