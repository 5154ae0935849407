//! The `Subnet` kind: where a fleet lives (a chain endpoint and a netuid, or a localnet).

// The printcolumn(...) arguments repeat `type_ = ...` by design; clippy reads them as duplicates.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{
    DNS1035_LABEL_PATTERN, MAX_FLEET_NAME, TAO_PATTERN, ZERO_TAO_PATTERN, conditions_schema,
};

/// A `user:password@` (or `user@`) part in a ws:// or wss:// URL.
const URL_USERINFO_PATTERN: &str = "^wss?://[^/?#]*@";

/// Default localnet image: the official subtensor localnet.
pub const DEFAULT_LOCALNET_IMAGE: &str = "ghcr.io/opentensor/subtensor-localnet:devnet-ready";

/// A Bittensor subnet that Miners and Validators run on: a chain endpoint plus a netuid, or a
/// localnet that the operator runs in this namespace and scaffolds (subnet created, started and
/// funded) for tests.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "subnet-operator.io",
    version = "v1alpha1",
    kind = "Subnet",
    namespaced,
    cel,
    validation = Rule::new(format!("!has(self.spec.localnet) || (self.metadata.name.matches('{DNS1035_LABEL_PATTERN}') && size(self.metadata.name) <= {MAX_FLEET_NAME})")).message("a localnet Subnet's metadata.name must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter) of at most 40 characters: its localnet StatefulSet and Service are named <name>-localnet"),
    status = "SubnetStatus",
    shortname = "sn",
    category = "bittensor",
    doc = "A Bittensor subnet that Miners and Validators run on: a chain endpoint plus a netuid, or a localnet the operator runs and scaffolds.",
    printcolumn(name = "Network", type_ = "string", json_path = ".spec.network"),
    printcolumn(name = "Netuid", type_ = "integer", json_path = ".status.netuid"),
    printcolumn(
        name = "Price",
        type_ = "string",
        json_path = ".status.registrationPriceTao",
        description = "Registration burn in TAO"
    ),
    printcolumn(
        name = "UIDs",
        type_ = "string",
        json_path = ".status.uids",
        description = "UIDs used / max"
    ),
    printcolumn(
        name = "Block",
        type_ = "integer",
        json_path = ".status.finalizedBlock"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("has(self.netuid) || has(self.localnet)").message("a Subnet needs spec.netuid, or spec.localnet to create one"))]
#[x_kube(validation = Rule::new("!has(self.netuid) || !has(self.localnet)").message("a localnet Subnet must not set spec.netuid: the localnet scaffold creates the subnet and reports its netuid in status"))]
#[x_kube(validation = Rule::new("!has(self.localnet) || self.network == 'local'").message("spec.localnet requires spec.network: local"))]
#[x_kube(validation = Rule::new("!has(oldSelf.netuid) || (has(self.netuid) && self.netuid == oldSelf.netuid)").message("spec.netuid is immutable once set"))]
#[serde(rename_all = "camelCase")]
pub struct SubnetSpec {
    /// Which chain: `finney` (main network), `test` (testnet), `local` (a localnet), or a
    /// `ws://` / `wss://` URL of a subtensor node.
    #[x_kube(validation = Rule::new("self in ['finney', 'test', 'local'] || self.matches('^wss?://[^\\\\s/]+(/.*)?$')").message("network must be finney, test, local or a ws:// / wss:// URL"))]
    #[x_kube(validation = Rule::new(format!("!self.matches('{URL_USERINFO_PATTERN}')")).message("network must not carry credentials (user:password@) in the URL: it is copied into every pod's environment"))]
    #[x_kube(validation = Rule::new("!self.startsWith('ws') || (isURL(self) && url(self).getHostname() != '' && (url(self).getPort() == '' || int(url(self).getPort()) <= 65535))").message("network must be a ws:// or wss:// URL with a host and a port of at most 65535"))]
    #[schemars(length(min = 1, max = 512))]
    pub network: String,

    /// Further `ws://` / `wss://` endpoints of the same chain, tried in order when the current one
    /// fails (failover).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = Rule::new("self.all(e, e.matches('^wss?://[^\\\\s/]+(/.*)?$'))").message("every endpoint must be a ws:// or wss:// URL"))]
    #[x_kube(validation = Rule::new(format!("self.all(e, !e.matches('{URL_USERINFO_PATTERN}'))")).message("endpoints must not carry credentials (user:password@) in the URL: they are copied into every pod's environment"))]
    #[schemars(length(max = 8), inner(length(max = 512)))]
    pub endpoints: Vec<String>,

    /// The subnet's netuid on the chain. Optional when `localnet` creates the subnet; immutable
    /// once set. Netuid 0 (root) cannot host miners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub netuid: Option<u16>,

    /// Run the official subtensor localnet image in this namespace and scaffold a subnet on it.
    /// For tests and development only; requires `network: local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localnet: Option<LocalnetSpec>,
}

/// A localnet the operator runs and scaffolds.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct LocalnetSpec {
    /// Container image of the localnet (three authority nodes in one container).
    #[serde(default = "default_localnet_image")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new("!self.matches('[[:space:]]')").message("localnet.image must be an image reference without whitespace"))]
    pub image: String,

    /// Fast blocks (250 ms, tempo 10) when true, the real 12 s blocks when false.
    #[serde(default = "default_true")]
    pub fast_blocks: bool,

    /// CPU and memory for the localnet container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Subnet hyperparameters the scaffold sets after creating the subnet. Unset fields keep the
    /// chain's defaults, except commit-reveal (off) and the rate limits (0), which the scaffold
    /// turns off because drand is unreachable on an offline localnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hyperparameters: Option<Hyperparameters>,

    /// TAO the scaffold transfers from the dev accounts to each coldkey of the Miners and
    /// Validators that reference this Subnet.
    #[serde(default = "default_fund_tao")]
    #[x_kube(validation = Rule::new(format!("self.matches('{TAO_PATTERN}')")).message("fundTao must be a decimal TAO amount such as \"1000\" or \"0.5\" (at most 8 integer digits and 9 decimals)"))]
    #[schemars(length(max = 32))]
    pub fund_tao: String,

    /// TAO each Validator replica's hotkey gets staked by its coldkey, so validators can earn a
    /// validator permit. Unset: no stake is added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(format!("self.matches('{TAO_PATTERN}')")).message("selfStakeTao must be a decimal TAO amount such as \"100\" (at most 8 integer digits and 9 decimals)"))]
    #[x_kube(validation = Rule::new(format!("!self.matches('{ZERO_TAO_PATTERN}')")).message("selfStakeTao must be above 0 (leave it unset to stake nothing)"))]
    #[schemars(length(max = 32))]
    pub self_stake_tao: Option<String>,
}

/// Subnet hyperparameters a localnet scaffold sets.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.minBurnTao) || !has(self.maxBurnTao) || double(self.minBurnTao) < double(self.maxBurnTao)").message("minBurnTao must be below maxBurnTao"))]
#[x_kube(validation = Rule::new("!has(self.maxAllowedValidators) || !has(self.maxAllowedUids) || self.maxAllowedValidators <= self.maxAllowedUids").message("hyperparameters.maxAllowedValidators must not exceed maxAllowedUids"))]
pub struct Hyperparameters {
    /// Lowest registration burn in TAO (the chain requires it below 1 TAO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^0(\\\\.[0-9]{1,9})?$')").message("minBurnTao must be below 1 TAO, e.g. \"0.0005\""))]
    #[schemars(length(max = 32))]
    pub min_burn_tao: Option<String>,
    /// Highest registration burn in TAO (the chain requires it above 0.1 TAO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(format!("self.matches('{TAO_PATTERN}') && double(self) > 0.1")).message("maxBurnTao must be a TAO amount above 0.1 (at most 8 integer digits and 9 decimals)"))]
    #[schemars(length(max = 32))]
    pub max_burn_tao: Option<String>,
    /// Blocks for the registration price to halve (1 to 65535).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub burn_half_life: Option<u16>,
    /// Blocks during which a new registration cannot be pruned (0 to 65535).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub immunity_period: Option<u16>,
    /// Blocks per epoch (1 to 65535).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub tempo: Option<u16>,
    /// Maximum number of UIDs on the subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4096))]
    pub max_allowed_uids: Option<u16>,
    /// Maximum number of validator permits (1 to 4096, at most `maxAllowedUids`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4096))]
    pub max_allowed_validators: Option<u16>,
    /// Commit-reveal of weights. Off by default on a localnet (drand is unreachable offline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_reveal: Option<bool>,
    /// Minimum blocks between two weight settings of one hotkey (0 on a localnet by default; at
    /// most 100000000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100_000_000))]
    pub weights_set_rate_limit: Option<u64>,
    /// Minimum blocks between two `serve_axon` calls of one hotkey (0 on a localnet by default;
    /// at most 100000000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100_000_000))]
    pub serving_rate_limit: Option<u64>,
}

/// What the operator observes of a Subnet on its chain.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SubnetStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions: `ChainReachable`, `Ready`, and for a localnet `Scaffolded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The endpoint in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Genesis hash of the chain (a new one on a localnet means the chain was reset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_hash: Option<String>,
    /// Runtime spec version of the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_spec_version: Option<u32>,
    /// Best block number seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_block: Option<u64>,
    /// Finalized block number seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalized_block: Option<u64>,
    /// The netuid in use (from the spec, or created by the localnet scaffold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netuid: Option<u16>,
    /// Current registration burn, in rao.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_price_rao: Option<u64>,
    /// Current registration burn, in TAO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_price_tao: Option<String>,
    /// Blocks per epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tempo: Option<u16>,
    /// UIDs in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uids_used: Option<u16>,
    /// Maximum UIDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uids: Option<u16>,
    /// `used/max`, for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uids: Option<String>,
    /// Blocks during which a new registration is immune to pruning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immunity_period: Option<u16>,
    /// Whether the subnet accepts registrations now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_open: Option<bool>,
    /// The chain the localnet scaffold ran on (its genesis hash, then `:` and the hash of its
    /// block 1); a different one means the localnet restarted with a new chain, and the
    /// scaffold runs again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaffold_genesis: Option<String>,
    /// Progress of the localnet scaffold, one entry per step in the order they run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scaffold: Vec<ScaffoldStep>,
}

/// One step of the localnet scaffold.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScaffoldStep {
    /// Step name, e.g. `RegisterNetwork`.
    pub name: String,
    /// `Pending`, `Done` or `Failed`.
    pub state: String,
    /// Block at which the step completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u64>,
    /// Details, e.g. the last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn default_localnet_image() -> String {
    DEFAULT_LOCALNET_IMAGE.to_string()
}

fn default_true() -> bool {
    true
}

fn default_fund_tao() -> String {
    "1000".to_string()
}
