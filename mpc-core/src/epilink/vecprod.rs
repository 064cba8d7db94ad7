//! Intersection counts `|a ∧ b_r|` of the client's fixed query filter `a`
//! with every database filter `b_r`, as additive shares mod `2^w`, with one
//! OT per query bit for the whole run: the vector-product protocol of
//! [`crate::arith::vector`] (client = fixed-bits receiver, server = rows
//! sender, rows = database filters).
//!
//! This module only adds what is EpiLink-specific: one OT batch and one
//! choice message for all query fields of a block (from the run's
//! [`OtStreams`] rather than an OT pool), and the server's database field
//! transposed into bit columns once per chunk. The pad streams continue
//! across chunks and paired fields, so no pad is used twice. Cost:
//! `ceil(bitlength · records · w / 8)` bytes per (chunk, compared database
//! field), no OT per record.

use super::error::ProtocolError;
use super::ots::{OneWay, OtStreams};
use crate::arith::{BitColumns, FixedBitsReceiver, RowsSender};
use crate::channel::Channel;
use crate::{Lanes, Party};

/// One party's side of the vector product for one query field.
pub enum FieldPads {
    /// Client: the query filter (zeros for an empty field) and its keys.
    Client(FixedBitsReceiver),
    /// Server: both keys per query bit.
    Server(RowsSender),
}

/// Sets up the pad streams of several query fields at once (one OT per
/// bit; the client's choices go in one message). `fields` are the client's
/// filters (the server passes only their lengths via `lens`).
pub async fn setup<C: Channel>(
    ch: &mut C,
    ots: &mut OtStreams,
    fields: Option<&[Lanes]>,
    lens: &[usize],
) -> Result<Vec<FieldPads>, ProtocolError> {
    let total: usize = lens.iter().sum();
    let me = ots.party();
    // The client receives (its bits are the choices), the server sends.
    match ots.extend_one(ch, total, me == Party::Server).await? {
        OneWay::Received(batch) => {
            let fields =
                fields.ok_or_else(|| ProtocolError::Internal("client filters missing".into()))?;
            let mut all = Lanes::zeros(0);
            for (f, &len) in fields.iter().zip(lens) {
                if f.len() != len {
                    return Err(ProtocolError::Internal("filter length".into()));
                }
                all.extend(f);
            }
            let keys = batch.fix_choices(ch, all.words()).await?.random_ot();
            let mut keys = keys.into_iter();
            fields
                .iter()
                .map(|f| {
                    let mine = keys.by_ref().take(f.len()).collect();
                    Ok(FieldPads::Client(FixedBitsReceiver::from_keys(
                        f.clone(),
                        mine,
                    )?))
                })
                .collect()
        }
        OneWay::Sent(batch) => {
            let keys = batch.fix_choices(ch).await?.random_ot();
            let mut keys = keys.into_iter();
            Ok(lens
                .iter()
                .map(|&len| {
                    FieldPads::Server(RowsSender::from_keys(keys.by_ref().take(len).collect()))
                })
                .collect())
        }
    }
}

/// Server: the transposed database field, bit `i` of every record of the
/// chunk in `columns[i]`.
pub fn columns(values: &[Option<&[u8]>], bitlength: usize) -> Vec<Lanes> {
    let mut cols: Vec<Vec<u64>> = vec![vec![0u64; values.len().div_ceil(64)]; bitlength];
    for (r, v) in values.iter().enumerate() {
        if let Some(bytes) = v {
            for (byte_i, &byte) in bytes.iter().enumerate() {
                let mut rest = byte;
                while rest != 0 {
                    let bit = byte_i * 8 + rest.trailing_zeros() as usize;
                    if bit < bitlength {
                        cols[bit][r / 64] |= 1 << (r % 64);
                    }
                    rest &= rest - 1;
                }
            }
        }
    }
    cols.into_iter()
        .map(|w| Lanes::from_words(w, values.len()))
        .collect()
}

/// One field pairing of one chunk: this party's shares (mod `2^width`) of
/// the counts for `records` records. The server passes the database
/// field's `columns`; the client receives its corrections.
pub async fn counts<C: Channel>(
    ch: &mut C,
    pads: &mut FieldPads,
    records: usize,
    columns: Option<&[Lanes]>,
    width: u32,
) -> Result<Vec<u64>, ProtocolError> {
    match pads {
        FieldPads::Server(sender) => {
            let cols = columns
                .ok_or_else(|| ProtocolError::Internal("database columns missing".into()))?;
            if cols.len() != sender.len() {
                return Err(ProtocolError::Internal("column count".into()));
            }
            let rows = BitColumns::new(cols, records)?;
            Ok(sender.inner_products(ch, &rows, width).await?)
        }
        FieldPads::Client(receiver) => Ok(receiver.inner_products(ch, records, width).await?),
    }
}
