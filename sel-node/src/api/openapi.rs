//! `GET /openapi.json`: the OpenAPI 3 document of every endpoint, written as
//! data. It is not generated from the route table on purpose: the test
//! `api_openapi` compares the two, so a route added without its
//! documentation (or documented but not served) fails the build.

use std::sync::OnceLock;

use serde_json::{Value, json};

/// The document (built once).
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build)
}

/// The responses every authenticated endpoint can give besides its own.
fn common(mut own: Value) -> Value {
    let extra = json!({
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "500": {"$ref": "#/components/responses/Internal"}
    });
    if let (Some(own), Some(extra)) = (own.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            own.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    own
}

fn init_local_op(summary: &str) -> Value {
    json!({
        "summary": summary,
        "description": "Configures the local site. Open until the first configuration, then the current local key is required. The new key applies to every later request.",
        "security": [{}, {"apiKey": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InitLocal"}}}},
        "responses": common(json!({
            "204": {"description": "First configuration."},
            "200": {"description": "Configuration replaced.", "content": {"text/plain": {"schema": {"type": "string", "enum": ["Updated connection"]}}}},
            "413": {"$ref": "#/components/responses/TooLarge"}
        }))
    })
}

fn init_remote_op(summary: &str) -> Value {
    json!({
        "summary": summary,
        "parameters": [{"$ref": "#/components/parameters/RemoteId"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InitRemote"}}}},
        "responses": common(json!({
            "204": {"description": "Remote created."},
            "200": {"description": "Remote replaced.", "content": {"text/plain": {"schema": {"type": "string", "enum": ["Updated connection"]}}}},
            "413": {"$ref": "#/components/responses/TooLarge"}
        }))
    })
}

fn job_op(summary: &str, schema: &str, matching: bool) -> Value {
    let mut responses = json!({
        "202": {
            "description": "Job created (QUEUED), or the job an earlier request with the same Idempotency-Key created.",
            "headers": {
                "Location": {"schema": {"type": "string"}, "description": "/jobs/{job_id}"},
                "Content-Location": {"schema": {"type": "string"}, "description": "/jobs/{job_id}"}
            }
        },
        "401": {"description": "Bad key, or the field names do not match the configuration (the message lists unknown and missing names).", "headers": {"WWW-Authenticate": {"schema": {"type": "string", "enum": ["apiKey"]}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "404": {"$ref": "#/components/responses/NotFound"},
        "413": {"$ref": "#/components/responses/TooLarge"},
        "503": {"$ref": "#/components/responses/QueueFull"}
    });
    if let Some(r) = responses.as_object_mut() {
        if matching {
            r.insert("403".into(), json!({"description": "Matching is not allowed with this remote.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}));
        } else {
            r.insert("409".into(), json!({"description": "The remote has no linkage service.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}));
        }
    }
    json!({
        "summary": summary,
        "parameters": [
            {"$ref": "#/components/parameters/RemoteId"},
            {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "minLength": 1, "maxLength": 255}, "description": "A repeat with the same key answers the first job's 202 instead of creating a second job."}
        ],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}},
        "responses": common(responses)
    })
}

fn build() -> Value {
    let mut components = components();
    if let Some(c) = components.as_object_mut() {
        let mut all = schemas();
        if let (Some(all), Value::Object(status)) = (all.as_object_mut(), status_schemas()) {
            all.extend(status);
        }
        c.insert("schemas".into(), all);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "sel-node REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The MainSEL-compatible API of a secure record-linkage node (SPEC.md §3). Every path is also accepted with one trailing slash. Errors are {\"error\": \"...\"}; checks run in the order of SPEC §3."
        },
        "security": [{"apiKey": []}],
        "paths": paths(),
        "components": components
    })
}

fn paths() -> Value {
    let text_ok = |word: &str| json!({"description": "OK", "content": {"text/plain": {"schema": {"type": "string", "enum": [word]}}}});
    json!({
        "/initLocal": {"put": init_local_op("Configure the local site")},
        "/init/local": {"put": init_local_op("Alias of PUT /initLocal")},
        "/initRemote/local": {"put": init_local_op("Alias of PUT /initLocal")},
        "/initRemote/{remote_id}": {"put": init_remote_op("Configure a remote")},
        "/init/{remote_id}": {"put": init_remote_op("Alias of PUT /initRemote/{remote_id}")},
        "/test/{remote_id}": {"get": {
            "summary": "Connect to the remote and compare configurations",
            "parameters": [{"$ref": "#/components/parameters/RemoteId"}],
            "responses": common(json!({
                "200": text_ok("Remotes Connected"),
                "404": {"$ref": "#/components/responses/NotFound"},
                "409": {"description": "The remote's configuration differs.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "502": {"$ref": "#/components/responses/BadGateway"}
            }))
        }},
        "/testLS/{remote_id}": {"get": {
            "summary": "Connect to the remote's linkage service",
            "parameters": [{"$ref": "#/components/parameters/RemoteId"}],
            "responses": common(json!({
                "200": text_ok("Linkage Service connected"),
                "404": {"$ref": "#/components/responses/NotFound"},
                "409": {"description": "No linkage service is configured for the remote.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "502": {"$ref": "#/components/responses/BadGateway"}
            }))
        }},
        "/linkRecord/{remote_id}": {"post": job_op("Link one record", "RecordRequest", false)},
        "/linkRecords/{remote_id}": {"post": job_op("Link many records", "RecordsRequest", false)},
        "/matchRecord/{remote_id}": {"post": job_op("Match one record (counts only)", "RecordRequest", true)},
        "/matchRecords/{remote_id}": {"post": job_op("Match many records (counts only)", "RecordsRequest", true)},
        "/jobs/list": {"get": {
            "summary": "Every job with its status, oldest first",
            "responses": common(json!({
                "200": {"description": "Job id to status.", "content": {"application/json": {"schema": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/JobStatus"}}}}}
            }))
        }},
        "/jobs/{job_id}": {
            "get": {
                "summary": "A job's status: the word as text, or the job as JSON",
                "parameters": [
                    {"$ref": "#/components/parameters/JobId"},
                    {"name": "format", "in": "query", "required": false, "schema": {"type": "string", "enum": ["json", "text"]}}
                ],
                "responses": common(json!({
                    "200": {"description": "The status word (text/plain), or with Accept: application/json or ?format=json the job.", "content": {
                        "text/plain": {"schema": {"$ref": "#/components/schemas/JobStatus"}},
                        "application/json": {"schema": {"$ref": "#/components/schemas/Job"}}
                    }},
                    "404": {"description": "No such job (empty body)."}
                }))
            },
            "delete": {
                "summary": "Cancel a job that is not final (it becomes FAULT \"cancelled\")",
                "parameters": [{"$ref": "#/components/parameters/JobId"}],
                "responses": common(json!({
                    "202": {"description": "Cancelled.", "headers": {"Location": {"schema": {"type": "string"}}, "Content-Location": {"schema": {"type": "string"}}}},
                    "404": {"description": "No such job (empty body)."},
                    "409": {"description": "The job is already final.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }))
            }
        },
        "/health": {"get": {
            "summary": "Liveness",
            "security": [],
            "responses": {"200": text_ok("OK")}
        }},
        "/metrics": {"get": {
            "summary": "Prometheus metrics (requires the local key)",
            "responses": common(json!({
                "200": {"description": "Prometheus text format 0.0.4.", "content": {"text/plain": {"schema": {"type": "string"}}}}
            }))
        }},
        "/openapi.json": {"get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3 document.", "content": {"application/json": {"schema": {"type": "object"}}}}}
        }},
        "/status": {"get": {
            "summary": "The operator's status page (HTML; holds no data)",
            "description": "A static page that reads GET /status/data with the local key, taken from the URL fragment (#key=...) or a password field, and refreshes itself. Served without a key because it contains no data and no secret.",
            "security": [],
            "responses": {"200": {"description": "The page, with a Content-Security-Policy allowing only its own inline script and style.", "content": {"text/html": {"schema": {"type": "string"}}}}}
        }},
        "/status/data": {"get": {
            "summary": "The status the page shows: local configuration summary, remotes with connection state and last tests, recent jobs",
            "description": "No key, no authentication secret, no patient data; URLs without user info, query or fragment.",
            "responses": common(json!({
                "200": {"description": "The status.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}
            }))
        }}
    })
}

fn components() -> Value {
    json!({
                "securitySchemes": {
                    "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "apiKey apiKey=\"<key>\" with the local sharedKey; compared in constant time."}
                },
                "parameters": {
                    "RemoteId": {"name": "remote_id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[a-zA-Z0-9_]+$", "maxLength": 64}, "description": "A remote's site id; never \"local\"."},
                    "JobId": {"name": "job_id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}
                },
                "responses": {
                    "BadRequest": {"description": "Not initialised, bad path id, malformed body or a bad value (the message names the path, record index and field).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "Unauthorized": {"description": "Missing, malformed or wrong key.", "headers": {"WWW-Authenticate": {"schema": {"type": "string", "enum": ["apiKey"]}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "NotFound": {"description": "Unknown remote.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "TooLarge": {"description": "The body exceeds the node's limit.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "BadGateway": {"description": "The other side cannot be reached, fails TLS verification or rejects this node.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "QueueFull": {"description": "The job queue is full.", "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "Internal": {"description": "Unexpected internal failure.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }
    })
}

fn schemas() -> Value {
    json!({
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "JobStatus": {"type": "string", "enum": ["QUEUED", "RUNNING", "HOLD", "FAULT", "DONE"]},
        "Authentication": {"type": "object", "required": ["authType", "sharedKey"], "properties": {"authType": {"type": "string", "enum": ["apiKey"]}, "sharedKey": {"type": "string"}}},
        "Connection": {"type": "object", "required": ["url", "authentication"], "properties": {"url": {"type": "string"}, "authentication": {"$ref": "#/components/schemas/Authentication"}}},
        "FieldSpec": {"type": "object", "additionalProperties": false, "required": ["name", "frequency", "errorRate", "comparator", "fieldType", "bitlength"], "properties": {
            "name": {"type": "string"}, "frequency": {"type": "number"}, "errorRate": {"type": "number"},
            "comparator": {"type": "string", "enum": ["dice", "binary"]},
            "fieldType": {"type": "string", "enum": ["bitmask", "string", "integer", "number"]},
            "bitlength": {"type": "integer", "minimum": 1}
        }},
        "InitLocal": {"type": "object", "required": ["localId", "localAuthentication", "dataService", "algorithm"], "properties": {
            "localId": {"type": "string", "pattern": "^[a-zA-Z0-9_]+$", "maxLength": 64},
            "localAuthentication": {"$ref": "#/components/schemas/Authentication"},
            "dataService": {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}, "pageSize": {"type": "integer"}}},
            "algorithm": {"type": "object", "additionalProperties": false, "required": ["algoType", "threshold_match", "threshold_non_match", "fields"], "properties": {
                "algoType": {"type": "string", "enum": ["epilink"]},
                "threshold_match": {"type": "number"},
                "threshold_non_match": {"type": "number"},
                "exchangeGroups": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
                "fields": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/FieldSpec"}},
                "bloomLength": {"type": "integer", "description": "Accepted and ignored."},
                "dice_fraction_bits": {"type": "integer", "minimum": 8, "maximum": 16, "description": "Fractional bits of every similarity; default 8."}
            }}
        }},
        "InitRemote": {"type": "object", "required": ["connectionProfile"], "properties": {
            "connectionProfile": {"$ref": "#/components/schemas/Connection"},
            "linkageService": {"$ref": "#/components/schemas/Connection"},
            "matchingAllowed": {"type": "boolean", "default": false},
            "mpcProfile": {"type": "string", "enum": ["lan", "wan"], "default": "wan", "description": "The EpiLink 2PC profile of jobs with this remote: lan = fewest CPU cycles, wan = fewest bytes and rounds (SPEC §8 6.4). Both nodes must set the same."}
        }},
        "Callback": {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}},
        "Fields": {"type": "object", "description": "Every configured field name to its value (null for empty); see SPEC §3 Field values.", "additionalProperties": {"nullable": true, "oneOf": [{"type": "string"}, {"type": "number"}]}},
        "RecordRequest": {"type": "object", "required": ["callback", "fields"], "properties": {
            "callback": {"$ref": "#/components/schemas/Callback"},
            "fields": {"$ref": "#/components/schemas/Fields"}
        }},
        "RecordsRequest": {"type": "object", "required": ["callback", "records"], "properties": {
            "callback": {"$ref": "#/components/schemas/Callback"},
            "total": {"type": "integer"},
            "toDate": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            "records": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["fields"], "properties": {"fields": {"$ref": "#/components/schemas/Fields"}}}}
        }},
        "Job": {"type": "object", "required": ["id", "remote_id", "mode", "side", "status", "progress_percent", "created", "callback_delivery", "query_records", "history"], "properties": {
            "id": {"type": "string"},
            "remote_id": {"type": "string"},
            "mode": {"type": "string", "enum": ["linkage", "matching"]},
            "side": {"type": "string", "enum": ["client", "server"]},
            "status": {"$ref": "#/components/schemas/JobStatus"},
            "progress_percent": {"type": "integer", "minimum": 0, "maximum": 100},
            "created": {"type": "integer", "description": "Milliseconds since the Unix epoch."},
            "started": {"type": "integer", "nullable": true},
            "finished": {"type": "integer", "nullable": true},
            "error": {"type": "string", "nullable": true},
            "callback_delivery": {"type": "object", "required": ["state", "attempts"], "properties": {
                "state": {"type": "string", "enum": ["none", "pending", "delivered", "failed"]},
                "attempts": {"type": "integer"},
                "last_status": {"type": "integer"},
                "last_error": {"type": "string"},
                "delivered_at": {"type": "integer"}
            }},
            "query_records": {"type": "integer"},
            "database_records": {"type": "integer", "nullable": true},
            "history": {"type": "array", "items": {"type": "object", "required": ["status", "at"], "properties": {
                "status": {"$ref": "#/components/schemas/JobStatus"}, "at": {"type": "integer"}, "reason": {"type": "string"}
            }}}
        }}
    })
}

/// The schemas of `/status/data` (a function of their own: one `json!` of
/// every schema exceeds the macro's recursion limit).
fn status_schemas() -> Value {
    json!({
        "TestOutcome": {"type": "object", "nullable": true, "required": ["ok", "at", "detail"], "properties": {
            "ok": {"type": "boolean"}, "at": {"type": "integer", "description": "ms since the Unix epoch"}, "detail": {"type": "string"}
        }},
        "Status": {"type": "object", "required": ["generated_at", "local", "remotes", "jobs", "jobs_total"], "properties": {
            "generated_at": {"type": "integer"},
            "local": {"type": "object", "properties": {
                "local_id": {"type": "string"},
                "data_service": {"type": "string"},
                "algorithm": {"type": "string"},
                "threshold_match": {"type": "number"},
                "threshold_non_match": {"type": "number"},
                "exchange_groups": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
                "fields": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "field_type": {"type": "string"}, "comparator": {"type": "string"},
                    "frequency": {"type": "number"}, "error_rate": {"type": "number"}, "weight": {"type": "number"}, "bitlength": {"type": "integer"}
                }}}
            }},
            "remotes": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"},
                "url": {"type": "string"},
                "linkage_service": {"type": "string", "nullable": true},
                "matching_allowed": {"type": "boolean"},
                "connection": {"type": "object", "properties": {
                    "state": {"type": "string", "enum": ["connected", "connecting", "not_connected", "down"]},
                    "since": {"type": "integer", "nullable": true},
                    "error": {"type": "string", "nullable": true},
                    "error_kind": {"type": "string", "nullable": true, "enum": ["unreachable", "tls", "unauthorized", "config_mismatch", "refused", "protocol", "local", "dropped"]},
                    "retry_at": {"type": "integer", "nullable": true}
                }},
                "last_test": {"$ref": "#/components/schemas/TestOutcome"},
                "last_test_ls": {"$ref": "#/components/schemas/TestOutcome"}
            }}},
            "jobs": {"type": "array", "description": "The newest 50 jobs, newest first.", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "remote_id": {"type": "string"},
                "mode": {"type": "string"}, "side": {"type": "string"},
                "status": {"$ref": "#/components/schemas/JobStatus"},
                "progress_percent": {"type": "integer", "minimum": 0, "maximum": 100},
                "created": {"type": "integer"}, "started": {"type": "integer", "nullable": true}, "finished": {"type": "integer", "nullable": true},
                "duration_ms": {"type": "integer"},
                "error": {"type": "string", "nullable": true}
            }}},
            "jobs_total": {"type": "integer"}
        }}
    })
}
