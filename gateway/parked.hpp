// Idle keep-alive connections, parked: a client connection idle between
// requests for a moment (ClientConnection's park deadline) leaves its
// object, coroutine and buffers and becomes a ParkedConnection: the
// descriptor (and its SSL), the few things a next request needs, and its
// keep-alive deadline. The descriptor also leaves Asio (no per-descriptor
// reactor state, no pending operation, no handler): the worker's ParkingLot
// watches every parked descriptor with one epoll set of its own, itself one
// descriptor in the worker's loop. When bytes (or the end) arrive the
// connection is built again (ClientConnection::resume) and reads them; at
// its keep-alive deadline, or when a stop drains the worker, the lot closes
// it (a TLS close_notify first). nginx keeps an idle connection the same
// way: its connection and event structs, no buffers.
//
// One lot per worker, on the worker's thread only.
#pragma once

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/intrusive/list.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "base/deadline.hpp"
#include "base/net/stream.hpp"
#include "gateway/rate_limit.hpp"

namespace gateway {

namespace tls {
class ServerContext;
}
class ParkingLot;
class Worker;

struct ParkedConnection final {
  ParkedConnection(ParkingLot& lot, net::Stream::Parked stream)
      : keepalive(&ParkedConnection::on_keepalive, this), lot(&lot), stream(std::move(stream)) {}
  static void on_keepalive(void* self);
  // From a per-thread slab (blocks of a few hundred records, mapped
  // apart from the heap): no allocator header, and a parked record never
  // pins a heap page the connections that came and went freed.
  static void* operator new(std::size_t size);
  static void operator delete(void* p) noexcept;

  boost::intrusive::list_member_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> hook;
  Deadline keepalive;
  ParkingLot* lot;
  // A TLS connection's context, kept while it lives (see ClientConnection).
  std::shared_ptr<const tls::ServerContext> tls;
  net::Stream::Parked stream;
  std::string peer;
  std::uint64_t requests = 0;
  bool admin = false;
  limit::ClientConnections::Slot client_slot;  // max_conns_per_client
};

class ParkingLot {
 public:
  explicit ParkingLot(Worker& worker);
  ~ParkingLot();
  ParkingLot(const ParkingLot&) = delete;
  ParkingLot& operator=(const ParkingLot&) = delete;

  // Parks `c` until bytes arrive (then ClientConnection::resume) or
  // `keepalive_until` passes (then it is closed).
  void park(std::unique_ptr<ParkedConnection> c, Clock::time_point keepalive_until);
  // From the worker's tick: after many connections parked, gives the
  // heap pages they freed back to the system (malloc_trim).
  void trim();
  // Draining: closes every parked connection.
  void close_all();
  // The worker's loop may end: stop watching.
  void stop();
  std::size_t size() const noexcept { return size_; }

 private:
  friend struct ParkedConnection;
  using List = boost::intrusive::list<
      ParkedConnection,
      boost::intrusive::member_hook<ParkedConnection, decltype(ParkedConnection::hook), &ParkedConnection::hook>,
      boost::intrusive::constant_time_size<false>>;

  void wait();
  void on_ready();
  // Out of the lot (and its epoll set); the caller owns it.
  std::unique_ptr<ParkedConnection> take(ParkedConnection& c);
  // Closed: out of the lot, counted, the worker told.
  void close(ParkedConnection& c);

  Worker& worker_;
  boost::asio::posix::stream_descriptor epoll_;
  List list_;
  std::size_t size_ = 0;
  std::size_t parked_since_trim_ = 0;
  bool waiting_ = false;
};

}  // namespace gateway
