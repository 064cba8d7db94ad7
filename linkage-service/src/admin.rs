//! Local administration: registering, listing and revoking sites.
//!
//! Registration is deliberately not a REST call (API reference, "MainSEL
//! Registration"): only whoever runs the service on its host can add a site.
//! The site's secrets are returned exactly once, by [`register`]; the store
//! cannot give them back.

use protocol_spec::messages::mainsel::{IdError, check_remote_id};
use serde::Serialize;
use zeroize::Zeroizing;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::keys::{MasterKey, SiteKey, generate_api_key};
use crate::store::{SiteRecord, Store, StoreError, now_unix};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("invalid site id: {0}")]
    InvalidSiteId(#[from] IdError),
    #[error("site {0} is not registered")]
    NotRegistered(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The secrets of a newly registered site. Shown once, then gone.
pub struct Registration {
    pub site_id: String,
    /// The site's AES-256 LID key (base64): the site needs it to open the LIDs
    /// the service seals for it.
    pub lid_key: Zeroizing<String>,
    /// The site's API key, sent as `Authorization: apiKey apiKey="<key>"`.
    pub api_key: Zeroizing<String>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("site_id", &self.site_id)
            .finish_non_exhaustive()
    }
}

impl Registration {
    /// The JSON printed by `linkage-service register`.
    pub fn to_json(&self) -> Zeroizing<String> {
        Zeroizing::new(
            serde_json::json!({
                "siteId": self.site_id,
                "lidKey": self.lid_key.as_str(),
                "apiKey": self.api_key.as_str(),
            })
            .to_string(),
        )
    }
}

/// Registers `site_id` with a fresh LID key and API key.
pub fn register(
    store: &Store,
    master: &MasterKey,
    site_id: &str,
) -> Result<Registration, AdminError> {
    check_remote_id(site_id)?;
    store.bind_master_key(master)?;
    let lid_key = SiteKey::generate();
    let api_key = generate_api_key();
    let record = SiteRecord {
        wrapped_lid_key: STANDARD.encode(master.wrap_site_key(site_id, &lid_key)),
        api_key_mac: STANDARD.encode(master.api_key_mac(&api_key)),
        registered_at: now_unix(),
    };
    store.insert_site(site_id, &record)?;
    Ok(Registration {
        site_id: site_id.to_string(),
        lid_key: lid_key.to_base64(),
        api_key,
    })
}

/// A registered site as listed by `linkage-service sites` (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteSummary {
    #[serde(rename = "siteId")]
    pub site_id: String,
    #[serde(rename = "registeredAt")]
    pub registered_at: u64,
}

/// Lists the registered sites, ordered by id.
pub fn list_sites(store: &Store) -> Result<Vec<SiteSummary>, AdminError> {
    Ok(store
        .sites()?
        .into_iter()
        .map(|(site_id, r)| SiteSummary {
            site_id,
            registered_at: r.registered_at,
        })
        .collect())
}

/// Removes a site. Its API key stops working with the next request; LIDs it
/// was issued stay recorded for audit.
pub fn revoke(store: &Store, site_id: &str) -> Result<(), AdminError> {
    check_remote_id(site_id)?;
    if store.remove_site(site_id)? {
        Ok(())
    } else {
        Err(AdminError::NotRegistered(site_id.to_string()))
    }
}

/// A clerical-review entry as listed by `linkage-service reviews` (no LIDs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewSummary {
    pub id: u64,
    pub client_site: String,
    pub server_site: String,
    pub job_id: Option<String>,
    pub record_index: usize,
    pub server_index: usize,
    pub created_at: u64,
}

/// Lists the tentative matches kept for clerical review.
pub fn list_reviews(store: &Store, master: &MasterKey) -> Result<Vec<ReviewSummary>, AdminError> {
    store.bind_master_key(master)?;
    Ok(store
        .reviews(master)?
        .into_iter()
        .map(|(id, p)| ReviewSummary {
            id,
            client_site: p.client_site.clone(),
            server_site: p.server_site.clone(),
            job_id: p.job_id.clone(),
            record_index: p.record_index,
            server_index: p.server_index,
            created_at: p.created_at,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    #[test]
    fn register_list_revoke_cycle() {
        let dir = TempDir::new("admin");
        let store = Store::open(dir.path()).unwrap();
        let master = MasterKey::from_bytes(&[9; 32]);
        let reg = register(&store, &master, "Site_A").unwrap();
        assert_ne!(*reg.lid_key, *reg.api_key);
        let json: serde_json::Value = serde_json::from_str(&reg.to_json()).unwrap();
        assert_eq!(json["siteId"], "Site_A");
        assert!(matches!(
            register(&store, &master, "Site_A"),
            Err(AdminError::Store(StoreError::AlreadyRegistered(_)))
        ));
        assert!(matches!(
            register(&store, &master, "bad-id"),
            Err(AdminError::InvalidSiteId(_))
        ));
        register(&store, &master, "B").unwrap();
        let ids: Vec<_> = list_sites(&store)
            .unwrap()
            .into_iter()
            .map(|s| s.site_id)
            .collect();
        assert_eq!(ids, ["B", "Site_A"]);
        revoke(&store, "B").unwrap();
        assert!(matches!(
            revoke(&store, "B"),
            Err(AdminError::NotRegistered(_))
        ));
        assert_eq!(list_sites(&store).unwrap().len(), 1);
    }

    #[test]
    fn stored_record_holds_no_secret_in_the_clear() {
        let dir = TempDir::new("admin-secrets");
        let store = Store::open(dir.path()).unwrap();
        let master = MasterKey::from_bytes(&[4; 32]);
        let reg = register(&store, &master, "A").unwrap();
        let record = store.site("A").unwrap().unwrap();
        let lid_key = STANDARD.decode(reg.lid_key.as_str()).unwrap();
        let wrapped = record.wrapped_lid_key_bytes("A").unwrap();
        assert!(!wrapped.windows(lid_key.len()).any(|w| w == lid_key));
        assert!(!record.api_key_mac.contains(reg.api_key.as_str()));
        let unwrapped = master.unwrap_site_key("A", &wrapped).unwrap();
        assert_eq!(*unwrapped.to_base64(), *reg.lid_key);
    }

    #[test]
    fn a_store_refuses_a_second_master_key() {
        let dir = TempDir::new("admin-master");
        let store = Store::open(dir.path()).unwrap();
        register(&store, &MasterKey::from_bytes(&[1; 32]), "A").unwrap();
        assert!(matches!(
            register(&store, &MasterKey::from_bytes(&[2; 32]), "B"),
            Err(AdminError::Store(StoreError::WrongMasterKey))
        ));
    }
}
