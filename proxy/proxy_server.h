// ProxyServer: a PostgreSQL wire-protocol proxy that applications connect through instead of the
// database. Session mode: one upstream connection per client. Messages are framed and forwarded
// as received; the proxy reads only startup packets and queries. Schema changes (DDL) in simple
// queries are recorded in the replication stream at their exact place: the proxy adds, in the
// same transaction and just before the statement, a transactional
//   SELECT pg_logical_emit_message(true, 'pgpitr.ddl', json{search_path, sql})
// and drops that statement's results before they reach the client. A schema change prepared
// through the extended protocol gets the same message, as a Parse/Bind/Execute of the proxy's own
// just before the client's Execute.
//   auto proxy = ProxyServer::Start({.listen_port = 6432, .upstream_host = "db", ...}, log);
//   ... proxy->Stop();
// TLS: with a certificate and key the proxy accepts TLS from clients (it answers SSLRequest with
// 'S'; without them, 'N'); towards the database it negotiates TLS as libpq's sslmode would. A
// terminated TLS connection cannot carry SCRAM channel binding end to end: when both legs use TLS,
// clients must connect with channel_binding=disable (the proxy says so when one tries).
// Asynchronous I/O on a small fixed pool of threads; each session's handlers run on its own strand.
// What to record and which answers are the proxy's own is DdlRecorder's (proxy/ddl_recorder.h); a
// session does the I/O.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/logger.h"
#include "pg/conninfo.h"
#include "pg/stream_messages.h"

namespace pgpitr::proxy {

// How the proxy's connection to the database uses TLS, in libpq's sslmode words.
enum class UpstreamTls {
  kDisable,     // never
  kPrefer,      // when the database accepts it (libpq's default)
  kRequire,     // always, without checking the certificate
  kVerifyCa,    // always, with the certificate checked against upstream_ca_file
  kVerifyFull,  // the same, and the certificate must name upstream_host
};

struct ProxyOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 6432;  // 0: any free port (see port())
  std::string upstream_host = "127.0.0.1";
  uint16_t upstream_port = 5432;
  int threads = 2;
  bool capture_ddl = true;
  // When set and true, the source's event triggers record schema changes (wal/event_triggers.h):
  // the proxy then forwards every statement as it is, but for its readings of large objects around
  // the statements that make or remove some (ddl_recorder.h).
  std::shared_ptr<const std::atomic<bool>> source_records_ddl;
  // run --set-replica-identity-full: recording schema changes, the proxy gives a published table a
  // statement leaves without a replica identity REPLICA IDENTITY FULL (ddl_recorder.h).
  bool identity_full = false;
  // When set and false, no role may be able to run PL/pgSQL in the database: the proxy adds no DO
  // block of its own (ddl_recorder.h).
  std::shared_ptr<const std::atomic<bool>> source_runs_plpgsql;
  // PEM files for TLS towards clients; both empty: clients are answered 'N' (plain text only).
  std::string tls_cert_file;
  std::string tls_key_file;
  UpstreamTls upstream_tls = UpstreamTls::kPrefer;
  std::string upstream_ca_file;  // kVerifyCa/kVerifyFull: the CA bundle that signed the database's certificate
};

// The upstream TLS mode for a libpq sslmode value (empty: libpq's default, prefer); an unknown
// value is an error.
[[nodiscard]] absl::StatusOr<UpstreamTls> UpstreamTlsFromSslmode(std::string_view sslmode);

// What libpq falls back on when a connection string leaves a key out (PGHOST, PGPORT, PGSSLMODE,
// PGSSLROOTCERT; empty when unset): passed in, so that ProxyOptionsFor reads no global state.
struct LibpqDefaults {
  std::string host;
  std::string port;
  std::string sslmode;
  std::string sslrootcert;
};

// The options of a proxy listening on `listen` (HOST:PORT) in front of `source`: where it reaches
// the source (its host or hostaddr, the first of several; over TCP only) and how (TLS as the source's
// sslmode and sslrootcert say, as libpq would). Bad input is InvalidArgument naming the fix.
[[nodiscard]] absl::StatusOr<ProxyOptions> ProxyOptionsFor(std::string_view listen, const pg::ConnInfo& source,
                                                           const LibpqDefaults& defaults);

class ProxyServer {
 public:
  // Binds the listening socket and starts the I/O threads.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ProxyServer>> Start(const ProxyOptions& options,
                                                                          const base::Logger& log);
  // Stops accepting, closes every session and joins the threads.
  ~ProxyServer();
  void Stop();

  uint16_t port() const;
  // Sessions open now (for tests and metrics).
  size_t sessions() const;

  struct State;  // the I/O context, acceptor and threads; opaque outside proxy_server.cc

 private:
  explicit ProxyServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace pgpitr::proxy
