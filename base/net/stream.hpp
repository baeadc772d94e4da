// The transport under an HTTP connection, client or upstream: a TCP socket,
// plain or with TLS over it. One class, two branches: plain reads and
// writes are the socket's own Asio operations, returned as they are (no
// coroutine frame, no virtual call on the hot path); TLS ones are
// coroutines around OpenSSL. Both return the same awaitable type, so a
// caller writes `co_await stream.read_some(buf)` either way.
//
// Why OpenSSL on the socket itself and not asio::ssl::stream: an
// asio::ssl::stream keeps two 17 KiB buffers of its own and a BIO pair with
// two more, about 70 KiB per connection for as long as it lives, and copies
// every byte through them. Here OpenSSL reads and writes the descriptor
// (nginx's way): with SSL_MODE_RELEASE_BUFFERS an idle keep-alive
// connection holds only the SSL object. The cost is this file: the
// WANT_READ / WANT_WRITE loop, waiting for readiness with async_wait.
// (async_wait is safe only right after the descriptor said EAGAIN, which is
// where OpenSSL asks for it: the reactor is edge-triggered, and an edge
// that came while nobody waited would be lost. A parked connection waits
// with wait_readable(), a 1-byte MSG_PEEK receive that checks first.)
//
// Reads are the exception: OpenSSL reads through a BIO of ours (Rx) that
// hands it what the socket's own async_read_some received, not recv(2) on
// the descriptor. Asio's async_wait costs an epoll_ctl(MOD) every time (a
// wait is never speculative), once per request on a keep-alive connection
// and twice per handshake; a read is tried at once and, if the socket has
// nothing, waits on the registration it has, as nginx's reads do. The
// bytes go through a buffer taken from a per-thread pool while OpenSSL has
// not taken them all (one copy of the ciphertext; it asks for at most a
// record's worth, which is what is read).
//
// A file body over TLS cannot use sendfile(2) (no kTLS here): the caller
// reads it into a buffer and writes that.
//
// One owner on one thread. One read and one write may be in flight at once
// (a request body read while the response is written), as on a socket.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <span>
#include <string_view>
#include <tuple>

#include "base/net/tls.hpp"

namespace gateway::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using IoResult = std::tuple<boost::system::error_code, std::size_t>;
inline constexpr auto kAwaitTuple = asio::as_tuple(asio::use_awaitable);

struct RxBio;

class Stream {
  struct Rx;  // what OpenSSL reads from (below)

 public:
  enum class Role { client, server };

  explicit Stream(tcp::socket socket) noexcept : socket_(std::move(socket)) {}
  explicit Stream(const asio::any_io_executor& ex) : socket_(ex) {}
  // An idle connection out of Asio: the descriptor, its SSL and what the
  // handshake said, nothing else (no per-descriptor reactor state, no
  // pending operation). Closes the connection if destroyed (a TLS
  // close_notify first, best effort).
  class Parked {
   public:
    Parked() = default;
    Parked(Parked&& o) noexcept;
    Parked& operator=(Parked&&) = delete;
    ~Parked();
    int fd() const noexcept { return fd_; }

   private:
    friend class Stream;
    std::unique_ptr<Rx> rx_;  // a TLS connection's (its SSL's read BIO points at it)
    SslPtr ssl_;
    std::string_view version_;
    int fd_ = -1;
    bool v6_ = false;
    bool resumed_ = false;
    bool handshake_done_ = false;
  };
  // The connection back in Asio, on `ex`; closed if that fails.
  Stream(const asio::any_io_executor& ex, Parked&& parked) noexcept;
  // Takes the connection out of Asio (no operation may be pending): this
  // Stream is closed afterwards.
  Parked park() noexcept;
  Stream(Stream&&) noexcept = default;
  Stream& operator=(Stream&&) noexcept = default;
  ~Stream() { release_ssl(); }

  tcp::socket& socket() noexcept { return socket_; }
  const tcp::socket& socket() const noexcept { return socket_; }
  asio::any_io_executor get_executor() { return socket_.get_executor(); }
  bool is_open() const noexcept { return socket_.is_open(); }

  // Puts TLS over the connected socket: a new SSL from `ctx` in `role`.
  // The handshake is handshake(); reads and writes are TLS from here on.
  // An error if OpenSSL cannot make one (out of memory).
  boost::system::error_code start_tls(SSL_CTX* ctx, Role role);
  bool tls() const noexcept { return ssl_ != nullptr; }
  SSL* ssl() const noexcept { return ssl_.get(); }

  // The TLS handshake. On failure the error says why (a tls_category()
  // code, or a verify_category() one when the peer's certificate was
  // refused); operation_aborted if cancel() stopped it.
  asio::awaitable<boost::system::error_code> handshake();
  // After the handshake: "TLSv1.3", "TLSv1.2" (empty for plain TCP),
  // whether the session was resumed, the ALPN protocol chosen (empty if
  // none).
  std::string_view version() const noexcept { return version_; }
  bool resumed() const noexcept { return resumed_; }
  std::string_view alpn() const noexcept;

  // As socket.async_read_some: some bytes, or an error (eof at the end).
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer) {
    if (!ssl_) return socket_.async_read_some(buffer, kAwaitTuple);
    return tls_read_some(buffer);
  }
  // As asio::async_write: all of `buffers`, or an error.
  asio::awaitable<IoResult> write(std::span<const asio::const_buffer> buffers) {
    if (!ssl_) return asio::async_write(socket_, buffers, kAwaitTuple);
    return tls_write(buffers);
  }
  asio::awaitable<IoResult> write(asio::const_buffer buffer) {
    if (!ssl_) return asio::async_write(socket_, buffer, kAwaitTuple);
    return tls_write_one(buffer);
  }

  // Calls handler(error_code, n) once bytes can be read (n == 0: the peer
  // closed). Reads nothing: the bytes stay for read_some. Checks at once,
  // so it may follow any read (see the file comment).
  template <class Handler>
  void wait_readable(Handler&& handler) {
    if (rx_ && rx_->held()) {
      return asio::post(socket_.get_executor(), [h = std::forward<Handler>(handler)]() mutable {
        h(boost::system::error_code{}, std::size_t{1});
      });
    }
    socket_.async_receive(asio::buffer(&peek_, 1), tcp::socket::message_peek, std::forward<Handler>(handler));
  }
  // TLS bytes received and not yet returned by read_some: decrypted or not,
  // in OpenSSL's buffers or ours. (A wait for the socket would not see them.)
  bool tls_pending() const noexcept;

  // Ends our sending half: a TLS close_notify first (if the handshake
  // completed; best effort, never waits), then a TCP shutdown(SHUT_WR).
  void shutdown_send() noexcept;
  // A TLS close_notify alone, best effort: for a clean close.
  void close_notify() noexcept;
  // Both halves, at once: the peer sees the end of what it was sent.
  void shutdown_both() noexcept;
  // Cancels pending operations (they complete with operation_aborted).
  void cancel() noexcept;
  // Closes the socket and frees the SSL: a TLS operation still in flight
  // completes with an error and touches neither again.
  void close() noexcept;

 private:
  friend struct RxBio;
  // Frees the SSL, its session left resumable (see stream.cpp).
  void release_ssl() noexcept;
  asio::awaitable<IoResult> tls_read_some(asio::mutable_buffer buffer);
  asio::awaitable<IoResult> tls_write(std::span<const asio::const_buffer> buffers);
  // The buffer kept in the coroutine's frame: coroutines start when awaited.
  asio::awaitable<IoResult> tls_write_one(asio::const_buffer buffer);

  // What OpenSSL reads from (see the file comment): the bytes received and
  // not yet taken, and what OpenSSL asked for last. On the heap: the BIO
  // points at it, and a Stream moves.
  struct Rx {
    std::unique_ptr<char[]> buffer;  // from the thread's pool while it holds bytes
    std::size_t begin = 0, end = 0;
    std::size_t want = 0;  // the size OpenSSL's last read asked for
    bool eof = false;      // the peer closed: OpenSSL reads 0 from here on
    bool filling = false;  // a receive into `buffer` is under way
    bool held() const noexcept { return begin < end; }
  };
  // Receives for OpenSSL's next read (`Next::wait_read`), or waits until
  // the socket can be written to: an error if the socket failed.
  asio::awaitable<boost::system::error_code> wait(bool for_read);
  asio::awaitable<boost::system::error_code> fill();
  void give_back_rx() noexcept;  // the buffer to the pool, if it holds nothing

  tcp::socket socket_;
  std::unique_ptr<Rx> rx_;
  SslPtr ssl_;
  std::string_view version_;
  bool resumed_ = false;
  bool handshake_done_ = false;
  char peek_ = 0;
};

}  // namespace gateway::net
