#include "base/metrics_server.h"

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <charconv>
#include <chrono>
#include <thread>

#include "fmt/format.h"

namespace pgpitr::base {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// A client that neither finishes its request nor reads the answer is dropped after this.
constexpr std::chrono::seconds kRequestTimeout(5);

bool IsTokenChar(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

std::string Response(std::string_view status, std::string_view content_type, std::string_view body, bool head = false) {
  return fmt::format("HTTP/1.0 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}", status,
                     content_type, body.size(), head ? std::string_view() : body);
}

}  // namespace

HttpRequest ParseHttpRequest(std::string_view received) {
  HttpRequest request;
  size_t end = received.find("\r\n\r\n");
  if (end == std::string_view::npos) end = received.find("\n\n");
  if (end == std::string_view::npos) {
    // A request line that is already wrong need not wait for the rest.
    const size_t first_space = received.find(' ');
    const std::string_view method = received.substr(0, std::min(first_space, received.size()));
    for (char c : method) {
      if (!IsTokenChar(c)) {
        request.state = HttpRequest::State::kMalformed;
        return request;
      }
    }
    request.state =
        received.size() >= kMaxHttpRequestBytes ? HttpRequest::State::kMalformed : HttpRequest::State::kNeedMore;
    return request;
  }
  if (end > kMaxHttpRequestBytes) {
    request.state = HttpRequest::State::kMalformed;
    return request;
  }
  std::string_view line = received.substr(0, received.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  request.state = HttpRequest::State::kMalformed;
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return request;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) return request;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  for (char c : method) {
    if (!IsTokenChar(c)) return request;
  }
  if (target.empty() || target.front() != '/') return request;
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return request;
  }
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '0' || version[7] > '9') {
    return request;
  }
  request.state = HttpRequest::State::kComplete;
  request.method = std::string(method);
  request.path = std::string(target.substr(0, target.find('?')));
  return request;
}

std::string HttpResponseFor(const HttpRequest& request, const Metrics& metrics) {
  constexpr std::string_view kText = "text/plain; charset=utf-8";
  if (request.state != HttpRequest::State::kComplete) {
    return Response("400 Bad Request", kText, "malformed request\n");
  }
  if (request.path != "/metrics") return Response("404 Not Found", kText, "not found: try /metrics\n");
  if (request.method != "GET" && request.method != "HEAD") {
    return Response("405 Method Not Allowed", kText, "only GET /metrics\n");
  }
  return Response("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics.Exposition(), request.method == "HEAD");
}

struct MetricsServer::State {
  State(const Metrics* m, const Logger& l) : metrics(m), log(l), acceptor(io) {}
  void Accept();

  const Metrics* metrics;
  Logger log;
  asio::io_context io;
  tcp::acceptor acceptor;
  std::thread thread;
  std::atomic<bool> stopped{false};
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(MetricsServer::State* server, tcp::socket socket)
      : server_(server), socket_(std::move(socket)), timer_(socket_.get_executor()) {}

  void Start() {
    timer_.expires_after(kRequestTimeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->Close();
    });
    Read();
  }

 private:
  void Read() {
    socket_.async_read_some(asio::buffer(buffer_), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      if (ec) {
        self->Close();
        return;
      }
      self->received_.append(self->buffer_.data(), n);
      HttpRequest request = ParseHttpRequest(self->received_);
      if (request.state == HttpRequest::State::kNeedMore) {
        self->Read();
        return;
      }
      self->Respond(HttpResponseFor(request, *self->server_->metrics));
    });
  }

  void Respond(std::string response) {
    response_ = std::move(response);
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        if (ec) {
                          self->Close();
                          return;
                        }
                        // Closing with unread request bytes would reset the connection and could destroy the answer
                        // before the client reads it: end our side, and read until the client closes (or the timer).
                        boost::system::error_code ignored;
                        self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                        self->Drain();
                      });
  }

  void Drain() {
    socket_.async_read_some(asio::buffer(buffer_), [self = shared_from_this()](boost::system::error_code ec, size_t) {
      if (ec) {
        self->Close();
      } else {
        self->Drain();
      }
    });
  }

  void Close() {
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  MetricsServer::State* server_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::array<char, 1024> buffer_;
  std::string received_;
  std::string response_;
};

}  // namespace

void MetricsServer::State::Accept() {
  acceptor.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (stopped.load() || ec == asio::error::operation_aborted) return;
    if (!ec) {
      std::make_shared<Connection>(this, std::move(socket))->Start();
    } else {
      log.Warn("metrics: accepting a connection failed: {}", ec.message());
    }
    Accept();
  });
}

MetricsServer::MetricsServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(std::string_view listen, const Metrics* metrics,
                                                                    const Logger& log) {
  const size_t colon = listen.rfind(':');
  std::string_view host = colon == std::string_view::npos ? std::string_view() : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string_view port_text = colon == std::string_view::npos ? std::string_view() : listen.substr(colon + 1);
  unsigned port = 0;
  const auto parsed = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(std::string(host), ec);
  if (host.empty() || port_text.empty() || parsed.ec != std::errc() ||
      parsed.ptr != port_text.data() + port_text.size() || port > 65535 || ec) {
    return absl::InvalidArgumentError(
        fmt::format("--metrics-listen '{}' is not HOST:PORT with an IP address (e.g. 127.0.0.1:9187)", listen));
  }
  auto state = std::make_unique<State>(metrics, log);
  const tcp::endpoint endpoint(address, static_cast<uint16_t>(port));
  state->acceptor.open(endpoint.protocol(), ec);
  if (!ec) state->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) state->acceptor.bind(endpoint, ec);
  if (!ec) state->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        fmt::format("cannot serve metrics on {}: {} (choose another --metrics-listen)", listen, ec.message()));
  }
  state->Accept();
  state->thread = std::thread([s = state.get()] { s->io.run(); });
  log.Info("serving Prometheus metrics on http://{}:{}/metrics", host, state->acceptor.local_endpoint().port());
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(state)));
}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::Stop() {
  if (!state_ || state_->stopped.exchange(true)) return;
  state_->io.stop();
  if (state_->thread.joinable()) state_->thread.join();
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
}

uint16_t MetricsServer::port() const {
  boost::system::error_code ec;
  return state_->acceptor.local_endpoint(ec).port();
}

}  // namespace pgpitr::base
