// `gateway --check -c FILE`: exit 0 for a valid file; otherwise non-zero with
// every error as FILE:LINE:COL: message, pointing at the offending node.
#include <doctest/doctest.h>

#include <cstdlib>

#include "harness.hpp"

using namespace itest;

namespace {

// 1-based line and column of the first `needle` in `text`.
std::pair<int, int> position_of(std::string_view text, std::string_view needle) {
  auto pos = text.find(needle);
  REQUIRE_MESSAGE(pos != std::string_view::npos, "marker " << needle << " not in the test's YAML");
  int line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < pos; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return {line, static_cast<int>(pos - line_start) + 1};
}

const std::string kValidBody =
    "listen: [\"127.0.0.1:0\"]\n"
    "workers: 2\n"
    "upstreams:\n"
    "  app:\n"
    "    instances: [\"127.0.0.1:9001\", {address: \"127.0.0.1:9002\", weight: 2}]\n"
    "    retries: 1\n"
    "routes:\n"
    "  - prefix: /\n"
    "    upstream: app\n";

// Checks that `yaml` is refused with exactly one error at `marker`'s
// position (or `column` if given) whose message contains `message`.
void expect_error(const std::string& yaml, std::string_view marker, std::string_view message, int column = 0) {
  TempDir dir;
  auto path = dir.write("bad.yaml", yaml);
  auto [line, col] = position_of(yaml, marker);
  if (column) col = column;
  auto result = gateway_check(path);
  INFO("output:\n" << result.output);
  CHECK(result.exit_code != 0);
  CHECK(result.exit_code != -1);  // it exited by itself
  std::string where = path + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
  auto at = result.output.find(where);
  CHECK_MESSAGE(at != std::string::npos, "expected " << where);
  if (at != std::string::npos) {
    auto eol = result.output.find('\n', at);
    CHECK(result.output.substr(at, eol - at).find(message) != std::string::npos);
  }
  CHECK(result.output.find("has 1 error") != std::string::npos);
}

}  // namespace

TEST_CASE("--check accepts a valid file") {
  TempDir dir;
  auto path = dir.write("ok.yaml", kValidBody);
  auto result = gateway_check(path);
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK(result.output.find("valid") != std::string::npos);
}

TEST_CASE("--check accepts the configurations shipped in conf/") {
  // conf/demo.yaml's HTTPS listener names the demo certificate, made on
  // first use by the demo (and here) into var/demo/tls/.
  REQUIRE(std::system((std::string(SOURCE_DIR) + "/scripts/demo_cert.sh >/dev/null").c_str()) == 0);
  for (const char* name : {"/conf/demo.yaml", "/conf/gateway.yaml"}) {
    auto result = gateway_check(std::string(SOURCE_DIR) + name);
    INFO(name << ":\n" << result.output);
    CHECK(result.exit_code == 0);
  }
}

TEST_CASE("--check: unknown key, top level and nested") {
  expect_error(kValidBody + "bogus: 1\n", "bogus", "unknown key \"bogus\"");
  std::string nested = kValidBody;
  nested.insert(nested.find("    retries"), "    retires: 1\n");
  expect_error(nested, "retires", "retires");
  expect_error(kValidBody + "timeouts: {upstream_raed: 1s}\n", "upstream_raed", "upstream_raed");
}

TEST_CASE("--check: bad duration and bad size point at the value") {
  expect_error(kValidBody + "timeouts: {upstream_read: 10parsecs}\n", "10parsecs", "invalid duration");
  expect_error(kValidBody + "timeouts:\n  client_header: -5s\n", "-5s", "client_header");
  expect_error(kValidBody + "limits: {body_bytes: 10 parsecs}\n", "10 parsecs", "invalid size");
}

TEST_CASE("--check: a route naming an unknown upstream") {
  std::string yaml = kValidBody;
  yaml.replace(yaml.find("upstream: app"), 13, "upstream: nowhere");
  expect_error(yaml, "nowhere", "unknown upstream \"nowhere\"");
}

TEST_CASE("--check: a duplicate upstream name points at the second one") {
  std::string yaml = kValidBody;
  yaml.insert(yaml.find("routes:"), "  app:\n    instances: [\"127.0.0.1:9003\"]\n");
  // The second "  app:" line, column 3.
  auto second = yaml.find("  app:", yaml.find("  app:") + 1);
  auto [line, col] = position_of(yaml.substr(0, second) + "@", "@");
  (void)col;
  TempDir dir;
  auto path = dir.write("dup.yaml", yaml);
  auto result = gateway_check(path);
  INFO(result.output);
  CHECK(result.exit_code != 0);
  CHECK(result.output.find(path + ":" + std::to_string(line) + ":3: ") != std::string::npos);
  CHECK(result.output.find("duplicate upstream \"app\"") != std::string::npos);
}

TEST_CASE("--check: wrong types, bad balance, YAML syntax, several errors at once, missing file") {
  std::string workers = kValidBody;
  workers.replace(workers.find("workers: 2"), 10, "workers: many");
  expect_error(workers, "many", "workers");
  std::string balance = kValidBody;
  balance.insert(balance.find("    retries"), "    balance: random\n");
  expect_error(balance, "random", "balance");

  {
    TempDir dir;
    auto path = dir.write("syntax.yaml", "listen: [\"127.0.0.1:0\"\nroutes: []\n");
    auto result = gateway_check(path);
    INFO(result.output);
    CHECK(result.exit_code != 0);
    CHECK(result.output.find(path + ":") != std::string::npos);
    CHECK(result.output.find("YAML") != std::string::npos);
  }
  {
    // Every error is reported, each with its own line.
    std::string yaml = kValidBody + "bogus: 1\ntimeouts: {keepalive: soon}\n";
    TempDir dir;
    auto path = dir.write("many.yaml", yaml);
    auto result = gateway_check(path);
    INFO(result.output);
    CHECK(result.exit_code != 0);
    auto [l1, c1] = position_of(yaml, "bogus");
    auto [l2, c2] = position_of(yaml, "soon");
    CHECK(result.output.find(path + ":" + std::to_string(l1) + ":" + std::to_string(c1) + ": ") != std::string::npos);
    CHECK(result.output.find(path + ":" + std::to_string(l2) + ":" + std::to_string(c2) + ": ") != std::string::npos);
    CHECK(result.output.find("has 2 errors") != std::string::npos);
  }
  {
    TempDir dir;
    auto result = gateway_check(dir.file("missing.yaml"));
    CHECK(result.exit_code != 0);
    CHECK(result.output.find("missing.yaml") != std::string::npos);
  }
}
