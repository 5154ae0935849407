//! The `Miner` kind.

// The printcolumn(...) arguments repeat `type_ = ...` by design; clippy reads them as duplicates.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::fleet::{FleetSpec, FleetStatus};

/// N replicas of one miner program on one subnet. Each replica has its own hotkey (kept in a
/// Secret that outlives the Miner), is registered on chain under a price guard, and runs as a
/// GPU-scheduled pod with its axon exposed. `kubectl scale miner/NAME --replicas=N` works.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "subnet-operator.io",
    version = "v1alpha1",
    kind = "Miner",
    namespaced,
    cel,
    status = "FleetStatus",
    shortname = "mnr",
    category = "bittensor",
    doc = "N replicas of one miner program on one subnet, each with its own hotkey, registered on chain under a price guard and run as a GPU-scheduled pod.",
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
pub struct MinerSpec {
    /// The fleet: subnet, replicas, wallet, registration, template, GPUs, axon, storage.
    #[serde(flatten)]
    pub fleet: FleetSpec,
}
