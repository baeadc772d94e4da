// Cache-Control, storing and freshness: the directives of requests and
// responses (RFC 9111 5.2), whether a response may be stored (RFC 9111 3),
// its freshness lifetime and age (4.2), and when a stored response may be
// used fresh, stale or not without revalidation (4.2.4, RFC 5861).
//
// Pure functions, no state: callable from any thread. Each rule that is not
// obvious cites its section; where the RFCs leave a choice, the choice is
// written down in policy.hpp.
#include "cache/policy.hpp"

#include <algorithm>
#include <limits>

#include "cache/policy_text.hpp"

namespace gateway::cache {

namespace {

using namespace policy_text;

Seconds ceil_seconds(Duration d) {
  auto ms = d.count();
  return ms <= 0 ? 0 : Seconds((ms + 999) / 1000);
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
// Returns whether the list was read cleanly: every name a token, every `=`
// followed by an argument, every quote closed, nothing ignored (what a
// targeted field needs, valid_targeted_value).
template <class F>
bool for_each_directive(std::string_view s, F&& f) {
  bool clean = true;
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    while (i < n && (s[i] == ',' || is_ows(s[i]))) ++i;
    if (i == n) break;
    const std::size_t start = i;
    while (i < n && s[i] != ',' && s[i] != '=' && !is_ows(s[i])) ++i;
    Directive d;
    d.name = s.substr(start, i - start);
    clean = clean && is_token(d.name);
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
        else clean = false;
      } else {
        const std::size_t arg = i;
        while (i < n && s[i] != ',' && !is_ows(s[i])) ++i;
        d.argument = s.substr(arg, i - arg);
        clean = clean && is_token(d.argument);
      }
    }
    while (i < n && is_ows(s[i])) ++i;
    if (i < n && s[i] != ',') clean = false;
    while (i < n && s[i] != ',') ++i;
    if (!d.name.empty()) f(d);
  }
  return clean;
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
// 9111 5.3), so is a past one; Expires is one HTTP-date, so two Expires
// lines are invalid too. Directives from a targeted field make Expires
// ignored (RFC 9213 2.2).
std::optional<Seconds> explicit_lifetime(const ResponseDirectives& d, const HeaderMap& h, Seconds response_time) {
  if (d.s_maxage) return *d.s_maxage;
  if (d.max_age) return *d.max_age;
  if (d.targeted) return std::nullopt;
  auto expires_field = h.get("Expires");
  if (!expires_field) return std::nullopt;
  auto expires = h.count("Expires") == 1 ? http::parse_http_date(trim(*expires_field)) : std::nullopt;
  if (!expires) return 0;
  Seconds date = header_date(h, "Date").value_or(response_time);
  return std::clamp<Seconds>(Seconds(*expires) - date, 0, kMaxDelta);
}

}  // namespace

// --- Cache-Control -------------------------------------------------------------

ResponseDirectives parse_response_directives(const http::HeaderMap& headers) {
  return parse_response_directives(headers.get_all("Cache-Control"));
}

ResponseDirectives parse_response_directives(const http::HeaderMap& headers, const RuleConfig& rule) {
  // RFC 9213 2.2: the first targeted field (in the rule's order) with a
  // valid, non-empty value; a field that is not is as if absent.
  for (const auto& name : rule.targeted_fields) {
    if (!headers.contains(name)) continue;
    const std::string value = headers.get_all(name);
    if (!valid_targeted_value(value)) continue;
    ResponseDirectives r = parse_response_directives(value);
    r.targeted = true;
    return r;
  }
  return parse_response_directives(headers);
}

bool valid_targeted_value(std::string_view value) {
  bool any = false;
  const bool clean = for_each_directive(value, [&](const Directive&) { any = true; });
  return clean && any;
}

ResponseDirectives parse_response_directives(std::string_view list) {
  ResponseDirectives r;
  FirstDelta max_age, s_maxage, swr, sie;
  for_each_directive(list, [&](const Directive& d) {
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

bool only_if_cached(const http::Request& req) { return parse_request_directives(req.headers).only_if_cached; }

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

bool shared_with_credentials(const ResponseDirectives& d) noexcept {
  // RFC 9111 3.5: only public, s-maxage or must-revalidate (not
  // proxy-revalidate) allow a shared cache to reuse it.
  return d.public_ || d.s_maxage.has_value() || d.must_revalidate;
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

  const ResponseDirectives d = parse_response_directives(resp.headers, rule);
  if (parse_request_directives(req.headers).no_store) return {false, "no-store"};  // RFC 9111 5.2.1.5
  // RFC 9111 5.2.2.3: must-understand limits storage to a cache that
  // implements the status's rules, and then no-store is to be ignored.
  if (d.must_understand && !understood_status(status)) return {false, "must-understand"};
  if (d.no_store && !d.must_understand) return {false, "no-store"};
  if (d.private_) return {false, "private"};  // RFC 9111 5.2.2.7: unqualified only
  // RFC 9111 3.5: a request with credentials, only if the response allows it.
  if (req.headers.contains("Authorization") && !shared_with_credentials(d)) return {false, "authorization"};
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
  // RFC 9111 4.2.2: the zone's heuristic needs a Last-Modified (how long
  // it gives depends on the Date, which freshness() reads with the clock).
  const bool heuristic = rule.heuristic.enabled && header_date(resp.headers, "Last-Modified").has_value();
  if (!explicit_ttl && !rule_lifetime && !heuristic) return {false, "no freshness"};
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

std::optional<Seconds> heuristic_lifetime(const http::Response& resp, const ResponseDirectives& d,
                                          const HeuristicConfig& h, Seconds response_time) {
  // RFC 9111 4.2.2: only for a status cacheable by default, or a response
  // marked cacheable (public); "a fraction of the interval since" its
  // Last-Modified, which must lie before its Date.
  if (!h.enabled || (!heuristically_cacheable(resp.status) && !d.public_)) return std::nullopt;
  const auto last_modified = header_date(resp.headers, "Last-Modified");
  if (!last_modified) return std::nullopt;
  const Seconds date = header_date(resp.headers, "Date").value_or(response_time);
  if (*last_modified >= date) return std::nullopt;
  const auto lifetime = static_cast<Seconds>(static_cast<double>(date - *last_modified) * h.fraction);
  return std::clamp<Seconds>(lifetime, 0, std::min(ceil_seconds(h.max), kMaxDelta));
}

Freshness freshness(const http::Response& resp, const RuleConfig& rule, Seconds response_time) {
  const ResponseDirectives d = parse_response_directives(resp.headers, rule);
  const auto explicit_ttl = explicit_lifetime(d, resp.headers, response_time);
  const auto rule_lifetime = rule_ttl(rule, resp.status);
  Freshness f;
  if (rule.override && rule_lifetime) {
    f.lifetime = *rule_lifetime;
  } else if (explicit_ttl) {
    f.lifetime = *explicit_ttl;
  } else if (rule_lifetime) {
    f.lifetime = *rule_lifetime;  // the operator's heuristic, per route
  } else if (auto h = heuristic_lifetime(resp, d, rule.heuristic, response_time)) {
    f.lifetime = *h;  // the zone's (RFC 9111 4.2.2)
    f.heuristic = true;
  }
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

Usability usability(const Freshness& f, Seconds age, const http::Request& req, const RuleConfig& rule) {
  RequestDirectives directives;
  if (rule.honor_client_no_cache) directives = parse_request_directives(req.headers);
  return usability(f, age, directives, rule.honor_client_no_cache);
}

bool may_serve_stale(const Freshness& f, Seconds age, const RuleConfig& rule, StaleIf why) {
  // RFC 9111 4.2.4: "A cache MUST NOT generate a stale response if it is
  // prohibited by an explicit in-protocol directive (e.g., by a no-cache
  // response directive, a must-revalidate response directive, or an
  // applicable s-maxage or proxy-revalidate response directive)". RFC 5861's
  // stale-if-error (informational) and the operator's use_stale do not lift
  // that MUST NOT; must-revalidate says to answer 504 instead (5.2.2.2).
  if (f.no_cache || f.must_revalidate) return false;
  if (f.lifetime > age) return true;  // not stale at all
  if (rule.use_stale.has(why)) return true;
  // RFC 5861 4: an error is what would produce a 500, 502, 503 or 504;
  // "updating" is not an error.
  return why != StaleIf::updating && age - f.lifetime < f.stale_if_error;
}

StaleIf failure_condition(int failure_status) noexcept {
  return failure_status == 504 ? StaleIf::timeout : StaleIf::error;
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

}  // namespace gateway::cache
