//! Arithmetic → Boolean conversion: the two additive shares enter a GMW
//! adder as private inputs of their owners, and the sum leaves as XOR
//! shares.
//!
//! Because each share is known in the clear to its owner, the adder's first
//! carry is a mixed-owner AND (one OT) and its sum bits of position 0 are
//! free; the rest of a `width`-bit ripple adder costs `width − 2` triples.

use super::ring::Ring;
use super::{ArithError, check_width};
use crate::channel::Channel;
use crate::circuit::gadgets::{AdderKind, add};
use crate::circuit::netlist::{NetlistBuilder, Reveal};
use crate::circuit::word::values_to_lanes;
use crate::circuit::{Builder, CResult, Word};
use crate::gmw::{GmwSession, Inputs};
use crate::{Lanes, Party};

/// The conversion circuit: `client_share + server_share mod 2^width` for
/// words of `width` bits (generic, so it can be costed and composed into a
/// larger circuit).
pub fn a2b_circuit<B: Builder>(
    b: &mut B,
    kind: AdderKind,
    client_share: &Word<B::Wire>,
    server_share: &Word<B::Wire>,
) -> CResult<Word<B::Wire>> {
    add(b, kind, client_share, server_share)
}

/// Converts additive shares mod `2^width` (one per lane) into XOR shares of
/// the value's `width` bits (bit `i` of every lane in element `i`).
pub async fn a2b<R: Ring, C: Channel>(
    session: &mut GmwSession,
    ch: &mut C,
    shares: &[R],
    width: u32,
    kind: AdderKind,
) -> Result<Vec<Lanes>, ArithError> {
    check_width::<R>(width)?;
    let me = session.party();
    let lanes = shares.len();
    let w = width as usize;
    let mut nb = NetlistBuilder::new();
    let client = nb
        .input_word(Party::Client, w, lanes)
        .map_err(crate::gmw::GmwError::from)?;
    let server = nb
        .input_word(Party::Server, w, lanes)
        .map_err(crate::gmw::GmwError::from)?;
    let sum = a2b_circuit(&mut nb, kind, &client, &server).map_err(crate::gmw::GmwError::from)?;
    let first = nb
        .output_word(&sum, Reveal::Shares)
        .map_err(crate::gmw::GmwError::from)?;
    let net = nb.finish();
    let values: Vec<u128> = shares.iter().map(|s| s.reduce(width).to_u128()).collect();
    let bits = values_to_lanes(&values, w).map_err(crate::gmw::GmwError::from)?;
    let mut inputs = Inputs::new();
    let mine = if me == Party::Client {
        &client
    } else {
        &server
    };
    inputs.set_word_lanes(mine, bits)?;
    let out = session.evaluate(ch, &net, inputs).await?;
    Ok(out.word_lanes(first, w)?)
}
