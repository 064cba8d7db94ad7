//! API key records and categories on PostgreSQL (`store = "postgres://…"`),
//! shared by every de-id service process on the database.
//!
//! Each row is sealed exactly as in `deid.redb` (the same derived key, the
//! same table-and-name contexts), so the database holds neither key hashes
//! nor labels nor category patterns in clear. Every write also bumps one
//! generation counter in the same transaction: the other processes poll it
//! ([`ServiceStore::generation`]) and reload keys and categories when it
//! moved.

use crate::deid::pg_schema::row_err;
use crate::pg::{Pg, PgError};
use crate::seal::NodeKey;
use zeroize::Zeroizing;

use super::store::{
    CATEGORIES_TABLE, KEY_CHECK_PLAIN, KEYS_TABLE, KeyRecord, META_KEY_CHECK, ServiceStore,
    StoreError, StoredCategory, context,
};

/// The service store on PostgreSQL.
pub struct PgServiceStore {
    pg: Pg,
    key: NodeKey,
}

impl std::fmt::Debug for PgServiceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServiceStore")
            .field("database", &self.pg.display_url())
            .finish_non_exhaustive()
    }
}

fn io(e: PgError) -> StoreError {
    StoreError::Io(e.to_string())
}

impl PgServiceStore {
    /// The store on `pg` (de-id tables migrated), sealing with `key` (give
    /// it [`super::store::service_store_key`] of the node key). Fails with
    /// [`StoreError::Unseal`] if the database was set up under another key.
    pub fn open(pg: Pg, key: NodeKey) -> Result<PgServiceStore, StoreError> {
        let ctx = context("meta", META_KEY_CHECK);
        let fresh = key.seal(&ctx, KEY_CHECK_PLAIN);
        let stored = pg
            .run(move |client| async move {
                client
                    .execute(
                        "INSERT INTO deid_service_meta (name, value) VALUES ($1, $2)
                         ON CONFLICT (name) DO NOTHING",
                        &[&META_KEY_CHECK, &fresh],
                    )
                    .await?;
                let row = client
                    .query_one(
                        "SELECT value FROM deid_service_meta WHERE name = $1",
                        &[&META_KEY_CHECK],
                    )
                    .await?;
                row.try_get::<_, Vec<u8>>(0).map_err(row_err)
            })
            .map_err(io)?;
        key.open(&ctx, &stored)
            .map_err(|_| StoreError::Unseal("the key check"))?;
        Ok(PgServiceStore { pg, key })
    }

    fn all<T: serde::de::DeserializeOwned>(
        &self,
        kind: &'static str,
        what: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let rows: Vec<(String, Vec<u8>)> = self
            .pg
            .run(move |client| async move {
                let rows = client
                    .query(
                        "SELECT name, sealed FROM deid_service_rows WHERE kind = $1
                         ORDER BY name",
                        &[&kind],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.try_get(0).map_err(row_err)?,
                            r.try_get(1).map_err(row_err)?,
                        ))
                    })
                    .collect()
            })
            .map_err(io)?;
        rows.iter()
            .map(|(name, sealed)| {
                let plain = self
                    .key
                    .open(&context(kind, name), sealed)
                    .map_err(|_| StoreError::Unseal(what))?;
                serde_json::from_slice(&plain).map_err(|_| StoreError::Corrupt(what))
            })
            .collect()
    }

    fn put<T: serde::Serialize>(
        &self,
        kind: &'static str,
        name: &str,
        value: &T,
        what: &'static str,
    ) -> Result<(), StoreError> {
        let plain =
            Zeroizing::new(serde_json::to_vec(value).map_err(|_| StoreError::Corrupt(what))?);
        let sealed = self.key.seal(&context(kind, name), &plain);
        let name = name.to_owned();
        self.pg
            .run(move |mut client| async move {
                let tx = client.transaction().await?;
                tx.execute(
                    "INSERT INTO deid_service_rows (kind, name, sealed) VALUES ($1, $2, $3)
                     ON CONFLICT (kind, name) DO UPDATE SET sealed = EXCLUDED.sealed",
                    &[&kind, &name, &sealed],
                )
                .await?;
                tx.execute(
                    "UPDATE deid_service_generation SET generation = generation + 1",
                    &[],
                )
                .await?;
                tx.commit().await?;
                Ok(())
            })
            .map_err(io)
    }
}

impl ServiceStore for PgServiceStore {
    fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.all(KEYS_TABLE, "an API key record")
    }

    fn put_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.put(KEYS_TABLE, &record.key_id, record, "an API key record")
    }

    fn categories(&self) -> Result<Vec<StoredCategory>, StoreError> {
        self.all(CATEGORIES_TABLE, "a category")
    }

    fn put_category(&self, category: &StoredCategory) -> Result<(), StoreError> {
        self.put(
            CATEGORIES_TABLE,
            &category.category.name,
            category,
            "a category",
        )
    }

    fn remove_category(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.pg
            .run(move |mut client| async move {
                let tx = client.transaction().await?;
                let removed = tx
                    .execute(
                        "DELETE FROM deid_service_rows WHERE kind = $1 AND name = $2",
                        &[&CATEGORIES_TABLE, &name],
                    )
                    .await?;
                tx.execute(
                    "UPDATE deid_service_generation SET generation = generation + 1",
                    &[],
                )
                .await?;
                tx.commit().await?;
                Ok(removed > 0)
            })
            .map_err(io)
    }

    fn generation(&self) -> Result<Option<i64>, StoreError> {
        self.pg
            .run(|client| async move {
                let statement = client
                    .prepare_cached("SELECT generation FROM deid_service_generation")
                    .await?;
                let row = client.query_one(&statement, &[]).await?;
                row.try_get::<_, i64>(0).map_err(row_err)
            })
            .map(Some)
            .map_err(io)
    }
}
