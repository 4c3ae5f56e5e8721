// router/control.h through its public interface, over real HTTP (httplib's
// client against a server on 127.0.0.1:0): every endpoint's code, type and
// body, the JSON body checks, the Status -> HTTP mapping, the loopback-only
// default, the bounds, concurrent requests while routes change (run under
// TSan: tagged concurrency), and Stop with a request in flight.
#include "router/control.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace netisr::router {
namespace {

using namespace std::chrono_literals;

// A stand-in for the router: a route map behind a mutex, the same shape of
// answers (kInvalidArgument for a bad prefix, kAlreadyExists, kNotFound).
class FakeRouter {
 public:
  ControlHandlers Handlers() {
    ControlHandlers h;
    h.metrics = [this] {
      ++metrics_calls;
      return std::string("# HELP up_total Up.\n# TYPE up_total counter\nup_total 1\n");
    };
    h.stats = [this] { return nlohmann::json{{"routes", Size()}}; };
    h.list_routes = [this] {
      std::lock_guard lock(mu_);
      nlohmann::json a = nlohmann::json::array();
      for (const auto& [prefix, via] : routes_) a.push_back({{"prefix", prefix}, {"via", via}});
      return a;
    };
    h.add_route = [this](const RouteRequest& r) {
      if (r.prefix.find('/') == std::string::npos) {
        return Status(ErrorCode::kInvalidArgument, "bad prefix \"" + r.prefix + "\"");
      }
      std::lock_guard lock(mu_);
      if (!routes_.emplace(r.prefix, r.via).second) {
        return Status(ErrorCode::kAlreadyExists, "route " + r.prefix + " exists");
      }
      return Status::Ok();
    };
    h.delete_route = [this](const RouteRequest& r) {
      std::lock_guard lock(mu_);
      if (routes_.erase(r.prefix) == 0) {
        return Status(ErrorCode::kNotFound, "no route " + r.prefix);
      }
      return Status::Ok();
    };
    return h;
  }
  size_t Size() {
    std::lock_guard lock(mu_);
    return routes_.size();
  }
  std::atomic<int> metrics_calls{0};

 private:
  std::mutex mu_;
  std::map<std::string, std::string> routes_;  // guarded by mu_
};

ControlOptions Local() {
  ControlOptions o;
  o.listen = "127.0.0.1:0";
  return o;
}

std::unique_ptr<ControlServer> StartOrDie(ControlHandlers h, ControlOptions o = Local()) {
  auto s = ControlServer::Start(o, std::move(h));
  EXPECT_TRUE(s.ok()) << s.status().message();
  return s.ok() ? std::move(s).value() : nullptr;
}

httplib::Client ClientFor(const ControlServer& s) {
  httplib::Client c(s.host(), s.port());
  c.set_connection_timeout(5);
  c.set_read_timeout(10);
  return c;
}

constexpr const char* kJson = "application/json";

TEST(ControlServer, ServesEveryEndpoint) {
  FakeRouter router;
  auto server = StartOrDie(router.Handlers());
  ASSERT_TRUE(server);
  EXPECT_EQ(server->host(), "127.0.0.1");
  EXPECT_NE(server->port(), 0) << "port 0 must report the chosen port";
  auto c = ClientFor(*server);

  auto m = c.Get("/metrics");
  ASSERT_TRUE(m) << httplib::to_string(m.error());
  EXPECT_EQ(m->status, 200);
  EXPECT_EQ(m->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  EXPECT_NE(m->body.find("up_total 1\n"), std::string::npos);

  auto st = c.Get("/stats");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, 200);
  EXPECT_EQ(st->get_header_value("Content-Type"), kJson);
  EXPECT_EQ(nlohmann::json::parse(st->body)["routes"], 0);

  auto post = c.Post("/routes", R"({"prefix": "10.4.0.0/16", "via": "10.2.0.2"})", kJson);
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 201);
  EXPECT_EQ(nlohmann::json::parse(post->body),
            (nlohmann::json{{"prefix", "10.4.0.0/16"}, {"via", "10.2.0.2"}}));

  auto list = c.Get("/routes");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  EXPECT_EQ(list->get_header_value("Content-Type"), kJson);
  EXPECT_EQ(nlohmann::json::parse(list->body),
            nlohmann::json::parse(R"([{"prefix": "10.4.0.0/16", "via": "10.2.0.2"}])"));

  auto dup = c.Post("/routes", R"({"prefix": "10.4.0.0/16", "via": "10.2.0.2"})", kJson);
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->status, 409);
  EXPECT_EQ(dup->body, "route 10.4.0.0/16 exists\n");

  auto del = c.Delete("/routes", R"({"prefix": "10.4.0.0/16"})", kJson);
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  EXPECT_EQ(router.Size(), 0u);

  auto gone = c.Delete("/routes", R"({"prefix": "10.4.0.0/16", "via": "10.2.0.2"})", kJson);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
  EXPECT_EQ(gone->body, "no route 10.4.0.0/16\n");
  EXPECT_EQ(gone->get_header_value("Content-Type"), "text/plain");

  auto unknown = c.Get("/nothing");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

TEST(ControlServer, BadBodiesGetA400NamingWhatIsWrong) {
  FakeRouter router;
  auto server = StartOrDie(router.Handlers());
  ASSERT_TRUE(server);
  auto c = ClientFor(*server);
  struct Case {
    const char* method;
    const char* body;
    const char* message;
  };
  const Case cases[] = {
      {"POST", "{\"prefix\": ", "body is not valid JSON\n"},
      {"POST", "", "body is not valid JSON\n"},
      {"POST", R"(["10.4.0.0/16"])",
       "body must be a JSON object with the keys of a [[route]] table\n"},
      {"POST", R"({"prefix": "10.4.0.0/16"})", "missing key \"via\"\n"},
      {"POST", R"({"via": "10.2.0.2"})", "missing key \"prefix\"\n"},
      {"DELETE", R"({"via": "10.2.0.2"})", "missing key \"prefix\"\n"},
      {"POST", R"({"prefix": "10.4.0.0/16", "via": "10.2.0.2", "metric": "1"})",
       "unknown key \"metric\" (a route has prefix, via and port)\n"},
      {"POST", R"({"prefix": 167772160, "via": "10.2.0.2"})",
       "key \"prefix\" must be a string, not number\n"},
      {"DELETE", R"({"prefix": "10.4.0.0/16", "port": 1})",
       "key \"port\" must be a string, not number\n"},
      // The callback's own kInvalidArgument, message passed through.
      {"POST", R"({"prefix": "10.4.0.0", "via": "10.2.0.2"})", "bad prefix \"10.4.0.0\"\n"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(std::string(k.method) + " " + k.body);
    auto r = std::string(k.method) == "POST" ? c.Post("/routes", k.body, kJson)
                                             : c.Delete("/routes", k.body, kJson);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(r->body, k.message);
  }
  EXPECT_EQ(router.Size(), 0u) << "a refused request changed nothing";
}

TEST(ControlServer, PortNameIsPassedThrough) {
  RouteRequest seen;
  FakeRouter router;
  ControlHandlers h = router.Handlers();
  h.add_route = [&seen](const RouteRequest& r) {
    seen = r;
    return Status::Ok();
  };
  auto server = StartOrDie(std::move(h));
  ASSERT_TRUE(server);
  auto c = ClientFor(*server);
  auto r =
      c.Post("/routes", R"({"prefix": "fd00:4::/64", "via": "fd00:2::2", "port": "b"})", kJson);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  server->Stop();  // joins the handler thread: `seen` is safe to read
  EXPECT_EQ(seen.prefix, "fd00:4::/64");
  EXPECT_EQ(seen.via, "fd00:2::2");
  ASSERT_TRUE(seen.port.has_value());
  EXPECT_EQ(*seen.port, "b");
}

TEST(ControlServer, StatusCodesMapInOnePlace) {
  EXPECT_EQ(HttpStatusFor(Status::Ok()), 200);
  EXPECT_EQ(HttpStatusFor(Status(ErrorCode::kInvalidArgument, "")), 400);
  EXPECT_EQ(HttpStatusFor(Status(ErrorCode::kNotFound, "")), 404);
  EXPECT_EQ(HttpStatusFor(Status(ErrorCode::kAlreadyExists, "")), 409);
  EXPECT_EQ(HttpStatusFor(Status(ErrorCode::kFailedPrecondition, "")), 409);
  EXPECT_EQ(HttpStatusFor(Status(ErrorCode::kResourceExhausted, "")), 503);
  EXPECT_EQ(HttpStatusFor(Status(ErrorCode::kUnavailable, "")), 503);

  FakeRouter router;
  ControlHandlers h = router.Handlers();
  h.add_route = [](const RouteRequest&) {
    return Status(ErrorCode::kResourceExhausted, "route table full (1024 routes)");
  };
  auto server = StartOrDie(std::move(h));
  ASSERT_TRUE(server);
  auto c = ClientFor(*server);
  auto r = c.Post("/routes", R"({"prefix": "10.4.0.0/16", "via": "10.2.0.2"})", kJson);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "route table full (1024 routes)\n");
}

TEST(ControlServer, CallbackFailuresAre500) {
  FakeRouter router;
  ControlHandlers h = router.Handlers();
  h.stats = []() -> nlohmann::json { throw std::runtime_error("snapshot failed"); };
  h.list_routes = [] { return nlohmann::json{{"not", "an array"}}; };
  auto server = StartOrDie(std::move(h));
  ASSERT_TRUE(server);
  auto c = ClientFor(*server);
  auto s = c.Get("/stats");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, 500);
  EXPECT_NE(s->body.find("snapshot failed"), std::string::npos) << s->body;
  auto l = c.Get("/routes");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->status, 500);
  // The server still serves after a failed callback.
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
}

TEST(ControlServer, BodyOverTheLimitIsRefused) {
  FakeRouter router;
  ControlOptions o = Local();
  o.max_body_bytes = 256;
  auto server = StartOrDie(router.Handlers(), o);
  ASSERT_TRUE(server);
  auto c = ClientFor(*server);
  std::string body = R"({"prefix": "10.4.0.0/16", "via": ")" + std::string(300, 'x') + "\"}";
  auto r = c.Post("/routes", body, kJson);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(router.Size(), 0u);
}

TEST(ControlServer, LoopbackOnlyUnlessAllowRemote) {
  FakeRouter router;
  for (const char* addr : {"0.0.0.0:0", "[::]:0", "192.0.2.1:9180"}) {
    ControlOptions o;
    o.listen = addr;
    auto s = ControlServer::Start(o, router.Handlers());
    ASSERT_FALSE(s.ok()) << addr;
    EXPECT_EQ(s.status().code(), ErrorCode::kFailedPrecondition) << addr;
    EXPECT_NE(s.status().message().find("allow_remote"), std::string::npos) << s.status().message();
  }
  for (const char* addr : {"127.0.0.1:0", "127.1.2.3:0", "localhost:0"}) {
    ControlOptions o;
    o.listen = addr;
    auto s = ControlServer::Start(o, router.Handlers());
    EXPECT_TRUE(s.ok()) << addr << ": " << s.status().message();
  }
  ControlOptions o;
  o.listen = "0.0.0.0:0";
  o.allow_remote = true;
  auto s = ControlServer::Start(o, router.Handlers());
  ASSERT_TRUE(s.ok()) << s.status().message();
  httplib::Client c("127.0.0.1", (*s)->port());
  c.set_connection_timeout(5);
  auto r = c.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(ControlServer, BadOptionsAreNamed) {
  FakeRouter router;
  struct Case {
    std::string listen;
    std::string fragment;
  };
  const Case cases[] = {
      {"127.0.0.1", "expected HOST:PORT"},
      {"127.0.0.1:99999", "port \"99999\" is not a number in [0, 65535]"},
      {"127.0.0.1:http", "port \"http\""},
      {"127.0.0.1:", "port \"\""},
      {"::1:9180", "in brackets"},
      {"[::1]9180", "expected [IPV6]:PORT"},
      {"router.example:9180", "host \"router.example\" is not an IP address"},
  };
  for (const Case& k : cases) {
    ControlOptions o;
    o.listen = k.listen;
    auto s = ControlServer::Start(o, router.Handlers());
    ASSERT_FALSE(s.ok()) << k.listen;
    EXPECT_EQ(s.status().code(), ErrorCode::kInvalidArgument) << k.listen;
    EXPECT_NE(s.status().message().find(k.fragment), std::string::npos)
        << k.listen << ": " << s.status().message();
  }
  ControlOptions o = Local();
  o.threads = 0;
  EXPECT_NE(ControlServer::Start(o, router.Handlers()).status().message().find("threads 0"),
            std::string::npos);
  o = Local();
  o.max_body_bytes = 1;
  EXPECT_EQ(ControlServer::Start(o, router.Handlers()).status().code(),
            ErrorCode::kInvalidArgument);
  ControlHandlers h = router.Handlers();
  h.delete_route = nullptr;
  auto s = ControlServer::Start(Local(), std::move(h));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "control handler delete_route is not set");
}

TEST(ControlServer, AddressInUseIsUnavailable) {
  FakeRouter router;
  auto first = StartOrDie(router.Handlers());
  ASSERT_TRUE(first);
  ControlOptions o;
  o.listen = "127.0.0.1:" + std::to_string(first->port());
  auto second = ControlServer::Start(o, router.Handlers());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(second.status().message().find(o.listen), std::string::npos)
      << second.status().message();
}

// Scrapes and route listings from several clients while another adds and
// deletes routes: every answer is well formed and the routes end as they
// should. Under TSan this checks the server's threads and the handlers.
TEST(ControlServer, ConcurrentRequestsWhileRoutesChange) {
  FakeRouter router;
  ControlOptions o = Local();
  o.threads = 4;
  auto server = StartOrDie(router.Handlers(), o);
  ASSERT_TRUE(server);
  constexpr int kReaders = 3;
  constexpr int kRounds = 40;
  std::atomic<int> bad{0};
  std::atomic<bool> writer_done{false};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    auto c = ClientFor(*server);
    for (int i = 0; i < kRounds; ++i) {
      const std::string prefix = "10." + std::to_string(i) + ".0.0/16";
      const std::string body = R"({"prefix": ")" + prefix + R"(", "via": "10.2.0.2"})";
      auto a = c.Post("/routes", body, kJson);
      if (!a || a->status != 201) ++bad;
      if (i % 2 == 0) {  // keep the odd ones
        auto d = c.Delete("/routes", body, kJson);
        if (!d || d->status != 200) ++bad;
      }
    }
    writer_done = true;
  });
  for (int t = 0; t < kReaders; ++t) {
    threads.emplace_back([&] {
      auto c = ClientFor(*server);
      for (int i = 0; i < kRounds * 2 && !writer_done; ++i) {
        auto l = c.Get("/routes");
        if (!l || l->status != 200 || !nlohmann::json::parse(l->body).is_array()) ++bad;
        auto m = c.Get("/metrics");
        if (!m || m->status != 200) ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  auto c = ClientFor(*server);
  auto l = c.Get("/routes");
  ASSERT_TRUE(l);
  EXPECT_EQ(nlohmann::json::parse(l->body).size(), static_cast<size_t>(kRounds / 2));
}

// Stop() while a handler is running returns once it finishes (bounded, no
// hang), and no handler runs after it.
TEST(ControlServer, StopWithARequestInFlight) {
  FakeRouter router;
  std::promise<void> entered;
  std::atomic<bool> release{false};
  std::atomic<int> calls_after_stop{0};
  std::atomic<bool> stopped{false};
  ControlHandlers h = router.Handlers();
  h.metrics = [&] {
    if (stopped) ++calls_after_stop;
    entered.set_value();
    // Bounded: released by the test, or gives up after 5 s.
    for (int i = 0; i < 500 && !release; ++i) std::this_thread::sleep_for(10ms);
    return std::string("up 1\n");
  };
  auto server = StartOrDie(std::move(h));
  ASSERT_TRUE(server);
  const uint16_t port = server->port();
  auto client = std::async(std::launch::async, [&] {
    auto c = ClientFor(*server);
    auto r = c.Get("/metrics");
    return r ? r->status : -1;
  });
  ASSERT_EQ(entered.get_future().wait_for(10s), std::future_status::ready);
  auto stop = std::async(std::launch::async, [&] {
    server->Stop();
    stopped = true;
  });
  // Stop waits for the handler...
  EXPECT_EQ(stop.wait_for(200ms), std::future_status::timeout);
  release = true;
  // ...and then returns promptly.
  ASSERT_EQ(stop.wait_for(10s), std::future_status::ready) << "Stop() hung";
  ASSERT_EQ(client.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(client.get(), 200) << "the request in flight was answered";
  server->Stop();  // idempotent
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(1);
  EXPECT_FALSE(c.Get("/metrics")) << "still serving after Stop()";
  EXPECT_EQ(calls_after_stop.load(), 0);
}

// An idle keep-alive connection does not hold Stop() up.
TEST(ControlServer, StopWithAnIdleKeepAliveConnection) {
  FakeRouter router;
  auto server = StartOrDie(router.Handlers());
  ASSERT_TRUE(server);
  auto c = ClientFor(*server);
  c.set_keep_alive(true);
  auto r = c.Get("/metrics");
  ASSERT_TRUE(r);
  auto stop = std::async(std::launch::async, [&] { server->Stop(); });
  ASSERT_EQ(stop.wait_for(10s), std::future_status::ready) << "Stop() hung";
}

}  // namespace
}  // namespace netisr::router
