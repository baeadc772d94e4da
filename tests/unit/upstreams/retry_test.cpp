// Tests for upstreams/retry: when an attempt moves on to another instance,
// the exact reason when it does not, and when a request is sent again on a
// fresh connection. Tables over every Outcome; each row names its rule.
#include "upstreams/retry.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using gateway::upstreams::Attempt;
using gateway::upstreams::final_answer;
using gateway::upstreams::Outcome;
using gateway::upstreams::resend_on_fresh_connection;
using gateway::upstreams::Retry;
using gateway::upstreams::should_retry;

namespace {

const std::vector<Outcome> kFailures = {Outcome::connect_failed, Outcome::connect_timeout, Outcome::send_failed,
                                        Outcome::closed_early,   Outcome::read_timeout,    Outcome::send_timeout,
                                        Outcome::read_failed,    Outcome::bad_response};

// A first attempt of a GET to a group with `retries: 1` and another
// instance left: everything allows a retry but the outcome.
Attempt first_get(Outcome o, int status = 0) {
  Attempt a;
  a.outcome = o;
  a.status = status;
  a.idempotent = true;
  a.body_streamed = false;
  a.attempt = 0;
  a.retries = 1;
  a.instance_left = true;
  return a;
}

std::string name(Retry r) { return to_string(r); }

}  // namespace

TEST_SUITE("retry: should_retry") {
  TEST_CASE("every failure but a read timeout moves to another instance") {
    for (auto o : kFailures) {
      CAPTURE(gateway::upstreams::to_string(o));
      CHECK(should_retry(first_get(o)) == (o == Outcome::read_timeout ? Retry::read_timeout : Retry::yes));
    }
  }

  TEST_CASE("502 and 503 move on, every other answer is final") {
    struct Case {
      int status;
      Retry expected;
    };
    const std::vector<Case> cases = {
        {200, Retry::answered}, {204, Retry::answered}, {304, Retry::answered}, {404, Retry::answered},
        {500, Retry::answered}, {501, Retry::answered}, {502, Retry::yes},      {503, Retry::yes},
        {504, Retry::answered}, {505, Retry::answered},
    };
    for (const auto& c : cases) {
      CAPTURE(c.status);
      CHECK(should_retry(first_get(Outcome::ok, c.status)) == c.expected);
      CHECK(final_answer(Outcome::ok, c.status) == (c.expected == Retry::answered));
    }
  }

  TEST_CASE("a failure is never a final answer, whatever status is left in the attempt") {
    for (auto o : kFailures) {
      CAPTURE(gateway::upstreams::to_string(o));
      CHECK_FALSE(final_answer(o, 200));
      CHECK_FALSE(final_answer(o, 0));
    }
  }

  TEST_CASE("each condition alone stops a retry, with its reason") {
    struct Case {
      const char* rule;
      Attempt attempt;
      Retry expected;
    };
    auto with = [](Attempt a, auto change) {
      change(a);
      return a;
    };
    const Attempt refused = first_get(Outcome::connect_failed);
    const Attempt unavailable = first_get(Outcome::ok, 503);
    const std::vector<Case> cases = {
        {"all allow it", refused, Retry::yes},
        {"all allow it, 503", unavailable, Retry::yes},
        {"POST is not idempotent (RFC 9110 9.2.2)",
         with(first_get(Outcome::closed_early), [](Attempt& a) { a.idempotent = false; }), Retry::not_idempotent},
        {"a POST's 503 is relayed", with(unavailable, [](Attempt& a) { a.idempotent = false; }),
         Retry::not_idempotent},
        {"a streamed body cannot be replayed", with(refused, [](Attempt& a) { a.body_streamed = true; }),
         Retry::body_streamed},
        {"a streamed body's 502 is relayed",
         with(first_get(Outcome::ok, 502), [](Attempt& a) { a.body_streamed = true; }), Retry::body_streamed},
        {"retries: 1 allows a second attempt, not a third", with(refused, [](Attempt& a) { a.attempt = 1; }),
         Retry::tries_spent},
        {"retries: 0 allows no retry", with(refused, [](Attempt& a) { a.retries = 0; }), Retry::tries_spent},
        {"retries below 0 count as 0", with(refused, [](Attempt& a) { a.retries = -3; }), Retry::tries_spent},
        {"retries: 3, third attempt", with(refused, [](Attempt& a) { a.retries = 3, a.attempt = 2; }), Retry::yes},
        {"retries: 3, fourth attempt", with(refused, [](Attempt& a) { a.retries = 3, a.attempt = 3; }),
         Retry::tries_spent},
        {"no instance left after a failure", with(refused, [](Attempt& a) { a.instance_left = false; }),
         Retry::no_instance_left},
        {"no instance left after a 503: it is relayed", with(unavailable, [](Attempt& a) { a.instance_left = false; }),
         Retry::no_instance_left},
    };
    for (const auto& c : cases) {
      CAPTURE(c.rule);
      CHECK(should_retry(c.attempt) == c.expected);
    }
  }

  TEST_CASE("reasons come in a fixed order: answered, read timeout, method, body, tries, instances") {
    Attempt none_allow = first_get(Outcome::ok, 200);
    none_allow.idempotent = false;
    none_allow.body_streamed = true;
    none_allow.attempt = 5;
    none_allow.instance_left = false;
    CHECK(should_retry(none_allow) == Retry::answered);
    none_allow.outcome = Outcome::read_timeout;
    CHECK(should_retry(none_allow) == Retry::read_timeout);
    none_allow.outcome = Outcome::closed_early;
    CHECK(should_retry(none_allow) == Retry::not_idempotent);
    none_allow.idempotent = true;
    CHECK(should_retry(none_allow) == Retry::body_streamed);
    none_allow.body_streamed = false;
    CHECK(should_retry(none_allow) == Retry::tries_spent);
    none_allow.attempt = 0;
    CHECK(should_retry(none_allow) == Retry::no_instance_left);
    none_allow.instance_left = true;
    CHECK(should_retry(none_allow) == Retry::yes);
  }

  TEST_CASE("reasons read well in logs") {
    CHECK(name(Retry::yes) == "retry");
    CHECK(name(Retry::answered) == "answered");
    CHECK(name(Retry::read_timeout) == "read timed out");
    CHECK(name(Retry::not_idempotent) == "not idempotent");
    CHECK(name(Retry::body_streamed) == "body streamed");
    CHECK(name(Retry::tries_spent) == "tries spent");
    CHECK(name(Retry::no_instance_left) == "no instance left");
  }

  TEST_CASE("scenario: a GET with retries: 2 over three instances: refused, 503, then an answer") {
    // Attempt 0 on instance A: connection refused; B and C are left.
    Attempt a = first_get(Outcome::connect_failed);
    a.retries = 2;
    CHECK(should_retry(a) == Retry::yes);
    // Attempt 1 on B: 503; C is left.
    a.attempt = 1;
    a.outcome = Outcome::ok;
    a.status = 503;
    CHECK(should_retry(a) == Retry::yes);
    // Attempt 2 on C: 503 again; nothing is left and the tries are spent:
    // this 503 is relayed to the client.
    a.attempt = 2;
    a.instance_left = false;
    CHECK(should_retry(a) == Retry::tries_spent);
    // Had C answered 200, that would be the answer.
    a.status = 200;
    CHECK(should_retry(a) == Retry::answered);
  }
}

TEST_SUITE("retry: resend_on_fresh_connection") {
  TEST_CASE("only a reused connection failing before any response byte, once, with a replayable body") {
    struct Case {
      const char* rule;
      Outcome outcome;
      bool reused, response_started, body_streamed;
      int resends;
      bool expected;
    };
    const std::vector<Case> cases = {
        {"closed while idle: send failed", Outcome::send_failed, true, false, false, 0, true},
        {"closed while idle: closed before responding", Outcome::closed_early, true, false, false, 0, true},
        {"a fresh connection's failure is the instance's", Outcome::closed_early, false, false, false, 0, false},
        {"a response had started", Outcome::closed_early, true, true, false, 0, false},
        {"the body was streamed", Outcome::send_failed, true, false, true, 0, false},
        {"already resent once", Outcome::closed_early, true, false, false, 1, false},
        {"a response arrived", Outcome::ok, true, false, false, 0, false},
    };
    for (const auto& c : cases) {
      CAPTURE(c.rule);
      CHECK(resend_on_fresh_connection(c.outcome, c.reused, c.response_started, c.body_streamed, c.resends) ==
            c.expected);
    }
  }

  TEST_CASE("no other outcome is taken for a connection closed while idle") {
    for (auto o : kFailures) {
      CAPTURE(gateway::upstreams::to_string(o));
      bool idle_close = o == Outcome::send_failed || o == Outcome::closed_early;
      CHECK(resend_on_fresh_connection(o, true, false, false, 0) == idle_close);
    }
  }
}
