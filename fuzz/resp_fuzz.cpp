// libFuzzer target: Redis replies (RESP) as the shared cache tier reads
// them. The bytes go through hiredis's reply reader (redisReaderCreate /
// redisReaderFeed / redisReaderGetReply, the reader under RedisClient's
// async context), each reply through cache::convert_reply as RedisClient
// converts it, and each bulk string through cache::decode_shared_entry as
// SharedTier::lookup decodes a stored entry. A Redis reached by others (or
// the link to it) may hold or say anything.
//
// An array reply announcing a million elements or more is skipped: hiredis
// allocates the element array (calloc, count * 8 bytes) when it reads the
// count. Without ASan those pages stay untouched until elements arrive, so
// the count costs address space, not memory; under ASan the allocator's
// shadow makes it gigabytes of RSS, and every run would stop there as an
// "out-of-memory" that production does not have.
//
// Differential, like the HTTP parser targets: the input fed whole, cut in
// two at many offsets, and byte by byte must give the same replies and the
// same protocol error. hiredis itself is the system library, not
// instrumented: coverage guides only through our code and the reader's
// results, while ASan still checks every byte our code reads.
#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cache/redis_client.hpp"
#include "cache/shared_tier.hpp"
#include "check.hpp"

namespace {

using gateway::cache::RedisReply;

using fuzz::fail;

void describe(const RedisReply& r, std::string& out) {
  static const char* const kTypes[] = {"nil", "string", "integer", "array", "status", "error"};
  out += kTypes[static_cast<int>(r.type)];
  out += " " + std::to_string(r.integer) + " [" + std::to_string(r.str.size()) + "]" + r.str;
  if (!r.elements.empty()) {
    out += " {";
    for (const auto& e : r.elements) {
      describe(e, out);
      out += ", ";
    }
    out += "}";
  }
}

// A stored entry read back from a GET reply must be consistent.
void lookup(const RedisReply& r) {
  if (r.type == RedisReply::Type::string) {
    gateway::cache::EntryMeta meta;
    std::string body;
    if (gateway::cache::decode_shared_entry(r.str, meta, body) && meta.body_size != body.size())
      fail("a shared entry's body_size is not its body's");
  }
  for (const auto& e : r.elements) lookup(e);
}

// The replies and the protocol error of one delivery, as text.
std::string run(std::string_view input, const std::vector<std::size_t>& cuts) {
  redisReader* reader = redisReaderCreate();
  if (!reader) fail("redisReaderCreate failed");
  std::string out;
  std::size_t given = 0;
  bool failed = false;
  for (std::size_t i = 0; i <= cuts.size() && !failed; ++i) {
    std::size_t to = i < cuts.size() ? cuts[i] : input.size();
    if (to > given && redisReaderFeed(reader, input.data() + given, to - given) != REDIS_OK) {
      out += std::string("feed error: ") + reader->errstr + "\n";
      failed = true;
      break;
    }
    given = to;
    for (;;) {
      void* reply = nullptr;
      if (redisReaderGetReply(reader, &reply) != REDIS_OK) {
        out += std::string("protocol error: ") + reader->errstr + "\n";
        failed = true;
        break;
      }
      if (!reply) break;  // needs more bytes
      RedisReply converted = gateway::cache::convert_reply(static_cast<redisReply*>(reply));
      freeReplyObject(reply);
      describe(converted, out);
      out += "\n";
      lookup(converted);
    }
  }
  redisReaderFree(reader);
  return out;
}

// Every offset for short inputs, else at most 128 evenly spaced ones plus
// those after each CR or LF (where a reply's parts end).
std::vector<std::size_t> cut_points(std::string_view input) {
  constexpr std::size_t kEvery = 256, kMaxCuts = 128;
  std::vector<std::size_t> cuts;
  const std::size_t n = input.size();
  if (n <= kEvery) {
    for (std::size_t i = 1; i < n; ++i) cuts.push_back(i);
    return cuts;
  }
  for (std::size_t i = 0; i + 1 < n && cuts.size() < kMaxCuts / 2; ++i)
    if (input[i] == '\r' || input[i] == '\n') cuts.push_back(i + 1);
  for (std::size_t k = 1; k < kMaxCuts / 2; ++k) cuts.push_back(k * n / (kMaxCuts / 2));
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  return cuts;
}

// A '*' followed by seven digits or more, wherever it is: cruder than the
// reader's view (it also skips such text inside a bulk string), never less.
bool announces_huge_array(std::string_view input) {
  for (std::size_t i = input.find('*'); i != std::string_view::npos; i = input.find('*', i + 1)) {
    std::size_t j = i + 1;
    if (j < input.size() && (input[j] == '+' || input[j] == '-')) ++j;
    std::size_t digits = 0;
    while (j + digits < input.size() && input[j + digits] >= '0' && input[j + digits] <= '9') ++digits;
    if (digits >= 7) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (announces_huge_array(input)) return -1;  // not added to the corpus
  const std::string whole = run(input, {});
  for (std::size_t cut : cut_points(input)) {
    std::string split = run(input, {cut});
    if (split != whole)
      fail("split delivery differs from whole",
           "cut at " + std::to_string(cut) + "\n--- whole\n" + whole + "--- split\n" + split);
  }
  std::vector<std::size_t> bytes;
  for (std::size_t i = 1; i < size; ++i) bytes.push_back(i);
  std::string one = run(input, bytes);
  if (one != whole) fail("byte-by-byte delivery differs from whole", "--- whole\n" + whole + "--- bytes\n" + one);
  return 0;
}
