//! The label keys the operator puts on what it creates, defined once for every module
//! (`crd/`, `keys/`, `controller/`).

/// `app.kubernetes.io/name`: always `subnet-operator`'s workload name (`miner`/`validator`).
pub const NAME: &str = "app.kubernetes.io/name";
/// `app.kubernetes.io/instance`: the owning resource's name.
pub const INSTANCE: &str = "app.kubernetes.io/instance";
/// `app.kubernetes.io/component`: `miner`, `validator`, `hotkey`, `localnet`.
pub const COMPONENT: &str = "app.kubernetes.io/component";
/// `app.kubernetes.io/managed-by`: `subnet-operator`.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY`].
pub const MANAGER: &str = "subnet-operator";
/// A replica's index, on its workloads and on its hotkey Secret.
pub const REPLICA_INDEX: &str = "subnet-operator.io/replica-index";

/// The labels selecting all the pods of fleet `instance` of `component` (`miner`, `validator`).
pub fn fleet_selector(
    instance: &str,
    component: &str,
) -> std::collections::BTreeMap<String, String> {
    std::collections::BTreeMap::from([
        (INSTANCE.to_string(), instance.to_string()),
        (COMPONENT.to_string(), component.to_string()),
    ])
}

/// [`fleet_selector`] as a selector string (`instance=…,component=…`), as the scale
/// subresource shows it.
pub fn fleet_selector_string(instance: &str, component: &str) -> String {
    format!("{INSTANCE}={instance},{COMPONENT}={component}")
}
