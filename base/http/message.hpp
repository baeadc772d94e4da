// HTTP/1.x messages as plain values: Request, Response and their HeaderMap.
//
// Owned by whoever parses or builds them; no thread affinity. A HeaderMap keeps
// all names and values in one string arena so that a connection which reuses
// its Request object allocates nothing per request once warmed up.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gateway::http {

// ASCII case-insensitive equality, as header names require (RFC 9110 5.1).
bool iequals(std::string_view a, std::string_view b) noexcept;
// ASCII lowercase copy (header names, hosts, directive names); other bytes
// are kept as they are, whatever the locale.
std::string lowercase(std::string_view s);

// A Host field value as RFC 9112 3.2 allows it: uri-host [ ":" port ]
// (RFC 3986 3.2.2: an IP-literal in brackets, or a reg-name of unreserved,
// pct-encoded and sub-delims characters, which covers IPv4 addresses), and
// port digits only. Empty is valid (RFC 9112 3.2: a target without an
// authority). Anything else (a '/', a space, a '@', a bare ':') must not
// reach an instance or a cache key.
bool valid_host(std::string_view host) noexcept;

// True if the comma-separated list `list` holds `token` (case-insensitive),
// e.g. has_token("keep-alive, Upgrade", "upgrade").
bool has_token(std::string_view list, std::string_view token) noexcept;

// Calls f(element) for each trimmed, non-empty element of a comma-separated list.
template <class F>
void for_each_token(std::string_view list, F&& f) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

class HeaderMap {
 public:
  struct Field {
    std::string_view name;
    std::string_view value;
  };

  void clear() noexcept {
    store_.clear();
    slots_.clear();
    live_ = 0;
  }

  void add(std::string_view name, std::string_view value);
  // Replaces every field called `name` by one with `value`.
  void set(std::string_view name, std::string_view value);
  // Removes every field called `name`; returns how many there were.
  std::size_t remove(std::string_view name) noexcept;

  // First value of `name`. Views stay valid until the map is next modified.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  bool contains(std::string_view name) const noexcept { return get(name).has_value(); }
  std::size_t count(std::string_view name) const noexcept;
  // All values of `name` joined with ", " (RFC 9110 5.3), for list headers.
  std::string get_all(std::string_view name) const;

  std::size_t size() const noexcept { return live_; }
  bool empty() const noexcept { return live_ == 0; }
  // Bytes of names and values stored, a bound on the serialized size.
  std::size_t bytes() const noexcept { return store_.size(); }

  template <class F>
  void for_each(F&& f) const {
    for (const auto& s : slots_)
      if (!s.dead) f(Field{view(s.name_off, s.name_len), view(s.value_off, s.value_len)});
  }

  // Parser support: a header arrives in pieces. begin_field() opens a field,
  // then name and value pieces are appended in order.
  void begin_field();
  void append_name(std::string_view piece);
  void append_value(std::string_view piece);

 private:
  struct Slot {
    std::uint32_t name_off, name_len, value_off, value_len;
    bool dead;
  };
  std::string_view view(std::uint32_t off, std::uint32_t len) const noexcept {
    return std::string_view(store_).substr(off, len);
  }

  std::string store_;
  std::vector<Slot> slots_;
  std::size_t live_ = 0;
};

struct Request {
  std::string method;            // as sent, e.g. "GET"
  std::string target;            // origin-form: path and query
  int version_minor = 1;         // HTTP/1.<minor>
  HeaderMap headers;
  bool keep_alive = true;        // after this request, per version and Connection
  bool chunked = false;          // Transfer-Encoding: chunked
  std::optional<std::uint64_t> content_length;
  bool expect_continue = false;  // Expect: 100-continue
  bool tls = false;              // came over TLS: the scheme is https (X-Forwarded-Proto)

  std::string_view path() const noexcept;   // target up to '?'
  std::string_view query() const noexcept;  // after '?', empty if none
  bool has_body() const noexcept { return chunked || content_length.value_or(0) > 0; }
  bool is_head() const noexcept { return method == "HEAD"; }
  void clear() noexcept;
};

// Safe and idempotent methods may be retried on another instance (RFC 9110 9.2.2).
bool is_idempotent(std::string_view method) noexcept;

struct Response {
  int status = 200;
  std::string reason;
  int version_minor = 1;
  HeaderMap headers;
  bool keep_alive = true;   // the sender keeps the connection open afterwards
  bool chunked = false;
  std::optional<std::uint64_t> content_length;

  void clear() noexcept;
};

// A body is forbidden for 1xx, 204 and 304, and for any response to HEAD.
bool response_has_body(int status, bool head_request) noexcept;

std::string_view reason_phrase(int status) noexcept;

}  // namespace gateway::http
