//! Measuring the emulated link: a sink on the far side and a probe client
//! that talks to it through the proxy, over the very path the benchmark's
//! two parties use.
//!
//! Requests (client → sink), one per connection:
//! * `P n` — `n` ping-pongs of 8 bytes (each echoed), for the round trip;
//! * `U bytes` — the client uploads `bytes`; the sink answers the
//!   microseconds from the first to the last byte it received;
//! * `D bytes` — the sink sends `bytes`; the client times them the same way.
//!
//! Throughput is timed at the receiver from first to last byte, so the
//! one-way delay before the first byte does not count against the rate.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PING: u8 = b'P';
const UPLOAD: u8 = b'U';
const DOWNLOAD: u8 = b'D';
const BULK_CHUNK: usize = 256 * 1024;

/// What the probe measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// Round trips of 8-byte ping-pongs, sorted, in milliseconds.
    pub rtts_ms: Vec<f64>,
    /// Upload (client → sink) throughput in Mbit/s.
    pub up_mbit: f64,
    /// Download (sink → client) throughput in Mbit/s.
    pub down_mbit: f64,
}

impl Measured {
    /// Median round trip in milliseconds.
    pub fn rtt_median_ms(&self) -> f64 {
        median(&self.rtts_ms)
    }
}

/// Median of sorted values (0 when empty).
pub fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Serves probe requests on `listener` forever, one task per connection.
pub async fn sink(listener: TcpListener) -> io::Result<()> {
    loop {
        let (s, peer) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(e) = serve_probe(s).await {
                eprintln!("wan-proxy sink: {peer}: {e}");
            }
        });
    }
}

async fn serve_probe(mut s: TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    let op = s.read_u8().await?;
    let arg = s.read_u64().await?;
    match op {
        PING => {
            let mut b = [0u8; 8];
            for _ in 0..arg {
                s.read_exact(&mut b).await?;
                s.write_all(&b).await?;
            }
        }
        UPLOAD => {
            let micros = receive_timed(&mut s, arg).await?;
            s.write_u64(micros).await?;
        }
        DOWNLOAD => send_bulk(&mut s, arg).await?,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown probe request {other}"),
            ));
        }
    }
    s.shutdown().await
}

async fn send_bulk(s: &mut TcpStream, mut bytes: u64) -> io::Result<()> {
    let buf = vec![0xA5u8; BULK_CHUNK];
    while bytes > 0 {
        let n = bytes.min(BULK_CHUNK as u64) as usize;
        s.write_all(&buf[..n]).await?;
        bytes -= n as u64;
    }
    s.flush().await
}

/// Reads exactly `bytes`, returning microseconds from first to last byte.
async fn receive_timed(s: &mut TcpStream, bytes: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; BULK_CHUNK];
    let mut left = bytes;
    let mut first: Option<Instant> = None;
    while left > 0 {
        let want = left.min(BULK_CHUNK as u64) as usize;
        let n = s.read(&mut buf[..want]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        first.get_or_insert_with(Instant::now);
        left -= n as u64;
    }
    let elapsed = first.map(|f| f.elapsed()).unwrap_or(Duration::ZERO);
    Ok(elapsed.as_micros().max(1) as u64)
}

async fn request(addr: SocketAddr, op: u8, arg: u64) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut head = [0u8; 9];
    head[0] = op;
    head[1..].copy_from_slice(&arg.to_be_bytes());
    s.write_all(&head).await?;
    Ok(s)
}

fn mbit(bytes: u64, micros: u64) -> f64 {
    bytes as f64 * 8.0 / micros as f64
}

/// Measures round trip (`pings` ping-pongs) and throughput (`bulk_bytes`
/// each way) to the sink at `addr`.
pub async fn probe(addr: SocketAddr, pings: u64, bulk_bytes: u64) -> io::Result<Measured> {
    let mut s = request(addr, PING, pings).await?;
    let mut rtts_ms = Vec::with_capacity(pings as usize);
    let mut b = [0u8; 8];
    for i in 0..pings {
        let sent = i.to_be_bytes();
        let t = Instant::now();
        s.write_all(&sent).await?;
        s.read_exact(&mut b).await?;
        rtts_ms.push(t.elapsed().as_secs_f64() * 1e3);
        if b != sent {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "ping came back altered",
            ));
        }
    }
    rtts_ms.sort_by(f64::total_cmp);

    let mut s = request(addr, UPLOAD, bulk_bytes).await?;
    send_bulk(&mut s, bulk_bytes).await?;
    let up = s.read_u64().await?;

    let mut s = request(addr, DOWNLOAD, bulk_bytes).await?;
    let down = receive_timed(&mut s, bulk_bytes).await?;

    Ok(Measured {
        rtts_ms,
        up_mbit: mbit(bulk_bytes, up),
        down_mbit: mbit(bulk_bytes, down),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
    }
}
