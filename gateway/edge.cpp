#include "gateway/edge.hpp"

namespace gateway::edge {

Variables variables(Downstream& down) {
  const auto& req = down.request();
  return Variables{req.tls ? "https" : "http", req.headers.get("Host").value_or(""), req.target,
                   down.info().client.empty() ? down.peer() : std::string_view(down.info().client)};
}

void resolve_client(Downstream& down, const Config& config) {
  if (config.trusted_proxies.empty()) return;
  auto client = client_address(down.peer(), down.request().headers.get_all("X-Forwarded-For"), config.trusted_proxies);
  if (client != down.peer()) down.info().client = std::move(client);
}

RuleDownstream::RuleDownstream(Downstream& inner, const HeaderRules& rules)
    : ForwardingDownstream(inner), rules_(rules) {
  if (rules.request.empty()) return;
  auto vars = variables(inner);
  http::Request edited = inner.request();
  apply(rules.request, edited.headers, &vars);
  request_ = std::move(edited);
}

void RuleDownstream::write_head(http::Response& resp) {
  apply(rules_.response, resp.headers);
  inner_.write_head(resp);
}

void RuleDownstream::write_head_raw(int status, std::string_view head, std::string_view extra_fields,
                                    std::uint64_t content_length) {
  if (rules_.response.empty()) return inner_.write_head_raw(status, head, extra_fields, content_length);
  // The status line stays; its fields and the extra ones are edited as one.
  auto eol = head.find("\r\n");
  auto status_line = head.substr(0, eol == std::string_view::npos ? head.size() : eol + 2);
  std::string fields(head.substr(status_line.size()));
  fields.append(extra_fields);
  head_.assign(status_line).append(apply_to_fields(rules_.response, fields));
  inner_.write_head_raw(status, head_, {}, content_length);
}

boost::asio::awaitable<void> serve_redirect(Downstream& down, const RouteConfig& route) {
  const auto& redirect = *route.redirect;
  auto location = redirect_location(redirect.to, variables(down));
  if (!location) {
    co_await respond(down, 400, "400 Bad Request: no valid Host to redirect to\n");
    co_return;
  }
  co_await gateway::redirect(down, redirect.status, *location);
}

}  // namespace gateway::edge
