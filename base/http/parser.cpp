#include "base/http/parser.hpp"

#include <cassert>
#include <cstring>
#include <optional>

namespace gateway::http {

namespace {
Parser& self(llhttp_t* p) { return *static_cast<Parser*>(p->data); }
}  // namespace

// One callback table for every parser: it holds only function pointers.
const llhttp_settings_t& Parser::settings() {
  static const llhttp_settings_t table = [] {
    llhttp_settings_t t;
    llhttp_settings_init(&t);
    t.on_message_begin = &Parser::on_message_begin;
    t.on_url = &Parser::on_url;
    t.on_status = &Parser::on_status;
    t.on_header_field = &Parser::on_header_field;
    t.on_header_value = &Parser::on_header_value;
    t.on_headers_complete = &Parser::on_headers_complete;
    t.on_chunk_header = &Parser::on_chunk_header;
    t.on_body = &Parser::on_body;
    t.on_message_complete = &Parser::on_message_complete;
    return t;
  }();
  return table;
}

Parser::Parser(Kind kind, const ParserLimits& limits) : kind_(kind), limits_(limits) {
  llhttp_init(&llp_, kind == Kind::request ? HTTP_REQUEST : HTTP_RESPONSE, &settings());
  llp_.data = this;
}

void Parser::reset() {
  llhttp_reset(&llp_);
  error_status_ = 0;
  error_reason_.clear();
}

void Parser::start(Request& req) {
  assert(kind_ == Kind::request);
  req.clear();
  req_ = &req;
  begun_ = headers_done_ = message_done_ = in_value_ = false;
  header_bytes_ = header_count_ = 0;
  body_bytes_ = 0;
}

void Parser::start(Response& resp, bool head_request, Interim interim, bool upgrade) {
  assert(kind_ == Kind::response);
  resp.clear();
  resp_ = &resp;
  head_request_ = head_request;
  interim_ = interim;
  upgrade_ = upgrade;
  in_interim_ = interim_done_ = false;
  interim_count_ = 0;
  begun_ = headers_done_ = message_done_ = in_value_ = false;
  header_bytes_ = header_count_ = 0;
  body_bytes_ = 0;
}

int Parser::fail(int status, std::string reason) {
  error_status_ = status;
  error_reason_ = std::move(reason);
  return -1;
}

int Parser::on_message_begin(llhttp_t* p) {
  self(p).begun_ = true;
  return 0;
}

int Parser::on_url(llhttp_t* p, const char* at, std::size_t len) {
  auto& s = self(p);
  if (s.req_->target.size() + len > s.limits_.uri_bytes) return s.fail(414, "request target too long");
  s.req_->target.append(at, len);
  return 0;
}

int Parser::on_status(llhttp_t* p, const char* at, std::size_t len) {
  auto& s = self(p);
  if (s.resp_->reason.size() + len > 256) return s.fail(502, "status line too long");
  s.resp_->reason.append(at, len);
  return 0;
}

// Fields after a chunked body (its trailer section) are not part of the
// head, which was reported and acted on already: a trailer "Host" or
// "Content-Length" must not change the message after routing. They are
// dropped (RFC 9110 6.5.1: a recipient may discard them), but count against
// header_bytes like the head's fields.
bool Parser::trailer_piece(std::size_t len) {
  header_bytes_ += len;
  return header_bytes_ <= limits_.header_bytes;
}

int Parser::on_header_field(llhttp_t* p, const char* at, std::size_t len) {
  auto& s = self(p);
  if (s.headers_done_)
    return s.trailer_piece(len) ? 0 : s.fail(s.kind_ == Kind::request ? 431 : 502, "trailer fields too large");
  HeaderMap& h = s.kind_ == Kind::request ? s.req_->headers : s.resp_->headers;
  if (s.in_value_ || s.header_count_ == 0) {
    if (++s.header_count_ > s.limits_.headers)
      return s.fail(s.kind_ == Kind::request ? 431 : 502, "too many header fields");
    h.begin_field();
    s.in_value_ = false;
    s.name_bytes_ = 0;
  }
  s.header_bytes_ += len;
  s.name_bytes_ += len;
  if (s.header_bytes_ > s.limits_.header_bytes)
    return s.fail(s.kind_ == Kind::request ? 431 : 502, "header fields too large");
  // llhttp 8 lets "Name : value" through with the space in the name; a
  // server behind us might trim it, so refuse it (RFC 9112 5.1).
  if (std::memchr(at, ' ', len) || std::memchr(at, '\t', len))
    return s.fail(s.kind_ == Kind::request ? 400 : 502, "whitespace in header field name");
  h.append_name({at, len});
  return 0;
}

int Parser::on_header_value(llhttp_t* p, const char* at, std::size_t len) {
  auto& s = self(p);
  if (s.headers_done_)
    return s.trailer_piece(len) ? 0 : s.fail(s.kind_ == Kind::request ? 431 : 502, "trailer fields too large");
  const int bad = s.kind_ == Kind::request ? 400 : 502;
  // A line ":x" has no name; llhttp reports only its value.
  if (s.header_count_ == 0 || (!s.in_value_ && s.name_bytes_ == 0)) return s.fail(bad, "empty header field name");
  // Obsolete line folding (RFC 9112 5.2): a value piece right after a line
  // feed continues the previous line. Refused rather than unfolded, so that
  // no two parsers can disagree about it.
  char before = at == s.feed_begin_ ? s.last_fed_ : at[-1];
  if (s.in_value_ && before == '\n') return s.fail(bad, "obsolete line folding");
  HeaderMap& h = s.kind_ == Kind::request ? s.req_->headers : s.resp_->headers;
  s.in_value_ = true;
  s.header_bytes_ += len;
  if (s.header_bytes_ > s.limits_.header_bytes)
    return s.fail(s.kind_ == Kind::request ? 431 : 502, "header fields too large");
  h.append_value({at, len});
  return 0;
}

namespace {
struct Span {
  std::size_t begin, end;
};
// Where the authority of an absolute-form target ("http://host:port/...",
// scheme case-insensitive) lies; nullopt for other forms.
std::optional<Span> absolute_form_authority(const std::string& t) {
  std::size_t scheme = 0;
  if (t.size() > 7 && iequals(std::string_view(t).substr(0, 7), "http://")) scheme = 7;
  else if (t.size() > 8 && iequals(std::string_view(t).substr(0, 8), "https://")) scheme = 8;
  else return std::nullopt;
  auto end = t.find_first_of("/?", scheme);
  return Span{scheme, end == std::string::npos ? t.size() : end};
}

// Only "chunked" alone is accepted: any other coding we would have to undo
// or would forward mislabelled.
bool only_chunked(const HeaderMap& h) {
  int codings = 0;
  bool chunked = false;
  for_each_token(h.get_all("Transfer-Encoding"), [&](std::string_view t) {
    ++codings;
    chunked = iequals(t, "chunked");
  });
  return codings == 1 && chunked;
}
}  // namespace

int Parser::headers_complete_request() {
  Request& r = *req_;
  if (llp_.http_major != 1) return fail(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  r.version_minor = llp_.http_minor;
  r.method = llhttp_method_name(static_cast<llhttp_method_t>(llp_.method));
  if (llp_.method == HTTP_CONNECT) return fail(405, "CONNECT is not supported");

  // Absolute-form (RFC 9112 3.2.2): the authority replaces Host.
  if (auto authority = absolute_form_authority(r.target)) {
    auto rest = r.target.substr(authority->end);
    std::string host = r.target.substr(authority->begin, authority->end - authority->begin);
    if (auto at = host.rfind('@'); at != std::string::npos) host.erase(0, at + 1);  // userinfo
    if (host.empty()) return fail(400, "absolute-form target without a host");
    r.headers.set("Host", host);
    r.target = rest.empty() || rest.front() != '/' ? "/" + rest : rest;
  } else if (r.target.empty() || (r.target.front() != '/' && r.target != "*")) {
    return fail(400, "request target must be origin-form or absolute-form");
  }

  auto hosts = r.headers.count("Host");
  if (hosts > 1) return fail(400, "more than one Host header");
  if (hosts == 0 && r.version_minor >= 1) return fail(400, "HTTP/1.1 request without Host header");
  if (auto host = r.headers.get("Host"); host && !valid_host(*host)) return fail(400, "invalid Host header");

  r.chunked = (llp_.flags & F_CHUNKED) != 0;
  // HTTP/1.0 has no chunked coding: a Transfer-Encoding there is a framing
  // another hop may read differently (RFC 9112 6.1).
  if (r.version_minor == 0 && r.headers.contains("Transfer-Encoding"))
    return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
  if (r.headers.contains("Transfer-Encoding") && !only_chunked(r.headers))
    return fail(501, "unsupported transfer coding");
  if (llp_.flags & F_CONTENT_LENGTH) r.content_length = llp_.content_length;
  if (r.content_length && limits_.body_bytes && *r.content_length > limits_.body_bytes)
    return fail(413, "request body larger than limit");
  if (auto expect = r.headers.get("Expect")) {
    if (!iequals(*expect, "100-continue")) return fail(417, "unsupported Expect value");
    r.expect_continue = r.version_minor >= 1;
  }
  r.keep_alive = llhttp_should_keep_alive(&llp_) != 0;
  return 0;
}

int Parser::headers_complete_response() {
  Response& r = *resp_;
  if (llp_.http_major != 1) return fail(502, "upstream spoke a version other than HTTP/1.x");
  // RFC 9110 15: a status code is three digits, 100 to 599; llhttp takes
  // one to three digits.
  if (llp_.status_code < 100 || llp_.status_code > 599) return fail(502, "upstream sent an invalid status code");
  r.status = llp_.status_code;
  r.version_minor = llp_.http_minor;
  r.chunked = (llp_.flags & F_CHUNKED) != 0;
  if (r.headers.contains("Transfer-Encoding") && !only_chunked(r.headers))
    return fail(502, "upstream used an unsupported transfer coding");
  if (llp_.flags & F_CONTENT_LENGTH) r.content_length = llp_.content_length;
  r.keep_alive = llhttp_should_keep_alive(&llp_) != 0;
  return 0;
}

int Parser::on_headers_complete(llhttp_t* p) {
  auto& s = self(p);
  if (s.kind_ == Kind::request) {
    if (s.headers_complete_request() != 0) return -1;
    s.headers_done_ = true;
    return HPE_PAUSED;
  }
  if (s.headers_complete_response() != 0) return -1;
  int status = s.resp_->status;
  if (status >= 100 && status < 200) {
    // Interim response (100 Continue, 103 Early Hints): the final one
    // follows on the same connection. A 101 ends the HTTP part of the
    // connection: the last message, without a body, if the request asked to
    // upgrade; refused otherwise (RFC 9110 15.2.2: a server switches only
    // when asked).
    if (status == 101 && s.upgrade_) {
      s.headers_done_ = true;
      return 1;
    }
    if (status == 101) return s.fail(502, "upstream switched protocols unasked");
    if (++s.interim_count_ > kMaxInterim) return s.fail(502, "too many interim responses");
    s.in_interim_ = true;
    // No body, whatever Content-Length or Transfer-Encoding say (RFC 9110
    // 15.2): llhttp would read one for a 1xx that has them.
    return 1;
  }
  s.headers_done_ = true;
  // A response to HEAD, a 204 and a 304 have no body whatever their framing
  // headers say (RFC 9112 6.3); llhttp 8 would read one for a 304 with a
  // Content-Length.
  if (s.head_request_ || status == 204 || status == 304) return 1;
  return HPE_PAUSED;
}

// A chunk's declared size is known before its bytes: one that alone would
// pass body_bytes is refused now, not after the bytes trickled in and were
// forwarded. (A size that does not fit 64 bits is llhttp's "invalid chunk
// size", a 400.)
int Parser::on_chunk_header(llhttp_t* p) {
  auto& s = self(p);
  if (s.kind_ != Kind::request || !s.limits_.body_bytes) return 0;
  const std::uint64_t size = p->content_length;
  if (size > s.limits_.body_bytes || s.body_bytes_ > s.limits_.body_bytes - size)
    return s.fail(413, "request body larger than limit");
  return 0;
}

int Parser::on_body(llhttp_t* p, const char* at, std::size_t len) {
  auto& s = self(p);
  s.body_bytes_ += len;
  if (s.kind_ == Kind::request && s.limits_.body_bytes && s.body_bytes_ > s.limits_.body_bytes)
    return s.fail(413, "request body larger than limit");
  // Compact this piece onto the previous ones: pieces arrive in order and
  // never before the write position, so the move stays inside the buffer.
  char* piece = const_cast<char*>(at);
  if (!s.body_begin_) {
    s.body_begin_ = piece;
    s.body_end_ = piece + len;
  } else {
    if (s.body_end_ != piece) std::memmove(s.body_end_, piece, len);
    s.body_end_ += len;
  }
  return 0;
}

// After an interim response: the next head is read from scratch.
void Parser::begin_final_head() {
  resp_->clear();
  header_bytes_ = header_count_ = 0;
  in_value_ = in_interim_ = interim_done_ = false;
}

int Parser::on_message_complete(llhttp_t* p) {
  auto& s = self(p);
  if (s.kind_ == Kind::response && s.in_interim_) {
    if (s.interim_ == Interim::skip) {
      s.begin_final_head();
      return 0;
    }
    // Reported, and kept in the response until the next feed().
    s.interim_done_ = true;
    return HPE_PAUSED;
  }
  s.message_done_ = true;
  return HPE_PAUSED;
}

FeedResult Parser::result(llhttp_errno_t err, const char* data, std::size_t len) {
  FeedResult r;
  if (body_begin_) r.body = {body_begin_, static_cast<std::size_t>(body_end_ - body_begin_)};
  switch (err) {
    case HPE_OK:
      r.consumed = len;
      r.event = Event::need_more;
      return r;
    case HPE_PAUSED_UPGRADE: {
      // llhttp says this once more, at the start of the next execute, after
      // a message with Upgrade that on_message_complete already ended. The
      // bytes that follow are parsed as the next message: whether they are
      // a tunnel instead is the connection's decision, not the parser's.
      auto at = static_cast<std::size_t>(llhttp_get_error_pos(&llp_) - data);
      llhttp_resume_after_upgrade(&llp_);
      auto rest = result(llhttp_execute(&llp_, data + at, len - at), data + at, len - at);
      rest.consumed += at;
      return rest;
    }
    case HPE_PAUSED:
      r.consumed = static_cast<std::size_t>(llhttp_get_error_pos(&llp_) - data);
      llhttp_resume(&llp_);
      if (interim_done_) {
        r.event = Event::interim;
        return r;
      }
      if (!message_done_) {
        // Paused at the end of the head. A message without a body (no
        // Content-Length, Content-Length: 0, 204, 304) completes without
        // another byte: run the parser on no input to find out now, so
        // the caller never waits for bytes that will not come.
        auto more = llhttp_execute(&llp_, data + r.consumed, 0);
        if (more == HPE_PAUSED) llhttp_resume(&llp_);
        else if (more != HPE_OK) return result(more, data, len);
      }
      r.event = message_done_ ? Event::message_done : Event::headers;
      return r;
    default:
      if (error_status_ == 0) {
        bool req = kind_ == Kind::request;
        error_status_ = req ? 400 : 502;
        const char* reason = llhttp_get_error_reason(&llp_);
        error_reason_ = reason ? reason : llhttp_errno_name(err);
      }
      r.consumed = len;
      r.event = Event::error;
      return r;
  }
}

FeedResult Parser::feed(char* data, std::size_t len) {
  body_begin_ = body_end_ = nullptr;
  feed_begin_ = data;
  struct Remember {
    Parser& p;
    const char* data;
    std::size_t len;
    ~Remember() {
      if (len) p.last_fed_ = data[len - 1];
    }
  } remember{*this, data, len};
  if (error_status_ != 0) {
    FeedResult r;
    r.event = Event::error;
    return r;
  }
  if (interim_done_) begin_final_head();
  return result(llhttp_execute(&llp_, data, len), data, len);
}

FeedResult Parser::finish() {
  body_begin_ = body_end_ = nullptr;
  if (error_status_ != 0) return FeedResult{0, Event::error, {}};
  if (!begun_) return FeedResult{0, Event::need_more, {}};
  auto err = llhttp_finish(&llp_);
  if (err == HPE_OK && !message_done_) {
    // llhttp_finish completed a close-delimited body without pausing.
    if (headers_done_ && kind_ == Kind::response && !resp_->chunked && !resp_->content_length) {
      message_done_ = true;
      return FeedResult{0, Event::message_done, {}};
    }
    error_status_ = kind_ == Kind::request ? 400 : 502;
    error_reason_ = "connection closed before the message was complete";
    return FeedResult{0, Event::error, {}};
  }
  if (err == HPE_PAUSED) {
    llhttp_resume(&llp_);
    return FeedResult{0, Event::message_done, {}};
  }
  if (err != HPE_OK) {
    error_status_ = kind_ == Kind::request ? 400 : 502;
    error_reason_ = "connection closed before the message was complete";
    return FeedResult{0, Event::error, {}};
  }
  return FeedResult{0, Event::message_done, {}};
}

}  // namespace gateway::http
