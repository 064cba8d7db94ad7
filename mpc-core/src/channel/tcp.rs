//! Plain-TCP helpers for tests and benchmarks (the node wraps its streams in
//! TLS itself and hands them to [`StreamChannel`](super::StreamChannel) or
//! [`Mux`](super::Mux)).

use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

use super::ChannelError;

/// Connects to `addr` with `TCP_NODELAY` set: the protocols send many small
/// latency-critical messages (one per GMW layer), which Nagle's algorithm
/// would delay by up to 40 ms each.
pub async fn tcp_connect<A: ToSocketAddrs>(addr: A) -> Result<TcpStream, ChannelError> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Accepts one connection on `listener`, with `TCP_NODELAY` set.
pub async fn tcp_accept(listener: &TcpListener) -> Result<TcpStream, ChannelError> {
    let (s, _) = listener.accept().await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// A connected pair of loopback TCP streams (listener on port 0), for tests
/// and benchmarks that run both parties in one process.
pub async fn tcp_pair() -> Result<(TcpStream, TcpStream), ChannelError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (a, b) = tokio::join!(tcp_connect(addr), tcp_accept(&listener));
    Ok((a?, b?))
}
