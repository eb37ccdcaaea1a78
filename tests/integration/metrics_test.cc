// The metrics endpoint as Prometheus sees it: capture runs with a registry, the endpoint is scraped
// over HTTP with a raw socket, and every line of the page is parsed. The counters must equal the
// transactions and rows made on the source; the slot's lag and wal_status must be there.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <set>
#include <sstream>

#include "base/metrics_server.h"
#include "tests/integration/harness.h"
#include "wal/capture_metrics.h"

namespace pgpitr::testing {
namespace {

struct Scrape {
  std::string status_line;
  std::string content_type;
  std::map<std::string, double> samples;  // "name" or "name{labels}" -> value
  std::map<std::string, std::string> types;
};

// GET /metrics over a plain socket, then parses the text exposition format line by line.
Scrape ScrapeMetrics(uint16_t port) {
  Scrape out;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n";
  EXPECT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) response.append(buffer, static_cast<size_t>(n));
  close(fd);
  const size_t body_at = response.find("\r\n\r\n");
  EXPECT_NE(body_at, std::string::npos) << response;
  std::istringstream head(response.substr(0, body_at));
  std::getline(head, out.status_line);
  for (std::string line; std::getline(head, line);) {
    if (line.rfind("Content-Type: ", 0) == 0) out.content_type = line.substr(14, line.size() - 15);
  }
  if (!out.status_line.empty() && out.status_line.back() == '\r') out.status_line.pop_back();
  std::istringstream body(response.substr(body_at + 4));
  for (std::string line; std::getline(body, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream words(line.substr(7));
      std::string name, type;
      words >> name >> type;
      out.types[name] = type;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    const std::string key = line.substr(0, space);
    const std::string family = key.substr(0, key.find('{'));
    EXPECT_TRUE(out.types.count(family)) << "sample before its # TYPE line: " << line;
    size_t used = 0;
    const double value = std::stod(line.substr(space + 1), &used);
    EXPECT_EQ(used, line.size() - space - 1) << line;
    out.samples[key] = value;
  }
  return out;
}

class MetricsTest : public ServerTest {
 protected:
  // Capture as the harness runs it, with a metrics registry and a quick slot check.
  void StartCaptureWithMetrics(base::Metrics* metrics) {
    StartCapture([metrics](wal::CaptureOptions& options) {
      options.slot_check_interval = std::chrono::milliseconds(200);
      options.metrics = metrics;
    });
  }
};

TEST_F(MetricsTest, ScrapedCountersEqualTheTransactionsMadeAndLagIsExported) {
  base::Metrics metrics;
  wal::DeclareCaptureMetrics(metrics);
  absl::StatusOr<std::unique_ptr<base::MetricsServer>> server =
      base::MetricsServer::Start("127.0.0.1:0", &metrics, base::Logger::Silent());
  ASSERT_TRUE(server.ok()) << server.status();
  const uint16_t port = (*server)->port();

  pg::Connection app = Connect("app");
  Exec(app, "CREATE TABLE orders (id int PRIMARY KEY, amount int)");
  StartCaptureWithMetrics(&metrics);
  WaitCaptured(InsertLsn(app));
  const Scrape before = ScrapeMetrics(port);
  const double txns_before = before.samples.at("pgpitr_transactions_captured_total");
  const double rows_before = before.samples.at("pgpitr_rows_captured_total");

  constexpr int kTransactions = 25;
  for (int i = 0; i < kTransactions; ++i) {
    Exec(app, fmt::format("BEGIN; INSERT INTO orders VALUES ({0}, {0}); UPDATE orders SET amount = amount + 1 "
                          "WHERE id = {0}; COMMIT",
                          i));
  }
  WaitCaptured(InsertLsn(app));

  // The slot's figures come with the next slot check: scrape until they are there.
  Scrape after;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    after = ScrapeMetrics(port);
    if (after.samples.count("pgpitr_slot_wal_status{wal_status=\"reserved\"}") &&
        after.samples.at("pgpitr_changelog_bytes") > 0) {
      break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no slot check reached the metrics";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(after.status_line, "HTTP/1.0 200 OK");
  EXPECT_EQ(after.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(after.samples.at("pgpitr_transactions_captured_total"), txns_before + kTransactions);
  EXPECT_EQ(after.samples.at("pgpitr_rows_captured_total"), rows_before + 2 * kTransactions);
  EXPECT_EQ(after.types.at("pgpitr_transactions_captured_total"), "counter");
  EXPECT_EQ(after.types.at("pgpitr_capture_lag_bytes"), "gauge");
  EXPECT_GE(after.samples.at("pgpitr_capture_lag_bytes"), 0);
  EXPECT_GE(after.samples.at("pgpitr_capture_lag_seconds"), 0);
  EXPECT_EQ(after.samples.at("pgpitr_slot_wal_status{wal_status=\"reserved\"}"), 1);
  EXPECT_GE(after.samples.at("pgpitr_captured_through_lsn"), static_cast<double>(durable_.load()) - 1);
  for (const char* family :
       {"pgpitr_last_base_timestamp_seconds", "pgpitr_last_base_size_bytes", "pgpitr_window_start_timestamp_seconds",
        "pgpitr_window_end_timestamp_seconds", "pgpitr_errors_total"}) {
    EXPECT_TRUE(after.types.count(family)) << family;
  }
  EXPECT_EQ(after.samples.at("pgpitr_window_start_timestamp_seconds"), 0) << "no base yet: nothing restorable";

  // A base makes the window and the newest base's figures appear at the next check.
  const proto::Base base = TakeBase();
  ASSERT_FALSE(base.id().empty());
  for (;;) {
    after = ScrapeMetrics(port);
    if (after.samples.at("pgpitr_window_start_timestamp_seconds") > 0) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline + std::chrono::seconds(60)) << "the window never showed";
    Exec(app, "INSERT INTO orders VALUES (1000 + (random() * 1e6)::int, 0) ON CONFLICT DO NOTHING");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(after.samples.at("pgpitr_last_base_size_bytes"), static_cast<double>(base.size_bytes()));
  EXPECT_NEAR(after.samples.at("pgpitr_last_base_timestamp_seconds"), base.consistent_time() / 1e6 + 946684800.0, 1e-3);
  EXPECT_GE(after.samples.at("pgpitr_window_end_timestamp_seconds"),
            after.samples.at("pgpitr_window_start_timestamp_seconds"));
}

}  // namespace
}  // namespace pgpitr::testing
