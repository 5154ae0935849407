//! The validator step of a reconcile: validator permit and weight freshness from the subnet
//! snapshot, and restarts of replicas whose weights went stale (when asked), with a back-off:
//! after a restart the next one can only come another `restartAfterStaleTempos` later, and at
//! most `maxRestarts` happen within `restartWindow`; past that the operator only reports.

use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::EventType;

use super::context::{Context, Result};
use crate::chain::SubnetSnapshot;
use crate::crd::FleetKind;
use crate::crd::common::{parse_duration_secs, rao_to_tao};
use crate::crd::fleet::{FleetStatus, ReplicaPhase};
use crate::crd::validator::WeightsPolicy;

/// Condition type: the replicas hold validator permits.
pub const PERMITTED: &str = "Permitted";
/// Condition type: the replicas set weights recently enough.
pub const WEIGHTS_FRESH: &str = "WeightsFresh";

/// A condition to set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Condition type.
    pub type_: &'static str,
    /// True or false.
    pub status: bool,
    /// Reason.
    pub reason: &'static str,
    /// Message.
    pub message: String,
}

/// What the validator step decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorObservation {
    /// `Permitted`.
    pub permitted: Verdict,
    /// `WeightsFresh`.
    pub fresh: Verdict,
    /// Replica indices to restart now (with their pod names).
    pub restart: Vec<(u32, String)>,
    /// Replicas holding a permit.
    pub permitted_replicas: i32,
    /// The fleet's total stake, in TAO.
    pub total_stake_tao: String,
    /// The oldest block at which a replica last set weights.
    pub oldest_weights_block: Option<u64>,
    /// Each assessed replica's weights bookkeeping, as status records it.
    pub replicas: Vec<WeightsRecord>,
}

/// One replica's weights bookkeeping: what [`assess`] decided, for the status step to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightsRecord {
    /// Replica index.
    pub index: u32,
    /// Blocks since its last weights, rounded down to whole tempos.
    pub blocks_since_weights: Option<u64>,
    /// When it was restarted for stale weights, within the restart window.
    pub weights_restarts: Vec<String>,
    /// The block of its last restart for stale weights.
    pub weights_restart_block: Option<u64>,
}

impl ValidatorObservation {
    /// Records the aggregates and each replica's weights bookkeeping in `status` (the status
    /// step's part; pure).
    pub fn record(&self, status: &mut FleetStatus) {
        status.permitted_replicas = Some(self.permitted_replicas);
        status.total_stake_tao = Some(self.total_stake_tao.clone());
        status.oldest_weights_block = self.oldest_weights_block;
        for w in &self.replicas {
            if let Some(r) = status
                .replica_statuses
                .iter_mut()
                .find(|r| r.index == w.index)
            {
                r.blocks_since_weights = w.blocks_since_weights;
                r.weights_restarts.clone_from(&w.weights_restarts);
                r.weights_restart_block = w.weights_restart_block;
            }
        }
    }
}

/// Assesses permits and weights (pure): the aggregates, each replica's restart bookkeeping,
/// and which pods to restart.
pub fn assess(
    status: &FleetStatus,
    snapshot: &SubnetSnapshot,
    policy: &WeightsPolicy,
    now: Timestamp,
) -> ValidatorObservation {
    let tempo = u64::from(snapshot.tempo.max(1));
    let stale_after = u64::from(policy.max_stale_tempos) * tempo;
    let window = parse_duration_secs(&policy.restart_window).unwrap_or(86_400);
    let mut no_permit = vec![];
    let mut stale = vec![];
    let mut restart = vec![];
    let mut permitted = 0;
    let mut stake = 0u64;
    let mut oldest: Option<u64> = None;
    let mut limited = vec![];
    let mut replicas = vec![];
    for r in &status.replica_statuses {
        if !r.registered {
            no_permit.push(format!("replica {} is not registered", r.index));
            continue;
        }
        let s = r.stake_rao.unwrap_or(0);
        stake = stake.saturating_add(s);
        match (s, r.validator_permit.unwrap_or(false)) {
            (_, true) => permitted += 1,
            (0, false) => no_permit.push(format!("replica {} has no stake", r.index)),
            (_, false) => no_permit.push(format!(
                "replica {} has {} TAO staked, below the permit threshold",
                r.index,
                rao_to_tao(s)
            )),
        }
        let Some(last) = r.last_weights_block else {
            continue;
        };
        oldest = Some(oldest.map_or(last, |o| o.min(last)));
        let since = snapshot.block.saturating_sub(last);
        // Rounded down to whole tempos, so status changes once a tempo, not every block.
        let mut w = WeightsRecord {
            index: r.index,
            blocks_since_weights: Some(since - since % tempo),
            weights_restarts: r.weights_restarts.clone(),
            weights_restart_block: r.weights_restart_block,
        };
        let registered_at = r
            .immune_until_block
            .map(|u| u.saturating_sub(u64::from(snapshot.immunity_period)));
        let never = registered_at == Some(last);
        if since > stale_after {
            stale.push(if never {
                format!(
                    "replica {} never set weights ({since} blocks since registration)",
                    r.index
                )
            } else {
                format!("replica {} last set weights {since} blocks ago", r.index)
            });
        }
        // Restarts, with back-off and a cap per window.
        if let Some(after) = policy.restart_after_stale_tempos {
            let threshold = u64::from(after) * tempo;
            w.weights_restarts.retain(|t| {
                t.parse::<Timestamp>().is_ok_and(|t| {
                    now.as_second().saturating_sub(t.as_second())
                        < i64::try_from(window).unwrap_or(i64::MAX)
                })
            });
            let reference = last.max(w.weights_restart_block.unwrap_or(0));
            if snapshot.block.saturating_sub(reference) < threshold {
                // Not due.
            } else if w.weights_restarts.len() >= policy.max_restarts as usize {
                limited.push(r.index);
            } else if r.phase == Some(ReplicaPhase::Terminating) {
                // A pod already being deleted is on its way out: deleting it again restarts
                // nothing.
            } else if let Some(pod) = r.pod.clone() {
                w.weights_restarts.push(now.to_string());
                w.weights_restart_block = Some(snapshot.block);
                restart.push((r.index, pod));
            }
        }
        replicas.push(w);
    }
    let permitted_replicas = permitted;
    let permitted = if no_permit.is_empty() {
        Verdict {
            type_: PERMITTED,
            status: true,
            reason: "Permitted",
            message: format!("{permitted} replica(s) hold a validator permit"),
        }
    } else {
        let reason = if no_permit.iter().any(|m| m.contains("not registered")) {
            "NotRegistered"
        } else if no_permit.iter().any(|m| m.contains("no stake")) {
            "NoStake"
        } else {
            "StakeBelowPermitThreshold"
        };
        Verdict {
            type_: PERMITTED,
            status: false,
            reason,
            message: no_permit.join("; "),
        }
    };
    let fresh = if stale.is_empty() {
        Verdict {
            type_: WEIGHTS_FRESH,
            status: true,
            reason: "WeightsFresh",
            message: format!("weights set within {} tempos", policy.max_stale_tempos),
        }
    } else {
        let never = stale.iter().all(|m| m.contains("never set weights"));
        let mut message = format!(
            "{} (more than {} tempos of {tempo} blocks)",
            stale.join("; "),
            policy.max_stale_tempos
        );
        if snapshot.commit_reveal {
            // Committed weights count only once revealed (a later tempo; timelocked ones when
            // the drand pulse lands): stale weights may just be pending a reveal.
            message.push_str(
                "; commit-reveal is on for this subnet: committed weights count only once revealed",
            );
        }
        if !limited.is_empty() {
            message.push_str(&format!(
                "; restart limit ({} per {}) reached for replicas {limited:?}: only reporting",
                policy.max_restarts, policy.restart_window
            ));
        }
        Verdict {
            type_: WEIGHTS_FRESH,
            status: false,
            reason: if snapshot.commit_reveal {
                "CommitRevealPending"
            } else if never {
                "NeverSetWeights"
            } else {
                "WeightsStale"
            },
            message,
        }
    };
    ValidatorObservation {
        permitted,
        fresh,
        restart,
        permitted_replicas,
        total_stake_tao: rao_to_tao(stake),
        oldest_weights_block: oldest,
        replicas,
    }
}

/// The validator step: assess, restart what must be restarted, announce changes.
pub async fn reconcile<K: FleetKind>(
    ctx: &Context,
    obj: &K,
    status: &FleetStatus,
    snapshot: &SubnetSnapshot,
    policy: &WeightsPolicy,
    now: Timestamp,
) -> Result<ValidatorObservation> {
    let before = status
        .conditions
        .iter()
        .find(|c| c.type_ == WEIGHTS_FRESH)
        .map(|c| c.status == "True");
    let obs = assess(status, snapshot, policy, now);
    if before != Some(obs.fresh.status) && !obs.fresh.status {
        ctx.publish(
            obj,
            EventType::Warning,
            obs.fresh.reason,
            obs.fresh.message.clone(),
        )
        .await;
    }
    let ns = obj.meta().namespace.clone().unwrap_or_default();
    let kind = K::kind(&());
    let writer = ctx.applier(&ns, &kind);
    for (i, pod) in &obs.restart {
        ctx.metrics.stale_restart(&kind);
        writer.restart_pod(pod).await?;
        ctx.publish(
            obj,
            EventType::Warning,
            "RestartedForStaleWeights",
            format!(
                "replica {i}: weights stale for {} tempos; pod {pod} restarted",
                policy.restart_after_stale_tempos.unwrap_or_default()
            ),
        )
        .await;
    }
    Ok(obs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::fleet::ReplicaStatus;

    fn snapshot(block: u64) -> SubnetSnapshot {
        SubnetSnapshot::for_tests(block)
    }

    fn status(stake: u64, permit: bool, last: u64) -> FleetStatus {
        FleetStatus {
            replica_statuses: vec![ReplicaStatus {
                index: 0,
                pod: Some("v-0-0".into()),
                registered: true,
                stake_rao: Some(stake),
                validator_permit: Some(permit),
                last_weights_block: Some(last),
                immune_until_block: Some(100), // registered at block 0
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn policy(restart: Option<u32>, max: u32) -> WeightsPolicy {
        WeightsPolicy {
            max_stale_tempos: 3,
            restart_after_stale_tempos: restart,
            max_restarts: max,
            restart_window: "24h".into(),
        }
    }

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn permits_follow_stake() {
        let o = assess(&status(0, false, 5), &snapshot(10), &policy(None, 3), t(0));
        assert_eq!((o.permitted.status, o.permitted.reason), (false, "NoStake"));
        let o = assess(&status(10, false, 5), &snapshot(10), &policy(None, 3), t(0));
        assert_eq!(o.permitted.reason, "StakeBelowPermitThreshold");
        let mut s = status(10, true, 5);
        let o = assess(&s, &snapshot(10), &policy(None, 3), t(0));
        assert!(o.permitted.status);
        o.record(&mut s);
        assert_eq!(s.permitted_replicas, Some(1));
        assert_eq!(s.total_stake_tao.as_deref(), Some("0.00000001"));
    }

    #[test]
    fn weights_go_stale_after_the_configured_tempos() {
        let p = policy(None, 3);
        assert!(
            assess(&status(1, true, 5), &snapshot(35), &p, t(0))
                .fresh
                .status
        );
        let o = assess(&status(1, true, 5), &snapshot(36), &p, t(0));
        assert_eq!((o.fresh.status, o.fresh.reason), (false, "WeightsStale"));
        let o = assess(&status(1, true, 0), &snapshot(50), &p, t(0));
        assert_eq!(o.fresh.reason, "NeverSetWeights");
        assert!(o.restart.is_empty(), "no restart policy, no restart");
        // With commit-reveal on, stale weights may be waiting for their reveal: say so.
        let mut cr = snapshot(36);
        cr.commit_reveal = true;
        let o = assess(&status(1, true, 5), &cr, &p, t(0));
        assert_eq!(
            (o.fresh.status, o.fresh.reason),
            (false, "CommitRevealPending")
        );
        assert!(
            o.fresh.message.contains("commit-reveal is on"),
            "{}",
            o.fresh.message
        );
    }

    /// One reconcile's worth: assess, then record what was decided, as the status step does.
    fn cycle(
        s: &mut FleetStatus,
        snapshot: &SubnetSnapshot,
        p: &WeightsPolicy,
        now: Timestamp,
    ) -> ValidatorObservation {
        let o = assess(s, snapshot, p, now);
        o.record(s);
        o
    }

    #[test]
    fn restarts_once_per_episode_with_backoff_and_a_cap() {
        let p = policy(Some(4), 2);
        let mut s = status(1, true, 5);
        // 40 blocks (4 tempos) after the last weights: restart.
        assert!(cycle(&mut s, &snapshot(44), &p, t(0)).restart.is_empty());
        assert_eq!(cycle(&mut s, &snapshot(45), &p, t(1)).restart.len(), 1);
        // Same episode: no second restart until another 4 tempos pass.
        assert!(cycle(&mut s, &snapshot(60), &p, t(2)).restart.is_empty());
        assert_eq!(cycle(&mut s, &snapshot(85), &p, t(3)).restart.len(), 1);
        // The cap: two per window, then only reporting.
        let o = cycle(&mut s, &snapshot(200), &p, t(4));
        assert!(o.restart.is_empty());
        assert!(o.fresh.message.contains("restart limit"));
        // A day later the window has room again.
        assert_eq!(
            cycle(&mut s, &snapshot(300), &p, t(90_000)).restart.len(),
            1
        );
        // Weights recover: a new episode starts from them.
        s.replica_statuses[0].last_weights_block = Some(300);
        assert!(
            cycle(&mut s, &snapshot(320), &p, t(90_001))
                .restart
                .is_empty()
        );
    }

    #[test]
    fn a_pod_being_deleted_is_not_restarted_again() {
        let p = policy(Some(4), 2);
        let mut s = status(1, true, 5);
        s.replica_statuses[0].phase = Some(ReplicaPhase::Terminating);
        let o = cycle(&mut s, &snapshot(45), &p, t(0));
        assert!(o.restart.is_empty(), "{:?}", o.restart);
        assert!(s.replica_statuses[0].weights_restarts.is_empty());
        // Once its successor runs, the restart is due.
        s.replica_statuses[0].phase = Some(ReplicaPhase::Running);
        assert_eq!(cycle(&mut s, &snapshot(46), &p, t(1)).restart.len(), 1);
    }
}
