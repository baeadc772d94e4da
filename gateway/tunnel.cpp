#include "gateway/tunnel.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <memory>

#include "gateway/worker.hpp"

namespace gateway {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

static_assert(std::tuple_size_v<decltype(WorkerMetrics::tunnel_ends)> == Tunnel::kEnds);

// One way through the tunnel.
struct Tunnel::Direction {
  net::Stream& from;
  net::Stream& to;
  std::span<const char> pending;  // read before the tunnel began
  std::uint64_t& count;
  Counter& metric;
  End on_eof;  // how the tunnel ends when `from` closes
};

Tunnel::Tunnel(Worker& worker, net::Stream& client, net::Stream& upstream)
    : worker_(worker),
      client_(client),
      upstream_(upstream),
      idle_(&Tunnel::on_idle, this),
      drain_(&Tunnel::on_drain, this) {
  auto& m = worker_.metrics();
  m.tunnels_active.inc();
  m.tunnels_total.inc();
}

Tunnel::~Tunnel() {
  Deadlines::disarm(idle_);
  Deadlines::disarm(drain_);
  worker_.metrics().tunnels_active.dec();
}

void Tunnel::on_idle(void* self) { static_cast<Tunnel*>(self)->end(End::idle); }

void Tunnel::on_drain(void* self) { static_cast<Tunnel*>(self)->end(End::drained); }

// The first reason wins; both streams' pending operations are cancelled and
// each loop, seeing ended_, stops before starting another.
void Tunnel::end(End why) {
  if (ended_) return;
  ended_ = true;
  why_ = why;
  Deadlines::disarm(idle_);
  Deadlines::disarm(drain_);
  client_.cancel();
  upstream_.cancel();
}

void Tunnel::drain(Clock::duration grace) {
  if (ended_ || draining_) return;
  draining_ = true;
  if (grace <= Clock::duration::zero()) end(End::drained);
  else worker_.deadlines().arm(drain_, grace);
}

asio::awaitable<void> Tunnel::pump(Direction& d) {
  if (!d.pending.empty() && !ended_) {
    auto [ec, n] = co_await d.to.write(asio::buffer(d.pending.data(), d.pending.size()));
    if (ec) {
      end(End::error);
      co_return;
    }
    d.count += d.pending.size();
    d.metric.inc(d.pending.size());
  }
  auto buf = worker_.take_buffer();
  while (!ended_) {
    auto [ec, n] = co_await d.from.read_some(asio::buffer(buf.get(), Worker::kBufferSize));
    if (ended_) break;
    if (ec) {
      end(ec == asio::error::eof ? d.on_eof : End::error);
      break;
    }
    worker_.deadlines().arm(idle_, idle_timeout_);
    auto [wec, w] = co_await d.to.write(asio::buffer(buf.get(), n));
    if (wec) {
      if (!ended_) end(End::error);
      break;
    }
    d.count += n;
    d.metric.inc(n);
  }
  worker_.give_buffer(std::move(buf));
}

asio::awaitable<Tunnel::Result> Tunnel::run(std::span<const char> from_client, std::span<const char> from_upstream,
                                            Clock::duration idle) {
  Result r;
  idle_timeout_ = idle;
  worker_.deadlines().arm(idle_, idle_timeout_);
  auto& m = worker_.metrics();
  Direction up{client_, upstream_, from_client, r.from_client, m.tunnel_bytes_from_clients, End::client_closed};
  Direction down{upstream_, client_, from_upstream, r.to_client, m.tunnel_bytes_to_clients, End::upstream_closed};
  co_await (pump(up) && pump(down));
  r.end = why_;
  m.tunnel_ends[static_cast<std::size_t>(why_)].inc();
  co_return r;
}

}  // namespace gateway
