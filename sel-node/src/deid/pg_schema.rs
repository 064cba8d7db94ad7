//! The de-id module's tables on PostgreSQL (`store = "postgres://…"`),
//! migrated as component `deid` (see [`crate::pg::Migration`]).
//!
//! What the rows hold is what the redb files hold, no more: scopes and value
//! indexes are keyed hashes, stored values and service rows are sealed with
//! the same keys and contexts as the embedded stores, job records are
//! metadata only. So the database, like the files, never sees a key, a field
//! value or a token's value in clear.

use crate::pg::{Migration, Pg, PgError, PgOptions};

/// The migration component of the de-id stores.
pub const COMPONENT: &str = "deid";

/// The de-id schema, oldest first. Never edit a released step: add one.
pub static MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "tokens, jobs, keys and categories",
    sql: "
CREATE TABLE deid_token_meta (
    name  text  PRIMARY KEY,
    value bytea NOT NULL
);
-- (scope, token) -> value index and sealed value.
CREATE TABLE deid_tokens (
    scope        text  NOT NULL,
    token        text  NOT NULL,
    value_index  bytea NOT NULL,
    stored_value bytea NOT NULL,
    PRIMARY KEY (scope, token)
);
-- (scope, value index) -> the first token stored for it.
CREATE TABLE deid_token_values (
    scope       text  NOT NULL,
    value_index bytea NOT NULL,
    token       text  NOT NULL,
    PRIMARY KEY (scope, value_index)
);
-- Async de-id jobs: the metadata record as JSON, and its lease.
CREATE TABLE deid_jobs (
    id          text        PRIMARY KEY,
    status      text        NOT NULL,
    record      text        NOT NULL,
    finished_ms bigint,
    owner       text,
    lease_until timestamptz
);
CREATE INDEX deid_jobs_unfinished ON deid_jobs (lease_until)
    WHERE status IN ('queued', 'running');
CREATE INDEX deid_jobs_finished ON deid_jobs (finished_ms)
    WHERE finished_ms IS NOT NULL;
-- API key records and categories, sealed; kind is the redb table name.
CREATE TABLE deid_service_rows (
    kind   text  NOT NULL,
    name   text  NOT NULL,
    sealed bytea NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE deid_service_meta (
    name  text  PRIMARY KEY,
    value bytea NOT NULL
);
-- Bumped by every change of deid_service_rows, so other processes can
-- tell cheaply that they must reload keys and categories.
CREATE TABLE deid_service_generation (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    generation bigint  NOT NULL
);
INSERT INTO deid_service_generation (id, generation) VALUES (true, 0);
",
}];

/// Connects to `url` (TLS verified for any non-loopback host, `ca_bundle`
/// trusted besides the system roots) and brings the de-id tables to this
/// binary's version.
pub fn connect(url: &str, ca_bundle: Option<&std::path::Path>) -> Result<Pg, PgError> {
    let pg = Pg::connect(
        url,
        PgOptions {
            ca_bundle: ca_bundle.map(std::path::Path::to_path_buf),
            ..PgOptions::default()
        },
    )?;
    migrate(&pg)?;
    Ok(pg)
}

/// Brings the de-id tables of `pg` to this binary's version.
pub fn migrate(pg: &Pg) -> Result<(), PgError> {
    pg.migrate(COMPONENT, MIGRATIONS)
}

/// Helpers the three stores share.
pub(crate) fn row_err(e: tokio_postgres::Error) -> PgError {
    PgError::Row(e.to_string())
}
