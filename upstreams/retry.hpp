// Retrying an upstream request: after an attempt on one instance went wrong,
// whether to try another instance (and why not); and, apart from that, when
// a kept-alive connection found closed is worth one more send on a fresh one.
//
// Pure functions of their arguments, as the balancer's pick is: no clock, no
// I/O, no state. The proxy (gateway/proxy.cpp, Fetch::Impl) gathers the
// facts on the worker that runs the request and follows the answer; the
// instance itself comes from Balancer::pick with the tried ones excluded.
#pragma once

#include "upstreams/client.hpp"

namespace gateway::upstreams {

// What one attempt on an instance came to, and what the request allows.
struct Attempt {
  Outcome outcome = Outcome::ok;  // ok: a response head arrived
  int status = 0;                 // with ok: the response's status
  bool idempotent = false;        // the method is idempotent (http::is_idempotent)
  bool body_streamed = false;     // part of the body went up unbuffered: it cannot be sent again
  int attempt = 0;                // this attempt's number, 0 for the first
  int retries = 0;                // the group's `retries`: extra attempts allowed (below 0 counts as 0)
  bool instance_left = false;     // some instance is neither tried yet nor unusable (down, ejected)
};

// The answer, with the reason when it is no.
enum class Retry {
  yes,               // try another instance
  answered,          // a response other than 502/503 arrived: it is the answer
  read_timeout,      // no response head in time
  not_idempotent,    // RFC 9110 9.2.2
  body_streamed,     // the request cannot be replayed
  tries_spent,       // 1 + retries attempts made
  no_instance_left,  // every other instance is tried, down or ejected
};
// For logs: "retry", "answered", "read timed out", "not idempotent",
// "body streamed", "tries spent", "no instance left".
const char* to_string(Retry r) noexcept;

// An attempt that ended with a response other than 502 or 503: that
// response is the answer, whatever else is true. The proxy asks this first
// so that the usual answer costs no look at the group's health.
bool final_answer(Outcome outcome, int status) noexcept;

// Whether to move to another instance after `a`.
//
// Retried: any failure of the attempt (connect failure or timeout, send
// failure or timeout, a connection lost or closed before or during the
// response head, an unparsable head), and a 502 or 503 answer (the instance,
// or one behind it, could not serve; another may). Any other answer,
// including 504 and other 5xx, is final.
//
// Never retried:
// - a read timeout: the request may be running on the instance, and a
//   second try would double the client's wait;
// - a method that is not idempotent (RFC 9110 9.2.2: a client should
//   not retry one automatically; the first attempt may have been applied),
//   unless the attempt failed to connect: then no byte of it left the
//   gateway and it cannot have been applied (as nginx's proxy_next_upstream
//   and Envoy's connect-failure retry do);
// - a request whose body was streamed: beyond the bytes buffered before the
//   first attempt, the client's body was sent once and is gone;
// - past 1 + `retries` attempts in all;
// - when no instance is left, whatever `retries` says.
// The reasons are checked in the order Retry lists them: a request both
// not idempotent and out of tries reports not_idempotent.
Retry should_retry(const Attempt& a) noexcept;

// A request sent on a kept-alive connection that failed before any byte of
// a response (send failed, or closed before responding) most likely met a
// server that closed the connection while it sat idle: the race every
// keep-alive client has (RFC 9112 9.3.1). Such a request is sent once more
// on a fresh connection to the same instance, whatever its method: the
// closed idle connection is taken as the sign that the request was never
// applied (RFC 9110 9.2.2 allows a retry then). Not if the connection was
// new (the failure is the instance's), a response had started, the body
// was streamed (it cannot be sent again), or it was already resent once.
// `resends`: how many times this attempt was already resent.
bool resend_on_fresh_connection(Outcome outcome, bool reused, bool response_started, bool body_streamed,
                                int resends) noexcept;

}  // namespace gateway::upstreams
