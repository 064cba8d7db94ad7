//! `epilink-bench`: the two-party EpiLink protocol end to end, both parties
//! in one process talking over loopback TCP (two tokio tasks on a 2-worker
//! runtime), one JSON object per run on stdout.
//!
//! ```text
//! epilink-bench [--db N] [--queries M] [--seed S] [--config C]
//!               [--client A.jsonl --server B.jsonl] [--out FILE]
//!               [--carries min-gates|balanced|min-rounds] [--lanes L] [--ot-k K] [--reps R]
//!               [--record-arity 2|4|8] [--ot softspoken|ferret]
//!               [--matching] [--check] [--listen ADDR | --connect ADDR]
//!               [--profile lan|wan] [--predict]
//! ```
//!
//! `--profile lan|wan` runs with a profile's knobs
//! (`mpc_core::epilink::ProfileKnobs`; a later `--carries` overrides its
//! carries). `--predict` runs nothing: it prints the cost engine's exact
//! prediction (`mpc_core::epilink::cost_engine::predict`) of both parties'
//! bytes, messages and rounds for the job the same flags would run, on a
//! connection whose OTs are set up (the node's case; a standalone run like
//! this benchmark's adds the OT extension setup, a few KB and rounds).
//!
//! Without `--client/--server` the records are a synthetic population
//! (`mpc_core::epilink::synth`, seed `--seed`, default 1) of N database
//! and M query records. `--config` is an `algorithm` JSON block (default
//! `examples/default-config.json`). `--client`/`--server` are JSON lines,
//! one record per line, each `{"fields": {...}}` or a bare `fields` object.
//!
//! `--out FILE` writes one JSON line per query with the *combined* result.
//! Combining the two parties' shares is for testing and benchmarking only:
//! in the deployed system no party ever holds both shares (only the
//! linkage service combines them). `--check` compares the combined result
//! with the plaintext reference and fails on any difference.
//!
//! `--listen ADDR` / `--connect ADDR` split the two parties into two
//! processes (e.g. in two network namespaces for `scripts/bench-wan.sh`):
//! the listening process is the server party (the N database records), the
//! connecting one the client party (the M queries); both derive their
//! records from the same flags. After the clock stops the two exchange their
//! counters, so both print the same totals as the one-process run (plus
//! `party`), and, with `--check` on both sides, the server hands its result
//! shares to the client, which checks the combined result.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mpc_core::channel::{
    Channel, ChannelExt, ChannelStats, StreamChannel, tcp_accept, tcp_connect, tcp_pair,
};
use mpc_core::epilink::Carries;
use mpc_core::epilink::OtBackend;
use mpc_core::epilink::cost_engine::{RunShape, predict};
use mpc_core::epilink::synth::{Population, SynthOptions};
use mpc_core::epilink::{Mode, Profile, ProfileKnobs};
use mpc_core::epilink::{
    Options, ResultShare, run_client, run_client_matching, run_server, run_server_matching,
};
use mpc_core::ot::ExtensionConfig;
use protocol_spec::config::{LinkageConfig, Record};
use protocol_spec::epilink::{LinkResult, MatchCounts, link_records};
use protocol_spec::messages::mainsel::{AlgorithmConfig, FieldMap, WireRecord};
use protocol_spec::value::{record_from_wire, record_to_wire};
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "usage: epilink-bench [--db N] [--queries M] [--seed S] [--config C] \
[--client A.jsonl --server B.jsonl] [--out FILE] [--carries min-gates|balanced|min-rounds] [--lanes L] [--ot-k K] \
[--record-arity 2|4|8] [--ot softspoken|ferret] [--reps R] [--matching] [--check] [--dump DIR] [--listen ADDR | --connect ADDR] [--profile lan|wan] [--predict]

Runs the EpiLink 2PC (client: M queries, server: N records) over loopback TCP and prints one JSON
object per run: db, queries, seconds, bytes (payload, both directions), rounds (round trips),
comparisons_per_second, peak_rss_mb.

--listen ADDR runs only the server party (N records) and waits for the client party, started elsewhere
with the same flags and --connect ADDR (retried for 60 s). Both print the JSON object with the totals
of both parties (party: server/client); seconds is the longer party's clock from connection to result.
--check on both: the server sends its shares to the client, which checks the combined result (and
writes it with --out on the client).

--profile lan|wan runs with the profile's knobs (later --carries, --ot, --record-arity override them).

--predict prints the cost engine's exact prediction of the job's bytes, messages and rounds per party
(OT setup excluded) without running anything.

--dump DIR writes the synthetic records as DIR/client.jsonl and DIR/server.jsonl (the input format of
--client/--server) and exits.

--out FILE writes the combined result per query as JSON lines. Combining the two parties' XOR
shares is for testing and benchmarking only; in deployment no party holds both shares.";

struct Args {
    db: usize,
    queries: usize,
    seed: u64,
    config: Option<String>,
    client: Option<String>,
    server: Option<String>,
    out: Option<String>,
    carries: Carries,
    lanes: usize,
    ot_k: usize,
    record_arity: usize,
    ot_backend: OtBackend,
    reps: usize,
    matching: bool,
    check: bool,
    dump: Option<String>,
    split: Option<Split>,
    profile: Option<Profile>,
    predict: bool,
}

/// The one party this process plays when the two run as separate processes.
#[derive(Clone)]
enum Split {
    /// `--listen ADDR`: the server party, accepting the client party.
    Listen(String),
    /// `--connect ADDR`: the client party, connecting to the server party.
    Connect(String),
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        db: 1000,
        queries: 1,
        seed: 1,
        config: None,
        client: None,
        server: None,
        out: None,
        carries: Carries::default(),
        lanes: mpc_core::epilink::schedule::DEFAULT_LANES_PER_CHUNK,
        ot_k: 4,
        record_arity: mpc_core::epilink::schedule::DEFAULT_RECORD_ARITY,
        ot_backend: OtBackend::SoftSpoken,
        reps: 1,
        matching: false,
        check: false,
        dump: None,
        split: None,
        profile: None,
        predict: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let num = |name: &str, v: String| {
            v.replace('_', "")
                .parse::<usize>()
                .map_err(|e| format!("{name} {v}: {e}"))
        };
        match flag.as_str() {
            "--db" => a.db = num("--db", value("--db")?)?,
            "--queries" => a.queries = num("--queries", value("--queries")?)?,
            "--seed" => a.seed = num("--seed", value("--seed")?)? as u64,
            "--config" => a.config = Some(value("--config")?),
            "--client" => a.client = Some(value("--client")?),
            "--server" => a.server = Some(value("--server")?),
            "--out" => a.out = Some(value("--out")?),
            "--lanes" => a.lanes = num("--lanes", value("--lanes")?)?,
            "--ot-k" => a.ot_k = num("--ot-k", value("--ot-k")?)?,
            "--record-arity" => {
                a.record_arity = num("--record-arity", value("--record-arity")?)?;
                if !mpc_core::epilink::schedule::valid_record_arity(a.record_arity) {
                    return Err(format!("--record-arity {}: use 2, 4 or 8", a.record_arity));
                }
            }
            "--ot" => a.ot_backend = value("--ot")?.parse()?,
            "--reps" => a.reps = num("--reps", value("--reps")?)?.max(1),
            "--carries" => {
                a.carries = match value("--carries")?.as_str() {
                    "min-gates" => Carries::MIN_GATES,
                    "balanced" => Carries::BALANCED,
                    "min-rounds" => Carries::MIN_ROUNDS,
                    other => {
                        return Err(format!(
                            "--carries {other}: use min-gates, balanced or min-rounds"
                        ));
                    }
                }
            }
            "--matching" => a.matching = true,
            "--predict" => a.predict = true,
            "--profile" => {
                let p: Profile = value("--profile")?.parse()?;
                let knobs = p.options();
                a.carries = knobs.carries;
                a.ot_backend = knobs.ot_backend;
                a.record_arity = knobs.record_arity;
                a.profile = Some(p);
            }
            "--check" => a.check = true,
            "--dump" => a.dump = Some(value("--dump")?),
            "--listen" => a.split = Some(Split::Listen(value("--listen")?)),
            "--connect" => a.split = Some(Split::Connect(value("--connect")?)),
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if a.client.is_some() != a.server.is_some() {
        return Err("--client and --server go together".into());
    }
    Ok(a)
}

fn load_config(path: Option<&str>) -> Result<LinkageConfig, String> {
    let path = path.map(str::to_owned).unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/default-config.json"
        )
        .to_string()
    });
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let alg: AlgorithmConfig = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    LinkageConfig::from_wire(&alg).map_err(|e| format!("{path}: {e}"))
}

fn load_records(config: &LinkageConfig, path: &str) -> Result<Vec<Record>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{path}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: FieldMap = match serde_json::from_str::<WireRecord>(&line) {
            Ok(r) => r.fields,
            Err(_) => serde_json::from_str(&line).map_err(|e| format!("{path}:{}: {e}", n + 1))?,
        };
        out.push(record_from_wire(config, &fields).map_err(|e| format!("{path}:{}: {e}", n + 1))?);
    }
    Ok(out)
}

fn carries_name(c: Carries) -> &'static str {
    if c == Carries::MIN_GATES {
        "min-gates"
    } else if c == Carries::MIN_ROUNDS {
        "min-rounds"
    } else {
        "balanced"
    }
}

/// Writes records as JSON lines in the `{"fields": {...}}` shape.
fn dump(
    config: &LinkageConfig,
    queries: &[Record],
    database: &[Record],
    dir: &str,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
    for (name, records) in [("client.jsonl", queries), ("server.jsonl", database)] {
        let path = format!("{dir}/{name}");
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(&path).map_err(|e| format!("{path}: {e}"))?,
        );
        for r in records {
            let fields = record_to_wire(config, r).map_err(|e| format!("{path}: {e}"))?;
            let line = serde_json::to_string(&WireRecord { fields, id: None })
                .map_err(|e| e.to_string())?;
            writeln!(f, "{line}").map_err(|e| format!("{path}: {e}"))?;
        }
    }
    Ok(())
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

enum Outcome {
    Link(Vec<LinkResult>),
    Match(MatchCounts),
}

async fn run_once(
    config: &LinkageConfig,
    queries: &[Record],
    database: &[Record],
    opts: &Options,
    matching: bool,
) -> Result<(Outcome, ChannelStats, ChannelStats, f64), String> {
    let (a, b) = tcp_pair().await.map_err(|e| e.to_string())?;
    let (ca, cb) = (StreamChannel::new(a), StreamChannel::new(b));
    let (cfg_c, cfg_s) = (config.clone(), config.clone());
    let (q, d) = (queries.to_vec(), database.to_vec());
    let (oc, os) = (opts.clone(), opts.clone());
    let start = Instant::now();
    let client = tokio::spawn(async move {
        let mut ch = ca;
        let r = if matching {
            run_client_matching(&mut ch, &cfg_c, &q, &oc)
                .await
                .map(|c| (None, Some(c)))
        } else {
            run_client(&mut ch, &cfg_c, &q, &oc)
                .await
                .map(|s| (Some(s), None))
        };
        (r, ch.stats())
    });
    let server = tokio::spawn(async move {
        let mut ch = cb;
        let r = if matching {
            run_server_matching(&mut ch, &cfg_s, &d, &os)
                .await
                .map(|()| None)
        } else {
            run_server(&mut ch, &cfg_s, &d, &os).await.map(Some)
        };
        (r, ch.stats())
    });
    let (cr, cs) = client.await.map_err(|e| e.to_string())?;
    let (sr, ss) = server.await.map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    let (cshares, counts) = cr.map_err(|e| format!("client: {e}"))?;
    let sshares: Option<Vec<ResultShare>> = sr.map_err(|e| format!("server: {e}"))?;
    let outcome = match (cshares, sshares, counts) {
        (Some(c), Some(s), _) => {
            Outcome::Link(c.iter().zip(&s).map(|(x, y)| x.combine(y)).collect())
        }
        (_, _, Some(c)) => Outcome::Match(c),
        _ => return Err("inconsistent outcome".into()),
    };
    Ok((outcome, cs, ss, seconds))
}

/// How long the client party keeps retrying a server party that is still
/// starting (generating or loading its records).
const CONNECT_RETRY: Duration = Duration::from_secs(60);

/// The connection of one run in split mode: a fresh one per repetition.
async fn open_stream(split: &Split, listener: Option<&TcpListener>) -> Result<TcpStream, String> {
    match (split, listener) {
        (Split::Listen(_), Some(l)) => tcp_accept(l).await.map_err(|e| e.to_string()),
        (Split::Connect(addr), _) => {
            let deadline = Instant::now() + CONNECT_RETRY;
            loop {
                match tcp_connect(addr.as_str()).await {
                    Ok(s) => return Ok(s),
                    Err(e) if Instant::now() >= deadline => {
                        return Err(format!("connect {addr}: {e}"));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        (Split::Listen(_), None) => Err("no listener".into()),
    }
}

/// Words of the closing message: this party's counters, its clock in
/// microseconds, and its shares flag (client: "send me your shares", from
/// `--check` or `--out`; server: "I agree to", from `--check`).
fn closing_words(stats: &ChannelStats, seconds: f64, shares: bool) -> [u64; 7] {
    [
        stats.bytes_sent,
        stats.bytes_received,
        stats.messages_sent,
        stats.messages_received,
        stats.rounds,
        (seconds * 1e6) as u64,
        u64::from(shares),
    ]
}

fn stats_from_words(w: &[u64]) -> ChannelStats {
    ChannelStats {
        bytes_sent: w[0],
        bytes_received: w[1],
        messages_sent: w[2],
        messages_received: w[3],
        rounds: w[4],
    }
}

/// Runs this process's party over `stream`; returns the client party's
/// outcome (`None` on the server side, and for a linkage client that did
/// not ask for the shares), the client's and the server's counters and the
/// longer of the two clocks. `shares`: see [`closing_words`].
async fn run_party(
    stream: TcpStream,
    is_server: bool,
    config: &LinkageConfig,
    records: &[Record],
    opts: &Options,
    matching: bool,
    shares_flag: bool,
) -> Result<(Option<Outcome>, ChannelStats, ChannelStats, f64), String> {
    let mut ch = StreamChannel::new(stream);
    let start = Instant::now();
    let (shares, counts) = match (is_server, matching) {
        (false, false) => (Some(run_client(&mut ch, config, records, opts).await), None),
        (false, true) => (
            None,
            Some(run_client_matching(&mut ch, config, records, opts).await),
        ),
        (true, false) => (Some(run_server(&mut ch, config, records, opts).await), None),
        (true, true) => {
            run_server_matching(&mut ch, config, records, opts)
                .await
                .map_err(|e| format!("server: {e}"))?;
            (None, None)
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let party = if is_server { "server" } else { "client" };
    let shares = shares.transpose().map_err(|e| format!("{party}: {e}"))?;
    let counts = counts.transpose().map_err(|e| format!("{party}: {e}"))?;
    // After the clock: exchange counters (and, if both agree, the shares).
    // The client speaks first and the server answers, then waits for the
    // client to close: each party's last message has been delivered before
    // its process exits (dropping a channel only queues the flush).
    let mine = ch.stats();
    let net = |e: mpc_core::channel::ChannelError| format!("closing exchange: {e}");
    let my_words = closing_words(&mine, seconds, shares_flag);
    if !is_server {
        ch.send_u64s(&my_words).await.map_err(net)?;
    }
    let theirs = ch.recv_u64s(7).await.map_err(net)?;
    let peer = stats_from_words(&theirs);
    let seconds = seconds.max(theirs[5] as f64 / 1e6);
    let peer_check = theirs[6] == 1;
    if is_server {
        ch.send_u64s(&my_words).await.map_err(net)?;
        if let Some(s) = shares.filter(|_| shares_flag && peer_check) {
            let words: Vec<u64> = s
                .iter()
                .flat_map(|r| [u64::from(r.is_match), u64::from(r.tentative), r.best_index])
                .collect();
            ch.send_u64s(&words).await.map_err(net)?;
        }
        // The client closes once it has read everything (or is gone).
        if ch.recv().await.is_ok() {
            return Err("closing exchange: unexpected message from the client".into());
        }
        return Ok((None, peer, mine, seconds));
    }
    let outcome = match (shares, counts) {
        (Some(mine_shares), _) if shares_flag => {
            if !peer_check {
                return Err("--check and --out need --check on the server party".into());
            }
            let words = ch.recv_u64s(3 * mine_shares.len()).await.map_err(net)?;
            let results = mine_shares
                .iter()
                .zip(words.chunks_exact(3))
                .map(|(c, w)| {
                    c.combine(&ResultShare {
                        is_match: w[0] == 1,
                        tentative: w[1] == 1,
                        best_index: w[2],
                    })
                })
                .collect();
            Some(Outcome::Link(results))
        }
        (_, Some(c)) => Some(Outcome::Match(c)),
        _ => None,
    };
    Ok((outcome, mine, peer, seconds))
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = real_main(&args) {
        eprintln!("epilink-bench: {e}");
        std::process::exit(1);
    }
}

fn real_main(args: &Args) -> Result<(), String> {
    let config = load_config(args.config.as_deref())?;
    if args.predict && args.client.is_none() {
        return print_prediction(&config, args, args.queries, args.db);
    }
    let (queries, database) = match (&args.client, &args.server) {
        (Some(c), Some(s)) => (load_records(&config, c)?, load_records(&config, s)?),
        _ => {
            let pop = Population::generate(
                &config,
                &SynthOptions {
                    database: args.db,
                    queries: args.queries,
                    seed: args.seed,
                    ..SynthOptions::default()
                },
            )
            .map_err(|e| e.to_string())?;
            (pop.queries, pop.database)
        }
    };
    if let Some(dir) = &args.dump {
        return dump(&config, &queries, &database, dir);
    }
    if args.predict {
        return print_prediction(&config, args, queries.len(), database.len());
    }
    let ot = ExtensionConfig::softspoken(args.ot_k).map_err(|e| e.to_string())?;
    let opts = Options {
        carries: args.carries,
        lanes_per_chunk: args.lanes,
        record_arity: args.record_arity,
        ot,
        ot_backend: args.ot_backend,
        context: b"epilink-bench".to_vec(),
        progress: Some(Arc::new(|_| {})),
        ..Options::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let listener = match &args.split {
        Some(Split::Listen(addr)) => Some(
            rt.block_on(TcpListener::bind(addr.as_str()))
                .map_err(|e| format!("listen {addr}: {e}"))?,
        ),
        _ => None,
    };
    for _ in 0..args.reps {
        let (outcome, cs, ss, seconds) = match &args.split {
            None => {
                let (o, cs, ss, s) =
                    rt.block_on(run_once(&config, &queries, &database, &opts, args.matching))?;
                (Some(o), cs, ss, s)
            }
            Some(split) => rt.block_on(async {
                let stream = open_stream(split, listener.as_ref()).await?;
                let is_server = matches!(split, Split::Listen(_));
                let records = if is_server { &database } else { &queries };
                run_party(
                    stream,
                    is_server,
                    &config,
                    records,
                    &opts,
                    args.matching,
                    // The client asks for the shares to check or write them.
                    args.check || (!is_server && args.out.is_some()),
                )
                .await
            })?,
        };
        let comparisons = (queries.len() * database.len()) as f64;
        let mut report = serde_json::json!({
            "db": database.len(),
            "queries": queries.len(),
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "bytes": cs.bytes_sent + ss.bytes_sent,
            "rounds": cs.rounds.max(ss.rounds),
            "comparisons_per_second": (comparisons / seconds).round(),
            "mode": if args.matching { "matching" } else { "linkage" },
            "carries": carries_name(args.carries),
            "profile": args.profile.map(|p| p.name()),
            "lanes_per_chunk": args.lanes,
            "record_arity": args.record_arity,
            "ot": ot.to_string(),
            "ot_backend": args.ot_backend.name(),
            "client_bytes_sent": cs.bytes_sent,
            "server_bytes_sent": ss.bytes_sent,
            "messages": cs.messages_sent + ss.messages_sent,
            "peak_rss_mb": peak_rss_mb().map(|m| m.round()),
        });
        if let Some(split) = &args.split {
            report["party"] = match split {
                Split::Listen(_) => "server",
                Split::Connect(_) => "client",
            }
            .into();
        }
        println!("{report}");
        let Some(outcome) = outcome else {
            if args.check {
                eprintln!("check: left to the client party");
            }
            continue;
        };
        if args.check {
            let want = link_records(&config, &queries, &database).map_err(|e| e.to_string())?;
            match &outcome {
                Outcome::Link(got) if *got != want => {
                    return Err("the 2PC result differs from the reference".into());
                }
                Outcome::Match(c) => {
                    let m = want.iter().filter(|r| r.is_match).count() as u64;
                    let t = want.iter().filter(|r| r.tentative).count() as u64;
                    if c.matches != m || c.tentative != t {
                        return Err("the 2PC counts differ from the reference".into());
                    }
                }
                Outcome::Link(_) => {}
            }
            eprintln!("check: equal to the reference");
        }
        if let (Some(path), Outcome::Link(results)) = (&args.out, &outcome) {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(path).map_err(|e| format!("{path}: {e}"))?,
            );
            for (i, r) in results.iter().enumerate() {
                let line = serde_json::json!({
                    "query": i, "match": r.is_match, "tentative": r.tentative, "best_index": r.best_index,
                });
                writeln!(f, "{line}").map_err(|e| format!("{path}: {e}"))?;
            }
        }
    }
    Ok(())
}

/// `--predict`: the cost engine's prediction of the job these flags would
/// run, as one JSON object.
fn print_prediction(
    config: &LinkageConfig,
    args: &Args,
    queries: usize,
    records: usize,
) -> Result<(), String> {
    let ot = ExtensionConfig::softspoken(args.ot_k).map_err(|e| e.to_string())?;
    let shape = RunShape {
        mode: if args.matching {
            Mode::Matching
        } else {
            Mode::Linkage
        },
        queries,
        records,
        carries: args.carries,
        lanes_per_chunk: args.lanes,
        ot,
        record_arity: args.record_arity,
    };
    if args.ot_backend != OtBackend::SoftSpoken {
        return Err("--predict models SoftSpokenOT/IKNP only; measure Ferret with a run".into());
    }
    let p = predict(config, &shape).map_err(|e| e.to_string())?;
    let report = serde_json::json!({
        "predicted": true,
        "db": records,
        "queries": queries,
        "bytes": p.total_bytes(),
        "rounds": p.rounds(),
        "ots": p.ots,
        "mode": if args.matching { "matching" } else { "linkage" },
        "carries": carries_name(args.carries),
        "profile": args.profile.map(|p| p.name()),
        "lanes_per_chunk": args.lanes,
        "ot": ot.to_string(),
        "prediction": p,
    });
    println!("{report}");
    Ok(())
}
