//! The detection quality gate: the engine on a generated, labelled corpus
//! must stay above the targets (recall ≥ 0.99 overall and ≥ 0.98 on
//! names, precision ≥ 0.90, strict recall ≥ 0.90). Two seeds, so a change
//! that only fits one corpus does not pass.
use sel_node::deid::Engine;
use sel_node::deid::eval::{self, Report};

const MIN_RECALL: f64 = 0.99;
const MIN_PERSON_RECALL: f64 = 0.98;
const MIN_PRECISION: f64 = 0.90;
const MIN_STRICT_RECALL: f64 = 0.90;

fn check(report: &Report) {
    let all = &report.overall;
    let person = &report.per_label["PERSON"];
    let table = report.to_text();
    assert!(
        all.gold > 500,
        "corpus too small to mean anything:\n{table}"
    );
    assert!(
        all.recall() >= MIN_RECALL,
        "overall recall {:.4} < {MIN_RECALL}\n{table}",
        all.recall()
    );
    assert!(
        person.recall() >= MIN_PERSON_RECALL,
        "PERSON recall {:.4} < {MIN_PERSON_RECALL}\n{table}",
        person.recall()
    );
    assert!(
        all.precision() >= MIN_PRECISION,
        "overall precision {:.4} < {MIN_PRECISION}\n{table}",
        all.precision()
    );
    assert!(
        all.strict_recall() >= MIN_STRICT_RECALL,
        "strict recall {:.4} < {MIN_STRICT_RECALL}\n{table}",
        all.strict_recall()
    );
    // Every label the corpus injects is found at least most of the time:
    // a recognizer that silently stops working fails here even if the
    // overall figures hide it.
    for (label, c) in &report.per_label {
        if c.gold > 0 {
            assert!(
                c.recall() >= 0.9,
                "{label} recall {:.4} < 0.9\n{table}",
                c.recall()
            );
        }
    }
}

#[test]
fn quality_above_targets_seed_11() {
    let docs = eval::generate(180, 11);
    check(&eval::evaluate(&Engine::new(), &docs));
}

#[test]
fn quality_above_targets_seed_2027() {
    let docs = eval::generate(180, 2027);
    check(&eval::evaluate(&Engine::new(), &docs));
}

#[test]
fn the_gate_can_fail() {
    // An engine that finds nothing must fail the same check.
    let docs = eval::generate(40, 3);
    let none: Vec<Vec<sel_node::deid::Finding>> = docs.iter().map(|_| Vec::new()).collect();
    let report = Report::score(&docs, &none);
    assert!(std::panic::catch_unwind(|| check(&report)).is_err());
}
