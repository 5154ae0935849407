//! Why a replica earns or does not (pure): one [`DiagnosisReason`] per replica from what its
//! status already holds (the chain's figures, the prune order, the pod, the axon), and the
//! fleet's `AtRisk` and `Earning` conditions from those.

use crate::crd::conditions::{NewCondition, types};
use crate::crd::fleet::{Diagnosis, DiagnosisReason, FleetStatus, ReplicaPhase, ReplicaStatus};

/// Whether the chain's figures say the replica earns: incentive (miners), dividends
/// (validators) or emission above 0.
fn earns(r: &ReplicaStatus) -> bool {
    r.incentive.is_some_and(|x| x > 0.0)
        || r.dividends.is_some_and(|x| x > 0.0)
        || r.emission_rao.is_some_and(|x| x > 0)
}

fn uid(r: &ReplicaStatus) -> String {
    r.uid.map_or_else(|| "?".to_string(), |u| u.to_string())
}

/// The diagnosis of one replica, worst reason first: not registered; next to be pruned; pod
/// not ready; axon not served or not the one exposed (only where the fleet exposes an axon);
/// immune; earning; else no incentive.
pub fn diagnose(r: &ReplicaStatus) -> Diagnosis {
    let (reason, message) = if !r.registered {
        (
            DiagnosisReason::NotRegistered,
            match &r.pending_registration {
                Some(_) => "a registration was sent and is not confirmed yet".to_string(),
                None => "the hotkey holds no UID on the subnet".to_string(),
            },
        )
    } else if r.registrations_until_pruned == Some(1) {
        (
            DiagnosisReason::NextToBePruned,
            format!(
                "uid {} is next out: the next registration on the full subnet prunes it",
                uid(r)
            ),
        )
    } else if r.phase != Some(ReplicaPhase::Ready) {
        (
            DiagnosisReason::PodNotReady,
            format!(
                "pod {} is not ready{}",
                r.pod.as_deref().unwrap_or("(none yet)"),
                r.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        )
    } else if let (Some(exposed), None) = (&r.axon_exposed, &r.axon_on_chain) {
        (
            DiagnosisReason::AxonNotServed,
            format!(
                "the chain has no axon for uid {}: the program must call serve_axon with {}:{}",
                uid(r),
                exposed.ip,
                exposed.port
            ),
        )
    } else if let (Some(exposed), Some(on_chain)) = (&r.axon_exposed, &r.axon_on_chain)
        && exposed != on_chain
    {
        (
            DiagnosisReason::AxonMismatch,
            format!(
                "the chain announces {}:{} for uid {}, the pod was told {}:{}: serve_axon again",
                on_chain.ip,
                on_chain.port,
                uid(r),
                exposed.ip,
                exposed.port
            ),
        )
    } else if r.immune_blocks_left.is_some_and(|b| b > 0) && !earns(r) {
        (
            DiagnosisReason::Immune,
            format!(
                "uid {} is immune to pruning until block {}: earning is not expected yet",
                uid(r),
                r.immune_until_block.unwrap_or_default()
            ),
        )
    } else if earns(r) {
        (DiagnosisReason::Earning, format!("uid {} earns", uid(r)))
    } else {
        (
            DiagnosisReason::NoIncentive,
            format!(
                "uid {} is served and past immunity but earns nothing: validators give it no weight",
                uid(r)
            ),
        )
    };
    Diagnosis { reason, message }
}

/// The replicas that would be pruned within `risk` registrations, nearest first, as
/// `(index, uid, registrations until pruned)`.
fn at_risk(replicas: &[ReplicaStatus], risk: u32) -> Vec<(u32, String, u32)> {
    let mut out: Vec<(u32, String, u32)> = replicas
        .iter()
        .filter(|r| r.registered)
        .filter_map(|r| {
            let n = r.registrations_until_pruned?;
            (n <= risk).then(|| (r.index, uid(r), n))
        })
        .collect();
    out.sort_by_key(|(i, _, n)| (*n, *i));
    out
}

/// The `AtRisk` condition: True while some registered replica would be pruned within `risk`
/// registrations on the subnet.
pub fn at_risk_condition(replicas: &[ReplicaStatus], risk: u32) -> NewCondition<'static> {
    let near = at_risk(replicas, risk);
    if near.is_empty() {
        return NewCondition {
            type_: types::AT_RISK,
            status: false,
            reason: "Safe",
            message: format!("no replica would be pruned within {risk} registration(s)"),
        };
    }
    let next = near.first().is_some_and(|(_, _, n)| *n == 1);
    let list: Vec<String> = near
        .iter()
        .take(5)
        .map(|(i, u, n)| format!("replica {i} (uid {u}) by registration {n}"))
        .collect();
    NewCondition {
        type_: types::AT_RISK,
        status: true,
        reason: if next {
            "NextToBePruned"
        } else {
            "WithinRiskRegistrations"
        },
        message: format!(
            "{} replica(s) would be pruned within {risk} registration(s): {}{}",
            near.len(),
            list.join(", "),
            if near.len() > list.len() { ", …" } else { "" }
        ),
    }
}

/// The `Earning` condition: True when every replica is `Earning`; else False with the worst
/// reason among them, and how many replicas have each reason.
pub fn earning_condition(replicas: &[ReplicaStatus]) -> NewCondition<'static> {
    let reasons: Vec<DiagnosisReason> = replicas
        .iter()
        .filter_map(|r| r.diagnosis.as_ref().map(|d| d.reason))
        .collect();
    let worst = reasons.iter().min().copied();
    match worst {
        None => NewCondition {
            type_: types::EARNING,
            status: false,
            reason: "NoReplicas",
            message: "no replica to earn".to_string(),
        },
        Some(DiagnosisReason::Earning) => NewCondition {
            type_: types::EARNING,
            status: true,
            reason: "AllEarning",
            message: format!("{} replica(s) earn", reasons.len()),
        },
        Some(worst) => {
            let counts: Vec<String> = DiagnosisReason::ALL
                .iter()
                .filter_map(|k| {
                    let n = reasons.iter().filter(|r| *r == k).count();
                    (n > 0).then(|| format!("{n} {}", k.as_str()))
                })
                .collect();
            let first = replicas
                .iter()
                .find(|r| r.diagnosis.as_ref().is_some_and(|d| d.reason == worst))
                .and_then(|r| {
                    Some(format!(
                        "replica {}: {}",
                        r.index,
                        r.diagnosis.as_ref()?.message
                    ))
                })
                .unwrap_or_default();
            NewCondition {
                type_: types::EARNING,
                status: false,
                reason: worst.as_str(),
                message: format!("{}; {first}", counts.join(", ")),
            }
        }
    }
}

/// Keeps the previous `immuneBlocksLeft` of every replica when nothing else in the status
/// changed, so the countdown alone never rewrites status at every block.
pub fn settle_countdowns(previous: Option<&FleetStatus>, desired: &mut FleetStatus) {
    let Some(previous) = previous else {
        return;
    };
    if previous.replica_statuses.len() != desired.replica_statuses.len() {
        return;
    }
    let mut same = desired.clone();
    for (r, p) in same
        .replica_statuses
        .iter_mut()
        .zip(&previous.replica_statuses)
    {
        // A countdown still running; its end (0) is written.
        let running = |b: Option<u64>| b.is_some_and(|b| b > 0);
        if r.index == p.index && running(r.immune_blocks_left) && running(p.immune_blocks_left) {
            r.immune_blocks_left = p.immune_blocks_left;
        }
    }
    if &same == previous {
        *desired = same;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::fleet::AxonAddress;

    fn axon(port: u16) -> Option<AxonAddress> {
        Some(AxonAddress {
            ip: "203.0.113.7".into(),
            port,
        })
    }

    /// A registered replica, ready, served where it is exposed, past immunity, earning.
    fn earning(index: u32) -> ReplicaStatus {
        ReplicaStatus {
            index,
            registered: true,
            uid: Some(index as u16 + 10),
            phase: Some(ReplicaPhase::Ready),
            pod: Some(format!("m-{index}-0")),
            axon_exposed: axon(30001),
            axon_on_chain: axon(30001),
            immune_until_block: Some(90),
            immune_blocks_left: Some(0),
            incentive: Some(0.25),
            emission_rao: Some(1_000),
            prune_rank: Some(5),
            registrations_until_pruned: Some(6),
            ..Default::default()
        }
    }

    fn reason(r: &ReplicaStatus) -> DiagnosisReason {
        diagnose(r).reason
    }

    #[test]
    fn every_reason_is_reached_worst_first() {
        let ok = earning(0);
        assert_eq!(reason(&ok), DiagnosisReason::Earning);
        let mut r = ok.clone();
        r.incentive = Some(0.0);
        r.emission_rao = Some(0);
        assert_eq!(reason(&r), DiagnosisReason::NoIncentive);
        // Immune and not earning yet; once it earns, immunity does not matter.
        r.immune_blocks_left = Some(40);
        r.immune_until_block = Some(140);
        assert_eq!(reason(&r), DiagnosisReason::Immune);
        assert!(diagnose(&r).message.contains("until block 140"));
        let mut e = ok.clone();
        e.immune_blocks_left = Some(40);
        assert_eq!(reason(&e), DiagnosisReason::Earning);
        // The axon comes before immunity: it is what the miner can fix.
        r.axon_on_chain = axon(30002);
        assert_eq!(reason(&r), DiagnosisReason::AxonMismatch);
        assert!(diagnose(&r).message.contains("203.0.113.7:30002"));
        r.axon_on_chain = None;
        assert_eq!(reason(&r), DiagnosisReason::AxonNotServed);
        // A fleet that exposes no axon is not judged by it.
        let mut unexposed = r.clone();
        unexposed.axon_exposed = None;
        assert_eq!(reason(&unexposed), DiagnosisReason::Immune);
        r.phase = Some(ReplicaPhase::Pending);
        r.message = Some("no node has a free GPU".into());
        assert_eq!(reason(&r), DiagnosisReason::PodNotReady);
        assert!(diagnose(&r).message.contains("no node has a free GPU"));
        r.registrations_until_pruned = Some(1);
        assert_eq!(reason(&r), DiagnosisReason::NextToBePruned);
        r.registered = false;
        assert_eq!(reason(&r), DiagnosisReason::NotRegistered);
        // Validators earn by dividends.
        let mut v = ok;
        v.incentive = Some(0.0);
        v.emission_rao = Some(0);
        v.dividends = Some(0.1);
        assert_eq!(reason(&v), DiagnosisReason::Earning);
    }

    #[test]
    fn the_reasons_order_worst_first() {
        let mut sorted = DiagnosisReason::ALL;
        sorted.sort();
        assert_eq!(sorted, DiagnosisReason::ALL);
        for r in DiagnosisReason::ALL {
            let json = serde_json::to_value(r).unwrap_or_default();
            assert_eq!(json, serde_json::Value::String(r.as_str().to_string()));
        }
    }

    #[test]
    fn at_risk_turns_on_within_the_risk_registrations() {
        let mut a = earning(0);
        let mut b = earning(1);
        a.registrations_until_pruned = Some(4);
        b.registrations_until_pruned = Some(9);
        let c = at_risk_condition(&[a.clone(), b.clone()], 3);
        assert!(!c.status);
        assert_eq!(c.reason, "Safe");
        a.registrations_until_pruned = Some(3);
        let c = at_risk_condition(&[a.clone(), b.clone()], 3);
        assert!(c.status);
        assert_eq!(c.reason, "WithinRiskRegistrations");
        assert!(
            c.message.contains("replica 0 (uid 10) by registration 3"),
            "{}",
            c.message
        );
        b.registrations_until_pruned = Some(1);
        let c = at_risk_condition(&[a.clone(), b.clone()], 3);
        assert_eq!(c.reason, "NextToBePruned");
        assert!(c.message.starts_with("2 replica(s)"), "{}", c.message);
        // An unregistered replica (a stale rank) is not at risk: it is already out.
        b.registered = false;
        a.registrations_until_pruned = None;
        assert!(!at_risk_condition(&[a, b], 3).status);
    }

    #[test]
    fn earning_names_the_worst_reason_and_counts_them() {
        let mut rs: Vec<ReplicaStatus> = (0..3).map(earning).collect();
        for r in &mut rs {
            r.diagnosis = Some(diagnose(r));
        }
        let c = earning_condition(&rs);
        assert!(c.status);
        assert_eq!(c.reason, "AllEarning");
        rs[1].incentive = Some(0.0);
        rs[1].emission_rao = Some(0);
        rs[2].registered = false;
        for r in &mut rs {
            r.diagnosis = Some(diagnose(r));
        }
        let c = earning_condition(&rs);
        assert!(!c.status);
        assert_eq!(c.reason, "NotRegistered");
        assert!(
            c.message
                .starts_with("1 NotRegistered, 1 NoIncentive, 1 Earning; replica 2:"),
            "{}",
            c.message
        );
        assert_eq!(earning_condition(&[]).reason, "NoReplicas");
    }

    #[test]
    fn the_countdown_alone_does_not_rewrite_status() {
        let previous = FleetStatus {
            replica_statuses: vec![ReplicaStatus {
                immune_blocks_left: Some(40),
                ..earning(0)
            }],
            ..Default::default()
        };
        let mut desired = previous.clone();
        desired.replica_statuses[0].immune_blocks_left = Some(39);
        settle_countdowns(Some(&previous), &mut desired);
        assert_eq!(
            desired, previous,
            "only the countdown moved: nothing to write"
        );
        // Something else changed: the countdown is written with it.
        let mut desired = previous.clone();
        desired.replica_statuses[0].immune_blocks_left = Some(39);
        desired.replica_statuses[0].incentive = Some(0.5);
        settle_countdowns(Some(&previous), &mut desired);
        assert_eq!(desired.replica_statuses[0].immune_blocks_left, Some(39));
        // Immunity ends: that is written even if nothing else changed.
        let mut desired = previous.clone();
        desired.replica_statuses[0].immune_blocks_left = Some(0);
        settle_countdowns(Some(&previous), &mut desired);
        assert_eq!(desired.replica_statuses[0].immune_blocks_left, Some(0));
    }
}
