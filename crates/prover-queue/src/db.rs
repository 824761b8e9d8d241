//! The connection to PostgreSQL: made on first use, re-made after PostgreSQL went away, every
//! statement bounded in time; and the schema, created once by whoever connects first.
//!
//! TLS follows the address's `sslmode` (`disable`, `prefer`: the default, `require`): when the
//! server offers TLS its certificate must verify against the system's roots and the CA file
//! given (a certificate that does not verify fails the connection; it never falls back to
//! plain text).

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio_postgres::{Client, Row, types::ToSql};
use tokio_postgres_rustls::MakeRustlsConnect;
use tracing::{debug, info};

use crate::error::QueueError;

/// How long one statement (or a connection attempt) may take.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The queue's tables. Idempotent; run under an advisory lock so that processes starting
/// together do not race on the catalog.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS gateway_proof_jobs (
    id              BIGSERIAL PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    backend         TEXT NOT NULL,
    what            TEXT NOT NULL,
    payload         BYTEA NOT NULL,
    state           TEXT NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts        INT NOT NULL DEFAULT 0,
    max_attempts    INT NOT NULL,
    worker          TEXT,
    claim           TEXT,
    lease_until     TIMESTAMPTZ,
    lease_expiries  INT NOT NULL DEFAULT 0,
    refused         INT NOT NULL DEFAULT 0,
    bad_workers     TEXT[] NOT NULL DEFAULT '{}',
    result          BYTEA,
    last_error      TEXT,
    prove_ms        BIGINT,
    taken           INT NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    queued_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at     TIMESTAMPTZ
);
ALTER TABLE gateway_proof_jobs ADD COLUMN IF NOT EXISTS claim TEXT;
ALTER TABLE gateway_proof_jobs ADD COLUMN IF NOT EXISTS queued_at TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS gateway_proof_jobs_claim ON gateway_proof_jobs (state, kind, id);
CREATE TABLE IF NOT EXISTS gateway_prover_workers (
    id          TEXT PRIMARY KEY,
    kinds       TEXT NOT NULL,
    backend     TEXT NOT NULL,
    concurrency INT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    seen_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    jobs_done   BIGINT NOT NULL DEFAULT 0
);
";

/// The advisory lock the schema is created under (any constant; ours).
const SCHEMA_LOCK: i64 = 0x6761_7465_7761_7901;

/// The TLS client settings: the system's roots, and those of `ca_file`.
fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, QueueError> {
    let mut roots = rustls::RootCertStore::empty();
    // Roots the system has (a certificate that does not parse is skipped).
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let bad = |reason: String| QueueError::Tls { file: path.display().to_string(), reason };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let certs = rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(bad("no certificate in it".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| QueueError::Tls { file: String::new(), reason: e.to_string() })?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("url", &self.url).finish_non_exhaustive()
    }
}

/// `url` if it is a PostgreSQL address (`postgres://user:password@host:port/db`, or the
/// `host=… user=…` form), else why not (without its password): for command-line parsers.
pub fn check_url(url: &str) -> Result<String, String> {
    url.parse::<tokio_postgres::Config>()
        .map(|_| url.to_string())
        .map_err(|e| format!("not a PostgreSQL address ({}): {e}", redact(url)))
}

/// `url` without its password (for logs, errors and the status): the `user:password@` of a
/// URL and any `password=` setting (in a URL's query or the `key=value` form).
pub fn redact(url: &str) -> String {
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((credentials, host)) => match credentials.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => url.to_string(),
            },
            None => url.to_string(),
        },
        None => url.to_string(),
    };
    let mut from = 0;
    while let Some(at) = out[from..].find("password=") {
        let start = from + at + "password=".len();
        let end = out[start..].find(['&', ' ']).map_or(out.len(), |e| start + e);
        out.replace_range(start..end, "***");
        from = start + 3;
    }
    out
}

/// One PostgreSQL connection, shared by a process's queue users; re-made when lost.
pub struct Db {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    url: String,
    /// The connection and the task driving it: aborted when the connection is replaced; else
    /// it ends by itself once the last handle of the client (which may outlive the `Db`) is
    /// dropped.
    client: tokio::sync::Mutex<Option<(Arc<Client>, tokio::task::JoinHandle<()>)>>,
    schema_ready: AtomicBool,
}

impl Db {
    /// A queue at `url` (`postgres://user:password@host:port/db`); nothing connects yet.
    pub fn new(url: &str) -> Result<Self, QueueError> {
        Self::with_ca_file(url, None)
    }

    /// [`Db::new`], also trusting the CA certificates (PEM) of `ca_file` for the server's TLS
    /// certificate (beside the system's roots).
    pub fn with_ca_file(url: &str, ca_file: Option<&Path>) -> Result<Self, QueueError> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|source| QueueError::BadUrl { url: redact(url), source })?;
        config
            .connect_timeout(STATEMENT_TIMEOUT)
            .application_name("gateway-exex")
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3)
            .tcp_user_timeout(STATEMENT_TIMEOUT);
        Ok(Self {
            config,
            tls: MakeRustlsConnect::new(tls_config(ca_file)?),
            url: redact(url),
            client: tokio::sync::Mutex::new(None),
            schema_ready: AtomicBool::new(false),
        })
    }

    /// The address without its password.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn error(&self, what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> QueueError + '_ {
        move |source| QueueError::Postgres { url: self.url.clone(), what, source }
    }

    async fn bounded<T>(
        &self,
        what: &'static str,
        future: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, QueueError> {
        tokio::time::timeout(STATEMENT_TIMEOUT, future).await.map_or_else(
            |_| {
                Err(QueueError::Timeout {
                    url: self.url.clone(),
                    what,
                    seconds: STATEMENT_TIMEOUT.as_secs(),
                })
            },
            |result| result.map_err(self.error(what)),
        )
    }

    /// Runs `future` on `client`; a statement that does not answer in time drops the connection
    /// (a server that stopped answering without closing it), so the next call makes a new one.
    async fn on<T>(
        &self,
        client: &Arc<Client>,
        what: &'static str,
        future: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, QueueError> {
        let result = self.bounded(what, future).await;
        if matches!(result, Err(QueueError::Timeout { .. })) {
            let mut slot = self.client.lock().await;
            if slot.as_ref().is_some_and(|(current, _)| Arc::ptr_eq(current, client))
                && let Some((_, driver)) = slot.take()
            {
                driver.abort();
            }
        }
        result
    }

    /// The connection, made (and the schema created) if there is none or it was lost.
    pub async fn client(&self) -> Result<Arc<Client>, QueueError> {
        let mut slot = self.client.lock().await;
        if let Some((client, _)) = slot.as_ref().filter(|(c, _)| !c.is_closed()) {
            return Ok(Arc::clone(client));
        }
        let had_one = match slot.take() {
            Some((_, driver)) => {
                driver.abort();
                true
            }
            None => false,
        };
        let (client, connection) =
            self.bounded("connecting", self.config.connect(self.tls.clone())).await?;
        let url = self.url.clone();
        let driver = tokio::spawn(async move {
            if let Err(err) = connection.await {
                debug!(target: "prover_queue", %url, %err, "connection ended");
            }
        });
        if !self.schema_ready.load(Ordering::Relaxed) {
            let schema =
                // (Notices such as "already exists, skipping" are not worth a log line.)
                format!("SET client_min_messages TO WARNING; BEGIN; SELECT pg_advisory_xact_lock({SCHEMA_LOCK}); {SCHEMA} COMMIT;");
            self.bounded("creating the schema", client.batch_execute(&schema)).await?;
            self.schema_ready.store(true, Ordering::Relaxed);
        }
        if had_one {
            info!(target: "prover_queue", url = %self.url, "reconnected to the prover queue");
        }
        let client = Arc::new(client);
        *slot = Some((Arc::clone(&client), driver));
        Ok(client)
    }

    /// Runs `sql` and returns its rows.
    pub(crate) async fn query(
        &self,
        what: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, QueueError> {
        let client = self.client().await?;
        self.on(&client, what, client.query(sql, params)).await
    }

    /// Runs `sql`; returns how many rows it changed.
    pub(crate) async fn execute(
        &self,
        what: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, QueueError> {
        let client = self.client().await?;
        self.on(&client, what, client.execute(sql, params)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        assert_eq!(
            redact("postgres://prover:s3cret@db.internal:5432/proofs"),
            "postgres://prover:***@db.internal:5432/proofs"
        );
        assert_eq!(redact("postgres://prover@db:5432/p"), "postgres://prover@db:5432/p");
        assert_eq!(redact("host=/tmp user=x"), "host=/tmp user=x");
        assert_eq!(
            redact("host=db user=prover password=s3cret dbname=proofs"),
            "host=db user=prover password=*** dbname=proofs"
        );
        assert_eq!(
            redact("postgres://prover@db/proofs?password=s3cret&sslmode=require"),
            "postgres://prover@db/proofs?password=***&sslmode=require"
        );
    }

    #[test]
    fn addresses_are_checked_before_anything_connects() {
        assert!(check_url("postgres://prover:pw@db:5432/proofs?sslmode=require").is_ok());
        assert!(check_url("host=/run/postgresql user=prover").is_ok());
        let err = check_url("postgres://u:pw@db:notaport/p").unwrap_err();
        assert!(err.contains("postgres://u:***@db:notaport/p") && !err.contains("pw@"), "{err}");
    }

    #[test]
    fn a_bad_address_is_named_without_its_password() {
        let err = Db::new("postgres://u:pw@host:notaport/db").unwrap_err().to_string();
        assert!(err.contains("postgres://u:***@host:notaport/db"), "{err}");
        assert!(!err.contains("pw@"), "{err}");
    }
}
