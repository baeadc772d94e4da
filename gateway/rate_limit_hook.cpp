// The request side of `limit:` (gateway/rate_limit.hpp): each route's
// limiter built with a Runtime, and the hook serve_route calls. Apart from
// gateway/rate_limit.cpp, which the configuration loader builds with (no
// coroutines there).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/exchange.hpp"
#include "gateway/metrics.hpp"
#include "gateway/rate_limit.hpp"
#include "gateway/runtime.hpp"

namespace gateway::limit {

std::vector<std::shared_ptr<RateLimiter>> build_limiters(const Config& config, const Runtime* previous) {
  std::vector<std::shared_ptr<RateLimiter>> out;
  for (const auto& route : config.routes) {
    const auto& rule = route.limit ? route.limit : config.limit;
    std::shared_ptr<RateLimiter> limiter;
    if (rule && !rule->off) {
      for (std::size_t i = 0; previous && i < previous->limiters.size() && !limiter; ++i) {
        const auto& kept = previous->limiters[i];
        if (kept && previous->config->routes[i].name == route.name && kept->rule() == *rule) limiter = kept;
      }
      if (!limiter) limiter = std::make_shared<RateLimiter>(*rule);
    }
    out.push_back(std::move(limiter));
  }
  return out;
}

// --- The request hook ------------------------------------------------------------------

boost::asio::awaitable<bool> admit(Downstream& down, RateLimiter& limiter, RouteStats& stats) {
  const auto& rule = limiter.rule();
  std::string_view client = down.info().client.empty() ? down.peer() : std::string_view(down.info().client);
  auto key = request_key(rule, client, down.request().headers);
  if (!key) co_return true;
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now().time_since_epoch());
  auto decision = limiter.take(*key, now.count());
  stats.limit[static_cast<std::size_t>(decision.verdict)].inc();
  if (decision.verdict == Decision::Verdict::pass) co_return true;
  if (decision.verdict == Decision::Verdict::delay) {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, decision.delay);
    co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    co_return true;
  }
  http::HeaderMap fields;
  fields.add("Retry-After", std::to_string(decision.retry_after));
  std::string body = std::to_string(rule.status) + " " + std::string(http::reason_phrase(rule.status)) +
                     ": request rate over the limit of this route, retry after " +
                     std::to_string(decision.retry_after) + " s\n";
  co_await respond(down, rule.status, body, std::move(fields));
  co_return false;
}

}  // namespace gateway::limit
