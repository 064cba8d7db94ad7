//! The OpenAPI document and the router never drift: every route of the
//! table is documented, every documented operation is routed, and the live
//! server answers every documented operation (and every one with a
//! trailing slash) with something other than 404 or 405.

mod api_common;

use std::collections::BTreeSet;

use api_common::*;
use reqwest::Method;
use sel_node::api::openapi::document;
use sel_node::api::{Endpoint, ROUTES, match_route};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

fn documented() -> BTreeSet<(String, String)> {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    let mut ops = BTreeSet::new();
    for (path, item) in paths {
        for (method, _) in item.as_object().expect("path item") {
            assert!(METHODS.contains(&method.as_str()), "{method} {path}");
            ops.insert((method.to_uppercase(), path.clone()));
        }
    }
    ops
}

#[test]
fn the_route_table_and_the_document_name_the_same_operations() {
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(routed.len(), ROUTES.len(), "no route twice");
    let documented = documented();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.rs: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
}

#[test]
fn every_documented_operation_is_valid_openapi_shape() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.0.3");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {path}");
            // Every path parameter in the template is declared.
            for param in ["remote_id", "job_id"] {
                if path.contains(&format!("{{{param}}}")) {
                    let declared = op["parameters"].as_array().is_some_and(|ps| {
                        ps.iter().any(|p| {
                            p["name"] == param
                                || p["$ref"].as_str().is_some_and(|r| {
                                    let name = r.rsplit('/').next().unwrap();
                                    doc["components"]["parameters"][name]["name"] == param
                                })
                        })
                    });
                    assert!(declared, "{method} {path} declares {param}");
                }
            }
        }
    }
    // Every $ref resolves.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref" {
                        out.push(x.as_str().unwrap().to_owned());
                    } else {
                        refs(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(doc, &mut all);
    for r in all {
        let pointer = r.strip_prefix('#').expect("local ref");
        assert!(doc.pointer(pointer).is_some(), "{r} resolves");
    }
}

#[test]
fn literal_routes_win_over_parameters() {
    let m = match_route(&http::Method::PUT, "/initRemote/local/").unwrap();
    assert_eq!(m.endpoint, Endpoint::InitLocal);
    let m = match_route(&http::Method::GET, "/jobs/list").unwrap();
    assert_eq!(m.endpoint, Endpoint::JobsList);
    let m = match_route(&http::Method::DELETE, "/jobs/x_1-").unwrap();
    assert_eq!((m.endpoint, m.param), (Endpoint::JobCancel, Some("x_1-")));
    let m = match_route(&http::Method::PUT, "/init/DKFZ").unwrap();
    assert_eq!((m.endpoint, m.param), (Endpoint::InitRemote, Some("DKFZ")));
}

/// Probes the live router: on an uninitialised node every documented
/// operation reaches its endpoint (400 "not initialised", or its answer),
/// never 404 or 405; an undocumented path is 404.
#[tokio::test]
async fn the_live_router_serves_every_documented_operation() {
    let node = Node::plain().await;
    for (method, path) in documented() {
        let concrete = path
            .replace("{remote_id}", "DKFZ")
            .replace("{job_id}", "job_1");
        for p in [concrete.clone(), format!("{concrete}/")] {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let r = node.anon(m, &p).send().await.unwrap();
            let status = r.status().as_u16();
            assert!(
                status != 404 && status != 405,
                "{method} {p} is documented but answers {status}"
            );
        }
    }
    let r = node
        .anon(Method::GET, "/undocumented")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    node.shutdown().await;
}
