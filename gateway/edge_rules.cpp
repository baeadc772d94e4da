#include "gateway/edge_rules.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "base/http/serializer.hpp"

namespace gateway::edge {

namespace {

enum class Var { scheme, host, http_host, request_uri, remote_addr };
constexpr std::pair<std::string_view, Var> kVariables[] = {
    {"scheme", Var::scheme},           {"host", Var::host},
    {"http_host", Var::http_host},     {"request_uri", Var::request_uri},
    {"remote_addr", Var::remote_addr},
};

bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Walks `text`: literal runs go to on_text, variables to on_var; returns
// what is wrong, or nothing.
template <class OnText, class OnVar>
std::optional<std::string> walk(std::string_view text, OnText&& on_text, OnVar&& on_var) {
  while (!text.empty()) {
    auto dollar = text.find('$');
    on_text(text.substr(0, dollar));
    if (dollar == std::string_view::npos) break;
    text.remove_prefix(dollar + 1);
    if (!text.empty() && text.front() == '$') {
      on_text("$");
      text.remove_prefix(1);
      continue;
    }
    std::size_t n = 0;
    while (n < text.size() && name_char(text[n])) ++n;
    auto name = text.substr(0, n);
    auto it = std::find_if(std::begin(kVariables), std::end(kVariables), [&](const auto& v) { return v.first == name; });
    if (it == std::end(kVariables)) {
      std::string known;
      for (const auto& v : kVariables) known += (known.empty() ? "$" : ", $") + std::string(v.first);
      return name.empty() ? "a '$' without a variable name (write $$ for a '$'; variables: " + known + ")"
                          : "unknown variable $" + std::string(name) + " (variables: " + known + ")";
    }
    on_var(it->second);
    text.remove_prefix(n);
  }
  return std::nullopt;
}

// "Example.COM:8080" -> "example.com"; "[::1]:80" -> "[::1]".
std::string host_only(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    host = close == std::string_view::npos ? host : host.substr(0, close + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  return http::lowercase(host);
}

// A variable's value, its bytes that cannot stand in a field percent-encoded.
void append_value(std::string& out, std::string_view value) {
  constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0x0f]);
    } else {
      out.push_back(c);
    }
  }
}

bool listed(std::string_view name, const std::vector<std::string>& names) {
  return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return http::iequals(n, name); });
}

bool listed(std::string_view name, const std::vector<std::pair<std::string, std::string>>& fields) {
  return std::any_of(fields.begin(), fields.end(), [&](const auto& f) { return http::iequals(f.first, name); });
}

std::optional<std::string> refused_framing(std::string_view name) {
  if (http::iequals(name, "Content-Length") || http::iequals(name, "Transfer-Encoding"))
    return "\"" + std::string(name) + "\" cannot be changed: the gateway frames every message itself";
  if (http::is_hop_by_hop(name))
    return "\"" + std::string(name) + "\" cannot be changed: it is a hop-by-hop field, the gateway's own on each connection";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_variables(std::string_view text) {
  if (std::any_of(text.begin(), text.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; }))
    return "a value cannot hold CR, LF or NUL";
  return walk(text, [](std::string_view) {}, [](Var) {});
}

bool uses_host(std::string_view text) noexcept {
  bool host = false;
  walk(text, [](std::string_view) {}, [&](Var v) { host = host || v == Var::host || v == Var::http_host; });
  return host;
}

std::string expand(std::string_view text, const Variables& vars) {
  std::string out;
  out.reserve(text.size() + 32);
  walk(
      text, [&](std::string_view literal) { out.append(literal); },
      [&](Var v) {
        switch (v) {
          case Var::scheme: append_value(out, vars.scheme); break;
          case Var::host: append_value(out, host_only(vars.host)); break;
          case Var::http_host: append_value(out, vars.host); break;
          case Var::request_uri: append_value(out, vars.request_uri); break;
          case Var::remote_addr: append_value(out, vars.remote_addr); break;
        }
      });
  return out;
}

std::optional<std::string> refused_request_field(std::string_view name) {
  if (auto why = refused_framing(name)) return why;
  for (auto own : {"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Via"})
    if (http::iequals(name, own))
      return "\"" + std::string(name) + "\" cannot be changed: the gateway writes it itself (strip_request_headers drops the client's)";
  return std::nullopt;
}

std::optional<std::string> refused_response_field(std::string_view name) {
  if (auto why = refused_framing(name)) return why;
  if (http::iequals(name, "Host")) return "\"Host\" is a request field, not a response field";
  return std::nullopt;
}

void apply(const HeaderEdits& edits, http::HeaderMap& headers, const Variables* vars) {
  for (const auto& name : edits.remove) headers.remove(name);
  for (const auto& [name, value] : edits.set) headers.set(name, vars ? expand(value, *vars) : value);
  for (const auto& [name, value] : edits.add) headers.add(name, vars ? expand(value, *vars) : value);
}

std::string apply_to_fields(const HeaderEdits& edits, std::string_view fields) {
  std::string out;
  out.reserve(fields.size() + 128);
  while (!fields.empty()) {
    auto end = fields.find("\r\n");
    auto line = fields.substr(0, end == std::string_view::npos ? fields.size() : end + 2);
    fields.remove_prefix(line.size());
    auto name = line.substr(0, line.find(':'));
    if (listed(name, edits.remove) || listed(name, edits.set)) continue;
    out.append(line);
  }
  for (const auto& [name, value] : edits.set) out.append(name).append(": ").append(value).append("\r\n");
  for (const auto& [name, value] : edits.add) out.append(name).append(": ").append(value).append("\r\n");
  return out;
}

std::optional<std::string> redirect_location(std::string_view to, const Variables& vars) {
  if (uses_host(to) && (vars.host.empty() || !http::valid_host(vars.host))) return std::nullopt;
  std::string location = expand(to, vars);
  if (location.starts_with("//") && !to.starts_with("//")) {
    auto slashes = location.find_first_not_of('/');
    location.erase(0, (slashes == std::string::npos ? location.size() : slashes) - 1);
  }
  return location;
}

std::string client_address(std::string_view peer, std::string_view forwarded_for, std::span<const net::Cidr> trusted) {
  auto address = net::parse_address(peer);
  if (!address || !net::contains_any(trusted, *address)) return std::string(peer);
  std::vector<std::string_view> hops;
  http::for_each_token(forwarded_for, [&](std::string_view hop) { hops.push_back(hop); });
  std::string client(peer);
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    auto hop = net::parse_address(*it);
    if (!hop) break;
    client = hop->to_string();
    if (!net::contains_any(trusted, *hop)) break;
  }
  return client;
}

}  // namespace gateway::edge
