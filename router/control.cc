#include "router/control.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace netisr::router {
namespace {

constexpr const char* kMetricsType = "text/plain; version=0.0.4";
constexpr const char* kJsonType = "application/json";
constexpr const char* kTextType = "text/plain";

// httplib's own ThreadPool queues accepted connections without bound; this
// one blocks the accept thread instead once max_pending wait, so a flood of
// connections backs up into the kernel's listen backlog, not into memory.
// enqueue and shutdown are called by httplib's accept thread only.
class BoundedPool : public httplib::TaskQueue {
 public:
  BoundedPool(int threads, size_t max_pending) : max_pending_(max_pending) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~BoundedPool() override = default;

  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return jobs_.size() < max_pending_; });
    jobs_.push_back(std::move(fn));
    lock.unlock();
    not_empty_.notify_one();
  }

  // Runs what is queued (each job is an accepted socket that must be
  // closed), then joins.
  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      shutdown_ = true;
    }
    not_empty_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  void Run() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mu_);
        not_empty_.wait(lock, [&] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;  // shutdown_ and nothing left
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      not_full_.notify_one();
      fn();
    }
  }

  const size_t max_pending_;
  std::mutex mu_;
  std::condition_variable not_empty_;       // a job was queued, or shutdown_
  std::condition_variable not_full_;        // a job was taken
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool shutdown_ = false;                   // guarded by mu_
  std::vector<std::thread> threads_;        // written by the constructor only
};

Status Invalid(std::string msg) { return Status(ErrorCode::kInvalidArgument, std::move(msg)); }

void SendError(httplib::Response& res, int code, const std::string& message) {
  res.status = code;
  res.set_content(message + "\n", kTextType);
}

void SendStatus(httplib::Response& res, const Status& s) {
  SendError(res, HttpStatusFor(s), s.message());
}

nlohmann::json RouteJson(const RouteRequest& r) {
  nlohmann::json j = {{"prefix", r.prefix}};
  if (!r.via.empty()) j["via"] = r.via;
  if (r.port) j["port"] = *r.port;
  return j;
}

struct ListenAddress {
  std::string host;  // what to bind ("localhost" becomes 127.0.0.1)
  uint16_t port = 0;
  bool loopback = false;
};

Result<ListenAddress> ParseListen(std::string_view listen) {
  const std::string what = "control listen address \"" + std::string(listen) + "\"";
  std::string_view host;
  std::string_view port;
  if (listen.starts_with("[")) {
    const size_t close = listen.find(']');
    if (close == std::string_view::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return Invalid(what + ": expected [IPV6]:PORT");
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos) return Invalid(what + ": expected HOST:PORT");
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return Invalid(what + ": an IPv6 address goes in brackets, [::1]:PORT");
    }
  }
  ListenAddress out;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return Invalid(what + ": port \"" + std::string(port) + "\" is not a number in [0, 65535]");
  }
  out.port = static_cast<uint16_t>(value);
  const std::string h(host);
  in_addr v4{};
  in6_addr v6{};
  if (h == "localhost") {
    out.host = "127.0.0.1";
    out.loopback = true;
  } else if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    out.host = h;
    out.loopback = (ntohl(v4.s_addr) >> 24) == 127;
  } else if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    out.host = h;
    out.loopback = IN6_IS_ADDR_LOOPBACK(&v6);
  } else {
    return Invalid(what + ": host \"" + h + "\" is not an IP address or \"localhost\"");
  }
  return out;
}

}  // namespace

int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case ErrorCode::kOk:
      return 200;
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kResourceExhausted:
    case ErrorCode::kUnavailable:
      return 503;
  }
  return 500;
}

Result<RouteRequest> ParseRouteRequest(std::string_view body, bool require_via) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Invalid("body is not valid JSON");
  if (!j.is_object()) {
    return Invalid("body must be a JSON object with the keys of a [[route]] table");
  }
  RouteRequest r;
  bool have_prefix = false;
  bool have_via = false;
  for (const auto& [key, value] : j.items()) {
    if (key != "prefix" && key != "via" && key != "port") {
      return Invalid("unknown key \"" + key + "\" (a route has prefix, via and port)");
    }
    if (!value.is_string()) {
      return Invalid("key \"" + key + "\" must be a string, not " + value.type_name());
    }
    if (key == "prefix") {
      r.prefix = value.get<std::string>();
      have_prefix = true;
    } else if (key == "via") {
      r.via = value.get<std::string>();
      have_via = true;
    } else {
      r.port = value.get<std::string>();
    }
  }
  if (!have_prefix) return Invalid("missing key \"prefix\"");
  if (require_via && !have_via) return Invalid("missing key \"via\"");
  return r;
}

struct ControlServer::Impl {
  httplib::Server server;
  ControlHandlers handlers;
  std::thread thread;
  std::atomic<bool> done{false};  // release by the thread on exit, acquire by Start
  std::once_flag stop_once;
};

ControlServer::ControlServer(std::unique_ptr<Impl> impl, std::string host, uint16_t port)
    : impl_(std::move(impl)), host_(std::move(host)), port_(port) {}

ControlServer::~ControlServer() { Stop(); }

void ControlServer::Stop() {
  if (!impl_) return;
  std::call_once(impl_->stop_once, [this] {
    impl_->server.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
  });
}

Result<std::unique_ptr<ControlServer>> ControlServer::Start(const ControlOptions& options,
                                                            ControlHandlers handlers) {
  Result<ListenAddress> addr = ParseListen(options.listen);
  if (!addr.ok()) return addr.status();
  if (!addr->loopback && !options.allow_remote) {
    return Status(ErrorCode::kFailedPrecondition,
                  "control listen address \"" + options.listen +
                      "\" is not loopback; the control API has no authentication, so "
                      "listening beyond localhost needs allow_remote");
  }
  if (options.threads < 1 || options.threads > 16) {
    return Invalid("control threads " + std::to_string(options.threads) + " out of range [1, 16]");
  }
  if (options.max_pending < 1 || options.max_pending > 1024) {
    return Invalid("control max_pending " + std::to_string(options.max_pending) +
                   " out of range [1, 1024]");
  }
  if (options.max_body_bytes < 64 || options.max_body_bytes > (1u << 20)) {
    return Invalid("control max_body_bytes " + std::to_string(options.max_body_bytes) +
                   " out of range [64, 1048576]");
  }
  if (options.io_timeout_s < 1 || options.io_timeout_s > 60) {
    return Invalid("control io_timeout_s " + std::to_string(options.io_timeout_s) +
                   " out of range [1, 60]");
  }
  for (const auto& [name, set] :
       {std::pair<const char*, bool>{"metrics", static_cast<bool>(handlers.metrics)},
        {"stats", static_cast<bool>(handlers.stats)},
        {"list_routes", static_cast<bool>(handlers.list_routes)},
        {"add_route", static_cast<bool>(handlers.add_route)},
        {"delete_route", static_cast<bool>(handlers.delete_route)}}) {
    if (!set) return Invalid(std::string("control handler ") + name + " is not set");
  }

  auto impl = std::make_unique<Impl>();
  impl->handlers = std::move(handlers);
  httplib::Server& svr = impl->server;
  const int threads = options.threads;
  const size_t max_pending = options.max_pending;
  svr.new_task_queue = [threads, max_pending] { return new BoundedPool(threads, max_pending); };
  // httplib's default also sets SO_REUSEPORT, which would let a second
  // router bind the same control port and share its requests: only
  // SO_REUSEADDR (a restart may rebind while old connections linger).
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  svr.set_payload_max_length(options.max_body_bytes);
  svr.set_read_timeout(options.io_timeout_s);
  svr.set_write_timeout(options.io_timeout_s);
  svr.set_keep_alive_timeout(options.io_timeout_s);
  svr.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        SendError(res, 500, "internal error: " + what);
      });

  const ControlHandlers* h = &impl->handlers;  // lives as long as the server
  svr.Get("/metrics", [h](const httplib::Request&, httplib::Response& res) {
    res.set_content(h->metrics(), kMetricsType);
  });
  svr.Get("/stats", [h](const httplib::Request&, httplib::Response& res) {
    res.set_content(h->stats().dump() + "\n", kJsonType);
  });
  svr.Get("/routes", [h](const httplib::Request&, httplib::Response& res) {
    nlohmann::json routes = h->list_routes();
    if (!routes.is_array()) {
      SendError(res, 500, "internal error: the route list is not a JSON array");
      return;
    }
    res.set_content(routes.dump() + "\n", kJsonType);
  });
  svr.Post("/routes", [h](const httplib::Request& req, httplib::Response& res) {
    Result<RouteRequest> r = ParseRouteRequest(req.body, /*require_via=*/true);
    if (!r.ok()) return SendStatus(res, r.status());
    Status s = h->add_route(*r);
    if (!s.ok()) return SendStatus(res, s);
    res.status = 201;
    res.set_content(RouteJson(*r).dump() + "\n", kJsonType);
  });
  svr.Delete("/routes", [h](const httplib::Request& req, httplib::Response& res) {
    Result<RouteRequest> r = ParseRouteRequest(req.body, /*require_via=*/false);
    if (!r.ok()) return SendStatus(res, r.status());
    Status s = h->delete_route(*r);
    if (!s.ok()) return SendStatus(res, s);
    res.status = 200;
    res.set_content(RouteJson(*r).dump() + "\n", kJsonType);
  });

  int port = addr->port;
  errno = 0;
  if (port == 0) {
    port = svr.bind_to_any_port(addr->host);
    if (port < 0) port = -1;
  } else if (!svr.bind_to_port(addr->host, port)) {
    port = -1;
  }
  if (port < 0) {
    return Status(ErrorCode::kUnavailable,
                  "cannot listen on control address \"" + options.listen +
                      "\": " + (errno != 0 ? std::strerror(errno) : "bind failed"));
  }

  Impl* raw = impl.get();
  raw->thread = std::thread([raw] {
    raw->server.listen_after_bind();
    raw->done.store(true, std::memory_order_release);
  });
  // httplib's stop() does nothing until the accept loop has marked itself
  // running: wait for that (or for the loop to have failed), so that a
  // Stop() right after Start() cannot miss it and hang in join.
  for (int i = 0;
       i < 10000 && !raw->server.is_running() && !raw->done.load(std::memory_order_acquire); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!raw->server.is_running()) {
    // The loop ended on its own (it failed) or never marked itself running:
    // stop() takes effect only once it has, so keep asking until it is done.
    while (!raw->done.load(std::memory_order_acquire)) {
      raw->server.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    raw->thread.join();
    return Status(ErrorCode::kUnavailable,
                  "control server on \"" + options.listen + "\" did not start");
  }
  return std::unique_ptr<ControlServer>(
      new ControlServer(std::move(impl), addr->host, static_cast<uint16_t>(port)));
}

}  // namespace netisr::router
