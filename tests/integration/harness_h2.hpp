// The integration harness's HTTP/2 part: a raw HTTP/2 client over plain TCP
// (h2c, prior knowledge) that writes frames by hand, for the abuse tests
// (rapid reset, CONTINUATION floods, oversized header lists), where a real
// client would refuse to misbehave.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"

namespace itest {

namespace h2frame {
constexpr std::uint8_t kData = 0, kHeaders = 1, kRstStream = 3, kSettings = 4, kPing = 6, kGoaway = 7,
                       kContinuation = 9;
constexpr std::uint8_t kEndStream = 1, kEndHeaders = 4, kAck = 1;
constexpr std::uint32_t kNoError = 0, kProtocolError = 1, kRefusedStream = 7, kCancel = 8, kEnhanceYourCalm = 11;

// A frame: the 9-byte header and the payload.
std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::string_view payload);
// An HPACK block (no Huffman, no indexing) for GET `path` on `authority`,
// scheme http, and `fields` as literal (name, value) pairs.
std::string request_block(std::string_view path, std::string_view authority,
                          const std::vector<std::pair<std::string, std::string>>& fields = {});
// A literal field (new name, not indexed) alone, to pad a header block.
std::string literal(std::string_view name, std::string_view value);
std::string rst_stream(std::uint32_t stream, std::uint32_t code = kCancel);
}  // namespace h2frame

class RawH2 {
 public:
  struct Frame {
    std::uint8_t type = 0, flags = 0;
    std::uint32_t stream = 0;
    std::string payload;
  };
  // Connects to 127.0.0.1:port and sends the preface and an empty SETTINGS.
  explicit RawH2(std::uint16_t port);
  ~RawH2();
  RawH2(const RawH2&) = delete;
  RawH2& operator=(const RawH2&) = delete;

  bool connected() const { return fd_ >= 0; }
  // False once the peer closed or reset (or a send stalls for 5 s).
  bool send(std::string_view bytes);
  // The next frame, or none if the connection closed or nothing came in time.
  std::optional<Frame> read_frame(Ms timeout = 5s);
  // Reads frames until a GOAWAY (its error code) or until the connection
  // closes or `timeout` passes (none).
  std::optional<std::uint32_t> wait_goaway(Ms timeout = 10s);
  // Reads until the peer closed the connection (true) or `timeout`.
  bool wait_closed(Ms timeout = 10s);

 private:
  int fd_ = -1;
  std::string in_;
};

// A field of /proc/<pid>/status in KiB ("VmRSS:"), -1 if unknown (harness.cpp).
std::int64_t proc_status_kib(pid_t pid, const char* key);

}  // namespace itest
