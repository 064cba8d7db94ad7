//! `mpc-bench`: throughput of the 2PC building blocks, both parties in one
//! process talking over loopback TCP (two tokio tasks on a 2-worker
//! runtime, i.e. roughly one core per party on a 2-core machine).
//!
//! Prints one JSON object per line. Usage:
//!
//! ```text
//! cargo run --release -p mpc-core --bin mpc-bench -- [SUBCOMMAND] [--n N] [--k K] [--reps R]
//! ```
//!
//! Subcommands: `all` (default: everything below), `base` (128 CO15 base
//! OTs), `cot` (random correlated OT), `rot` (random OT, 128-bit keys),
//! `bitrot` (1-bit random OT, packed), `chosen` (chosen-message OT),
//! `ferret` (random correlated OT by Ferret silent OT: `ferret_cot_cold`
//! times the SoftSpokenOT bootstrap and n OTs, `ferret_cot` n OTs after the
//! bootstrap; not part of `all`).
//! Without `--k`, the extension benchmarks run IKNP (k = 1) and
//! SoftSpokenOT k = 4 (`--k 2` and `--k 8` are also supported), n = 4M.
//!
//! Extension point: further subcommands (e.g. GMW AND gates per second) add
//! a variant to [`Command`], a match arm in `main`, and reuse
//! [`run_two_parties`] to time a two-party closure pair.

use std::future::Future;
use std::time::{Duration, Instant};

use mpc_core::block::Block;
use mpc_core::channel::{Bytes, Channel, ChannelStats, StreamChannel, tcp_pair};
use mpc_core::ot::base::{base_ot_receive, base_ot_send};
use mpc_core::ot::{
    CotReceiver, CotSender, ExtensionConfig, FerretConfig, FerretReceiver, FerretSender, OtError,
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Command {
    All,
    Base,
    Cot,
    Rot,
    BitRot,
    Chosen,
    Ferret,
}

struct Args {
    command: Command,
    n: usize,
    ks: Vec<usize>,
    reps: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        command: Command::All,
        n: 4_000_000,
        ks: vec![1, 4],
        reps: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<usize, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.replace('_', "")
                .parse::<usize>()
                .map_err(|e| format!("{name} {v}: {e}"))
        };
        match a.as_str() {
            "all" => args.command = Command::All,
            "base" => args.command = Command::Base,
            "cot" => args.command = Command::Cot,
            "rot" => args.command = Command::Rot,
            "bitrot" => args.command = Command::BitRot,
            "chosen" => args.command = Command::Chosen,
            "ferret" => args.command = Command::Ferret,
            "--n" => args.n = value("--n")?,
            "--k" => args.ks = vec![value("--k")?],
            "--reps" => args.reps = value("--reps")?.max(1),
            "-h" | "--help" => {
                return Err(
                    "usage: mpc-bench [all|base|cot|rot|bitrot|chosen|ferret] [--n N] [--k K] [--reps R]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

/// CPU time (user + system) this process has used so far, from
/// `/proc/self/stat` (Linux; `None` elsewhere). Reported next to wall time
/// because the benchmark machine may be shared: `cpu_ns_per_ot` is what the
/// two parties together spent per OT, whatever else was running.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15 (1-based), in clock ticks (100 Hz on Linux).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// What one party reports after a timed run.
struct PartyReport {
    elapsed: Duration,
    payload_sent: u64,
    wire_sent: u64,
}

/// Counters at the start of a party's timed phase.
struct Start {
    at: Instant,
    stats: ChannelStats,
    wire: u64,
}

impl Start {
    fn now(ch: &StreamChannel) -> Start {
        Start {
            at: Instant::now(),
            stats: ch.stats(),
            wire: ch.wire_bytes().0,
        }
    }
}

/// What a party's closure returns: where its timed phase started, when it
/// ended, and the channel.
type PartyResult = Result<(Start, Duration, StreamChannel), OtError>;

/// Measures one party's timed phase: snapshots the counters, runs `phase`,
/// then runs the closing handshake ([`drain`]) so that everything the party
/// queued has provably been written before the counters are read again.
async fn timed<F, Fut>(ch: StreamChannel, leader: bool, phase: F) -> Result<PartyReport, OtError>
where
    F: FnOnce(StreamChannel) -> Fut,
    Fut: Future<Output = PartyResult>,
{
    let (start, elapsed, mut ch) = phase(ch).await?;
    let (payload_hs, wire_hs) = drain(&mut ch, leader).await?;
    Ok(PartyReport {
        elapsed,
        payload_sent: ch.stats().since(&start.stats).bytes_sent - payload_hs,
        wire_sent: ch.wire_bytes().0 - start.wire - wire_hs,
    })
}

/// Closing handshake: leader sends, follower answers, leader acknowledges.
/// When a party has received the peer's message that follows its own last
/// one, all its earlier frames have been written. Returns the payload and
/// wire bytes the handshake itself sent, to be subtracted.
async fn drain(ch: &mut StreamChannel, leader: bool) -> Result<(u64, u64), OtError> {
    let msg = Bytes::from_static(b"fin");
    if leader {
        ch.send(msg.clone()).await?;
        ch.recv().await?;
        ch.send(msg).await?;
        Ok((6, 14))
    } else {
        ch.recv().await?;
        ch.send(msg).await?;
        ch.recv().await?;
        Ok((3, 7))
    }
}

/// Connects two parties over loopback TCP and runs `a` (the leader of the
/// closing handshake) and `b` concurrently on the current runtime. Each
/// closure runs its untimed setup, takes a [`Start`] snapshot, runs its
/// timed phase and returns the snapshot, the elapsed time and the channel;
/// bytes are counted from the snapshot to the end of the timed phase.
async fn run_two_parties<FA, FB, RA, RB>(a: FA, b: FB) -> Result<(PartyReport, PartyReport), String>
where
    FA: FnOnce(StreamChannel) -> RA + Send + 'static,
    FB: FnOnce(StreamChannel) -> RB + Send + 'static,
    RA: Future<Output = PartyResult> + Send + 'static,
    RB: Future<Output = PartyResult> + Send + 'static,
{
    let (sa, sb) = tcp_pair().await.map_err(|e| e.to_string())?;
    let ta = tokio::spawn(async move { timed(StreamChannel::new(sa), true, a).await });
    let tb = tokio::spawn(async move { timed(StreamChannel::new(sb), false, b).await });
    let ra = ta
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let rb = tb
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok((ra, rb))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    Cot,
    Rot,
    BitRot,
    Chosen,
}

impl Output {
    fn name(self) -> &'static str {
        match self {
            Output::Cot => "random_cot",
            Output::Rot => "random_ot",
            Output::BitRot => "bit_random_ot",
            Output::Chosen => "chosen_message_ot",
        }
    }
}

/// Setup (untimed), then `n` OTs of the given flavour (timed).
async fn bench_extension(
    cfg: ExtensionConfig,
    n: usize,
    out: Output,
) -> Result<(PartyReport, PartyReport), String> {
    let ctx = b"mpc-bench".to_vec();
    let ctx2 = ctx.clone();
    run_two_parties(
        move |mut ch| async move {
            let mut s = CotSender::setup(&mut ch, cfg, &ctx).await?;
            // A short synchronising exchange so both clocks start together.
            ch.send(Bytes::from_static(b"go")).await?;
            let start = Start::now(&ch);
            let batch = s.extend(&mut ch, n).await?;
            match out {
                Output::Cot => {
                    std::hint::black_box(&batch.m0);
                }
                Output::Rot => {
                    std::hint::black_box(batch.random_ot());
                }
                Output::BitRot => {
                    std::hint::black_box(batch.random_bits());
                }
                Output::Chosen => {
                    let msgs: Vec<[Block; 2]> =
                        (0..n as u128).map(|i| [Block(i), Block(!i)]).collect();
                    batch.send_chosen(&mut ch, &msgs).await?;
                }
            }
            let el = start.at.elapsed();
            Ok((start, el, ch))
        },
        move |mut ch| async move {
            let mut r = CotReceiver::setup(&mut ch, cfg, &ctx2).await?;
            ch.recv().await?;
            let start = Start::now(&ch);
            let batch = r.extend(&mut ch, n).await?;
            match out {
                Output::Cot => {
                    std::hint::black_box(&batch.mb);
                }
                Output::Rot => {
                    std::hint::black_box(batch.random_ot());
                }
                Output::BitRot => {
                    std::hint::black_box(batch.random_bits());
                }
                Output::Chosen => {
                    let mut choices: Vec<u64> = (0..n.div_ceil(64) as u64)
                        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                        .collect();
                    mpc_core::ot::bits::clear_padding(&mut choices, n);
                    std::hint::black_box(batch.receive_chosen(&mut ch, &choices).await?);
                }
            }
            let el = start.at.elapsed();
            Ok((start, el, ch))
        },
    )
    .await
}

/// Ferret: SoftSpokenOT setup (untimed), then either the bootstrap and `n`
/// random COTs timed together (`cold`), or the bootstrap untimed and `n`
/// random COTs timed.
async fn bench_ferret(n: usize, cold: bool) -> Result<(PartyReport, PartyReport), String> {
    let cfg = FerretConfig::default();
    let tweak = [7u8; 32];
    run_two_parties(
        move |mut ch| async move {
            let boot = CotSender::setup(&mut ch, ExtensionConfig::default(), b"mpc-bench").await?;
            let mut s = FerretSender::new(boot, cfg, &tweak);
            if !cold {
                s.bootstrap(&mut ch).await?;
            }
            ch.send(Bytes::from_static(b"go")).await?;
            let start = Start::now(&ch);
            let batch = s.extend(&mut ch, n).await?;
            std::hint::black_box(&batch.m0);
            let el = start.at.elapsed();
            Ok((start, el, ch))
        },
        move |mut ch| async move {
            let boot =
                CotReceiver::setup(&mut ch, ExtensionConfig::default(), b"mpc-bench").await?;
            let mut r = FerretReceiver::new(boot, cfg, &tweak);
            if !cold {
                r.bootstrap(&mut ch).await?;
            }
            ch.recv().await?;
            let start = Start::now(&ch);
            let batch = r.extend(&mut ch, n).await?;
            std::hint::black_box(&batch.mb);
            let el = start.at.elapsed();
            Ok((start, el, ch))
        },
    )
    .await
}

async fn bench_ferret_all(n: usize, reps: usize) -> Result<(), String> {
    for cold in [true, false] {
        let mut best: Option<(PartyReport, PartyReport)> = None;
        let mut best_cpu = f64::MAX;
        for _ in 0..reps {
            let cpu0 = process_cpu_seconds();
            let r = bench_ferret(n, cold).await?;
            if let (Some(a), Some(b)) = (cpu0, process_cpu_seconds()) {
                best_cpu = best_cpu.min(b - a);
            }
            let t = r.0.elapsed.max(r.1.elapsed);
            if best
                .as_ref()
                .is_none_or(|b| t < b.0.elapsed.max(b.1.elapsed))
            {
                best = Some(r);
            }
        }
        let Some((s, r)) = best else { continue };
        let secs = s.elapsed.max(r.elapsed).as_secs_f64();
        let payload = s.payload_sent + r.payload_sent;
        let wire = s.wire_sent + r.wire_sent;
        // CPU includes the untimed SoftSpokenOT setup (and, warm, the
        // bootstrap): an upper bound per OT.
        println!(
            "{{\"bench\":\"{}\",\"protocol\":\"Ferret(n={},k={},t={})\",\"n\":{n},\"reps\":{reps},\"best_seconds\":{secs:.4},\"ots_per_s\":{:.0},\"cpu_ns_per_ot_upper\":{},\"payload_bits_per_ot\":{:.3},\"wire_bits_per_ot\":{:.3}}}",
            if cold {
                "ferret_cot_cold"
            } else {
                "ferret_cot"
            },
            FerretConfig::default().main().n(),
            FerretConfig::default().main().k,
            FerretConfig::default().main().t,
            n as f64 / secs,
            if best_cpu < f64::MAX {
                format!("{:.1}", best_cpu * 1e9 / n as f64)
            } else {
                "null".to_string()
            },
            payload as f64 * 8.0 / n as f64,
            wire as f64 * 8.0 / n as f64,
        );
    }
    Ok(())
}

async fn bench_base(reps: usize) -> Result<(), String> {
    const N: usize = 128;
    let mut best = Duration::MAX;
    for _ in 0..reps {
        let (a, b) = run_two_parties(
            |mut ch| async move {
                let start = Start::now(&ch);
                let keys = base_ot_send(&mut ch, b"bench", N).await?;
                std::hint::black_box(keys);
                let el = start.at.elapsed();
                Ok((start, el, ch))
            },
            |mut ch| async move {
                let choices: Vec<bool> = (0..N).map(|i| i % 2 == 0).collect();
                let start = Start::now(&ch);
                let keys = base_ot_receive(&mut ch, b"bench", &choices).await?;
                std::hint::black_box(keys);
                let el = start.at.elapsed();
                Ok((start, el, ch))
            },
        )
        .await?;
        best = best.min(a.elapsed.max(b.elapsed));
    }
    println!(
        "{{\"bench\":\"base_ot\",\"protocol\":\"CO15-ristretto\",\"n\":{N},\"reps\":{reps},\"best_seconds\":{:.6},\"ots_per_s\":{:.0}}}",
        best.as_secs_f64(),
        N as f64 / best.as_secs_f64()
    );
    Ok(())
}

async fn bench_ext_all(ks: &[usize], n: usize, reps: usize, out: Output) -> Result<(), String> {
    for &k in ks {
        let cfg = ExtensionConfig::softspoken(k).map_err(|e| e.to_string())?;
        let mut best: Option<(PartyReport, PartyReport)> = None;
        let mut best_cpu = f64::MAX;
        for _ in 0..reps {
            let cpu0 = process_cpu_seconds();
            let r = bench_extension(cfg, n, out).await?;
            if let (Some(a), Some(b)) = (cpu0, process_cpu_seconds()) {
                best_cpu = best_cpu.min(b - a);
            }
            let t = r.0.elapsed.max(r.1.elapsed);
            if best
                .as_ref()
                .is_none_or(|b| t < b.0.elapsed.max(b.1.elapsed))
            {
                best = Some(r);
            }
        }
        let Some((s, r)) = best else { continue };
        let secs = s.elapsed.max(r.elapsed).as_secs_f64();
        let payload = s.payload_sent + r.payload_sent;
        let wire = s.wire_sent + r.wire_sent;
        println!(
            "{{\"bench\":\"{}\",\"protocol\":\"{}\",\"k\":{k},\"n\":{n},\"reps\":{reps},\"best_seconds\":{secs:.4},\"ots_per_s\":{:.0},\"cpu_ns_per_ot\":{},\"payload_bits_per_ot\":{:.2},\"wire_bits_per_ot\":{:.2}}}",
            out.name(),
            cfg,
            n as f64 / secs,
            if best_cpu < f64::MAX {
                format!("{:.1}", best_cpu * 1e9 / n as f64)
            } else {
                "null".to_string()
            },
            payload as f64 * 8.0 / n as f64,
            wire as f64 * 8.0 / n as f64,
        );
    }
    Ok(())
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
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = rt.block_on(async {
        let c = args.command;
        if matches!(c, Command::All | Command::Base) {
            bench_base(args.reps).await?;
        }
        if matches!(c, Command::All | Command::Cot) {
            bench_ext_all(&args.ks, args.n, args.reps, Output::Cot).await?;
        }
        if matches!(c, Command::All | Command::Rot) {
            bench_ext_all(&args.ks, args.n, args.reps, Output::Rot).await?;
        }
        if matches!(c, Command::All | Command::BitRot) {
            bench_ext_all(&args.ks, args.n, args.reps, Output::BitRot).await?;
        }
        if matches!(c, Command::All | Command::Chosen) {
            bench_ext_all(&args.ks, args.n, args.reps, Output::Chosen).await?;
        }
        if c == Command::Ferret {
            bench_ferret_all(args.n, args.reps).await?;
        }
        Ok::<(), String>(())
    });
    if let Err(e) = result {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}
