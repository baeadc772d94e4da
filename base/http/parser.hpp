// llhttp wrappers that turn bytes into Request / Response values, enforcing
// limits as the bytes arrive.
//
// One parser per connection, used by the thread that owns the connection.
// llhttp runs in strict mode: no lenient flags, so ambiguous framing (both
// Content-Length and Transfer-Encoding, duplicate Content-Length, bad chunk
// sizes, bare CR) is an error, never a guess.
//
// Use: start(msg); feed() until Event::headers; then feed() the rest (body
// bytes come back compacted in FeedResult::body) until Event::message_done.
// Bytes after a message belong to the next one: start() again and feed them.
//
// Interim (1xx) responses come before the final one on the same connection
// (RFC 9110 15.2). A response parser skips them unless started with
// Interim::report: then each one's head is an Event::interim, held in the
// response until the next feed(), which goes on with the next head. They
// never have a body, whatever their framing fields say. 101 Switching
// Protocols is an error, unless the response parser was started for a
// request that asked to upgrade: then it is the final head, the message ends
// with it, and the bytes after it (not consumed) belong to the new protocol.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "base/http/message.hpp"

namespace gateway::http {

struct ParserLimits {
  std::size_t uri_bytes = 8 * 1024;
  std::size_t header_bytes = 16 * 1024;  // names + values of all fields
  std::size_t headers = 100;             // number of fields
  std::uint64_t body_bytes = 10 * 1024 * 1024;  // 0: unlimited
};

enum class Event {
  need_more,     // all input consumed, message not at a boundary yet
  interim,       // an interim (1xx) response head is complete (Interim::report)
  headers,       // the head is complete (message() is filled in)
  message_done,  // the message is complete (also implies headers)
  error,         // see error_status() / error_reason()
};

struct FeedResult {
  std::size_t consumed = 0;
  Event event = Event::need_more;
  // Body bytes decoded in this call, moved to one contiguous run inside the
  // fed buffer (chunk framing removed). Valid until the buffer is reused.
  std::span<const char> body;
};

class Parser {
 public:
  enum class Kind { request, response };
  // What a response parser does with interim (1xx) responses.
  enum class Interim { skip, report };
  // More interim responses before a final one than this are an error (502):
  // an instance cannot keep a client waiting on them for ever.
  static constexpr int kMaxInterim = 16;

  Parser(Kind kind, const ParserLimits& limits);
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Begins a new message, to be written into `req` / `resp`.
  void start(Request& req);
  // `upgrade`: the request asked to switch protocols, so a 101 is final.
  void start(Response& resp, bool head_request, Interim interim = Interim::skip, bool upgrade = false);

  // Forgets all state, for a new connection.
  void reset();

  // Parses data in place (it may move body bytes within the buffer).
  FeedResult feed(char* data, std::size_t len);
  // End of stream: completes a close-delimited response body, or reports a
  // message cut short.
  FeedResult finish();

  bool headers_done() const noexcept { return headers_done_; }
  bool message_done() const noexcept { return message_done_; }
  // Some byte of the current message has been seen.
  bool in_message() const noexcept { return begun_; }
  std::uint64_t body_received() const noexcept { return body_bytes_; }

  int error_status() const noexcept { return error_status_; }
  const std::string& error_reason() const noexcept { return error_reason_; }

  void set_limits(const ParserLimits& limits) noexcept { limits_ = limits; }

 private:
  static const llhttp_settings_t& settings();
  static int on_message_begin(llhttp_t*);
  static int on_url(llhttp_t*, const char*, std::size_t);
  static int on_status(llhttp_t*, const char*, std::size_t);
  static int on_header_field(llhttp_t*, const char*, std::size_t);
  static int on_header_value(llhttp_t*, const char*, std::size_t);
  static int on_headers_complete(llhttp_t*);
  static int on_chunk_header(llhttp_t*);
  static int on_body(llhttp_t*, const char*, std::size_t);
  static int on_message_complete(llhttp_t*);

  int fail(int status, std::string reason);
  bool trailer_piece(std::size_t len);
  int headers_complete_request();
  int headers_complete_response();
  void begin_final_head();
  FeedResult result(llhttp_errno_t err, const char* data, std::size_t len);

  Kind kind_;
  ParserLimits limits_;
  llhttp_t llp_;
  Request* req_ = nullptr;
  Response* resp_ = nullptr;
  bool head_request_ = false;
  Interim interim_ = Interim::skip;
  bool upgrade_ = false;          // a 101 is the final head
  bool in_interim_ = false;       // the head being read is a 1xx
  bool interim_done_ = false;     // Event::interim reported; the next feed starts over
  int interim_count_ = 0;

  bool begun_ = false;
  bool headers_done_ = false;
  bool message_done_ = false;
  bool in_value_ = false;  // last header callback was a value piece
  std::size_t name_bytes_ = 0;       // of the field being read
  const char* feed_begin_ = nullptr; // start of the buffer being fed
  char last_fed_ = 0;                // last byte of the previous feed
  std::size_t header_bytes_ = 0;
  std::size_t header_count_ = 0;
  std::uint64_t body_bytes_ = 0;
  char* body_begin_ = nullptr;
  char* body_end_ = nullptr;

  int error_status_ = 0;
  std::string error_reason_;
};

}  // namespace gateway::http
