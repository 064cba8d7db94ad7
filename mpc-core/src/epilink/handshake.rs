//! The first message of an EpiLink run: both parties state what they are
//! about to compute, and stop with a precise error if they disagree.
//!
//! Each party sends one 128-byte message (simultaneously; no party waits for
//! the other before sending):
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `EPILNK02` |
//! | 8 | role: 0 client, 1 server |
//! | 9 | mode: 0 linkage, 1 matching |
//! | 10 | carries of the similarity circuit: 0 ripple, 1 log-depth |
//! | 11 | OT extension k |
//! | 12 | carries of the comparison signs: 0 ripple, 1 log-depth |
//! | 13 | OT backend: 0 SoftSpokenOT, 1 Ferret |
//! | 14 | record-tournament arity: 0 binary, 1 four-way, 2 eight-way (`log2 k − 1`) |
//! | 15 | reserved, zero |
//! | 16..24 | records this party inputs (client: M, server: N), u64 LE |
//! | 24..32 | lanes per chunk, u64 LE |
//! | 32..64 | configuration fingerprint (BLAKE3) |
//! | 64..96 | context digest: BLAKE3 of the caller's context (the job id) |
//! | 96..128 | nonce: 32 fresh random bytes of the sender |
//!
//! The peer's record count is checked against this party's maximum first,
//! before anything is sized by it (issue 9 item 1). From both messages both
//! parties derive the same [`Agreement`]: the job tag (which the linkage
//! service pairs the two posts on) and the tweak that makes this run's OT
//! extension seeds fresh. Both hash the two nonces, so neither party alone
//! fixes them and no two runs share them, even with a repeated job id.
//!
//! The fingerprint hashes the quantised integers that decide every result
//! (SPEC: nodes compare the quantised integers, never the floats): per
//! field its comparator, type and bit length and its weight `W_f`; the
//! exchange groups as index lists; `T_m`, `T_t`; and the similarities'
//! fractional bits `F`. Field names are not
//! part of it (each site may use its own), nor are frequencies and error
//! rates (only the weights derived from them matter).

use protocol_spec::config::{Comparator, FieldType, LinkageConfig};

use super::ots::OtBackend;
use super::plan::Carries;
use crate::Party;
use crate::circuit::gadgets::AdderKind;

/// Length of the handshake message.
pub const HANDSHAKE_LEN: usize = 128;
const MAGIC: &[u8; 8] = b"EPILNK02";
const TAG_CONTEXT: &str = "mpc-core 2026 epilink job tag v1";
const TWEAK_CONTEXT: &str = "mpc-core 2026 epilink job OT tweak v1";
const CONTEXT_DIGEST: &str = "mpc-core 2026 epilink job context v1";

/// Linkage (shares of the result per query) or matching (counts to the
/// client).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// XOR shares of (match, tentative, best index) per query.
    Linkage,
    /// The two counts, revealed to the client only.
    Matching,
}

/// What one party announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The sender's role.
    pub role: Party,
    /// The computation.
    pub mode: Mode,
    /// Carry structures of the circuits.
    pub carries: Carries,
    /// OT extension parameter k.
    pub ot_k: u8,
    /// Candidates per group of the record tournament (2, 4 or 8).
    pub record_arity: u8,
    /// Where the random OTs come from (byte 13).
    pub ot_backend: OtBackend,
    /// Records the sender inputs.
    pub records: u64,
    /// Pairs per chunk.
    pub lanes_per_chunk: u64,
    /// [`fingerprint`] of the configuration.
    pub fingerprint: [u8; 32],
    /// [`context_digest`] of the caller's context (job id).
    pub context: [u8; 32],
    /// Fresh randomness of the sender ([`fresh_nonce`]).
    pub nonce: [u8; 32],
}

/// BLAKE3 (derive-key mode) of the caller's context: both parties must
/// pass the same context (the job id), and the handshake says so
/// precisely instead of letting the OTs silently disagree.
pub fn context_digest(context: &[u8]) -> [u8; 32] {
    blake3::derive_key(CONTEXT_DIGEST, context)
}

/// 32 bytes from the operating-system-seeded CSPRNG.
pub fn fresh_nonce() -> [u8; 32] {
    let mut n = [0u8; 32];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut n);
    n
}

/// What both parties derive from the two handshake messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Agreement {
    /// The job tag: equal on both sides, different for every run.
    pub job_tag: [u8; 32],
    /// Tweak of this run's OT extension seeds (secret-free but kept out of
    /// logs with the rest).
    pub ot_tweak: [u8; 32],
}

impl std::fmt::Debug for Agreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agreement").finish_non_exhaustive()
    }
}

impl Agreement {
    /// Hashes both messages, the client's first, so both parties get the
    /// same bytes whichever they are.
    pub fn derive(mine: &Hello, peer: &Hello) -> Agreement {
        let (client, server) = match mine.role {
            Party::Client => (mine, peer),
            Party::Server => (peer, mine),
        };
        let (c, s) = (client.encode(), server.encode());
        let hash = |ctx: &str| {
            let mut h = blake3::Hasher::new_derive_key(ctx);
            h.update(&c);
            h.update(&s);
            *h.finalize().as_bytes()
        };
        Agreement {
            job_tag: hash(TAG_CONTEXT),
            ot_tweak: hash(TWEAK_CONTEXT),
        }
    }
}

/// Why the peer's handshake does not fit ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Not a handshake of this protocol version.
    #[error("the peer's first message is not an EpiLink handshake ({0})")]
    Malformed(&'static str),
    /// Both parties claim the same role.
    #[error("both parties act as {0:?}")]
    SameRole(Party),
    /// One party links, the other matches.
    #[error("mode mismatch: this party runs {mine:?}, the peer {peer:?}")]
    Mode {
        /// This party's mode.
        mine: Mode,
        /// The peer's mode.
        peer: Mode,
    },
    /// The quantised configurations differ.
    #[error(
        "configuration mismatch: the peer's quantised weights, thresholds, field types or \
         exchange groups differ from ours"
    )]
    Config,
    /// Circuit options differ (both must build the same circuit).
    #[error("option mismatch: {0} differs between the parties")]
    Options(&'static str),
    /// The peer announced more records than this party accepts; refused
    /// before any OT setup or allocation.
    #[error("the peer announced {announced} records, more than the maximum of {max}")]
    TooManyRecords {
        /// The peer's count.
        announced: u64,
        /// This party's maximum.
        max: u64,
    },
    /// The parties run under different contexts (job ids).
    #[error("context mismatch: the peer runs a different job id")]
    Context,
    /// The peer's nonce equals ours (a reflected message).
    #[error("the peer's handshake echoes our nonce")]
    Reflected,
    /// The peer inputs a different number of records than expected.
    #[error("the peer inputs {got} records, {expected} were expected")]
    Count {
        /// What this party expected.
        expected: u64,
        /// What the peer announced.
        got: u64,
    },
}

/// BLAKE3 over the quantised configuration (see the module docs).
pub fn fingerprint(config: &LinkageConfig) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"epilink-config-v1");
    h.update(&(config.fields().len() as u64).to_le_bytes());
    for (i, f) in config.fields().iter().enumerate() {
        h.update(&[match f.comparator {
            Comparator::Dice => 0,
            Comparator::Binary => 1,
        }]);
        h.update(&[match f.field_type {
            FieldType::Bitmask => 0,
            FieldType::Integer => 1,
            FieldType::Number => 2,
            FieldType::String => 3,
        }]);
        h.update(&f.bitlength.to_le_bytes());
        h.update(&config.weight(i).to_le_bytes());
    }
    h.update(&(config.exchange_groups().len() as u64).to_le_bytes());
    for g in config.exchange_groups() {
        h.update(&(g.len() as u64).to_le_bytes());
        for &i in g {
            h.update(&(i as u64).to_le_bytes());
        }
    }
    h.update(&config.threshold_match_fp().to_le_bytes());
    h.update(&config.threshold_tentative_fp().to_le_bytes());
    h.update(&config.dice_fraction_bits().to_le_bytes());
    *h.finalize().as_bytes()
}

impl Hello {
    /// The 64-byte encoding.
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut m = [0u8; HANDSHAKE_LEN];
        m[..8].copy_from_slice(MAGIC);
        m[8] = match self.role {
            Party::Client => 0,
            Party::Server => 1,
        };
        m[9] = match self.mode {
            Mode::Linkage => 0,
            Mode::Matching => 1,
        };
        let code = |a: AdderKind| match a {
            AdderKind::Ripple => 0,
            AdderKind::LogDepth => 1,
        };
        m[10] = code(self.carries.similarity);
        m[11] = self.ot_k;
        m[12] = code(self.carries.comparison);
        m[14] = self.record_arity.max(1).ilog2().saturating_sub(1) as u8;
        m[13] = self.ot_backend.code();
        m[16..24].copy_from_slice(&self.records.to_le_bytes());
        m[24..32].copy_from_slice(&self.lanes_per_chunk.to_le_bytes());
        m[32..64].copy_from_slice(&self.fingerprint);
        m[64..96].copy_from_slice(&self.context);
        m[96..128].copy_from_slice(&self.nonce);
        m
    }

    /// Parses a handshake, rejecting anything malformed.
    pub fn decode(m: &[u8]) -> Result<Hello, HandshakeError> {
        if m.len() != HANDSHAKE_LEN {
            return Err(HandshakeError::Malformed("wrong length"));
        }
        if &m[..8] != MAGIC {
            return Err(HandshakeError::Malformed("wrong magic or version"));
        }
        if m[15] != 0 {
            return Err(HandshakeError::Malformed("reserved bytes set"));
        }
        let u64_at = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&m[o..o + 8]);
            u64::from_le_bytes(b)
        };
        let bytes32 = |o: usize| {
            let mut b = [0u8; 32];
            b.copy_from_slice(&m[o..o + 32]);
            b
        };
        let adder = |b: u8| match b {
            0 => Ok(AdderKind::Ripple),
            1 => Ok(AdderKind::LogDepth),
            _ => Err(HandshakeError::Malformed("unknown adder")),
        };
        Ok(Hello {
            role: match m[8] {
                0 => Party::Client,
                1 => Party::Server,
                _ => return Err(HandshakeError::Malformed("unknown role")),
            },
            mode: match m[9] {
                0 => Mode::Linkage,
                1 => Mode::Matching,
                _ => return Err(HandshakeError::Malformed("unknown mode")),
            },
            carries: Carries {
                similarity: adder(m[10])?,
                comparison: adder(m[12])?,
            },
            ot_k: m[11],
            record_arity: match m[14] {
                0 => 2,
                1 => 4,
                2 => 8,
                _ => return Err(HandshakeError::Malformed("unknown record arity")),
            },
            ot_backend: OtBackend::from_code(m[13])
                .ok_or(HandshakeError::Malformed("unknown OT backend"))?,
            records: u64_at(16),
            lanes_per_chunk: u64_at(24),
            fingerprint: bytes32(32),
            context: bytes32(64),
            nonce: bytes32(96),
        })
    }

    /// Checks the peer's announcement against ours: first its record count
    /// against `max_peer` (nothing is sized by it before this), then
    /// everything else; `expected_peer` is the peer's record count if this
    /// party knows what to expect.
    pub fn check_peer(
        &self,
        peer: &Hello,
        max_peer: u64,
        expected_peer: Option<u64>,
    ) -> Result<(), HandshakeError> {
        if peer.records > max_peer {
            return Err(HandshakeError::TooManyRecords {
                announced: peer.records,
                max: max_peer,
            });
        }
        if peer.role == self.role {
            return Err(HandshakeError::SameRole(self.role));
        }
        if peer.mode != self.mode {
            return Err(HandshakeError::Mode {
                mine: self.mode,
                peer: peer.mode,
            });
        }
        // Constant-time comparison is not needed: the fingerprint is a
        // hash of public configuration, not a secret.
        if peer.fingerprint != self.fingerprint {
            return Err(HandshakeError::Config);
        }
        if peer.carries != self.carries {
            return Err(HandshakeError::Options("the carry structure (adders)"));
        }
        if peer.ot_k != self.ot_k {
            return Err(HandshakeError::Options("the OT extension parameter k"));
        }
        if peer.record_arity != self.record_arity {
            return Err(HandshakeError::Options("the record-tournament arity"));
        }
        if peer.ot_backend != self.ot_backend {
            return Err(HandshakeError::Options(
                "the OT backend (SoftSpokenOT or Ferret)",
            ));
        }
        if peer.lanes_per_chunk != self.lanes_per_chunk {
            return Err(HandshakeError::Options("the chunk size (lanes per chunk)"));
        }
        if peer.context != self.context {
            return Err(HandshakeError::Context);
        }
        if peer.nonce == self.nonce {
            return Err(HandshakeError::Reflected);
        }
        if let Some(expected) = expected_peer
            && expected != peer.records
        {
            return Err(HandshakeError::Count {
                expected,
                got: peer.records,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_rejections() {
        let h = Hello {
            role: Party::Client,
            mode: Mode::Linkage,
            carries: Carries::BALANCED,
            ot_k: 4,
            record_arity: 2,
            ot_backend: OtBackend::SoftSpoken,
            records: 7,
            lanes_per_chunk: 1 << 14,
            fingerprint: [9; 32],
            context: context_digest(b"job-1"),
            nonce: fresh_nonce(),
        };
        let enc = h.encode();
        assert_eq!(Hello::decode(&enc), Ok(h.clone()));
        assert!(matches!(
            Hello::decode(&enc[..127]),
            Err(HandshakeError::Malformed(_))
        ));
        let mut bad = enc;
        bad[0] = b'X';
        assert!(matches!(
            Hello::decode(&bad),
            Err(HandshakeError::Malformed(_))
        ));
        let peer = Hello {
            role: Party::Server,
            records: 100,
            nonce: fresh_nonce(),
            ..h.clone()
        };
        assert_eq!(h.check_peer(&peer, 100, Some(100)), Ok(()));
        assert_eq!(
            h.check_peer(&peer, 99, Some(100)),
            Err(HandshakeError::TooManyRecords {
                announced: 100,
                max: 99
            })
        );
        assert_eq!(
            h.check_peer(&peer, 1000, Some(99)),
            Err(HandshakeError::Count {
                expected: 99,
                got: 100
            })
        );
        assert_eq!(
            h.check_peer(&h, u64::MAX, None),
            Err(HandshakeError::SameRole(Party::Client))
        );
        let other = Hello {
            context: context_digest(b"job-2"),
            ..peer.clone()
        };
        assert_eq!(
            h.check_peer(&other, 100, None),
            Err(HandshakeError::Context)
        );
        let other = Hello {
            nonce: h.nonce,
            ..peer.clone()
        };
        assert_eq!(
            h.check_peer(&other, 100, None),
            Err(HandshakeError::Reflected)
        );
        let other = Hello {
            fingerprint: [1; 32],
            ..peer.clone()
        };
        assert_eq!(h.check_peer(&other, 100, None), Err(HandshakeError::Config));
        let other = Hello {
            record_arity: 4,
            ..peer.clone()
        };
        assert_eq!(
            h.check_peer(&other, 100, None),
            Err(HandshakeError::Options("the record-tournament arity"))
        );
        for k in [2u8, 4, 8] {
            let wide = Hello {
                record_arity: k,
                ..h.clone()
            };
            assert_eq!(Hello::decode(&wide.encode()), Ok(wide));
        }
        let mut bad = enc;
        bad[14] = 3;
        assert_eq!(
            Hello::decode(&bad),
            Err(HandshakeError::Malformed("unknown record arity"))
        );
        let other = Hello {
            ot_backend: OtBackend::Ferret,
            ..peer.clone()
        };
        assert_eq!(
            h.check_peer(&other, 100, None),
            Err(HandshakeError::Options(
                "the OT backend (SoftSpokenOT or Ferret)"
            ))
        );
        let mut unknown = other.encode();
        unknown[13] = 2;
        assert_eq!(
            Hello::decode(&unknown),
            Err(HandshakeError::Malformed("unknown OT backend"))
        );
        assert_eq!(Hello::decode(&other.encode()), Ok(other));
        let other = Hello {
            mode: Mode::Matching,
            ..peer
        };
        assert!(matches!(
            h.check_peer(&other, 100, None),
            Err(HandshakeError::Mode { .. })
        ));
    }

    #[test]
    fn agreement_is_symmetric_and_fresh() {
        let client = Hello {
            role: Party::Client,
            mode: Mode::Linkage,
            carries: Carries::BALANCED,
            ot_k: 4,
            record_arity: 8,
            ot_backend: OtBackend::Ferret,
            records: 1,
            lanes_per_chunk: 1 << 14,
            fingerprint: [9; 32],
            context: context_digest(b"job-1"),
            nonce: fresh_nonce(),
        };
        let server = Hello {
            role: Party::Server,
            records: 5,
            nonce: fresh_nonce(),
            ..client.clone()
        };
        let a = Agreement::derive(&client, &server);
        let b = Agreement::derive(&server, &client);
        assert_eq!(a, b);
        assert_ne!(a.job_tag, a.ot_tweak);
        // Same job id and sizes, new nonces: a new tag and tweak.
        let again = Agreement::derive(
            &Hello {
                nonce: fresh_nonce(),
                ..client.clone()
            },
            &server,
        );
        assert_ne!(again.job_tag, a.job_tag);
        assert_ne!(again.ot_tweak, a.ot_tweak);
        assert_eq!(format!("{a:?}"), "Agreement { .. }");
    }
}
