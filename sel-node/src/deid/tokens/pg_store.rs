//! Token mappings on PostgreSQL (`store = "postgres://…"`), shared by every
//! process on the database: a token stored by one is resolved by any other
//! at once, because there is no cache; every lookup is one indexed query.
//!
//! The rows hold what `deid-tokens.redb` holds: scopes and value indexes
//! (keyed hashes), tokens, and stored values sealed by the token service
//! before they reach this store.

use crate::deid::pg_schema::row_err;
use crate::pg::{Pg, PgError};

use super::store::{INDEX_LEN, Mapping, StoreError, TokenStore, check_batch};

const KEY_CHECK: &str = "key_check";

/// The token store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgTokenStore {
    pg: Pg,
}

impl PgTokenStore {
    /// The store on `pg`, whose de-id tables must be migrated
    /// ([`crate::deid::pg_schema::migrate`]).
    pub fn new(pg: Pg) -> PgTokenStore {
        PgTokenStore { pg }
    }
}

/// Why a batch was refused inside the transaction.
enum InsertError {
    Collision,
    Pg(PgError),
}

impl From<tokio_postgres::Error> for InsertError {
    fn from(e: tokio_postgres::Error) -> Self {
        InsertError::Pg(e.into())
    }
}

fn io(e: PgError) -> StoreError {
    StoreError::Io(e.to_string())
}

impl TokenStore for PgTokenStore {
    fn insert(&self, scope: &str, mappings: &[Mapping]) -> Result<(), StoreError> {
        // A batch that contradicts itself is refused before any I/O.
        check_batch(mappings, |_| Ok(None))?;
        if mappings.is_empty() {
            return Ok(());
        }
        // One row per token, and per value index its first token, in the
        // batch's order (what the other stores keep).
        let mut tokens: Vec<String> = Vec::new();
        let mut indexes: Vec<Vec<u8>> = Vec::new();
        let mut values: Vec<Vec<u8>> = Vec::new();
        let mut first_index: Vec<Vec<u8>> = Vec::new();
        let mut first_token: Vec<String> = Vec::new();
        for m in mappings {
            if !tokens.contains(&m.token) {
                tokens.push(m.token.clone());
                indexes.push(m.value_index.to_vec());
                values.push(m.stored_value.clone());
            }
            if !first_index.iter().any(|i| i[..] == m.value_index[..]) {
                first_index.push(m.value_index.to_vec());
                first_token.push(m.token.clone());
            }
        }
        let scope = scope.to_owned();
        let outcome = self.pg.run(move |mut client| async move {
            let result: Result<(), InsertError> = async {
                let tx = client.transaction().await?;
                // Existing rows are kept (a repeat); a concurrent insert of
                // the same key waits for the other transaction, then sees
                // its row in the check below.
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO deid_tokens (scope, token, value_index, stored_value)
                         SELECT $1, t, i, v FROM unnest($2::text[], $3::bytea[], $4::bytea[])
                             AS m(t, i, v)
                         ON CONFLICT (scope, token) DO NOTHING",
                    )
                    .await?;
                tx.execute(&insert, &[&scope, &tokens, &indexes, &values])
                    .await?;
                let clash = tx
                    .prepare_cached(
                        "SELECT 1 FROM deid_tokens d
                         JOIN unnest($2::text[], $3::bytea[]) AS m(t, i)
                           ON d.scope = $1 AND d.token = m.t
                         WHERE d.value_index <> m.i LIMIT 1",
                    )
                    .await?;
                if !tx
                    .query(&clash, &[&scope, &tokens, &indexes])
                    .await?
                    .is_empty()
                {
                    // Dropping the transaction rolls the batch back.
                    return Err(InsertError::Collision);
                }
                let index = tx
                    .prepare_cached(
                        "INSERT INTO deid_token_values (scope, value_index, token)
                         SELECT $1, i, t FROM unnest($2::bytea[], $3::text[]) AS m(i, t)
                         ON CONFLICT (scope, value_index) DO NOTHING",
                    )
                    .await?;
                tx.execute(&index, &[&scope, &first_index, &first_token])
                    .await?;
                tx.commit().await?;
                Ok(())
            }
            .await;
            Ok(result)
        });
        match outcome.map_err(io)? {
            Ok(()) => Ok(()),
            Err(InsertError::Collision) => Err(StoreError::Collision),
            Err(InsertError::Pg(e)) => Err(io(e)),
        }
    }

    fn value(&self, scope: &str, token: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (scope, token) = (scope.to_owned(), token.to_owned());
        self.pg
            .run(move |client| async move {
                let statement = client
                    .prepare_cached(
                        "SELECT stored_value FROM deid_tokens WHERE scope = $1 AND token = $2",
                    )
                    .await?;
                match client.query_opt(&statement, &[&scope, &token]).await? {
                    Some(row) => Ok(Some(row.try_get::<_, Vec<u8>>(0).map_err(row_err)?)),
                    None => Ok(None),
                }
            })
            .map_err(io)
    }

    fn token(
        &self,
        scope: &str,
        value_index: &[u8; INDEX_LEN],
    ) -> Result<Option<String>, StoreError> {
        let (scope, index) = (scope.to_owned(), value_index.to_vec());
        self.pg
            .run(move |client| async move {
                let statement = client
                    .prepare_cached(
                        "SELECT token FROM deid_token_values
                         WHERE scope = $1 AND value_index = $2",
                    )
                    .await?;
                match client.query_opt(&statement, &[&scope, &index]).await? {
                    Some(row) => Ok(Some(row.try_get::<_, String>(0).map_err(row_err)?)),
                    None => Ok(None),
                }
            })
            .map_err(io)
    }

    fn key_check(&self, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let fresh = fresh.to_vec();
        self.pg
            .run(move |client| async move {
                // The first process to get here stores its check; every
                // later one (any process) reads that one.
                client
                    .execute(
                        "INSERT INTO deid_token_meta (name, value) VALUES ($1, $2)
                         ON CONFLICT (name) DO NOTHING",
                        &[&KEY_CHECK, &fresh],
                    )
                    .await?;
                let row = client
                    .query_one(
                        "SELECT value FROM deid_token_meta WHERE name = $1",
                        &[&KEY_CHECK],
                    )
                    .await?;
                row.try_get::<_, Vec<u8>>(0).map_err(row_err)
            })
            .map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::testing;

    #[test]
    fn postgres_store_meets_the_contract_and_is_shared_across_pools() {
        let Some(url) = testing::fresh_database("deid_tokens") else {
            return;
        };
        let pg = crate::deid::pg_schema::connect(&url, None).unwrap();
        let store = PgTokenStore::new(pg);
        super::super::store::tests::contract(&store);
        // A second pool (another process, as far as the server can tell)
        // sees every mapping at once and the same key check.
        let other = PgTokenStore::new(crate::deid::pg_schema::connect(&url, None).unwrap());
        assert_eq!(other.value("s1", "T1").unwrap().unwrap(), b"v1");
        assert_eq!(other.token("s1", &[2; INDEX_LEN]).unwrap().unwrap(), "T2");
        assert_eq!(other.key_check(b"again").unwrap(), b"first");
    }

    #[test]
    fn concurrent_inserts_of_one_token_from_two_pools_keep_one_mapping() {
        let Some(url) = testing::fresh_database("deid_tokens_race") else {
            return;
        };
        let stores: Vec<PgTokenStore> = (0..2)
            .map(|_| PgTokenStore::new(crate::deid::pg_schema::connect(&url, None).unwrap()))
            .collect();
        let handles: Vec<_> = stores
            .iter()
            .cloned()
            .enumerate()
            .map(|(n, store)| {
                std::thread::spawn(move || {
                    for i in 0..50u8 {
                        let m = Mapping {
                            token: format!("T{i}"),
                            value_index: [i; INDEX_LEN],
                            stored_value: vec![n as u8, i],
                        };
                        store.insert("race", &[m]).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        for i in 0..50u8 {
            let a = stores[0].value("race", &format!("T{i}")).unwrap().unwrap();
            let b = stores[1].value("race", &format!("T{i}")).unwrap().unwrap();
            assert_eq!(a, b);
            assert_eq!(a[1], i);
            assert_eq!(
                stores[1].token("race", &[i; INDEX_LEN]).unwrap().unwrap(),
                format!("T{i}")
            );
        }
    }
}
