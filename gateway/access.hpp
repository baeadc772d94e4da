// Access control of a route, and of the admin listener: the client's
// address against an ordered list of allow/deny rules (nginx's allow/deny,
// first match wins), and HTTP Basic authentication against an htpasswd file
// (nginx's auth_basic). The decisions are pure functions (table tests in
// tests/unit/gateway/access_test.cpp); the hooks that answer 403 and 401 are
// in gateway/access_serve.hpp.
//
// Htpasswd files are read at load (and at each reload): a bad line is a
// configuration error at the file's line. Hashes are checked by libcrypt's
// crypt_rn (thread-safe, unlike crypt()): bcrypt ($2y$, $2b$, $2a$),
// SHA-512-crypt ($6$), SHA-256-crypt ($5$) and yescrypt ($y$, Debian's
// default). apr1 (Apache's MD5, which libxcrypt does not implement), MD5-crypt
// ($1$), {SHA} and plain text are refused at load: weak, or not checkable.
//
// bcrypt costs tens of milliseconds per check by design, on the worker that
// serves the request: a successful check is remembered (a SHA-256 of the
// user, the password and the stored hash; bounded, cleared when full), so a
// user's next requests cost a hash, not a bcrypt. A failed check is never
// remembered.
//
// Pure values and decisions; an Htpasswd is shared by the workers (its
// cache behind a mutex).
#pragma once

#include <boost/asio/ip/address.hpp>
#include <array>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/net/cidr.hpp"

namespace gateway::access {

// `{allow: 10.0.0.0/8}`, `{deny: all}`.
struct AddressRule {
  bool allow = false;
  std::optional<net::Cidr> range;  // nullopt: all
};

// What the rules say of an address: the first rule whose range holds it
// decides (nginx); none does: allowed. `rule` is its index, -1 if none.
// An address that is none (a Unix socket's peer) matches only `all`.
struct AddressDecision {
  bool allowed = true;
  int rule = -1;
};
AddressDecision decide_address(std::span<const AddressRule> rules, const std::optional<boost::asio::ip::address>& client);

// One line of an htpasswd file that cannot be used, and why.
struct HtpasswdError {
  int line = 0;  // 1-based
  std::string message;
};

// The users of an htpasswd file: `user:hash` lines; blank lines and lines
// starting with '#' are skipped.
class Htpasswd {
 public:
  static std::shared_ptr<Htpasswd> parse(std::string_view text, std::vector<HtpasswdError>& errors);

  // Whether `password` is the user's: crypt_rn of it with the stored hash
  // as setting equals the stored hash (compared in constant time). An
  // unknown user is checked against a fixed hash all the same, so the time
  // taken does not tell which users exist. Thread-safe.
  bool verify(std::string_view user, std::string_view password) const;
  // Whether verify() would answer true from what it remembers, without
  // crypt_rn: a quick look the worker makes itself (the check runs on
  // another thread; gateway/access_serve.cpp).
  bool remembered(std::string_view user, std::string_view password) const;

  std::size_t size() const { return users_.size(); }
  // Successful checks remembered; at most kCacheEntries.
  std::size_t cached() const;
  static constexpr std::size_t kCacheEntries = 4096;

 private:
  using Digest = std::array<unsigned char, 32>;  // SHA-256 of user, password and hash
  bool known(const Digest& digest) const;         // a success remembered

  std::map<std::string, std::string, std::less<>> users_;  // user -> hash
  mutable std::mutex mu_;
  mutable std::set<Digest> verified_;
};

// Whether `hash` is a format crypt_rn checks and we accept; if not, why.
std::optional<std::string> refused_hash(std::string_view hash);

// `crypt_rn(password, setting)`, or nullopt if libcrypt refuses the setting.
std::optional<std::string> crypt_hash(std::string_view password, const std::string& setting);

// A route's (or the admin listener's) `auth:`.
struct AuthConfig {
  bool off = false;            // `auth: off`: no authentication (a route against the top-level default)
  std::string realm;           // in WWW-Authenticate
  std::string htpasswd;        // the file, absolute
  std::shared_ptr<const Htpasswd> users;
  bool forward = false;        // Authorization goes on to the instance
};

// `access:` and `auth:` of a route, or the top-level defaults; a route's own
// key replaces the default entirely.
struct AccessConfig {
  std::optional<std::vector<AddressRule>> rules;
  std::optional<AuthConfig> auth;
};

// The rules and authentication in force for a route: its own, else the
// default; null where neither has any (auth `off` counts as none).
const std::vector<AddressRule>* effective_rules(const AccessConfig& route, const AccessConfig& top);
const AuthConfig* effective_auth(const AccessConfig& route, const AccessConfig& top);

// The user and password of an `Authorization: Basic ...` field (RFC 7617);
// nullopt if it is none or malformed (bad base64, no ':').
struct Credentials {
  std::string user;
  std::string password;
};
std::optional<Credentials> parse_basic(std::string_view authorization);

// Why a request is refused.
enum class Refusal { none, address, auth };
inline constexpr std::array<std::string_view, 2> kRefusalNames = {"address", "auth"};  // by Refusal - 1

// The whole decision (nginx's `satisfy all`): the address first (403), then
// the credentials (401).
Refusal decide(const std::vector<AddressRule>* rules, const AuthConfig* auth,
               const std::optional<boost::asio::ip::address>& client,
               std::optional<std::string_view> authorization);

// `Basic realm="...", charset="UTF-8"` (RFC 7617), the realm's quotes and
// backslashes escaped.
std::string challenge(std::string_view realm);

}  // namespace gateway::access
