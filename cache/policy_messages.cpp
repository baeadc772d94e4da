// Validation and the messages the cache builds: validators, conditional
// requests in both directions (RFC 9110 13; RFC 9111 4.3), what a 304
// updates, what is stored of a response (RFC 9111 3.1-3.2), reuse with
// credentials (3.5), the requests a fill or a revalidation sends, the 304 the
// cache answers itself, and the X-Cache and Cache-Status fields (RFC 9211).
//
// Pure functions, no state: callable from any thread.
#include "cache/policy.hpp"

#include <algorithm>
#include <charconv>

#include "cache/policy_text.hpp"

namespace gateway::cache {

namespace {

using namespace policy_text;

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

// --- The requests a cache sends --------------------------------------------------

// Fields of a client's request that only that client's answer honours.
constexpr std::string_view kClientOnly[] = {"If-None-Match",       "If-Modified-Since", "If-Match",
                                            "If-Unmodified-Since", "If-Range",          "Range"};

bool client_only(std::string_view name) noexcept {
  for (auto c : kClientOnly)
    if (iequals(name, c)) return true;
  return false;
}

// --- X-Cache and Cache-Status ----------------------------------------------------

void append_number(std::string& out, long long v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

// "; stored", or why the response was not.
void append_stored(std::string& out, std::string_view not_stored) {
  if (not_stored.empty()) out.append("; stored");
  else out.append("; detail=").append(not_stored);
}

}  // namespace

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

// --- Reuse with credentials ------------------------------------------------------

bool reusable_with_authorization(const http::Request& req, std::string_view stored_head) {
  // Cache-Control alone: a rule that reads no targeted field.
  static const RuleConfig kCacheControlOnly = [] {
    RuleConfig r;
    r.targeted_fields.clear();
    return r;
  }();
  return reusable_with_authorization(req, stored_head, kCacheControlOnly);
}

bool reusable_with_authorization(const http::Request& req, std::string_view stored_head, const RuleConfig& rule) {
  if (!req.headers.contains("Authorization")) return true;
  http::Response stored;
  if (!http::parse_response_head(stored_head, stored)) return false;
  return shared_with_credentials(parse_response_directives(stored.headers, rule));
}

// --- The requests a cache sends --------------------------------------------------

bool is_fill_request(const http::Request& client) {
  if (client.method != "GET") return false;
  for (auto name : kClientOnly)
    if (client.headers.contains(name)) return false;
  return true;
}

http::Request fill_request(const http::Request& client) {
  http::Request u;
  u.method = "GET";
  u.target = client.target;
  u.version_minor = client.version_minor;
  client.headers.for_each([&](const HeaderMap::Field& f) {
    if (!client_only(f.name)) u.headers.add(f.name, f.value);
  });
  return u;
}

http::Request revalidation_request(const http::Request& client, const Validators& stored) {
  http::Request r = is_fill_request(client) ? client : fill_request(client);
  add_conditional_headers(r.headers, stored);
  return r;
}

// --- The responses a cache builds ------------------------------------------------

std::string stored_head(const http::Response& resp, Seconds now) {
  http::Response copy;
  copy.status = resp.status;
  copy.reason = resp.reason;
  resp.headers.for_each([&](const HeaderMap::Field& f) { copy.headers.add(f.name, f.value); });
  remove_unstorable_fields(copy.headers);
  for (auto name : {"Age", "X-Cache", "Cache-Status", "Accept-Ranges", "Content-Length", "Transfer-Encoding",
                    "Connection"})
    copy.headers.remove(name);
  if (!copy.headers.contains("Date")) copy.headers.add("Date", http::format_http_date(now));
  std::string out;
  http::serialize_response_head(copy, out);
  out.resize(out.size() - 2);  // without the blank line
  return out;
}

bool answers_not_modified(const http::Request& req, int stored_status, const Validators& stored) {
  return stored_status / 100 == 2 && client_not_modified(req, stored);
}

std::optional<std::string> not_modified_head(std::string_view stored_head) {
  http::Response stored;
  if (!http::parse_response_head(stored_head, stored)) return std::nullopt;
  std::string head = "HTTP/1.1 304 Not Modified\r\n";
  for (auto name : {"Cache-Control", "Content-Location", "Date", "ETag", "Expires", "Last-Modified", "Vary"})
    if (auto v = stored.headers.get(name)) head.append(name).append(": ").append(*v).append(http::kCrlf);
  return head;
}

// --- X-Cache and Cache-Status ----------------------------------------------------

std::string cache_fields(CacheStatus status, const CacheStatusFacts& facts) {
  std::string f;
  f.reserve(96);
  append_cache_fields(f, status, facts);
  return f;
}

void append_cache_fields(std::string& f, CacheStatus status, const CacheStatusFacts& facts) {
  if (facts.age) {
    f.append("Age: ");
    append_number(f, *facts.age);
    f.append(http::kCrlf);
  }
  if (facts.accept_ranges) f.append("Accept-Ranges: bytes").append(http::kCrlf);
  f.append("X-Cache: ").append(kCacheStatusNames[static_cast<std::size_t>(status)]).append(http::kCrlf);
  if (facts.only_if_cached) {
    f.append("Cache-Status: gateway; detail=only-if-cached").append(http::kCrlf);
    return;
  }
  f.append("Cache-Status: gateway; ");
  switch (status) {
    case CacheStatus::hit:
    case CacheStatus::stale:
    case CacheStatus::updating:
      f.append("hit; ttl=");
      append_number(f, facts.ttl);
      if (status == CacheStatus::stale) f.append("; detail=stale");
      else if (status == CacheStatus::updating) f.append("; detail=updating");
      else if (facts.shared_tier) f.append("; detail=shared-tier");
      else if (facts.heuristic) f.append("; detail=heuristic");
      break;
    case CacheStatus::revalidated:
      f.append("fwd=stale; fwd-status=304");
      break;
    case CacheStatus::expired:
      f.append("fwd=stale; fwd-status=");
      append_number(f, facts.upstream_status);
      append_stored(f, facts.not_stored);
      break;
    case CacheStatus::miss:
      f.append("fwd=uri-miss");
      if (facts.collapsed) f.append("; collapsed");
      else append_stored(f, facts.not_stored);
      break;
    case CacheStatus::bypass:
      f.append(facts.method ? "fwd=method" : "fwd=bypass");
      if (!facts.method && facts.request_body) f.append("; detail=request-body");
      break;
  }
  f.append(http::kCrlf);
}

}  // namespace gateway::cache
