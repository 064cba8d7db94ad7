//! Helpers of the end-to-end tests in `tests/`: finding (or building) the
//! workspace binaries, picking free loopback ports, and running real
//! processes under a guard that stops every one of them when the test ends,
//! also when it fails, and then shows their logs.
pub mod federation;

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (the parent of `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// The newest modification time of the files under `dir`.
fn newest_under(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else if let Ok(t) = meta.modified() {
                newest = newest.max(Some(t));
            }
        }
    }
    newest
}

/// Whether `binary` is older than a source it is built from (the crates of
/// the workspace that binaries depend on, and the lock file): then a test
/// run of this package alone would start yesterday's code.
fn stale(binary: &Path) -> bool {
    let Some(built) = std::fs::metadata(binary).and_then(|m| m.modified()).ok() else {
        return true;
    };
    let root = workspace_root();
    let sources = ["sel-node", "linkage-service", "mpc-core", "protocol-spec"]
        .iter()
        .filter_map(|c| newest_under(&root.join(c).join("src")));
    let lock = std::fs::metadata(root.join("Cargo.lock"))
        .and_then(|m| m.modified())
        .ok();
    sources.chain(lock).any(|t| t > built)
}

/// A workspace binary of the profile the calling test was built with; built
/// with cargo on demand when it is missing or older than its sources
/// (`cargo test -p e2e-tests` alone does not build other packages'
/// binaries; `cargo test --workspace` builds them first, so they are fresh
/// and no nested cargo runs).
pub fn binary(name: &str, package: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join(name);
    // Checked once per binary per test process (cargo decides the rest).
    static CHECKED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner());
    if !checked.iter().any(|n| n == name) && stale(&path) {
        let mut build = Command::new(env!("CARGO"));
        build
            .current_dir(workspace_root())
            .args(["build", "--quiet", "-p", package, "--bin", name]);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        assert!(
            build.status().expect("cargo build").success(),
            "building {name}"
        );
    }
    checked.push(name.to_owned());
    path
}

/// `n` distinct loopback ports that were free a moment ago. The processes
/// under test need their ports on the command line before they start (each
/// must know the others' URLs), so the ports are taken from the OS and
/// released again; all `n` are held at once so none is handed out twice.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local address").port())
        .collect()
}

/// A fresh scratch directory for one test run, removed by [`Scratch::drop`]
/// unless the test failed (then it is kept and its path printed, so the
/// logs and stores can be read).
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub fn new(label: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("sel-{label}-{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path).expect("remove an old scratch dir");
        }
        std::fs::create_dir_all(&path).expect("create scratch dir");
        Scratch { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("scratch dir kept for inspection: {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// One running process, its output going to a log file.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

/// Every process a test started. Dropping it (at the end of the test, or
/// while a failed assertion unwinds) kills and reaps each one; on failure it
/// prints the tail of every log first.
#[derive(Default)]
pub struct Processes {
    procs: Vec<Proc>,
}

/// How much of each log a failing test prints.
const LOG_TAIL_BYTES: usize = 6000;

impl Processes {
    pub fn new() -> Processes {
        Processes::default()
    }

    /// Starts `command` as `name` (unique among running processes), with
    /// stdout and stderr appended to `log`.
    pub fn spawn(&mut self, name: &str, mut command: Command, log: &Path) {
        assert!(
            self.procs.iter().all(|p| p.name != name),
            "process {name} is already running"
        );
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .expect("open log file");
        let err = out.try_clone().expect("clone log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        self.procs.push(Proc {
            name: name.to_owned(),
            child,
            log: log.to_path_buf(),
        });
    }

    /// Kills `name` (SIGKILL: no chance to tidy up, as in a crash) and waits
    /// for it.
    pub fn kill(&mut self, name: &str) {
        let i = self
            .procs
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("no process {name}"));
        let mut proc = self.procs.remove(i);
        let _ = proc.child.kill();
        let _ = proc.child.wait();
    }

    /// The OS process id of `name` while it runs (for sampling its memory
    /// in `/proc/<pid>/status`).
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.procs
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.child.id())
    }

    /// Panics (with the logs) if a process has exited: a server that died
    /// at start would otherwise only show up as a timeout.
    pub fn assert_running(&mut self) {
        for p in &mut self.procs {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("{} exited early with {status}", p.name);
            }
        }
    }

    /// The log of `name` so far.
    pub fn log(&self, name: &str) -> String {
        self.procs
            .iter()
            .find(|p| p.name == name)
            .map(|p| std::fs::read_to_string(&p.log).unwrap_or_default())
            .unwrap_or_default()
    }

    fn print_logs(&self) {
        for p in &self.procs {
            let text = std::fs::read_to_string(&p.log).unwrap_or_default();
            let mut start = text.len().saturating_sub(LOG_TAIL_BYTES);
            while !text.is_char_boundary(start) {
                start += 1;
            }
            eprintln!(
                "----- {} ({}), last {} bytes -----\n{}",
                p.name,
                p.log.display(),
                text.len() - start,
                &text[start..]
            );
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_logs();
        }
        for p in &mut self.procs {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

/// Polls `probe` every `every` until it returns `Some`, for at most
/// `limit`; panics naming `what` when the time is up. Tests wait for
/// processes this way instead of sleeping for a guessed time.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, every: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if start.elapsed() > limit {
            panic!("gave up waiting for {what} after {limit:?}");
        }
        tokio::time::sleep(every).await;
    }
}

/// Reads a CSV file with a header row and no quoted cells (what the tests'
/// own files and `registry export` hold: ids and base64) into rows of cells.
pub fn read_simple_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .unwrap_or_else(|| panic!("{} is empty", path.display()))
        .split(',')
        .map(str::to_owned)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// The LIDs a node keeps for the records of its database (the server's
/// LIDs of linkage mode, obtained from `freshIDs`), opened: read from the
/// node's sealed store under its node key, then each opened under the
/// site's LID key. The node must not be running (its store is locked).
///
/// This is where a site's own LIDs live: its registry never receives them
/// (they go from the node to the linkage service), so a check that the two
/// sites hold the same LID for the same patient is made here.
pub mod node_lids {
    use std::collections::HashMap;
    use std::path::Path;
    use std::sync::Arc;

    use linkage_service::keys::SiteKey;
    use linkage_service::lid::{Lid, open_lid};
    use sel_node::seal::NodeKey;
    use sel_node::store::NodeStore;
    use sel_node::store::redb::{DB_FILE, RedbStore};

    /// The file `sel-node serve` keeps its store in, inside its data dir.
    const NODE_STORE_FILE: &str = "node.redb";

    /// Why the LIDs could not be read. Names files and record ids, never a
    /// key or a LID.
    #[derive(Debug)]
    pub enum NodeLidsError {
        NodeKey(String),
        Store(String),
        Missing { record: String },
        Unopenable { record: String, reason: String },
    }

    impl std::fmt::Display for NodeLidsError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                NodeLidsError::NodeKey(e) => write!(f, "node key: {e}"),
                NodeLidsError::Store(e) => write!(f, "node store: {e}"),
                NodeLidsError::Missing { record } => {
                    write!(f, "the node holds no LID for record {record}")
                }
                NodeLidsError::Unopenable { record, reason } => {
                    write!(f, "the LID of record {record} does not open: {reason}")
                }
            }
        }
    }

    /// The opened LID of every record in `ids`, as node `node_dir` keeps
    /// them for the linkage service at `ls_url` (the URL exactly as given in
    /// initRemote; a trailing `/` is tried too).
    pub fn read(
        node_dir: &Path,
        node_key_file: &Path,
        ls_url: &str,
        site: &str,
        lid_key: &SiteKey,
        ids: &[String],
    ) -> Result<HashMap<String, Lid>, NodeLidsError> {
        let key = NodeKey::load(Some(node_key_file))
            .map_err(|e| NodeLidsError::NodeKey(e.to_string()))?;
        // The node's store file: `sel_node::node::STORE_FILE` once the node
        // has landed, else the store module's default name.
        let path = [NODE_STORE_FILE, DB_FILE]
            .iter()
            .map(|f| node_dir.join(f))
            .find(|p| p.exists())
            .ok_or_else(|| {
                NodeLidsError::Store(format!("no node store in {}", node_dir.display()))
            })?;
        let store = RedbStore::open(&path, Arc::new(key))
            .map_err(|e| NodeLidsError::Store(e.to_string()))?;
        let trimmed = ls_url.trim_end_matches('/');
        let mut best: Option<Vec<Option<String>>> = None;
        for url in [trimmed.to_owned(), format!("{trimmed}/")] {
            let sealed = store
                .load_lids(&url, ids)
                .map_err(|e| NodeLidsError::Store(e.to_string()))?;
            let found = sealed.iter().filter(|l| l.is_some()).count();
            if best
                .as_ref()
                .is_none_or(|b| found > b.iter().filter(|l| l.is_some()).count())
            {
                best = Some(sealed);
            }
        }
        let sealed = best.unwrap_or_default();
        ids.iter()
            .zip(sealed)
            .map(|(id, sealed)| {
                let sealed = sealed.ok_or_else(|| NodeLidsError::Missing { record: id.clone() })?;
                let lid =
                    open_lid(lid_key, site, &sealed).map_err(|e| NodeLidsError::Unopenable {
                        record: id.clone(),
                        reason: e.to_string(),
                    })?;
                Ok((id.clone(), lid))
            })
            .collect()
    }
}
