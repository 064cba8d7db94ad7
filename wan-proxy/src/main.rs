//! `wan-proxy`: WAN emulation without `netem` (see the library docs).
//!
//! ```text
//! wan-proxy forward --listen ADDR --to ADDR [--delay-ms D] [--rate-mbit R] [--queue-mb Q]
//! wan-proxy sink    --listen ADDR
//! wan-proxy probe   --connect ADDR [--pings N] [--bulk-mb M] [--target-rtt-ms T] [--target-mbit R]
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use wan_proxy::forward::{ForwardConfig, serve};
use wan_proxy::probe::{probe, sink};
use wan_proxy::shape::Shape;

const USAGE: &str = "usage:
  wan-proxy forward --listen ADDR --to ADDR [--delay-ms D] [--rate-mbit R] [--queue-mb Q]
      forwards every connection to --to, delaying each direction by D ms (one way; default 0)
      and, with --rate-mbit, pacing each direction at R Mbit/s; each direction queues at most
      Q MB (default 64) before pushing back on its sender.
  wan-proxy sink --listen ADDR
      the far end of `probe`.
  wan-proxy probe --connect ADDR [--pings N] [--bulk-mb M] [--target-rtt-ms T] [--target-mbit R]
      measures round trip (median of N 8-byte ping-pongs, default 50) and throughput (M MB each
      way, default 64) to a sink; prints one JSON object. With targets it adds the deviations and
      ok = RTT within 10 % and both throughputs within 15 %.";

/// Allowed deviation of the measured round trip from the target.
const RTT_TOLERANCE: f64 = 0.10;
/// Allowed deviation of the measured throughput from the target.
const RATE_TOLERANCE: f64 = 0.15;

struct Flags(Vec<(String, String)>);

impl Flags {
    fn parse(args: impl Iterator<Item = String>) -> Result<Flags, String> {
        let mut out = Vec::new();
        let mut it = args;
        while let Some(flag) = it.next() {
            if !flag.starts_with("--") {
                return Err(format!("unexpected argument {flag}"));
            }
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            out.push((flag, value));
        }
        Ok(Flags(out))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(f, _)| f == name)
            .map(|(_, v)| v.as_str())
    }

    fn check_known(&self, known: &[&str]) -> Result<(), String> {
        match self.0.iter().find(|(f, _)| !known.contains(&f.as_str())) {
            Some((f, _)) => Err(format!("unknown flag {f}")),
            None => Ok(()),
        }
    }

    fn addr(&self, name: &str) -> Result<SocketAddr, String> {
        let v = self
            .get(name)
            .ok_or_else(|| format!("{name} is required"))?;
        v.parse().map_err(|e| format!("{name} {v}: {e}"))
    }

    fn number(&self, name: &str) -> Result<Option<f64>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
                _ => Err(format!("{name} {v}: not a non-negative number")),
            },
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let result = Flags::parse(args).and_then(|flags| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(run(&command, &flags))
    });
    if let Err(e) = result {
        eprintln!("wan-proxy: {e}\n{USAGE}");
        std::process::exit(2);
    }
}

async fn run(command: &str, flags: &Flags) -> Result<(), String> {
    match command {
        "forward" => {
            flags.check_known(&[
                "--listen",
                "--to",
                "--delay-ms",
                "--rate-mbit",
                "--queue-mb",
            ])?;
            let listen = flags.addr("--listen")?;
            let delay = Duration::from_secs_f64(flags.number("--delay-ms")?.unwrap_or(0.0) / 1e3);
            let rate_bps = flags.number("--rate-mbit")?.map(|r| r * 1e6);
            let shape = Shape { delay, rate_bps };
            let config = ForwardConfig {
                upstream: flags.addr("--to")?,
                to_upstream: shape,
                to_downstream: shape,
                queue_bytes: (flags.number("--queue-mb")?.unwrap_or(64.0) * 1e6) as usize,
            };
            let listener = TcpListener::bind(listen)
                .await
                .map_err(|e| format!("listen {listen}: {e}"))?;
            serve(listener, config).await.map_err(|e| e.to_string())
        }
        "sink" => {
            flags.check_known(&["--listen"])?;
            let listen = flags.addr("--listen")?;
            let listener = TcpListener::bind(listen)
                .await
                .map_err(|e| format!("listen {listen}: {e}"))?;
            sink(listener).await.map_err(|e| e.to_string())
        }
        "probe" => {
            flags.check_known(&[
                "--connect",
                "--pings",
                "--bulk-mb",
                "--target-rtt-ms",
                "--target-mbit",
            ])?;
            let addr = flags.addr("--connect")?;
            let pings = flags.number("--pings")?.unwrap_or(50.0).max(1.0) as u64;
            let bulk = (flags.number("--bulk-mb")?.unwrap_or(64.0) * 1e6) as u64;
            let m = probe(addr, pings, bulk.max(1))
                .await
                .map_err(|e| format!("probe {addr}: {e}"))?;
            let rtt = m.rtt_median_ms();
            let off = |measured: f64, target: Option<f64>| {
                target.map(|t| (measured - t) / t.max(f64::MIN_POSITIVE))
            };
            let target_rtt = flags.number("--target-rtt-ms")?;
            let target_mbit = flags.number("--target-mbit")?;
            let rtt_off = off(rtt, target_rtt);
            let up_off = off(m.up_mbit, target_mbit);
            let down_off = off(m.down_mbit, target_mbit);
            let within = |o: Option<f64>, tol: f64| o.is_none_or(|o| o.abs() <= tol);
            let ok = (target_rtt.is_some() || target_mbit.is_some()).then(|| {
                within(rtt_off, RTT_TOLERANCE)
                    && within(up_off, RATE_TOLERANCE)
                    && within(down_off, RATE_TOLERANCE)
            });
            let round = |x: f64, d: f64| (x * d).round() / d;
            let pct = |o: Option<f64>| o.map(|o| round(o * 100.0, 10.0));
            let report = serde_json::json!({
                "rtt_ms_median": round(rtt, 100.0),
                "rtt_ms_min": round(m.rtts_ms.first().copied().unwrap_or(0.0), 100.0),
                "rtt_ms_max": round(m.rtts_ms.last().copied().unwrap_or(0.0), 100.0),
                "pings": pings,
                "up_mbit": round(m.up_mbit, 10.0),
                "down_mbit": round(m.down_mbit, 10.0),
                "bulk_mb": round(bulk as f64 / 1e6, 10.0),
                "target_rtt_ms": target_rtt,
                "target_mbit": target_mbit,
                "rtt_off_pct": pct(rtt_off),
                "up_off_pct": pct(up_off),
                "down_off_pct": pct(down_off),
                "ok": ok,
            });
            println!("{report}");
            Ok(())
        }
        "-h" | "--help" | "help" => Err("help".into()),
        other => Err(format!("unknown command {other:?}")),
    }
}
