#include "proxy/proxy_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "boost/asio.hpp"
#include "fmt/format.h"
#include "proxy/response_tracker.h"
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

namespace {

// Schema changes the proxy records: not those that cannot share a transaction with its message, nor
// tables created from a query, whose rows the stream carries (restore creates such a table from
// the stream's description of it).
bool Recorded(std::string_view statement) {
  return IsSchemaChange(statement) && !MustRunOutsideTransaction(statement) && !CreatesTableFromQuery(statement);
}

}  // namespace

std::optional<RewrittenQuery> RewriteForDdlCapture(std::string_view query) {
  const std::vector<std::string_view> statements = SplitStatements(query);
  std::vector<bool> recorded;
  recorded.reserve(statements.size());
  for (std::string_view s : statements) recorded.push_back(Recorded(s));
  if (std::find(recorded.begin(), recorded.end(), true) == recorded.end()) return std::nullopt;
  RewrittenQuery out;
  for (size_t i = 0; i < statements.size(); ++i) {
    const std::string_view s = statements[i];
    if (recorded[i]) {
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

  // Writes bytes to one side, then continues with `then`; a write error closes the session.
  template <typename Then>
  void Send(tcp::socket& to, std::string bytes, Then then) {
    auto data = std::make_shared<std::string>(std::move(bytes));
    asio::async_write(to, asio::buffer(*data), [self = shared_from_this(), data, then](boost::system::error_code ec,
                                                                                     size_t) {
      if (ec) return self->Close();
      then(self.get());
    });
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
          return Send(client_, "N", [](Session* self) { self->ProcessClient(); });
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
    Send(upstream_, std::move(out), [](Session* self) { self->ReadClient(); });
  }

  void ForwardClientMessage(const Frame& frame, std::string* out) {
    const bool capture = server_->options.capture_ddl;
    switch (frame.type) {
      case 'Q': {
        absl::StatusOr<std::string_view> query = ParseQuery(frame.body);
        if (capture && query.ok()) {
          if (std::optional<RewrittenQuery> rewritten = RewriteForDdlCapture(*query)) {
            std::string body = rewritten->query;
            body.push_back('\0');
            *out += EncodeMessage('Q', body);
            tracker_.SentQuery(std::move(rewritten->injected));
            return;
          }
        }
        tracker_.SentQuery({});
        break;
      }
      case 'P': {
        absl::StatusOr<ParseMessage> parse = ParseParse(frame.body);
        if (parse.ok()) {
          const std::string name(parse->statement);
          if (capture && Recorded(parse->query)) {
            ddl_statements_[name] = std::string(parse->query);
          } else {
            ddl_statements_.erase(name);
          }
        }
        tracker_.Sent('P', false);
        break;
      }
      case 'B': {
        const std::string portal = CString(frame.body, 0);
        const std::string statement = CString(frame.body, portal.size() + 1);
        if (auto it = ddl_statements_.find(statement); it != ddl_statements_.end()) {
          ddl_portals_[portal] = it->second;
        } else {
          ddl_portals_.erase(portal);
        }
        tracker_.Sent('B', false);
        break;
      }
      case 'E': {
        if (auto it = ddl_portals_.find(CString(frame.body, 0)); it != ddl_portals_.end()) {
          AppendDdlMessage(it->second, out);
        }
        tracker_.Sent('E', false);
        break;
      }
      case 'C':
      case 'D': {
        const char target = frame.body.empty() ? '\0' : frame.body[0];
        if (frame.type == 'C' && frame.body.size() > 1) {
          (target == 'S' ? ddl_statements_ : ddl_portals_).erase(CString(frame.body, 1));
        }
        tracker_.Sent(frame.type, false, target);
        break;
      }
      default:
        tracker_.Sent(frame.type, false);
    }
    out->append(frame.raw);
  }

  // The extended-protocol form of the pgpitr.ddl message, sent just before the Execute that runs a
  // schema change, in the same transaction: Parse, Bind, Execute and Close of a statement and a
  // portal of the proxy's own, whose answers are dropped.
  void AppendDdlMessage(const std::string& sql, std::string* out) {
    static constexpr std::string_view kName = "pgpitr_ddl";
    auto u16 = [](std::string* s, uint16_t v) {
      s->push_back(static_cast<char>(v >> 8));
      s->push_back(static_cast<char>(v));
    };
    auto u32 = [](std::string* s, uint32_t v) {
      for (int shift = 24; shift >= 0; shift -= 8) s->push_back(static_cast<char>(v >> shift));
    };
    std::string parse = std::string(kName) + '\0';
    parse += fmt::format(
        "SELECT pg_catalog.pg_logical_emit_message(true, '{}', pg_catalog.json_build_object('search_path', "
        "pg_catalog.current_setting('search_path'), 'sql', $1::text)::text)",
        wal::kDdlMessagePrefix);
    parse += '\0';
    u16(&parse, 1);
    u32(&parse, 25);  // text
    std::string bind = std::string(kName) + '\0' + std::string(kName) + '\0';
    u16(&bind, 0);  // parameters in text format
    u16(&bind, 1);
    u32(&bind, static_cast<uint32_t>(sql.size()));
    bind += sql;
    u16(&bind, 0);  // results in text format
    std::string execute = std::string(kName) + '\0';
    u32(&execute, 0);
    // Closing first makes a statement left behind by a failed earlier attempt harmless (closing a
    // statement that does not exist is not an error).
    *out += EncodeMessage('C', "S" + std::string(kName) + '\0');
    tracker_.Sent('C', true, 'S');
    *out += EncodeMessage('P', parse);
    *out += EncodeMessage('B', bind);
    *out += EncodeMessage('E', execute);
    *out += EncodeMessage('C', "P" + std::string(kName) + '\0');
    *out += EncodeMessage('C', "S" + std::string(kName) + '\0');
    tracker_.Sent('P', true);
    tracker_.Sent('B', true);
    tracker_.Sent('E', true);
    tracker_.Sent('C', true, 'P');
    tracker_.Sent('C', true, 'S');
  }

  // The NUL-terminated string at offset (empty when there is none: the server will reject the
  // message itself).
  static std::string CString(std::string_view body, size_t offset) {
    if (offset >= body.size()) return "";
    const size_t end = body.find('\0', offset);
    return std::string(body.substr(offset, end == std::string_view::npos ? std::string_view::npos : end - offset));
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
      if (!tracker_.Drop(r.frame.type)) out.append(r.frame.raw);
      from_upstream_.Consume();
    }
    if (out.empty()) return ReadUpstream();
    Send(client_, std::move(out), [](Session* self) { self->ReadUpstream(); });
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
  ResponseTracker tracker_;
  // Schema changes prepared by the client (statement name -> SQL) and portals bound to them.
  std::unordered_map<std::string, std::string> ddl_statements_;
  std::unordered_map<std::string, std::string> ddl_portals_;
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
