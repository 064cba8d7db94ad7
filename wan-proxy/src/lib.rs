//! WAN emulation for `scripts/bench-wan.sh` on kernels without `netem`.
//!
//! * [`shape`] — when a chunk read from one side may be written to the
//!   other: a fixed one-way delay and an optional rate (pure arithmetic).
//! * [`forward`] — the TCP proxy: per connection, two directions, each a
//!   timestamped FIFO so a bandwidth-delay product's worth of data is in
//!   flight at once (the delay does not serialise throughput).
//! * [`probe`] — a sink and a client that measure the emulated round-trip
//!   time and throughput through the very path the benchmark uses.

pub mod forward;
pub mod probe;
pub mod shape;
