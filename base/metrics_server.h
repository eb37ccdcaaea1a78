// MetricsServer: the HTTP endpoint `pgpitr run --metrics-listen HOST:PORT` serves for Prometheus:
// GET /metrics answers the registry's text exposition; any other path is 404, a malformed or
// oversized request 400. HTTP/1.0 style: one request per connection, then close.
//   auto server = MetricsServer::Start("127.0.0.1:9187", &metrics, log);  ... server->port();
// One I/O thread of its own; Stop (or the destructor) joins it. The registry must outlive it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "base/logger.h"
#include "base/metrics.h"

namespace pgpitr::base {

// A request larger than this, headers included, is refused.
inline constexpr size_t kMaxHttpRequestBytes = 8192;

// What a client has sent so far: incomplete (read more), malformed (400), or a request line.
struct HttpRequest {
  enum class State { kNeedMore, kMalformed, kComplete };
  State state = State::kNeedMore;
  std::string method;
  std::string path;  // the target without its query string
};

// Parses the bytes received so far; only the request line is interpreted, the headers are skipped
// up to the blank line that ends them.
HttpRequest ParseHttpRequest(std::string_view received);

// The whole HTTP response (status line, headers, body) for a parsed request.
std::string HttpResponseFor(const HttpRequest& request, const Metrics& metrics);

class MetricsServer {
 public:
  // listen is HOST:PORT with an IP address; port 0 takes any free port (see port()).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(std::string_view listen,
                                                                            const Metrics* metrics, const Logger& log);
  ~MetricsServer();
  void Stop();
  uint16_t port() const;

  struct State;

 private:
  explicit MetricsServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace pgpitr::base
