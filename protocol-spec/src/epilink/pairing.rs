//! Which database field each query field is compared with.
//!
//! A field outside every exchange group is compared with the same field of
//! the other record. The fields of an exchange group `G = [g_0, …, g_{k-1}]`
//! (for example first name, last name, birth name) may have been entered in
//! the wrong place, so the database record's group fields may be permuted: a
//! permutation `p` of the positions `0..k` compares query field `g_m` with
//! database field `g_{p[m]}`. With several groups, one permutation per group
//! is chosen jointly (the Cartesian product).
//!
//! The pairings are enumerated in a fixed order, the lexicographic order of
//! the tuple of permutations (groups in configuration order, each permutation
//! written as its position list). The identity pairing comes first. The order
//! only decides which representative `(N, D)` is reported when several
//! pairings reach the same maximal score; see [`super::score`].

use crate::config::LinkageConfig;

/// One choice of a permutation for every exchange group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairing {
    /// Per exchange group (configuration order): position `m` of the query's
    /// group is compared with position `permutations[g][m]` of the database's.
    permutations: Vec<Vec<usize>>,
    /// `partners[i]`: the database field compared with query field `i`.
    partners: Vec<usize>,
}

impl Pairing {
    /// Every field compared with the same field of the other record.
    pub fn identity(config: &LinkageConfig) -> Pairing {
        let permutations = config
            .exchange_groups()
            .iter()
            .map(|group| (0..group.len()).collect())
            .collect();
        Pairing::from_permutations(config, permutations)
    }

    /// Builds the partner table from one permutation (of positions) per group.
    fn from_permutations(config: &LinkageConfig, permutations: Vec<Vec<usize>>) -> Pairing {
        let mut partners: Vec<usize> = (0..config.fields().len()).collect();
        for (group, permutation) in config.exchange_groups().iter().zip(&permutations) {
            for (m, &p) in permutation.iter().enumerate() {
                partners[group[m]] = group[p];
            }
        }
        Pairing {
            permutations,
            partners,
        }
    }

    /// The permutation of each exchange group, as position lists.
    pub fn permutations(&self) -> &[Vec<usize>] {
        &self.permutations
    }

    /// `partners()[i]` is the database field compared with query field `i`.
    pub fn partners(&self) -> &[usize] {
        &self.partners
    }
}

/// Every pairing of `config`, in lexicographic order of the permutation tuple,
/// identity first. There are `Π |G|!` of them (one when there is no exchange
/// group).
pub fn pairings(config: &LinkageConfig) -> Pairings<'_> {
    let first = Pairing::identity(config).permutations;
    Pairings {
        config,
        next: Some(first),
    }
}

/// Iterator returned by [`pairings`].
#[derive(Debug, Clone)]
pub struct Pairings<'a> {
    config: &'a LinkageConfig,
    /// The permutations of the pairing to yield next; `None` when exhausted.
    next: Option<Vec<Vec<usize>>>,
}

impl Iterator for Pairings<'_> {
    type Item = Pairing;

    fn next(&mut self) -> Option<Pairing> {
        let current = self.next.take()?;
        // Odometer: advance the last group; when it wraps around to the
        // identity, carry into the group before it. Because each group steps
        // through its permutations in lexicographic order, the tuple does too.
        let mut successor = current.clone();
        let mut advanced = false;
        for permutation in successor.iter_mut().rev() {
            if next_permutation(permutation) {
                advanced = true;
                break;
            }
        }
        if advanced {
            self.next = Some(successor);
        }
        Some(Pairing::from_permutations(self.config, current))
    }
}

/// Rearranges `p` into its lexicographic successor and returns true, or, if
/// `p` is the last permutation (descending), resets it to the first
/// (ascending) and returns false.
fn next_permutation(p: &mut [usize]) -> bool {
    // The longest descending suffix cannot be increased on its own.
    let Some(pivot) = (1..p.len()).rev().find(|&k| p[k - 1] < p[k]).map(|k| k - 1) else {
        p.reverse();
        return false;
    };
    // Swap the pivot with the smallest larger element of the suffix (the
    // rightmost one larger than it), then make the suffix ascending.
    let larger = (pivot + 1..p.len())
        .rev()
        .find(|&l| p[l] > p[pivot])
        .expect("a descending suffix after the pivot holds an element larger than it");
    p.swap(pivot, larger);
    p[pivot + 1..].reverse();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_permutation_walks_lexicographically_and_wraps() {
        let mut p = vec![0, 1, 2];
        let mut seen = vec![p.clone()];
        while next_permutation(&mut p) {
            seen.push(p.clone());
        }
        assert_eq!(
            seen,
            vec![
                vec![0, 1, 2],
                vec![0, 2, 1],
                vec![1, 0, 2],
                vec![1, 2, 0],
                vec![2, 0, 1],
                vec![2, 1, 0],
            ]
        );
        // After the last permutation it is reset to the first.
        assert_eq!(p, vec![0, 1, 2]);
        let mut empty: Vec<usize> = vec![];
        assert!(!next_permutation(&mut empty));
    }
}
