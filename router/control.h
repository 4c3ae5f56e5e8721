// The router's HTTP control server (cpp-httplib): monitoring and route
// changes on the [control] listen address.
//
// Design note. ControlServer does not know the router: it is handed
// callbacks (ControlHandlers) and only does HTTP -- routing requests,
// parsing and checking JSON bodies, mapping Status codes to HTTP codes (in
// one place, HttpStatusFor). That keeps it testable with fakes and keeps
// the router's locking out of here: the callbacks run on the server's
// threads, up to ControlOptions::threads of them at once, and must be safe
// to call concurrently with each other and with the data plane (route
// changes are the route table's control-plane writes; reads are snapshots).
//
// Endpoints:
//   GET    /metrics  200, text/plain; version=0.0.4 (metrics.h)
//   GET    /stats    200, application/json
//   GET    /routes   200, application/json (an array)
//   POST   /routes   201 with the route echoed as JSON; body: the keys of a
//                    [[route]] table, {"prefix": "10.4.0.0/16", "via": "10.2.0.2"}
//                    and optionally "port": "b"
//   DELETE /routes   200 with the route echoed; body: "prefix" required,
//                    "via" and "port" optional (narrow the match)
// Errors: 400 for a body that is not a JSON object, a missing, unknown or
// wrongly typed key, or what the callback calls kInvalidArgument; 404 for
// kNotFound (deleting a route that is not there); 409 for kAlreadyExists and
// kFailedPrecondition; 503 for kResourceExhausted and kUnavailable; 413 for a
// body over max_body_bytes; 500 if a callback throws or returns a non-array
// for /routes. The error body is the message, text/plain, one line.
//
// Bounds (all in ControlOptions): `threads` request threads; at most
// `max_pending` accepted connections wait for one, after which the accept
// thread stops accepting and the kernel's backlog pushes back; a request
// body over `max_body_bytes` is refused unread; a connection idle or
// sending slower than `io_timeout_s` is closed. So Stop() returns within
// about io_timeout_s plus the longest callback, whatever clients do.
//
// Localhost only by default: Start refuses a listen address that is not
// loopback (127.0.0.0/8, ::1, "localhost") unless allow_remote is set. There
// is no authentication: anything that can connect can change routes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace netisr::router {

// A route as the control API carries it: the keys of a [[route]] table,
// unparsed (the route table owns prefix and address syntax and reports
// mistakes through the Status the callback returns).
struct RouteRequest {
  std::string prefix;               // "10.4.0.0/16", "fd00:4::/64"
  std::string via;                  // next hop; "" only in a DELETE that gave none
  std::optional<std::string> port;  // the [[port]] name, when given
};

// Parses a /routes body. POST needs prefix and via; DELETE (require_via =
// false) only prefix. Keys other than prefix, via and port, a missing key, a
// value that is not a string, or a body that is not a JSON object give
// kInvalidArgument naming the key.
Result<RouteRequest> ParseRouteRequest(std::string_view body, bool require_via);

// What the server calls. All five must be set. Each may be called from
// several server threads at once, never after Stop() has returned.
struct ControlHandlers {
  std::function<std::string()> metrics;         // Prometheus text (metrics.h)
  std::function<nlohmann::json()> stats;        // any JSON value
  std::function<nlohmann::json()> list_routes;  // a JSON array
  std::function<Status(const RouteRequest&)> add_route;
  std::function<Status(const RouteRequest&)> delete_route;  // kNotFound when absent
};

struct ControlOptions {
  // "HOST:PORT": "127.0.0.1:9180", "[::1]:9180", "localhost:9180". HOST is
  // an IP literal or "localhost"; PORT 0 picks a free port (see port()).
  std::string listen = "127.0.0.1:9180";
  bool allow_remote = false;  // accept a non-loopback HOST
  // Request threads, [1, 16]: the control plane is a few scrapes and route
  // changes per second; 2 lets a slow scrape not block a route change.
  int threads = 2;
  // Accepted connections waiting for a thread, [1, 1024].
  size_t max_pending = 64;
  // Request body limit in bytes, [64, 1 MiB]: a route is under 200 bytes.
  size_t max_body_bytes = 4096;
  // Per-connection read/write and keep-alive idle timeout, seconds, [1, 60].
  int io_timeout_s = 2;
};

// HTTP status for a callback's Status (200 for ok): the one mapping.
int HttpStatusFor(const Status& s);

class ControlServer {
 public:
  // Binds, then serves on its own thread. Errors: kInvalidArgument for a
  // malformed listen address, an option out of range, or a missing handler;
  // kFailedPrecondition for a non-loopback address without allow_remote;
  // kUnavailable when the address cannot be bound (in use, not local).
  static Result<std::unique_ptr<ControlServer>> Start(const ControlOptions& options,
                                                      ControlHandlers handlers);

  ~ControlServer();  // Stop()
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Stops accepting, lets requests in progress finish (bounded, see the
  // header note), joins every server thread. After it returns no callback
  // runs. Idempotent; call from one thread (not from a callback).
  void Stop();

  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }  // the bound port (the chosen one for 0)

 private:
  struct Impl;
  ControlServer(std::unique_ptr<Impl> impl, std::string host, uint16_t port);

  std::unique_ptr<Impl> impl_;
  std::string host_;
  uint16_t port_;
};

}  // namespace netisr::router
