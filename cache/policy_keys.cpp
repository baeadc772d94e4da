// Keys and what is found by them: the primary cache key (RFC 9111 2), the
// route's bypass conditions, the Vary secondary key (4.1), the targets a
// successful unsafe request invalidates (4.4), and purge tags.
//
// Pure functions, no state: callable from any thread. Key building runs on
// every cache lookup: it copies runs of ordinary bytes whole.
#include "cache/policy.hpp"

#include <algorithm>

#include "cache/policy_text.hpp"

namespace gateway::cache {

namespace {

using namespace policy_text;

// --- Key parts -----------------------------------------------------------------

bool ends_with(std::string_view s, std::string_view suffix) noexcept {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

void append_pct(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += '%';
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

// Key parts are joined by kKeySeparator, a control byte. URL parts come from
// the request line, where the parser admits no control bytes; any that got
// here anyway are percent-encoded, which is how a URI spells them.
void append_url_part(std::string& out, std::string_view s) {
  // Runs of ordinary bytes are copied whole: this is on every cache lookup.
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x21 && c != 0x7f) continue;
    out.append(s.substr(run, i - run));
    append_pct(out, c);
    run = i + 1;
  }
  out.append(s.substr(run));
}

// Field values may hold anything but CR, LF and NUL: '%' is encoded too, so
// the encoding is injective and no value can forge a separator. `name_part`
// also encodes '=', which separates a name from its value.
void append_value_part(std::string& out, std::string_view s, bool name_part = false) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || c == '%' || (name_part && c == '='))
      append_pct(out, c);
    else
      out += char(c);
  }
}

// --- Keys --------------------------------------------------------------------

// Host as a key part: lowercased, without the default port (RFC 9110 4.2.3).
std::string normalize_host(std::string_view host, std::string_view default_port = ":80") {
  std::string h = lowercase(trim(host));
  if (ends_with(h, default_port))
    h.resize(h.size() - default_port.size());
  else if (ends_with(h, ":"))  // an empty port is the default one (RFC 3986 6.2.3)
    h.pop_back();
  return h;
}

// The query with its parameters sorted by name, then value; empty parameters
// dropped. Stable, so parameters equal in name and value keep their order.
std::string sorted_query(std::string_view query) {
  struct Param {
    std::string_view name, value, raw;
  };
  std::vector<Param> params;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto raw = query.substr(0, amp);
    if (!raw.empty()) {
      auto eq = raw.find('=');
      params.push_back({raw.substr(0, eq), eq == std::string_view::npos ? std::string_view{} : raw.substr(eq + 1), raw});
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  std::stable_sort(params.begin(), params.end(), [](const Param& a, const Param& b) {
    return a.name != b.name ? a.name < b.name : a.value < b.value;
  });
  std::string out;
  for (const auto& p : params) {
    if (!out.empty()) out += '&';
    out += p.raw;
  }
  return out;
}

void append_url(std::string& out, std::string_view host, std::string_view target, const RuleConfig& rule) {
  auto q = target.find('?');
  auto path = target.substr(0, q);
  append_url_part(out, normalize_host(host));
  out += kKeySeparator;
  append_url_part(out, path.empty() ? std::string_view("/") : path);
  if (q == std::string_view::npos) return;
  auto query = target.substr(q + 1);
  switch (rule.query) {
    case RuleConfig::Query::keep:
      out += '?';
      append_url_part(out, query);
      break;
    case RuleConfig::Query::sorted:
      if (auto sorted = sorted_query(query); !sorted.empty()) {
        out += '?';
        append_url_part(out, sorted);
      }
      break;
    case RuleConfig::Query::ignore:
      break;
  }
}

}  // namespace

// The value of cookie `name` in the request's Cookie fields ("a=1; b=2",
// RFC 6265 5.4); the first one wins. Cookie names are case-sensitive.
std::optional<std::string_view> find_cookie(const HeaderMap& headers, std::string_view name) {
  std::optional<std::string_view> found;
  headers.for_each([&](const HeaderMap::Field& f) {
    if (found || !iequals(f.name, "Cookie")) return;
    std::string_view list = f.value;
    while (!found && !list.empty()) {
      auto semi = list.find(';');
      auto pair = trim(list.substr(0, semi));
      auto eq = pair.find('=');
      if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) found = trim(pair.substr(eq + 1));
      if (semi == std::string_view::npos) break;
      list.remove_prefix(semi + 1);
    }
  });
  return found;
}

namespace {

// nginx's proxy_cache_bypass rule: a value that is neither empty nor "0".
bool triggers_bypass(std::string_view value) {
  value = trim(value);
  return !value.empty() && value != "0";
}

// --- Invalidation --------------------------------------------------------------

// RFC 3986 5.2.4.
std::string remove_dot_segments(std::string_view in) {
  std::string out;
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.remove_prefix(3);
    } else if (in.starts_with("./")) {
      in.remove_prefix(2);
    } else if (in.starts_with("/./")) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../") || in == "/..") {
      in = in.size() == 3 ? std::string_view("/") : in.substr(3);
      auto slash = out.rfind('/');
      out.resize(slash == std::string::npos ? 0 : slash);
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      auto next = in.find('/', 1);
      auto segment = in.substr(0, next);
      out += segment;
      in.remove_prefix(segment.size());
    }
  }
  return out;
}

// Resolves a Location / Content-Location reference against the request
// (RFC 3986 5.2.2) to an origin-form target; nullopt if it names another
// authority or a scheme other than http(s).
std::optional<std::string> same_host_target(std::string_view ref, std::string_view request_host,
                                            std::string_view request_target) {
  ref = trim(ref);
  ref = ref.substr(0, ref.find('#'));
  std::string_view default_port = ":80";
  // A scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" before any '/', '?'.
  auto colon = ref.find(':');
  if (colon != std::string_view::npos && colon > 0 && ref.find_first_of("/?") > colon) {
    auto scheme = ref.substr(0, colon);
    if (iequals(scheme, "https"))
      default_port = ":443";
    else if (!iequals(scheme, "http"))
      return std::nullopt;
    ref.remove_prefix(colon + 1);
    if (!ref.starts_with("//")) return std::nullopt;
  }
  const auto q = request_target.find('?');
  const std::string_view base_path = request_target.substr(0, q);
  std::string path;
  std::string_view query;
  bool has_query = false;
  auto split_query = [&](std::string_view r) {
    auto qm = r.find('?');
    if (qm != std::string_view::npos) {
      query = r.substr(qm + 1);
      has_query = true;
    }
    return r.substr(0, qm);
  };
  if (ref.starts_with("//")) {
    ref.remove_prefix(2);
    auto end = ref.find_first_of("/?");
    auto authority = ref.substr(0, end);
    if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
    if (normalize_host(authority, default_port) != normalize_host(request_host)) return std::nullopt;
    ref = end == std::string_view::npos ? std::string_view{} : ref.substr(end);
    auto p = split_query(ref);
    path = remove_dot_segments(p.empty() ? std::string_view("/") : p);
  } else if (ref.empty()) {
    return std::string(request_target);
  } else if (ref.front() == '/') {
    path = remove_dot_segments(split_query(ref));
  } else if (ref.front() == '?') {
    path = std::string(base_path);
    split_query(ref);
  } else {
    auto slash = base_path.rfind('/');
    std::string merged(slash == std::string_view::npos ? std::string_view("/") : base_path.substr(0, slash + 1));
    merged += split_query(ref);
    path = remove_dot_segments(merged);
  }
  if (path.empty()) path.push_back('/');  // (not = "/": a false -Wrestrict of g++ 12)
  if (has_query) {
    path += '?';
    path += query;
  }
  return path;
}


}  // namespace

// --- Keys ------------------------------------------------------------------------

std::string url_key(std::string_view host, std::string_view target, const RuleConfig& rule) {
  std::string out = "GET";
  out += kKeySeparator;
  append_url(out, host, target, rule);
  return out;
}

std::string cache_key(const http::Request& req, const RuleConfig& rule) {
  std::string out;
  out.reserve(req.target.size() + 64);
  append_cache_key(out, req, rule);
  return out;
}

void append_cache_key(std::string& out, const http::Request& req, const RuleConfig& rule) {
  // HEAD is answered from GET entries (RFC 9110 9.3.2).
  if (req.method == "HEAD")
    out += "GET";
  else
    append_url_part(out, req.method);
  out += kKeySeparator;
  append_url(out, req.headers.get("Host").value_or(""), req.target, rule);
  for (const auto& name : rule.key_headers) {
    out += kKeySeparator;
    out += "h:";
    append_value_part(out, lowercase(name), true);
    if (req.headers.contains(name)) {
      out += '=';
      append_value_part(out, req.headers.get_all(name));
    }
  }
  for (const auto& name : rule.key_cookies) {
    out += kKeySeparator;
    out += "c:";
    append_value_part(out, name, true);
    if (auto value = find_cookie(req.headers, name)) {
      out += '=';
      append_value_part(out, *value);
    }
  }
}

bool bypassed(const http::Request& req, const RuleConfig& rule) {
  for (const auto& name : rule.bypass_headers) {
    bool hit = false;
    req.headers.for_each([&](const HeaderMap::Field& f) {
      if (iequals(f.name, name) && triggers_bypass(f.value)) hit = true;
    });
    if (hit) return true;
  }
  for (const auto& name : rule.bypass_cookies) {
    auto value = find_cookie(req.headers, name);
    if (value && triggers_bypass(*value)) return true;
  }
  return false;
}

bool cacheable_method(std::string_view method) noexcept { return method == "GET" || method == "HEAD"; }

RequestUse request_use(const http::Request& req, const RuleConfig& rule) {
  if (!cacheable_method(req.method)) return RequestUse::pass_method;
  if (req.has_body()) return RequestUse::pass_body;
  if (bypassed(req, rule)) return RequestUse::pass_rule;
  return RequestUse::cache;
}

bool fast_hit_request(const http::Request& req, const RuleConfig& rule) {
  return req.method == "GET" && request_use(req, rule) == RequestUse::cache &&
         !req.headers.contains("Authorization") && !req.headers.contains("Range");
}

bool fast_client_hit_request(const http::Request& req, const RuleConfig& rule) {
  if (!fast_hit_request(req, rule)) return false;
  for (auto name : {"Cache-Control", "Pragma", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since",
                    "If-Range"})
    if (req.headers.contains(name)) return false;
  return true;
}

// --- Vary --------------------------------------------------------------------------------

VarySpec parse_vary(const http::HeaderMap& headers) {
  VarySpec v;
  http::for_each_token(headers.get_all("Vary"), [&](std::string_view name) {
    if (name == "*")
      v.star = true;
    else
      v.fields.push_back(lowercase(name));
  });
  std::sort(v.fields.begin(), v.fields.end());
  v.fields.erase(std::unique(v.fields.begin(), v.fields.end()), v.fields.end());
  return v;
}

std::string vary_key(const VarySpec& vary, const http::Request& req) {
  std::string out;
  for (const auto& name : vary.fields) {
    if (!out.empty()) out += kKeySeparator;
    append_value_part(out, name, true);
    if (!req.headers.contains(name)) continue;  // absent: the bare name
    out += '=';
    // Combined lines (RFC 9110 5.3), whitespace around commas removed (RFC
    // 9111 4.1 allows removing whitespace where the syntax allows it).
    std::string combined = req.headers.get_all(name);
    std::string_view rest = combined;
    bool first = true;
    while (true) {
      auto comma = rest.find(',');
      if (!first) out += ',';
      append_value_part(out, trim(rest.substr(0, comma)));
      first = false;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

bool vary_matches(const VarySpec& vary, std::string_view stored_vary_key, const http::Request& req) {
  return vary.fields.empty() ? stored_vary_key.empty() : vary_key(vary, req) == stored_vary_key;
}

// --- Invalidation ------------------------------------------------------------------------

bool invalidates(std::string_view method, int status) noexcept {
  // RFC 9111 4.4: a non-error status to an unsafe (or unknown) method.
  const bool safe = method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE";
  return !safe && status >= 200 && status < 400;
}

std::vector<std::string> invalidated_targets(const http::Request& req, const http::Response& resp) {
  std::vector<std::string> out{req.target};
  const std::string_view host = req.headers.get("Host").value_or("");
  for (std::string_view field : {"Location", "Content-Location"}) {
    auto value = resp.headers.get(field);
    if (!value) continue;
    auto target = same_host_target(*value, host, req.target);
    if (target && std::find(out.begin(), out.end(), *target) == out.end()) out.push_back(std::move(*target));
  }
  return out;
}

// --- Tags ------------------------------------------------------------------------------

std::vector<std::string> parse_tags(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    auto end = value.find_first_of(" \t,");
    auto tag = value.substr(0, end);
    if (!tag.empty() && std::find(out.begin(), out.end(), tag) == out.end()) out.emplace_back(tag);
    if (end == std::string_view::npos) break;
    value.remove_prefix(end + 1);
  }
  return out;
}

}  // namespace gateway::cache
