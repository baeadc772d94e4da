#include "gateway/admin_upstreams.hpp"

#include <cctype>
#include <charconv>
#include <vector>

#include "base/json.hpp"
#include "gateway/runtime.hpp"
#include "upstreams/membership.hpp"

namespace gateway {

AdminReply admin_error(int status, std::string_view reason) {
  std::string body = "{\"error\":";
  json::append_string(body, reason);
  body += "}\n";
  return {status, std::move(body)};
}

namespace {

// A flat JSON object of strings, integers and booleans: what the API's
// bodies are. Values keep their JSON text (strings unquoted, without
// escapes: addresses and numbers need none).
struct Member {
  std::string key;
  std::string value;
  char type;  // 's' string, 'n' number, 'b' boolean
};

std::optional<std::vector<Member>> parse_flat_object(std::string_view s) {
  std::size_t i = 0;
  auto ws = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  auto str = [&]() -> std::optional<std::string> {
    if (i >= s.size() || s[i] != '"') return std::nullopt;
    auto end = s.find('"', i + 1);
    if (end == std::string_view::npos) return std::nullopt;
    std::string out(s.substr(i + 1, end - i - 1));
    if (out.find('\\') != std::string::npos) return std::nullopt;
    i = end + 1;
    return out;
  };
  std::vector<Member> out;
  ws();
  if (i >= s.size() || s[i++] != '{') return std::nullopt;
  ws();
  if (i < s.size() && s[i] == '}') return ++i, ws(), i == s.size() ? std::optional(out) : std::nullopt;
  for (;;) {
    ws();
    auto key = str();
    ws();
    if (!key || i >= s.size() || s[i++] != ':') return std::nullopt;
    ws();
    Member m{*key, {}, 's'};
    if (auto v = str()) {
      m.value = *v;
    } else {
      auto end = s.find_first_of(",} \t\r\n", i);
      if (end == std::string_view::npos) return std::nullopt;
      m.value = std::string(s.substr(i, end - i));
      i = end;
      m.type = (m.value == "true" || m.value == "false") ? 'b' : 'n';
    }
    out.push_back(std::move(m));
    ws();
    if (i >= s.size()) return std::nullopt;
    if (s[i] == ',') {
      ++i;
      continue;
    }
    if (s[i++] != '}') return std::nullopt;
    ws();
    return i == s.size() ? std::optional(out) : std::nullopt;
  }
}

std::optional<AdminReply> read_address(std::string_view text, Endpoint& out) {
  auto e = parse_endpoint(text);
  if (!e || !upstreams::is_ip_literal(e->host))
    return admin_error(400, "invalid address \"" + std::string(text) + "\" (expected IP:port or [IPv6]:port)");
  out = upstreams::endpoint_of(e->host, e->port);
  return std::nullopt;
}

// The body's keys into `req`: `allowed` are the keys this method takes.
std::optional<AdminReply> read_body(std::string_view body, std::initializer_list<std::string_view> allowed,
                                    UpstreamsRequest& req) {
  auto members = parse_flat_object(body);
  if (!members) return admin_error(400, "the body must be a JSON object");
  for (const auto& m : *members) {
    if (std::find(allowed.begin(), allowed.end(), m.key) == allowed.end())
      return admin_error(400, "unknown key \"" + m.key + "\"");
    if (m.key == "address") {
      if (m.type != 's') return admin_error(400, "address must be a string");
      if (auto e = read_address(m.value, req.address)) return e;
    } else if (m.key == "weight") {
      int w = 0;
      auto r = std::from_chars(m.value.data(), m.value.data() + m.value.size(), w);
      if (m.type != 'n' || r.ec != std::errc{} || r.ptr != m.value.data() + m.value.size() || w < 1 || w > 1000)
        return admin_error(400, "weight must be an integer from 1 to 1000");
      req.weight = w;
    } else if (m.key == "drain") {
      if (m.type != 'b') return admin_error(400, "drain must be true or false");
      req.drain = m.value == "true";
    }
  }
  return std::nullopt;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    auto slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return parts;
}

}  // namespace

std::variant<UpstreamsRequest, AdminReply> parse_upstreams_request(std::string_view method, std::string_view path,
                                                                   std::string_view body) {
  using Kind = UpstreamsRequest::Kind;
  auto parts = split_path(path);
  UpstreamsRequest req;
  if (parts.empty() || parts[0] != "upstreams" || parts.size() > 4 || (parts.size() >= 3 && parts[2] != "instances"))
    return admin_error(404, "no such endpoint (GET /upstreams, POST /upstreams/G/instances, "
                            "DELETE or PATCH /upstreams/G/instances/ADDRESS)");
  if (parts.size() >= 2) req.group = std::string(parts[1]);
  if (parts.size() <= 2) {
    if (method != "GET" && method != "HEAD") return admin_error(405, "only GET here");
    return req;
  }
  if (parts.size() == 3) {
    if (method == "GET" || method == "HEAD") return req;
    if (method != "POST") return admin_error(405, "POST adds an instance here; GET lists them");
    req.kind = Kind::add;
    if (auto e = read_body(body, {"address", "weight"}, req)) return *e;
    if (req.address.text.empty()) return admin_error(400, "give the instance's \"address\"");
    return req;
  }
  if (auto e = read_address(parts[3], req.address)) return *e;
  if (method == "DELETE") {
    req.kind = Kind::remove;
    return req;
  }
  if (method != "PATCH") return admin_error(405, "DELETE removes the instance, PATCH changes it");
  req.kind = Kind::patch;
  if (auto e = read_body(body, {"weight", "drain"}, req)) return *e;
  if (!req.weight && !req.drain) return admin_error(400, "give \"weight\" or \"drain\": true");
  return req;
}

std::string upstreams_json(const Runtime& rt) {
  auto now = Clock::now();
  std::string out = "{\"upstreams\":{";
  for (std::size_t g = 0; g < rt.groups.size(); ++g) {
    const auto& group = *rt.groups[g];
    if (g) out += ",";
    json::append_string(out, group.name());
    out += ":{\"instances\":[";
    for (std::size_t i = 0; i < group.size(); ++i) {
      const auto& inst = group.instance(i);
      bool probe_up = inst.probe_up.load();
      const char* state = inst.draining.load() ? "draining"
                          : !probe_up          ? "down"
                          : !group.usable(i, now) ? "ejected"
                                                  : "up";
      if (i) out += ",";
      out += "{\"address\":";
      json::append_string(out, inst.address.text);
      out += ",\"weight\":" + std::to_string(inst.weight.load());
      out += ",\"state\":\"" + std::string(state) + "\"";
      out += ",\"in_flight\":" + std::to_string(inst.in_flight.load());
      out += ",\"source\":\"" + std::string(upstreams::to_string(group.config().instances[i].source)) + "\"}";
    }
    out += "]}";
  }
  out += "}}\n";
  return out;
}

}  // namespace gateway
