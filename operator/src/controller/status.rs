//! Pure status computation: what the operator observed → the status to write.

use k8s_openapi::jiff::Timestamp;

use super::keys::KeysObservation;
use super::validate::Problem;
use super::workloads::WorkloadObservation;
use crate::crd::common::rao_to_tao;
use crate::crd::conditions::{NewCondition, set_condition, types};
use crate::crd::fleet::{FleetSpec, FleetStatus};
use crate::crd::fleet::{ReplicaStatus, SignerStatus};
use crate::crd::subnet::{SubnetSpec, SubnetStatus};
use crate::keys::signer::SignerKind;

/// The label selector of a fleet's pods (for the scale subresource).
pub fn fleet_selector(instance: &str, component: &str) -> String {
    format!(
        "{}={instance},{}={component}",
        super::labels::INSTANCE,
        super::labels::COMPONENT
    )
}

/// What a fleet reconcile observed.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FleetObservation {
    /// The first problem found, if any.
    pub problem: Option<Problem>,
    /// The referenced Subnet's status, if it exists.
    pub subnet: Option<SubnetStatus>,
    /// The coldkey's SS58 address (from the spec or its `coldkeypub.txt`).
    pub coldkey_ss58: Option<String>,
    /// The referenced Subnet's spec, if it exists.
    pub subnet_spec: Option<SubnetSpec>,
    /// Hotkeys and signer, once references resolved.
    pub keys: Option<KeysObservation>,
    /// Workloads, once references resolved.
    pub workloads: Option<WorkloadObservation>,
}

/// Computes a fleet's status from the previous one. Conditions keep their
/// `lastTransitionTime` while their status is unchanged, so an unchanged world yields an equal
/// status (and no write).
pub fn fleet(
    previous: Option<&FleetStatus>,
    spec: &FleetSpec,
    generation: Option<i64>,
    selector: String,
    observed: &FleetObservation,
    now: Timestamp,
) -> FleetStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.observed_generation = generation;
    status.selector = Some(selector);
    status.gpus = spec
        .gpu
        .as_ref()
        .map(|g| i64::from(g.count) * i64::from(spec.replicas.max(0)))
        .unwrap_or(0);
    status.registration_price_tao = observed
        .subnet
        .as_ref()
        .and_then(|s| s.registration_price_tao.clone());
    if let Some(keys) = &observed.keys {
        status.replica_statuses = replica_statuses(&status.replica_statuses, keys);
        status.registration_signer = keys.signer.as_ref().map(|(kind, ss58)| SignerStatus {
            kind: match kind {
                SignerKind::Proxy => "Proxy".to_string(),
                SignerKind::Coldkey => "Coldkey".to_string(),
            },
            ss58: ss58.clone(),
        });
    }
    let want = spec.replicas.max(0);
    let mut progressing = None;
    let mut degraded = None;
    if let Some(w) = &observed.workloads {
        for r in &mut status.replica_statuses {
            if let Some(o) = w.replicas.get(&r.index) {
                r.pod = o.pod.clone();
                r.phase = Some(o.phase.clone());
                r.message = o.message.clone();
                r.axon_exposed = o.axon.clone();
            }
        }
        status.replicas = i32::try_from(
            w.replicas
                .values()
                .filter(|r| r.phase != "WaitingForHotkey")
                .count(),
        )
        .unwrap_or(i32::MAX);
        status.ready_replicas =
            i32::try_from(w.replicas.values().filter(|r| r.ready).count()).unwrap_or(i32::MAX);
        let stuck: Vec<String> = w
            .replicas
            .iter()
            .filter(|(_, r)| r.unschedulable)
            .map(|(i, r)| format!("replica {i}: {}", r.message.clone().unwrap_or_default()))
            .collect();
        degraded = Some(if stuck.is_empty() {
            NewCondition {
                type_: types::DEGRADED,
                status: false,
                reason: "AsExpected",
                message: "every replica can be scheduled".to_string(),
            }
        } else {
            NewCondition {
                type_: types::DEGRADED,
                status: true,
                reason: "Unschedulable",
                message: stuck.join("; "),
            }
        });
        progressing = Some(if w.canary_waiting {
            NewCondition {
                type_: types::PROGRESSING,
                status: true,
                reason: "CanaryWaiting",
                message: "the canary runs the new template; set updateStrategy.canary.promoted: true to roll it out to the rest".to_string(),
            }
        } else if !w.outdated.is_empty() {
            NewCondition {
                type_: types::PROGRESSING,
                status: true,
                reason: "RollingUpdate",
                message: format!(
                    "{} replica(s) wait for the new template, one at a time",
                    w.outdated.len()
                ),
            }
        } else if status.ready_replicas < want {
            NewCondition {
                type_: types::PROGRESSING,
                status: true,
                reason: "ReplicasStarting",
                message: format!("{}/{want} replicas ready", status.ready_replicas),
            }
        } else {
            NewCondition {
                type_: types::PROGRESSING,
                status: false,
                reason: "Stable",
                message: "all replicas run the current template".to_string(),
            }
        });
    }
    let ready = match &observed.problem {
        Some(p) => NewCondition {
            type_: types::READY,
            status: false,
            reason: p.reason(),
            message: p.to_string(),
        },
        None if want == 0 => NewCondition {
            type_: types::READY,
            status: true,
            reason: "ScaledToZero",
            message: "no replicas requested".to_string(),
        },
        None if status.ready_replicas >= want => NewCondition {
            type_: types::READY,
            status: true,
            reason: "AllReplicasReady",
            message: format!("{want}/{want} replicas ready"),
        },
        None => {
            let why: Vec<String> = status
                .replica_statuses
                .iter()
                .filter(|r| r.phase.as_deref() != Some("Ready"))
                .filter_map(|r| {
                    Some(format!(
                        "replica {}: {}",
                        r.index,
                        r.message.clone().or(r.phase.clone())?
                    ))
                })
                .take(3)
                .collect();
            NewCondition {
                type_: types::READY,
                status: false,
                reason: "ReplicasNotReady",
                message: format!(
                    "{}/{want} replicas ready{}{}",
                    status.ready_replicas,
                    if why.is_empty() { "" } else { "; " },
                    why.join("; ")
                ),
            }
        }
    };
    if let Some(c) = progressing {
        set_condition(&mut status.conditions, c, generation, now);
    }
    if let Some(c) = degraded {
        set_condition(&mut status.conditions, c, generation, now);
    }
    set_condition(&mut status.conditions, ready, generation, now);
    status
}

/// One entry per wanted replica that has a hotkey, keeping what earlier reconciles recorded for
/// the same index and hotkey.
fn replica_statuses(previous: &[ReplicaStatus], keys: &KeysObservation) -> Vec<ReplicaStatus> {
    keys.hotkeys
        .iter()
        .map(|(&index, h)| {
            let mut r = previous
                .iter()
                .find(|r| r.index == index && r.hotkey.as_deref() == Some(h.ss58.as_str()))
                .cloned()
                .unwrap_or_default();
            r.index = index;
            r.hotkey = Some(h.ss58.clone());
            r.secret_name = Some(h.secret_name.clone());
            r
        })
        .collect()
}

/// Computes a Subnet's status from the previous one.
pub fn subnet(
    previous: Option<&SubnetStatus>,
    spec: &SubnetSpec,
    generation: Option<i64>,
    problem: Option<&Problem>,
    now: Timestamp,
) -> SubnetStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.observed_generation = generation;
    if spec.netuid.is_some() {
        status.netuid = spec.netuid;
    }
    if let Some(p) = status.registration_price_rao {
        status.registration_price_tao = Some(rao_to_tao(p));
    }
    let ready = match problem {
        Some(p) => NewCondition {
            type_: types::READY,
            status: false,
            reason: p.reason(),
            message: p.to_string(),
        },
        None => NewCondition {
            type_: types::READY,
            status: false,
            reason: "ChainNotConnected",
            message: "spec is valid; this operator version does not connect to chains yet"
                .to_string(),
        },
    };
    set_condition(&mut status.conditions, ready, generation, now);
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::Miner;
    use crate::crd::conditions::find;

    fn spec() -> FleetSpec {
        let m: Miner = serde_yaml::from_str(
            r#"
apiVersion: subnet-operator.io/v1alpha1
kind: Miner
metadata: {name: m, namespace: ns}
spec:
  subnetRef: {name: sn}
  replicas: 3
  wallet: {coldkeyPub: {ss58: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY}}
  template: {image: miner:1}
  gpu: {count: 2}
"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        m.spec.fleet
    }

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn missing_subnet_makes_ready_false_with_reason() {
        let obs = FleetObservation {
            problem: Some(Problem::SubnetNotFound("sn".into())),
            subnet: None,
            ..Default::default()
        };
        let s = fleet(
            None,
            &spec(),
            Some(4),
            fleet_selector("m", "miner"),
            &obs,
            t(10),
        );
        let ready = find(&s.conditions, "Ready")
            .cloned()
            .expect("Ready condition");
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason, "SubnetNotFound");
        assert_eq!(ready.message, "Subnet sn not found in this namespace");
        assert_eq!(s.observed_generation, Some(4));
        assert_eq!(s.gpus, 6);
        assert_eq!(
            s.selector.as_deref(),
            Some("app.kubernetes.io/instance=m,app.kubernetes.io/component=miner")
        );
    }

    #[test]
    fn same_observation_gives_an_equal_status() {
        let obs = FleetObservation {
            problem: Some(Problem::SubnetNotFound("sn".into())),
            subnet: None,
            ..Default::default()
        };
        let sel = || fleet_selector("m", "miner");
        let first = fleet(None, &spec(), Some(1), sel(), &obs, t(10));
        let second = fleet(Some(&first), &spec(), Some(1), sel(), &obs, t(99));
        assert_eq!(first, second, "nothing changed, so nothing must be written");
    }

    #[test]
    fn resolving_the_problem_flips_the_reason_and_keeps_honest_status() {
        let bad = FleetObservation {
            problem: Some(Problem::SubnetNotFound("sn".into())),
            subnet: None,
            ..Default::default()
        };
        let first = fleet(
            None,
            &spec(),
            Some(1),
            fleet_selector("m", "miner"),
            &bad,
            t(10),
        );
        let good = FleetObservation {
            problem: None,
            subnet: Some(SubnetStatus {
                registration_price_tao: Some("0.1".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let second = fleet(
            Some(&first),
            &spec(),
            Some(1),
            fleet_selector("m", "miner"),
            &good,
            t(20),
        );
        let ready = find(&second.conditions, "Ready")
            .cloned()
            .expect("Ready condition");
        assert_eq!(ready.reason, "ReplicasNotReady");
        assert_eq!(ready.message, "0/3 replicas ready");
        assert_eq!(ready.status, "False");
        // Status False → False: the transition time stays.
        assert_eq!(ready.last_transition_time.0, t(10));
        assert_eq!(second.registration_price_tao.as_deref(), Some("0.1"));
        assert_eq!(second.replicas, 0, "no replica exists yet");
    }
}
