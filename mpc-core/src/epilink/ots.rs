//! The two random-OT streams of an EpiLink run and the GMW material drawn
//! from them.
//!
//! Each party is OT sender in one stream and receiver in the other
//! ([`CotSender`]/[`CotReceiver`], SoftSpokenOT; or, with
//! [`OtBackend::Ferret`], [`FerretSender`]/[`FerretReceiver`] bootstrapped
//! from those same SoftSpokenOT instances: the same Δ-correlated OTs at
//! well under a bit each on the wire). The run takes OTs
//! straight from the extension, batch by batch, and packs them into what
//! is needed at once (bit-ROTs for Beaver triples and mixed ANDs, keys for
//! products): no intermediate pool of 16-byte blocks is kept, which the
//! GMW preprocessing of a chunk (tens of millions of OTs) would otherwise
//! copy and page in and out several times.
//!
//! Protocol discipline: both parties call every method at the same point
//! with mirrored sizes (my `n_send` is the peer's `n_recv`).

use super::error::ProtocolError;
use crate::channel::Channel;
use crate::circuit::netlist::Netlist;
use crate::gmw::{GmwError, Material, ReceivedBitRots, SentBitRots};
use crate::ot::{
    CotReceiver, CotSender, FerretConfig, FerretReceiver, FerretSender, RcotReceiverBatch,
    RcotSenderBatch,
};
use crate::{Lanes, Party};

const FERRET_DIRECTION_CONTEXT: &str = "mpc-core 2026 epilink ferret direction v1";

/// Which generator a run draws its random COTs from; both parties must
/// agree (handshake byte 13).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OtBackend {
    /// SoftSpokenOT extension (31 bits per OT with k = 4): fewest CPU
    /// cycles.
    #[default]
    SoftSpoken,
    /// Ferret silent OT bootstrapped from SoftSpokenOT (≈ 0.45 bits per OT
    /// after a bootstrap of ≈ 0.6 MB per direction): fewest bytes.
    Ferret,
}

impl OtBackend {
    /// The handshake code: 0 SoftSpokenOT, 1 Ferret.
    pub fn code(self) -> u8 {
        match self {
            OtBackend::SoftSpoken => 0,
            OtBackend::Ferret => 1,
        }
    }

    /// The backend of a handshake code, if known.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(OtBackend::SoftSpoken),
            1 => Some(OtBackend::Ferret),
            _ => None,
        }
    }

    /// The name used on command lines and in reports.
    pub fn name(self) -> &'static str {
        match self {
            OtBackend::SoftSpoken => "softspoken",
            OtBackend::Ferret => "ferret",
        }
    }
}

impl std::str::FromStr for OtBackend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "softspoken" => Ok(OtBackend::SoftSpoken),
            "ferret" => Ok(OtBackend::Ferret),
            other => Err(format!(
                "unknown OT backend {other:?} (softspoken or ferret)"
            )),
        }
    }
}

/// This party's sending stream.
enum Sending {
    SoftSpoken(CotSender),
    Ferret(Box<FerretSender>),
}

/// This party's receiving stream.
enum Receiving {
    SoftSpoken(CotReceiver),
    Ferret(Box<FerretReceiver>),
}

impl Sending {
    async fn extend<C: Channel>(
        &mut self,
        ch: &mut C,
        n: usize,
    ) -> Result<RcotSenderBatch, ProtocolError> {
        Ok(match self {
            Sending::SoftSpoken(s) => s.extend(ch, n).await?,
            Sending::Ferret(s) => s.extend(ch, n).await?,
        })
    }
}

impl Receiving {
    async fn extend<C: Channel>(
        &mut self,
        ch: &mut C,
        n: usize,
    ) -> Result<RcotReceiverBatch, ProtocolError> {
        Ok(match self {
            Receiving::SoftSpoken(r) => r.extend(ch, n).await?,
            Receiving::Ferret(r) => r.extend(ch, n).await?,
        })
    }
}

/// The Ferret instance tweak of the stream in which `sender` (a job role)
/// sends: both parties derive the same for each direction.
fn ferret_tweak(tweak: &[u8; 32], sender: Party) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(FERRET_DIRECTION_CONTEXT);
    h.update(tweak);
    h.update(&[match sender {
        Party::Client => 0,
        Party::Server => 1,
    }]);
    *h.finalize().as_bytes()
}

/// OTs extended and packed per step of the GMW preprocessing: bounds the
/// 16-byte blocks alive at once (2^20 OTs = 16 MiB per direction) while
/// keeping the number of extension round trips small.
pub const BIT_ROT_BATCH: usize = 1 << 20;

/// The two OT streams of one party.
pub struct OtStreams {
    me: Party,
    sender: Sending,
    receiver: Receiving,
}

impl OtStreams {
    /// Streams from extension instances already set up (see
    /// [`PeerOt`](super::peer_ot::PeerOt)); `me` is the job's role.
    pub fn from_instances(me: Party, sender: CotSender, receiver: CotReceiver) -> Self {
        OtStreams {
            me,
            sender: Sending::SoftSpoken(sender),
            receiver: Receiving::SoftSpoken(receiver),
        }
    }

    /// The streams drawing from `backend`: for Ferret, generators that
    /// bootstrap from the SoftSpokenOT instances (on first use, no message
    /// before), one per direction, under instance tweaks derived from the
    /// run's `tweak` and the sending job role. Nothing changes for
    /// SoftSpokenOT or streams already converted.
    pub fn with_backend(self, backend: OtBackend, tweak: &[u8; 32]) -> Self {
        let OtStreams {
            me,
            sender,
            receiver,
        } = self;
        match (backend, sender, receiver) {
            (OtBackend::Ferret, Sending::SoftSpoken(s), Receiving::SoftSpoken(r)) => {
                let cfg = FerretConfig::default();
                OtStreams {
                    me,
                    sender: Sending::Ferret(Box::new(FerretSender::new(
                        s,
                        cfg,
                        &ferret_tweak(tweak, me),
                    ))),
                    receiver: Receiving::Ferret(Box::new(FerretReceiver::new(
                        r,
                        cfg,
                        &ferret_tweak(tweak, me.other()),
                    ))),
                }
            }
            (_, sender, receiver) => OtStreams {
                me,
                sender,
                receiver,
            },
        }
    }

    /// This party's role.
    pub fn party(&self) -> Party {
        self.me
    }

    /// Extends `n_send` OTs where this party sends and `n_recv` where it
    /// receives (the peer passes the two numbers swapped).
    ///
    /// Both parties first run the side that only sends, so both
    /// directions' messages are in flight at once and neither party waits
    /// for the other before sending: for SoftSpokenOT the receiver (the
    /// correction words), for Ferret the sender (the tree sums), after the
    /// bootstrap (itself SoftSpokenOT, receivers first).
    pub async fn extend<C: Channel>(
        &mut self,
        ch: &mut C,
        n_send: usize,
        n_recv: usize,
    ) -> Result<(RcotSenderBatch, RcotReceiverBatch), ProtocolError> {
        if let (Sending::Ferret(s), Receiving::Ferret(r)) = (&mut self.sender, &mut self.receiver) {
            r.bootstrap(ch).await?;
            s.bootstrap(ch).await?;
            let sb = s.extend(ch, n_send).await?;
            let rb = r.extend(ch, n_recv).await?;
            return Ok((sb, rb));
        }
        let r = self.receiver.extend(ch, n_recv).await?;
        let s = self.sender.extend(ch, n_send).await?;
        Ok((s, r))
    }

    /// Random OTs of one direction only: this party sends `n` if
    /// `i_send`, else receives `n` (the peer passes the opposite flag).
    pub async fn extend_one<C: Channel>(
        &mut self,
        ch: &mut C,
        n: usize,
        i_send: bool,
    ) -> Result<OneWay, ProtocolError> {
        Ok(if i_send {
            OneWay::Sent(self.sender.extend(ch, n).await?)
        } else {
            OneWay::Received(self.receiver.extend(ch, n).await?)
        })
    }

    /// Random OTs of both directions for a batch of `n` products in which
    /// this party's receiving side chooses by `choices`: returns (my
    /// received batch with its choices fixed, my sent batch with the peer's
    /// choices fixed), in two flights for either backend.
    ///
    /// The order matters because each backend has a side that only sends:
    /// SoftSpokenOT's receiver (the corrections, which then travel in one
    /// flight with the masked choices), Ferret's sender (the tree sums).
    /// Both parties run that side first, so neither waits for the other
    /// before sending. Ferret's bootstrap (SoftSpokenOT, receivers first) is
    /// done first when it has not been yet.
    pub async fn product_pair<C: Channel>(
        &mut self,
        ch: &mut C,
        n: usize,
        choices: &[u64],
    ) -> Result<(RcotReceiverBatch, RcotSenderBatch), ProtocolError> {
        if let (Sending::Ferret(s), Receiving::Ferret(r)) = (&mut self.sender, &mut self.receiver) {
            r.bootstrap(ch).await?;
            s.bootstrap(ch).await?;
            let sent = s.extend(ch, n).await?;
            let recv = r.extend(ch, n).await?.fix_choices(ch, choices).await?;
            let sent = sent.fix_choices(ch).await?;
            return Ok((recv, sent));
        }
        let recv = self
            .receiver
            .extend(ch, n)
            .await?
            .fix_choices(ch, choices)
            .await?;
        let sent = self.sender.extend(ch, n).await?.fix_choices(ch).await?;
        Ok((recv, sent))
    }

    /// The GMW material of `net`: bit-ROTs in both directions, packed
    /// batch by batch, split into triples and mixed-AND OTs.
    pub async fn material<C: Channel>(
        &mut self,
        ch: &mut C,
        net: &Netlist,
    ) -> Result<Material, ProtocolError> {
        let req = net.requirements();
        let too_large = || ProtocolError::from(GmwError::TooLarge);
        let n_recv = usize::try_from(req.rots_received_by(self.me)).map_err(|_| too_large())?;
        let n_send =
            usize::try_from(req.rots_received_by(self.me.other())).map_err(|_| too_large())?;
        let mut received = ReceivedBitRots {
            choices: Lanes::zeros(0),
            messages: Lanes::zeros(0),
        };
        let mut sent = SentBitRots {
            m0: Lanes::zeros(0),
            m1: Lanes::zeros(0),
        };
        let (mut done_recv, mut done_send) = (0usize, 0usize);
        while done_recv < n_recv || done_send < n_send {
            let r = BIT_ROT_BATCH.min(n_recv - done_recv);
            let s = BIT_ROT_BATCH.min(n_send - done_send);
            let (sb, rb) = self.extend(ch, s, r).await?;
            if s > 0 {
                let (m0, m1) = sb.random_bits();
                sent.m0.extend(&Lanes::from_words(m0, s));
                sent.m1.extend(&Lanes::from_words(m1, s));
            }
            if r > 0 {
                let (c, m) = rb.random_bits();
                received.choices.extend(&Lanes::from_words(c, r));
                received.messages.extend(&Lanes::from_words(m, r));
            }
            done_recv += r;
            done_send += s;
        }
        Ok(Material::from_rots(self.me, &req, &received, &sent)?)
    }
}

/// One direction's batch from [`OtStreams::extend_one`].
pub enum OneWay {
    /// This party sent.
    Sent(RcotSenderBatch),
    /// This party received.
    Received(RcotReceiverBatch),
}
