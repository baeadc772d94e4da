#include "gateway/access_serve.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <mutex>
#include <thread>

#include "gateway/metrics.hpp"

namespace gateway::access {

namespace {

// bcrypt at a usual cost takes tens to hundreds of milliseconds of CPU. A
// check that is not remembered runs on these threads, so wrong passwords
// (a guesser's, say) do not stall every other connection of the worker, as
// nginx's auth_basic does. Half the cores: the workers keep the rest.
// Made on first use; end_crypt_threads() ends it.
std::mutex crypt_mutex;
std::unique_ptr<boost::asio::thread_pool> crypt_pool;

boost::asio::thread_pool& crypt_threads() {
  std::lock_guard lock(crypt_mutex);
  if (!crypt_pool)
    crypt_pool = std::make_unique<boost::asio::thread_pool>(std::max(1u, std::thread::hardware_concurrency() / 2));
  return *crypt_pool;
}

// decide(), with a credentials check that crypt_rn must make done on
// crypt_threads(); the caller resumes on its own executor.
boost::asio::awaitable<Refusal> decide_off_worker(const std::vector<AddressRule>* rules, const AuthConfig* auth,
                                                  std::optional<boost::asio::ip::address> client,
                                                  std::optional<std::string_view> authorization) {
  auto credentials = auth && authorization ? parse_basic(*authorization) : std::nullopt;
  if (!credentials) co_return decide(rules, auth, client, authorization);  // no crypt_rn to make
  // Credentials known good: only the address is left to decide.
  if (auth->users->remembered(credentials->user, credentials->password))
    co_return decide(rules, nullptr, client, std::nullopt);
  // The thread reads its own copy of the header, none of the connection's
  // buffers; the rules and users are the configuration's (immutable, held
  // by the exchange's WorkerState while it waits here).
  std::string header(*authorization);
  // Plain handlers, not a coroutine on the pool: gcc 12 destroyed a
  // co_spawn'd lambda's captures twice.
  co_return co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>, void(Refusal)>(
      [rules, auth, client](auto handler, std::string header) {
        boost::asio::post(crypt_threads(), [rules, auth, client, header = std::move(header),
                                            handler = std::move(handler)]() mutable {
          const Refusal refusal = decide(rules, auth, client, header);
          auto ex = boost::asio::get_associated_executor(handler);
          boost::asio::post(ex, [handler = std::move(handler), refusal]() mutable { std::move(handler)(refusal); });
        });
      },
      boost::asio::use_awaitable, std::move(header));
}

}  // namespace

void end_crypt_threads() {
  std::unique_ptr<boost::asio::thread_pool> pool;
  {
    std::lock_guard lock(crypt_mutex);
    pool = std::move(crypt_pool);
  }
  if (!pool) return;
  // A check under way finishes and posts its answer to its worker's stopped
  // loop; the checks still queued are destroyed with the pool, and with them
  // the requests that wait for them, here, while their workers exist.
  pool->stop();
  pool.reset();
}

namespace {

// The client's address: the one behind trusted proxies, else the peer.
std::optional<boost::asio::ip::address> client_address(Downstream& client) {
  const std::string& resolved = client.info().client;
  return net::parse_address(resolved.empty() ? client.peer() : std::string_view(resolved));
}

// 403 or 401 for `refusal`.
boost::asio::awaitable<void> refuse(Downstream& client, Refusal refusal, const AuthConfig* auth) {
  if (refusal == Refusal::address) {
    co_await respond(client, 403, "403 Forbidden: access denied for this address\n");
    co_return;
  }
  http::HeaderMap fields;
  fields.add("WWW-Authenticate", challenge(auth->realm));
  co_await respond(client, 401, "401 Unauthorized: valid credentials required\n", std::move(fields));
}

}  // namespace

boost::asio::awaitable<bool> admit(Downstream& client, const RouteConfig& route, const Config& config,
                                   RouteStats& stats) {
  const auto* rules = effective_rules(route.access, config.access);
  const auto* auth = effective_auth(route.access, config.access);
  if (!rules && !auth) co_return true;  // restricted() says so without a coroutine
  auto refusal = co_await decide_off_worker(rules, auth, client_address(client),
                                           client.request().headers.get("Authorization"));
  if (refusal == Refusal::none) co_return true;
  stats.access_denied[static_cast<std::size_t>(refusal) - 1].inc();
  co_await refuse(client, refusal, auth);
  co_return false;
}

bool restricted(const RouteConfig& route, const Config& config) {
  return effective_rules(route.access, config.access) || effective_auth(route.access, config.access);
}

boost::asio::awaitable<bool> admit_admin(Downstream& client, const AdminConfig& admin) {
  const AuthConfig* auth = admin.auth && !admin.auth->off && admin.auth->users ? &*admin.auth : nullptr;
  if (!auth) co_return true;
  auto refusal = co_await decide_off_worker(nullptr, auth, std::nullopt, client.request().headers.get("Authorization"));
  if (refusal == Refusal::none) co_return true;
  co_await refuse(client, refusal, auth);
  co_return false;
}

Rewritten::Rewritten(Downstream& inner, std::span<const rewrite::Rule> rules) : ForwardingDownstream(inner) {
  rewrite(rules);
}

bool Rewritten::needed(const RouteConfig& route, const Config& config) {
  const auto* auth = effective_auth(route.access, config.access);
  return !route.rewrite.empty() || (auth && !auth->forward);
}

Rewritten::Rewritten(Downstream& inner, const RouteConfig& route, const Config& config)
    : ForwardingDownstream(inner) {
  rewrite(route.rewrite);
  const auto* auth = effective_auth(route.access, config.access);
  if (!auth || auth->forward || !request().headers.contains("Authorization")) return;
  if (!request_) request_ = inner_.request();
  request_->headers.remove("Authorization");
}

void Rewritten::rewrite(std::span<const rewrite::Rule> rules) {
  if (rules.empty()) return;
  auto result = rewrite::apply(rules, inner_.request().target);
  if (!result) return;
  if (result->redirect) {
    redirect_ = result->redirect;
    location_ = std::move(result->target);
    return;
  }
  request_ = inner_.request();
  request_->target = std::move(result->target);
}

boost::asio::awaitable<void> Rewritten::answer() { co_await redirect(inner_, redirect_, location_); }

}  // namespace gateway::access
