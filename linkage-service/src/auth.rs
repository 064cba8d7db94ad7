//! Site authentication: `Authorization: apiKey apiKey="<key>"` (API reference,
//! "Authorization"), read with the parser the nodes use as well.
//!
//! The key alone identifies the site: its MAC is compared, in constant time,
//! with the stored MAC of every registered site (the federation has a handful
//! of sites, so the scan is cheap, and it visits all of them whatever matches).
//! The caller then checks that the authenticated site is the one named in the
//! path, so a site can only act as itself.

use protocol_spec::messages::mainsel::{check_remote_id, parse_authorization_header};
use subtle::{Choice, ConstantTimeEq};
use tracing::error;
use zeroize::Zeroizing;

use crate::error::ApiError;
use crate::keys::MasterKey;
use crate::store::Store;

/// Finds the site that holds the API key in `header`.
pub fn authenticate(
    store: &Store,
    master: &MasterKey,
    header: Option<&str>,
) -> Result<String, ApiError> {
    let key = Zeroizing::new(
        parse_authorization_header(header.ok_or(ApiError::MissingAuth)?)
            .map_err(ApiError::MalformedAuth)?,
    );
    let presented = master.api_key_mac(&key);
    let sites = store.sites().map_err(|e| {
        error!(error = %e, "cannot read sites for authentication");
        ApiError::Internal
    })?;
    let mut found: Option<String> = None;
    for (id, record) in sites {
        let stored = record.api_key_mac_bytes(&id).map_err(|e| {
            error!(error = %e, "corrupt site record");
            ApiError::Internal
        })?;
        let hit: Choice = stored.as_slice().ct_eq(&presented[..]);
        if bool::from(hit) {
            found = Some(id);
        }
    }
    found.ok_or(ApiError::InvalidApiKey)
}

/// Authenticates the caller and checks that it is `site` (from the path).
/// Authentication comes first, so an unauthenticated caller learns nothing
/// about which site ids are valid.
pub fn authenticate_as(
    store: &Store,
    master: &MasterKey,
    header: Option<&str>,
    site: &str,
) -> Result<(), ApiError> {
    let authenticated = authenticate(store, master, header)?;
    check_remote_id(site).map_err(|source| ApiError::BadSiteId {
        id: site.to_string(),
        source,
    })?;
    if authenticated != site {
        return Err(ApiError::SiteMismatch {
            authenticated,
            requested: site.to_string(),
        });
    }
    Ok(())
}
