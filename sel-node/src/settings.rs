//! The node's settings: `node.toml`, overridden by environment variables,
//! overridden by the command line (`sel-node serve`).
//!
//! Built-in defaults < the `--config` file < `SEL_*` environment variables <
//! flags. Environment variables and flags arrive together, already in that
//! order, through clap ([`ServeArgs`]); this module lays them over the file
//! and checks the result once, so the rest of the node never sees a
//! half-valid configuration. Relative paths are relative to the working
//! directory, wherever they were written.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::serve::ServeArgs;
use crate::deid::service::settings::{DeidFileSettings, DeidSettings};

/// Why the settings cannot be used. Names the file or setting.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{path}: {detail}")]
    File { path: String, detail: String },
    #[error("{setting}: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
}

/// Everything `sel-node serve` runs with. Defaults suit one site on one host.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The REST API (SPEC §3), for the site's own data service and clients.
    pub api_listen: SocketAddr,
    /// The peer channel, for remote nodes.
    pub peer_listen: SocketAddr,
    /// Serve the REST API over plain HTTP (only with `--insecure-http`).
    pub insecure_http: bool,
    /// Directory of the embedded store and generated files.
    pub data_dir: PathBuf,
    /// Where the node's state lives (`store`): the embedded store in
    /// `data_dir`, or a PostgreSQL database shared by several processes.
    pub store: StoreLocation,
    /// The node key file (base64 of 32 bytes); else `SEL_NODE_KEY`.
    pub node_key_file: Option<PathBuf>,
    /// This node's certificate chain and key (PEM), for both listeners.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Extra trusted CA certificates (PEM), added to the system roots for
    /// every outgoing TLS connection (peers, linkage service, data service,
    /// callbacks).
    pub ca_bundle: Option<PathBuf>,
    /// Largest REST request body (default fits 10,000 records).
    pub max_body_bytes: u64,
    /// Jobs waiting or running at once, over all remotes / per remote.
    pub max_queued_jobs: usize,
    pub max_queued_jobs_per_remote: usize,
    /// Jobs computing at once, over all remotes / per remote.
    pub workers: usize,
    pub workers_per_remote: usize,
    /// Server-side jobs (announced by remotes) computing at once.
    pub max_incoming_jobs: usize,
    /// Largest query set (M) and database (N) accepted.
    pub max_query_records: u64,
    pub max_database_records: u64,
    /// How long a fetched database is reused.
    pub cache_max_age: Duration,
    /// How long a job waits in HOLD (remote busy, linkage service down)
    /// before it goes to FAULT.
    pub hold_deadline: Duration,
    /// Callback delivery attempts and the first backoff delay.
    pub callback_attempts: u32,
    pub callback_first_delay: Duration,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl: Duration,
    /// The de-identification service (`[deid]`; off unless `listen` is set).
    pub deid: DeidSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            api_listen: "127.0.0.1:8161".parse().expect("valid address"),
            peer_listen: "127.0.0.1:8162".parse().expect("valid address"),
            insecure_http: false,
            data_dir: PathBuf::from("sel-data"),
            store: StoreLocation::Embedded,
            node_key_file: None,
            tls_cert: None,
            tls_key: None,
            ca_bundle: None,
            max_body_bytes: 64 << 20,
            max_queued_jobs: 256,
            max_queued_jobs_per_remote: 64,
            workers: 2,
            workers_per_remote: 2,
            max_incoming_jobs: 2,
            max_query_records: 100_000,
            max_database_records: 10_000_000,
            cache_max_age: Duration::from_secs(600),
            hold_deadline: Duration::from_secs(300),
            callback_attempts: 6,
            callback_first_delay: Duration::from_millis(500),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            deid: DeidSettings::default(),
        }
    }
}

/// A duration as written by an operator: seconds (`600`), or a number with
/// one unit: `ms`, `s`, `m`, `h`, `d` (`500ms`, `10m`, `2h`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(format!(
            "{text:?} is not a duration (seconds, or a number with ms, s, m, h or d)"
        ));
    }
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: the number is too large"))?;
    let millis_per_unit: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use ms, s, m, h or d)"
            ));
        }
    };
    n.checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// A duration in `node.toml`: an integer of seconds or a string for
/// [`parse_duration`].
#[derive(Debug, Clone, Copy)]
struct FileDuration(Duration);

impl<'de> Deserialize<'de> for FileDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected seconds (a non-negative integer) or a string like \"10m\"",
            )
        })? {
            Raw::Seconds(s) => Ok(FileDuration(Duration::from_secs(s))),
            Raw::Text(t) => parse_duration(&t)
                .map(FileDuration)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Where the node keeps its state: `store = "embedded"` (the default) or
/// `store = "postgres://user:password@host:port/database"`.
///
/// The URL may hold a password, so `Debug` and [`Settings::to_toml`] show it
/// without one.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum StoreLocation {
    /// redb files in `data_dir`: nothing to install, one process.
    #[default]
    Embedded,
    /// A PostgreSQL database; several `sel-node serve` processes on one
    /// database behave as one node.
    Postgres { url: String },
}

impl StoreLocation {
    /// The location as an operator may see it (no password).
    pub fn display(&self) -> String {
        match self {
            StoreLocation::Embedded => "embedded".into(),
            StoreLocation::Postgres { url } => crate::pg::redacted_url(url),
        }
    }
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl std::str::FromStr for StoreLocation {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "embedded" || text == "redb" {
            Ok(StoreLocation::Embedded)
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Ok(StoreLocation::Postgres { url: text.into() })
        } else {
            Err("expected \"embedded\" or a postgres:// URL".into())
        }
    }
}

impl<'de> Deserialize<'de> for StoreLocation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `node.toml`: every setting but `insecure_http`, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    api_listen: Option<SocketAddr>,
    peer_listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    store: Option<StoreLocation>,
    node_key_file: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    ca_bundle: Option<PathBuf>,
    max_body_bytes: Option<u64>,
    max_queued_jobs: Option<usize>,
    max_queued_jobs_per_remote: Option<usize>,
    workers: Option<usize>,
    workers_per_remote: Option<usize>,
    max_incoming_jobs: Option<usize>,
    max_query_records: Option<u64>,
    max_database_records: Option<u64>,
    cache_max_age: Option<FileDuration>,
    hold_deadline: Option<FileDuration>,
    callback_attempts: Option<u32>,
    callback_first_delay: Option<FileDuration>,
    idempotency_ttl: Option<FileDuration>,
    deid: Option<DeidFileSettings>,
}

impl FileSettings {
    fn read(path: &Path) -> Result<FileSettings, SettingsError> {
        let err = |detail: String| SettingsError::File {
            path: path.display().to_string(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        toml::from_str(&text).map_err(|e| err(e.to_string().trim_end().to_string()))
    }
}

/// Overwrites each `$field` of `$to` that `$from` sets (`$map` converts).
macro_rules! overlay {
    ($to:expr, $from:expr, $map:expr; $($field:ident),+ $(,)?) => {
        $(if let Some(v) = $from.$field.clone() {
            $to.$field = $map(v);
        })+
    };
}

impl Settings {
    /// Defaults < `args.config` < environment < flags, checked.
    pub fn load(args: &ServeArgs) -> Result<Settings, SettingsError> {
        let mut settings = Settings::default();
        if let Some(path) = &args.config {
            settings.overlay_file(FileSettings::read(path)?);
        }
        settings.overlay_args(args);
        settings.insecure_http = args.insecure_http;
        settings.validate()?;
        Ok(settings)
    }

    fn overlay_file(&mut self, mut file: FileSettings) {
        if let Some(deid) = file.deid.take() {
            self.deid.overlay_file(deid);
        }
        overlay!(self, file, std::convert::identity;
            api_listen, peer_listen, max_body_bytes, max_queued_jobs,
            max_queued_jobs_per_remote, workers, workers_per_remote, max_incoming_jobs,
            max_query_records, max_database_records, callback_attempts);
        overlay!(self, file, std::convert::identity; data_dir, store);
        overlay!(self, file, Some; node_key_file, tls_cert, tls_key, ca_bundle);
        overlay!(self, file, |d: FileDuration| d.0;
            cache_max_age, hold_deadline, callback_first_delay, idempotency_ttl);
    }

    fn overlay_args(&mut self, args: &ServeArgs) {
        overlay!(self, args, std::convert::identity;
            api_listen, peer_listen, max_body_bytes, max_queued_jobs,
            max_queued_jobs_per_remote, workers, workers_per_remote, max_incoming_jobs,
            max_query_records, max_database_records, callback_attempts);
        overlay!(self, args, std::convert::identity; data_dir, store);
        overlay!(self, args, Some; node_key_file, tls_cert, tls_key, ca_bundle);
        overlay!(self, args, std::convert::identity;
            cache_max_age, hold_deadline, callback_first_delay, idempotency_ttl);
    }

    /// The count settings by name: each must be at least 1 ([`Self::validate`])
    /// and each is written out by [`Self::to_toml`]. One list, so that a new
    /// count is both checked and written.
    fn counts(&self) -> [(&'static str, u64); 9] {
        [
            ("max_body_bytes", self.max_body_bytes),
            ("max_queued_jobs", self.max_queued_jobs as u64),
            (
                "max_queued_jobs_per_remote",
                self.max_queued_jobs_per_remote as u64,
            ),
            ("workers", self.workers as u64),
            ("workers_per_remote", self.workers_per_remote as u64),
            ("max_incoming_jobs", self.max_incoming_jobs as u64),
            ("max_query_records", self.max_query_records),
            ("max_database_records", self.max_database_records),
            ("callback_attempts", u64::from(self.callback_attempts)),
        ]
    }

    /// What no default can make right: counts that must be positive, a
    /// certificate without its key, both listeners on one port.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let positive = self.counts();
        if let Some((setting, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(SettingsError::Invalid {
                setting,
                reason: "must be at least 1".into(),
            });
        }
        if self.idempotency_ttl.is_zero() {
            return Err(SettingsError::Invalid {
                setting: "idempotency_ttl",
                reason: "must be longer than zero".into(),
            });
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                return Err(SettingsError::Invalid {
                    setting: "tls_key",
                    reason: "tls_cert is set, so tls_key must be too".into(),
                });
            }
            (None, Some(_)) => {
                return Err(SettingsError::Invalid {
                    setting: "tls_cert",
                    reason: "tls_key is set, so tls_cert must be too".into(),
                });
            }
            _ => {}
        }
        if self.api_listen == self.peer_listen && self.api_listen.port() != 0 {
            return Err(SettingsError::Invalid {
                setting: "peer_listen",
                reason: format!("the REST API already listens on {}", self.api_listen),
            });
        }
        self.deid
            .validate()
            .map_err(|(setting, reason)| SettingsError::Invalid { setting, reason })?;
        if let Some(deid) = self.deid.listen.filter(|a| a.port() != 0)
            && (deid == self.api_listen || deid == self.peer_listen)
        {
            return Err(SettingsError::Invalid {
                setting: "deid.listen",
                reason: format!("another listener of the node already uses {deid}"),
            });
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(SettingsError::Invalid {
                setting: "data_dir",
                reason: "must not be empty".into(),
            });
        }
        Ok(())
    }

    /// The settings as `node.toml` text (for `serve --check`); holds no
    /// secret, only paths. `insecure_http` is a comment: the file cannot
    /// set it.
    pub fn to_toml(&self) -> String {
        use toml::Value;
        let mut t = toml::Table::new();
        let path = |p: &Path| Value::String(p.display().to_string());
        let int = |n: u64| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
        let secs = |d: Duration| {
            if d.subsec_millis() == 0 {
                Value::String(format!("{}s", d.as_secs()))
            } else {
                Value::String(format!("{}ms", d.as_millis()))
            }
        };
        t.insert(
            "api_listen".into(),
            Value::String(self.api_listen.to_string()),
        );
        t.insert(
            "peer_listen".into(),
            Value::String(self.peer_listen.to_string()),
        );
        t.insert("data_dir".into(), path(&self.data_dir));
        t.insert("store".into(), Value::String(self.store.display()));
        for (name, value) in [
            ("node_key_file", &self.node_key_file),
            ("tls_cert", &self.tls_cert),
            ("tls_key", &self.tls_key),
            ("ca_bundle", &self.ca_bundle),
        ] {
            if let Some(p) = value {
                t.insert(name.into(), path(p));
            }
        }
        for (name, n) in self.counts() {
            t.insert(name.into(), int(n));
        }
        for (name, d) in [
            ("cache_max_age", self.cache_max_age),
            ("hold_deadline", self.hold_deadline),
            ("callback_first_delay", self.callback_first_delay),
            ("idempotency_ttl", self.idempotency_ttl),
        ] {
            t.insert(name.into(), secs(d));
        }
        if let Ok(toml::Value::Table(deid)) = toml::Value::try_from(&self.deid) {
            t.insert("deid".into(), Value::Table(deid));
        }
        format!(
            "# insecure_http = {} (command line only)\n{}",
            self.insecure_http,
            toml::to_string(&t).unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `ServeArgs` as clap parses it. These tests pass flags and files only
    /// (and assume no `SEL_*` setting in the test's environment); the
    /// environment's place in the order is tested through the binary
    /// (`tests/serve_cli.rs`).
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn args(flags: &[&str]) -> ServeArgs {
        let mut argv = vec!["serve"];
        argv.extend_from_slice(flags);
        Cli::try_parse_from(argv).expect("flags parse").args
    }

    fn config_file(test: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sel-node-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{test}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn durations_take_seconds_or_one_unit() {
        assert_eq!(parse_duration("600"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration(" 2h "), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        for bad in [
            "",
            "m",
            "-1",
            "1.5s",
            "10 minutes",
            "3w",
            "99999999999999999999",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn defaults_hold_without_file_or_flags() {
        let s = Settings::load(&ServeArgs::default()).unwrap();
        let d = Settings::default();
        assert_eq!(s.api_listen, d.api_listen);
        assert_eq!(s.workers, d.workers);
        assert_eq!(s.idempotency_ttl, Duration::from_secs(86_400));
        assert!(!s.insecure_http);
    }

    #[test]
    fn the_store_is_embedded_or_a_postgres_url_shown_without_its_password() {
        assert_eq!(Settings::default().store, StoreLocation::Embedded);
        let path = config_file(
            "store",
            r#"store = "postgres://sel:hunter2@db.example:5432/sel?sslmode=require""#,
        );
        let s = Settings::load(&args(&["--config", path.to_str().unwrap()])).unwrap();
        assert!(matches!(&s.store, StoreLocation::Postgres { url } if url.contains("hunter2")));
        for shown in [format!("{s:?}"), s.to_toml()] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(
                shown.contains("postgres://sel@db.example:5432/sel"),
                "{shown}"
            );
        }
        let flagged = Settings::load(&args(&[
            "--config",
            path.to_str().unwrap(),
            "--store",
            "embedded",
        ]))
        .unwrap();
        assert_eq!(flagged.store, StoreLocation::Embedded);
        let bad = config_file("store_bad", r#"store = "mysql://x""#);
        let e = Settings::load(&args(&["--config", bad.to_str().unwrap()])).unwrap_err();
        assert!(e.to_string().contains("postgres://"), "{e}");
    }

    #[test]
    fn the_file_overrides_defaults_and_flags_override_the_file() {
        let path = config_file(
            "precedence",
            r#"
                api_listen = "0.0.0.0:9000"
                workers = 5
                cache_max_age = "10m"
                hold_deadline = 42
                data_dir = "/var/lib/sel"
                tls_cert = "node.pem"
                tls_key = "node.key"
            "#,
        );
        let from_file = Settings::load(&args(&["--config", path.to_str().unwrap()])).unwrap();
        assert_eq!(from_file.api_listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(from_file.workers, 5);
        assert_eq!(from_file.cache_max_age, Duration::from_secs(600));
        assert_eq!(from_file.hold_deadline, Duration::from_secs(42));
        assert_eq!(from_file.tls_cert, Some(PathBuf::from("node.pem")));
        assert_eq!(
            from_file.max_queued_jobs,
            Settings::default().max_queued_jobs
        );

        let flagged = Settings::load(&args(&[
            "--config",
            path.to_str().unwrap(),
            "--workers",
            "7",
            "--cache-max-age",
            "90s",
            "--insecure-http",
        ]))
        .unwrap();
        assert_eq!(flagged.workers, 7);
        assert_eq!(flagged.cache_max_age, Duration::from_secs(90));
        assert_eq!(flagged.api_listen, "0.0.0.0:9000".parse().unwrap());
        assert!(flagged.insecure_http);
    }

    #[test]
    fn bad_files_name_the_file_and_the_key() {
        let unknown = config_file("unknown", "wrokers = 3\n");
        match Settings::load(&args(&["--config", unknown.to_str().unwrap()])) {
            Err(SettingsError::File { path, detail }) => {
                assert!(path.ends_with("unknown.toml"));
                assert!(detail.contains("wrokers"), "{detail}");
            }
            other => panic!("expected a file error, got {other:?}"),
        }
        // insecure_http is not a file setting.
        let insecure = config_file("insecure", "insecure_http = true\n");
        assert!(matches!(
            Settings::load(&args(&["--config", insecure.to_str().unwrap()])),
            Err(SettingsError::File { .. })
        ));
        let duration = config_file("duration", "hold_deadline = \"soon\"\n");
        match Settings::load(&args(&["--config", duration.to_str().unwrap()])) {
            Err(SettingsError::File { detail, .. }) => {
                assert!(detail.contains("hold_deadline"), "{detail}")
            }
            other => panic!("expected a file error, got {other:?}"),
        }
        let missing = Settings::load(&args(&["--config", "/nonexistent/node.toml"]));
        assert!(matches!(missing, Err(SettingsError::File { .. })));
    }

    #[test]
    fn invalid_combinations_are_refused() {
        let cases: [(&[&str], &str); 5] = [
            (&["--workers", "0"], "workers"),
            (&["--callback-attempts", "0"], "callback_attempts"),
            (&["--tls-cert", "a.pem"], "tls_key"),
            (&["--tls-key", "a.key"], "tls_cert"),
            (
                &[
                    "--api-listen",
                    "127.0.0.1:9000",
                    "--peer-listen",
                    "127.0.0.1:9000",
                ],
                "peer_listen",
            ),
        ];
        for (flags, expected) in cases {
            match Settings::load(&args(flags)) {
                Err(SettingsError::Invalid { setting, .. }) => assert_eq!(setting, expected),
                other => panic!("{flags:?}: expected {expected} to be invalid, got {other:?}"),
            }
        }
        // Port 0 twice is fine (tests bind ephemeral ports).
        assert!(
            Settings::load(&args(&[
                "--api-listen",
                "127.0.0.1:0",
                "--peer-listen",
                "127.0.0.1:0"
            ]))
            .is_ok()
        );
    }

    #[test]
    fn printed_settings_load_back_as_a_config_file() {
        let mut original = args(&["--workers", "3", "--callback-first-delay", "250ms"]);
        original.tls_cert = Some("c.pem".into());
        original.tls_key = Some("k.pem".into());
        let s = Settings::load(&original).unwrap();
        let path = config_file("roundtrip", &s.to_toml());
        let back = Settings::load(&args(&["--config", path.to_str().unwrap()])).unwrap();
        assert_eq!(back.to_toml(), s.to_toml());
        assert_eq!(back.callback_first_delay, Duration::from_millis(250));
        assert_eq!(back.workers, 3);
    }

    #[test]
    fn the_deid_section_is_read_checked_and_printed() {
        let path = config_file(
            "deid",
            r#"
                api_listen = "127.0.0.1:9100"
                [deid]
                listen = "127.0.0.1:9103"
                rate_limit_per_minute = 30
                [deid.policy]
                ZIP = "keep"
            "#,
        );
        let s = Settings::load(&args(&["--config", path.to_str().unwrap()])).unwrap();
        assert_eq!(s.deid.listen, Some("127.0.0.1:9103".parse().unwrap()));
        assert_eq!(s.deid.rate_limit_per_minute, 30);
        assert_eq!(
            s.deid.policy["SSN"],
            crate::deid::service::PolicyAction::Hash
        );
        let back = config_file("deid-back", &s.to_toml());
        let reloaded = Settings::load(&args(&["--config", back.to_str().unwrap()])).unwrap();
        assert_eq!(reloaded.deid, s.deid);
        assert!(
            Settings::load(&ServeArgs::default())
                .unwrap()
                .deid
                .listen
                .is_none()
        );

        let clash = config_file(
            "deid-clash",
            "api_listen = \"127.0.0.1:9100\"\n[deid]\nlisten = \"127.0.0.1:9100\"\n",
        );
        match Settings::load(&args(&["--config", clash.to_str().unwrap()])) {
            Err(SettingsError::Invalid { setting, .. }) => assert_eq!(setting, "deid.listen"),
            other => panic!("expected deid.listen to be invalid, got {other:?}"),
        }
        let typo = config_file("deid-typo", "[deid]\nlisen = \"127.0.0.1:1\"\n");
        assert!(matches!(
            Settings::load(&args(&["--config", typo.to_str().unwrap()])),
            Err(SettingsError::File { .. })
        ));
    }
}
