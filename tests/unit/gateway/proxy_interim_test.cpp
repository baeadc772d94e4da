// Tests for proxy::forwards_interim: which interim (1xx) responses of an
// instance go on to the client (RFC 9110 15.2). Issue 10: 103 Early Hints
// were dropped for every client.
#include <doctest/doctest.h>

#include <vector>

#include "gateway/proxy.hpp"

using gateway::proxy::forwards_interim;

TEST_CASE("forwards_interim: 102, 103 and unknown 1xx go to HTTP/1.1 clients, never 100, 101 or to HTTP/1.0") {
  struct Case {
    int status;
    int client_version_minor;
    bool expected;
  };
  const std::vector<Case> cases = {
      {103, 1, true},   // Early Hints
      {102, 1, true},   // Processing
      {199, 1, true},   // unknown 1xx: forwarded as any other (RFC 9110 15.2)
      {100, 1, false},  // the gateway answers Expect itself
      {101, 1, false},  // the parser refuses it
      {103, 0, false},  // HTTP/1.0 clients get no interim response
      {102, 0, false},
      {100, 0, false},
      {200, 1, false},  // not interim
  };
  for (const auto& c : cases) {
    CAPTURE(c.status);
    CAPTURE(c.client_version_minor);
    CHECK(forwards_interim(c.status, c.client_version_minor) == c.expected);
  }
}
