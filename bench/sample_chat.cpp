#include "bench/sample_chat.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "bench/sample_service/content.hpp"

namespace bench::chat {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxMessage = 64 * 1024;
constexpr std::string_view kPath = "/chat/ws";

// The query parameter `key`, percent- and '+'-decoded; empty if absent.
std::string query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) != key || eq == std::string_view::npos) continue;
    std::string out;
    auto v = pair.substr(eq + 1);
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '+') {
        out.push_back(' ');
      } else if (unsigned byte = 0; v[i] == '%' && i + 2 < v.size() &&
                 std::from_chars(v.data() + i + 1, v.data() + i + 3, byte, 16).ptr == v.data() + i + 3) {
        out.push_back(static_cast<char>(byte));
        i += 2;
      } else {
        out.push_back(v[i]);
      }
    }
    return out;
  }
  return {};
}

class Session;

// Every session of this instance, whatever its thread.
class Room {
 public:
  void join(const std::shared_ptr<Session>& s) {
    std::lock_guard lock(mu_);
    sessions_.push_back(s);
  }
  void leave(const Session* s) {
    std::lock_guard lock(mu_);
    std::erase_if(sessions_, [&](const std::weak_ptr<Session>& w) {
      auto p = w.lock();
      return !p || p.get() == s;
    });
  }
  void broadcast(const std::shared_ptr<const std::string>& msg);

 private:
  std::mutex mu_;
  std::vector<std::weak_ptr<Session>> sessions_;
};

Room& room() {
  static Room r;
  return r;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::string from, std::string instance_json)
      : ws_(std::move(socket)), from_(std::move(from)), instance_json_(std::move(instance_json)) {}

  asio::awaitable<void> run(beast::http::request<beast::http::empty_body> req) {
    ws_.read_message_max(kMaxMessage);
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(beast::http::field::server, "sample-service");
    }));
    auto [ec] = co_await ws_.async_accept(req, kAwait);
    if (ec) co_return;  // Beast answered 400 to a bad handshake
    room().join(shared_from_this());
    beast::flat_buffer buf;
    for (;;) {
      auto [rec, n] = co_await ws_.async_read(buf, kAwait);
      if (rec) break;
      if (ws_.got_text()) {
        std::string text(static_cast<const char*>(buf.data().data()), buf.size());
        room().broadcast(std::make_shared<const std::string>(render(text)));
      }
      buf.consume(buf.size());
    }
    room().leave(this);
  }

  // On this session's executor: queue `msg`; one writer sends in order.
  void deliver(std::shared_ptr<const std::string> msg) {
    queue_.push_back(std::move(msg));
    if (writing_) return;
    writing_ = true;
    asio::co_spawn(ws_.get_executor(), [self = shared_from_this()] { return self->write_loop(); }, asio::detached);
  }

  asio::any_io_executor executor() { return ws_.get_executor(); }

 private:
  std::string render(std::string_view text) const {
    std::string out = "{\"from\":\"";
    append_json_escaped(out, from_);
    out += "\",\"text\":\"";
    append_json_escaped(out, text);
    out += "\",\"instance\":\"";
    out += instance_json_;
    out += "\"}";
    return out;
  }

  asio::awaitable<void> write_loop() {
    while (!queue_.empty()) {
      auto msg = queue_.front();
      ws_.text(true);
      auto [ec, n] = co_await ws_.async_write(asio::buffer(*msg), kAwait);
      if (ec) {
        queue_.clear();
        break;
      }
      queue_.pop_front();
    }
    writing_ = false;
  }

  websocket::stream<tcp::socket> ws_;
  std::string from_;
  std::string instance_json_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  bool writing_ = false;
};

void Room::broadcast(const std::shared_ptr<const std::string>& msg) {
  std::vector<std::shared_ptr<Session>> to;
  {
    std::lock_guard lock(mu_);
    for (auto& w : sessions_)
      if (auto s = w.lock()) to.push_back(std::move(s));
  }
  for (auto& s : to) asio::post(s->executor(), [s, msg] { s->deliver(msg); });
}

std::atomic<std::uint64_t> viewers{0};

}  // namespace

bool is_chat_upgrade(const gateway::http::Request& req) {
  auto path = req.path();
  bool chat = path == kPath || (path.starts_with(kPath) && path[kPath.size()] == '/');
  return chat && req.method == "GET" && req.headers.contains("Upgrade");
}

void start(tcp::socket socket, const gateway::http::Request& req, std::string instance_json) {
  beast::http::request<beast::http::empty_body> r{beast::http::verb::get, req.target, 11};
  req.headers.for_each([&](const gateway::http::HeaderMap::Field& f) { r.insert(f.name, f.value); });
  std::string from = query_param(req.query(), "name");
  if (from.empty()) from = "viewer-" + std::to_string(viewers.fetch_add(1) + 1);
  auto s = std::make_shared<Session>(std::move(socket), std::move(from), std::move(instance_json));
  auto ex = s->executor();
  asio::co_spawn(ex, [s, r = std::move(r)]() mutable { return s->run(std::move(r)); },
                 [](std::exception_ptr e) {
                   if (!e) return;
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& ex) {
                     std::fprintf(stderr, "sample-service: chat: %s\n", ex.what());
                   }
                 });
}

}  // namespace bench::chat
