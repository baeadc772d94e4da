#include "upstreams/retry.hpp"

#include <algorithm>

namespace gateway::upstreams {

const char* to_string(Retry r) noexcept {
  switch (r) {
    case Retry::yes: return "retry";
    case Retry::answered: return "answered";
    case Retry::read_timeout: return "read timed out";
    case Retry::not_idempotent: return "not idempotent";
    case Retry::body_streamed: return "body streamed";
    case Retry::tries_spent: return "tries spent";
    case Retry::no_instance_left: return "no instance left";
  }
  return "?";
}

bool final_answer(Outcome outcome, int status) noexcept {
  return outcome == Outcome::ok && status != 502 && status != 503;
}

namespace {
// The connection never came up: nothing of the request was sent.
bool never_sent(Outcome o) noexcept { return o == Outcome::connect_failed || o == Outcome::connect_timeout; }
}  // namespace

Retry should_retry(const Attempt& a) noexcept {
  if (final_answer(a.outcome, a.status)) return Retry::answered;
  if (a.outcome == Outcome::read_timeout) return Retry::read_timeout;
  if (!a.idempotent && !never_sent(a.outcome)) return Retry::not_idempotent;
  if (a.body_streamed) return Retry::body_streamed;
  if (a.attempt >= std::max(a.retries, 0)) return Retry::tries_spent;
  if (!a.instance_left) return Retry::no_instance_left;
  return Retry::yes;
}

bool resend_on_fresh_connection(Outcome outcome, bool reused, bool response_started, bool body_streamed,
                                int resends) noexcept {
  return reused && !response_started && (outcome == Outcome::send_failed || outcome == Outcome::closed_early) &&
         !body_streamed && resends == 0;
}

}  // namespace gateway::upstreams
