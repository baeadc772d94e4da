// HTTP caching decisions of a shared cache (RFC 9111, RFC 9110 for
// conditional requests, RFC 5861 for the stale-* extensions).
//
// Pure functions, no state: callable from any thread. Each rule that is not
// obvious cites its section; where the RFCs leave a choice, the choice is
// written down in policy.hpp.
#include "cache/policy.hpp"

#include <algorithm>
#include <chrono>
#include <limits>

#include "base/http/serializer.hpp"

namespace gateway::cache {

namespace {

using http::HeaderMap;
using http::iequals;

// RFC 9111 1.2.2: a delta-seconds too large to represent counts as 2^31.
constexpr Seconds kMaxDelta = Seconds{1} << 31;

// --- Small text helpers ------------------------------------------------------

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

using http::lowercase;

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

// delta-seconds = 1*DIGIT (RFC 9111 1.2.2); nullopt if malformed.
std::optional<Seconds> parse_delta(std::string_view s) {
  if (s.empty()) return std::nullopt;
  Seconds v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    if (v <= kMaxDelta) v = v * 10 + (c - '0');
  }
  return std::min(v, kMaxDelta);
}

Seconds ceil_seconds(Duration d) {
  auto ms = d.count();
  return ms <= 0 ? 0 : Seconds((ms + 999) / 1000);
}

std::optional<Seconds> header_date(const HeaderMap& h, std::string_view name) {
  auto v = h.get(name);
  if (!v) return std::nullopt;
  auto t = http::parse_http_date(trim(*v));
  if (!t) return std::nullopt;
  return Seconds(*t);
}

// --- Cache-Control -----------------------------------------------------------

struct Directive {
  std::string_view name;
  bool has_argument = false;
  std::string argument;  // unquoted
};

// Calls f(Directive) for each directive of a Cache-Control list. An argument
// is a token or a quoted-string (with \-escapes); commas inside quotes do not
// split. Anything after an argument up to the next comma is ignored.
template <class F>
void for_each_directive(std::string_view s, F&& f) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    while (i < n && (s[i] == ',' || is_ows(s[i]))) ++i;
    if (i == n) break;
    const std::size_t start = i;
    while (i < n && s[i] != ',' && s[i] != '=' && !is_ows(s[i])) ++i;
    Directive d;
    d.name = s.substr(start, i - start);
    std::size_t j = i;
    while (j < n && is_ows(s[j])) ++j;
    if (j < n && s[j] == '=') {
      d.has_argument = true;
      i = j + 1;
      while (i < n && is_ows(s[i])) ++i;
      if (i < n && s[i] == '"') {
        for (++i; i < n && s[i] != '"'; ++i) {
          if (s[i] == '\\' && i + 1 < n) ++i;
          d.argument += s[i];
        }
        if (i < n) ++i;  // the closing quote
      } else {
        const std::size_t arg = i;
        while (i < n && s[i] != ',' && !is_ows(s[i])) ++i;
        d.argument = s.substr(arg, i - arg);
      }
    }
    while (i < n && s[i] != ',') ++i;
    if (!d.name.empty()) f(d);
  }
}

// The first occurrence of a directive with an argument decides, even if it
// is malformed (RFC 9111 4.2.1: "the first occurrence should be used").
struct FirstDelta {
  bool seen = false;
  std::optional<Seconds> value;
  void take(const Directive& d) {
    if (seen) return;
    seen = true;
    if (d.has_argument) value = parse_delta(d.argument);
  }
};

// The field names of a qualified no-cache / private, lowercased.
std::vector<std::string> field_names(std::string_view list) {
  std::vector<std::string> out;
  http::for_each_token(list, [&](std::string_view name) { out.push_back(lowercase(name)); });
  return out;
}

// no-cache and private: unqualified, or qualified with a list of fields. An
// empty list is treated as unqualified, the more restrictive reading.
void take_qualified(const Directive& d, bool& flag, std::vector<std::string>& fields) {
  auto names = d.has_argument ? field_names(d.argument) : std::vector<std::string>{};
  if (names.empty()) {
    flag = true;
    return;
  }
  for (auto& name : names)
    if (std::find(fields.begin(), fields.end(), name) == fields.end()) fields.push_back(std::move(name));
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

// nginx's proxy_cache_bypass rule: a value that is neither empty nor "0".
bool triggers_bypass(std::string_view value) {
  value = trim(value);
  return !value.empty() && value != "0";
}

// --- Storing and freshness ---------------------------------------------------

// Status codes whose caching rules this cache implements, for must-understand
// (RFC 9111 5.2.2.3): those RFC 9110 defines, except 206 (no range support)
// and 304 (a validation answer, never an entry).
bool understood_status(int status) noexcept {
  switch (status) {
    case 200: case 201: case 202: case 203: case 204: case 205:
    case 300: case 301: case 302: case 303: case 307: case 308:
    case 400: case 401: case 402: case 403: case 404: case 405: case 406: case 407: case 408:
    case 409: case 410: case 411: case 412: case 413: case 414: case 415: case 416: case 417:
    case 421: case 422: case 426:
    case 500: case 501: case 502: case 503: case 504: case 505:
      return true;
    default:
      return false;
  }
}

const Duration* rule_valid_for(const RuleConfig& rule, int status) {
  for (const auto& [s, ttl] : rule.valid)
    if (s == status) return &ttl;
  return nullptr;
}

// The rule's TTL for a status: its `valid` entry (even 0), else `ttl` if set.
std::optional<Seconds> rule_ttl(const RuleConfig& rule, int status) {
  if (const Duration* v = rule_valid_for(rule, status)) return ceil_seconds(*v);
  if (rule.ttl.count() > 0) return ceil_seconds(rule.ttl);
  return std::nullopt;
}

// Explicit expiration time (RFC 9111 4.2.1): s-maxage (shared caches only),
// then max-age, then Expires - Date. An invalid Expires is in the past (RFC
// 9111 5.3), so is a past one.
std::optional<Seconds> explicit_lifetime(const ResponseDirectives& d, const HeaderMap& h, Seconds response_time) {
  if (d.s_maxage) return *d.s_maxage;
  if (d.max_age) return *d.max_age;
  auto expires_field = h.get("Expires");
  if (!expires_field) return std::nullopt;
  auto expires = http::parse_http_date(trim(*expires_field));
  if (!expires) return 0;
  Seconds date = header_date(h, "Date").value_or(response_time);
  return std::clamp<Seconds>(Seconds(*expires) - date, 0, kMaxDelta);
}

// --- Validation ----------------------------------------------------------------

// The opaque part of an entity-tag, for weak comparison (RFC 9110 8.8.3.2):
// W/"x" and "x" both give "x" (with quotes). Unquoted tags, which some
// servers send, are compared as they are.
std::string_view opaque_tag(std::string_view tag) {
  tag = trim(tag);
  if (tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/') tag.remove_prefix(2);
  return tag;
}

// Calls f(tag) for each entity-tag of an If-None-Match list. An etagc may be
// a comma, so a quoted tag is read up to its closing quote.
template <class F>
void for_each_entity_tag(std::string_view s, F&& f) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    while (i < n && (s[i] == ',' || is_ows(s[i]))) ++i;
    if (i == n) break;
    const std::size_t start = i;
    if (s.substr(i, 3) == "W/\"") i += 2;
    if (i < n && s[i] == '"') {
      auto close = s.find('"', i + 1);
      i = close == std::string_view::npos ? n : close + 1;
    } else {
      while (i < n && s[i] != ',') ++i;
    }
    f(trim(s.substr(start, i - start)));
    while (i < n && s[i] != ',') ++i;
  }
}

// Fields a 304 must not update (RFC 9111 3.2): Content-Length, and the
// hop-by-hop ones 3.1 excludes from storage, including those the 304's
// Connection names. The other exclusions of 3.1 are applied afterwards by
// remove_unstorable_fields.
bool updatable_by_304(std::string_view name, std::string_view connection) noexcept {
  return !iequals(name, "Content-Length") && !http::is_hop_by_hop(name) && !http::has_token(connection, name);
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
  if (path.empty()) path = "/";
  if (has_query) {
    path += '?';
    path += query;
  }
  return path;
}

}  // namespace

// --- Cache-Control -------------------------------------------------------------

ResponseDirectives parse_response_directives(const http::HeaderMap& headers) {
  ResponseDirectives r;
  FirstDelta max_age, s_maxage, swr, sie;
  for_each_directive(headers.get_all("Cache-Control"), [&](const Directive& d) {
    const auto n = d.name;
    if (iequals(n, "max-age")) max_age.take(d);
    else if (iequals(n, "s-maxage")) s_maxage.take(d);
    else if (iequals(n, "stale-while-revalidate")) swr.take(d);
    else if (iequals(n, "stale-if-error")) sie.take(d);
    else if (iequals(n, "no-store")) r.no_store = true;
    else if (iequals(n, "no-cache")) take_qualified(d, r.no_cache, r.no_cache_fields);
    else if (iequals(n, "private")) take_qualified(d, r.private_, r.private_fields);
    else if (iequals(n, "public")) r.public_ = true;
    else if (iequals(n, "must-revalidate")) r.must_revalidate = true;
    else if (iequals(n, "proxy-revalidate")) r.proxy_revalidate = true;
    else if (iequals(n, "must-understand")) r.must_understand = true;
    else if (iequals(n, "immutable")) r.immutable = true;
  });
  // A present but malformed max-age / s-maxage makes the response stale
  // (RFC 9111 4.2.1: "consider responses that have invalid freshness
  // information ... to be stale").
  if (max_age.seen) r.max_age = max_age.value.value_or(0);
  if (s_maxage.seen) r.s_maxage = s_maxage.value.value_or(0);
  r.stale_while_revalidate = swr.value;
  r.stale_if_error = sie.value;
  return r;
}

RequestDirectives parse_request_directives(const http::HeaderMap& headers) {
  RequestDirectives r;
  FirstDelta max_age, max_stale, min_fresh;
  bool any = false;
  for_each_directive(headers.get_all("Cache-Control"), [&](const Directive& d) {
    any = true;
    const auto n = d.name;
    if (iequals(n, "max-age")) max_age.take(d);
    else if (iequals(n, "min-fresh")) min_fresh.take(d);
    else if (iequals(n, "max-stale")) {
      if (!max_stale.seen && !d.has_argument) {
        // Without an argument: any staleness (RFC 9111 5.2.1.2).
        max_stale.seen = true;
        max_stale.value = std::numeric_limits<Seconds>::max();
      } else {
        max_stale.take(d);
      }
    }
    else if (iequals(n, "no-cache")) r.no_cache = true;
    else if (iequals(n, "no-store")) r.no_store = true;
    else if (iequals(n, "only-if-cached")) r.only_if_cached = true;
  });
  r.max_age = max_age.value;
  r.max_stale = max_stale.value;
  r.min_fresh = min_fresh.value;
  // RFC 9111 5.4: Pragma is ignored when Cache-Control is present.
  if (!any && http::has_token(headers.get_all("Pragma"), "no-cache")) r.no_cache = true;
  return r;
}

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
  // HEAD is answered from GET entries (RFC 9110 9.3.2).
  if (req.method == "HEAD")
    out = "GET";
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
  return out;
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

// --- Storing -----------------------------------------------------------------------

bool heuristically_cacheable(int status) noexcept {
  switch (status) {
    case 200: case 203: case 204: case 206: case 300: case 301: case 308:
    case 404: case 405: case 410: case 414: case 501:
      return true;
    default:
      return false;
  }
}

StoreDecision can_store(const http::Request& req, const http::Response& resp, const RuleConfig& rule) {
  const int status = resp.status;
  // RFC 9111 3: a method the cache understands and defines as cacheable; GET
  // only, since HEAD shares GET's key (see policy.hpp).
  if (req.method != "GET") return {false, "method"};
  // RFC 9111 3: a final status; 304 only updates a stored response (4.3.4).
  if (status < 200 || status == 304) return {false, "status"};
  // RFC 9111 3.3-3.4: a cache that does not combine ranges stores no 206.
  if (status == 206) return {false, "partial content"};

  const ResponseDirectives d = parse_response_directives(resp.headers);
  if (parse_request_directives(req.headers).no_store) return {false, "no-store"};  // RFC 9111 5.2.1.5
  // RFC 9111 5.2.2.3: must-understand limits storage to a cache that
  // implements the status's rules, and then no-store is to be ignored.
  if (d.must_understand && !understood_status(status)) return {false, "must-understand"};
  if (d.no_store && !d.must_understand) return {false, "no-store"};
  if (d.private_) return {false, "private"};  // RFC 9111 5.2.2.7: unqualified only
  // RFC 9111 3.5: only public, s-maxage or must-revalidate (not
  // proxy-revalidate) allow a shared cache to reuse it.
  if (req.headers.contains("Authorization") && !d.public_ && !d.s_maxage && !d.must_revalidate)
    return {false, "authorization"};
  if (resp.headers.contains("Set-Cookie") && !rule.store_set_cookie) return {false, "set-cookie"};
  if (parse_vary(resp.headers).star) return {false, "vary *"};  // RFC 9111 4.1: never matches

  // There is no clock here: a response_time of 0 makes an Expires without a
  // usable Date count as fresh; freshness() with the real time decides later.
  const auto explicit_ttl = explicit_lifetime(d, resp.headers, 0);
  // RFC 9111 3: explicit freshness, public, or a heuristically cacheable
  // status; a status the rule lists in `valid` is the operator's explicit say.
  if (!explicit_ttl && !d.public_ && !heuristically_cacheable(status) && !rule_valid_for(rule, status))
    return {false, "status"};
  const auto rule_lifetime = rule_ttl(rule, status);
  if (!explicit_ttl && !rule_lifetime) return {false, "no freshness"};
  // A rule TTL of 0 that decides the lifetime (`valid: {404: 0s}`) means
  // "do not cache", as in nginx.
  if (rule_lifetime == Seconds{0} && (rule.override || !explicit_ttl)) return {false, "no freshness"};

  const Freshness f = freshness(resp, rule, 0);
  // Never reusable without a full refetch: not worth a disk write.
  const bool reusable_fresh = f.lifetime > 0 && !f.no_cache;
  const bool reusable_stale =
      !f.no_cache && !f.must_revalidate && (f.stale_while_revalidate > 0 || f.stale_if_error > 0);
  const Validators v = validators_of(resp.headers);
  if (!reusable_fresh && !reusable_stale && !v.etag && !v.last_modified) return {false, "no validator"};
  return {true, {}};
}

// --- Freshness -----------------------------------------------------------------------

Freshness freshness(const http::Response& resp, const RuleConfig& rule, Seconds response_time) {
  const ResponseDirectives d = parse_response_directives(resp.headers);
  const auto explicit_ttl = explicit_lifetime(d, resp.headers, response_time);
  const auto rule_lifetime = rule_ttl(rule, resp.status);
  Freshness f;
  if (rule.override && rule_lifetime)
    f.lifetime = *rule_lifetime;
  else if (explicit_ttl)
    f.lifetime = *explicit_ttl;
  else
    f.lifetime = rule_lifetime.value_or(0);  // the operator's heuristic (RFC 9111 4.2.2)
  f.stale_while_revalidate = d.stale_while_revalidate.value_or(0);
  f.stale_if_error = d.stale_if_error.value_or(0);
  // RFC 9111 5.2.2.10: s-maxage carries proxy-revalidate for shared caches.
  f.must_revalidate = d.must_revalidate || d.proxy_revalidate || d.s_maxage.has_value();
  f.no_cache = d.no_cache;
  return f;
}

Seconds corrected_initial_age(const http::HeaderMap& headers, Seconds request_time, Seconds response_time) {
  // RFC 9111 4.2.3, with a missing Date standing in as response_time.
  const Seconds date_value = header_date(headers, "Date").value_or(response_time);
  Seconds age_value = 0;
  // The first Age wins; an unparseable one is ignored.
  if (auto age = headers.get("Age")) age_value = parse_delta(trim(age->substr(0, age->find(',')))).value_or(0);
  const Seconds apparent_age = std::max<Seconds>(0, response_time - date_value);
  const Seconds response_delay = std::max<Seconds>(0, response_time - request_time);
  const Seconds corrected_age_value = age_value + response_delay;
  return std::max(apparent_age, corrected_age_value);
}

Usability usability(const Freshness& f, Seconds age, const RequestDirectives& req, bool honor_request) {
  // RFC 9111 5.2.2.4: no-cache responses are never used unvalidated.
  if (f.no_cache) return Usability::stale_revalidate;
  if (honor_request) {
    if (req.no_cache) return Usability::stale_revalidate;                    // 5.2.1.4
    if (req.max_age && age > *req.max_age) return Usability::stale_revalidate;  // 5.2.1.1
  }
  const Seconds staleness = age - f.lifetime;  // > 0: stale by that much; 0: just stale
  if (staleness < 0) {
    // 5.2.1.3: min-fresh wants lifetime - age >= min_fresh.
    if (honor_request && req.min_fresh && -staleness < *req.min_fresh) return Usability::stale_revalidate;
    return Usability::fresh;
  }
  // Stale. must-revalidate, proxy-revalidate and s-maxage forbid any stale
  // use (RFC 9111 4.2.4, 5.2.2.2, 5.2.2.8, 5.2.2.10).
  if (f.must_revalidate) return Usability::stale_revalidate;
  if (honor_request && req.max_stale && staleness <= *req.max_stale) return Usability::fresh;  // 5.2.1.2
  if (staleness < f.stale_while_revalidate) return Usability::stale_while_revalidate;         // RFC 5861 3
  return Usability::stale_revalidate;
}

bool may_serve_stale_on_error(const Freshness& f, Seconds age, const RuleConfig& rule, StaleIf failure) {
  // RFC 9111 4.2.4: "A cache MUST NOT generate a stale response if it is
  // prohibited by an explicit in-protocol directive (e.g., by a no-cache
  // response directive, a must-revalidate response directive, or an
  // applicable s-maxage or proxy-revalidate response directive)". RFC 5861's
  // stale-if-error (informational) and the operator's use_stale do not lift
  // that MUST NOT; must-revalidate says to answer 504 instead (5.2.2.2).
  if (f.no_cache || f.must_revalidate) return false;
  if (f.lifetime > age) return true;  // not stale at all
  if (rule.use_stale.has(failure)) return true;
  // RFC 5861 4: an error is what would produce a 500, 502, 503 or 504;
  // "updating" is not an error.
  return failure != StaleIf::updating && age - f.lifetime < f.stale_if_error;
}

std::optional<StaleIf> stale_condition(int status) noexcept {
  switch (status) {
    case 500: return StaleIf::http_500;
    case 502: return StaleIf::http_502;
    case 503: return StaleIf::http_503;
    case 504: return StaleIf::http_504;
    default: return std::nullopt;
  }
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

// --- Validation ------------------------------------------------------------------------

Validators validators_of(const http::HeaderMap& headers) {
  Validators v;
  if (auto etag = headers.get("ETag"); etag && !trim(*etag).empty()) v.etag = std::string(trim(*etag));
  v.last_modified = header_date(headers, "Last-Modified");
  return v;
}

void add_conditional_headers(http::HeaderMap& upstream_request, const Validators& stored) {
  upstream_request.remove("If-None-Match");
  upstream_request.remove("If-Modified-Since");
  if (stored.etag) upstream_request.set("If-None-Match", *stored.etag);
  if (stored.last_modified) upstream_request.set("If-Modified-Since", http::format_http_date(*stored.last_modified));
}

bool client_not_modified(const http::Request& req, const Validators& stored) {
  // RFC 9110 13.1.3: If-Modified-Since applies to GET and HEAD only; for
  // other methods a failed If-None-Match is a 412, not a 304 (13.1.2).
  if (req.method != "GET" && req.method != "HEAD") return false;
  if (req.headers.contains("If-None-Match")) {
    // RFC 9110 13.1.2: "*" matches any current representation; otherwise a
    // weak comparison against each listed tag. If-Modified-Since is then
    // ignored (13.1.3).
    bool match = false;
    const std::string list = req.headers.get_all("If-None-Match");
    for_each_entity_tag(list, [&](std::string_view tag) {
      if (tag == "*" || (stored.etag && opaque_tag(tag) == opaque_tag(*stored.etag))) match = true;
    });
    return match;
  }
  // RFC 9110 13.1.3: ignored unless exactly one valid HTTP-date.
  if (req.headers.count("If-Modified-Since") != 1 || !stored.last_modified) return false;
  const auto since = header_date(req.headers, "If-Modified-Since");
  return since && *stored.last_modified <= *since;
}

void merge_not_modified(http::HeaderMap& stored, const http::HeaderMap& not_modified) {
  // Names first: every stored field of a name the 304 carries goes, then the
  // 304's fields of those names are added in their order (RFC 9111 3.2).
  const std::string connection = not_modified.get_all("Connection");
  std::vector<std::string> names;
  not_modified.for_each([&](const HeaderMap::Field& f) {
    if (!updatable_by_304(f.name, connection)) return;
    auto name = lowercase(f.name);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
  });
  for (const auto& name : names) stored.remove(name);
  if (!not_modified.contains("Age")) stored.remove("Age");
  if (!not_modified.contains("Date")) stored.remove("Date");
  not_modified.for_each([&](const HeaderMap::Field& f) {
    if (updatable_by_304(f.name, connection)) stored.add(f.name, f.value);
  });
  remove_unstorable_fields(stored);
}

void remove_unstorable_fields(http::HeaderMap& headers) {
  http::remove_hop_by_hop(headers);  // Connection, the fields it names, and the rest
  headers.remove("Proxy-Authenticate");
  headers.remove("Proxy-Authentication-Info");
  headers.remove("Proxy-Authorization");
  const ResponseDirectives d = parse_response_directives(headers);
  for (const auto& name : d.no_cache_fields) headers.remove(name);
  for (const auto& name : d.private_fields) headers.remove(name);
  headers.remove("Set-Cookie");
  headers.remove("Set-Cookie2");
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
