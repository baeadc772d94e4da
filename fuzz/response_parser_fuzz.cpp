// libFuzzer target: the response parser (base/http/parser.hpp) on arbitrary
// bytes from an upstream, including chunked and close-delimited bodies,
// interim 1xx responses and pipelined responses. Each input is run as the
// answer to a GET and to a HEAD, with finish() at the end (the upstream
// closed), and parsed whole, cut in two at many offsets and byte by byte:
// every delivery must agree (fuzz/parser_harness.hpp), and no body may come
// with a HEAD, 204 or 304 response.
#include <cstddef>
#include <cstdint>

#include "parser_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  fuzz::Options opt;
  opt.limits.header_bytes = 256;
  opt.limits.headers = 8;
  for (bool head : {false, true}) {
    opt.head_request = head;
    fuzz::differential<fuzz::Response>(input, opt);
  }
  return 0;
}
