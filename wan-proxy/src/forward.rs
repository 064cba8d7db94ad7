//! The delaying TCP proxy.
//!
//! Each direction of a proxied connection is a reader task and a writer
//! task joined by a FIFO of `(release time, chunk)`: the reader stamps every
//! chunk as it arrives ([`Pacer::release_at`]) and goes on reading, the
//! writer sleeps until a chunk's release time and writes it. So the delay
//! is a latency, not a throughput limit: a whole bandwidth-delay product
//! (5 MB at 700 Mbit/s × 60 ms) is in flight in the queue. The queue holds
//! at most [`ForwardConfig::queue_bytes`]; beyond that the reader waits,
//! which pushes back on the sender through TCP like a full send buffer.
//!
//! The TCP legs into and out of the proxy are local (loopback or one veth
//! hop), so their own round trips are microseconds and the kernel's buffer
//! autotuning suffices; the proxy does not pin `SO_RCVBUF`/`SO_SNDBUF`
//! (that would switch autotuning off and cap them at `net.core.*mem_max`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::shape::{Pacer, Shape};

/// Largest chunk one read takes from a socket.
const CHUNK: usize = 64 * 1024;

/// What the proxy forwards where, and how.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    /// Where the proxied connections go.
    pub upstream: SocketAddr,
    /// Shape from the accepted side towards `upstream`.
    pub to_upstream: Shape,
    /// Shape from `upstream` back to the accepted side.
    pub to_downstream: Shape,
    /// Bytes one direction may hold in its delay queue.
    pub queue_bytes: usize,
}

/// Accepts connections on `listener` forever, forwarding each to the
/// upstream address. A connection that fails is logged to stderr and
/// dropped; the proxy keeps serving.
pub async fn serve(listener: TcpListener, config: ForwardConfig) -> io::Result<()> {
    loop {
        let (down, peer) = listener.accept().await?;
        let config = config.clone();
        tokio::spawn(async move {
            if let Err(e) = proxy_connection(down, &config).await {
                eprintln!("wan-proxy: connection from {peer}: {e}");
            }
        });
    }
}

/// Forwards one accepted connection until both directions have ended.
pub async fn proxy_connection(down: TcpStream, config: &ForwardConfig) -> io::Result<()> {
    let up = TcpStream::connect(config.upstream).await?;
    // The protocols behind the proxy send many small messages; Nagle would
    // add its own delay on top of the emulated one.
    down.set_nodelay(true)?;
    up.set_nodelay(true)?;
    let (down_r, down_w) = down.into_split();
    let (up_r, up_w) = up.into_split();
    let there = pump(down_r, up_w, config.to_upstream, config.queue_bytes);
    let back = pump(up_r, down_w, config.to_downstream, config.queue_bytes);
    tokio::try_join!(there, back)?;
    Ok(())
}

/// One direction: copies `r` to `w` through a delay queue shaped by
/// `shape`, then half-closes `w` when `r` reaches end of stream.
pub async fn pump<R, W>(mut r: R, mut w: W, shape: Shape, queue_bytes: usize) -> io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    // Permits are bytes; a chunk is never larger than the budget.
    let budget = Arc::new(Semaphore::new(queue_bytes.max(CHUNK)));
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>, OwnedSemaphorePermit)>();
    let reader = async move {
        let mut pacer = Pacer::new(shape);
        loop {
            // Room first, then read: a chunk is stamped when it arrives,
            // never after waiting for the queue.
            let mut room = budget
                .clone()
                .acquire_many_owned(CHUNK as u32)
                .await
                .map_err(|_| io::Error::other("delay queue closed"))?;
            let mut buf = vec![0u8; CHUNK];
            let n = r.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), io::Error>(());
            }
            let at = pacer.release_at(Instant::now(), n);
            buf.truncate(n);
            // Keep the permits of the bytes read; the rest go back now.
            let permit = room
                .split(n)
                .ok_or_else(|| io::Error::other("read beyond the chunk"))?;
            drop(room);
            if tx.send((at, buf, permit)).is_err() {
                // The writer stopped (its error is the one reported).
                return Ok(());
            }
        }
    };
    let writer = async move {
        while let Some((at, chunk, permit)) = rx.recv().await {
            tokio::time::sleep_until(at.into()).await;
            w.write_all(&chunk).await?;
            drop(permit);
        }
        w.shutdown().await
    };
    let (read, write) = tokio::join!(reader, writer);
    read.and(write)
}
