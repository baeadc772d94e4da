// Reading a whole file, for what the configuration names: the YAML itself,
// page templates, certificates, keys, CA bundles and OCSP responses. Any
// thread; blocking (used at load and reload, never on a request's way).
#pragma once

#include <optional>
#include <string>

namespace gateway {

// A whole file's bytes, or why they could not be read: "is a directory",
// the system's reason, or "read error".
struct FileBytes {
  std::optional<std::string> bytes;
  std::string error;
};
FileBytes read_whole_file(const std::string& path);

}  // namespace gateway
