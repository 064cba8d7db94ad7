//! The first message of an EpiLink run: both parties state what they are
//! about to compute, and stop with a precise error if they disagree.
//!
//! Each party sends one 64-byte message (simultaneously; no party waits for
//! the other before sending):
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `EPILNK01` |
//! | 8 | role: 0 client, 1 server |
//! | 9 | mode: 0 linkage, 1 matching |
//! | 10 | carries of the similarity circuit: 0 ripple, 1 log-depth |
//! | 11 | OT extension k |
//! | 12 | carries of the comparison signs: 0 ripple, 1 log-depth |
//! | 13..16 | reserved, zero |
//! | 16..24 | records this party inputs (client: M, server: N), u64 LE |
//! | 24..32 | lanes per chunk, u64 LE |
//! | 32..64 | configuration fingerprint (BLAKE3) |
//!
//! The fingerprint hashes the quantised integers that decide every result
//! (SPEC: nodes compare the quantised integers, never the floats): per
//! field its comparator, type and bit length and its weight `W_f`; the
//! exchange groups as index lists; and `T_m`, `T_t`. Field names are not
//! part of it (each site may use its own), nor are frequencies and error
//! rates (only the weights derived from them matter).

use protocol_spec::config::{Comparator, FieldType, LinkageConfig};

use super::plan::Carries;
use crate::circuit::Party;
use crate::circuit::gadgets::AdderKind;

/// Length of the handshake message.
pub const HANDSHAKE_LEN: usize = 64;
const MAGIC: &[u8; 8] = b"EPILNK01";

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
    /// Records the sender inputs.
    pub records: u64,
    /// Pairs per chunk.
    pub lanes_per_chunk: u64,
    /// [`fingerprint`] of the configuration.
    pub fingerprint: [u8; 32],
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
        m[16..24].copy_from_slice(&self.records.to_le_bytes());
        m[24..32].copy_from_slice(&self.lanes_per_chunk.to_le_bytes());
        m[32..64].copy_from_slice(&self.fingerprint);
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
        if m[13..16] != [0; 3] {
            return Err(HandshakeError::Malformed("reserved bytes set"));
        }
        let u64_at = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&m[o..o + 8]);
            u64::from_le_bytes(b)
        };
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(&m[32..64]);
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
            records: u64_at(16),
            lanes_per_chunk: u64_at(24),
            fingerprint,
        })
    }

    /// Checks the peer's announcement against ours; `expected_peer` is the
    /// peer's record count if this party knows what to expect.
    pub fn check_peer(
        &self,
        peer: &Hello,
        expected_peer: Option<u64>,
    ) -> Result<(), HandshakeError> {
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
        if peer.lanes_per_chunk != self.lanes_per_chunk {
            return Err(HandshakeError::Options("the chunk size (lanes per chunk)"));
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
            records: 7,
            lanes_per_chunk: 1 << 14,
            fingerprint: [9; 32],
        };
        let enc = h.encode();
        assert_eq!(Hello::decode(&enc), Ok(h.clone()));
        assert!(matches!(
            Hello::decode(&enc[..63]),
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
            ..h.clone()
        };
        assert_eq!(h.check_peer(&peer, Some(100)), Ok(()));
        assert_eq!(
            h.check_peer(&peer, Some(99)),
            Err(HandshakeError::Count {
                expected: 99,
                got: 100
            })
        );
        assert_eq!(
            h.check_peer(&h, None),
            Err(HandshakeError::SameRole(Party::Client))
        );
        let other = Hello {
            fingerprint: [1; 32],
            ..peer.clone()
        };
        assert_eq!(h.check_peer(&other, None), Err(HandshakeError::Config));
        let other = Hello {
            mode: Mode::Matching,
            ..peer
        };
        assert!(matches!(
            h.check_peer(&other, None),
            Err(HandshakeError::Mode { .. })
        ));
    }
}
