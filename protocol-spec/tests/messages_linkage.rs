//! The linkage-service post format (SPEC §9.3) against its fixtures.

use std::path::PathBuf;

use protocol_spec::messages::linkage::{LinkageResultRequest, Role, parse_job_tag};

fn fixture(dir: &str, name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures", dir, name]
        .iter()
        .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_two_posts_of_a_job_parse_check_and_agree() {
    let server: LinkageResultRequest =
        serde_json::from_str(&fixture("linkage", "server_post.json")).unwrap();
    let client: LinkageResultRequest =
        serde_json::from_str(&fixture("linkage", "client_post.json")).unwrap();
    assert_eq!((server.role, client.role), (Role::Server, Role::Client));
    assert_eq!(server.check().unwrap(), client.check().unwrap());
    assert_eq!(
        parse_job_tag(&server.job_tag).unwrap(),
        server.check().unwrap()
    );
    assert_eq!(
        (server.query_records, server.database_records),
        (client.query_records, client.database_records)
    );
    let combined: Vec<_> = server
        .result
        .iter()
        .zip(&client.result)
        .map(|(s, c)| {
            (
                s.match_share ^ c.match_share,
                s.tentative_share ^ c.tentative_share,
                s.best_index_share ^ c.best_index_share,
            )
        })
        .collect();
    assert_eq!(combined, vec![(true, true, 1), (false, false, 0)]);
    // Writing and reading again gives the same request.
    let again: LinkageResultRequest =
        serde_json::from_value(serde_json::to_value(&server).unwrap()).unwrap();
    assert_eq!(again, server);
}

#[test]
fn the_reference_example_lacks_the_mandatory_fields() {
    let err = serde_json::from_str::<LinkageResultRequest>(&fixture(
        "reference",
        "ls_linkage_result_request.json",
    ))
    .unwrap_err();
    assert!(err.to_string().contains("jobTag"), "{err}");
}
