// A temporary directory for one test case, removed with everything in it
// afterwards: for the cache tests that need a store on disk.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace gateway::cache::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cache_test.XXXXXX";
    char* p = ::mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace gateway::cache::testing
