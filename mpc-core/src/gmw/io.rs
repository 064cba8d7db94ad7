//! What a party feeds into and reads out of a netlist evaluation.

use super::GmwError;
use crate::circuit::Word;
use crate::circuit::netlist::{InputSource, NetWire, Netlist, Reveal};
use crate::circuit::word::{lanes_to_values, values_to_lanes};
use crate::{Lanes, Party};

/// One party's input values, by netlist input.
///
/// A party sets the inputs it owns ([`InputSource::Private`] of its role)
/// and its shares of shared inputs; the evaluator checks that exactly those
/// are present with the declared lane counts.
#[derive(Clone)]
pub struct Inputs {
    by_wire: std::collections::HashMap<u32, Lanes>,
}

impl Inputs {
    /// No inputs set yet.
    pub fn new() -> Self {
        Inputs {
            by_wire: std::collections::HashMap::new(),
        }
    }

    /// Sets the value (or share) of one input wire.
    pub fn set(&mut self, wire: &NetWire, value: Lanes) -> &mut Self {
        self.by_wire.insert(wire.id(), value);
        self
    }

    /// Sets a word input: `values[i]` on lane `i`.
    pub fn set_word(
        &mut self,
        word: &Word<NetWire>,
        values: &[u128],
    ) -> Result<&mut Self, GmwError> {
        let bits = values_to_lanes(values, word.width())?;
        for (w, l) in word.bits().iter().zip(bits) {
            self.by_wire.insert(w.id(), l);
        }
        Ok(self)
    }

    /// Sets a word input from per-bit lanes (e.g. shares from an earlier
    /// circuit).
    pub fn set_word_lanes(
        &mut self,
        word: &Word<NetWire>,
        bits: Vec<Lanes>,
    ) -> Result<&mut Self, GmwError> {
        if bits.len() != word.width() {
            return Err(GmwError::InputWidth {
                expected: word.width(),
                got: bits.len(),
            });
        }
        for (w, l) in word.bits().iter().zip(bits) {
            self.by_wire.insert(w.id(), l);
        }
        Ok(self)
    }

    /// Takes the value for input wire `wire`.
    pub(crate) fn take(&mut self, wire: u32) -> Option<Lanes> {
        self.by_wire.remove(&wire)
    }

    /// Checks that `me` supplied exactly the inputs it must.
    pub(crate) fn validate(&self, net: &Netlist, me: Party) -> Result<(), GmwError> {
        let mut expected = 0usize;
        for (idx, spec) in net.inputs().iter().enumerate() {
            let mine = match spec.source {
                InputSource::Private(p) => p == me,
                InputSource::Shared => true,
            };
            match (mine, self.by_wire.get(&spec.wire)) {
                (true, Some(l)) if l.len() == spec.lanes as usize => expected += 1,
                (true, Some(l)) => {
                    return Err(GmwError::InputLanes {
                        input: idx,
                        expected: spec.lanes as usize,
                        got: l.len(),
                    });
                }
                (true, None) => return Err(GmwError::MissingInput { input: idx }),
                (false, Some(_)) => return Err(GmwError::ForeignInput { input: idx }),
                (false, None) => {}
            }
        }
        if expected != self.by_wire.len() {
            return Err(GmwError::UnknownInputWire);
        }
        Ok(())
    }
}

impl Default for Inputs {
    fn default() -> Self {
        Self::new()
    }
}

/// What one party learned, by netlist output index.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    pub(crate) values: Vec<Option<Lanes>>,
    pub(crate) reveal: Vec<Reveal>,
}

impl Outputs {
    /// Output `idx`: the clear value ([`Reveal::Both`], [`Reveal::To`] this
    /// party) or this party's share ([`Reveal::Shares`]); `None` if it was
    /// revealed to the other party only.
    pub fn get(&self, idx: usize) -> Option<&Lanes> {
        self.values.get(idx).and_then(Option::as_ref)
    }

    /// Number of outputs.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True if the netlist had no outputs.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Per-lane integers of the `width` consecutive outputs from `first`
    /// (as marked by `NetlistBuilder::output_word`).
    pub fn word(&self, first: usize, width: usize) -> Result<Vec<u128>, GmwError> {
        let bits = self.word_lanes(first, width)?;
        Ok(lanes_to_values(&bits)?)
    }

    /// The lanes of `width` consecutive outputs from `first`.
    pub fn word_lanes(&self, first: usize, width: usize) -> Result<Vec<Lanes>, GmwError> {
        (first..first + width)
            .map(|i| {
                self.get(i)
                    .cloned()
                    .ok_or(GmwError::NotRevealed { output: i })
            })
            .collect()
    }

    /// How output `idx` was revealed.
    pub fn reveal(&self, idx: usize) -> Option<Reveal> {
        self.reveal.get(idx).copied()
    }
}

crate::redacted_debug!(Inputs, Outputs);
