//! Precision and recall per label, lenient (a gold span counts as found when
//! a prediction with the same label overlaps it) and strict (same label,
//! same start, same end).
use super::corpus::{Document, GoldSpan};
use crate::deid::Finding;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Counts for one label (or for all labels together).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    /// Gold spans.
    pub gold: usize,
    /// Predicted spans.
    pub predicted: usize,
    /// Gold spans overlapped by a prediction of the same label.
    pub gold_found: usize,
    /// Predictions overlapping a gold span of the same label.
    pub predicted_correct: usize,
    /// Exact matches (label, start, end).
    pub exact: usize,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.gold += o.gold;
        self.predicted += o.predicted;
        self.gold_found += o.gold_found;
        self.predicted_correct += o.predicted_correct;
        self.exact += o.exact;
    }
    /// Lenient recall (1.0 when there is nothing to find).
    pub fn recall(&self) -> f64 {
        ratio(self.gold_found, self.gold)
    }
    /// Lenient precision (1.0 when nothing was predicted).
    pub fn precision(&self) -> f64 {
        ratio(self.predicted_correct, self.predicted)
    }
    pub fn strict_recall(&self) -> f64 {
        ratio(self.exact, self.gold)
    }
    pub fn strict_precision(&self) -> f64 {
        ratio(self.exact, self.predicted)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// The outcome of an evaluation.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub documents: usize,
    pub characters: usize,
    pub per_label: BTreeMap<String, Counts>,
    pub overall: Counts,
    /// Gold spans overlapped by any prediction, whatever its label: the
    /// share of PHI that a redaction would remove.
    pub any_label_found: usize,
}

/// JSON-friendly summary rates, one row per label plus "ALL".
#[derive(Clone, Debug, Serialize)]
pub struct Rates {
    pub label: String,
    pub gold: usize,
    pub predicted: usize,
    pub recall: f64,
    pub precision: f64,
    pub strict_recall: f64,
    pub strict_precision: f64,
}

impl Report {
    /// Score `predictions[i]` against `docs[i].gold`.
    pub fn score(docs: &[Document], predictions: &[Vec<Finding>]) -> Report {
        let mut r = Report {
            documents: docs.len(),
            ..Report::default()
        };
        for (doc, pred) in docs.iter().zip(predictions) {
            r.characters += doc.text.chars().count();
            for g in &doc.gold {
                let c = r.per_label.entry(g.label.clone()).or_default();
                c.gold += 1;
                if pred.iter().any(|p| p.label == g.label && overlaps(p, g)) {
                    c.gold_found += 1;
                }
                if pred
                    .iter()
                    .any(|p| p.label == g.label && p.start == g.start && p.end == g.end)
                {
                    c.exact += 1;
                }
                if pred.iter().any(|p| overlaps(p, g)) {
                    r.any_label_found += 1;
                }
            }
            for p in pred {
                let c = r.per_label.entry(p.label.clone()).or_default();
                c.predicted += 1;
                if doc
                    .gold
                    .iter()
                    .any(|g| g.label == p.label && overlaps(p, g))
                {
                    c.predicted_correct += 1;
                }
            }
        }
        let mut overall = Counts::default();
        for c in r.per_label.values() {
            overall.add(c);
        }
        r.overall = overall;
        r
    }

    /// Share of gold spans overlapped by any prediction.
    pub fn any_label_recall(&self) -> f64 {
        ratio(self.any_label_found, self.overall.gold)
    }

    pub fn rates(&self) -> Vec<Rates> {
        let row = |label: &str, c: &Counts| Rates {
            label: label.into(),
            gold: c.gold,
            predicted: c.predicted,
            recall: round(c.recall()),
            precision: round(c.precision()),
            strict_recall: round(c.strict_recall()),
            strict_precision: round(c.strict_precision()),
        };
        let mut v: Vec<Rates> = self.per_label.iter().map(|(l, c)| row(l, c)).collect();
        v.push(row("ALL", &self.overall));
        v
    }

    /// A fixed-width table.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{} documents, {} characters\n{:<16} {:>6} {:>6} {:>8} {:>9} {:>8} {:>9}\n",
            self.documents,
            self.characters,
            "label",
            "gold",
            "pred",
            "recall",
            "precision",
            "strict_r",
            "strict_p"
        );
        for r in self.rates() {
            let _ = writeln!(
                s,
                "{:<16} {:>6} {:>6} {:>8.4} {:>9.4} {:>8.4} {:>9.4}",
                r.label,
                r.gold,
                r.predicted,
                r.recall,
                r.precision,
                r.strict_recall,
                r.strict_precision
            );
        }
        let _ = writeln!(
            s,
            "PHI overlapped by a finding of any label: {:.4}",
            self.any_label_recall()
        );
        s
    }
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn overlaps(p: &Finding, g: &GoldSpan) -> bool {
    p.start < g.end && g.start < p.end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(start: usize, end: usize, label: &str) -> Finding {
        Finding {
            start,
            end,
            label: label.into(),
            confidence: 1.0,
            recognizer: "t".into(),
        }
    }

    #[test]
    fn lenient_and_strict() {
        let doc = Document {
            id: "d".into(),
            text: "x".repeat(40),
            gold: vec![
                GoldSpan {
                    start: 0,
                    end: 5,
                    label: "PERSON".into(),
                },
                GoldSpan {
                    start: 10,
                    end: 20,
                    label: "DATE".into(),
                },
                GoldSpan {
                    start: 30,
                    end: 35,
                    label: "SSN".into(),
                },
            ],
        };
        let pred = vec![
            f(0, 5, "PERSON"),
            f(12, 20, "DATE"),
            f(30, 35, "PHONE"),
            f(37, 39, "PERSON"),
        ];
        let r = Report::score(std::slice::from_ref(&doc), &[pred]);
        assert_eq!(r.overall.gold, 3);
        assert_eq!(r.overall.gold_found, 2);
        assert_eq!(r.overall.exact, 1);
        assert_eq!(r.overall.predicted, 4);
        assert_eq!(r.overall.predicted_correct, 2);
        assert_eq!(r.any_label_found, 3);
        assert_eq!(r.per_label["PERSON"].precision(), 0.5);
        assert_eq!(r.per_label["SSN"].recall(), 0.0);
    }
}
