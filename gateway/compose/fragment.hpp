// A fragment of a composed page or a part of a JSON aggregate: a request
// served in memory through the normal routes (so it is balanced and cached
// like any other), its response collected for the composer.
//
// Owned through shared_ptr by the composer and the coroutine fetching it:
// a fragment that misses its deadline finishes in the background and its
// result is dropped. Runs on the worker of the page's connection.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "cache/entry.hpp"
#include "gateway/dispatch.hpp"
#include "gateway/exchange.hpp"

namespace gateway::compose {

class FragmentDownstream final : public Downstream {
 public:
  FragmentDownstream(http::Request req, std::string peer, std::size_t max_bytes);

  const http::Request& request() const override { return req_; }
  std::string_view peer() const override { return peer_; }
  RequestInfo& info() override { return info_; }
  boost::asio::awaitable<boost::system::error_code> read_body(std::span<const char>& piece, bool& done) override;
  bool body_complete() const override { return true; }
  int body_error_status() const override { return 0; }
  void write_head(http::Response& resp) override;
  void write_head_raw(int status, std::string_view head, std::string_view extra_fields,
                      std::uint64_t content_length) override;
  boost::asio::awaitable<boost::system::error_code> write_file(int fd, std::uint64_t offset, std::uint64_t len,
                                                               bool last) override;
  boost::asio::awaitable<boost::system::error_code> write_body(std::span<const char> data, bool last) override;
  bool head_written() const override { return status_ != 0; }
  int status() const override { return status_; }
  void abort() override { failed_ = true; }

  // Answered straight from a fresh entry in the RAM tier (no coroutine,
  // no copy of the body).
  void set_cached(std::shared_ptr<const cache::Entry> entry);

  // The collected response.
  const RequestInfo& served() const noexcept { return info_; }
  // Its header fields, parsed on first use (only a primary fragment's are).
  const http::HeaderMap& headers() const;
  std::string_view body() const noexcept { return cached_ ? std::string_view(*cached_->body) : body_; }
  // Complete, not aborted, not over the size limit.
  bool complete() const noexcept { return finished_ && !failed_; }

 private:
  http::Request req_;
  std::string peer_;
  std::size_t max_bytes_;
  RequestInfo info_;
  int status_ = 0;
  std::string head_;  // status line and fields, as received
  mutable std::optional<http::HeaderMap> headers_;
  std::string body_;
  std::shared_ptr<const cache::Entry> cached_;
  bool finished_ = false;
  bool failed_ = false;
};

// One include or aggregate part being fetched.
struct Fragment {
  enum class State { pending, ok, failed, timed_out };

  Fragment(boost::asio::any_io_executor ex, http::Request req, std::string peer, std::size_t max_bytes)
      : down(std::move(req), std::move(peer), max_bytes), event(ex) {}

  FragmentDownstream down;
  State state = State::pending;
  int status = 0;          // of the fragment's response (0: none)
  std::string error;       // why it failed, for logs
  std::chrono::steady_clock::time_point started{}, finished{};
  boost::asio::steady_timer event;  // cancelled when the fragment is done

  bool done() const noexcept { return state != State::pending; }
  double millis() const;
  // Waits until done or `deadline`; marks it timed out on the deadline.
  boost::asio::awaitable<void> wait(std::chrono::steady_clock::time_point deadline);
};

// The request a fragment is fetched with: GET `url`, the page's Host, and
// the client headers that matter for content (Cookie, Accept-Language,
// User-Agent, Authorization); never conditional or range headers.
http::Request fragment_request(const http::Request& page, std::string_view url);

// Routes and fetches `f` (in memory) through serve_route; 2xx with a
// complete body is ok, anything else failed. `chain` is the page's.
boost::asio::awaitable<void> fetch(std::shared_ptr<Fragment> f, std::shared_ptr<WorkerState> state, Worker& worker,
                                   ChainPtr chain);

}  // namespace gateway::compose
