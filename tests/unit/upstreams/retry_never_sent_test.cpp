// Tests for upstreams/retry: a request that never left the gateway (its
// connection was refused or timed out) moves to another instance whatever
// its method; once any byte may have reached an instance, a method that is
// not idempotent stays where it is (RFC 9110 9.2.2). Found by bench/soak.py:
// a POST to an instance killed a moment before was answered 502 while two
// other instances were up.
#include "upstreams/retry.hpp"

#include <doctest/doctest.h>

#include <vector>

using gateway::upstreams::Attempt;
using gateway::upstreams::Outcome;
using gateway::upstreams::Retry;
using gateway::upstreams::should_retry;

namespace {

// A first attempt of a POST with a buffered body, `retries: 1`, another
// instance left.
Attempt first_post(Outcome o, int status = 0) {
  Attempt a;
  a.outcome = o;
  a.status = status;
  a.idempotent = false;
  a.attempt = 0;
  a.retries = 1;
  a.instance_left = true;
  return a;
}

}  // namespace

TEST_SUITE("retry: a request that never left") {
  TEST_CASE("a POST moves on after a failed connect, and after nothing else") {
    struct Case {
      Outcome outcome;
      int status;
      Retry expected;
    };
    const std::vector<Case> cases = {
        {Outcome::connect_failed, 0, Retry::yes},
        {Outcome::connect_timeout, 0, Retry::yes},
        {Outcome::send_failed, 0, Retry::not_idempotent},
        {Outcome::closed_early, 0, Retry::not_idempotent},
        {Outcome::send_timeout, 0, Retry::not_idempotent},
        {Outcome::read_failed, 0, Retry::not_idempotent},
        {Outcome::bad_response, 0, Retry::not_idempotent},
        {Outcome::read_timeout, 0, Retry::read_timeout},
        {Outcome::ok, 502, Retry::not_idempotent},
        {Outcome::ok, 503, Retry::not_idempotent},
        {Outcome::ok, 200, Retry::answered},
    };
    for (const auto& c : cases) {
      CAPTURE(gateway::upstreams::to_string(c.outcome));
      CAPTURE(c.status);
      CHECK(should_retry(first_post(c.outcome, c.status)) == c.expected);
    }
  }

  TEST_CASE("a POST refused at connect still obeys the other limits") {
    auto spent = first_post(Outcome::connect_failed);
    spent.attempt = 1;
    CHECK(should_retry(spent) == Retry::tries_spent);
    auto alone = first_post(Outcome::connect_failed);
    alone.instance_left = false;
    CHECK(should_retry(alone) == Retry::no_instance_left);
    auto streamed = first_post(Outcome::connect_failed);
    streamed.body_streamed = true;  // bytes went to an earlier instance: they are gone
    CHECK(should_retry(streamed) == Retry::body_streamed);
  }
}
