// Integration test harness: real gateway, sample-service and redis-server
// processes on loopback ephemeral ports, and clients to talk to them.
//
// Every process is owned by an object whose destructor stops it (SIGTERM,
// then SIGKILL) and reaps it, so a failing test never leaves one behind.
// Ports: servers bind port 0 and report the port they got; nothing is
// guessed.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace itest {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;

// A temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  // Writes `content` to file(name) and returns its path.
  std::string write(std::string_view name, std::string_view content) const;

 private:
  std::string path_;
};

std::string read_file(const std::string& path);

// Starts argv (argv[0] looked up on PATH when it has no '/') in its own
// process group, stdin read from `in`, stdout and stderr written to `out` and
// `err` ("" keeps the test's own; err == out sends both to one file).
// posix_spawn, not fork + exec: a test has threads (capture servers, client
// pools), and a forked child that allocates before exec can wait forever on
// a lock another thread held at the fork (ASan's allocator has no fork
// handler in gcc 12). Throws if the program cannot be started.
pid_t spawn(const std::vector<std::string>& argv, const std::string& in, const std::string& out,
            const std::string& err);

// What a process that should have answered by now is doing: its command
// line (a child still in the test binary never reached exec), state, and
// each thread's kernel wait channel and stack (gdb, when it can attach).
std::string describe_stuck_process(pid_t pid);

// How long a gateway may take to print that it listens. Generous: the
// ASan tree on a loaded 2-core machine; it only bounds a failure.
inline constexpr Ms kStartTimeout = 30s;

// A child process with stdout and stderr redirected to log files.
class Process {
 public:
  Process(std::vector<std::string> argv, std::string stdout_path, std::string stderr_path);
  ~Process();
  Process(Process&&) noexcept;
  Process& operator=(Process&&) = delete;
  Process(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Sends `sig` (the process keeps running if it handles it).
  void signal(int sig);
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status
  // (WEXITSTATUS) or 128+signal; -1 if it was already reaped.
  int stop(Ms grace = 10s);
  // Waits for the process to exit by itself; nullopt on timeout.
  std::optional<int> wait_exit(Ms timeout);
  std::string out() const { return read_file(stdout_path_); }
  std::string err() const { return read_file(stderr_path_); }
  // Waits until `needle` appears in stderr (or stdout); false on timeout or exit.
  bool wait_for_output(std::string_view needle, Ms timeout = 10s);
  // For a process that did not get ready in time: its stderr and, when it
  // still runs, what it is doing (describe_stuck_process).
  std::string not_ready_report();

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string stdout_path_, stderr_path_;
};

// One instance of bench/sample-service on an ephemeral port.
class SampleService {
 public:
  explicit SampleService(const TempDir& dir, std::string name = "svc", std::vector<std::string> extra_args = {});
  ~SampleService();  // as ~Gateway: stops it and checks for sanitizer reports
  SampleService(const SampleService&) = delete;
  SampleService& operator=(const SampleService&) = delete;
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& name() const { return name_; }
  Process& process() { return proc_; }
  // GET /stats, and one integer field of it ("requests", "connections", ...).
  std::string stats_json();
  std::int64_t stat(std::string_view field);
  void reset_stats();

 private:
  std::string name_;
  Process proc_;
  std::uint16_t port_ = 0;
};

// A gateway running the given configuration. `listen` and `admin.listen`
// must not be in `yaml`: the harness adds both on port 0 and reads the
// ports the gateway reports.
class Gateway {
 public:
  Gateway(const TempDir& dir, const std::string& yaml, std::vector<std::string> extra_args = {});
  // Stops the gateway and fails the running test if its error log holds a
  // sanitizer report (ASan, LSan, UBSan), which is printed.
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;
  std::uint16_t port() const { return port_; }
  std::uint16_t admin_port() const { return admin_port_; }
  const std::string& config_path() const { return config_path_; }
  Process& process() { return proc_; }
  std::string access_log() const { return proc_.out(); }
  std::string error_log() const { return proc_.err(); }
  // Resident set size now, and its peak, in KiB (from /proc).
  std::int64_t rss_kib() const;
  std::int64_t peak_rss_kib() const;
  // GET on the admin listener: /metrics text and /status JSON bodies.
  std::string metrics() const;
  std::string status() const;
  // Replaces the configuration file (with the same listen/admin lines the
  // constructor wrote in front of `yaml`); send SIGHUP to apply it.
  void rewrite_config(const std::string& yaml) const;
  // The line in the configuration file on which `needle` first appears
  // (1-based), 0 if absent: for checking file:line:col messages.
  int config_line_of(std::string_view needle) const;

 private:
  std::string config_path_;
  Process proc_;
  std::uint16_t port_ = 0;
  std::uint16_t admin_port_ = 0;
};

// Fails the running doctest test (and prints the report) if `log` holds a
// sanitizer report; `who` names the process in the message.
void check_sanitizer_report(std::string_view who, const std::string& log);

// A RESP reply as a raw client reads it (RedisServer::command).
struct RedisValue {
  char type = 0;  // '+' status, '-' error, ':' integer, '$' bulk, '*' array; 0: no answer
  bool nil = false;  // $-1 or *-1
  std::string str;   // status, error, bulk
  std::int64_t integer = 0;
  std::vector<RedisValue> elements;
};

// A redis-server on a loopback port (`--save "" --appendonly no`: nothing
// touches the disk). The constructor starts it and waits until it answers
// PING; stop() and start() take it down and bring it back on the SAME port
// (for restart tests); the destructor stops it.
class RedisServer {
 public:
  explicit RedisServer(const TempDir& dir);
  // With a configuration file (first argument, as --sentinel needs) and
  // extra arguments (--cluster-enabled yes, --replicaof ...); harness_redis.hpp.
  RedisServer(const TempDir& dir, std::string config_file, std::vector<std::string> extra_args);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  bool running();
  // SIGTERM, and waits until it exited: the port refuses connections then.
  void stop();
  // Starts it again on the same port; waits for PING (throws on failure).
  void start();
  // SIGSTOP / SIGCONT: a server that accepts connections and never answers.
  void freeze();
  void thaw();
  // One command on a fresh connection (binary-safe arguments); type 0 if
  // the server did not answer within `timeout`.
  RedisValue command(const std::vector<std::string>& args, Ms timeout = 5s) const;
  // KEYS pattern (sorted), EXISTS key, PTTL key.
  std::vector<std::string> keys(const std::string& pattern) const;
  bool exists(const std::string& key) const;
  std::int64_t pttl(const std::string& key) const;
  std::string log() const;

 private:
  bool launch();  // false if it exited (port taken) or never answered PING
  std::string dir_;
  std::string bin_;
  std::uint16_t port_ = 0;
  int starts_ = 0;
  std::optional<Process> proc_;
  std::string config_file_;              // harness_redis.hpp
  std::vector<std::string> extra_args_;
};

// Runs `gateway --check -c path`: exit code and combined output.
struct CheckResult {
  int exit_code;
  std::string output;
};
CheckResult gateway_check(const std::string& config_path);

struct Response {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as sent
  std::string body;
  std::optional<std::string> header(std::string_view name) const;  // case-insensitive, first
  std::size_t header_count(std::string_view name) const;
};

struct Request {
  std::string method = "GET";
  std::string url;  // full URL, e.g. "http://127.0.0.1:1234/x"
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  Ms timeout = 30s;
  bool http10 = false;
};

// libcurl; a fresh connection per call unless a Client is reused.
class Client {
 public:
  Client();
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  // On a transport error, status is 0 and the body holds curl's message.
  Response send(const Request& req);
  Response get(const std::string& url, std::vector<std::string> headers = {});

 private:
  void* curl_;
};

Response http_get(const std::string& url, std::vector<std::string> headers = {});
std::string url(std::uint16_t port, std::string_view path);
// Percent-encodes everything but unreserved characters (RFC 3986 2.3).
std::string pct(std::string_view s);

// A raw TCP connection for bytes no well-behaved client would send.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  bool send(std::string_view bytes);
  // Reads until the peer closes or `timeout` passes; returns what arrived.
  std::string read_until_close(Ms timeout = 10s);
  // Reads until `n` complete HTTP responses (Content-Length framed or
  // chunked) arrived, or timeout.
  std::string read_responses(int n, Ms timeout = 10s);
  // Reads whatever arrives within `timeout` (at least one read).
  std::string read_some(Ms timeout = 5s);
  void shutdown_write();
  bool closed_by_peer(Ms timeout = 5s);

 private:
  int fd_ = -1;
  std::string pending_;
};

// Splits a byte stream of HTTP/1.1 responses into (status line, headers, body).
struct RawResponse {
  int status = 0;
  std::string head;
  std::string body;
};
std::vector<RawResponse> parse_responses(std::string_view bytes);

// Integer field of a flat JSON object: "requests": 12 -> 12. nullopt if absent.
std::optional<std::int64_t> json_int(std::string_view json, std::string_view field);
// Value of a Prometheus sample line "name{labels} value" (labels as written).
std::optional<double> metric(std::string_view text, std::string_view series);

// Polls `pred` every 20 ms until true or timeout.
template <class Pred>
bool eventually(Pred pred, Ms timeout = 10s) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    struct timespec ts{0, 20'000'000};
    nanosleep(&ts, nullptr);
  }
  return pred();
}

// A loopback port on which nothing listens (bound, then closed: connects to
// it are refused).
std::uint16_t free_port();
// A blocking TCP connection to 127.0.0.1:port: its descriptor, -1 if refused.
int connect_loopback(std::uint16_t port);
// Whether a TCP connect to 127.0.0.1:port succeeds now.
bool can_connect(std::uint16_t port);

// A scripted upstream on an ephemeral port: records every request it gets
// (head and body, raw bytes) and answers each with `response`, keeping the
// connection open (unless the response says close). For checking exactly
// what the gateway sends upstream, which sample-service does not reflect.
class CaptureServer {
 public:
  explicit CaptureServer(std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  ~CaptureServer();
  CaptureServer(const CaptureServer&) = delete;
  CaptureServer& operator=(const CaptureServer&) = delete;
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Raw requests received so far (head including its blank line, then body).
  std::vector<std::string> requests() const;
  int connections() const { return connections_.load(); }

 private:
  void run();
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string response_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

// Value of header `name` in a raw HTTP head (request or response),
// case-insensitive, first occurrence; nullopt if absent.
std::optional<std::string> head_header(std::string_view head, std::string_view name);

// A streamed exchange through libcurl, for bodies too large to hold: the
// upload (if any) is generated on the fly from pattern_byte(offset); the
// response body is counted and, with `check_echo`, compared byte by byte
// with the same pattern.
struct StreamResult {
  long status = 0;  // 0: transport error, see error
  std::string error;
  std::vector<std::pair<std::string, std::string>> headers;
  std::uint64_t received = 0;
  bool echo_matches = true;
  std::optional<std::string> header(std::string_view name) const;
};
char pattern_byte(std::uint64_t offset);
StreamResult stream_exchange(const std::string& url, std::uint64_t upload_bytes, bool chunked_upload,
                             bool check_echo, Ms timeout = 60s);

// Field "state" of the instance with `address` in a gateway /status JSON.
std::optional<std::string> instance_state(std::string_view status_json, std::string_view address);

// Number of occurrences of `needle` in `text`.
std::size_t count_of(std::string_view text, std::string_view needle);

// An upstream block for the given services: "name:\n  instances: [...]\n" + extra lines.
std::string upstream_yaml(std::string_view name, const std::vector<const SampleService*>& services,
                          std::string_view extra = "");

}  // namespace itest
