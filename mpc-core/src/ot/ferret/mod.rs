//! Ferret silent OT (Yang–Weng–Lan–Zhang–Wang, CCS 2020), semi-honest:
//! random correlated OTs (`m1 = m0 ⊕ Δ`, the same Δ as the SoftSpokenOT
//! instance it starts from) at well under one bit per OT on the wire.
//!
//! One **iteration** turns `k + t·h` COTs into `n = t·2^h` COTs:
//! * **regular noise** ([`core`]): the receiver's noise vector e has one 1 in
//!   each of the t blocks of `2^h` positions. Per block, a single-point COT:
//!   the sender expands a GGM tree ([`super::ggm::expand_tree`]) into `2^h`
//!   leaves s; for each of the h levels it sends the XOR of all left and of
//!   all right children, each masked by the TCCR hash of one COT
//!   (`H(K_l)` and `H(K_l ⊕ Δ)`); the receiver, whose COT choice bit is
//!   `b_l`, unmasks the side `b_l` only. The receiver's punctured leaf α is
//!   the complement of its h choice bits (random, so no derandomisation
//!   message). Last, the sender sends `ψ = Δ ⊕ ⊕_i s_i`, from which the
//!   receiver gets `s_α ⊕ Δ`. So the receiver holds `r = s ⊕ e·Δ`.
//! * **primal LPN** ([`lpn`]): with the k remaining COTs `(K, (u, M = K ⊕
//!   u·Δ))`, output i is `z_i = s_i ⊕ Σ_{j<10} K[c_ij]` for the sender and
//!   `x_i = e_i ⊕ Σ u[c_ij]`, `m_i = r_i ⊕ Σ M[c_ij] = z_i ⊕ x_i·Δ` for the
//!   receiver, with ten public indices `c_ij` per output from a public PRG
//!   seed. The choice bits x are pseudorandom by the LPN assumption.
//!
//! **Bootstrapping** ([`stream`]): the first iteration uses the small
//! parameter set [`FerretConfig::boot`] on COTs from the job's SoftSpokenOT
//! instance; every iteration sets aside the first `k + t·h` of its own
//! outputs as the base of the next one, which uses [`FerretConfig::main`].
//!
//! Traffic per iteration: `t · (2h + 1)` blocks from the sender to the
//! receiver, nothing the other way. With the default parameters (SPEC §6.7)
//! that is 0.45 bits per OT handed out.

pub mod core;
pub mod lpn;
pub mod stream;

pub use stream::{FerretReceiver, FerretSender};

use super::OtError;

/// One regular-noise primal-LPN parameter set: a k-vector, t noise blocks
/// of `2^depth` positions each; `n = t · 2^depth` outputs per iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LpnParams {
    /// Length of the LPN secret (COTs used by the linear code).
    pub k: usize,
    /// Noise weight: the number of GGM trees.
    pub t: usize,
    /// Depth of each GGM tree (log2 of the block size).
    pub depth: usize,
}

impl LpnParams {
    /// Outputs per iteration.
    pub const fn n(&self) -> usize {
        self.t << self.depth
    }

    /// COTs an iteration consumes: the k-vector and one per tree level.
    pub const fn base_cots(&self) -> usize {
        self.k + self.t * self.depth
    }
}

/// Indices of the k-vector added to each output (the local linear code's
/// row weight), as in the Ferret paper and emp-ot.
pub const CODE_WEIGHT: usize = 10;

/// The two parameter sets of a Ferret generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FerretConfig {
    boot: LpnParams,
    main: LpnParams,
}

impl FerretConfig {
    /// The default: emp-ot's regular-noise sets (`emp-ot/ferret/constants.h`,
    /// from the Ferret paper's parameter selection for 128-bit security):
    /// main n = 10,608,640, k = 589,824, t = 1,295 (2^13-leaf trees);
    /// bootstrap n = 649,728, k = 36,288, t = 1,269 (2^9-leaf trees).
    pub const DEFAULT: FerretConfig = FerretConfig {
        boot: LpnParams {
            k: 36_288,
            t: 1_269,
            depth: 9,
        },
        main: LpnParams {
            k: 589_824,
            t: 1_295,
            depth: 13,
        },
    };

    /// Checks that the two sets chain: trees of at least 64 leaves (whole
    /// words of choice bits), a bootstrap iteration that yields the main
    /// set's base, and a main iteration that yields more than its own.
    /// **Only [`FerretConfig::DEFAULT`] has a security analysis** (SPEC §6
    /// 2.7); other sets exist so tests can run many small iterations, and
    /// the EpiLink run always uses the default.
    pub fn new(boot: LpnParams, main: LpnParams) -> Result<Self, OtError> {
        let ok =
            |p: &LpnParams| (6..=20).contains(&p.depth) && p.t > 0 && p.k > 0 && p.k < (1 << 31);
        if !ok(&boot) || !ok(&main) {
            return Err(OtError::InvalidParameter(
                "Ferret parameters need 6 ≤ depth ≤ 20, t > 0, 0 < k < 2^31".into(),
            ));
        }
        if boot.n() < main.base_cots() || main.n() <= main.base_cots() {
            return Err(OtError::InvalidParameter(
                "Ferret parameters do not chain: an iteration must yield the next one's base"
                    .into(),
            ));
        }
        Ok(FerretConfig { boot, main })
    }

    /// The set of the first iteration (base COTs from SoftSpokenOT).
    pub fn boot(&self) -> LpnParams {
        self.boot
    }

    /// The set of every later iteration.
    pub fn main(&self) -> LpnParams {
        self.main
    }

    /// COTs a main iteration hands out (its outputs minus the next base).
    pub fn main_yield(&self) -> usize {
        self.main.n() - self.main.base_cots()
    }

    /// Bits on the wire per OT handed out, main iterations only.
    pub fn bits_per_ot(&self) -> f64 {
        let p = self.main;
        (p.t * (2 * p.depth + 1) * 128) as f64 / self.main_yield() as f64
    }
}

impl Default for FerretConfig {
    fn default() -> Self {
        FerretConfig::DEFAULT
    }
}
