//! `node-bench`: the node end to end, in one process, on loopback. Nodes
//! (`sel_node::node::start`), the real linkage service
//! (`linkage_service::server::start`), a data service serving synthetic
//! records in HAL pages and a callback receiver; the REST API, the peer
//! channel and the linkage service speak TLS verified against a throw-away
//! CA. One JSON object per run on stdout, progress on stderr.
//!
//! ```text
//! node-bench --scenario single     [--db N] [--queries M] [--reps R]
//! node-bench --scenario concurrent [--db N] [--queries M] [--remotes K] [--jobs J]
//!            [--threads T] [--page-size P] [--seed S] [--no-engine]
//! ```
//!
//! `single`: two nodes; A links M records against B's N records
//! (`linkRecord` for M = 1, else `linkRecords`), timed from the REST POST to
//! the callback with the LID. Before timing, `/test` opens the peer
//! connection (which starts its OT setup, shared by every later job) and one
//! untimed job waits for that setup and fills B's database cache; that first
//! job is reported on its own line (`"run": "first"`).
//! Then, per repetition, the engine alone (`mpc_core::epilink` over a
//! loopback TCP pair, as `epilink-bench`) on the same records in the same
//! runtime, and the summary compares the two (target: node ≤ 1.3 × engine).
//!
//! `concurrent`: one asking node and K remotes, each answering from the same
//! data service; J `linkRecord` jobs spread round-robin over the remotes, run
//! one after another and then all submitted at once; the summary gives both
//! wall times and their ratio (target: concurrent ≤ sequential), and one
//! job's worth of the engine alone for scale.
//!
//! The data service and the callback receiver speak plain HTTP on loopback,
//! as the node tests configure them (both are the site's own services).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use linkage_service::admin::register;
use linkage_service::keys::MasterKey;
use linkage_service::server::RunningServer;
use linkage_service::service::{Service, ServiceConfig};
use linkage_service::store::Store;
use linkage_service::tls::TlsMaterial;
use mpc_core::channel::{Channel, StreamChannel, tcp_pair};
use mpc_core::epilink::synth::{Population, SynthOptions};
use mpc_core::epilink::{Options, run_client, run_server};
use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::messages::mainsel::{
    AlgorithmConfig, HalLinks, Link, RecordId, RecordsPage, WireRecord,
};
use protocol_spec::value::record_to_wire;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sel_node::node::{RunningNode, start};
use sel_node::seal::NodeKey;
use sel_node::settings::Settings;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use warp::Filter;

const USAGE: &str =
    "usage: node-bench --scenario single|concurrent [--db N] [--queries M] [--reps R] \
[--remotes K] [--jobs J] [--threads T] [--page-size P] [--seed S] [--no-engine]

single:     two nodes, the linkage service, a data service; M records linked against N, REST POST to
            callback, R timed repetitions after a warm-up, each compared with the engine alone.
concurrent: one asking node and K remotes; J linkRecord jobs one after another, then all at once.

Defaults: --db 10000 (single) / 2000 (concurrent), --queries 1, --reps 3, --remotes 4, --jobs 8,
--threads 2 (tokio workers shared by every party), --page-size 1000, --seed 1.";

/// How long one job may take before the bench gives up on its callback.
const CALLBACK_WAIT: Duration = Duration::from_secs(1800);

#[derive(Clone, Copy, PartialEq)]
enum Scenario {
    Single,
    Concurrent,
}

struct Args {
    scenario: Scenario,
    db: Option<usize>,
    queries: usize,
    reps: usize,
    remotes: usize,
    jobs: usize,
    threads: usize,
    page_size: usize,
    seed: u64,
    engine: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        scenario: Scenario::Single,
        db: None,
        queries: 1,
        reps: 3,
        remotes: 4,
        jobs: 8,
        threads: 2,
        page_size: 1000,
        seed: 1,
        engine: true,
    };
    let mut scenario = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let num = |name: &str, v: String| {
            v.replace('_', "")
                .parse::<usize>()
                .map_err(|e| format!("{name} {v}: {e}"))
        };
        match flag.as_str() {
            "--scenario" => {
                scenario = Some(match value("--scenario")?.as_str() {
                    "single" => Scenario::Single,
                    "concurrent" => Scenario::Concurrent,
                    other => return Err(format!("--scenario {other}: use single or concurrent")),
                })
            }
            "--db" => a.db = Some(num("--db", value("--db")?)?),
            "--queries" => a.queries = num("--queries", value("--queries")?)?,
            "--reps" => a.reps = num("--reps", value("--reps")?)?,
            "--remotes" => a.remotes = num("--remotes", value("--remotes")?)?,
            "--jobs" => a.jobs = num("--jobs", value("--jobs")?)?,
            "--threads" => a.threads = num("--threads", value("--threads")?)?,
            "--page-size" => a.page_size = num("--page-size", value("--page-size")?)?,
            "--seed" => a.seed = num("--seed", value("--seed")?)? as u64,
            "--no-engine" => a.engine = false,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    a.scenario = scenario.ok_or_else(|| format!("--scenario is required\n{USAGE}"))?;
    for (name, v) in [
        ("--queries", a.queries),
        ("--reps", a.reps),
        ("--remotes", a.remotes),
        ("--jobs", a.jobs),
        ("--threads", a.threads),
        ("--page-size", a.page_size),
    ] {
        if v == 0 {
            return Err(format!("{name} must be at least 1"));
        }
    }
    if a.db == Some(0) {
        return Err("--db must be at least 1".into());
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("node-bench: runtime: {e}");
            std::process::exit(1);
        }
    };
    let outcome = rt.block_on(async {
        match args.scenario {
            Scenario::Single => single(&args).await,
            Scenario::Concurrent => concurrent(&args).await,
        }
    });
    if let Err(e) = outcome {
        eprintln!("node-bench: {e}");
        std::process::exit(1);
    }
}

/// A progress line on stderr.
fn progress(text: &str) {
    eprintln!("node-bench: {text}");
}

fn secs(d: f64) -> f64 {
    (d * 1000.0).round() / 1000.0
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

// ---------------------------------------------------------------------------
// The scenarios
// ---------------------------------------------------------------------------

async fn single(args: &Args) -> Result<(), String> {
    let db = args.db.unwrap_or(10_000);
    let (config, pop) = population(db, args.queries, args.seed)?;
    let mut world = World::start(&config, &pop.database, 1, args.page_size).await?;
    let remote = world.remotes[0].id.clone();
    world.warm_up(&remote).await?;

    // The first job also fetches and caches B's database.
    progress(&format!(
        "first job ({} × {db}, untimed warm-up)",
        args.queries
    ));
    let first = world.link(&remote, &config, &pop.queries, "first").await?;
    first.print("single", "first", db, args.queries);

    let (mut node_times, mut engine_times) = (Vec::new(), Vec::new());
    for rep in 1..=args.reps {
        progress(&format!("rep {rep}/{}: node", args.reps));
        let run = world
            .link(&remote, &config, &pop.queries, &format!("rep{rep}"))
            .await?;
        run.print("single", "node", db, args.queries);
        node_times.push(run.seconds);
        if args.engine {
            progress(&format!("rep {rep}/{}: engine alone", args.reps));
            let (seconds, bytes) = engine(&config, &pop.queries, &pop.database).await?;
            println!(
                "{}",
                json!({"scenario": "single", "run": "engine", "db": db, "queries": args.queries,
                       "seconds": secs(seconds), "bytes": bytes})
            );
            engine_times.push(seconds);
        }
    }
    let node = median(&node_times);
    let mut summary = json!({
        "scenario": "single", "run": "summary", "db": db, "queries": args.queries,
        "reps": args.reps, "threads": args.threads,
        "first_job_seconds": secs(first.seconds),
        "node_seconds_median": secs(node),
        "node_seconds_min": secs(node_times.iter().copied().fold(f64::INFINITY, f64::min)),
    });
    if !engine_times.is_empty() {
        let engine = median(&engine_times);
        summary["engine_seconds_median"] = json!(secs(engine));
        summary["ratio_node_to_engine"] = json!((node / engine * 100.0).round() / 100.0);
        summary["target_ratio"] = json!(1.3);
    }
    println!("{summary}");
    world.shutdown().await;
    Ok(())
}

async fn concurrent(args: &Args) -> Result<(), String> {
    let db = args.db.unwrap_or(2_000);
    let (config, pop) = population(db, args.queries, args.seed)?;
    let mut world = World::start(&config, &pop.database, args.remotes, args.page_size).await?;
    let remotes: Vec<String> = world.remotes.iter().map(|r| r.id.clone()).collect();
    for r in &remotes {
        world.warm_up(r).await?;
    }
    // One untimed job per remote fills every remote's database cache, so
    // that neither timed phase pays for the fetches.
    progress("one untimed job per remote (connections, database caches)");
    let mut pending = Vec::new();
    for r in &remotes {
        let tag = format!("warm-{r}");
        pending.push(world.submit_link(r, &config, &pop.queries, &tag).await?);
    }
    world.collect(pending).await?;

    let target = |j: usize| remotes[j % remotes.len()].clone();
    progress(&format!("{} jobs one after another", args.jobs));
    let before = world.peer_bytes();
    let started = Instant::now();
    for j in 0..args.jobs {
        world
            .link(&target(j), &config, &pop.queries, &format!("seq{j}"))
            .await?;
    }
    let sequential = started.elapsed().as_secs_f64();
    let sequential_bytes = world.peer_bytes().saturating_sub(before);
    println!(
        "{}",
        json!({"scenario": "concurrent", "run": "sequential", "db": db, "queries": args.queries,
               "jobs": args.jobs, "remotes": args.remotes, "seconds": secs(sequential),
               "peer_bytes": sequential_bytes})
    );

    progress(&format!("{} jobs submitted at once", args.jobs));
    let before = world.peer_bytes();
    let started = Instant::now();
    let mut pending = Vec::new();
    for j in 0..args.jobs {
        pending.push(
            world
                .submit_link(&target(j), &config, &pop.queries, &format!("con{j}"))
                .await?,
        );
    }
    let finished = world.collect(pending).await?;
    let together = started.elapsed().as_secs_f64();
    let together_bytes = world.peer_bytes().saturating_sub(before);
    let slowest = finished.iter().copied().fold(0.0, f64::max);
    println!(
        "{}",
        json!({"scenario": "concurrent", "run": "concurrent", "db": db, "queries": args.queries,
               "jobs": args.jobs, "remotes": args.remotes, "seconds": secs(together),
               "slowest_job_seconds": secs(slowest), "peer_bytes": together_bytes})
    );
    let mut summary = json!({
        "scenario": "concurrent", "run": "summary", "db": db, "queries": args.queries,
        "jobs": args.jobs, "remotes": args.remotes, "threads": args.threads,
        "asking_node_workers": Settings::default().workers,
        "sequential_seconds": secs(sequential), "concurrent_seconds": secs(together),
        "ratio_concurrent_to_sequential": (together / sequential * 100.0).round() / 100.0,
        "target_ratio": 1.0,
    });
    if args.engine {
        // The engine alone, one job's worth, for scale: J of them back to
        // back is what the sequential phase costs without the node.
        progress("one job's worth of the engine alone");
        let (seconds, _) = engine(&config, &pop.queries, &pop.database).await?;
        summary["engine_seconds_one_job"] = json!(secs(seconds));
        summary["ratio_sequential_to_engine"] =
            json!((sequential / (seconds * args.jobs as f64) * 100.0).round() / 100.0);
    }
    println!("{summary}");
    world.shutdown().await;
    Ok(())
}

fn population(db: usize, queries: usize, seed: u64) -> Result<(LinkageConfig, Population), String> {
    let alg: AlgorithmConfig =
        serde_json::from_value(default_algorithm()?).map_err(|e| e.to_string())?;
    let config = LinkageConfig::from_wire(&alg).map_err(|e| e.to_string())?;
    progress(&format!(
        "synthetic population: {db} records, {queries} queries"
    ));
    let pop = Population::generate(
        &config,
        &SynthOptions {
            database: db,
            queries,
            seed,
            ..SynthOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    Ok((config, pop))
}

/// The engine alone: both parties of `mpc_core::epilink` over a loopback
/// TCP pair, as `epilink-bench` runs them. Seconds and payload bytes.
async fn engine(
    config: &LinkageConfig,
    queries: &[Record],
    database: &[Record],
) -> Result<(f64, u64), String> {
    let (a, b) = tcp_pair().await.map_err(|e| e.to_string())?;
    let (mut ca, mut cb) = (StreamChannel::new(a), StreamChannel::new(b));
    let (cfg_c, cfg_s) = (config.clone(), config.clone());
    let (q, d) = (queries.to_vec(), database.to_vec());
    let started = Instant::now();
    let client = tokio::spawn(async move {
        let r = run_client(&mut ca, &cfg_c, &q, &Options::default())
            .await
            .map(|_| ());
        (r, ca.stats())
    });
    let server = tokio::spawn(async move {
        let r = run_server(&mut cb, &cfg_s, &d, &Options::default())
            .await
            .map(|_| ());
        (r, cb.stats())
    });
    let (cr, cs) = client.await.map_err(|e| e.to_string())?;
    let (sr, ss) = server.await.map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    cr.map_err(|e| format!("engine client: {e}"))?;
    sr.map_err(|e| format!("engine server: {e}"))?;
    Ok((seconds, cs.bytes_sent + ss.bytes_sent))
}

// ---------------------------------------------------------------------------
// The world: nodes, linkage service, data service, callbacks
// ---------------------------------------------------------------------------

/// The shared key of every node pair on the peer channel.
const PAIR_KEY: &str = "bench-pair-key";
const LOCAL_ID: &str = "A";
const LOCAL_KEY: &str = "bench-key-of-A";

struct RemoteNode {
    id: String,
    node: RunningNode,
}

struct World {
    _root: TempDir,
    pki: Pki,
    http: reqwest::Client,
    ls: RunningServer,
    asking: RunningNode,
    remotes: Vec<RemoteNode>,
    callbacks: Callbacks,
}

/// One finished job, as the asking side saw it.
struct Run {
    seconds: f64,
    peer_bytes: u64,
    fetch_seconds: f64,
}

impl Run {
    fn print(&self, scenario: &str, run: &str, db: usize, queries: usize) {
        println!(
            "{}",
            json!({"scenario": scenario, "run": run, "db": db, "queries": queries,
                   "seconds": secs(self.seconds), "peer_bytes": self.peer_bytes,
                   "data_service_fetch_seconds": secs(self.fetch_seconds)})
        );
    }
}

/// A submitted job: its callback tag and when its POST was sent.
struct Pending {
    tag: String,
    sent: Instant,
}

impl World {
    async fn start(
        config: &LinkageConfig,
        database: &[Record],
        remotes: usize,
        page_size: usize,
    ) -> Result<World, String> {
        progress(&format!(
            "starting the linkage service, a data service, 1 + {remotes} nodes"
        ));
        let root = TempDir::new("node-bench")?;
        let pki = Pki::new(root.path())?;
        let http = pki.client()?;
        let remote_ids: Vec<String> = (1..=remotes).map(|k| format!("B{k}")).collect();
        let mut site_ids = vec![LOCAL_ID.to_string()];
        site_ids.extend(remote_ids.iter().cloned());
        let (ls, ls_url, ls_keys) = start_ls(&pki, root.path(), &site_ids).await?;
        let records = with_ids(config, database)?;
        let data_url = start_data_service(records, page_size).await?;
        let callbacks = start_callbacks().await?;

        let asking = start_node(root.path(), LOCAL_ID, &pki).await?;
        let rest_a = Rest::new(&http, &asking, LOCAL_KEY);
        rest_a
            .put(
                "/initLocal",
                &init_local(LOCAL_ID, LOCAL_KEY, "http://127.0.0.1:9/none")?,
            )
            .await?;
        let mut nodes = Vec::new();
        for id in &remote_ids {
            let node = start_node(root.path(), id, &pki).await?;
            let key = format!("bench-key-of-{id}");
            let rest = Rest::new(&http, &node, &key);
            rest.put("/initLocal", &init_local(id, &key, &data_url)?)
                .await?;
            rest.put(
                &format!("/initRemote/{LOCAL_ID}"),
                &init_remote(&asking, &ls_url, &ls_keys[id]),
            )
            .await?;
            rest_a
                .put(
                    &format!("/initRemote/{id}"),
                    &init_remote(&node, &ls_url, &ls_keys[LOCAL_ID]),
                )
                .await?;
            nodes.push(RemoteNode {
                id: id.clone(),
                node,
            });
        }
        Ok(World {
            _root: root,
            pki,
            http,
            ls,
            asking,
            remotes: nodes,
            callbacks,
        })
    }

    fn rest(&self) -> Rest<'_> {
        Rest::new(&self.http, &self.asking, LOCAL_KEY)
    }

    /// `/test` and `/testLS`: the peer connection (its OT setup starts in
    /// the background) and the linkage service are up before anything is
    /// timed.
    async fn warm_up(&self, remote: &str) -> Result<(), String> {
        progress(&format!("/test/{remote} (opens the peer connection)"));
        let started = Instant::now();
        let (status, body) = self.rest().get(&format!("/test/{remote}")).await?;
        if status != 200 {
            return Err(format!("/test/{remote}: {status} {body}"));
        }
        println!(
            "{}",
            json!({"run": "test", "remote": remote, "seconds": secs(started.elapsed().as_secs_f64())})
        );
        let (status, body) = self.rest().get(&format!("/testLS/{remote}")).await?;
        if status != 200 {
            return Err(format!("/testLS/{remote}: {status} {body}"));
        }
        Ok(())
    }

    /// Bytes on the asking node's peer connections, both directions.
    fn peer_bytes(&self) -> u64 {
        let m = self.asking.manager().metrics();
        m.peer_bytes_sent + m.peer_bytes_received
    }

    /// Seconds the remotes spent fetching from the data service so far.
    fn fetch_seconds(&self) -> f64 {
        self.remotes
            .iter()
            .map(|r| r.node.manager().metrics().data_service_fetch_seconds_sum)
            .sum()
    }

    /// POSTs one linkage job; returns when the node accepted it (202).
    async fn submit_link(
        &self,
        remote: &str,
        config: &LinkageConfig,
        queries: &[Record],
        tag: &str,
    ) -> Result<Pending, String> {
        let callback = json!({"url": self.callbacks.url(tag)});
        let (path, body) = if let [one] = queries {
            (
                format!("/linkRecord/{remote}"),
                json!({"callback": callback, "fields": record_to_wire(config, one).map_err(|e| e.to_string())?}),
            )
        } else {
            let records = queries
                .iter()
                .map(|r| {
                    record_to_wire(config, r)
                        .map(|f| json!({"fields": f}))
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            (
                format!("/linkRecords/{remote}"),
                json!({"callback": callback, "records": records}),
            )
        };
        let sent = Instant::now();
        self.rest().submit(&path, &body).await?;
        Ok(Pending {
            tag: tag.to_string(),
            sent,
        })
    }

    /// Waits for the callbacks of `pending`; seconds from each POST to its
    /// callback. Fails on a callback that carries an error or no LID.
    async fn collect(&mut self, pending: Vec<Pending>) -> Result<Vec<f64>, String> {
        let mut sent: HashMap<String, Instant> =
            pending.into_iter().map(|p| (p.tag, p.sent)).collect();
        let mut seconds = Vec::new();
        while !sent.is_empty() {
            let got = self.callbacks.next().await?;
            let Some(at) = sent.remove(&got.tag) else {
                return Err(format!("an unexpected callback ({})", got.tag));
            };
            seconds.push(got.at.duration_since(at).as_secs_f64());
            check_lids(&got.tag, &got.body)?;
        }
        Ok(seconds)
    }

    /// One job, end to end.
    async fn link(
        &mut self,
        remote: &str,
        config: &LinkageConfig,
        queries: &[Record],
        tag: &str,
    ) -> Result<Run, String> {
        let (bytes, fetch) = (self.peer_bytes(), self.fetch_seconds());
        let pending = self.submit_link(remote, config, queries, tag).await?;
        let seconds = self.collect(vec![pending]).await?[0];
        Ok(Run {
            seconds,
            peer_bytes: self.peer_bytes().saturating_sub(bytes),
            fetch_seconds: self.fetch_seconds() - fetch,
        })
    }

    async fn shutdown(self) {
        progress("stopping");
        self.asking.shutdown().await;
        for r in self.remotes {
            r.node.shutdown().await;
        }
        self.ls.shutdown().await;
        drop(self.pki);
    }
}

/// A linkage callback must carry a LID for every record (never printed:
/// LIDs are secrets even in a bench).
fn check_lids(tag: &str, body: &Value) -> Result<(), String> {
    if let Some(e) = body.get("error") {
        return Err(format!("job {tag} failed: {e}"));
    }
    let has_lid = |v: &Value| v.get("linkageId").is_some_and(Value::is_string);
    let ok = match &body["result"] {
        Value::Array(all) => !all.is_empty() && all.iter().all(has_lid),
        one => has_lid(one),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("job {tag}: the callback carries no LID"))
    }
}

// ---------------------------------------------------------------------------
// Harness (the minimal pieces of sel-node's test support)
// ---------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Result<TempDir, String> {
        let path = std::env::temp_dir().join(format!(
            "{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A throw-away CA and one certificate for 127.0.0.1, as DER (for the
/// linkage service) and PEM files (for the nodes).
struct Pki {
    ca_der: CertificateDer<'static>,
    leaf_der: CertificateDer<'static>,
    leaf_key_der: Vec<u8>,
    ca_file: PathBuf,
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Result<Pki, String> {
        let e = |e: rcgen::Error| format!("test CA: {e}");
        let mut ca_params = CertificateParams::default();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "node-bench CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca =
            CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(e)?).map_err(e)?;
        let leaf_key = KeyPair::generate().map_err(e)?;
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .map_err(e)?
            .signed_by(&leaf_key, &ca)
            .map_err(e)?;
        let (ca_file, cert_file, key_file) = (
            dir.join("ca.pem"),
            dir.join("cert.pem"),
            dir.join("key.pem"),
        );
        for (path, text) in [
            (&ca_file, ca.pem()),
            (&cert_file, leaf.pem()),
            (&key_file, leaf_key.serialize_pem()),
        ] {
            std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(Pki {
            ca_der: ca.der().clone(),
            leaf_der: leaf.der().clone(),
            leaf_key_der: leaf_key.serialize_der(),
            ca_file,
            cert_file,
            key_file,
        })
    }

    /// A client trusting exactly the throw-away CA (verification on).
    fn client(&self) -> Result<reqwest::Client, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_der.clone())
            .map_err(|e| format!("test CA: {e}"))?;
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))
    }
}

/// The real linkage service with `sites` registered: the server, its URL and
/// each site's API key.
async fn start_ls(
    pki: &Pki,
    root: &Path,
    sites: &[String],
) -> Result<(RunningServer, String, HashMap<String, String>), String> {
    let dir = root.join("ls");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let store = Arc::new(Store::open(&dir).map_err(|e| format!("linkage service store: {e}"))?);
    let master = Arc::new(MasterKey::from_bytes(&rand::random::<[u8; 32]>()));
    let mut keys = HashMap::new();
    for id in sites {
        let r = register(&store, &master, id).map_err(|e| format!("registering {id}: {e}"))?;
        keys.insert(id.clone(), r.api_key.to_string());
    }
    let tls = linkage_service::tls::server_config(TlsMaterial {
        certs: vec![pki.leaf_der.clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.leaf_key_der.clone())),
    })
    .map_err(|e| format!("linkage service TLS: {e}"))?;
    let service = Service::new(store, master, ServiceConfig::default())
        .map_err(|e| format!("linkage service: {e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let server = linkage_service::server::start(listener, tls, service)
        .map_err(|e| format!("linkage service: {e}"))?;
    let url = format!("https://127.0.0.1:{}", server.local_addr().port());
    Ok((server, url, keys))
}

async fn start_node(root: &Path, id: &str, pki: &Pki) -> Result<RunningNode, String> {
    let dir = root.join(id);
    let key_file = dir.join("node.key");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    NodeKey::generate_file(&key_file).map_err(|e| format!("node key of {id}: {e}"))?;
    start(Settings {
        api_listen: "127.0.0.1:0".parse().expect("an address"),
        peer_listen: "127.0.0.1:0".parse().expect("an address"),
        data_dir: dir,
        node_key_file: Some(key_file),
        tls_cert: Some(pki.cert_file.clone()),
        tls_key: Some(pki.key_file.clone()),
        ca_bundle: Some(pki.ca_file.clone()),
        ..Settings::default()
    })
    .await
    .map_err(|e| format!("node {id}: {e:#}"))
}

fn default_algorithm() -> Result<Value, String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/default-config.json"
    );
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

fn init_local(id: &str, key: &str, data_service: &str) -> Result<Value, String> {
    Ok(json!({
        "localId": id,
        "localAuthentication": {"authType": "apiKey", "sharedKey": key},
        "dataService": {"url": data_service},
        "algorithm": default_algorithm()?,
    }))
}

fn init_remote(peer: &RunningNode, ls_url: &str, ls_key: &str) -> Value {
    json!({
        "connectionProfile": {"url": format!("https://127.0.0.1:{}", peer.peer_addr().port()),
            "authentication": {"authType": "apiKey", "sharedKey": PAIR_KEY}},
        "matchingAllowed": false,
        "linkageService": {"url": ls_url,
            "authentication": {"authType": "apiKey", "sharedKey": ls_key}},
    })
}

/// One node's REST API, called as its site's own clients call it.
struct Rest<'a> {
    http: &'a reqwest::Client,
    base: String,
    auth: String,
}

impl<'a> Rest<'a> {
    fn new(http: &'a reqwest::Client, node: &RunningNode, key: &str) -> Rest<'a> {
        Rest {
            http,
            base: format!("https://127.0.0.1:{}", node.api_addr().port()),
            auth: format!("apiKey apiKey=\"{key}\""),
        }
    }

    async fn put(&self, path: &str, body: &Value) -> Result<(), String> {
        let r = self
            .http
            .put(format!("{}{path}", self.base))
            .header("authorization", &self.auth)
            .json(body)
            .send()
            .await
            .map_err(|e| format!("PUT {path}: {e}"))?;
        let status = r.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!(
                "PUT {path}: {status} {}",
                r.text().await.unwrap_or_default()
            ))
        }
    }

    async fn get(&self, path: &str) -> Result<(u16, String), String> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("authorization", &self.auth)
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = r.status().as_u16();
        Ok((status, r.text().await.unwrap_or_default()))
    }

    async fn submit(&self, path: &str, body: &Value) -> Result<(), String> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("authorization", &self.auth)
            .json(body)
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        let status = r.status();
        if status.as_u16() == 202 {
            Ok(())
        } else {
            Err(format!(
                "POST {path}: {status} {}",
                r.text().await.unwrap_or_default()
            ))
        }
    }
}

/// Database records with ids, as a data service serves them.
fn with_ids(config: &LinkageConfig, records: &[Record]) -> Result<Vec<WireRecord>, String> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(WireRecord {
                fields: record_to_wire(config, r).map_err(|e| e.to_string())?,
                id: Some(RecordId(format!("rec{i}"))),
            })
        })
        .collect()
}

/// A data service: `GET /records/{requester}?page=P` serves `records` in
/// HAL-linked pages of `page_size`. Returns its base URL.
async fn start_data_service(records: Vec<WireRecord>, page_size: usize) -> Result<String, String> {
    let records = Arc::new(records);
    let base = Arc::new(Mutex::new(String::new()));
    let (r, b) = (records.clone(), base.clone());
    let route = warp::get()
        .and(warp::path!("records" / String))
        .and(warp::query::<HashMap<String, String>>())
        .map(move |requester: String, query: HashMap<String, String>| {
            let last = r.len().div_ceil(page_size).max(1);
            let page: usize = query
                .get("page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1)
                .clamp(1, last);
            let chunk: Vec<WireRecord> = r
                .iter()
                .skip((page - 1) * page_size)
                .take(page_size)
                .cloned()
                .collect();
            let base = b.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let href = |p: usize| Link {
                href: format!("{base}/records/{requester}?page={p}"),
            };
            warp::reply::json(&RecordsPage {
                links: Some(HalLinks {
                    self_: Some(href(page)),
                    first: Some(href(1)),
                    prev: (page > 1).then(|| href(page - 1)),
                    next: (page < last).then(|| href(page + 1)),
                    last: Some(href(last)),
                }),
                total: Some(r.len() as u64),
                current_page_number: Some(page as u64),
                last_page_number: Some(last as u64),
                page_size: Some(page_size as u64),
                to_date: None,
                local_id: None,
                remote_id: Some(requester),
                records: chunk,
            })
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(warp::serve(route).incoming(listener).run());
    let url = format!("http://{addr}");
    *base.lock().unwrap_or_else(|p| p.into_inner()) = url.clone();
    Ok(format!("{url}/records"))
}

/// One received callback: its tag, when it arrived, its body.
struct Received {
    tag: String,
    at: Instant,
    body: Value,
}

/// A callback receiver: `POST /cb/{tag}`.
struct Callbacks {
    addr: SocketAddr,
    rx: mpsc::UnboundedReceiver<Received>,
}

impl Callbacks {
    fn url(&self, tag: &str) -> String {
        format!("http://{}/cb/{tag}", self.addr)
    }

    async fn next(&mut self) -> Result<Received, String> {
        tokio::time::timeout(CALLBACK_WAIT, self.rx.recv())
            .await
            .map_err(|_| "no callback within the time limit".to_string())?
            .ok_or_else(|| "the callback receiver stopped".to_string())
    }
}

async fn start_callbacks() -> Result<Callbacks, String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let route = warp::post()
        .and(warp::path!("cb" / String))
        .and(warp::body::json())
        .map(move |tag: String, body: Value| {
            let _ = tx.send(Received {
                tag,
                at: Instant::now(),
                body,
            });
            warp::reply()
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(warp::serve(route).incoming(listener).run());
    Ok(Callbacks { addr, rx })
}
