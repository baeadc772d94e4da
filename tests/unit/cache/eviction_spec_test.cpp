// Tests for the policy and admission spec text (cache/spec_text.cpp): what
// a zone's `policy:` / `admission:` and gateway-lab's --policy /
// --admission accept, the errors with their offsets, and the canonical text.
#include <doctest/doctest.h>

#include <string>

#include "cache/admission.hpp"
#include "cache/eviction.hpp"

using gateway::cache::AdmissionKind;
using gateway::cache::AdmissionSpec;
using gateway::cache::parse_admission_spec;
using gateway::cache::parse_policy_spec;
using gateway::cache::PolicyKind;
using gateway::cache::PolicySpec;
using gateway::cache::to_string;

TEST_SUITE_BEGIN("eviction");

TEST_CASE("eviction spec: accepted policy specs and their canonical text") {
  struct Row {
    const char* text;
    PolicySpec spec;
    const char* canonical;
  };
  const Row rows[] = {
      {"lru", {PolicyKind::lru}, "lru"},
      {"sieve", {PolicyKind::sieve}, "sieve"},
      {"s3fifo", {PolicyKind::s3fifo, 0.10, 1}, "s3fifo"},
      {"s3fifo:small=10%", {PolicyKind::s3fifo, 0.10, 1}, "s3fifo"},
      {"s3fifo:promote=1", {PolicyKind::s3fifo, 0.10, 1}, "s3fifo"},
      {"s3fifo:small=5%:promote=2", {PolicyKind::s3fifo, 0.05, 2}, "s3fifo:small=5%:promote=2"},
      {"s3fifo:promote=2:small=5%", {PolicyKind::s3fifo, 0.05, 2}, "s3fifo:small=5%:promote=2"},
      {"s3fifo:small=0.05", {PolicyKind::s3fifo, 0.05, 1}, "s3fifo:small=5%"},
      {"s3fifo:small=12.5%", {PolicyKind::s3fifo, 0.125, 1}, "s3fifo:small=12.5%"},
      {"s3fifo:small=0.2", {PolicyKind::s3fifo, 0.2, 1}, "s3fifo:small=20%"},
      {"s3fifo:small=99%:promote=3", {PolicyKind::s3fifo, 0.99, 3}, "s3fifo:small=99%:promote=3"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    std::string error;
    auto spec = parse_policy_spec(row.text, error);
    REQUIRE(spec.has_value());
    CHECK(error.empty());
    CHECK(*spec == row.spec);
    CHECK(to_string(*spec) == row.canonical);
    auto again = parse_policy_spec(to_string(*spec), error);
    REQUIRE(again.has_value());
    CHECK(*again == *spec);
  }
}

TEST_CASE("eviction spec: canonical text reads back for any share") {
  for (double small : {0.1, 0.05, 0.3333333333333333, 0.123456789, 1e-9, 0.999999}) {
    CAPTURE(small);
    const PolicySpec spec{PolicyKind::s3fifo, small, 3};
    std::string error;
    auto again = parse_policy_spec(to_string(spec), error);
    REQUIRE(again.has_value());
    CHECK(*again == spec);
  }
}

TEST_CASE("eviction spec: rejected policy specs say why and where") {
  struct Row {
    const char* text;
    std::size_t at;
    const char* message;
  };
  const Row rows[] = {
      {"", 0, "unknown policy"},
      {"LRU", 0, "unknown policy"},
      {"s3-fifo", 0, "unknown policy"},
      {"clock", 0, "unknown policy"},
      {"lru:small=5%", 4, "lru takes no parameters"},
      {"sieve:promote=2", 6, "sieve takes no parameters"},
      {"s3fifo:", 7, "expected small=<share> or promote=<1..3>"},
      {"s3fifo:big=5%", 7, "expected small="},
      {"s3fifo:small", 7, "expected small="},
      {"s3fifo:small=", 13, "small must be a share in (0, 1)"},
      {"s3fifo:small=0", 13, "small must be a share"},
      {"s3fifo:small=0%", 13, "small must be a share"},
      {"s3fifo:small=100%", 13, "small must be a share"},
      {"s3fifo:small=1", 13, "small must be a share"},
      {"s3fifo:small=-5%", 13, "small must be a share"},
      {"s3fifo:small=5%%", 13, "small must be a share"},
      {"s3fifo:small=1e-1", 13, "small must be a share"},
      {"s3fifo:promote=0", 15, "promote must be 1, 2 or 3"},
      {"s3fifo:promote=4", 15, "promote must be 1, 2 or 3"},
      {"s3fifo:promote=two", 15, "promote must be 1, 2 or 3"},
      {"s3fifo:small=5%:small=6%", 16, "small given twice"},
      {"s3fifo:promote=2:", 17, "expected small="},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    std::string error;
    std::size_t at = 999;
    CHECK_FALSE(parse_policy_spec(row.text, error, &at).has_value());
    CHECK(error.find(row.message) != std::string::npos);
    CHECK(at == row.at);
  }
}

TEST_CASE("eviction spec: admission specs") {
  struct Row {
    const char* text;
    AdmissionSpec spec;
  };
  const Row rows[] = {
      {"none", {AdmissionKind::none}},
      {"tinylfu", {AdmissionKind::tinylfu}},
      {"min_uses:1", {AdmissionKind::min_uses, 1}},
      {"min_uses:2", {AdmissionKind::min_uses, 2}},
      {"min_uses:64", {AdmissionKind::min_uses, 64}},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    std::string error;
    auto spec = parse_admission_spec(row.text, error);
    REQUIRE(spec.has_value());
    CHECK(*spec == row.spec);
    CHECK(to_string(*spec) == row.text);
  }
  struct Bad {
    const char* text;
    std::size_t at;
    const char* message;
  };
  const Bad bad[] = {
      {"", 0, "unknown admission"},
      {"TinyLFU", 0, "unknown admission"},
      {"min_uses", 0, "unknown admission"},
      {"min_uses:", 9, "min_uses must be a whole number from 1 to 64"},
      {"min_uses:0", 9, "from 1 to 64"},
      {"min_uses:65", 9, "from 1 to 64"},
      {"min_uses:2x", 9, "from 1 to 64"},
      {"min_uses:-1", 9, "from 1 to 64"},
  };
  for (const auto& row : bad) {
    CAPTURE(row.text);
    std::string error;
    std::size_t at = 999;
    CHECK_FALSE(parse_admission_spec(row.text, error, &at).has_value());
    CHECK(error.find(row.message) != std::string::npos);
    CHECK(at == row.at);
  }
}

TEST_SUITE_END();
