//! Pure desired-state builders: a validated fleet → the Kubernetes objects of each replica.
//! No client, no async, no clock: everything they need comes in through [`FleetInput`] and
//! [`ReplicaInput`].
//!
//! Each replica `i` of fleet `f` is a one-replica StatefulSet `f-i` (so the pod comes back
//! after a node loss or a deletion even while the operator is down, with a stable name), a
//! Service `f-i` when the axon is exposed through one, and a PVC `f-data-i` when `storage` is
//! set. The fleet has one PodDisruptionBudget allowing one voluntary disruption at a time.

pub mod localnet;
pub mod pod;
pub mod workload;

#[cfg(test)]
mod proptests;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::crd::fleet::FleetSpec;
use crate::labels;

/// Label with a replica's index.
/// Annotation with the hash of what the operator last applied to an object.
pub const SPEC_HASH_ANNOTATION: &str = "subnet-operator.io/spec-hash";
/// Annotation with the hash of a replica's pod template (drives rolling updates).
pub const TEMPLATE_HASH_ANNOTATION: &str = "subnet-operator.io/template-hash";
/// Kueue's queue label.
pub const KUEUE_QUEUE_LABEL: &str = "kueue.x-k8s.io/queue-name";

/// What the builders need about the fleet as a whole.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetInput<'a> {
    /// `Miner` or `Validator`.
    pub kind: &'a str,
    /// `miner` or `validator` (the `app.kubernetes.io/component` label).
    pub component: &'a str,
    /// Resource name.
    pub name: &'a str,
    /// Namespace.
    pub namespace: &'a str,
    /// Owner reference to the resource.
    pub owner: OwnerReference,
    /// The spec.
    pub spec: &'a FleetSpec,
    /// The subnet's netuid, when known.
    pub netuid: Option<u16>,
    /// The chain endpoint the pods should use (`BT_SUBTENSOR_CHAIN_ENDPOINT`).
    pub chain_endpoint: Option<String>,
    /// The network name (`BT_SUBTENSOR_NETWORK`).
    pub network: String,
}

/// What the builders need about one replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaInput {
    /// Replica index.
    pub index: u32,
    /// Name of its hotkey Secret.
    pub hotkey_secret: String,
    /// External address to advertise, when known up front (explicit, or a load balancer's).
    pub external_ip: Option<String>,
    /// External port to advertise, when known up front (explicit, node port, LB port).
    pub external_port: Option<u16>,
}

/// Name of replica `index`'s StatefulSet, pod prefix and Service.
pub fn replica_name(fleet: &str, index: u32) -> String {
    format!("{fleet}-{index}")
}

/// Name of replica `index`'s volume claim.
pub fn pvc_name(fleet: &str, index: u32) -> String {
    format!("{fleet}-data-{index}")
}

/// Labels shared by everything of a fleet.
pub fn fleet_labels(f: &FleetInput<'_>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert(labels::NAME.to_string(), f.component.to_string());
    l.insert(labels::INSTANCE.to_string(), f.name.to_string());
    l.insert(labels::COMPONENT.to_string(), f.component.to_string());
    l.insert(labels::MANAGED_BY.to_string(), labels::MANAGER.to_string());
    l
}

/// Labels selecting one replica's pod.
pub fn replica_selector(f: &FleetInput<'_>, index: u32) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert(labels::INSTANCE.to_string(), f.name.to_string());
    l.insert(labels::COMPONENT.to_string(), f.component.to_string());
    l.insert(crate::labels::REPLICA_INDEX.to_string(), index.to_string());
    l
}

/// Labels selecting all the fleet's pods.
pub fn fleet_selector(f: &FleetInput<'_>) -> BTreeMap<String, String> {
    labels::fleet_selector(f.name, f.component)
}

/// Metadata of a child object: name, namespace, labels, owner reference.
pub fn child_meta(f: &FleetInput<'_>, name: String, index: Option<u32>) -> ObjectMeta {
    let mut l = fleet_labels(f);
    if let Some(i) = index {
        l.insert(crate::labels::REPLICA_INDEX.to_string(), i.to_string());
    }
    ObjectMeta {
        name: Some(name),
        namespace: Some(f.namespace.to_string()),
        labels: Some(l),
        owner_references: Some(vec![f.owner.clone()]),
        ..Default::default()
    }
}

/// A short, stable hash of a serializable value.
pub fn hash_of<T: Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    hex::encode(&digest[..8])
}

/// Stamps `meta` with the hash of `value` (what the operator applies), so a later reconcile can
/// tell without a write whether the object is up to date.
pub fn stamp<T: Serialize>(meta: &mut ObjectMeta, value: &T) {
    let h = hash_of(value);
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(SPEC_HASH_ANNOTATION.to_string(), h);
}

/// The hash an object was stamped with.
pub fn stamped(meta: &ObjectMeta) -> Option<&str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(SPEC_HASH_ANNOTATION))
        .map(String::as_str)
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::crd::Miner;

    /// A Miner from YAML (tests only).
    pub fn miner(yaml: &str) -> Miner {
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("fixture: {e}"))
    }

    /// A fleet input for a fixture Miner.
    pub fn input<'a>(m: &'a Miner) -> FleetInput<'a> {
        FleetInput {
            kind: "Miner",
            component: "miner",
            name: m.metadata.name.as_deref().unwrap_or("m"),
            namespace: "ns",
            owner: OwnerReference {
                api_version: "subnet-operator.io/v1alpha1".into(),
                kind: "Miner".into(),
                name: m.metadata.name.clone().unwrap_or_default(),
                uid: "uid-1".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
            spec: &m.spec.fleet,
            netuid: Some(18),
            chain_endpoint: Some("wss://entrypoint-finney.opentensor.ai:443".into()),
            network: "finney".into(),
        }
    }

    /// A replica input.
    pub fn replica(index: u32) -> ReplicaInput {
        ReplicaInput {
            index,
            hotkey_secret: format!("m-hotkey-{index}"),
            external_ip: None,
            external_port: None,
        }
    }
}
