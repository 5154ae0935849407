//! The `Validator` kind.

// The printcolumn(...) arguments repeat `type_ = ...` by design; clippy reads them as duplicates.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{
    DNS1035_LABEL_PATTERN, DURATION_PATTERN, MAX_FLEET_NAME, ZERO_DURATION_PATTERN,
};
use super::fleet::{FleetSpec, FleetStatus};

/// Replicas of one validator program on one subnet, usually one per hotkey: the same as a Miner,
/// plus stake, validator permit and weight-freshness tracking.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "subnet-operator.io",
    version = "v1alpha1",
    kind = "Validator",
    namespaced,
    cel,
    validation = Rule::new(format!("self.metadata.name.matches('{DNS1035_LABEL_PATTERN}')")).message("metadata.name must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter and ending with a letter or digit): replicas' StatefulSets and NodePort Services are named <name>-<index>"),
    validation = Rule::new(format!("size(self.metadata.name) <= {MAX_FLEET_NAME}")).message("metadata.name must be at most 40 characters: replicas' StatefulSets are named <name>-<index>, and their controller-revision-hash label overflows 63 characters from about 48"),
    status = "FleetStatus",
    shortname = "vali",
    category = "bittensor",
    doc = "Replicas of one validator program on one subnet: like a Miner, plus stake, validator permit and weight freshness.",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Subnet", type_ = "string", json_path = ".spec.subnetRef.name"),
    printcolumn(name = "Desired", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(
        name = "Registered",
        type_ = "integer",
        json_path = ".status.registeredReplicas"
    ),
    printcolumn(
        name = "Price",
        type_ = "string",
        json_path = ".status.registrationPriceTao",
        description = "Registration burn in TAO"
    ),
    printcolumn(name = "GPUs", type_ = "integer", json_path = ".status.gpus"),
    printcolumn(
        name = "Stake",
        type_ = "string",
        json_path = ".status.totalStakeTao",
        description = "Stake of all replicas in TAO"
    ),
    printcolumn(
        name = "Permit",
        type_ = "integer",
        json_path = ".status.permittedReplicas",
        description = "Replicas with a validator permit"
    ),
    printcolumn(
        name = "Last-Weights",
        type_ = "integer",
        json_path = ".status.oldestWeightsBlock",
        description = "Oldest last-weights block"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorSpec {
    /// The fleet: subnet, replicas, wallet, registration, template, GPUs, axon, storage.
    #[serde(flatten)]
    pub fleet: FleetSpec,

    /// When weights count as stale, and whether stale validators are restarted.
    #[serde(default)]
    pub weights: WeightsPolicy,
}

/// Weight freshness policy.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WeightsPolicy {
    /// Weights older than this many tempos make `WeightsFresh` false (1 to 10000).
    #[serde(default = "default_max_stale_tempos")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_stale_tempos: u32,
    /// Restart a replica's pod once its weights have been stale this many tempos (1 to 10000).
    /// Unset: never restart, only report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub restart_after_stale_tempos: Option<u32>,
    /// At most this many stale restarts per replica within `restartWindow` (0 to 100); then
    /// only report.
    #[serde(default = "default_max_restarts")]
    #[schemars(range(min = 0, max = 100))]
    pub max_restarts: u32,
    /// The window for `maxRestarts`, e.g. `24h`; longer than 0s.
    #[serde(default = "default_restart_window")]
    #[x_kube(validation = Rule::new(format!("self.matches('{DURATION_PATTERN}')")).message("weights.restartWindow must be a duration such as 24h (at most 9 digits per number)"))]
    #[x_kube(validation = Rule::new(format!("!self.matches('{ZERO_DURATION_PATTERN}')")).message("weights.restartWindow must be longer than 0s: a zero-length window would remove the maxRestarts cap"))]
    #[schemars(length(max = 32))]
    pub restart_window: String,
}

impl Default for WeightsPolicy {
    fn default() -> Self {
        Self {
            max_stale_tempos: default_max_stale_tempos(),
            restart_after_stale_tempos: None,
            max_restarts: default_max_restarts(),
            restart_window: default_restart_window(),
        }
    }
}

fn default_max_stale_tempos() -> u32 {
    3
}
fn default_max_restarts() -> u32 {
    3
}
fn default_restart_window() -> String {
    "24h".to_string()
}
