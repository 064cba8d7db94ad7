//! Bodies of `PUT /initLocal` and `PUT /initRemote/{remote_id}`, and the
//! mapping of the wire `algorithm` block to a validated [`LinkageConfig`].
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::{Authentication, SharedKeyError};
use super::ids::{IdError, UrlError, check_site_id, check_url};
use crate::config::{
    Comparator, ConfigError, DEFAULT_DICE_FRACTION_BITS, FieldSpec, FieldType, LinkageConfig,
};

/// The only algorithm this node runs.
pub const ALGO_EPILINK: &str = "epilink";

/// Body of `PUT /initLocal`.
///
/// Unknown top-level keys are ignored (a newer Mainzelliste may send more);
/// the `algorithm` block is strict, see [`AlgorithmConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitLocal {
    #[serde(rename = "localId")]
    pub local_id: String,
    /// `localAuthentification` is an early MainzellisteSEL client's spelling.
    #[serde(rename = "localAuthentication", alias = "localAuthentification")]
    pub local_authentication: Authentication,
    #[serde(rename = "dataService")]
    pub data_service: DataService,
    pub algorithm: AlgorithmConfig,
}

/// Where the node fetches its own site's records (`getAllRecords`).
///
/// Besides `url`, data services take their own options (page sizes, caching
/// hints). `pageSize` is understood; every other key is kept verbatim in
/// `extra` so nothing the operator configured is silently lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataService {
    pub url: String,
    #[serde(
        rename = "pageSize",
        alias = "pagesize",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub page_size: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `algorithm` block of `initLocal`, as sent.
///
/// Unknown keys are rejected: an option this node does not implement would
/// otherwise be ignored silently and the linkage would run under a different
/// model than the operator configured. The one exception is `bloomLength`,
/// which older SEL versions required; it is kept but has no effect (each
/// field carries its own `bitlength`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlgorithmConfig {
    /// Must be `epilink` (compared case-insensitively; an early client sent
    /// `epiLink`). Kept as a string so a wrong type gets a precise error from
    /// [`LinkageConfig::from_wire`] rather than a generic parse error.
    #[serde(rename = "algoType")]
    pub algo_type: String,
    #[serde(alias = "thresholdMatch")]
    pub threshold_match: f64,
    #[serde(alias = "thresholdNonMatch")]
    pub threshold_non_match: f64,
    /// Groups of field names whose values may be swapped (e.g. first name and
    /// last name). Absent means none.
    #[serde(rename = "exchangeGroups", default)]
    pub exchange_groups: Vec<Vec<String>>,
    pub fields: Vec<WireFieldSpec>,
    /// Legacy, ignored; see the type's documentation.
    #[serde(
        rename = "bloomLength",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub bloom_length: Option<u32>,
    /// Fractional bits `F` of every similarity, 8..=16; absent means 8
    /// (MainSEL's precision). See [`LinkageConfig::with_dice_fraction_bits`].
    #[serde(
        rename = "dice_fraction_bits",
        alias = "diceFractionBits",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dice_fraction_bits: Option<u32>,
}

/// One entry of `algorithm.fields`. Strict for the same reason as
/// [`AlgorithmConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireFieldSpec {
    pub name: String,
    pub frequency: f64,
    #[serde(rename = "errorRate", alias = "error_rate")]
    pub error_rate: f64,
    pub comparator: Comparator,
    #[serde(rename = "fieldType", alias = "field_type")]
    pub field_type: FieldType,
    #[serde(alias = "bitLength")]
    pub bitlength: u32,
}

impl From<&WireFieldSpec> for FieldSpec {
    fn from(w: &WireFieldSpec) -> FieldSpec {
        FieldSpec {
            name: w.name.clone(),
            frequency: w.frequency,
            error_rate: w.error_rate,
            comparator: w.comparator,
            field_type: w.field_type,
            bitlength: w.bitlength,
        }
    }
}

impl From<&FieldSpec> for WireFieldSpec {
    fn from(f: &FieldSpec) -> WireFieldSpec {
        WireFieldSpec {
            name: f.name.clone(),
            frequency: f.frequency,
            error_rate: f.error_rate,
            comparator: f.comparator,
            field_type: f.field_type,
            bitlength: f.bitlength,
        }
    }
}

/// Why an `algorithm` block was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlgorithmError {
    #[error("algoType {0:?} is not supported; the only algorithm is \"epilink\"")]
    UnsupportedAlgoType(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl LinkageConfig {
    /// Validates a wire `algorithm` block (every rule of
    /// [`LinkageConfig::new`], plus `algoType`).
    pub fn from_wire(algorithm: &AlgorithmConfig) -> Result<LinkageConfig, AlgorithmError> {
        if !algorithm.algo_type.eq_ignore_ascii_case(ALGO_EPILINK) {
            return Err(AlgorithmError::UnsupportedAlgoType(
                algorithm.algo_type.clone(),
            ));
        }
        let fields = algorithm.fields.iter().map(FieldSpec::from).collect();
        let config = LinkageConfig::new(
            fields,
            &algorithm.exchange_groups,
            algorithm.threshold_match,
            algorithm.threshold_non_match,
        )?;
        Ok(match algorithm.dice_fraction_bits {
            Some(bits) => config.with_dice_fraction_bits(bits)?,
            None => config,
        })
    }
}

impl From<&LinkageConfig> for AlgorithmConfig {
    /// The wire form of a validated configuration (for clients and examples).
    fn from(config: &LinkageConfig) -> AlgorithmConfig {
        let fields = config.fields();
        AlgorithmConfig {
            algo_type: ALGO_EPILINK.to_owned(),
            threshold_match: config.threshold_match(),
            threshold_non_match: config.threshold_non_match(),
            exchange_groups: config
                .exchange_groups()
                .iter()
                .map(|g| g.iter().map(|&i| fields[i].name.clone()).collect())
                .collect(),
            fields: fields.iter().map(WireFieldSpec::from).collect(),
            bloom_length: None,
            // Only written when not the default, so default configurations
            // keep their wire form.
            dice_fraction_bits: (config.dice_fraction_bits() != DEFAULT_DICE_FRACTION_BITS)
                .then_some(config.dice_fraction_bits()),
        }
    }
}

/// Why an `initLocal` body was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InitLocalError {
    #[error("localId: {0}")]
    LocalId(IdError),
    #[error("localAuthentication.{0}")]
    SharedKey(SharedKeyError),
    #[error("dataService.url: {0}")]
    DataServiceUrl(UrlError),
    #[error("algorithm: {0}")]
    Algorithm(#[from] AlgorithmError),
}

impl InitLocal {
    /// Checks everything parsing cannot and returns the validated linkage
    /// configuration.
    pub fn validate(&self) -> Result<LinkageConfig, InitLocalError> {
        check_site_id(&self.local_id).map_err(InitLocalError::LocalId)?;
        self.local_authentication
            .shared_key
            .check()
            .map_err(InitLocalError::SharedKey)?;
        check_url(&self.data_service.url).map_err(InitLocalError::DataServiceUrl)?;
        Ok(LinkageConfig::from_wire(&self.algorithm)?)
    }
}

/// Body of `PUT /initRemote/{remote_id}` (also `/init/{remote_id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitRemote {
    /// The remote node: its base URL and the key this node presents to it.
    #[serde(rename = "connectionProfile")]
    pub connection_profile: Connection,
    /// The linkage service for this pair. Optional because the matching mode
    /// (intersection cardinality) needs no linkage service; linkage jobs
    /// towards a remote without one are refused.
    #[serde(
        rename = "linkageService",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub linkage_service: Option<Connection>,
    /// Whether this remote may run matching (counting) jobs; default false.
    #[serde(rename = "matchingAllowed", default)]
    pub matching_allowed: bool,
    /// Which EpiLink 2PC profile jobs with this remote run (an extension of
    /// the reference; absent means [`Profile::default`]). Both sites must
    /// configure the same profile for each other: the server side refuses
    /// an announced job with another profile.
    #[serde(
        rename = "mpcProfile",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mpc_profile: Option<Profile>,
}

/// The EpiLink 2PC profile of a pair of sites: which knobs of the
/// computation (carry structures, OT extension, tournament arity) to run.
/// The result is the same in every profile; only CPU time, bytes and
/// rounds differ (`mpc_core::epilink::profile` maps a profile to the
/// knobs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Sites on one fast network: fewest CPU cycles.
    Lan,
    /// Sites across a wide-area network: fewest bytes and rounds. The
    /// default, because two sites usually link across one.
    #[default]
    Wan,
}

impl Profile {
    /// The wire name (`lan`, `wan`).
    pub fn name(self) -> &'static str {
        match self {
            Profile::Lan => "lan",
            Profile::Wan => "wan",
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "lan" => Ok(Profile::Lan),
            "wan" => Ok(Profile::Wan),
            other => Err(format!("unknown profile {other:?} (use lan or wan)")),
        }
    }
}

/// `{"url": ..., "authentication": {...}}` of a remote or linkage service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub url: String,
    pub authentication: Authentication,
}

/// Why an `initRemote` body was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitRemoteError {
    #[error("connectionProfile.url: {0}")]
    RemoteUrl(UrlError),
    #[error("connectionProfile.authentication.{0}")]
    RemoteKey(SharedKeyError),
    #[error("linkageService.url: {0}")]
    LinkageServiceUrl(UrlError),
    #[error("linkageService.authentication.{0}")]
    LinkageServiceKey(SharedKeyError),
}

impl InitRemote {
    /// Checks the URLs and keys (the remote id comes from the path and is
    /// checked with [`super::check_remote_id`]).
    pub fn validate(&self) -> Result<(), InitRemoteError> {
        let remote = &self.connection_profile;
        check_url(&remote.url).map_err(InitRemoteError::RemoteUrl)?;
        remote
            .authentication
            .shared_key
            .check()
            .map_err(InitRemoteError::RemoteKey)?;
        if let Some(ls) = &self.linkage_service {
            check_url(&ls.url).map_err(InitRemoteError::LinkageServiceUrl)?;
            ls.authentication
                .shared_key
                .check()
                .map_err(InitRemoteError::LinkageServiceKey)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod profile_tests {
    use super::*;

    const REMOTE: &str = r#"{"connectionProfile": {"url": "https://peer.example:1664",
        "authentication": {"authType": "apiKey", "sharedKey": "xkcd123"}}"#;

    #[test]
    fn mpc_profile_is_optional_and_round_trips() {
        // The reference's body, without the extension: no profile.
        let plain: InitRemote = serde_json::from_str(&format!("{REMOTE}}}")).unwrap();
        assert_eq!(plain.mpc_profile, None);
        assert!(
            !serde_json::to_string(&plain)
                .unwrap()
                .contains("mpcProfile")
        );
        let lan: InitRemote =
            serde_json::from_str(&format!(r#"{REMOTE}, "mpcProfile": "lan"}}"#)).unwrap();
        assert_eq!(lan.mpc_profile, Some(Profile::Lan));
        let back: InitRemote = serde_json::from_str(&serde_json::to_string(&lan).unwrap()).unwrap();
        assert_eq!(back, lan);
    }

    #[test]
    fn an_unknown_profile_is_refused() {
        let e = serde_json::from_str::<InitRemote>(&format!(r#"{REMOTE}, "mpcProfile": "fast"}}"#));
        assert!(e.is_err());
        assert_eq!("wan".parse::<Profile>(), Ok(Profile::Wan));
        assert!("WAN".parse::<Profile>().is_err());
        assert_eq!(Profile::default(), Profile::Wan);
    }
}
