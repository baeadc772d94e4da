// Tests for access control's pure decisions (gateway/access.hpp): allow/deny
// rules in order, first match wins, over IPv4, IPv6 and IPv4-mapped IPv6;
// htpasswd parsing and hash formats; Basic credentials; the whole decision
// (address, then credentials).
#include "gateway/access.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace gateway;
using namespace gateway::access;

namespace {

// Known hashes of "secret" (python3 crypt, openssl passwd).
constexpr std::string_view kBcrypt = "$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW";
constexpr std::string_view kSha512 =
    "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
constexpr std::string_view kSha256 = "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA";

AddressRule rule(bool allow, const char* cidr) {
  if (std::string_view(cidr) == "all") return {allow, std::nullopt};
  std::string error;
  auto range = net::Cidr::parse(cidr, error);
  REQUIRE_MESSAGE(range, error);
  return {allow, *range};
}

std::optional<boost::asio::ip::address> addr(const char* text) { return net::parse_address(text); }

std::shared_ptr<Htpasswd> users(const std::string& text) {
  std::vector<HtpasswdError> errors;
  auto file = Htpasswd::parse(text, errors);
  REQUIRE(errors.empty());
  return file;
}

}  // namespace

TEST_CASE("access: allow and deny rules, first match wins") {
  const std::vector<AddressRule> office = {rule(true, "10.0.0.0/8"), rule(true, "::1"), rule(true, "2001:db8::/32"),
                                           rule(false, "all")};
  const std::vector<AddressRule> block_one = {rule(false, "192.0.2.7"), rule(true, "192.0.2.0/24")};
  const std::vector<AddressRule> deny_net_allow_rest = {rule(false, "192.0.2.0/24")};
  struct Row {
    const std::vector<AddressRule>* rules;
    const char* client;
    bool allowed;
    int rule;
  };
  const Row rows[] = {
      {&office, "10.1.2.3", true, 0},
      {&office, "::ffff:10.1.2.3", true, 0},  // IPv4-mapped: as the IPv4 address
      {&office, "11.0.0.1", false, 3},
      {&office, "::1", true, 1},
      {&office, "2001:db8:1::5", true, 2},
      {&office, "2001:db9::5", false, 3},
      {&block_one, "192.0.2.7", false, 0},  // the deny before the allow that also holds it
      {&block_one, "192.0.2.8", true, 1},
      {&block_one, "198.51.100.1", true, -1},  // no rule holds it: allowed (nginx)
      {&deny_net_allow_rest, "192.0.2.200", false, 0},
      {&deny_net_allow_rest, "::ffff:192.0.2.200", false, 0},
      {&deny_net_allow_rest, "192.0.3.1", true, -1},
  };
  for (const auto& r : rows) {
    CAPTURE(r.client);
    auto got = decide_address(*r.rules, addr(r.client));
    CHECK(got.allowed == r.allowed);
    CHECK(got.rule == r.rule);
  }
  // No address (a Unix socket's peer): only `all` holds it.
  CHECK(decide_address(office, std::nullopt).rule == 3);
  CHECK(decide_address(block_one, std::nullopt).allowed);
}

TEST_CASE("access: htpasswd lines and hash formats") {
  std::vector<HtpasswdError> errors;
  auto file = Htpasswd::parse("# staff\n\nann:" + std::string(kBcrypt) + "\r\nbob:" + std::string(kSha512) +
                                  "\ncid:" + std::string(kSha256) + ":extra field\n" +
                                  "dan:$apr1$abc$PZF73YJz5hJ9yyI.7OP.R.\n"
                                  "eve:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"
                                  "fay:plaintext\n"
                                  "gil:$1$abc$xyz\n"
                                  "no colon here\n"
                                  "ann:" + std::string(kSha512) + "\n",
                              errors);
  CHECK(file->size() == 3);
  struct Row {
    int line;
    const char* fragment;
  };
  const Row expected[] = {{6, "apr1"}, {7, "{SHA}"}, {8, "unsupported hash"}, {9, "MD5-crypt"},
                          {10, "expected user:hash"}, {11, "duplicate user \"ann\""}};
  REQUIRE(errors.size() == std::size(expected));
  for (std::size_t i = 0; i < errors.size(); ++i) {
    CAPTURE(errors[i].message);
    CHECK(errors[i].line == expected[i].line);
    CHECK(errors[i].message.find(expected[i].fragment) != std::string::npos);
  }
}

TEST_CASE("access: passwords checked with crypt_rn, successes remembered") {
  auto file = users("ann:" + std::string(kBcrypt) + "\nbob:" + std::string(kSha512) + "\ncid:" +
                    std::string(kSha256) + "\n");
  struct Row {
    const char* user;
    const char* password;
    bool ok;
  };
  const Row rows[] = {
      {"ann", "secret", true}, {"ann", "Secret", false}, {"ann", "", false},      {"bob", "secret", true},
      {"bob", "secret ", false}, {"cid", "secret", true}, {"dan", "secret", false},  // unknown user
  };
  for (const auto& r : rows) {
    CAPTURE(r.user);
    CAPTURE(r.password);
    CHECK_FALSE(file->remembered(r.user, r.password));
    CHECK(file->verify(r.user, r.password) == r.ok);
    CHECK(file->remembered(r.user, r.password) == r.ok);  // successes only
  }
  CHECK(file->cached() == 3);  // one per success, none for a failure
  CHECK(file->verify("ann", "secret"));
  CHECK(file->cached() == 3);
  CHECK_FALSE(file->verify("ann", "Secret"));  // a wrong password never hits the cache
}

TEST_CASE("access: Basic credentials") {
  struct Row {
    const char* field;
    bool ok;
    const char* user;
    const char* password;
  };
  const Row rows[] = {
      {"Basic YW5uOnNlY3JldA==", true, "ann", "secret"},
      {"basic YW5uOnNlY3JldA==", true, "ann", "secret"},  // the scheme without case
      {"Basic  YW5uOnNlY3JldA== ", true, "ann", "secret"},
      {"Basic YW5uOnM6Yw==", true, "ann", "s:c"},  // the first ':' splits
      {"Basic YW5uOg==", true, "ann", ""},
      {"Basic YW5u", false, "", ""},  // no ':'
      {"Basic !!!!", false, "", ""},
      {"Bearer YW5uOnNlY3JldA==", false, "", ""},
      {"Basic", false, "", ""},
      {"", false, "", ""},
  };
  for (const auto& r : rows) {
    CAPTURE(r.field);
    auto got = parse_basic(r.field);
    REQUIRE(got.has_value() == r.ok);
    if (!got) continue;
    CHECK(got->user == r.user);
    CHECK(got->password == r.password);
  }
}

TEST_CASE("access: the decision, address first, then credentials") {
  const std::vector<AddressRule> lan = {rule(true, "10.0.0.0/8"), rule(false, "all")};
  AuthConfig auth;
  auth.realm = "staff";
  auth.users = users("ann:" + std::string(kSha256) + "\n");
  const auto good = std::optional<std::string_view>("Basic YW5uOnNlY3JldA==");
  const auto bad = std::optional<std::string_view>("Basic YW5uOndyb25n");
  CHECK(decide(&lan, &auth, addr("10.0.0.1"), good) == Refusal::none);
  CHECK(decide(&lan, &auth, addr("10.0.0.1"), bad) == Refusal::auth);
  CHECK(decide(&lan, &auth, addr("10.0.0.1"), std::nullopt) == Refusal::auth);
  CHECK(decide(&lan, &auth, addr("192.0.2.1"), good) == Refusal::address);
  CHECK(decide(nullptr, &auth, addr("192.0.2.1"), good) == Refusal::none);
  CHECK(decide(&lan, nullptr, addr("10.0.0.1"), std::nullopt) == Refusal::none);
  CHECK(challenge("staff") == "Basic realm=\"staff\", charset=\"UTF-8\"");
  CHECK(challenge("a \"b\" \\") == "Basic realm=\"a \\\"b\\\" \\\\\", charset=\"UTF-8\"");
}

TEST_CASE("access: a route's keys replace the top level's") {
  AccessConfig top;
  top.rules = std::vector<AddressRule>{rule(false, "all")};
  top.auth = AuthConfig{false, "staff", "/x", users("ann:" + std::string(kSha256) + "\n"), false};
  AccessConfig none;
  CHECK(effective_rules(none, top) == &*top.rules);
  CHECK(effective_auth(none, top) == &*top.auth);
  AccessConfig own;
  own.rules = std::vector<AddressRule>{};  // `access: []`: no rules here
  own.auth = AuthConfig{};
  own.auth->off = true;                    // `auth: off`
  CHECK(effective_rules(own, top) == nullptr);
  CHECK(effective_auth(own, top) == nullptr);
}
