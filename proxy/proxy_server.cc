#include "proxy/proxy_server.h"

#include <array>
#include <atomic>
#include <deque>
#include <optional>
#include <thread>
#include <vector>

#include "boost/asio.hpp"
#include "fmt/format.h"
#include "proxy/sql.h"
#include "proxy/wire.h"

namespace pgpitr::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Client messages larger than this end the connection: the proxy holds a message whole before
// forwarding it, so this bounds one session's memory.
constexpr size_t kMaxClientMessage = 256u << 20;
constexpr size_t kReadChunk = 16 << 10;

// A dollar-quote tag that does not occur in text.
std::string DollarQuote(std::string_view text) {
  std::string tag = "$pgpitr$";
  for (int n = 0; text.find(tag) != std::string_view::npos; ++n) tag = fmt::format("$pgpitr{}$", n);
  return tag + std::string(text) + tag;
}

}  // namespace

std::optional<RewrittenQuery> RewriteForDdlCapture(std::string_view query) {
  const std::vector<std::string_view> statements = SplitStatements(query);
  bool any = false;
  for (std::string_view s : statements) any = any || (IsSchemaChange(s) && !MustRunOutsideTransaction(s));
  if (!any) return std::nullopt;
  RewrittenQuery out;
  for (std::string_view s : statements) {
    if (IsSchemaChange(s) && !MustRunOutsideTransaction(s)) {
      out.query += fmt::format(
          "SELECT pg_catalog.pg_logical_emit_message(true, '{}', pg_catalog.json_build_object('search_path', "
          "pg_catalog.current_setting('search_path'), 'sql', {})::text);",
          wal::kDdlMessagePrefix, DollarQuote(s));
      out.injected.push_back(true);
    }
    out.query += s;
    out.query += ';';
    out.injected.push_back(false);
  }
  return out;
}

struct ProxyServer::State {
  ProxyOptions options;
  wal::Logger log;
  // Before io: sessions destroyed with io's pending handlers still count themselves out here.
  std::atomic<size_t> sessions{0};
  std::atomic<bool> stopped{false};
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;

  State(const ProxyOptions& o, const wal::Logger& l) : options(o), log(l), io(o.threads) {}
  void Accept();
};

namespace {

// One client connection and its upstream connection. Every handler runs on the session's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ProxyServer::State* server, tcp::socket client)
      : server_(server),
        client_(std::move(client)),
        upstream_(client_.get_executor()),
        resolver_(client_.get_executor()),
        from_client_(FrameDecoder::Phase::kStartup, kMaxClientMessage),
        from_upstream_(FrameDecoder::Phase::kTyped) {
    ++server_->sessions;
  }
  ~Session() { --server_->sessions; }

  void Start() { ReadClient(); }

 private:
  // What the proxy added to one simple query, to drop those statements' results.
  struct PendingQuery {
    std::vector<bool> injected;  // empty: nothing to drop
    size_t statement = 0;
  };

  void Close() {
    boost::system::error_code ignored;
    client_.shutdown(tcp::socket::shutdown_both, ignored);
    client_.close(ignored);
    upstream_.shutdown(tcp::socket::shutdown_both, ignored);
    upstream_.close(ignored);
    resolver_.cancel();
  }

  // Sends a FATAL error to the client, then closes both sides.
  void Fail(std::string_view sqlstate, const std::string& message) {
    auto error = std::make_shared<std::string>(EncodeErrorResponse("FATAL", sqlstate, message));
    asio::async_write(client_, asio::buffer(*error),
                      [self = shared_from_this(), error](boost::system::error_code, size_t) { self->Close(); });
  }

  void ReadClient() {
    client_.async_read_some(asio::buffer(client_buffer_), [self = shared_from_this()](boost::system::error_code ec,
                                                                                       size_t n) {
      if (ec) return self->Close();
      self->from_client_.Append(std::string_view(self->client_buffer_.data(), n));
      self->ProcessClient();
    });
  }

  // Handles every complete client message, then writes what is to be forwarded and reads again.
  void ProcessClient() {
    std::string out;
    for (;;) {
      FrameResult r = from_client_.Next();
      if (r.kind == FrameResult::kNeedMore) break;
      if (r.kind == FrameResult::kMalformed) {
        return Fail("08P01", "pgpitr proxy: malformed message from the client: " + r.error);
      }
      if (from_client_.phase() == FrameDecoder::Phase::kStartup) {
        absl::StatusOr<StartupPacket> packet = ParseStartupPacket(r.frame.body);
        if (!packet.ok()) {
          return Fail("08P01", "pgpitr proxy: invalid startup packet: " + std::string(packet.status().message()));
        }
        if (packet->kind == StartupPacket::kSslRequest || packet->kind == StartupPacket::kGssEncRequest) {
          from_client_.Consume();
          // No TLS or GSS encryption here: the client goes on in plain text or gives up.
          auto no = std::make_shared<std::string>("N");
          asio::async_write(client_, asio::buffer(*no), [self = shared_from_this(), no](boost::system::error_code ec,
                                                                                       size_t) {
            if (ec) return self->Close();
            self->ProcessClient();
          });
          return;
        }
        if (packet->kind == StartupPacket::kCancelRequest) {
          // The key is the upstream backend's own (BackendKeyData is forwarded unchanged), so the
          // request only has to reach the upstream server.
          auto cancel = std::make_shared<std::string>(r.frame.raw);
          from_client_.Consume();
          return ConnectUpstream([self = shared_from_this(), cancel] {
            asio::async_write(self->upstream_, asio::buffer(*cancel),
                              [self, cancel](boost::system::error_code, size_t) { self->Close(); });
          });
        }
        startup_ = std::string(r.frame.raw);
        from_client_.Consume();
        from_client_.set_phase(FrameDecoder::Phase::kTyped);
        return ConnectUpstream([self = shared_from_this()] {
          asio::async_write(self->upstream_, asio::buffer(self->startup_),
                            [self](boost::system::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->startup_.clear();
                              self->ReadUpstream();
                              self->ProcessClient();
                            });
        });
      }
      ForwardClientMessage(r.frame, &out);
      from_client_.Consume();
    }
    if (out.empty()) return ReadClient();
    auto data = std::make_shared<std::string>(std::move(out));
    asio::async_write(upstream_, asio::buffer(*data), [self = shared_from_this(), data](boost::system::error_code ec,
                                                                                       size_t) {
      if (ec) return self->Close();
      self->ReadClient();
    });
  }

  void ForwardClientMessage(const Frame& frame, std::string* out) {
    if (frame.type == 'Q') {
      PendingQuery pending;
      if (server_->options.capture_ddl) {
        absl::StatusOr<std::string_view> query = ParseQuery(frame.body);
        if (query.ok()) {
          if (std::optional<RewrittenQuery> rewritten = RewriteForDdlCapture(*query)) {
            std::string body = rewritten->query;
            body.push_back('\0');
            *out += EncodeMessage('Q', body);
            pending.injected = std::move(rewritten->injected);
            pending_.push_back(std::move(pending));
            return;
          }
        }
      }
      pending_.push_back(std::move(pending));
    } else if (frame.type == 'S' || frame.type == 'F') {
      pending_.emplace_back();  // each Sync or function call ends with its own ReadyForQuery
    }
    out->append(frame.raw);
  }

  template <typename Then>
  void ConnectUpstream(Then then) {
    const ProxyOptions& o = server_->options;
    resolver_.async_resolve(
        o.upstream_host, std::to_string(o.upstream_port),
        [self = shared_from_this(), then](boost::system::error_code ec, tcp::resolver::results_type endpoints) {
          if (ec) return self->UpstreamDown(ec);
          asio::async_connect(self->upstream_, endpoints,
                              [self, then](boost::system::error_code ec, const tcp::endpoint&) {
                                if (ec) return self->UpstreamDown(ec);
                                boost::system::error_code ignored;
                                self->upstream_.set_option(tcp::no_delay(true), ignored);
                                then();
                              });
        });
  }

  void UpstreamDown(const boost::system::error_code& ec) {
    const ProxyOptions& o = server_->options;
    Fail("08006", fmt::format("pgpitr proxy: cannot reach the database at {}:{}: {}", o.upstream_host,
                              o.upstream_port, ec.message()));
  }

  void ReadUpstream() {
    upstream_.async_read_some(asio::buffer(upstream_buffer_), [self = shared_from_this()](
                                                                 boost::system::error_code ec, size_t n) {
      if (ec) return self->Close();
      self->from_upstream_.Append(std::string_view(self->upstream_buffer_.data(), n));
      self->ProcessUpstream();
    });
  }

  void ProcessUpstream() {
    std::string out;
    for (;;) {
      FrameResult r = from_upstream_.Next();
      if (r.kind == FrameResult::kNeedMore) break;
      if (r.kind == FrameResult::kMalformed) {
        return Fail("08P01", "pgpitr proxy: malformed message from the database: " + r.error);
      }
      if (!DropUpstreamMessage(r.frame.type)) out.append(r.frame.raw);
      from_upstream_.Consume();
    }
    if (out.empty()) return ReadUpstream();
    auto data = std::make_shared<std::string>(std::move(out));
    asio::async_write(client_, asio::buffer(*data), [self = shared_from_this(), data](boost::system::error_code ec,
                                                                                     size_t) {
      if (ec) return self->Close();
      self->ReadUpstream();
    });
  }

  // Whether a message answers a statement the proxy added.
  bool DropUpstreamMessage(char type) {
    if (type == 'Z') {
      if (!pending_.empty()) pending_.pop_front();
      return false;
    }
    if (pending_.empty() || pending_.front().injected.empty()) return false;
    PendingQuery& q = pending_.front();
    const bool injected = q.statement < q.injected.size() && q.injected[q.statement];
    switch (type) {
      case 'T':  // RowDescription
      case 'D':  // DataRow
        return injected;
      case 'C':  // CommandComplete: the statement is done
      case 'I':  // EmptyQueryResponse
        ++q.statement;
        return injected;
      case 'E':  // an error ends the whole query
        q.statement = q.injected.size();
        return false;
      default:  // notices, notifications, parameter changes belong to the client
        return false;
    }
  }

  ProxyServer::State* server_;
  tcp::socket client_;
  tcp::socket upstream_;
  tcp::resolver resolver_;
  FrameDecoder from_client_;
  FrameDecoder from_upstream_;
  std::array<char, kReadChunk> client_buffer_;
  std::array<char, kReadChunk> upstream_buffer_;
  std::string startup_;
  std::deque<PendingQuery> pending_;
};

}  // namespace

void ProxyServer::State::Accept() {
  acceptor.async_accept(asio::make_strand(io), [this](boost::system::error_code ec, tcp::socket socket) {
    if (stopped.load()) return;
    if (!ec) {
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Session>(this, std::move(socket))->Start();
    } else {
      log.Warn("proxy: accepting a connection failed: {}", ec.message());
    }
    Accept();
  });
}

ProxyServer::ProxyServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

absl::StatusOr<std::unique_ptr<ProxyServer>> ProxyServer::Start(const ProxyOptions& options, const wal::Logger& log) {
  auto state = std::make_unique<State>(options, log);
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(options.listen_host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        fmt::format("--listen address '{}' is not an IP address (e.g. 127.0.0.1:6432)", options.listen_host));
  }
  const tcp::endpoint endpoint(address, options.listen_port);
  state->acceptor.open(endpoint.protocol(), ec);
  if (!ec) state->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) state->acceptor.bind(endpoint, ec);
  if (!ec) state->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::FailedPreconditionError(fmt::format("the proxy cannot listen on {}:{}: {} (choose another --listen)",
                                                     options.listen_host, options.listen_port, ec.message()));
  }
  state->Accept();
  for (int i = 0; i < std::max(1, options.threads); ++i) {
    state->threads.emplace_back([s = state.get()] { s->io.run(); });
  }
  log.Info("proxy listening on {}:{}, forwarding to {}:{}", options.listen_host, state->acceptor.local_endpoint().port(),
           options.upstream_host, options.upstream_port);
  return std::unique_ptr<ProxyServer>(new ProxyServer(std::move(state)));
}

ProxyServer::~ProxyServer() { Stop(); }

void ProxyServer::Stop() {
  if (!state_ || state_->stopped.exchange(true)) return;
  state_->io.stop();
  for (std::thread& t : state_->threads) t.join();
  state_->threads.clear();
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
}

uint16_t ProxyServer::port() const {
  boost::system::error_code ec;
  return state_->acceptor.local_endpoint(ec).port();
}

size_t ProxyServer::sessions() const { return state_->sessions.load(); }

}  // namespace pgpitr::proxy
