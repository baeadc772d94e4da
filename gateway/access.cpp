#include "gateway/access.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <strings.h>

#include <cstring>

namespace gateway::access {

namespace ip = boost::asio::ip;

AddressDecision decide_address(std::span<const AddressRule> rules, const std::optional<ip::address>& client) {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const auto& rule = rules[i];
    bool holds = !rule.range || (client && rule.range->contains(*client));
    if (holds) return {rule.allow, static_cast<int>(i)};
  }
  return {};
}

// ---------------------------------------------------------------------------
// Htpasswd
// ---------------------------------------------------------------------------

namespace {

constexpr std::string_view kAccepted[] = {"$2y$", "$2b$", "$2a$", "$6$", "$5$", "$y$"};

// SHA-256 of what a successful check was for: the stored hash too, so a
// password changed in the file (a reload) is never taken from the cache.
std::array<unsigned char, 32> credentials_digest(std::string_view user, std::string_view password,
                                                 std::string_view hash) {
  std::string text;
  text.reserve(user.size() + password.size() + hash.size() + 2);
  text.append(user).push_back('\0');
  text.append(password).push_back('\0');
  text.append(hash);
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), out.data());
  OPENSSL_cleanse(text.data(), text.size());
  return out;
}

bool same_in_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::optional<std::string> refused_hash(std::string_view hash) {
  for (auto prefix : kAccepted)
    if (hash.starts_with(prefix)) return std::nullopt;
  if (hash.starts_with("$apr1$")) return "apr1 (Apache MD5) hashes are not supported by libcrypt; use bcrypt (htpasswd -B)";
  if (hash.starts_with("$1$")) return "MD5-crypt ($1$) hashes are refused as weak; use bcrypt (htpasswd -B) or $6$";
  if (hash.starts_with("{SHA}")) return "{SHA} hashes are unsalted SHA-1, refused; use bcrypt (htpasswd -B)";
  return "unsupported hash (plain text or an unknown scheme); expected bcrypt ($2y$, $2b$), $6$, $5$ or $y$";
}

std::optional<std::string> crypt_hash(std::string_view password, const std::string& setting) {
  crypt_data data;
  std::memset(&data, 0, sizeof data);
  std::string phrase(password);
  const char* out = crypt_rn(phrase.c_str(), setting.c_str(), &data, sizeof data);
  OPENSSL_cleanse(phrase.data(), phrase.size());
  if (out == nullptr || out[0] == '*') return std::nullopt;
  std::string result(out);
  OPENSSL_cleanse(&data, sizeof data);
  return result;
}

std::shared_ptr<Htpasswd> Htpasswd::parse(std::string_view text, std::vector<HtpasswdError>& errors) {
  auto file = std::make_shared<Htpasswd>();
  int number = 0;
  while (!text.empty()) {
    ++number;
    auto eol = text.find('\n');
    auto line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      errors.push_back({number, "expected user:hash"});
      continue;
    }
    auto user = line.substr(0, colon);
    auto hash = line.substr(colon + 1);
    // htpasswd files of some tools carry more fields after the hash.
    if (auto extra = hash.find(':'); extra != std::string_view::npos) hash = hash.substr(0, extra);
    if (auto why = refused_hash(hash)) {
      errors.push_back({number, "user \"" + std::string(user) + "\": " + *why});
      continue;
    }
    if (!file->users_.emplace(std::string(user), std::string(hash)).second)
      errors.push_back({number, "duplicate user \"" + std::string(user) + "\""});
  }
  return file;
}

bool Htpasswd::verify(std::string_view user, std::string_view password) const {
  auto found = users_.find(user);
  if (found == users_.end()) {
    // The time of a real check, for an unknown user as for a known one.
    if (!users_.empty()) (void)crypt_hash(password, users_.begin()->second);
    return false;
  }
  const std::string& hash = found->second;
  auto digest = credentials_digest(user, password, hash);
  if (known(digest)) return true;
  auto computed = crypt_hash(password, hash);
  if (!computed || !same_in_constant_time(*computed, hash)) return false;
  std::lock_guard lock(mu_);
  if (verified_.size() >= kCacheEntries) verified_.clear();
  verified_.insert(digest);
  return true;
}

bool Htpasswd::remembered(std::string_view user, std::string_view password) const {
  auto found = users_.find(user);
  return found != users_.end() && known(credentials_digest(user, password, found->second));
}

bool Htpasswd::known(const Digest& digest) const {
  std::lock_guard lock(mu_);
  return verified_.count(digest) > 0;
}

std::size_t Htpasswd::cached() const {
  std::lock_guard lock(mu_);
  return verified_.size();
}

// ---------------------------------------------------------------------------
// The decision
// ---------------------------------------------------------------------------

const std::vector<AddressRule>* effective_rules(const AccessConfig& route, const AccessConfig& top) {
  const auto& rules = route.rules ? route.rules : top.rules;
  return rules && !rules->empty() ? &*rules : nullptr;
}

const AuthConfig* effective_auth(const AccessConfig& route, const AccessConfig& top) {
  const auto& auth = route.auth ? route.auth : top.auth;
  return auth && !auth->off && auth->users ? &*auth : nullptr;
}

namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::optional<std::string> decode_base64(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char c : text) {
    int v = base64_value(c);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<unsigned>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xffu));
    }
  }
  if (count >= 6) return std::nullopt;  // one character alone cannot end the text
  return out;
}

}  // namespace

std::optional<Credentials> parse_basic(std::string_view authorization) {
  auto space = authorization.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto scheme = authorization.substr(0, space);
  if (scheme.size() != 5 || strncasecmp(scheme.data(), "basic", 5) != 0) return std::nullopt;
  auto token = authorization.substr(space + 1);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  auto decoded = decode_base64(token);
  if (!decoded) return std::nullopt;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

Refusal decide(const std::vector<AddressRule>* rules, const AuthConfig* auth,
               const std::optional<ip::address>& client, std::optional<std::string_view> authorization) {
  if (rules && !decide_address(*rules, client).allowed) return Refusal::address;
  if (!auth) return Refusal::none;
  auto credentials = authorization ? parse_basic(*authorization) : std::nullopt;
  if (!credentials || !auth->users->verify(credentials->user, credentials->password)) return Refusal::auth;
  return Refusal::none;
}

std::string challenge(std::string_view realm) {
  std::string out = "Basic realm=\"";
  for (char c : realm) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\", charset=\"UTF-8\"";
}

}  // namespace gateway::access
