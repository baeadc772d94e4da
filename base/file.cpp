#include "base/file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace gateway {

FileBytes read_whole_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return {std::nullopt, "is a directory"};
  std::ifstream in(path, std::ios::binary);
  if (!in) return {std::nullopt, std::strerror(errno)};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return {std::nullopt, "read error"};
  return {std::move(text).str(), {}};
}

}  // namespace gateway
