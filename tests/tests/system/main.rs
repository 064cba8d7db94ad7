//! System tests: the whole federation as real processes on loopback
//! ([`e2e_tests::federation`]), put under faults and abuse. Each scenario
//! asserts that nothing accepted is lost, and says in one line what it saw.
//!
//! All scenarios run in one test, one after another (they kill and restart
//! processes, and this machine has two cores), each on a task of its own so
//! a failing scenario does not hide the others. At the end the table of
//! (scenario, outcome) is printed, and the test fails if any scenario did.

mod abuse;
mod baseline;
mod faults;
mod load;
mod scenario;

use scenario::{Outcome, Scenario};

/// Every scenario, in the order they run. Each module adds its own.
fn scenarios() -> Vec<Scenario> {
    let mut all = Vec::new();
    all.extend(baseline::scenarios());
    all.extend(abuse::scenarios());
    all.extend(load::scenarios());
    all.extend(faults::scenarios());
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_scenarios() {
    let filter = std::env::var("SYSTEM_SCENARIO").ok();
    let mut rows: Vec<(&'static str, Outcome)> = Vec::new();
    for scenario in scenarios() {
        if filter
            .as_deref()
            .is_some_and(|f| !scenario.name.contains(f))
        {
            continue;
        }
        let name = scenario.name;
        eprintln!("=== scenario: {name}");
        let outcome = scenario.run().await;
        eprintln!("=== {name}: {outcome}");
        rows.push((name, outcome));
    }
    let table = scenario::table(&rows);
    // Written to the process's stderr directly: the test harness captures
    // `println!`/`eprintln!` of passing tests, and a CI log must show the
    // table on success too.
    {
        use std::io::Write;
        let _ = std::io::stderr().write_all(table.as_bytes());
    }
    assert!(
        !rows.is_empty(),
        "no scenario ran (SYSTEM_SCENARIO={filter:?})"
    );
    let failed: Vec<&str> = rows
        .iter()
        .filter(|(_, o)| !o.passed())
        .map(|(n, _)| *n)
        .collect();
    assert!(failed.is_empty(), "failed scenarios: {failed:?}");
}
