#include "gateway/parked.hpp"

#include <malloc.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <new>
#include <system_error>

#include "gateway/connection.hpp"
#include "gateway/h2/session.hpp"  // ClientConnection destroys its h2_
#include "gateway/worker.hpp"

namespace gateway {

namespace {
// Idle this long (up to a tick more) after a request, a connection parks:
// not at once, as a busy connection's next request is usually a few
// microseconds away, and building the connection again costs.
constexpr std::chrono::milliseconds kParkAfter{50};
constexpr std::size_t kTrimAfter = 256;

int make_epoll() {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  return fd;
}
}  // namespace

// ClientConnection's side: arm_park() in serve() when idle; at the park
// deadline the pending read is cancelled, run() returns and start()'s
// coroutine hands the connection to park().

void ClientConnection::arm_park() { worker_.deadlines().arm(park_deadline_, kParkAfter); }

void ClientConnection::on_park_deadline(void* self) {
  auto* c = static_cast<ClientConnection*>(self);
  c->parked_ = true;
  c->stream_.cancel();
}

void ClientConnection::park(std::unique_ptr<ClientConnection> c) {
  Worker& worker = c->worker_;
  // The keep-alive deadline goes on; serve() armed it.
  auto until = c->deadline_.armed() ? c->deadline_.when()
                                    : Deadlines::coarse_now() + c->state_->runtime->config->timeouts.keepalive;
  Deadlines::disarm(c->deadline_);
  auto p = std::make_unique<ParkedConnection>(worker.parking(), c->stream_.park());
  p->tls = std::move(c->tls_);
  p->peer = std::move(c->peer_);
  p->requests = c->requests_;
  p->admin = c->admin_;
  p->client_slot = std::move(c->client_slot_);
  c->unlink();  // out of the registry, still counted as open
  c.reset();
  worker.parking().park(std::move(p), until);
}

ClientConnection::ClientConnection(Worker& worker, ParkedConnection&& parked)
    : worker_(worker),
      tls_(std::move(parked.tls)),
      stream_(worker.io().get_executor(), std::move(parked.stream)),
      admin_(parked.admin),
      handshake_done_(true),
      peer_(std::move(parked.peer)),
      client_slot_(std::move(parked.client_slot)),
      state_(worker.state()),
      parser_(http::Parser::Kind::request, state_->runtime->request_limits),
      requests_(parked.requests),
      deadline_(&ClientConnection::on_deadline, this),
      write_deadline_(&ClientConnection::on_deadline, this),
      park_deadline_(&ClientConnection::on_park_deadline, this),
      resumed_(true) {
  worker_.reattach(*this);
  worker_.deadlines().arm(deadline_, Clock::duration::zero(), parked.keepalive.when());
}

void ClientConnection::resume(Worker& worker, std::unique_ptr<ParkedConnection> parked) {
  start(std::make_unique<ClientConnection>(worker, std::move(*parked)));
}

namespace {
constexpr std::size_t kSlabBlock = 64 * 1024;
thread_local void* slab_free = nullptr;  // free records, each holding the next
}  // namespace

void* ParkedConnection::operator new(std::size_t size) {
  if (slab_free == nullptr) {
    void* block = ::mmap(nullptr, kSlabBlock, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED) throw std::bad_alloc();
    auto* bytes = static_cast<char*>(block);
    for (std::size_t i = kSlabBlock / size; i-- > 0;) {
      void* slot = bytes + i * size;
      *static_cast<void**>(slot) = slab_free;
      slab_free = slot;
    }
  }
  void* p = slab_free;
  slab_free = *static_cast<void**>(p);
  return p;
}

void ParkedConnection::operator delete(void* p) noexcept {
  *static_cast<void**>(p) = slab_free;
  slab_free = p;
}

void ParkedConnection::on_keepalive(void* self) {
  auto* c = static_cast<ParkedConnection*>(self);
  c->lot->close(*c);
}

ParkingLot::ParkingLot(Worker& worker) : worker_(worker), epoll_(worker.io(), make_epoll()) {}

ParkingLot::~ParkingLot() {
  // The worker is going: close what is left, quietly.
  while (!list_.empty()) {
    auto* c = &list_.front();
    Deadlines::disarm(c->keepalive);
    c->hook.unlink();
    delete c;
  }
}

void ParkingLot::park(std::unique_ptr<ParkedConnection> c, Clock::time_point keepalive_until) {
  epoll_event ev{};
  // Level-triggered: bytes already waiting are seen at once.
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.ptr = c.get();
  if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, c->stream.fd(), &ev) != 0) {
    // (Out of kernel memory.) Closed as at its keep-alive timeout.
    worker_.parked_closed();
    return;
  }
  worker_.deadlines().arm(c->keepalive, Clock::duration::zero(), keepalive_until);
  list_.push_back(*c.release());
  ++size_;
  ++parked_since_trim_;
  worker_.metrics().connections_parked.inc();
  if (!waiting_) wait();
}

void ParkingLot::wait() {
  waiting_ = true;
  // No speculative check is needed: on_ready() drained the set, and the
  // reactor does not poll again before this wait is queued.
  epoll_.async_wait(boost::asio::posix::descriptor_base::wait_read, [this](boost::system::error_code ec) {
    waiting_ = false;
    if (ec) return;  // stopped
    on_ready();
    if (size_ > 0) wait();
  });
}

void ParkingLot::on_ready() {
  std::array<epoll_event, 64> events;
  for (;;) {
    int n = ::epoll_wait(epoll_.native_handle(), events.data(), static_cast<int>(events.size()), 0);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; ++i) {
      // Bytes, the end or an error: the connection reads and sees which.
      auto* c = static_cast<ParkedConnection*>(events[static_cast<std::size_t>(i)].data.ptr);
      ClientConnection::resume(worker_, take(*c));
    }
    if (n < static_cast<int>(events.size())) return;
  }
}

std::unique_ptr<ParkedConnection> ParkingLot::take(ParkedConnection& c) {
  ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, c.stream.fd(), nullptr);
  Deadlines::disarm(c.keepalive);
  c.hook.unlink();
  --size_;
  worker_.metrics().connections_parked.dec();
  return std::unique_ptr<ParkedConnection>(&c);
}

void ParkingLot::close(ParkedConnection& c) {
  take(c).reset();  // the descriptor closes with it
  worker_.parked_closed();
}

void ParkingLot::trim() {
  // The connections that parked were freed (objects, frames, buffers): a
  // burst of them leaves free heap pages behind, resident until reused.
  if (parked_since_trim_ < kTrimAfter) return;
  parked_since_trim_ = 0;
  ::malloc_trim(0);
}

void ParkingLot::close_all() {
  while (!list_.empty()) close(list_.front());
}

void ParkingLot::stop() {
  boost::system::error_code ignored;
  epoll_.cancel(ignored);
}

}  // namespace gateway
