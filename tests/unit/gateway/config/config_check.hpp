// What the configuration tests share: loading a file that must be valid,
// the error tables (one row per mistake: the YAML, and the line, column and
// message of the one error it must give), and a temporary directory for
// files the configuration names. Used by every test in this folder; each
// test file checks one part of the loader (gateway/config/sections.hpp lists
// them). The YAML in the tests starts right after R"( so its first line is
// line 1.
#pragma once

#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "gateway/config.hpp"

namespace gateway::config::testing {

namespace fs = std::filesystem;

inline std::string all_errors(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const auto& e : errors) out += e.to_string() + "\n";
  return out;
}

// The configuration a load gave; the test fails, showing every error, when
// it has any.
inline std::shared_ptr<const Config> loaded_ok(const LoadResult& result) {
  INFO(all_errors(result.errors));
  REQUIRE(result.errors.empty());
  REQUIRE(result.config != nullptr);
  return result.config;
}

// The configuration `yaml` gives as if read from `file`.
inline std::shared_ptr<const Config> load_ok(const std::string& yaml,
                                             const std::string& file = "/etc/gateway/gw.yaml") {
  return loaded_ok(load_config_from_string(yaml, file));
}

// A load that fails with exactly these errors, as "file:line:col: message",
// in this order.
inline void check_all_errors(const LoadResult& result, const std::vector<std::string>& expected) {
  INFO(all_errors(result.errors));
  REQUIRE(result.config == nullptr);
  std::vector<std::string> got;
  for (const auto& e : result.errors) got.push_back(e.to_string());
  CHECK(got == expected);
}

// A temporary directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "gw-config-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }

  fs::path write(const std::string& name, const std::string& text) const {
    fs::path file = path_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file;
  }

 private:
  fs::path path_;
};

// The one error a mistake must give: in `file` at line:column, its message
// holding `fragment`.
inline void check_one_error(const LoadResult& result, const std::string& file, int line,
                            int column, const std::string& fragment) {
  INFO(all_errors(result.errors));
  CHECK(result.config == nullptr);
  REQUIRE(result.errors.size() == 1);
  const auto& e = result.errors[0];
  CHECK(e.file == file);
  CHECK(e.line == line);
  CHECK(e.column == column);
  CHECK(e.message.find(fragment) != std::string::npos);
}

// One mistake: its YAML, read as "test.yaml", gives exactly one error.
struct ErrorCase {
  const char* name;
  const char* yaml;
  int line;
  int column;
  const char* fragment;  // must appear in the message
};

inline void check_errors(std::span<const ErrorCase> cases) {
  for (const auto& c : cases) {
    const std::string name = c.name;  // CAPTURE of a char* shows the pointer
    CAPTURE(name);
    check_one_error(load_config_from_string(c.yaml, "test.yaml"), "test.yaml", c.line, c.column,
                    c.fragment);
  }
}

// The same for YAML written to gw.yaml in a directory, next to the files it
// names: `file` (gw.yaml or one of those files) is where the error must be.
struct FileErrorCase {
  const char* name;
  const char* yaml;
  const char* file;
  int line;
  int column;
  const char* fragment;
};

inline void check_file_errors(const TempDir& dir, std::span<const FileErrorCase> cases) {
  for (const auto& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    fs::path file = dir.write("gw.yaml", c.yaml);
    check_one_error(load_config(file.string()), (dir.path() / c.file).string(), c.line, c.column,
                    c.fragment);
  }
}

}  // namespace gateway::config::testing
