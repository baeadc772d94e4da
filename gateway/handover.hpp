// Listening sockets handed from a running gateway to the binary that
// replaces it (SIGUSR2, see binary_upgrade.hpp), as HAProxy's -x and Envoy's
// hot restart do: over a Unix socket pair the old process creates and the
// new one inherits (its number in GATEWAY_UPGRADE_FD), one SEQPACKET record
// per socket with the descriptor attached (SCM_RIGHTS), then an empty record
// for "that was all". The new process answers "ready <pid>" on the same
// channel once it serves.
//
// Why SCM_RIGHTS rather than nginx's inherited descriptors: the set passed is
// explicit (every other descriptor of the old process is closed before exec,
// so no client or upstream connection leaks into the new process and stays
// open there), each socket travels with the listen entry it serves, and the
// same channel carries the readiness answer back.
//
// Threads: everything here runs on the main thread, before the workers
// start (the new process) or between signals (the old one).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gateway {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr const char* kUpgradeFdVariable = "GATEWAY_UPGRADE_FD";

// A listening socket and the listen entry it serves.
struct HandedSocket {
  bool admin = false;
  std::string text;  // the entry as configured ("127.0.0.1:0", "[::]:443")
  int fd = -1;
};

// One record's text: "admin <text>" or "public <text>"; decode is its inverse
// (nullopt for anything else).
std::string encode_record(const HandedSocket& s);
std::optional<HandedSocket> decode_record(std::string_view text);

// Which of `handed` sockets (of one listen entry) each of `workers` workers
// accepts on: socket k goes to worker k % workers, so every handed socket
// stays in use when there are fewer workers than before; a worker left
// without one (more workers than before) binds a new SO_REUSEPORT socket.
std::vector<std::vector<std::size_t>> assign_sockets(std::size_t handed, std::size_t workers);

// Sends every socket on `channel`, then the end record. False with `error`.
bool send_sockets(int channel, const std::vector<HandedSocket>& sockets, std::string& error);

// The new process's side: the sockets received, taken by listen entry.
class Inherited {
 public:
  Inherited() = default;
  ~Inherited();
  Inherited(Inherited&&) noexcept;
  Inherited& operator=(Inherited&&) = delete;
  Inherited(const Inherited&) = delete;

  // If GATEWAY_UPGRADE_FD is set: takes that channel (and unsets the
  // variable) and receives the sockets. False with `error` on a broken
  // channel; not an upgrade (upgrading() false) if the variable is unset.
  bool receive_from_environment(std::string& error);
  bool upgrading() const noexcept { return channel_ >= 0; }

  // The sockets of the entry configured as `text`, or bound to `ep` (a port
  // other than 0), removed from the set: this process owns them now.
  std::vector<int> take(bool admin, const std::string& text, const tcp::endpoint& ep);
  // Closes the sockets no entry took (a listener removed from the file): the
  // old process still holds its copies until it exits. Returns their texts.
  std::vector<std::string> close_unused();
  // Tells the old process this one serves, and closes the channel.
  void ready();

 private:
  int channel_ = -1;
  std::vector<HandedSocket> sockets_;
};

// The acceptors of one listen entry for each worker (`ios`, in worker
// order): the handed sockets of `inherited` first (assign_sockets), then new
// ones made by `bind` on `ep` (its port resolved once the first is bound).
// Admin: only ios[0] is given one.
using BindAcceptor = std::function<tcp::acceptor(asio::io_context&, const tcp::endpoint&)>;
std::vector<std::vector<tcp::acceptor>> listen_on(const std::vector<asio::io_context*>& ios, tcp::endpoint ep,
                                                  const std::string& text, bool admin, Inherited* inherited,
                                                  const BindAcceptor& bind);

}  // namespace gateway
