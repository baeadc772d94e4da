// libFuzzer target: the PROXY protocol parser (base/net/proxy_protocol.hpp)
// on arbitrary first bytes of a connection. Properties: a header found is
// no longer than the input and parses the same alone (nothing after it
// counts); every shorter prefix of it needs more bytes (read_header relies
// on this to never read past a header); a v1 header stays within 107
// bytes, a v2 one within its bound; an error has a reason.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/net/proxy_protocol.hpp"
#include "check.hpp"

namespace pp = gateway::net::proxy_protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto r = pp::parse(input);
  if (r.status == pp::Status::error) {
    fuzz::check(!r.reason.empty(), "an error without a reason", input);
    return 0;
  }
  if (r.status == pp::Status::need_more) {
    fuzz::check(size < pp::kV2Fixed + pp::kMaxV2Length, "need_more past the largest header", input);
    return 0;
  }
  fuzz::check(r.size > 0 && r.size <= size, "a header longer than the input", input);
  fuzz::check(r.version == 1 || r.version == 2, "a header of no version", input);
  if (r.version == 1) fuzz::check(r.size <= pp::kMaxV1, "a v1 header over 107 bytes", input);
  else fuzz::check(r.size <= pp::kV2Fixed + pp::kMaxV2Length, "a v2 header over its bound", input);
  auto alone = pp::parse(input.substr(0, r.size));
  fuzz::check(alone.status == pp::Status::done && alone.size == r.size && alone.source == r.source &&
                  alone.source_port == r.source_port,
              "the header parses differently alone", input);
  for (std::size_t n = 0; n < r.size; ++n)
    fuzz::check(pp::parse(input.substr(0, n)).status == pp::Status::need_more, "a prefix of a header is not need_more",
                input.substr(0, n));
  return 0;
}
