//! `gmw-bench`: throughput and round counts of the GMW engine, both parties
//! in one process over loopback TCP (two tokio tasks on a 2-worker runtime,
//! roughly one core per party on a 2-core machine). One JSON object per
//! line on stdout.
//!
//! ```text
//! cargo run --release -p mpc-core --bin gmw-bench -- [all|ands|compare|argmax]
//!     [--lanes L] [--layers D] [--gates G] [--k K] [--reps R]
//! ```
//!
//! * `ands`: `D` layers of `G` AND gates on `L`-lane XOR-shared wires
//!   (default 16 × 16 × 65,536 ≈ 16.8 M ANDs), end to end including triple
//!   generation (OT extension), excluding the one-off base OTs (reported
//!   separately as `setup_s`).
//! * `compare`: one 32-bit comparison (`lt`) on N = 1, 1,000, 10,000 lanes.
//! * `argmax`: argmax with index over the lanes of a 32-bit word, N = 1,000
//!   and 10,000.
//! * `costs`: no 2PC run; the cost-counter figures (ANDs, OTs, depth) of
//!   every gadget at several widths, all inputs XOR-shared — the cost table
//!   of SPEC.md §7.
//!
//! Reported per run: seconds (preprocessing, online, both), AND gates, OTs,
//! AND-depth and the online messages each party sent (= rounds), bytes of
//! both parties split into offline (OT extension) and online, and CPU
//! seconds of the process (both parties together).

use std::time::Instant;

use mpc_core::channel::{Channel, StreamChannel, tcp_pair};
use mpc_core::circuit::cost::{CostCounter, CostWire};
use mpc_core::circuit::gadgets::{self, AdderKind};
use mpc_core::circuit::netlist::{NetWire, NetlistBuilder, Reveal};
use mpc_core::circuit::{Builder, CResult, Lanes, Party, Word};
use mpc_core::gmw::{GmwSession, Inputs, Netlist, run_online};
use mpc_core::ot::ExtensionConfig;
use serde_json::json;

const USAGE: &str = "usage: gmw-bench [all|ands|compare|argmax|costs] [--lanes L] [--layers D] [--gates G] [--k K] [--reps R]";

struct Args {
    what: String,
    lanes: usize,
    layers: usize,
    gates: usize,
    k: usize,
    reps: usize,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        what: "all".into(),
        lanes: 1 << 16,
        layers: 16,
        gates: 16,
        k: 4,
        reps: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> Result<usize, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.replace('_', "")
                .parse()
                .map_err(|e| format!("{name} {v}: {e}"))
        };
        match arg.as_str() {
            "all" | "ands" | "compare" | "argmax" | "costs" => a.what = arg,
            "--lanes" => a.lanes = num("--lanes")?.max(1),
            "--layers" => a.layers = num("--layers")?.max(1),
            "--gates" => a.gates = num("--gates")?.max(1),
            "--k" => a.k = num("--k")?,
            "--reps" => a.reps = num("--reps")?.max(1),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(a)
}

/// CPU seconds (user + system) of this process, from /proc (Linux only).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// A benchmark circuit: the netlist and each party's inputs (all inputs are
/// XOR-shared, so every AND needs a triple).
struct Bench {
    net: Netlist,
    shared: Vec<NetWire>,
}

fn shared_word(
    b: &mut NetlistBuilder,
    width: usize,
    lanes: usize,
    shared: &mut Vec<NetWire>,
) -> CResult<Word<NetWire>> {
    let w = b.shared_input_word(width, lanes)?;
    shared.extend(w.bits().iter().copied());
    Ok(w)
}

fn and_layers(lanes: usize, layers: usize, gates: usize) -> CResult<Bench> {
    let mut b = NetlistBuilder::new();
    let mut shared = Vec::new();
    let mut cur: Vec<NetWire> = (0..gates)
        .map(|_| b.shared_input(lanes))
        .collect::<CResult<_>>()?;
    let other: Vec<NetWire> = (0..gates)
        .map(|_| b.shared_input(lanes))
        .collect::<CResult<_>>()?;
    shared.extend(cur.iter().copied());
    shared.extend(other.iter().copied());
    for layer in 0..layers {
        cur = (0..gates)
            .map(|g| b.and(&cur[g], &other[(g + layer) % gates]))
            .collect::<CResult<_>>()?;
    }
    for w in &cur {
        b.output(w, Reveal::Shares)?;
    }
    Ok(Bench {
        net: b.finish(),
        shared,
    })
}

fn comparison(lanes: usize) -> CResult<Bench> {
    let mut b = NetlistBuilder::new();
    let mut shared = Vec::new();
    let x = shared_word(&mut b, 32, lanes, &mut shared)?;
    let y = shared_word(&mut b, 32, lanes, &mut shared)?;
    let lt = gadgets::lt(&mut b, &x, &y)?;
    b.output(&lt, Reveal::Shares)?;
    Ok(Bench {
        net: b.finish(),
        shared,
    })
}

fn argmax(lanes: usize) -> CResult<Bench> {
    let mut b = NetlistBuilder::new();
    let mut shared = Vec::new();
    let x = shared_word(&mut b, 32, lanes, &mut shared)?;
    let (max, idx) = gadgets::argmax_lanes(&mut b, &x)?;
    b.output_word(&max, Reveal::Shares)?;
    b.output_word(&idx, Reveal::Shares)?;
    Ok(Bench {
        net: b.finish(),
        shared,
    })
}

/// Random shares for every shared input (the values do not matter for
/// timing; each party draws its own).
fn inputs(bench: &Bench, seed: u64) -> Inputs {
    let mut state = seed | 1;
    let mut inputs = Inputs::new();
    for w in &bench.shared {
        let lanes = bench.net.info()[w.id() as usize].lanes as usize;
        let words = (0..lanes.div_ceil(64))
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            })
            .collect();
        inputs.set(w, Lanes::from_words(words, lanes));
    }
    inputs
}

struct PartyRun {
    setup_s: f64,
    pre_s: f64,
    online_s: f64,
    pre_bytes: u64,
    online_bytes: u64,
    online_messages: u64,
}

async fn party(
    me: Party,
    mut ch: StreamChannel,
    bench: std::sync::Arc<Bench>,
    cfg: ExtensionConfig,
) -> Result<PartyRun, String> {
    let t0 = Instant::now();
    let mut s = GmwSession::setup(me, &mut ch, cfg, b"gmw-bench")
        .await
        .map_err(|e| e.to_string())?;
    let setup_s = t0.elapsed().as_secs_f64();
    let inputs = inputs(&bench, if me == Party::Client { 0x1234 } else { 0x5678 });
    let st0 = ch.stats();
    let t1 = Instant::now();
    let mat = s
        .preprocess(&mut ch, &bench.net)
        .await
        .map_err(|e| e.to_string())?;
    let pre_s = t1.elapsed().as_secs_f64();
    let st1 = ch.stats();
    let t2 = Instant::now();
    run_online(&bench.net, me, &mut ch, &mat, inputs)
        .await
        .map_err(|e| e.to_string())?;
    let online_s = t2.elapsed().as_secs_f64();
    let st2 = ch.stats();
    Ok(PartyRun {
        setup_s,
        pre_s,
        online_s,
        pre_bytes: st1.since(&st0).bytes_sent,
        online_bytes: st2.since(&st1).bytes_sent,
        online_messages: st2.since(&st1).messages_sent,
    })
}

async fn run(
    name: &str,
    bench: Bench,
    cfg: ExtensionConfig,
    extra: serde_json::Value,
) -> Result<(), String> {
    let bench = std::sync::Arc::new(bench);
    let cost = bench.net.cost();
    let (sa, sb) = tcp_pair().await.map_err(|e| e.to_string())?;
    let cpu0 = cpu_seconds();
    let (ba, bb) = (bench.clone(), bench.clone());
    let ta =
        tokio::spawn(async move { party(Party::Client, StreamChannel::new(sa), ba, cfg).await });
    let tb =
        tokio::spawn(async move { party(Party::Server, StreamChannel::new(sb), bb, cfg).await });
    let a = ta.await.map_err(|e| e.to_string())??;
    let b = tb.await.map_err(|e| e.to_string())??;
    let cpu = match (cpu0, cpu_seconds()) {
        (Some(x), Some(y)) => Some(y - x),
        _ => None,
    };
    let pre_s = a.pre_s.max(b.pre_s);
    let online_s = a.online_s.max(b.online_s);
    let total_s = pre_s + online_s;
    let ands = cost.interactive_ands();
    let per_and = |bytes: u64| {
        if ands == 0 {
            0.0
        } else {
            bytes as f64 * 8.0 / ands as f64
        }
    };
    let mut line = json!({
        "bench": name,
        "ot": cfg.to_string(),
        "ands": ands,
        "random_ots": cost.random_ots(),
        "depth": cost.depth,
        "online_rounds": a.online_messages,
        "setup_s": a.setup_s.max(b.setup_s),
        "preprocess_s": pre_s,
        "online_s": online_s,
        "total_s": total_s,
        "ands_per_s": if total_s > 0.0 { ands as f64 / total_s } else { 0.0 },
        "offline_bytes": a.pre_bytes + b.pre_bytes,
        "online_bytes": a.online_bytes + b.online_bytes,
        "bits_per_and_offline": per_and(a.pre_bytes + b.pre_bytes),
        "bits_per_and_online": per_and(a.online_bytes + b.online_bytes),
        "cpu_s_both_parties": cpu,
    });
    if let (Some(obj), serde_json::Value::Object(more)) = (line.as_object_mut(), extra) {
        obj.extend(more);
    }
    println!("{line}");
    Ok(())
}

/// Prints the counter's figures for one gadget on shared single-lane inputs.
fn cost_line(
    gadget: &str,
    params: serde_json::Value,
    f: impl FnOnce(&mut CostCounter) -> CResult<()>,
) -> Result<(), String> {
    let mut c = CostCounter::new();
    f(&mut c).map_err(|e| e.to_string())?;
    let cost = c.cost();
    let mut line = json!({
        "bench": "cost",
        "gadget": gadget,
        "triple_ands": cost.triple_ands,
        "ot_ands": cost.ot_ands,
        "random_ots": cost.random_ots(),
        "depth": cost.depth,
        "online_bits": cost.online_bits(),
    });
    if let (Some(obj), serde_json::Value::Object(more)) = (line.as_object_mut(), params) {
        obj.extend(more);
    }
    println!("{line}");
    Ok(())
}

fn sw(c: &mut CostCounter, width: usize, lanes: usize) -> Word<CostWire> {
    Word::from_bits((0..width).map(|_| c.shared_input(lanes)).collect())
}

fn costs() -> Result<(), String> {
    let kinds = [(AdderKind::Ripple, "ripple"), (AdderKind::LogDepth, "log")];
    for k in [8usize, 16, 32, 64] {
        for (kind, name) in kinds {
            cost_line("add_mod", json!({"k": k, "adder": name}), |c| {
                let (x, y) = (sw(c, k, 1), sw(c, k, 1));
                gadgets::add(c, kind, &x, &y).map(drop)
            })?;
            cost_line("add_with_carry", json!({"k": k, "adder": name}), |c| {
                let (x, y) = (sw(c, k, 1), sw(c, k, 1));
                gadgets::add_with_carry(c, kind, &x, &y).map(drop)
            })?;
            cost_line("sub_with_borrow", json!({"k": k, "adder": name}), |c| {
                let (x, y) = (sw(c, k, 1), sw(c, k, 1));
                gadgets::sub_with_borrow(c, kind, &x, &y).map(drop)
            })?;
            cost_line("mul_mod", json!({"k": k, "adder": name}), |c| {
                let (x, y) = (sw(c, k, 1), sw(c, k, 1));
                gadgets::mul(c, kind, &x, &y, k).map(drop)
            })?;
            cost_line("mul_full", json!({"k": k, "adder": name}), |c| {
                let (x, y) = (sw(c, k, 1), sw(c, k, 1));
                gadgets::mul(c, kind, &x, &y, 2 * k).map(drop)
            })?;
            cost_line("fraction_gt", json!({"k": k, "adder": name}), |c| {
                let (a, b, x, y) = (sw(c, k, 1), sw(c, k, 1), sw(c, k, 1), sw(c, k, 1));
                gadgets::fraction_gt(c, kind, &a, &b, &x, &y).map(drop)
            })?;
        }
        cost_line("lt", json!({"k": k}), |c| {
            let (x, y) = (sw(c, k, 1), sw(c, k, 1));
            gadgets::lt(c, &x, &y).map(drop)
        })?;
        cost_line("eq", json!({"k": k}), |c| {
            let (x, y) = (sw(c, k, 1), sw(c, k, 1));
            gadgets::eq(c, &x, &y).map(drop)
        })?;
        cost_line("mux", json!({"k": k}), |c| {
            let (x, y) = (sw(c, k, 1), sw(c, k, 1));
            let s = c.shared_input(1);
            gadgets::mux_word(c, &s, &x, &y).map(drop)
        })?;
    }
    for (k, p) in [(10usize, 8usize), (16, 8), (16, 16), (32, 16)] {
        for (kind, name) in kinds {
            cost_line(
                "divide_fixed_bounded",
                json!({"k": k, "precision": p, "quotient_bits": p + 1, "adder": name}),
                |c| {
                    let (x, y) = (sw(c, k, 1), sw(c, k, 1));
                    gadgets::divide_fixed(c, kind, &x, &y, p, p + 1).map(drop)
                },
            )?;
            cost_line(
                "divide_fixed_full",
                json!({"k": k, "precision": p, "quotient_bits": k + p, "adder": name}),
                |c| {
                    let (x, y) = (sw(c, k, 1), sw(c, k, 1));
                    gadgets::divide_fixed(c, kind, &x, &y, p, k + p).map(drop)
                },
            )?;
        }
    }
    for n in [64usize, 500, 1000] {
        cost_line("popcount", json!({"n": n}), |c| {
            let bits: Vec<CostWire> = (0..n).map(|_| c.shared_input(1)).collect();
            gadgets::popcount(c, &bits).map(drop)
        })?;
    }
    for n in [2usize, 6, 1000, 10_000] {
        cost_line("argmax_lanes", json!({"n": n, "k": 32}), |c| {
            let x = sw(c, 32, n);
            gadgets::argmax_lanes(c, &x).map(drop)
        })?;
    }
    for n in [2usize, 6] {
        cost_line("argmax_words", json!({"n": n, "k": 32}), |c| {
            let v: Vec<_> = (0..n).map(|_| sw(c, 32, 1)).collect();
            gadgets::argmax(c, &v).map(drop)
        })?;
    }
    for k in [9usize, 16, 32] {
        cost_line(
            "a2b_ripple",
            json!({"k": k, "inputs": "client share + server share"}),
            |c| {
                let x = Word::from_bits((0..k).map(|_| c.input(Party::Client, 1)).collect());
                let y = Word::from_bits((0..k).map(|_| c.input(Party::Server, 1)).collect());
                mpc_core::arith::a2b_circuit(c, AdderKind::Ripple, &x, &y).map(drop)
            },
        )?;
    }
    Ok(())
}

async fn main_async(args: Args) -> Result<(), String> {
    if args.what == "costs" {
        return costs();
    }
    let cfg = ExtensionConfig::softspoken(args.k).map_err(|e| e.to_string())?;
    let err = |e: mpc_core::circuit::CircuitError| e.to_string();
    for _ in 0..args.reps {
        if args.what == "all" || args.what == "ands" {
            let b = and_layers(args.lanes, args.layers, args.gates).map_err(err)?;
            run(
                "gmw_ands",
                b,
                cfg,
                json!({"lanes": args.lanes, "layers": args.layers, "gates": args.gates}),
            )
            .await?;
        }
        if args.what == "all" || args.what == "compare" {
            for n in [1usize, 1000, 10_000] {
                run(
                    "compare_u32",
                    comparison(n).map_err(err)?,
                    cfg,
                    json!({"n": n, "bits": 32}),
                )
                .await?;
            }
        }
        if args.what == "all" || args.what == "argmax" {
            for n in [1000usize, 10_000] {
                run(
                    "argmax_u32",
                    argmax(n).map_err(err)?,
                    cfg,
                    json!({"n": n, "bits": 32}),
                )
                .await?;
            }
        }
    }
    Ok(())
}

fn main() {
    let args = match parse() {
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
    if let Err(e) = rt.block_on(main_async(args)) {
        eprintln!("gmw-bench: {e}");
        std::process::exit(1);
    }
}
