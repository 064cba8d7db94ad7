//! A PostgreSQL server for tests, and a fresh database per test.
//!
//! Where the server comes from, in order:
//! 1. `SEL_TEST_POSTGRES_URL`: a URL of a role that may create databases
//!    (`.ci/run` starts a server and sets it);
//! 2. otherwise a private server started once per test process from the
//!    PostgreSQL binaries on this machine (`initdb`, `pg_ctl` on the PATH or
//!    under `/usr/lib/postgresql/*/bin`), in a temporary directory, on a free
//!    loopback port, with trust authentication on loopback only; as root it
//!    runs as the `postgres` user (PostgreSQL refuses to run as root). A
//!    watchdog stops it and removes its directory when the test process ends.
//!
//! When neither works, [`fresh_database`] prints why and returns `None`, so
//! the test skips, except when the `CI` variable is set: there it panics,
//! because CI must run these tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::{Pg, PgOptions};

/// The variable naming an existing server.
pub const URL_VAR: &str = "SEL_TEST_POSTGRES_URL";

static SERVER: OnceLock<Result<String, String>> = OnceLock::new();

/// The admin URL of the test server, starting it if needed.
pub fn server_url() -> Result<String, String> {
    SERVER
        .get_or_init(|| match std::env::var(URL_VAR) {
            Ok(url) if !url.is_empty() => Ok(url),
            _ => start_private_server(false).map(|s| s.url),
        })
        .clone()
}

/// A server of one test's own, started from this machine's PostgreSQL
/// binaries, which the test may restart ([`PrivateServer::restart`]); an
/// external server (`SEL_TEST_POSTGRES_URL`) is not the test's to restart.
/// Stopped by the watchdog when the test process ends.
pub struct PrivateServer {
    url: String,
    pg_ctl: PathBuf,
    data: PathBuf,
    root: bool,
}

impl PrivateServer {
    /// The admin URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new, empty database on this server.
    pub fn fresh_database(&self, prefix: &str) -> String {
        create_database(&self.url, prefix)
    }

    /// Restarts the server (a fast shutdown: open connections are cut, as
    /// by a database failover or an upgrade), waiting until it is back.
    pub fn restart(&self) -> Result<(), String> {
        run(as_server_user(self.root, &self.pg_ctl)
            .arg("-D")
            .arg(&self.data)
            // A log file, or the server would hold this call's output pipe.
            .arg("-l")
            .arg(self.data.with_file_name("log"))
            .args(["-m", "fast", "-w", "-t", "60", "restart"]))
    }
}

/// A private server for one test, or `None` (with a message) when this
/// machine has no PostgreSQL binaries, outside CI (in CI: a panic).
pub fn private_server() -> Option<PrivateServer> {
    match start_private_server(false) {
        Ok(server) => Some(server),
        Err(why) => {
            if std::env::var_os("CI").is_some() {
                panic!("CI must run the PostgreSQL tests, but no private server: {why}");
            }
            eprintln!("SKIPPED: no private PostgreSQL server for this test ({why})");
            None
        }
    }
}

/// A new, empty database on the test server, named after `prefix`, or
/// `None` (with a message) when no server can be had outside CI.
pub fn fresh_database(prefix: &str) -> Option<String> {
    let admin = match server_url() {
        Ok(url) => url,
        Err(why) => {
            if std::env::var_os("CI").is_some() {
                panic!("CI must run the PostgreSQL tests, but no server: {why}");
            }
            eprintln!("SKIPPED: no PostgreSQL server for this test ({why})");
            return None;
        }
    };
    Some(create_database(&admin, prefix))
}

fn create_database(admin: &str, prefix: &str) -> String {
    let suffix: u64 = rand::random();
    let clean: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(30)
        .collect();
    let name = format!("sel_test_{clean}_{suffix:016x}");
    let pg = Pg::connect(admin, PgOptions::default())
        .unwrap_or_else(|e| panic!("test PostgreSQL server: {e}"));
    let statement = format!("CREATE DATABASE \"{name}\"");
    pg.run(move |c| async move {
        c.batch_execute(&statement).await?;
        Ok(())
    })
    .unwrap_or_else(|e| panic!("creating the test database: {e}"));
    with_database(admin, &name)
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .collect();
    // Highest version first.
    dirs.sort_by_key(|d| {
        std::cmp::Reverse(
            d.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0),
        )
    });
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A private server that flushes every commit to disk (`fsync`,
/// `synchronous_commit` on, as a production server), for benchmarks that
/// compare with the embedded store, which flushes too; `None` without
/// PostgreSQL binaries.
pub fn durable_private_server() -> Option<PrivateServer> {
    start_private_server(true)
        .inspect_err(|why| eprintln!("no durable private PostgreSQL server: {why}"))
        .ok()
}

/// Runs a PostgreSQL binary, as the `postgres` user when this process is
/// root.
fn as_server_user(root: bool, binary: &Path) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(binary);
        c
    } else {
        Command::new(binary)
    }
}

fn start_private_server(durable: bool) -> Result<PrivateServer, String> {
    let initdb = find_binary("initdb").ok_or("no initdb on this machine")?;
    let pg_ctl = find_binary("pg_ctl").ok_or("no pg_ctl on this machine")?;
    let root = output(Command::new("id").arg("-u")).as_deref() == Some("0");
    let dir = std::env::temp_dir().join(format!("sel-test-pg-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if root {
        let uid: u32 = output(Command::new("id").args(["-u", "postgres"]))
            .and_then(|u| u.parse().ok())
            .ok_or("running as root and there is no postgres user")?;
        let gid: u32 = output(Command::new("id").args(["-g", "postgres"]))
            .and_then(|g| g.parse().ok())
            .ok_or("no group of the postgres user")?;
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", dir.display()))?;
    }
    let data = dir.join("data");
    run(as_server_user(root, &initdb).arg("-D").arg(&data).args([
        "-U",
        "sel",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
    ]))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("free port: {e}"))?
        .port();
    // Tests need no durability; a benchmark against the embedded store does.
    let speed = if durable {
        ""
    } else {
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    };
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1{speed} -c max_connections=200",
        dir.display()
    );
    run(as_server_user(root, &pg_ctl)
        .arg("-D")
        .arg(&data)
        .arg("-o")
        .arg(&options)
        .arg("-l")
        .arg(dir.join("log"))
        .args(["-w", "-t", "60", "start"]))
    .map_err(|e| {
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        format!("{e}\n{log}")
    })?;
    // The watchdog: stops the server and removes its files once this test
    // process is gone, however it ends.
    let script = format!(
        "while [ -d /proc/{pid} ]; do sleep 1; done; \
         {ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        ctl = pg_ctl.display(),
        data = data.display(),
        dir = dir.display(),
    );
    let mut watchdog = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "sh", "-c", &script]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        c
    };
    watchdog
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("watchdog: {e}"))?;
    Ok(PrivateServer {
        url: format!("postgres://sel@127.0.0.1:{port}/postgres"),
        pg_ctl,
        data,
        root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://sel@127.0.0.1:5/postgres", "x"),
            "postgres://sel@127.0.0.1:5/x"
        );
        assert_eq!(
            with_database("postgres://sel@127.0.0.1:5/postgres?sslmode=disable", "x"),
            "postgres://sel@127.0.0.1:5/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://sel@127.0.0.1:5", "x"),
            "postgres://sel@127.0.0.1:5/x"
        );
    }

    #[test]
    fn a_fresh_database_is_reachable_and_empty() {
        let Some(url) = fresh_database("reachable") else {
            return;
        };
        let pg = Pg::connect(&url, PgOptions::default()).unwrap();
        let tables: i64 = pg
            .run(|c| async move {
                let row = c
                    .query_one(
                        "SELECT count(*) FROM information_schema.tables
                         WHERE table_schema = 'public'",
                        &[],
                    )
                    .await?;
                Ok(row.get(0))
            })
            .unwrap();
        assert_eq!(tables, 0);
    }
}
