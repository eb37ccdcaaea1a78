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
#include "boost/asio/ssl.hpp"
#include "fmt/format.h"
#include "pg/stream_messages.h"
#include "proxy/ddl_recorder.h"
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

}  // namespace

absl::StatusOr<UpstreamTls> UpstreamTlsFromSslmode(std::string_view sslmode) {
  if (sslmode == "disable") return UpstreamTls::kDisable;
  if (sslmode.empty() || sslmode == "allow" || sslmode == "prefer") return UpstreamTls::kPrefer;
  if (sslmode == "require") return UpstreamTls::kRequire;
  if (sslmode == "verify-ca") return UpstreamTls::kVerifyCa;
  if (sslmode == "verify-full") return UpstreamTls::kVerifyFull;
  return absl::InvalidArgumentError(
      fmt::format("sslmode '{}' is not one of disable, allow, prefer, require, verify-ca, verify-full", sslmode));
}

absl::StatusOr<ProxyOptions> ProxyOptionsFor(std::string_view listen, const pg::ConnInfo& source,
                                             const LibpqDefaults& defaults) {
  ProxyOptions options;
  absl::StatusOr<UpstreamTls> upstream_tls = UpstreamTlsFromSslmode(source.Get("sslmode").value_or(defaults.sslmode));
  if (!upstream_tls.ok()) return upstream_tls.status();
  options.upstream_tls = *upstream_tls;
  options.upstream_ca_file = source.Get("sslrootcert").value_or(defaults.sslrootcert);
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string_view::npos) port = std::atoi(std::string(listen.substr(colon + 1)).c_str());
  if (colon == std::string_view::npos || port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(fmt::format("--listen '{}' is not HOST:PORT (e.g. 127.0.0.1:6432)", listen));
  }
  options.listen_host = std::string(listen.substr(0, colon));
  options.listen_port = static_cast<uint16_t>(port);
  std::string host =
      source.Get("hostaddr")
          .value_or(source.Get("host").value_or(defaults.host.empty() ? std::string("127.0.0.1") : defaults.host));
  if (host.find(',') != std::string::npos) host = host.substr(0, host.find(','));
  if (host.empty() || host[0] == '/') {
    return absl::InvalidArgumentError(
        "the proxy connects to the source over TCP: give the source a host name or address (host=...)");
  }
  options.upstream_host = host;
  const int upstream_port =
      std::atoi(source.Get("port").value_or(defaults.port.empty() ? std::string("5432") : defaults.port).c_str());
  if (upstream_port <= 0 || upstream_port > 65535) {
    return absl::InvalidArgumentError(
        fmt::format("the source's port '{}' is not a TCP port", source.Get("port").value_or(defaults.port)));
  }
  options.upstream_port = static_cast<uint16_t>(upstream_port);
  return options;
}

struct ProxyServer::State {
  ProxyOptions options;
  base::Logger log;
  // Towards clients (when a certificate is configured) and towards the database. Shared by all
  // sessions; OpenSSL allows that once they are set up, which Start does before any session.
  std::optional<asio::ssl::context> client_tls;
  asio::ssl::context upstream_tls{asio::ssl::context::tls_client};
  // Before io: sessions destroyed with io's pending handlers still count themselves out here.
  std::atomic<size_t> sessions{0};
  std::atomic<bool> stopped{false};
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;

  State(const ProxyOptions& o, const base::Logger& l) : options(o), log(l), io(o.threads) {}
  void Accept();
};

namespace {

// One side of a session: a TCP socket, with TLS layered over it once negotiated.
class Leg {
 public:
  explicit Leg(tcp::socket socket) : socket_(std::move(socket)) {}
  explicit Leg(const asio::any_io_executor& executor) : socket_(executor) {}

  tcp::socket& socket() { return socket_; }
  bool tls() const { return tls_ != nullptr; }
  asio::ssl::stream<tcp::socket&>& StartTls(asio::ssl::context& context) {
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, context);
    return *tls_;
  }

  template <typename Handler>
  void AsyncReadSome(asio::mutable_buffer buffer, Handler&& handler) {
    if (tls_) return tls_->async_read_some(buffer, std::forward<Handler>(handler));
    socket_.async_read_some(buffer, std::forward<Handler>(handler));
  }
  template <typename Handler>
  void AsyncWrite(asio::const_buffer buffer, Handler&& handler) {
    if (tls_) return asio::async_write(*tls_, buffer, std::forward<Handler>(handler));
    asio::async_write(socket_, buffer, std::forward<Handler>(handler));
  }
  void Close() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;
};

// One client connection and its upstream connection. Every handler runs on the session's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ProxyServer::State* server, tcp::socket client)
      : server_(server),
        client_(std::move(client)),
        upstream_(client_.socket().get_executor()),
        resolver_(client_.socket().get_executor()),
        from_client_(FrameDecoder::Phase::kStartup, kMaxClientMessage),
        from_upstream_(FrameDecoder::Phase::kTyped),
        recorder_(server->options.identity_full, server->options.source_runs_plpgsql) {
    ++server_->sessions;
  }
  ~Session() { --server_->sessions; }

  void Start() { ReadClient(); }

 private:
  // Ends the session, unless it is failing: then the failure's path ends it, once the client
  // has its error (the other direction's handlers see their sockets close and call this).
  void Close() {
    if (failing_) return;
    client_.Close();
    upstream_.Close();
    resolver_.cancel();
  }

  // Sends a FATAL error to the client, then closes both sides. Nothing else is sent after it; a
  // write to the client still in flight finishes first (a TLS stream takes one write at a time).
  void Fail(std::string_view sqlstate, const std::string& message) {
    if (failing_) return;
    failing_ = true;
    upstream_.Close();
    resolver_.cancel();
    failure_ = EncodeErrorResponse("FATAL", sqlstate, message);
    if (!client_writing_) WriteFailure();
  }
  void WriteFailure() {
    client_writing_ = true;
    client_.AsyncWrite(asio::buffer(failure_), [self = shared_from_this()](boost::system::error_code ec, size_t) {
      self->client_writing_ = false;
      if (ec) return self->client_.Close();
      self->LingeringClose();
    });
  }

  // Ends the client's connection after the error without losing it: closing a socket that still
  // holds unread bytes from the peer resets the connection, and a reset can discard what the peer
  // has not read yet. So: send FIN, drain what the client still sends until it closes, and close
  // then (or after a few seconds).
  void LingeringClose() {
    boost::system::error_code ignored;
    client_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    linger_ = std::make_unique<asio::steady_timer>(client_.socket().get_executor(), std::chrono::seconds(5));
    linger_->async_wait([self = shared_from_this()](boost::system::error_code) { self->client_.Close(); });
    Drain();
  }
  void Drain() {
    client_.socket().async_read_some(asio::buffer(client_buffer_),
                                     [self = shared_from_this()](boost::system::error_code ec, size_t) {
                                       if (!ec) return self->Drain();
                                       self->linger_->cancel();
                                       self->client_.Close();
                                     });
  }

  // Writes bytes to one side, then continues with `then`; a write error closes the session.
  template <typename Then>
  void Send(Leg& to, std::string bytes, Then then) {
    if (failing_) return;
    const bool to_client = &to == &client_;
    if (to_client) client_writing_ = true;
    auto data = std::make_shared<std::string>(std::move(bytes));
    to.AsyncWrite(asio::buffer(*data),
                  [self = shared_from_this(), data, then, to_client](boost::system::error_code ec, size_t) {
                    if (to_client) self->client_writing_ = false;
                    if (self->failing_) {
                      if (to_client && !ec) self->WriteFailure();
                      if (to_client && ec) self->client_.Close();
                      return;
                    }
                    if (ec) return self->Close();
                    then(self.get());
                  });
  }

  // Writes to the database go through one queue: the client's messages, and the proxy's own
  // record of a schema change that could only be written after it succeeded. Once the client's
  // bytes are written, the next client read starts (so a slow database slows the client down).
  void QueueUpstream(std::string bytes, bool then_read_client) {
    if (failing_) return;
    upstream_queue_.push_back({std::move(bytes), then_read_client});
    if (upstream_queue_.size() == 1) WriteUpstreamQueue();
  }
  void WriteUpstreamQueue() {
    upstream_.AsyncWrite(asio::buffer(upstream_queue_.front().bytes),
                         [self = shared_from_this()](boost::system::error_code ec, size_t) {
                           if (ec) return self->Close();
                           if (self->failing_) return;
                           const bool read_client = self->upstream_queue_.front().then_read_client;
                           self->upstream_queue_.pop_front();
                           if (!self->upstream_queue_.empty()) self->WriteUpstreamQueue();
                           if (read_client) self->ReadClient();
                         });
  }

  void ReadClient() {
    client_.AsyncReadSome(asio::buffer(client_buffer_),
                          [self = shared_from_this()](boost::system::error_code ec, size_t n) {
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
        if (packet->kind == StartupPacket::kSslRequest && server_->client_tls && !client_.tls()) {
          from_client_.Consume();
          // Bytes sent after the request and before the handshake would be taken as if they had
          // come over TLS (CVE-2021-23214); a client never sends any.
          if (from_client_.buffered() != 0) {
            return Fail("08P01", "pgpitr proxy: unencrypted data after SSLRequest");
          }
          return Send(client_, "S", [](Session* self) { self->AcceptClientTls(); });
        }
        if (packet->kind == StartupPacket::kSslRequest || packet->kind == StartupPacket::kGssEncRequest) {
          from_client_.Consume();
          // No GSS encryption here, nor TLS without a certificate: the client goes on in plain
          // text or gives up.
          return Send(client_, "N", [](Session* self) { self->ProcessClient(); });
        }
        if (packet->kind == StartupPacket::kCancelRequest) {
          // The key is the upstream backend's own (BackendKeyData is forwarded unchanged), so the
          // request only has to reach the upstream server.
          auto cancel = std::make_shared<std::string>(r.frame.raw);
          from_client_.Consume();
          // In plain text: the server reads a CancelRequest before any TLS or authentication.
          return ConnectUpstream([self = shared_from_this(), cancel] {
            self->upstream_.AsyncWrite(asio::buffer(*cancel),
                                       [self, cancel](boost::system::error_code, size_t) { self->Close(); });
          });
        }
        startup_ = std::string(r.frame.raw);
        from_client_.Consume();
        from_client_.set_phase(FrameDecoder::Phase::kTyped);
        return ConnectUpstream([self = shared_from_this()] {
          self->NegotiateUpstreamTls([self] {
            self->upstream_.AsyncWrite(asio::buffer(self->startup_), [self](boost::system::error_code ec, size_t) {
              if (ec) return self->Close();
              self->startup_.clear();
              self->ReadUpstream();
              self->ProcessClient();
            });
          });
        });
      }
      if (AsksForChannelBinding(r.frame)) {
        return Fail("08P01",
                    "pgpitr proxy: SCRAM channel binding cannot pass a proxy that terminates TLS; connect with "
                    "channel_binding=disable (the password exchange is still SCRAM, over TLS on both legs)");
      }
      ForwardClientMessage(r.frame, &out);
      from_client_.Consume();
    }
    if (out.empty()) return ReadClient();
    QueueUpstream(std::move(out), true);
  }

  void ForwardClientMessage(const Frame& frame, std::string* out) {
    // With the source's event triggers recording schema changes, the proxy still reads large objects
    // around the statements that change them: nothing else places those changes exactly.
    const bool capture = server_->options.capture_ddl;
    const bool source_records_ddl = server_->options.source_records_ddl && server_->options.source_records_ddl->load();
    recorder_.FromClient(frame, DdlRecorder::Capture{capture && !source_records_ddl, capture}, out);
  }

  template <typename Then>
  void ConnectUpstream(Then then) {
    const ProxyOptions& o = server_->options;
    resolver_.async_resolve(
        o.upstream_host, std::to_string(o.upstream_port),
        [self = shared_from_this(), then](boost::system::error_code ec, tcp::resolver::results_type endpoints) {
          if (ec) return self->UpstreamDown(ec);
          asio::async_connect(self->upstream_.socket(), endpoints,
                              [self, then](boost::system::error_code ec, const tcp::endpoint&) {
                                if (ec) return self->UpstreamDown(ec);
                                boost::system::error_code ignored;
                                self->upstream_.socket().set_option(tcp::no_delay(true), ignored);
                                then();
                              });
        });
  }

  void UpstreamDown(const boost::system::error_code& ec) {
    const ProxyOptions& o = server_->options;
    Fail("08006", fmt::format("pgpitr proxy: cannot reach the database at {}:{}: {}", o.upstream_host, o.upstream_port,
                              ec.message()));
  }

  // The server side of the client's TLS handshake; the startup packet follows inside it.
  void AcceptClientTls() {
    client_.StartTls(*server_->client_tls)
        .async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](boost::system::error_code ec) {
          // A failed handshake cannot carry an ErrorResponse: the client's TLS library reports it.
          if (ec) return self->Close();
          self->ProcessClient();
        });
  }

  // Asks the database for TLS (an SSLRequest, answered by one byte) as the configured sslmode
  // says, then continues in TLS or plain text.
  template <typename Then>
  void NegotiateUpstreamTls(Then then) {
    const ProxyOptions& o = server_->options;
    if (o.upstream_tls == UpstreamTls::kDisable) return then();
    auto request = std::make_shared<std::string>(std::string("\0\0\0\x08", 4) + std::string("\x04\xd2\x16\x2f", 4));
    upstream_.AsyncWrite(
        asio::buffer(*request), [self = shared_from_this(), request, then](boost::system::error_code ec, size_t) {
          if (ec) return self->UpstreamDown(ec);
          asio::async_read(self->upstream_.socket(), asio::buffer(self->upstream_buffer_.data(), 1),
                           [self, then](boost::system::error_code ec, size_t) {
                             if (ec) return self->UpstreamDown(ec);
                             const ProxyOptions& o = self->server_->options;
                             const char answer = self->upstream_buffer_[0];
                             if (answer == 'N' && o.upstream_tls == UpstreamTls::kPrefer) return then();
                             if (answer != 'S') {
                               return self->Fail(
                                   "08006", fmt::format("pgpitr proxy: the database at {}:{} does not accept TLS, but "
                                                        "the source's sslmode requires it (use sslmode=prefer or "
                                                        "enable ssl on the server)",
                                                        o.upstream_host, o.upstream_port));
                             }
                             self->StartUpstreamTls(then);
                           });
        });
  }

  template <typename Then>
  void StartUpstreamTls(Then then) {
    const ProxyOptions& o = server_->options;
    asio::ssl::stream<tcp::socket&>& tls = upstream_.StartTls(server_->upstream_tls);
    // SNI, as libpq sends it (not for an IP address).
    boost::system::error_code not_ip;
    asio::ip::make_address(o.upstream_host, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(tls.native_handle(), o.upstream_host.c_str());
    if (o.upstream_tls == UpstreamTls::kVerifyCa || o.upstream_tls == UpstreamTls::kVerifyFull) {
      tls.set_verify_mode(asio::ssl::verify_peer);
      if (o.upstream_tls == UpstreamTls::kVerifyFull) {
        tls.set_verify_callback(asio::ssl::host_name_verification(o.upstream_host));
      }
    } else {
      tls.set_verify_mode(asio::ssl::verify_none);
    }
    tls.async_handshake(
        asio::ssl::stream_base::client, [self = shared_from_this(), then](boost::system::error_code ec) {
          if (ec) {
            const ProxyOptions& o = self->server_->options;
            return self->Fail("08006", fmt::format("pgpitr proxy: TLS with the database at {}:{} failed: {}",
                                                   o.upstream_host, o.upstream_port, ec.message()));
          }
          then();
        });
  }

  // A SCRAM exchange that asks for channel binding cannot succeed through a proxy that terminates
  // TLS: the client binds to the proxy's certificate, the database to its own. Rather than let the
  // database refuse it obscurely, say what to do. The mechanism named first in a SASLInitialResponse
  // is "SCRAM-SHA-256-PLUS" (binding used) or "SCRAM-SHA-256" with the GS2 flag 'y' (client could
  // bind and believes the server cannot: the database takes that for a downgrade attack).
  bool AsksForChannelBinding(const Frame& frame) const {
    if (frame.type != 'p' || !upstream_.tls() || !client_.tls()) return false;
    constexpr std::string_view kPlus("SCRAM-SHA-256-PLUS\0", 19);
    constexpr std::string_view kPlain("SCRAM-SHA-256\0", 14);
    if (frame.body.substr(0, kPlus.size()) == kPlus) return true;
    return frame.body.substr(0, kPlain.size()) == kPlain && frame.body.size() > kPlain.size() + 4 &&
           frame.body[kPlain.size() + 4] == 'y';
  }

  void ReadUpstream() {
    upstream_.AsyncReadSome(asio::buffer(upstream_buffer_),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
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
      std::string record;
      // An error's position in a query the proxy rewrote, as the client's text has it.
      std::optional<std::string> reworded;
      if (r.frame.type == 'E' || r.frame.type == 'N' || r.frame.type == 'S') reworded = recorder_.ForClient(r.frame);
      const DdlRecorder::Answer answer = recorder_.FromDatabase(r.frame.type, &record);
      if (answer == DdlRecorder::Answer::kHeld) {
        QueueUpstream(std::move(record), false);
      } else if (answer == DdlRecorder::Answer::kDrop) {
        // the answer to a message of the proxy's own
      } else if (std::optional<std::string> sasl;
                 upstream_.tls() && !client_.tls() && (sasl = WithoutChannelBinding(r.frame))) {
        // The database offers channel binding over its TLS leg; a client without TLS refuses
        // such an offer (libpq: "SCRAM-SHA-256-PLUS ... over a non-SSL connection").
        out.append(*sasl);
      } else if (reworded.has_value()) {
        out.append(*reworded);
      } else {
        out.append(r.frame.raw);
      }
      from_upstream_.Consume();
    }
    if (out.empty()) return ReadUpstream();
    Send(client_, std::move(out), [](Session* self) { self->ReadUpstream(); });
  }

  ProxyServer::State* server_;
  Leg client_;
  Leg upstream_;
  tcp::resolver resolver_;
  FrameDecoder from_client_;
  FrameDecoder from_upstream_;
  std::array<char, kReadChunk> client_buffer_;
  std::array<char, kReadChunk> upstream_buffer_;
  std::string startup_;
  DdlRecorder recorder_;
  struct UpstreamWrite {
    std::string bytes;
    bool then_read_client;
  };
  std::deque<UpstreamWrite> upstream_queue_;
  bool client_writing_ = false;  // a write to the client is in flight
  bool failing_ = false;         // Fail() was called: only the error goes to the client now
  std::string failure_;
  std::unique_ptr<asio::steady_timer> linger_;
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

absl::StatusOr<std::unique_ptr<ProxyServer>> ProxyServer::Start(const ProxyOptions& options, const base::Logger& log) {
  auto state = std::make_unique<State>(options, log);
  boost::system::error_code ec;
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("give both --tls-cert and --tls-key, or neither");
  }
  if (!options.tls_cert_file.empty()) {
    asio::ssl::context& tls = state->client_tls.emplace(asio::ssl::context::tls_server);
    tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    tls.use_certificate_chain_file(options.tls_cert_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          fmt::format("--tls-cert {}: {} (give a PEM certificate chain)", options.tls_cert_file, ec.message()));
    }
    tls.use_private_key_file(options.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          fmt::format("--tls-key {}: {} (give the PEM private key of --tls-cert)", options.tls_key_file, ec.message()));
    }
  }
  if (!options.upstream_ca_file.empty()) {
    state->upstream_tls.load_verify_file(options.upstream_ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          fmt::format("sslrootcert {}: {} (give the PEM CA bundle of the database's certificate)",
                      options.upstream_ca_file, ec.message()));
    }
  } else if (options.upstream_tls == UpstreamTls::kVerifyCa || options.upstream_tls == UpstreamTls::kVerifyFull) {
    state->upstream_tls.set_default_verify_paths(ec);
  }
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
  log.Info("proxy listening on {}:{}, forwarding to {}:{}", options.listen_host,
           state->acceptor.local_endpoint().port(), options.upstream_host, options.upstream_port);
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
