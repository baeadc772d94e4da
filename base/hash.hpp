// 64-bit hashing for balancing, cache keys and entry ids: FNV-1a with a
// splitmix64 finaliser, so that similar inputs spread over all bits.
// Not for adversarial inputs where collisions could be forced cheaply;
// every use compares the full key after the hash.
#pragma once

#include <cstdint>
#include <string_view>

namespace gateway {

constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

constexpr std::uint64_t fnv1a(std::string_view data, std::uint64_t h = 14695981039346656037ull) noexcept {
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

constexpr std::uint64_t hash64(std::string_view data) noexcept { return mix64(fnv1a(data)); }

}  // namespace gateway
