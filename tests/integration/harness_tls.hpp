// The integration harness's TLS part: test certificates made with
// `openssl req` at test time (never kept), `openssl s_client` and curl run
// as child processes, a gateway whose listen entries the test writes
// (TLS ones among them), and an in-process TLS client that holds its
// connection open across steps of a test.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"

namespace itest {

// Runs argv with `input` on its stdin until it exits (killed after
// `timeout`): its exit code (-1 if killed) and its stdout and stderr.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult run_command(const TempDir& dir, const std::vector<std::string>& argv, std::string_view input = {},
                          Ms timeout = 30s);

// A test CA and the certificates it signs, as PEM files in a directory
// (EC P-256, valid two days, made with `openssl req`).
class TestPki {
 public:
  // Makes the CA in dir/<prefix>ca.pem and .key ("Test CA <prefix>").
  explicit TestPki(const TempDir& dir, std::string prefix = "");
  struct Files {
    std::string cert, key;
  };
  // A certificate for `names` (subjectAltName DNS entries; the common
  // name is the first), signed by the CA, in dir/<prefix><file>.pem/.key.
  Files issue(const std::string& file, const std::vector<std::string>& names);
  const std::string& ca() const { return ca_cert_; }

 private:
  const TempDir& dir_;
  std::string prefix_;
  std::string ca_cert_, ca_key_;
};

// `openssl s_client` to 127.0.0.1:port with SNI `server_name` (none if
// empty) and `extra` arguments; `input` is sent once connected, and it
// waits for the server to close (-ign_eof).
CommandResult s_client(const TempDir& dir, std::uint16_t port, const std::string& server_name,
                       const std::vector<std::string>& extra, std::string_view input);
// From s_client's output: the server certificate's common name ("" if
// none was sent), whether the session was resumed, and the protocol.
std::string s_client_subject_cn(const std::string& output);
bool s_client_reused(const std::string& output);
std::string s_client_protocol(const std::string& output);  // "TLSv1.3", or ""

// curl --http1.1 https://NAME:PORT/PATH, NAME resolved to 127.0.0.1
// (--resolve), trusting `ca`: status, headers and body, or status 0.
Response curl_https(const TempDir& dir, std::uint16_t port, const std::string& name, std::string_view path,
                    const std::string& ca, const std::vector<std::string>& extra = {});

// curl -sS with `args` (after its own options) for `url`: status, headers
// and body, or status 0 with curl's message as the body.
Response curl(const TempDir& dir, const std::vector<std::string>& args, const std::string& url);

// A gateway with the listen entries given as YAML (`listen: ...` lines),
// and admin on port 0. The harness's Gateway has one plain listener.
class EdgeGateway {
 public:
  EdgeGateway(const TempDir& dir, std::string listen_yaml, const std::string& yaml, std::string name = "edge");
  ~EdgeGateway();  // stops it and checks its error log for sanitizer reports
  EdgeGateway(const EdgeGateway&) = delete;
  EdgeGateway& operator=(const EdgeGateway&) = delete;
  // The port of the i-th listen entry, in the order of the file.
  std::uint16_t port(std::size_t i = 0) const { return ports_.at(i); }
  std::uint16_t admin_port() const { return admin_port_; }
  Process& process() { return proc_; }
  std::string access_log() const { return proc_.out(); }
  std::string error_log() const { return proc_.err(); }
  std::string metrics() const;
  // A new configuration: these listen entries (the same addresses, in
  // the same order), admin on port 0 as before, and `yaml`; SIGHUP
  // applies it.
  void rewrite_config(const std::string& listen_yaml, const std::string& yaml);

 private:
  std::string config_path_;
  std::string listen_yaml_;
  Process proc_;
  std::vector<std::uint16_t> ports_;
  std::uint16_t admin_port_ = 0;
};

// A TLS client in the test process, over a blocking socket: the handshake
// in the constructor, then requests and responses on the same connection.
class TlsClient {
 public:
  struct Options {
    std::string server_name;  // SNI; empty: none
    std::string ca;           // verify against this CA (and the name); empty: no verification
    SSL_SESSION* session = nullptr;  // to resume
    int max_version = 0;      // e.g. TLS1_2_VERSION; 0: any
  };
  // `preface`: bytes sent in clear before the handshake (a PROXY protocol header).
  TlsClient(std::uint16_t port, const Options& options, std::string_view preface = {});
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  bool connected() const { return connected_; }
  const std::string& error() const { return error_; }
  std::string peer_cn() const;
  bool resumed() const;
  std::string version() const;
  // The session to resume with (its ticket arrives with the first
  // response under TLS 1.3); owned by the caller.
  struct SessionFree {
    void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
  };
  std::unique_ptr<SSL_SESSION, SessionFree> session() const;

  bool send(std::string_view bytes);
  // Reads until `n` whole HTTP responses arrived (or timeout, or close).
  std::vector<RawResponse> read_responses(int n, Ms timeout = 10s);
  // A GET with Host `host`; its response (status 0 if none).
  RawResponse get(std::string_view path, std::string_view host = "localhost");

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
  std::string error_;
  std::string pending_;
};

}  // namespace itest
