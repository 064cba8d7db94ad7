//! Versioned schema migrations, applied by the node on start.
//!
//! Each component (the node's store, the de-id stores) owns an ordered list
//! of [`Migration`]s, numbered from 1 without gaps. The table
//! `sel_schema_migrations` records which were applied and a BLAKE3 digest of
//! their SQL. On start, under a transaction-scoped advisory lock (so that
//! several processes starting at once apply each migration exactly once),
//! the node:
//! * refuses a database that has a migration this binary does not know
//!   (the schema is newer than the binary: upgrade the node first);
//! * refuses a database where an applied migration's SQL differs from this
//!   binary's (a migration was edited after release: a bug);
//! * applies the missing ones in order, all in one transaction, so a failed
//!   migration leaves the schema as it was.

use super::{PgClient, PgError};

/// One step of a component's schema.
#[derive(Debug)]
pub struct Migration {
    /// 1, 2, 3, … in order, without gaps.
    pub version: i32,
    /// A short name, for the table and for messages.
    pub name: &'static str,
    /// The SQL, run as one batch inside the migration transaction.
    pub sql: &'static str,
}

/// Key of the advisory lock every migrating process takes.
const LOCK_KEY: i64 = 0x5345_4c5f_4d49_4752; // "SEL_MIGR"

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS sel_schema_migrations (
    component  text        NOT NULL,
    version    integer     NOT NULL,
    name       text        NOT NULL,
    digest     bytea       NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)";

fn digest(sql: &str) -> Vec<u8> {
    blake3::hash(sql.as_bytes()).as_bytes().to_vec()
}

/// Checks the list itself: versions 1..=n in order.
pub(super) fn check_list(component: &str, migrations: &[Migration]) -> Result<(), PgError> {
    for (i, m) in migrations.iter().enumerate() {
        if m.version != i as i32 + 1 {
            return Err(PgError::Migration(format!(
                "{component}: migration {:?} has version {}, expected {}",
                m.name,
                m.version,
                i + 1
            )));
        }
    }
    Ok(())
}

pub(super) async fn apply(
    mut client: PgClient,
    component: &'static str,
    migrations: &'static [Migration],
) -> Result<(), PgError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?;
    tx.batch_execute(CREATE_TABLE).await?;
    let applied = tx
        .query(
            "SELECT version, name, digest FROM sel_schema_migrations
             WHERE component = $1 ORDER BY version",
            &[&component],
        )
        .await?;
    for row in &applied {
        let version: i32 = row.try_get(0).map_err(|e| PgError::Row(e.to_string()))?;
        let name: String = row.try_get(1).map_err(|e| PgError::Row(e.to_string()))?;
        let stored: Vec<u8> = row.try_get(2).map_err(|e| PgError::Row(e.to_string()))?;
        let Some(known) = usize::try_from(version - 1)
            .ok()
            .and_then(|i| migrations.get(i))
        else {
            return Err(PgError::Migration(format!(
                "{component}: the database has migration {version} ({name}), which this \
                 binary does not know: the schema is newer than this node; upgrade the node"
            )));
        };
        if digest(known.sql) != stored {
            return Err(PgError::Migration(format!(
                "{component}: migration {version} ({name}) in the database differs from \
                 this binary's"
            )));
        }
    }
    for m in &migrations[applied.len()..] {
        tx.batch_execute(m.sql)
            .await
            .map_err(|e| match PgError::from(e) {
                PgError::Server { code, message } => PgError::Migration(format!(
                    "{component}: migration {} ({}) failed: {code}: {message}",
                    m.version, m.name
                )),
                other => other,
            })?;
        tx.execute(
            "INSERT INTO sel_schema_migrations (component, version, name, digest)
             VALUES ($1, $2, $3, $4)",
            &[&component, &m.version, &m.name, &digest(m.sql)],
        )
        .await?;
        tracing::info!(
            component,
            version = m.version,
            name = m.name,
            "schema migrated"
        );
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Pg, PgOptions, testing};
    use super::*;

    static V1: &[Migration] = &[Migration {
        version: 1,
        name: "things",
        sql: "CREATE TABLE things (id text PRIMARY KEY)",
    }];
    static V2: &[Migration] = &[
        Migration {
            version: 1,
            name: "things",
            sql: "CREATE TABLE things (id text PRIMARY KEY)",
        },
        Migration {
            version: 2,
            name: "things size",
            sql: "ALTER TABLE things ADD COLUMN size bigint NOT NULL DEFAULT 0",
        },
    ];
    static EDITED: &[Migration] = &[Migration {
        version: 1,
        name: "things",
        sql: "CREATE TABLE things (id text PRIMARY KEY, extra int)",
    }];
    static BROKEN: &[Migration] = &[
        Migration {
            version: 1,
            name: "things",
            sql: "CREATE TABLE things (id text PRIMARY KEY)",
        },
        Migration {
            version: 2,
            name: "good then bad",
            sql: "CREATE TABLE other (x int); SELECT no_such_function()",
        },
    ];
    static GAP: &[Migration] = &[Migration {
        version: 2,
        name: "gap",
        sql: "SELECT 1",
    }];

    #[test]
    fn versions_must_start_at_one_without_gaps() {
        assert!(matches!(check_list("t", GAP), Err(PgError::Migration(_))));
        assert!(check_list("t", V2).is_ok());
    }

    #[test]
    fn migrations_apply_once_in_order_and_refuse_drift() {
        let Some(url) = testing::fresh_database("migrate") else {
            return;
        };
        let pg = Pg::connect(&url, PgOptions::default()).unwrap();
        pg.migrate("t", V1).unwrap();
        // Again: nothing to do.
        pg.migrate("t", V1).unwrap();
        // Upgrade adds the column.
        pg.migrate("t", V2).unwrap();
        let columns: i64 = pg
            .run(|c| async move {
                let row = c
                    .query_one(
                        "SELECT count(*) FROM information_schema.columns
                         WHERE table_name = 'things'",
                        &[],
                    )
                    .await?;
                Ok(row.get(0))
            })
            .unwrap();
        assert_eq!(columns, 2);
        // An older binary refuses the newer schema.
        let e = pg.migrate("t", V1).unwrap_err();
        assert!(e.to_string().contains("newer"), "{e}");
        // Another component's list is independent.
        pg.migrate("u", GAP).unwrap_err();
        // An edited migration is refused.
        let fresh = testing::fresh_database("migrate_edit").unwrap();
        let pg2 = Pg::connect(&fresh, PgOptions::default()).unwrap();
        pg2.migrate("t", V1).unwrap();
        let e = pg2.migrate("t", EDITED).unwrap_err();
        assert!(e.to_string().contains("differs"), "{e}");
    }

    #[test]
    fn a_failed_migration_leaves_the_schema_as_it_was() {
        let Some(url) = testing::fresh_database("migrate_fail") else {
            return;
        };
        let pg = Pg::connect(&url, PgOptions::default()).unwrap();
        let e = pg.migrate("t", BROKEN).unwrap_err();
        assert!(e.to_string().contains("good then bad"), "{e}");
        // Neither migration 1 nor the half of 2 stayed.
        let tables: i64 = pg
            .run(|c| async move {
                let row = c
                    .query_one(
                        "SELECT count(*) FROM information_schema.tables
                         WHERE table_name IN ('things', 'other')",
                        &[],
                    )
                    .await?;
                Ok(row.get(0))
            })
            .unwrap();
        assert_eq!(tables, 0);
        pg.migrate("t", V1).unwrap();
    }

    #[test]
    fn processes_migrating_at_once_apply_each_step_once() {
        let Some(url) = testing::fresh_database("migrate_race") else {
            return;
        };
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let pg = Pg::connect(&url, PgOptions::default()).unwrap();
                    pg.migrate("t", V2)
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
        let pg = Pg::connect(&url, PgOptions::default()).unwrap();
        let rows: i64 = pg
            .run(|c| async move {
                let row = c
                    .query_one("SELECT count(*) FROM sel_schema_migrations", &[])
                    .await?;
                Ok(row.get(0))
            })
            .unwrap();
        assert_eq!(rows, 2);
    }
}
