//! The `Miner` kind.

// The printcolumn(...) arguments repeat `type_ = ...` by design; clippy reads them as duplicates.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{DNS1035_LABEL_PATTERN, MAX_FLEET_NAME};
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
    validation = Rule::new(format!("self.metadata.name.matches('{DNS1035_LABEL_PATTERN}')")).message("metadata.name must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter and ending with a letter or digit): replicas' StatefulSets and NodePort Services are named <name>-<index>"),
    validation = Rule::new(format!("size(self.metadata.name) <= {MAX_FLEET_NAME}")).message("metadata.name must be at most 40 characters: replicas' StatefulSets are named <name>-<index>, and their controller-revision-hash label overflows 63 characters from about 48"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::fleet::RegistrationMode;
    use kube::CustomResourceExt;

    const SS58: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

    /// A Miner; `spec_extra` (YAML lines of the spec) may replace the default template.
    fn miner(name: &str, spec_extra: &str, wallet_extra: &str) -> Miner {
        let template = if spec_extra.contains("template:") {
            ""
        } else {
            "  template: {image: 'miner:1'}\n"
        };
        let yaml = format!(
            "apiVersion: subnet-operator.io/v1alpha1\nkind: Miner\nmetadata: {{name: {name}}}\nspec:\n  subnetRef: {{name: sn}}\n  wallet: {{coldkeyPub: {{ss58: {SS58}}}{wallet_extra}}}\n{template}{spec_extra}\n"
        );
        serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    fn cel_errors(m: &Miner) -> Vec<String> {
        match m.validate_cel() {
            Ok(()) => vec![],
            Err(e) => e.as_slice().iter().map(|e| e.message.clone()).collect(),
        }
    }

    #[test]
    fn empty_registration_means_manual() {
        let m = miner("m", "  registration: {}", "");
        assert_eq!(m.spec.fleet.registration.mode, RegistrationMode::Manual);
        let m = miner("m", "", "");
        assert_eq!(m.spec.fleet.registration.mode, RegistrationMode::Manual);
        let m = miner(
            "m",
            "  registration: {mode: Burn, maxPriceTao: '1', dryRun: true}",
            "",
        );
        assert_eq!(m.spec.fleet.registration.mode, RegistrationMode::Burn);
        // The schema defaults the apiserver applies agree with serde's.
        let crd = serde_json::to_value(Miner::crd()).unwrap_or_default();
        let reg = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            ["registration"];
        assert_eq!(reg["default"]["mode"], "Manual", "{reg}");
        assert_eq!(reg["properties"]["mode"]["default"], "Manual", "{reg}");
    }

    #[test]
    fn careless_values_break_their_cel_rules() {
        let burn = "  registration: {mode: Burn, dryRun: true, maxPriceTao: ";
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "m",
                &format!("{burn}'0'}}"),
                "",
                "a zero price can never be met",
            ),
            (
                "m",
                &format!("{burn}'0.000'}}"),
                "",
                "a zero price can never be met",
            ),
            (
                "m",
                &format!("{burn}'100000000'}}"),
                "",
                "at most 8 integer digits",
            ),
            ("m", "", ", path: /tmp/w", "wallet.path must not be /tmp"),
            ("m", "", ", path: /var/../w", "'.' or '..' segments"),
            ("m", "", ", path: /", "wallet.path must be '/'-separated"),
            (
                "m",
                "  storage: {size: 1Gi, mountPath: /var/run/bittensor/wallets/x}",
                "",
                "storage.mountPath must not be wallet.path",
            ),
            (
                "m",
                "  storage: {size: '0'}",
                "",
                "storage.size must be a positive",
            ),
            ("m", "  axon: {externalIp: 0.0.0.0}", "", "axon.externalIp"),
            ("m", "  axon: {externalIp: '::1'}", "", "axon.externalIp"),
            (
                "m",
                "  gpu: {count: 0, minComputeMajor: 8}",
                "",
                "gpu.count 0",
            ),
            (
                "m",
                "  template: {image: 'miner:1', automountServiceAccountToken: true}",
                "",
                "automountServiceAccountToken must be false",
            ),
            (
                "m",
                "  template: {image: 'miner:1', labels: {app.kubernetes.io/name: x}}",
                "",
                "template.labels must not set keys",
            ),
            (
                "m",
                "",
                ", hotkeys: {imports: [{index: 0, secretRef: {name: a}}, {index: 1, secretRef: {name: a, key: mnemonic}}]}",
                "same Secret name and key",
            ),
            ("My.Miner", "", "", "DNS-1035 label"),
            (&"m".repeat(41), "", "", "at most 40 characters"),
        ];
        for (name, spec, wallet, want) in cases {
            let errors = cel_errors(&miner(name, spec, wallet));
            assert!(
                errors.iter().any(|e| e.contains(want)),
                "{name} {spec} {wallet}: expected {want:?} in {errors:?}"
            );
        }
    }

    #[test]
    fn careful_values_pass_the_cel_rules() {
        for (name, spec, wallet) in [
            (&*"m".repeat(40), "", ""),
            (
                "m",
                "  registration: {mode: Burn, dryRun: true, maxPriceTao: '0.000000001'}",
                "",
            ),
            (
                "m",
                "  storage: {size: 1Gi, mountPath: /data}",
                ", path: /root/.bittensor/wallets",
            ),
            (
                "m",
                "  axon: {exposure: HostPort, externalIp: 203.0.113.7}",
                "",
            ),
            (
                "m",
                "",
                ", hotkeys: {imports: [{index: 0, secretRef: {name: a}}, {index: 1, secretRef: {name: a}, format: Keyfile}]}",
            ),
        ] {
            let errors = cel_errors(&miner(name, spec, wallet));
            assert!(errors.is_empty(), "{name} {spec} {wallet}: {errors:?}");
        }
    }
}
