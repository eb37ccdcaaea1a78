// Specification of the metrics endpoint: the request parser reads only the request line, refuses
// malformed and oversized requests, and the server answers GET /metrics over a real socket.
#include "base/metrics_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace pgpitr::base {
namespace {

using State = HttpRequest::State;

TEST(HttpRequestParser, GetWithHeadersIsComplete) {
  HttpRequest r = ParseHttpRequest("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
  EXPECT_EQ(r.state, State::kComplete);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/metrics");
}

TEST(HttpRequestParser, BareNewlinesAndQueryStringAreAccepted) {
  HttpRequest r = ParseHttpRequest("GET /metrics?x=1 HTTP/1.0\n\n");
  EXPECT_EQ(r.state, State::kComplete);
  EXPECT_EQ(r.path, "/metrics");
}

TEST(HttpRequestParser, PartialRequestNeedsMore) {
  EXPECT_EQ(ParseHttpRequest("").state, State::kNeedMore);
  EXPECT_EQ(ParseHttpRequest("GET /metr").state, State::kNeedMore);
  EXPECT_EQ(ParseHttpRequest("GET /metrics HTTP/1.1\r\nHost: x\r\n").state, State::kNeedMore);
}

TEST(HttpRequestParser, MalformedRequestLinesAreRefused) {
  for (const char* bad : {"GET\r\n\r\n", "GET /metrics\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n",
                          "GET /metrics HTTP/2.0\r\n\r\n", "GET /a b HTTP/1.1\r\n\r\n", " /metrics HTTP/1.1\r\n\r\n",
                          "G3T /metrics HTTP/1.1\r\n\r\n", "\x16\x03\x01\x02", "GET /\x01 HTTP/1.1\r\n\r\n"}) {
    EXPECT_EQ(ParseHttpRequest(bad).state, State::kMalformed) << bad;
  }
}

TEST(HttpRequestParser, OversizedRequestIsRefused) {
  std::string big = "GET /metrics HTTP/1.1\r\nX: " + std::string(kMaxHttpRequestBytes, 'a');
  EXPECT_EQ(ParseHttpRequest(big).state, State::kMalformed);
  EXPECT_EQ(ParseHttpRequest(big + "\r\n\r\n").state, State::kMalformed);
}

TEST(HttpResponse, StatusFollowsTheRequest) {
  Metrics m;
  m.Declare("x_total", MetricType::kCounter, "X.");
  m.Add("x_total", 7);
  const std::string ok = HttpResponseFor(ParseHttpRequest("GET /metrics HTTP/1.1\r\n\r\n"), m);
  EXPECT_EQ(ok.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << ok;
  EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(ok.find("\r\n\r\n# HELP x_total X.\n"), std::string::npos);
  EXPECT_NE(ok.find("x_total 7\n"), std::string::npos);
  const std::string head = HttpResponseFor(ParseHttpRequest("HEAD /metrics HTTP/1.1\r\n\r\n"), m);
  EXPECT_EQ(head.find("x_total 7"), std::string::npos);
  EXPECT_EQ(HttpResponseFor(ParseHttpRequest("GET / HTTP/1.1\r\n\r\n"), m).rfind("HTTP/1.0 404 ", 0), 0u);
  EXPECT_EQ(HttpResponseFor(ParseHttpRequest("POST /metrics HTTP/1.1\r\n\r\n"), m).rfind("HTTP/1.0 405 ", 0), 0u);
  EXPECT_EQ(HttpResponseFor(ParseHttpRequest("nonsense\r\n\r\n"), m).rfind("HTTP/1.0 400 ", 0), 0u);
}

// Sends `request` to 127.0.0.1:port and reads until the server closes the connection.
std::string Exchange(uint16_t port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early on a bad request
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) response.append(buffer, static_cast<size_t>(n));
  close(fd);
  return response;
}

TEST(MetricsServer, ServesTheRegistryOverHttp) {
  Metrics m;
  m.Declare("pgpitr_rows_captured_total", MetricType::kCounter, "Rows.");
  m.Add("pgpitr_rows_captured_total", 42);
  absl::StatusOr<std::unique_ptr<MetricsServer>> server = MetricsServer::Start("127.0.0.1:0", &m, Logger::Silent());
  ASSERT_TRUE(server.ok()) << server.status();
  const uint16_t port = (*server)->port();
  ASSERT_NE(port, 0);
  const std::string ok = Exchange(port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << ok;
  EXPECT_NE(ok.find("pgpitr_rows_captured_total 42\n"), std::string::npos) << ok;
  // Updates show at the next scrape.
  m.Add("pgpitr_rows_captured_total", 1);
  EXPECT_NE(Exchange(port, "GET /metrics HTTP/1.0\r\n\r\n").find("pgpitr_rows_captured_total 43\n"), std::string::npos);
  EXPECT_EQ(Exchange(port, "GET /other HTTP/1.0\r\n\r\n").rfind("HTTP/1.0 404 ", 0), 0u);
  // A request that never ends is cut off at the cap with 400, and the connection is closed.
  const std::string huge = "GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(3 * kMaxHttpRequestBytes, 'p');
  EXPECT_EQ(Exchange(port, huge).rfind("HTTP/1.0 400 ", 0), 0u);
  EXPECT_EQ(Exchange(port, "\x16\x03\x01\x00\x05hello").rfind("HTTP/1.0 400 ", 0), 0u);
}

TEST(MetricsServer, BadListenAddressIsAnError) {
  Metrics m;
  for (const char* bad : {"9187", "localhost:9187", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:9x"}) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> server = MetricsServer::Start(bad, &m, Logger::Silent());
    ASSERT_FALSE(server.ok()) << bad;
    EXPECT_NE(server.status().message().find("--metrics-listen"), std::string::npos);
  }
}

}  // namespace
}  // namespace pgpitr::base
