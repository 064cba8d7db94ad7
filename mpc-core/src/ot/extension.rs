//! OT extension over a [`Channel`]: setup (base OTs + seed distribution)
//! and extension of random correlated OTs in pipelined batches.
//!
//! Message flow of [`CotSender::setup`] / [`CotReceiver::setup`] (receiver
//! = the party that will hold choice bits):
//! 1. receiver → sender: hello (`"SSOT"`, version, k) — both must agree on k;
//! 2. base OT (roles swapped: the COT receiver is the base-OT sender):
//!    receiver → sender: A; sender → receiver: 128 points B_i;
//! 3. for k > 1, receiver → sender: the GGM level sums masked with the
//!    base-OT keys (2 · 128 blocks). For k = 1 (IKNP) the base-OT keys are
//!    the seeds themselves and this message is skipped.
//!
//! [`CotReceiver::extend`] then sends one correction message per batch of up
//! to [`BATCH_OTS`] OTs and never waits for the sender, so the receiver
//! computes batch b+1 while the sender processes batch b.

use std::fmt;

use zeroize::Zeroize;

use super::derive::{RcotReceiverBatch, RcotSenderBatch};
use super::softspoken::{self, ROWS, ReceiverCore, SenderCore};
use super::{OtError, base, ggm};
use crate::block::Block;
use crate::channel::{Bytes, Channel, decode_blocks, encode_blocks};

/// OTs per correction message (a multiple of 128).
pub const BATCH_OTS: usize = 32 * 1024;
const BATCH_WORDS: usize = BATCH_OTS / ROWS;
const HELLO_MAGIC: &[u8; 4] = b"SSOT";
const VERSION: u8 = 1;

/// Which OT extension to run: SoftSpokenOT with `k` bits per base OT, where
/// `k = 1` is IKNP. Traffic is `128/k − 1` bits per random COT, PRG work
/// `2^k / k` AES blocks per OT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtensionConfig {
    k: usize,
}

impl ExtensionConfig {
    /// IKNP (127 bits per OT).
    pub const IKNP: ExtensionConfig = ExtensionConfig { k: 1 };
    /// SoftSpokenOT with k = 4 (31 bits per OT): the default.
    pub const SOFTSPOKEN4: ExtensionConfig = ExtensionConfig { k: 4 };

    /// SoftSpokenOT with `k` ∈ {1, 2, 4, 8} bits per base OT.
    pub fn softspoken(k: usize) -> Result<Self, OtError> {
        if softspoken::SUPPORTED_K.contains(&k) {
            Ok(ExtensionConfig { k })
        } else {
            Err(OtError::InvalidParameter(format!(
                "SoftSpokenOT k = {k} not supported (use one of {:?})",
                softspoken::SUPPORTED_K
            )))
        }
    }

    /// Bits per base OT.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Bits on the wire per random COT (excluding framing and setup).
    pub fn bits_per_ot(&self) -> usize {
        softspoken::chunks(self.k) - 1
    }
}

impl Default for ExtensionConfig {
    fn default() -> Self {
        ExtensionConfig::SOFTSPOKEN4
    }
}

impl fmt::Display for ExtensionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.k == 1 {
            write!(f, "IKNP")
        } else {
            write!(f, "SoftSpokenOT(k={})", self.k)
        }
    }
}

fn base_ctx(ctx: &[u8], k: usize) -> Vec<u8> {
    let mut c = b"ot-extension/".to_vec();
    c.push(k as u8);
    c.extend_from_slice(ctx);
    c
}

/// Sender of random correlated OTs: holds Δ, gets `m0` with `m1 = m0 ⊕ Δ`.
pub struct CotSender {
    core: SenderCore,
    cfg: ExtensionConfig,
    delta: Block,
    next_index: u128,
}

impl Drop for CotSender {
    fn drop(&mut self) {
        self.delta.zeroize();
    }
}

/// Receiver of random correlated OTs: gets random choice bits `r` and
/// `m_r`.
pub struct CotReceiver {
    core: ReceiverCore,
    cfg: ExtensionConfig,
    next_index: u128,
    /// Reused across calls: the correction message of one batch (public,
    /// it goes on the wire).
    corr: Vec<Block>,
    /// Reused across calls: the fresh choice bits (wiped after each use).
    choice_scratch: Vec<u64>,
}

const INSTANCE_KEY_CONTEXT: &str = "mpc-core 2026 OT extension instance key v1";
const INSTANCE_ID_CONTEXT: &str = "mpc-core 2026 OT extension instance id v1";

/// A PRF key per extension seed: BLAKE3 (derive-key mode, the KDF for
/// secret input key material) of the seed and its position.
fn instance_keys(seeds: &[Block], skip: impl Fn(usize) -> bool) -> Vec<[u8; 32]> {
    seeds
        .iter()
        .enumerate()
        .map(|(x, s)| {
            if skip(x) {
                return [0u8; 32];
            }
            let mut m = [0u8; 24];
            m[..16].copy_from_slice(&s.to_bytes());
            m[16..].copy_from_slice(&(x as u64).to_le_bytes());
            let k = blake3::derive_key(INSTANCE_KEY_CONTEXT, &m);
            m.zeroize();
            k
        })
        .collect()
}

/// The seeds of one extension instance: `BLAKE3-keyed(key_x, tweak)`,
/// truncated to a block; `skip`ped positions stay zero.
fn instance_seeds(keys: &[[u8; 32]], tweak: &[u8; 32], skip: impl Fn(usize) -> bool) -> Vec<Block> {
    keys.iter()
        .enumerate()
        .map(|(x, k)| {
            if skip(x) {
                return Block::ZERO;
            }
            let mut out = blake3::keyed_hash(k, tweak).as_bytes()[..16]
                .try_into()
                .unwrap_or([0u8; 16]);
            let b = Block::from_bytes(out);
            out.zeroize();
            b
        })
        .collect()
}

/// The first OT index of an instance: the upper 64 bits of the TCCR tweak
/// are the instance's id (from its tweak), the lower 64 count its OTs, so
/// OTs of different instances are hashed with distinct tweaks.
fn instance_first_index(tweak: &[u8; 32]) -> u128 {
    let id = blake3::derive_key(INSTANCE_ID_CONTEXT, tweak);
    let mut hi = [0u8; 8];
    hi.copy_from_slice(&id[..8]);
    u128::from(u64::from_le_bytes(hi)) << 64
}

/// What the COT sender keeps of one setup (base OTs and GGM trees): α per
/// chunk (hence Δ) and a PRF key for every seed it knows. From it,
/// [`SenderSeeds::instance`] makes any number of independent extension
/// instances with the same Δ and no further message; the peer's
/// [`ReceiverSeeds::instance`] with the same tweak is the other half.
/// Zeroized on drop.
pub struct SenderSeeds {
    cfg: ExtensionConfig,
    alphas: Vec<usize>,
    keys: Vec<[u8; 32]>,
}

/// The COT receiver's half of [`SenderSeeds`]: a PRF key for every seed.
/// Zeroized on drop.
pub struct ReceiverSeeds {
    cfg: ExtensionConfig,
    keys: Vec<[u8; 32]>,
}

impl Drop for SenderSeeds {
    fn drop(&mut self) {
        self.alphas.zeroize();
        self.keys.zeroize();
    }
}

impl Drop for ReceiverSeeds {
    fn drop(&mut self) {
        self.keys.zeroize();
    }
}

impl std::fmt::Debug for SenderSeeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SenderSeeds({}, redacted)", self.cfg)
    }
}

impl std::fmt::Debug for ReceiverSeeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReceiverSeeds({}, redacted)", self.cfg)
    }
}

impl SenderSeeds {
    /// Runs the setup with the peer's [`ReceiverSeeds::setup`] (the same
    /// messages as [`CotSender::setup`]).
    pub async fn setup<C: Channel>(
        ch: &mut C,
        cfg: ExtensionConfig,
        ctx: &[u8],
    ) -> Result<Self, OtError> {
        let (alphas, seeds) = sender_setup(ch, cfg, ctx).await?;
        let nl = 1usize << cfg.k;
        let keys = instance_keys(&seeds, |x| x % nl == alphas[x / nl]);
        let mut seeds = seeds;
        seeds.zeroize();
        Ok(SenderSeeds { cfg, alphas, keys })
    }

    /// The extension in use.
    pub fn config(&self) -> ExtensionConfig {
        self.cfg
    }

    /// Extension instance number `tweak`: seeds `PRF(key_x, tweak)`, the
    /// same Δ. Every tweak must be used once per setup (on both sides).
    pub fn instance(&self, tweak: &[u8; 32]) -> CotSender {
        let k = self.cfg.k;
        let nl = 1usize << k;
        let mut seeds = instance_seeds(&self.keys, tweak, |x| x % nl == self.alphas[x / nl]);
        let core = SenderCore::new(k, &self.alphas, &seeds);
        seeds.zeroize();
        let delta = core.delta();
        CotSender {
            core,
            cfg: self.cfg,
            delta,
            next_index: instance_first_index(tweak),
        }
    }
}

impl ReceiverSeeds {
    /// Runs the setup with the peer's [`SenderSeeds::setup`].
    pub async fn setup<C: Channel>(
        ch: &mut C,
        cfg: ExtensionConfig,
        ctx: &[u8],
    ) -> Result<Self, OtError> {
        let mut seeds = receiver_setup(ch, cfg, ctx).await?;
        let keys = instance_keys(&seeds, |_| false);
        seeds.zeroize();
        Ok(ReceiverSeeds { cfg, keys })
    }

    /// The extension in use.
    pub fn config(&self) -> ExtensionConfig {
        self.cfg
    }

    /// Extension instance number `tweak` (see [`SenderSeeds::instance`]).
    pub fn instance(&self, tweak: &[u8; 32]) -> CotReceiver {
        let mut seeds = instance_seeds(&self.keys, tweak, |_| false);
        let core = ReceiverCore::new(self.cfg.k, &seeds);
        seeds.zeroize();
        CotReceiver {
            core,
            cfg: self.cfg,
            next_index: instance_first_index(tweak),
            corr: Vec::new(),
            choice_scratch: Vec::new(),
        }
    }
}

/// Draws α_i per chunk and the matching base-OT choice bits (complement of
/// α's bits, most significant first). Synchronous so the thread-local RNG
/// is never held across an `.await`.
fn draw_alphas(k: usize) -> (Vec<usize>, Vec<bool>) {
    let mut rng = rand::rng();
    let nchunks = softspoken::chunks(k);
    let mut alphas = Vec::with_capacity(nchunks);
    let mut choices = Vec::with_capacity(ROWS);
    for _ in 0..nchunks {
        let alpha = (Block::random(&mut rng).0 as usize) & ((1 << k) - 1);
        alphas.push(alpha);
        for l in 0..k {
            choices.push((alpha >> (k - 1 - l)) & 1 == 0);
        }
    }
    (alphas, choices)
}

/// The COT sender's setup: α per chunk and every seed (the punctured one
/// of each chunk zero).
async fn sender_setup<C: Channel>(
    ch: &mut C,
    cfg: ExtensionConfig,
    ctx: &[u8],
) -> Result<(Vec<usize>, Vec<Block>), OtError> {
    let hello = ch.recv().await?;
    check_hello(&hello, cfg)?;
    let k = cfg.k;
    let nl = 1usize << k;
    let (alphas, choices) = draw_alphas(k);
    let keys = base::base_ot_receive(ch, &base_ctx(ctx, k), &choices).await?;
    let mut seeds = vec![Block::ZERO; softspoken::chunks(k) * nl];
    if k == 1 {
        // IKNP: the chosen base-OT key is seed number c = 1 − α.
        for (i, key) in keys.iter().enumerate() {
            seeds[i * 2 + (1 - alphas[i])] = *key;
        }
    } else {
        let masked = decode_blocks(&ch.recv().await?, 2 * ROWS)?;
        for (i, &alpha) in alphas.iter().enumerate() {
            let sums_off: Vec<Block> = (0..k)
                .map(|l| {
                    let idx = i * k + l;
                    let c = choices[idx] as usize;
                    masked[2 * idx + c] ^ keys[idx]
                })
                .collect();
            let leaves = ggm::reconstruct(alpha, k, &sums_off);
            seeds[i * nl..(i + 1) * nl].copy_from_slice(&leaves);
        }
    }
    let mut keys = keys;
    keys.zeroize();
    Ok((alphas, seeds))
}

impl CotSender {
    /// Runs the setup with the peer's [`CotReceiver::setup`]. `ctx` binds
    /// the base OTs to this session (both parties pass the same bytes).
    pub async fn setup<C: Channel>(
        ch: &mut C,
        cfg: ExtensionConfig,
        ctx: &[u8],
    ) -> Result<Self, OtError> {
        let (mut alphas, mut seeds) = sender_setup(ch, cfg, ctx).await?;
        let core = SenderCore::new(cfg.k, &alphas, &seeds);
        seeds.zeroize();
        alphas.zeroize();
        let delta = core.delta();
        Ok(CotSender {
            core,
            cfg,
            delta,
            next_index: 0,
        })
    }

    /// The global correlation Δ (secret).
    pub fn delta(&self) -> Block {
        self.delta
    }

    /// The extension in use.
    pub fn config(&self) -> ExtensionConfig {
        self.cfg
    }

    /// Extends `n` random COTs together with the peer's
    /// [`CotReceiver::extend`] (same `n`).
    pub async fn extend<C: Channel>(
        &mut self,
        ch: &mut C,
        n: usize,
    ) -> Result<RcotSenderBatch, OtError> {
        let mut m0 = Vec::new();
        let first_index = self.extend_into(ch, n, &mut m0).await?;
        Ok(RcotSenderBatch {
            first_index,
            delta: self.delta,
            m0,
        })
    }

    /// Like [`CotSender::extend`], but appends the `n` zero-messages to
    /// `out` and returns the stream index of the first. Lets a pool grow its
    /// buffer in place instead of copying a fresh batch into it. On error
    /// `out` is left as it was.
    pub async fn extend_into<C: Channel>(
        &mut self,
        ch: &mut C,
        n: usize,
        out: &mut Vec<Block>,
    ) -> Result<u128, OtError> {
        let nwords = n.div_ceil(ROWS);
        let start = out.len();
        out.resize(start + nwords * ROWS, Block::ZERO);
        if let Err(e) = self.fill(ch, nwords, &mut out[start..]).await {
            out[start..].zeroize();
            out.truncate(start);
            return Err(e);
        }
        // The padding OTs of the last word are never handed out: wipe them.
        out[start + n..].zeroize();
        out.truncate(start + n);
        let first_index = self.next_index;
        self.next_index += n as u128;
        Ok(first_index)
    }

    /// Receives the corrections for `nwords` words and writes the q_j.
    async fn fill<C: Channel>(
        &mut self,
        ch: &mut C,
        nwords: usize,
        q: &mut [Block],
    ) -> Result<(), OtError> {
        let mut done = 0;
        while done < nwords {
            let bw = BATCH_WORDS.min(nwords - done);
            let msg = ch.recv().await?;
            let corr = decode_blocks(&msg, softspoken::correction_len(self.cfg.k, bw))?;
            self.core
                .extend(bw, &corr, &mut q[done * ROWS..(done + bw) * ROWS]);
            done += bw;
        }
        Ok(())
    }
}

fn check_hello(hello: &[u8], cfg: ExtensionConfig) -> Result<(), OtError> {
    let theirs = if hello.len() == 6 && &hello[..4] == HELLO_MAGIC && hello[4] == VERSION {
        match ExtensionConfig::softspoken(hello[5] as usize) {
            Ok(c) if c == cfg => return Ok(()),
            Ok(c) => c.to_string(),
            Err(_) => format!("unsupported k = {}", hello[5]),
        }
    } else {
        format!("an unknown protocol (hello of {} bytes)", hello.len())
    };
    Err(OtError::ConfigMismatch {
        ours: cfg.to_string(),
        theirs,
    })
}

/// The COT receiver's setup: every seed of every chunk.
async fn receiver_setup<C: Channel>(
    ch: &mut C,
    cfg: ExtensionConfig,
    ctx: &[u8],
) -> Result<Vec<Block>, OtError> {
    let k = cfg.k;
    let mut hello = HELLO_MAGIC.to_vec();
    hello.extend_from_slice(&[VERSION, k as u8]);
    ch.send(Bytes::from(hello)).await?;
    let pairs = base::base_ot_send(ch, &base_ctx(ctx, k), ROWS).await?;
    let nl = 1usize << k;
    let nchunks = softspoken::chunks(k);
    let mut seeds = Vec::with_capacity(nchunks * nl);
    if k == 1 {
        for p in &pairs {
            seeds.extend_from_slice(p);
        }
    } else {
        let roots: Vec<Block> = {
            let mut rng = rand::rng();
            (0..nchunks).map(|_| Block::random(&mut rng)).collect()
        };
        let mut masked = Vec::with_capacity(2 * ROWS);
        for (i, root) in roots.iter().enumerate() {
            let (leaves, sums) = ggm::expand(*root, k);
            for (l, s) in sums.iter().enumerate() {
                let p = pairs[i * k + l];
                masked.push(s[0] ^ p[0]);
                masked.push(s[1] ^ p[1]);
            }
            seeds.extend_from_slice(&leaves);
        }
        ch.send(encode_blocks(&masked)).await?;
        masked.zeroize();
    }
    let mut pairs = pairs;
    pairs.zeroize();
    Ok(seeds)
}

impl CotReceiver {
    /// Runs the setup with the peer's [`CotSender::setup`].
    pub async fn setup<C: Channel>(
        ch: &mut C,
        cfg: ExtensionConfig,
        ctx: &[u8],
    ) -> Result<Self, OtError> {
        let mut seeds = receiver_setup(ch, cfg, ctx).await?;
        let core = ReceiverCore::new(cfg.k, &seeds);
        seeds.zeroize();
        Ok(CotReceiver {
            core,
            cfg,
            next_index: 0,
            corr: Vec::new(),
            choice_scratch: Vec::new(),
        })
    }

    /// The extension in use.
    pub fn config(&self) -> ExtensionConfig {
        self.cfg
    }

    /// Extends `n` random COTs together with the peer's
    /// [`CotSender::extend`] (same `n`): random choice bits and `m_r`.
    pub async fn extend<C: Channel>(
        &mut self,
        ch: &mut C,
        n: usize,
    ) -> Result<RcotReceiverBatch, OtError> {
        let mut choices = Vec::new();
        let mut mb = Vec::new();
        let first_index = self.extend_into(ch, n, &mut choices, &mut mb).await?;
        Ok(RcotReceiverBatch {
            first_index,
            choices,
            mb,
        })
    }

    /// Like [`CotReceiver::extend`], but appends the `n` messages `m_r` to
    /// `mb` and the `n` choice bits to the packed `choices`, which must hold
    /// exactly `mb.len()` bits before the call (padding bits zero, as after
    /// it). Returns the stream index of the first new OT. Lets a pool grow
    /// its buffers in place. On error both are left as they were.
    pub async fn extend_into<C: Channel>(
        &mut self,
        ch: &mut C,
        n: usize,
        choices: &mut Vec<u64>,
        mb: &mut Vec<Block>,
    ) -> Result<u128, OtError> {
        let nwords = n.div_ceil(ROWS);
        let have = mb.len();
        let mut fresh = std::mem::take(&mut self.choice_scratch);
        fresh.clear();
        fresh.resize(2 * nwords, 0);
        mb.resize(have + nwords * ROWS, Block::ZERO);
        let res = self.fill(ch, nwords, &mut fresh, &mut mb[have..]).await;
        if let Err(e) = res {
            mb[have..].zeroize();
            mb.truncate(have);
            fresh.zeroize();
            self.choice_scratch = fresh;
            return Err(e);
        }
        // The padding OTs of the last word are never handed out: wipe them.
        mb[have + n..].zeroize();
        mb.truncate(have + n);
        super::bits::append_bits(choices, have, &fresh, n);
        fresh.zeroize();
        self.choice_scratch = fresh;
        let first_index = self.next_index;
        self.next_index += n as u128;
        Ok(first_index)
    }

    /// Computes `nwords` words of OTs batch by batch, sending each batch's
    /// corrections as soon as it is ready.
    async fn fill<C: Channel>(
        &mut self,
        ch: &mut C,
        nwords: usize,
        choices: &mut [u64],
        t: &mut [Block],
    ) -> Result<(), OtError> {
        let mut done = 0;
        while done < nwords {
            let bw = BATCH_WORDS.min(nwords - done);
            self.corr
                .resize(softspoken::correction_len(self.cfg.k, bw), Block::ZERO);
            self.core.extend(
                bw,
                &mut choices[2 * done..2 * (done + bw)],
                &mut t[done * ROWS..(done + bw) * ROWS],
                &mut self.corr,
            );
            ch.send(encode_blocks(&self.corr)).await?;
            done += bw;
            // Let the channel's writer (and anything else on this runtime
            // thread) run between batches, so the batch just queued goes out
            // while the next one is computed even on a single-threaded
            // runtime.
            tokio::task::yield_now().await;
        }
        Ok(())
    }
}
