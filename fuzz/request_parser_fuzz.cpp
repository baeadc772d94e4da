// libFuzzer target: the request parser (base/http/parser.hpp) on arbitrary
// bytes from a client, with small limits so that the 413/414/431 paths are
// reached by short inputs. The input is parsed whole, cut in two at many
// offsets and byte by byte; every delivery must give the same requests,
// bodies and error (fuzz/parser_harness.hpp), and every request delivered
// must keep the parser's promises (one valid Host, origin-form target, body
// within its framing and limit).
#include <cstddef>
#include <cstdint>

#include "parser_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Options opt;
  opt.limits.uri_bytes = 64;
  opt.limits.header_bytes = 256;
  opt.limits.headers = 8;
  opt.limits.body_bytes = 64;
  fuzz::differential<fuzz::Request>({reinterpret_cast<const char*>(data), size}, opt);
  return 0;
}
