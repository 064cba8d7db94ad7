//! The connection to PostgreSQL for the shared-state backend
//! (`store = "postgres://…"`): a pool, versioned migrations, and a way for
//! the synchronous store traits to run queries.
//!
//! The node's store traits ([`crate::store::NodeStore`], the de-id stores)
//! are synchronous, because the embedded store is, and they are called both
//! from plain threads and from inside tokio tasks. A synchronous PostgreSQL
//! client cannot serve both: it drives its own runtime and panics when
//! called from inside another. So [`Pg`] owns a small runtime of its own
//! (two threads named `sel-pg`) that runs the async driver and its pool; a
//! call from any thread hands the query to that runtime and waits for the
//! answer, a short block like a redb disk write. Async callers use
//! [`Pg::run_async`] and do not block at all.
//!
//! TLS: a database on a loopback address or a Unix socket may be reached in
//! clear (nothing leaves the host); any other host is reached over TLS
//! verified by rustls against the system roots and an optional CA bundle,
//! whatever `sslmode` the URL says. There is no way to switch verification
//! off.
//!
//! Errors never carry a value: a server error is reported by its SQLSTATE
//! and message, never by its DETAIL (which can quote a row).

mod migrate;
#[doc(hidden)]
pub mod testing;

pub use migrate::Migration;

use std::future::Future;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::Host;

/// A pooled client, handed to the closures of [`Pg::run`]; it derefs to a
/// `tokio_postgres::Client` and goes back to the pool when dropped.
pub type PgClient = Object;

/// What went wrong talking to PostgreSQL. Never contains a value or a
/// password.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The URL or the pool settings are not usable.
    #[error("database settings: {0}")]
    Config(String),
    /// No connection could be made or kept (server down, refused, TLS).
    #[error("database connection: {0}")]
    Connect(String),
    /// The server refused a statement.
    #[error("database error {code}: {message}")]
    Server { code: String, message: String },
    /// The schema cannot be brought to this binary's version.
    #[error("database schema: {0}")]
    Migration(String),
    /// A row did not have the shape this binary expects.
    #[error("database row: {0}")]
    Row(String),
}

impl PgError {
    /// Whether the same statement may succeed when retried on a fresh
    /// connection: the connection broke, the server restarts or shuts down,
    /// or the transaction lost a serialisation race or a deadlock.
    pub fn is_transient(&self) -> bool {
        match self {
            PgError::Connect(_) => true,
            PgError::Server { code, .. } => {
                code.starts_with("08")
                    || matches!(
                        code.as_str(),
                        "57P01" | "57P02" | "57P03" | "40001" | "40P01"
                    )
            }
            _ => false,
        }
    }

    /// The SQLSTATE of a server error.
    pub fn code(&self) -> Option<&str> {
        match self {
            PgError::Server { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => PgError::Server {
                code: db.code().code().to_owned(),
                message: db.message().to_owned(),
            },
            // Closed connections, I/O and protocol errors: no server text.
            None if e.is_closed() => PgError::Connect("the connection is closed".into()),
            None => PgError::Connect(e.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(b) => b.into(),
            deadpool_postgres::PoolError::Timeout(_) => {
                PgError::Connect("timed out waiting for a database connection".into())
            }
            other => PgError::Connect(other.to_string()),
        }
    }
}

/// Pool settings.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Connections kept at most.
    pub max_connections: usize,
    /// How long a call waits for a free connection, or for a new one to be
    /// made, before it fails.
    pub connect_timeout: Duration,
    /// Extra CA certificates (PEM) trusted for the database's TLS
    /// certificate, besides the system roots.
    pub ca_bundle: Option<std::path::PathBuf>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            ca_bundle: None,
        }
    }
}

/// A connection pool to one PostgreSQL database and the runtime that
/// drives it. Cheap to clone; every clone shares the pool.
#[derive(Clone)]
pub struct Pg {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    handle: tokio::runtime::Handle,
    /// Taken in `Drop` and shut down in the background: dropping a runtime
    /// the normal way blocks, which panics inside another runtime.
    runtime: std::sync::Mutex<Option<tokio::runtime::Runtime>>,
    /// The URL without its password, for messages.
    display: String,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let rt = self
            .runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(rt) = rt {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg")
            .field("database", &self.inner.display)
            .finish_non_exhaustive()
    }
}

/// Whether every host of the URL is on this machine (loopback or a Unix
/// socket), so the connection may go without TLS.
fn all_hosts_local(config: &tokio_postgres::Config) -> bool {
    config.get_hosts().iter().all(|h| match h {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || IpAddr::from_str(name.trim_matches(['[', ']'])).is_ok_and(|ip| ip.is_loopback())
        }
    })
}

/// The URL with any password replaced, safe to log.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<not a URL>".into();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or("");
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    let path = tail.split('?').next().unwrap_or("");
    format!("{scheme}://{authority}{path}")
}

impl Pg {
    /// A pool for `url` (`postgres://user:password@host:port/database`).
    /// Connects once before returning, so a wrong URL or a server that is
    /// down fails here with a clear error rather than at the first job.
    pub fn connect(url: &str, options: PgOptions) -> Result<Pg, PgError> {
        let display = redacted_url(url);
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|_| PgError::Config(format!("not a PostgreSQL URL: {display}")))?;
        if config.get_hosts().is_empty() {
            return Err(PgError::Config(format!("no host in {display}")));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        config.application_name("sel-node");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sel-pg")
            .enable_all()
            .build()
            .map_err(|e| PgError::Config(format!("database runtime: {e}")))?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if all_hosts_local(&config)
            && config.get_ssl_mode() != tokio_postgres::config::SslMode::Require
        {
            Manager::from_config(config, tokio_postgres::NoTls, manager_config)
        } else {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            let tls = crate::tls::client_config(options.ca_bundle.as_deref())
                .map_err(|e| PgError::Config(format!("TLS for the database: {e}")))?;
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new((*tls).clone());
            Manager::from_config(config, tls, manager_config)
        };
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| PgError::Config(e.to_string()))?;
        let pg = Pg {
            inner: Arc::new(Inner {
                pool,
                handle: runtime.handle().clone(),
                runtime: std::sync::Mutex::new(Some(runtime)),
                display,
            }),
        };
        pg.run(|client| async move {
            client.simple_query("SELECT 1").await?;
            Ok(())
        })
        .map_err(|e| match e {
            PgError::Server { code, message } => {
                PgError::Connect(format!("{}: {code}: {message}", pg.inner.display))
            }
            PgError::Connect(m) => PgError::Connect(format!("{}: {m}", pg.inner.display)),
            other => other,
        })?;
        Ok(pg)
    }

    /// [`Pg::connect`] with the CA bundle given as a path.
    pub fn connect_with_ca(url: &str, ca_bundle: Option<&Path>) -> Result<Pg, PgError> {
        Pg::connect(
            url,
            PgOptions {
                ca_bundle: ca_bundle.map(Path::to_path_buf),
                ..PgOptions::default()
            },
        )
    }

    /// The database URL without its password.
    pub fn display_url(&self) -> &str {
        &self.inner.display
    }

    /// Runs `f` with a pooled client on the database runtime and waits for
    /// its result. Callable from any thread, inside a tokio runtime or not.
    pub fn run<T, F, Fut>(&self, f: F) -> Result<T, PgError>
    where
        F: FnOnce(PgClient) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, PgError>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let pool = self.inner.pool.clone();
        self.inner.handle.spawn(async move {
            let result = match pool.get().await {
                Ok(client) => f(client).await,
                Err(e) => Err(e.into()),
            };
            let _ = tx.send(result);
        });
        rx.recv()
            .map_err(|_| PgError::Connect("the database runtime stopped".into()))?
    }

    /// [`Pg::run`] for async callers: awaits instead of blocking.
    pub async fn run_async<T, F, Fut>(&self, f: F) -> Result<T, PgError>
    where
        F: FnOnce(PgClient) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, PgError>> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.inner.pool.clone();
        let task = self.inner.handle.spawn(async move {
            let client = pool.get().await?;
            f(client).await
        });
        task.await
            .map_err(|_| PgError::Connect("the database runtime stopped".into()))?
    }

    /// Brings `component`'s tables to the newest of `migrations` (see
    /// [`Migration`]): safe to call from several processes at once.
    pub fn migrate(
        &self,
        component: &'static str,
        migrations: &'static [Migration],
    ) -> Result<(), PgError> {
        migrate::check_list(component, migrations)?;
        self.run(move |client| migrate::apply(client, component, migrations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_urls_hide_passwords_and_parameters() {
        assert_eq!(
            redacted_url("postgres://sel:s3cret@db.example:5433/sel?sslmode=require&password=x"),
            "postgres://sel@db.example:5433/sel"
        );
        assert_eq!(
            redacted_url("postgresql://localhost/sel"),
            "postgresql://localhost/sel"
        );
        assert_eq!(redacted_url("sel"), "<not a URL>");
    }

    #[test]
    fn only_loopback_and_sockets_count_as_local() {
        let local = |url: &str| all_hosts_local(&tokio_postgres::Config::from_str(url).unwrap());
        assert!(local("postgres://u@127.0.0.1/db"));
        assert!(local("postgres://u@localhost:5432/db"));
        assert!(local("postgres://u@[::1]:5432/db"));
        assert!(local("host=/var/run/postgresql user=u"));
        assert!(!local("postgres://u@10.0.0.5/db"));
        assert!(!local("postgres://u@db.example/db"));
        assert!(!local("host=127.0.0.1,db.example user=u"));
    }

    #[test]
    fn transient_errors_are_connection_and_race_errors() {
        let server = |code: &str| PgError::Server {
            code: code.into(),
            message: String::new(),
        };
        assert!(PgError::Connect("x".into()).is_transient());
        assert!(server("08006").is_transient());
        assert!(server("57P01").is_transient());
        assert!(server("40001").is_transient());
        assert!(!server("23505").is_transient());
        assert!(!PgError::Migration("x".into()).is_transient());
    }

    #[test]
    fn a_bad_url_is_a_settings_error_without_the_password() {
        let e = Pg::connect("postgres://u:pw@host:notaport/db", PgOptions::default()).unwrap_err();
        assert!(matches!(e, PgError::Config(_)), "{e}");
        assert!(!e.to_string().contains("pw"));
    }
}
