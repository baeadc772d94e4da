// sample-service's live chat: a WebSocket endpoint (GET /chat/ws, Boost.Beast)
// where every text message a client sends goes back to it and to every other
// client connected to this instance, as JSON:
//   {"from":"alice","text":"hi","instance":"chat-9004"}
// `from` is the `name` query parameter given when connecting (else
// "viewer-N"). What the demo page's chat widget talks to through the
// gateway's tunnel, and what the WebSocket integration tests echo and
// broadcast through.
//
// Threads: a session lives on the thread that accepted its connection; the
// room (the set of sessions) is shared by all threads under a mutex, and a
// broadcast posts the message to each session's own executor, where it
// queues for that session's single writer.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <string_view>

#include "base/http/message.hpp"

namespace bench::chat {

// GET /chat/ws (or below it) asking for a WebSocket.
bool is_chat_upgrade(const gateway::http::Request& req);

// Takes the connection over: answers the already parsed opening handshake
// `req` (101, or 400 if it is not a valid one), then runs the chat on it.
// `instance_json` is the instance name, JSON-escaped.
void start(boost::asio::ip::tcp::socket socket, const gateway::http::Request& req, std::string instance_json);

}  // namespace bench::chat
