#include "base/net/stream.hpp"

#include <openssl/err.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

namespace gateway::net {

namespace {

// The largest plaintext of one TLS record: small pieces of a gather write
// are copied together up to this, so they leave as one record and one send.
constexpr std::size_t kRecord = 16 * 1024;

enum class Next { wait_read, wait_write, fail };
struct Step {
  Next next;
  boost::system::error_code ec;
};

// What to do after an OpenSSL call on `ssl` returned `ret` (<= 0). Must be
// called right after it, before anything can change errno.
Step after_failure(SSL* ssl, int ret) noexcept {
  const int saved_errno = errno;
  switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
      return {Next::wait_read, {}};
    case SSL_ERROR_WANT_WRITE:
      return {Next::wait_write, {}};
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return {Next::fail, asio::error::eof};
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() != 0) return {Next::fail, last_tls_error()};
      if (saved_errno == 0) return {Next::fail, asio::error::eof};
      return {Next::fail, {saved_errno, boost::system::system_category()}};
    default:
      return {Next::fail, last_tls_error(asio::error::connection_aborted)};
  }
}

// The receive buffer: a record, its header and the most padding and tag
// TLS 1.3 adds; OpenSSL never asks for more than its own buffer holds.
constexpr std::size_t kRxSize = 16 * 1024 + 512;

// Free receive buffers of this thread: a connection holds one only while
// OpenSSL has not taken what was received.
std::vector<std::unique_ptr<char[]>>& rx_pool() {
  thread_local std::vector<std::unique_ptr<char[]>> pool;
  return pool;
}

}  // namespace

// The BIO OpenSSL reads from: what Stream::fill received, else "retry"
// (and the size asked for, for the next receive); 0 at the peer's end.
struct RxBio {
  using Rx = Stream::Rx;
  static int read(BIO* bio, char* out, int size) {
    auto* rx = static_cast<Rx*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (size <= 0) return 0;
    if (rx->held()) {
      std::size_t n = std::min(rx->end - rx->begin, static_cast<std::size_t>(size));
      std::memcpy(out, rx->buffer.get() + rx->begin, n);
      rx->begin += n;
      return static_cast<int>(n);
    }
    if (rx->eof) return 0;
    rx->want = static_cast<std::size_t>(size);
    BIO_set_retry_read(bio);
    return -1;
  }
  static long ctrl(BIO* bio, int cmd, long, void*) {
    const auto* rx = static_cast<const Rx*>(BIO_get_data(bio));
    switch (cmd) {
      case BIO_CTRL_EOF: return rx->eof && !rx->held() ? 1 : 0;
      case BIO_CTRL_PENDING: return static_cast<long>(rx->end - rx->begin);
      case BIO_CTRL_FLUSH: return 1;
      default: return 0;
    }
  }
  static int create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
  }
  static const BIO_METHOD* method() {
    static BIO_METHOD* m = [] {
      BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gateway stream rx");
      if (made) {
        BIO_meth_set_read(made, &RxBio::read);
        BIO_meth_set_ctrl(made, &RxBio::ctrl);
        BIO_meth_set_create(made, &RxBio::create);
      }
      return made;
    }();
    return m;
  }
};

Stream::Parked::Parked(Parked&& o) noexcept
    : rx_(std::move(o.rx_)),
      ssl_(std::move(o.ssl_)),
      version_(o.version_),
      fd_(std::exchange(o.fd_, -1)),
      v6_(o.v6_),
      resumed_(o.resumed_),
      handshake_done_(o.handshake_done_) {}

Stream::Parked::~Parked() {
  if (fd_ < 0) return;
  if (ssl_ && handshake_done_) {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());  // close_notify if the socket takes it now, as close_notify()
    ERR_clear_error();
  }
  if (ssl_) SSL_set_shutdown(ssl_.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);  // see release_ssl
  ssl_.reset();
  ::close(fd_);
}

Stream::Parked Stream::park() noexcept {
  Parked p;
  boost::system::error_code ec;
  p.v6_ = socket_.local_endpoint(ec).protocol() == tcp::v6();
  p.fd_ = socket_.release(ec);
  if (ec) {
    p.fd_ = -1;
    close();
    return p;
  }
  // OpenSSL's read BIO points at rx_ (on the heap): it goes along. A
  // parked connection's holds no buffer (a cancelled receive gave it back).
  give_back_rx();
  p.rx_ = std::move(rx_);
  p.ssl_ = std::move(ssl_);
  p.version_ = version_;
  p.resumed_ = resumed_;
  p.handshake_done_ = handshake_done_;
  return p;
}

Stream::Stream(const asio::any_io_executor& ex, Parked&& parked) noexcept
    : socket_(ex), version_(parked.version_), resumed_(parked.resumed_), handshake_done_(parked.handshake_done_) {
  boost::system::error_code ec;
  socket_.assign(parked.v6_ ? tcp::v6() : tcp::v4(), parked.fd_, ec);
  if (ec) return;  // parked's destructor closes the descriptor
  parked.fd_ = -1;
  rx_ = std::move(parked.rx_);
  ssl_ = std::move(parked.ssl_);
  socket_.native_non_blocking(true, ec);  // as start_tls and the connection set it
}

boost::system::error_code Stream::start_tls(SSL_CTX* ctx, Role role) {
  ERR_clear_error();
  SslPtr ssl(SSL_new(ctx));
  if (!ssl) return last_tls_error(asio::error::no_memory);
  boost::system::error_code ec;
  // OpenSSL writes the descriptor itself (an ioctl only if not so already).
  if (!socket_.native_non_blocking()) socket_.native_non_blocking(true, ec);
  if (ec) return ec;
  auto rx = std::make_unique<Rx>();
  BIO* rbio = RxBio::method() ? BIO_new(RxBio::method()) : nullptr;
  BIO* wbio = BIO_new_socket(socket_.native_handle(), BIO_NOCLOSE);
  if (!rbio || !wbio) {
    BIO_free(rbio);
    BIO_free(wbio);
    return last_tls_error(asio::error::no_memory);
  }
  BIO_set_data(rbio, rx.get());
  SSL_set_bio(ssl.get(), rbio, wbio);  // owned by the SSL now
  rx_ = std::move(rx);
  // Partial writes and a moving buffer: see tls_write. Released buffers:
  // an idle connection keeps no 16 KiB read or write buffer.
  SSL_set_mode(ssl.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  // Ask for what the socket holds at once (up to a record buffer), not a
  // record header and then its body in two reads.
  SSL_set_read_ahead(ssl.get(), 1);
  if (role == Role::server) SSL_set_accept_state(ssl.get());
  else SSL_set_connect_state(ssl.get());
  ssl_ = std::move(ssl);
  return {};
}

std::string_view Stream::alpn() const noexcept {
  if (!ssl_) return {};
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &len);
  return {reinterpret_cast<const char*>(data), len};
}

asio::awaitable<boost::system::error_code> Stream::handshake() {
  for (;;) {
    if (!ssl_) co_return asio::error::operation_aborted;
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_.get());
    if (r == 1) {
      give_back_rx();
      handshake_done_ = true;
      version_ = SSL_get_version(ssl_.get());
      resumed_ = SSL_session_reused(ssl_.get()) == 1;
      co_return boost::system::error_code{};
    }
    auto step = after_failure(ssl_.get(), r);
    if (step.next == Next::fail) {
      // A refused certificate says why better than the alert does.
      long verify = SSL_get_verify_result(ssl_.get());
      if (verify != X509_V_OK) co_return boost::system::error_code(static_cast<int>(verify), verify_category());
      co_return step.ec;
    }
    if (auto ec = co_await wait(step.next == Next::wait_read)) co_return ec;
  }
}

asio::awaitable<boost::system::error_code> Stream::wait(bool for_read) {
  if (for_read) co_return co_await fill();
  auto [ec] = co_await socket_.async_wait(tcp::socket::wait_write, kAwaitTuple);
  co_return ec;
}

asio::awaitable<boost::system::error_code> Stream::fill() {
  Rx& rx = *rx_;
  if (rx.filling) {
    // A read and a write both wait for bytes (a write needs a read only
    // around a handshake): the read receives them; this one waits for
    // the socket, as a read did before.
    auto [ec] = co_await socket_.async_wait(tcp::socket::wait_read, kAwaitTuple);
    co_return ec;
  }
  if (rx.held()) co_return boost::system::error_code{};  // OpenSSL asked for less than it got: more is here
  rx.begin = rx.end = 0;
  if (!rx.buffer) {
    auto& pool = rx_pool();
    if (pool.empty()) {
      rx.buffer = std::make_unique<char[]>(kRxSize);
    } else {
      rx.buffer = std::move(pool.back());
      pool.pop_back();
    }
  }
  std::size_t want = rx.want == 0 ? kRxSize : std::min(rx.want, kRxSize);
  rx.filling = true;
  auto [ec, n] = co_await socket_.async_read_some(asio::buffer(rx.buffer.get(), want), kAwaitTuple);
  rx.filling = false;  // (the Stream outlives its operations: see the file comment)
  rx.end = n;
  if (ec == asio::error::eof) {
    rx.eof = true;  // OpenSSL reads the end and says what it means
    co_return boost::system::error_code{};
  }
  // Cancelled (a keep-alive connection parked) or failed: an idle
  // connection keeps no buffer.
  if (ec) give_back_rx();
  co_return ec;
}

void Stream::give_back_rx() noexcept {
  if (!rx_ || !rx_->buffer || rx_->held() || rx_->filling) return;
  constexpr std::size_t kKeep = 64;
  auto& pool = rx_pool();
  if (pool.size() < kKeep) {
    try {
      pool.push_back(std::move(rx_->buffer));
    } catch (...) {
    }
  }
  rx_->buffer.reset();
  rx_->begin = rx_->end = 0;
}

bool Stream::tls_pending() const noexcept {
  return ssl_ && (SSL_has_pending(ssl_.get()) == 1 || (rx_ && rx_->held()));
}

asio::awaitable<IoResult> Stream::tls_read_some(asio::mutable_buffer buffer) {
  if (buffer.size() == 0) co_return IoResult{};
  for (;;) {
    // close() may have freed the SSL while we waited.
    if (!ssl_) co_return IoResult{asio::error::operation_aborted, 0};
    ERR_clear_error();
    std::size_t n = 0;
    int r = SSL_read_ex(ssl_.get(), buffer.data(), buffer.size(), &n);
    if (r == 1) {
      give_back_rx();
      co_return IoResult{boost::system::error_code{}, n};
    }
    auto step = after_failure(ssl_.get(), r);
    if (step.next == Next::fail) co_return IoResult{step.ec, 0};
    if (auto ec = co_await wait(step.next == Next::wait_read)) co_return IoResult{ec, 0};
  }
}

// TLS has no writev: each SSL_write makes at least one record and one
// send(2). Pieces smaller than a record (a response head, a chunk size
// line) are copied together into a staging buffer, the thread's own, and
// written as one. If OpenSSL must wait for the socket it wants the same
// bytes again when called next (partial writes and a moving buffer
// allowed); a staged record is copied into the coroutine then, since
// another connection on this thread may stage its own meanwhile.
asio::awaitable<IoResult> Stream::tls_write(std::span<const asio::const_buffer> buffers) {
  thread_local char stage[kRecord];
  std::size_t total = 0;
  std::size_t i = 0, offset = 0;  // the next byte: buffers[i] at offset
  std::string held;
  auto at_end = [&] {
    while (i < buffers.size() && offset == buffers[i].size()) {
      ++i;
      offset = 0;
    }
    return i == buffers.size();
  };
  while (!at_end()) {
    const char* p = static_cast<const char*>(buffers[i].data()) + offset;
    std::size_t n = buffers[i].size() - offset;
    if (n < kRecord && i + 1 < buffers.size()) {
      std::size_t filled = 0;
      while (filled < kRecord && !at_end()) {
        std::size_t take = std::min(kRecord - filled, buffers[i].size() - offset);
        std::memcpy(stage + filled, static_cast<const char*>(buffers[i].data()) + offset, take);
        filled += take;
        offset += take;
      }
      p = stage;
      n = filled;
    } else {
      offset += n;
    }
    for (std::size_t done = 0; done < n;) {
      if (!ssl_) co_return IoResult{asio::error::operation_aborted, total + done};
      ERR_clear_error();
      std::size_t w = 0;
      int r = SSL_write_ex(ssl_.get(), p + done, n - done, &w);
      if (r == 1) {
        done += w;
        continue;
      }
      auto step = after_failure(ssl_.get(), r);
      if (step.next == Next::fail) co_return IoResult{step.ec, total + done};
      if (p == stage) {
        held.assign(p, n);
        p = held.data();
      }
      if (auto ec = co_await wait(step.next == Next::wait_read)) co_return IoResult{ec, total + done};
    }
    total += n;
  }
  co_return IoResult{boost::system::error_code{}, total};
}

asio::awaitable<IoResult> Stream::tls_write_one(asio::const_buffer buffer) {
  co_return co_await tls_write(std::span<const asio::const_buffer>(&buffer, 1));
}

void Stream::close_notify() noexcept {
  if (!ssl_ || !handshake_done_ || !socket_.is_open()) return;
  ERR_clear_error();
  SSL_shutdown(ssl_.get());  // sends close_notify if the socket takes it now; never waits for the peer's
  ERR_clear_error();
}

void Stream::shutdown_send() noexcept {
  close_notify();
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

void Stream::shutdown_both() noexcept {
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
}

void Stream::cancel() noexcept {
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

void Stream::close() noexcept {
  boost::system::error_code ignored;
  socket_.close(ignored);
  // The descriptor's number may be reused at once: the SSL must never
  // read or write it again.
  release_ssl();
}

void Stream::release_ssl() noexcept {
  if (!ssl_) return;
  // OpenSSL marks the session of a connection freed without a TLS close
  // as not resumable (and drops it from the server's cache), but most
  // clients just close: the session would be lost to every later
  // connection, ours to an upstream included. As nginx: count the
  // connection as shut down, whatever was sent.
  SSL_set_shutdown(ssl_.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  ssl_.reset();
  if (rx_ && !rx_->filling) {
    rx_->begin = rx_->end = 0;
    give_back_rx();
  }
}

}  // namespace gateway::net
