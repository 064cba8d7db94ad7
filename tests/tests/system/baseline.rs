//! The federation without faults: what every other scenario departs from.

use e2e_tests::federation::{Federation, FederationOptions, Which};

use crate::scenario::Scenario;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario::new("baseline: linkMN and matchMN", baseline)]
}

async fn baseline() -> String {
    let fed = Federation::start(FederationOptions {
        label: "system-baseline",
        ..FederationOptions::default()
    })
    .await;
    fed.configure().await;
    let mut jobs = Vec::new();
    for mode in ["linkMN", "matchMN"] {
        let reply = fed.trigger(Which::A, mode).await;
        assert_eq!(reply["records"], fed.options.patients_a, "{mode}: {reply}");
        let job = fed.wait_for_batch(Which::A, mode).await;
        jobs.push(job);
    }
    let lids = &jobs[0]["lidsReceived"];
    assert_eq!(
        *lids, fed.options.patients_a,
        "every patient has a LID: {}",
        jobs[0]
    );
    let matches = &jobs[1]["result"]["matches"];
    assert!(
        matches.as_u64().is_some(),
        "matchMN has a result: {}",
        jobs[1]
    );
    format!(
        "{} patients linked, {} matches; both callbacks delivered",
        lids, matches
    )
}
