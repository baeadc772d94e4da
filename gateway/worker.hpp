// A worker: one thread, one io_context, its own acceptors (SO_REUSEPORT on
// the shared listen ports), connections, upstream pools, deadlines, counters
// and access-log buffer. Nothing here is touched by another thread except
// through post(), the metrics' atomics and draining_.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/access_log.hpp"
#include "base/deadline.hpp"
#include "gateway/metrics.hpp"
#include "gateway/parked.hpp"
#include "gateway/rate_limit.hpp"
#include "gateway/runtime.hpp"

namespace gateway {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class Admin;

// What the worker needs of a client connection: a place in its registry and
// a way to close it if idle, for draining.
class Attached
    : public boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  virtual void close_if_idle() = 0;

 protected:
  ~Attached() = default;
};

// A listening socket of a worker and what it serves: the admin endpoints,
// or a public listener as configured when it was bound (a reload's entry of
// the same address takes over for new connections: ClientConnection looks
// it up in the running configuration). A closed listener stays in the
// worker's list while connections accepted on it may refer to it.
struct Listener {
  std::unique_ptr<tcp::acceptor> acceptor;
  bool admin = false;
  std::size_t index = 0;  // in the configuration's listen entries, when bound
  ListenConfig config;
  // In metrics: the address, or the one bound if the port was 0.
  std::string label;
  TlsStats* tls_stats = nullptr;  // the worker's counters for it
};

class Worker {
 public:
  Worker(int id, Admin& admin);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  int id() const noexcept { return id_; }
  asio::io_context& io() noexcept { return *io_; }
  Deadlines& deadlines() noexcept { return deadlines_; }
  WorkerMetrics& metrics() noexcept { return metrics_; }
  const WorkerMetrics& metrics() const noexcept { return metrics_; }
  AccessLog& access_log() noexcept { return access_log_; }
  Admin& admin() noexcept { return admin_; }
  const std::shared_ptr<WorkerState>& state() const noexcept { return state_; }
  bool draining() const noexcept { return draining_.load(std::memory_order_relaxed); }

  // Before start(): the listening sockets this worker accepts on; `config`
  // is null for the admin listener, else entry `index` of listen.
  void add_acceptor(tcp::acceptor acceptor, const ListenConfig* config, std::size_t index = 0);
  // From any thread, after start() (a reload): accept on the listening
  // socket `fd` (bound and listening; this worker owns it from now on) as
  // add_acceptor() says.
  void post_listen(int fd, tcp protocol, std::optional<ListenConfig> config, std::size_t index = 0);
  // From any thread: stop accepting on the listeners of address `address`
  // (the admin listener if `admin`) and close them; connections accepted on
  // them finish.
  void post_unlisten(std::string address, bool admin);
  // From any thread (a reload lowered `workers`): hands every open
  // listening socket of this worker to `heir` (the connections waiting in
  // their backlogs with them: nothing is closed), then drains as
  // post_drain() does, except that idle keep-alive connections are not
  // closed at once: each ends after its next answer or when it times out.
  void post_retire(Worker& heir);
  // Starts the thread, with `rt` applied first.
  void start(std::shared_ptr<const Runtime> rt);
  // From any thread: apply a new configuration between requests.
  void post_runtime(std::shared_ptr<const Runtime> rt);
  // From any thread: stop accepting, close idle connections, let the others
  // finish their current request; the thread ends when none is left.
  void post_drain();
  // From any thread: stop now (the drain deadline passed).
  void stop() { io_->stop(); }
  void join();
  // The thread has returned from io_context::run().
  bool finished() const noexcept { return finished_.load(); }

  // Large I/O buffers, recycled: a connection borrows one while it reads a
  // body or a long head and gives it back when idle.
  static constexpr std::size_t kBufferSize = 16 * 1024;
  std::unique_ptr<char[]> take_buffer();
  void give_buffer(std::unique_ptr<char[]> b);

  // Connection registry, for draining and the active gauge.
  void attach(Attached& c);
  void detach(Attached& c);
  // Parking (gateway/parked.hpp): a connection leaves the registry for the
  // lot without closing (unlink itself), comes back with reattach(), and
  // the lot tells parked_closed() when it closes one.
  ParkingLot& parking() noexcept { return *parking_; }
  void reattach(Attached& c) { connections_.push_back(c); }
  void parked_closed();

 private:
  void apply(std::shared_ptr<const Runtime> rt);
  void release_redis();
  void schedule_tick();
  void maybe_finish_drain();
  void begin_drain(bool close_idle);
  asio::awaitable<void> accept_loop(const Listener& listener);
  // A place for a connection just accepted (max_conns_per_client: an empty
  // Slot if not counted), or nullopt if its client has too many open.
  std::optional<limit::ClientConnections::Slot> client_slot(const Listener& listener, const tcp::socket& s);

  int id_;
  Admin& admin_;
  // Destroyed explicitly, first: suspended coroutines (and the connections
  // they own) must go while the rest of the worker is still alive.
  std::unique_ptr<asio::io_context> io_;
  std::optional<asio::steady_timer> tick_;
  Deadlines deadlines_;
  WorkerMetrics metrics_;
  std::optional<ParkingLot> parking_;  // reset before io_
  AccessLog access_log_;
  std::shared_ptr<WorkerState> state_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  boost::intrusive::list<Attached, boost::intrusive::constant_time_size<false>> connections_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> finished_{false};
  std::vector<std::unique_ptr<char[]>> free_buffers_;
  std::thread thread_;
};

}  // namespace gateway
