#include "gateway/compose/fragment.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/http/serializer.hpp"
#include "gateway/runtime.hpp"
#include "gateway/worker.hpp"

namespace gateway::compose {

namespace asio = boost::asio;

FragmentDownstream::FragmentDownstream(http::Request req, std::string peer, std::size_t max_bytes)
    : req_(std::move(req)), peer_(std::move(peer)), max_bytes_(max_bytes) {}

asio::awaitable<boost::system::error_code> FragmentDownstream::read_body(std::span<const char>& piece, bool& done) {
  piece = {};
  done = true;
  co_return boost::system::error_code{};
}

void FragmentDownstream::write_head(http::Response& resp) {
  status_ = resp.status;
  headers_.emplace();
  resp.headers.for_each([&](const http::HeaderMap::Field& f) { headers_->add(f.name, f.value); });
}

void FragmentDownstream::write_head_raw(int status, std::string_view head, std::string_view extra_fields,
                                        std::uint64_t content_length) {
  status_ = status;
  head_.assign(head).append(extra_fields);
  if (content_length <= max_bytes_) body_.reserve(static_cast<std::size_t>(content_length));
}

void FragmentDownstream::set_cached(std::shared_ptr<const cache::Entry> entry) {
  status_ = entry->meta.status;
  head_ = entry->meta.head;
  cached_ = std::move(entry);
  info_.cache = "HIT";
  finished_ = true;
}

const http::HeaderMap& FragmentDownstream::headers() const {
  if (!headers_) {
    http::Response r;
    http::parse_response_head(head_, r);
    headers_.emplace(std::move(r.headers));
  }
  return *headers_;
}

asio::awaitable<boost::system::error_code> FragmentDownstream::write_body(std::span<const char> data, bool last) {
  if (failed_ || finished_) co_return boost::system::error_code(asio::error::operation_aborted);
  if (body_.size() + data.size() > max_bytes_) {
    failed_ = true;  // too large to stitch into a page
    co_return boost::system::error_code(asio::error::message_size);
  }
  body_.append(data.data(), data.size());
  if (last) finished_ = true;
  co_return boost::system::error_code{};
}

asio::awaitable<boost::system::error_code> FragmentDownstream::write_file(int fd, std::uint64_t offset,
                                                                          std::uint64_t len, bool last) {
  if (failed_ || finished_) co_return boost::system::error_code(asio::error::operation_aborted);
  if (body_.size() + len > max_bytes_) {
    failed_ = true;
    co_return boost::system::error_code(asio::error::message_size);
  }
  // A cached fragment is small: one pread, from the page cache.
  auto at = body_.size();
  body_.resize(at + static_cast<std::size_t>(len));
  for (std::size_t got = 0; got < len;) {
    ssize_t n = ::pread(fd, body_.data() + at + got, static_cast<std::size_t>(len) - got,
                        static_cast<off_t>(offset + got));
    if (n <= 0) {
      failed_ = true;
      co_return boost::system::error_code(asio::error::eof);
    }
    got += static_cast<std::size_t>(n);
  }
  if (last) finished_ = true;
  co_return boost::system::error_code{};
}

double Fragment::millis() const {
  auto end = finished == std::chrono::steady_clock::time_point{} ? std::chrono::steady_clock::now() : finished;
  return std::chrono::duration<double, std::milli>(end - started).count();
}

asio::awaitable<void> Fragment::wait(std::chrono::steady_clock::time_point deadline) {
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      state = State::timed_out;
      error = "timed out";
      finished = std::chrono::steady_clock::now();  // its time is what the page waited
      co_return;
    }
    event.expires_at(deadline);
    co_await event.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

http::Request fragment_request(const http::Request& page, std::string_view url) {
  http::Request r;
  r.method = "GET";
  r.target = std::string(url);
  r.version_minor = 1;
  static constexpr std::string_view kForwarded[] = {"Host", "Cookie", "Accept-Language", "User-Agent",
                                                    "Authorization", "X-Request-Id"};
  for (auto name : kForwarded)
    if (auto v = page.headers.get(name)) r.headers.add(name, *v);
  if (!r.headers.contains("Host")) r.headers.add("Host", "localhost");
  return r;
}

asio::awaitable<void> fetch(std::shared_ptr<Fragment> f, std::shared_ptr<WorkerState> state, Worker& worker,
                            ChainPtr chain) {
  f->started = std::chrono::steady_clock::now();
  const auto& req = f->down.request();
  Router::Match match;
  if (chain && chain->contains(req.target)) {
    f->error = "include loop";
  } else if (!state->runtime->router.match(req.headers.get("Host").value_or(""), req.path(), match)) {
    f->error = "no route";
  } else {
    auto link = std::make_shared<const ComposeChain>(ComposeChain{chain, req.target, chain ? chain->depth + 1 : 1});
    co_await serve_route(f->down, match, *state, worker, std::move(link));
  }
  f->status = f->down.status();
  if (f->state == Fragment::State::pending) {
    f->finished = std::chrono::steady_clock::now();
    bool ok = f->error.empty() && f->status >= 200 && f->status < 300 && f->down.complete();
    if (!ok && f->error.empty()) f->error = f->down.complete() ? "status " + std::to_string(f->status) : "incomplete";
    f->state = ok ? Fragment::State::ok : Fragment::State::failed;
  }
  f->event.cancel();
}

}  // namespace gateway::compose
