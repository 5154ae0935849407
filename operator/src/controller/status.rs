//! Pure status computation: what the operator observed → the status to write.

use k8s_openapi::jiff::Timestamp;

use super::diagnosis;
use super::keys::KeysObservation;
use super::registration::RegistrationObservation;
use super::validate::Problem;
use super::validators::ValidatorObservation;
use super::workloads::WorkloadObservation;
use crate::chain::{ChainHead, SubnetSnapshot};
use crate::crd::common::rao_to_tao;
use crate::crd::conditions::{NewCondition, set_condition, types};
use crate::crd::fleet::{FleetSpec, FleetStatus};
use crate::crd::fleet::{ReplicaPhase, ReplicaStatus, SignerStatus};
use crate::crd::subnet::{SubnetSpec, SubnetStatus};
use crate::keys::signer::SignerKind;

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
    /// Registration, when a chain is configured.
    pub registration: Option<RegistrationObservation>,
    /// Validators: permit and weight freshness.
    pub validators: Option<ValidatorObservation>,
    /// Localnet validators' self-stakes made by this reconcile: (replica, block).
    pub self_staked: Vec<(u32, u64)>,
}

/// Drops a `Degraded` condition that reported a failed reconcile (its reason is a step of
/// [`super::Error`]): this status is computed by a reconcile that got through.
fn clear_failure(conditions: &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>) {
    conditions.retain(|c| {
        !(c.type_ == types::DEGRADED && super::context::Error::LABELS.contains(&c.reason.as_str()))
    });
}

/// Computes a fleet's status from the previous one and what this reconcile observed and did:
/// the registration step's record (the chain's part, when a chain is configured) replaces the
/// previous status as the base. Conditions keep their `lastTransitionTime` while their status is
/// unchanged, so an unchanged world yields an equal status (and no write).
pub fn fleet(
    previous: Option<&FleetStatus>,
    spec: &FleetSpec,
    generation: Option<i64>,
    selector: String,
    observed: &FleetObservation,
    now: Timestamp,
) -> FleetStatus {
    let mut status = match &observed.registration {
        Some(r) => r.record.clone(),
        None => previous.cloned().unwrap_or_default(),
    };
    clear_failure(&mut status.conditions);
    if observed.keys.is_some() {
        status.coldkey.clone_from(&observed.coldkey_ss58);
    }
    for &(i, block) in &observed.self_staked {
        if let Some(r) = status.replica_statuses.iter_mut().find(|r| r.index == i) {
            r.self_staked_at_block = Some(block);
        }
    }
    if let Some(v) = &observed.validators {
        v.record(&mut status);
    }
    status.observed_generation = generation;
    status.selector = Some(selector);
    status.gpus = spec
        .gpu
        .as_ref()
        .map(|g| i64::from(g.count) * i64::from(spec.replicas.max(0)))
        .unwrap_or(0);
    // The Subnet's price (refreshed every few seconds), not the per-block snapshot, so that a
    // fleet's status does not change on every block.
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
        status.canary = w.canary.clone();
        for r in &mut status.replica_statuses {
            if let Some(o) = w.replicas.get(&r.index) {
                r.pod = o.pod.clone();
                r.phase = Some(o.phase);
                r.message = o.message.clone();
                r.axon_exposed = o.axon.clone();
            }
        }
        status.replicas = i32::try_from(
            w.replicas
                .values()
                .filter(|r| r.phase != ReplicaPhase::WaitingForHotkey)
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
        progressing = Some(
            if let Some(index) = w.canary_missing.filter(|_| !w.outdated.is_empty()) {
                NewCondition {
                    type_: types::PROGRESSING,
                    status: true,
                    reason: "CanaryNotAReplica",
                    message: format!(
                        "updateStrategy.canary.index {index} is not a replica of this fleet ({} replicas): the new template waits; point the canary at an existing index or set promoted: true",
                        spec.replicas
                    ),
                }
            } else if w.canary_waiting {
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
            },
        );
    }
    for r in &mut status.replica_statuses {
        r.axon_drift = match (&r.axon_on_chain, &r.axon_exposed) {
            (Some(on_chain), Some(exposed)) => Some(on_chain != exposed),
            _ => None,
        };
    }
    // Once the subnet was read: why each replica earns or not.
    let chain_read = observed
        .registration
        .as_ref()
        .is_some_and(|r| r.price_guard.is_some());
    for r in &mut status.replica_statuses {
        r.diagnosis = chain_read.then(|| diagnosis::diagnose(r));
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
        None if status.ready_replicas >= want
            && observed
                .registration
                .as_ref()
                .is_some_and(|r| r.registered < r.wanted && r.waiting.is_some()) =>
        {
            let (reason, message) = observed
                .registration
                .as_ref()
                .and_then(|r| r.waiting.clone())
                .map(|(r, m)| (r.as_str(), m))
                .unwrap_or(("Registering", String::new()));
            NewCondition {
                type_: types::READY,
                status: false,
                reason,
                message: format!("{want}/{want} replicas ready but not all registered: {message}"),
            }
        }
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
                .filter(|r| r.phase != Some(ReplicaPhase::Ready))
                .filter_map(|r| {
                    Some(format!(
                        "replica {}: {}",
                        r.index,
                        r.message.clone().or(r.phase.map(|p| p.to_string()))?
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
    if let Some(r) = &observed.registration {
        let all = r.wanted > 0 && r.registered >= r.wanted;
        let (reason, message) = if all {
            (
                "AllRegistered",
                format!("{}/{} replicas registered", r.registered, r.wanted),
            )
        } else {
            let (reason, why) = r
                .waiting
                .clone()
                .map(|(r, m)| (r.as_str(), m))
                .unwrap_or(("Registering", String::new()));
            (
                reason,
                format!(
                    "{}/{} replicas registered{}{}",
                    r.registered,
                    r.wanted,
                    if why.is_empty() { "" } else { ": " },
                    why
                ),
            )
        };
        set_condition(
            &mut status.conditions,
            NewCondition {
                type_: types::REGISTERED,
                status: all,
                reason,
                message,
            },
            generation,
            now,
        );
        if let Some(g) = r.price_guard {
            status.price_guard = Some(g.as_str().to_string());
            set_condition(
                &mut status.conditions,
                price_guard_condition(g),
                generation,
                now,
            );
        }
        set_condition(
            &mut status.conditions,
            NewCondition {
                type_: types::BUDGET_EXHAUSTED,
                status: r.budget_exhausted,
                reason: if r.budget_exhausted {
                    "BudgetSpent"
                } else {
                    "WithinBudget"
                },
                message: status
                    .spend
                    .as_ref()
                    .map(|s| format!("{} TAO spent in this window", s.spent_tao))
                    .unwrap_or_default(),
            },
            generation,
            now,
        );
        set_condition(
            &mut status.conditions,
            NewCondition {
                type_: types::DEREGISTERED,
                status: !r.deregistered.is_empty(),
                reason: if r.deregistered.is_empty() {
                    "AllHaveUids"
                } else {
                    "UidLost"
                },
                message: if r.deregistered.is_empty() {
                    "no replica lost its UID".to_string()
                } else {
                    format!(
                        "replicas {:?} lost their UID; registration.reRegister: {:?}",
                        r.deregistered, spec.registration.re_register
                    )
                },
            },
            generation,
            now,
        );
        if chain_read {
            let risk = spec.registration.risk_registrations;
            for c in [
                diagnosis::at_risk_condition(&status.replica_statuses, risk),
                diagnosis::earning_condition(&status.replica_statuses),
            ] {
                set_condition(&mut status.conditions, c, generation, now);
            }
        }
    }
    if let Some(v) = &observed.validators {
        for c in [&v.permitted, &v.fresh] {
            set_condition(
                &mut status.conditions,
                NewCondition {
                    type_: c.type_,
                    status: c.status,
                    reason: c.reason,
                    message: c.message.clone(),
                },
                generation,
                now,
            );
        }
    }
    if let Some(c) = progressing {
        set_condition(&mut status.conditions, c, generation, now);
    }
    if let Some(c) = degraded {
        set_condition(&mut status.conditions, c, generation, now);
    }
    set_condition(&mut status.conditions, ready, generation, now);
    diagnosis::settle_countdowns(previous, &mut status);
    status
}

/// The `PriceGuard` condition: who keeps registrations under `maxPriceTao`.
pub fn price_guard_condition(g: crate::chain::PriceGuard) -> NewCondition<'static> {
    match g {
        crate::chain::PriceGuard::Chain => NewCondition {
            type_: types::PRICE_GUARD,
            status: true,
            reason: "Chain",
            message: "the chain enforces maxPriceTao: register_limit fails above it and burns nothing".to_string(),
        },
        crate::chain::PriceGuard::Client => NewCondition {
            type_: types::PRICE_GUARD,
            status: false,
            reason: "Client",
            message: "this runtime has no register_limit: burned_register charges the burn at inclusion, whatever it is then; the operator re-reads it at the best block just before sending, but a registration by someone else in between can still raise it (see docs/concepts.md, Price guard)".to_string(),
        },
    }
}

/// One entry per wanted replica that has a hotkey, keeping what earlier reconciles recorded for
/// the same index and hotkey.
fn replica_statuses(previous: &[ReplicaStatus], keys: &KeysObservation) -> Vec<ReplicaStatus> {
    // A replica scaled away while a registration was in flight keeps its entry (and intent)
    // until the chain has answered, so that a burn is never unaccounted for.
    let in_flight = previous
        .iter()
        .filter(|r| r.pending_registration.is_some() && !keys.hotkeys.contains_key(&r.index))
        .cloned();
    let mut out: Vec<ReplicaStatus> = keys
        .hotkeys
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
        .collect();
    out.extend(in_flight);
    out.sort_by_key(|r| r.index);
    out
}

/// What the chain cache knows about a Subnet.
#[derive(Clone, Debug)]
pub struct ChainView {
    /// The chain client's description.
    pub endpoint: String,
    /// The head, or the last error.
    pub head: Result<Option<ChainHead>, String>,
    /// The subnet: `None` not read yet, `Some(None)` absent on chain.
    pub snapshot: Option<Option<std::sync::Arc<SubnetSnapshot>>>,
    /// What the chain's genesis says of the Subnet's network (`None`: not checked).
    pub genesis: Option<crate::chain::network::GenesisCheck>,
}

/// Computes a Subnet's status from the previous one.
pub fn subnet(
    previous: Option<&SubnetStatus>,
    spec: &SubnetSpec,
    generation: Option<i64>,
    problem: Option<&Problem>,
    chain: Option<&ChainView>,
    now: Timestamp,
) -> SubnetStatus {
    let mut status = previous.cloned().unwrap_or_default();
    clear_failure(&mut status.conditions);
    status.observed_generation = generation;
    if spec.netuid.is_some() {
        status.netuid = spec.netuid;
    }
    let ready = match (problem, chain) {
        (Some(p), _) => NewCondition {
            type_: types::READY,
            status: false,
            reason: p.reason(),
            message: p.to_string(),
        },
        (None, None) => NewCondition {
            type_: types::READY,
            status: false,
            reason: "ChainNotConnected",
            message:
                "spec is valid; the operator runs without a chain client (--chain-backend none)"
                    .to_string(),
        },
        (None, Some(view)) => {
            status.endpoint = Some(view.endpoint.clone());
            let wrong = view.genesis.as_ref().and_then(|g| g.problem());
            let reachable = match &view.head {
                Ok(Some(_)) if let Some((reason, message)) = &wrong => NewCondition {
                    type_: types::CHAIN_REACHABLE,
                    status: false,
                    reason,
                    message: message.clone(),
                },
                Ok(Some(h)) => {
                    status.genesis_hash = Some(h.genesis_hash.clone());
                    status.runtime_spec_version = Some(h.spec_version);
                    status.best_block = Some(h.best);
                    status.finalized_block = Some(h.finalized);
                    NewCondition {
                        type_: types::CHAIN_REACHABLE,
                        status: true,
                        reason: "Connected",
                        message: format!("following {}", view.endpoint),
                    }
                }
                Ok(None) => NewCondition {
                    type_: types::CHAIN_REACHABLE,
                    status: false,
                    reason: "Connecting",
                    message: format!("no block read yet from {}", view.endpoint),
                },
                Err(e) => NewCondition {
                    type_: types::CHAIN_REACHABLE,
                    status: false,
                    reason: "Unreachable",
                    message: e.clone(),
                },
            };
            let connected = reachable.status;
            set_condition(&mut status.conditions, reachable, generation, now);
            match (&view.snapshot, connected) {
                (_, false) if let Some((reason, message)) = wrong => NewCondition {
                    type_: types::READY,
                    status: false,
                    reason,
                    message,
                },
                (Some(Some(s)), true) => {
                    status.registration_price_rao = Some(s.burn);
                    status.registration_price_tao = Some(rao_to_tao(s.burn));
                    status.tempo = Some(s.tempo);
                    let used = u16::try_from(s.neurons.len()).unwrap_or(u16::MAX);
                    status.uids_used = Some(used);
                    status.max_uids = Some(s.max_uids);
                    status.uids = Some(format!("{used}/{}", s.max_uids));
                    status.immunity_period = Some(s.immunity_period);
                    status.registration_open = Some(s.registration_allowed && s.started);
                    NewCondition {
                        type_: types::READY,
                        status: true,
                        reason: "SubnetFound",
                        message: format!("subnet {} at block {}", s.netuid, s.block),
                    }
                }
                (Some(None), true) => NewCondition {
                    type_: types::READY,
                    status: false,
                    reason: "SubnetNotOnChain",
                    message: match status.netuid {
                        Some(n) => format!("netuid {n} does not exist on the chain"),
                        None => "the subnet does not exist on the chain".to_string(),
                    },
                },
                _ => NewCondition {
                    type_: types::READY,
                    status: false,
                    reason: "WaitingForChain",
                    message: "the subnet has not been read from the chain yet".to_string(),
                },
            }
        }
    };
    set_condition(&mut status.conditions, ready, generation, now);
    status
}

/// Folds a localnet scaffold's report into a Subnet's status: the `Scaffolded` condition, and
/// `Ready=False` with the scaffold's reason until it is complete.
pub fn apply_scaffold(
    status: &mut SubnetStatus,
    report: &super::localnet::ScaffoldReport,
    generation: Option<i64>,
    now: Timestamp,
) {
    set_condition(
        &mut status.conditions,
        NewCondition {
            type_: types::SCAFFOLDED,
            status: report.complete,
            reason: report.reason,
            message: report.message.clone(),
        },
        generation,
        now,
    );
    if !report.complete {
        set_condition(
            &mut status.conditions,
            NewCondition {
                type_: types::READY,
                status: false,
                reason: report.reason,
                message: report.message.clone(),
            },
            generation,
            now,
        );
    }
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
    fn a_chain_with_another_genesis_makes_the_subnet_wrong_network_and_keeps_its_record() {
        use crate::chain::network::{GenesisCheck, TEST_GENESIS};
        let spec: SubnetSpec =
            serde_yaml::from_str("{network: test, netuid: 3}").unwrap_or_else(|e| panic!("{e}"));
        let previous = SubnetStatus {
            genesis_hash: Some(TEST_GENESIS.into()),
            ..Default::default()
        };
        let head = ChainHead {
            best: 9,
            finalized: 9,
            genesis_hash: "0xother".into(),
            first_block_hash: None,
            spec_version: 218,
        };
        let view = ChainView {
            endpoint: "ws://elsewhere:9944".into(),
            head: Ok(Some(head)),
            snapshot: None,
            genesis: Some(GenesisCheck::WrongNetwork {
                expected: TEST_GENESIS.into(),
                got: "0xother".into(),
            }),
        };
        let s = subnet(Some(&previous), &spec, Some(1), None, Some(&view), t(1));
        for type_ in [types::READY, types::CHAIN_REACHABLE] {
            let c = find(&s.conditions, type_).unwrap_or_else(|| panic!("no {type_}"));
            assert_eq!(
                (c.status.as_str(), c.reason.as_str()),
                ("False", "WrongNetwork")
            );
            assert!(c.message.contains("0xother") && c.message.contains(TEST_GENESIS));
        }
        // What the Subnet saw of its own network stays; no block of the other chain is shown.
        assert_eq!(s.genesis_hash.as_deref(), Some(TEST_GENESIS));
        assert_eq!(s.best_block, None);
        assert_eq!(s.endpoint.as_deref(), Some("ws://elsewhere:9944"));
        // The same chain, checked and matching, is followed.
        let right = ChainView {
            genesis: Some(GenesisCheck::Matches),
            ..view
        };
        let s = subnet(Some(&previous), &spec, Some(1), None, Some(&right), t(2));
        let c = find(&s.conditions, types::CHAIN_REACHABLE).unwrap_or_else(|| panic!("none"));
        assert_eq!(c.reason, "Connected");
        assert_eq!(s.best_block, Some(9));
    }

    #[test]
    fn the_status_is_built_from_the_registration_record_and_what_the_steps_decided() {
        use super::super::keys::HotkeyRef;
        use super::super::registration::RegistrationObservation;
        use super::super::validators::{Verdict, WeightsRecord};
        use crate::crd::fleet::ReplicaStatus;
        let hotkey = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
        let replica = |registered: bool| ReplicaStatus {
            index: 0,
            hotkey: Some(hotkey.into()),
            secret_name: Some("m-hotkey-0".into()),
            registered,
            ..Default::default()
        };
        // The object's status says unregistered; the registration step's record says the
        // chain registered replica 0 (an intent resolved): the record wins.
        let previous = FleetStatus {
            replica_statuses: vec![replica(false)],
            ..Default::default()
        };
        let record = FleetStatus {
            replica_statuses: vec![replica(true)],
            chain_genesis: Some("0xabc".into()),
            ..Default::default()
        };
        let verdict = Verdict {
            type_: "Permitted",
            status: true,
            reason: "Permitted",
            message: "1 replica(s) hold a validator permit".into(),
        };
        let obs = FleetObservation {
            coldkey_ss58: Some("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".into()),
            keys: Some(KeysObservation {
                hotkeys: [(
                    0,
                    HotkeyRef {
                        ss58: hotkey.into(),
                        secret_name: "m-hotkey-0".into(),
                    },
                )]
                .into(),
                signer: None,
                signer_cache_key: None,
                problem: None,
            }),
            registration: Some(RegistrationObservation {
                record,
                registered: 1,
                wanted: 1,
                ..Default::default()
            }),
            self_staked: vec![(0, 42)],
            validators: Some(ValidatorObservation {
                permitted: verdict.clone(),
                fresh: Verdict {
                    type_: "WeightsFresh",
                    ..verdict
                },
                restart: vec![(0, "m-0-0".into())],
                permitted_replicas: 1,
                total_stake_tao: "100".into(),
                oldest_weights_block: Some(7),
                replicas: vec![WeightsRecord {
                    index: 0,
                    blocks_since_weights: Some(360),
                    weights_restarts: vec!["2026-12-01T00:00:00Z".into()],
                    weights_restart_block: Some(400),
                }],
            }),
            ..Default::default()
        };
        let s = fleet(Some(&previous), &spec(), Some(1), "sel".into(), &obs, t(0));
        let r = &s.replica_statuses[0];
        assert!(r.registered, "the registration record is the base");
        assert_eq!(s.chain_genesis.as_deref(), Some("0xabc"));
        assert_eq!(s.coldkey, obs.coldkey_ss58);
        assert_eq!(r.self_staked_at_block, Some(42));
        assert_eq!(
            (r.blocks_since_weights, r.weights_restart_block),
            (Some(360), Some(400))
        );
        assert_eq!(r.weights_restarts.len(), 1);
        assert_eq!(
            (s.permitted_replicas, s.total_stake_tao.as_deref()),
            (Some(1), Some("100"))
        );
        assert_eq!(s.oldest_weights_block, Some(7));
        // The previous status itself is untouched (it is only read).
        assert!(!previous.replica_statuses[0].registered);
    }

    #[test]
    fn a_reconcile_that_gets_through_clears_the_reported_failure() {
        let failed = |reason: &str| {
            let mut c = vec![];
            set_condition(
                &mut c,
                NewCondition {
                    type_: types::DEGRADED,
                    status: true,
                    reason,
                    message: "applying StatefulSet m-0: refused".into(),
                },
                Some(1),
                t(10),
            );
            c
        };
        let sn: crate::crd::Subnet = serde_yaml::from_str(
            "{apiVersion: subnet-operator.io/v1alpha1, kind: Subnet, metadata: {name: sn}, spec: {network: finney, netuid: 7}}",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let previous = SubnetStatus {
            conditions: failed("ApplyChild"),
            ..Default::default()
        };
        let s = subnet(Some(&previous), &sn.spec, Some(1), None, None, t(20));
        assert!(
            find(&s.conditions, types::DEGRADED).is_none(),
            "{:?}",
            s.conditions
        );
        let previous = FleetStatus {
            conditions: failed("ApplyChild"),
            ..Default::default()
        };
        let obs = FleetObservation {
            problem: Some(Problem::SubnetNotFound("sn".into())),
            ..Default::default()
        };
        let f = fleet(Some(&previous), &spec(), Some(1), "s".into(), &obs, t(20));
        assert!(
            find(&f.conditions, types::DEGRADED).is_none(),
            "{:?}",
            f.conditions
        );
        // A Degraded the status computes itself (scheduling) is not a reported failure.
        let previous = FleetStatus {
            conditions: failed("Unschedulable"),
            ..Default::default()
        };
        let f = fleet(Some(&previous), &spec(), Some(1), "s".into(), &obs, t(20));
        assert!(find(&f.conditions, types::DEGRADED).is_some());
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
            crate::labels::fleet_selector_string("m", "miner"),
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
    fn axon_drift_compares_chain_and_exposure() {
        use crate::crd::fleet::{AxonAddress, ReplicaStatus};
        let addr = |ip: &str| AxonAddress {
            ip: ip.into(),
            port: 8091,
        };
        let previous = FleetStatus {
            replica_statuses: vec![
                ReplicaStatus {
                    index: 0,
                    axon_on_chain: Some(addr("1.2.3.4")),
                    axon_exposed: Some(addr("1.2.3.4")),
                    ..Default::default()
                },
                ReplicaStatus {
                    index: 1,
                    axon_on_chain: Some(addr("1.2.3.4")),
                    axon_exposed: Some(addr("5.6.7.8")),
                    ..Default::default()
                },
                ReplicaStatus {
                    index: 2,
                    axon_exposed: Some(addr("5.6.7.8")),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let obs = FleetObservation::default();
        let s = fleet(
            Some(&previous),
            &spec(),
            Some(1),
            crate::labels::fleet_selector_string("m", "miner"),
            &obs,
            t(1),
        );
        let drift: Vec<_> = s.replica_statuses.iter().map(|r| r.axon_drift).collect();
        assert_eq!(drift, vec![Some(false), Some(true), None]);
    }

    #[test]
    fn same_observation_gives_an_equal_status() {
        let obs = FleetObservation {
            problem: Some(Problem::SubnetNotFound("sn".into())),
            subnet: None,
            ..Default::default()
        };
        let sel = || crate::labels::fleet_selector_string("m", "miner");
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
            crate::labels::fleet_selector_string("m", "miner"),
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
            crate::labels::fleet_selector_string("m", "miner"),
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
