// Tests for upstreams/balancer: the exact pick sequences of round robin and
// smooth weighted round robin, least connections, and consistent hashing.
#include "upstreams/balancer.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

using gateway::upstreams::Balance;
using gateway::upstreams::Balancer;
using gateway::fnv1a;

namespace {

using Mask = std::vector<std::uint8_t>;

std::vector<int> picks(Balancer& b, int n, const Mask& excluded, const std::vector<int>& active = {}) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(b.pick(excluded, active));
  return out;
}

std::vector<int> tally(Balancer& b, int n, const Mask& excluded) {
  std::vector<int> counts(b.size(), 0);
  for (int i = 0; i < n; ++i) {
    int k = b.pick(excluded);
    REQUIRE(k >= 0);
    ++counts[static_cast<std::size_t>(k)];
  }
  return counts;
}

std::uint64_t key_hash(int i) { return fnv1a("/channels/" + std::to_string(i) + "?page=1"); }

}  // namespace

TEST_SUITE("balancer: round robin") {
  TEST_CASE("round robin over three goes 0 1 2 0 1 2") {
    Balancer b(Balance::round_robin, {1, 1, 1});
    CHECK(b.size() == 3u);
    CHECK(picks(b, 6, {0, 0, 0}) == std::vector<int>{0, 1, 2, 0, 1, 2});
  }

  TEST_CASE("each worker's round robin starts at its own index, modulo the instances") {
    Balancer second(Balance::round_robin, {1, 1, 1}, 1);
    CHECK(picks(second, 4, {0, 0, 0}) == std::vector<int>{1, 2, 0, 1});
    Balancer fifth(Balance::round_robin, {1, 1, 1}, 4);
    CHECK(picks(fifth, 4, {0, 0, 0}) == std::vector<int>{1, 2, 0, 1});
    Balancer third_excluded(Balance::round_robin, {1, 1, 1}, 2);
    CHECK(picks(third_excluded, 3, {0, 0, 1}) == std::vector<int>{0, 1, 0});
  }

  TEST_CASE("round robin gives exactly a third to each over 300 picks") {
    Balancer b(Balance::round_robin, {1, 1, 1});
    CHECK(tally(b, 300, {0, 0, 0}) == std::vector<int>{100, 100, 100});
  }

  TEST_CASE("round robin ignores weights") {
    Balancer b(Balance::round_robin, {5, 1, 1});
    CHECK(picks(b, 6, {0, 0, 0}) == std::vector<int>{0, 1, 2, 0, 1, 2});
  }

  TEST_CASE("round robin skips excluded instances") {
    Balancer b(Balance::round_robin, {1, 1, 1});
    CHECK(picks(b, 4, {0, 1, 0}) == std::vector<int>{0, 2, 0, 2});
    CHECK(picks(b, 3, {1, 1, 0}) == std::vector<int>{2, 2, 2});
    CHECK(picks(b, 3, {0, 0, 0}) == std::vector<int>{0, 1, 2});
  }

  TEST_CASE("round robin with every instance excluded picks none") {
    Balancer b(Balance::round_robin, {1, 1, 1});
    CHECK(b.pick(Mask{1, 1, 1}) == -1);
    CHECK(b.pick(Mask{0, 0, 0}) == 0);  // and goes on normally afterwards
  }

  TEST_CASE("a single instance is always picked") {
    Balancer b(Balance::round_robin, {1});
    CHECK(picks(b, 3, {0}) == std::vector<int>{0, 0, 0});
    CHECK(b.pick(Mask{1}) == -1);
  }
}

TEST_SUITE("balancer: smooth weighted round robin") {
  TEST_CASE("weights 5:1:1 give nginx's order a a b a c a a, repeated") {
    Balancer b(Balance::weighted, {5, 1, 1});
    const std::vector<int> cycle{0, 0, 1, 0, 2, 0, 0};
    for (int round = 0; round < 3; ++round) {
      INFO("round " << round);
      CHECK(picks(b, 7, {0, 0, 0}) == cycle);
    }
  }

  TEST_CASE("weights 1:2:3 give exactly 100, 200 and 300 of 600 picks") {
    Balancer b(Balance::weighted, {1, 2, 3});
    CHECK(tally(b, 600, {0, 0, 0}) == std::vector<int>{100, 200, 300});
  }

  TEST_CASE("weights 1:2:3 are interleaved, not bunched") {
    Balancer b(Balance::weighted, {1, 2, 3});
    // c b a c b c: never more than two of the same in a row.
    CHECK(picks(b, 6, {0, 0, 0}) == std::vector<int>{2, 1, 0, 2, 1, 2});
  }

  TEST_CASE("equal weights behave as round robin") {
    Balancer b(Balance::weighted, {2, 2, 2});
    CHECK(picks(b, 6, {0, 0, 0}) == std::vector<int>{0, 1, 2, 0, 1, 2});
  }

  TEST_CASE("excluded instances are skipped and the others keep their ratio") {
    Balancer b(Balance::weighted, {5, 1, 1});
    CHECK(tally(b, 60, {0, 1, 0}) == std::vector<int>{50, 0, 10});
    CHECK(b.pick(Mask{1, 1, 0}) == 2);
  }

  TEST_CASE("smooth weighted with every instance excluded picks none") {
    Balancer b(Balance::weighted, {5, 1, 1});
    CHECK(b.pick(Mask{1, 1, 1}) == -1);
  }
}

TEST_SUITE("balancer: least connections") {
  TEST_CASE("the instance with the fewest active requests is picked") {
    Balancer b(Balance::least_conn, {1, 1, 1});
    CHECK(b.pick(Mask{0, 0, 0}, std::vector<int>{2, 0, 1}) == 1);
    CHECK(b.pick(Mask{0, 0, 0}, std::vector<int>{3, 4, 2}) == 2);
    CHECK(b.pick(Mask{0, 0, 0}, std::vector<int>{0, 5, 5}) == 0);
  }

  TEST_CASE("active requests count relative to weight") {
    Balancer b(Balance::least_conn, {1, 2, 1});
    CHECK(b.pick(Mask{0, 0, 0}, std::vector<int>{1, 1, 1}) == 1);  // 1, 0.5, 1
    CHECK(b.pick(Mask{0, 0, 0}, std::vector<int>{2, 3, 2}) == 1);  // 2, 1.5, 2
    CHECK(b.pick(Mask{0, 0, 0}, std::vector<int>{1, 4, 2}) == 0);  // 1, 2, 2
  }

  TEST_CASE("ties between the least loaded go round robin") {
    Balancer b(Balance::least_conn, {1, 1, 1});
    CHECK(picks(b, 6, {0, 0, 0}, {0, 0, 0}) == std::vector<int>{0, 1, 2, 0, 1, 2});
    Balancer c(Balance::least_conn, {1, 1, 1});
    CHECK(picks(c, 4, {0, 0, 0}, {1, 0, 0}) == std::vector<int>{1, 2, 1, 2});
  }

  TEST_CASE("without active counts least connections is round robin") {
    Balancer b(Balance::least_conn, {1, 1, 1});
    CHECK(picks(b, 4, {0, 0, 0}) == std::vector<int>{0, 1, 2, 0});
  }

  TEST_CASE("an excluded instance is skipped even if it is the least loaded") {
    Balancer b(Balance::least_conn, {1, 1, 1});
    CHECK(b.pick(Mask{1, 0, 0}, std::vector<int>{0, 3, 2}) == 2);
    CHECK(b.pick(Mask{1, 1, 1}, std::vector<int>{0, 0, 0}) == -1);
  }
}

TEST_SUITE("balancer: consistent hash") {
  TEST_CASE("fnv1a matches the published 64-bit test vectors") {
    CHECK(fnv1a("") == 0xcbf29ce484222325ull);
    CHECK(fnv1a("a") == 0xaf63dc4c8601ec8cull);
    CHECK(fnv1a("foobar") == 0x85944171f73967e8ull);
  }

  TEST_CASE("the same key always goes to the same instance") {
    Balancer b(Balance::hash, {1, 1, 1});
    Balancer twin(Balance::hash, {1, 1, 1});
    Mask none{0, 0, 0};
    for (int i = 0; i < 200; ++i) {
      auto h = key_hash(i);
      int first = b.pick(none, {}, h);
      REQUIRE(first >= 0);
      CHECK(b.pick(none, {}, h) == first);
      CHECK(twin.pick(none, {}, h) == first);  // and on every worker
    }
  }

  TEST_CASE("keys spread roughly evenly over three instances") {
    Balancer b(Balance::hash, {1, 1, 1});
    std::vector<int> counts(3, 0);
    for (int i = 0; i < 1000; ++i) ++counts[static_cast<std::size_t>(b.pick(Mask{0, 0, 0}, {}, key_hash(i)))];
    for (int k = 0; k < 3; ++k) {
      INFO("instance " << k << " got " << counts[k] << " of 1000");
      CHECK(counts[k] >= 200);
      CHECK(counts[k] <= 470);
    }
  }

  TEST_CASE("excluding an instance moves only the keys that were on it") {
    Balancer b(Balance::hash, {1, 1, 1});
    std::vector<int> home;
    for (int i = 0; i < 1000; ++i) home.push_back(b.pick(Mask{0, 0, 0}, {}, key_hash(i)));
    for (int gone = 0; gone < 3; ++gone) {
      INFO("excluded instance " << gone);
      Mask excluded{0, 0, 0};
      excluded[static_cast<std::size_t>(gone)] = 1;
      int stayed = 0, moved = 0, wrong = 0;
      for (int i = 0; i < 1000; ++i) {
        int now = b.pick(excluded, {}, key_hash(i));
        if (home[static_cast<std::size_t>(i)] != gone) {
          now == home[static_cast<std::size_t>(i)] ? ++stayed : ++wrong;
        } else {
          now >= 0 && now != gone ? ++moved : ++wrong;
        }
      }
      CHECK(wrong == 0);
      CHECK(stayed + moved == 1000);
      CHECK(moved > 0);
    }
  }

  TEST_CASE("the keys of an excluded instance go to both others, not all to one") {
    Balancer b(Balance::hash, {1, 1, 1});
    std::vector<int> to(3, 0);
    for (int i = 0; i < 1000; ++i) {
      auto h = key_hash(i);
      if (b.pick(Mask{0, 0, 0}, {}, h) != 0) continue;
      ++to[static_cast<std::size_t>(b.pick(Mask{1, 0, 0}, {}, h))];
    }
    CHECK(to[0] == 0);
    CHECK(to[1] > 0);
    CHECK(to[2] > 0);
  }

  TEST_CASE("a heavier instance gets more keys") {
    Balancer b(Balance::hash, {1, 3});
    std::vector<int> counts(2, 0);
    for (int i = 0; i < 1000; ++i) ++counts[static_cast<std::size_t>(b.pick(Mask{0, 0}, {}, key_hash(i)))];
    INFO(counts[0] << " : " << counts[1]);
    CHECK(counts[1] > 2 * counts[0]);
  }

  TEST_CASE("hash with every instance excluded picks none") {
    Balancer b(Balance::hash, {1, 1, 1});
    CHECK(b.pick(Mask{1, 1, 1}, {}, key_hash(7)) == -1);
  }
}

TEST_CASE("each kind is named as the configuration names it") {
  CHECK(std::string(to_string(Balance::round_robin)) == "round_robin");
  CHECK(std::string(to_string(Balance::weighted)) == "weighted");
  CHECK(std::string(to_string(Balance::least_conn)) == "least_conn");
  CHECK(std::string(to_string(Balance::hash)) == "hash");
}
