//! Pure decisions about replicas: which indices exist after a scale, and which replicas may take
//! a new pod template now (one at a time, each waiting for the previous to be ready; a canary
//! first when asked).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;

use crate::crd::common::parse_duration_secs;
use crate::crd::fleet::{CanarySpec, CanaryStatus};

/// The indices that should exist: the `existing` ones, shrunk or grown to `replicas`.
///
/// Scale-in removes, in order: the indices named in `remove`, then the lowest-incentive ones
/// (replicas without a known incentive count as zero), then the highest index. Scale-up adds the
/// lowest free indices that are not named in `remove`.
pub fn active_indices(
    existing: &BTreeSet<u32>,
    replicas: u32,
    remove: &[u32],
    incentive: &BTreeMap<u32, f64>,
) -> BTreeSet<u32> {
    let want = replicas as usize;
    let mut active = existing.clone();
    if active.len() > want {
        let mut order: Vec<u32> = active.iter().copied().collect();
        order.sort_by(|a, b| {
            let named = |i: &u32| !remove.contains(i);
            let inc = |i: &u32| incentive.get(i).copied().unwrap_or(0.0);
            named(a)
                .cmp(&named(b))
                .then(inc(a).total_cmp(&inc(b)))
                .then(b.cmp(a))
        });
        for i in order.into_iter().take(active.len() - want) {
            active.remove(&i);
        }
    } else {
        let mut next = 0u32;
        while active.len() < want {
            if !active.contains(&next) && !remove.contains(&next) {
                active.insert(next);
            }
            next = next.saturating_add(1);
            if next == u32::MAX {
                break;
            }
        }
    }
    active
}

/// Whether a replica's StatefulSet has the template the spec asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    /// It has the desired template.
    Current,
    /// It has another one: it is to be updated.
    Outdated,
}

/// What the rollout needs to know about one existing replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaState {
    /// Its StatefulSet's template against the desired one.
    pub template: Template,
    /// Its pod runs the StatefulSet's current template and is ready.
    pub ready: bool,
}

/// Canary settings in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canary {
    /// The index updated first.
    pub index: u32,
    /// Whether the rest may follow.
    pub promoted: bool,
}

/// The indices whose StatefulSet may get the `desired` template now.
///
/// At most one replica is unavailable because of an update at any time: nothing starts while
/// any replica is not ready, and then only the next one (the canary first). Without promotion,
/// a canary rollout stops after the canary.
pub fn updatable(replicas: &BTreeMap<u32, ReplicaState>, canary: Option<&Canary>) -> BTreeSet<u32> {
    let outdated: Vec<u32> = replicas
        .iter()
        .filter(|(_, r)| r.template == Template::Outdated)
        .map(|(i, _)| *i)
        .collect();
    if outdated.is_empty() {
        return BTreeSet::new();
    }
    // An outdated replica that is not ready anyway (e.g. a broken template being fixed) can be
    // replaced without losing availability: those go first, all at once.
    let broken: BTreeSet<u32> = outdated
        .iter()
        .copied()
        .filter(|i| replicas.get(i).is_some_and(|r| !r.ready))
        .collect();
    if !broken.is_empty() {
        return broken;
    }
    if replicas.values().any(|r| !r.ready) {
        return BTreeSet::new();
    }
    let next = match canary {
        Some(c) if outdated.contains(&c.index) => Some(c.index),
        // Not promoted: the rest waits, also when the canary is not a replica at all (the
        // status says so) — a canary that was asked for is never skipped silently.
        Some(c) if !c.promoted => None,
        _ => outdated.first().copied(),
    };
    next.into_iter().collect()
}

/// The canary in force this reconcile, and what status shows of it.
///
/// While the canary runs the desired template (`want`, its hash), ready, and others still wait
/// for it, status records since when (kept from `previous` while the canary and the template
/// stay the same). It is promoted by hand (`promoted: true`) or once it has been ready that way
/// for `autoPromoteAfter`.
pub fn canary(
    spec: &CanarySpec,
    replicas: &BTreeMap<u32, ReplicaState>,
    want: &str,
    previous: Option<&CanaryStatus>,
    now: Timestamp,
) -> (Canary, Option<CanaryStatus>) {
    let on_new = replicas
        .get(&spec.index)
        .is_some_and(|s| s.ready && s.template == Template::Current);
    let outdated_others = replicas
        .iter()
        .any(|(i, s)| *i != spec.index && s.template == Template::Outdated);
    let shown = (on_new && outdated_others).then(|| CanaryStatus {
        index: spec.index,
        template_hash: want.to_string(),
        ready_since: previous
            .filter(|p| p.index == spec.index && p.template_hash == want)
            .map(|p| p.ready_since.clone())
            .unwrap_or_else(|| now.to_string()),
    });
    let timed_out = match (
        spec.auto_promote_after
            .as_deref()
            .and_then(parse_duration_secs),
        shown
            .as_ref()
            .and_then(|s| s.ready_since.parse::<Timestamp>().ok()),
    ) {
        (Some(after), Some(since)) => {
            now.as_second().saturating_sub(since.as_second())
                >= i64::try_from(after).unwrap_or(i64::MAX)
        }
        _ => false,
    };
    (
        Canary {
            index: spec.index,
            promoted: spec.promoted || timed_out,
        },
        shown,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u32]) -> BTreeSet<u32> {
        v.iter().copied().collect()
    }

    #[test]
    fn scale_up_fills_the_lowest_free_indices() {
        let none = BTreeMap::new();
        assert_eq!(active_indices(&set(&[]), 3, &[], &none), set(&[0, 1, 2]));
        assert_eq!(
            active_indices(&set(&[0, 2]), 4, &[], &none),
            set(&[0, 1, 2, 3])
        );
        // A removed index is not brought back by a scale-up.
        assert_eq!(
            active_indices(&set(&[0, 2]), 3, &[1], &none),
            set(&[0, 2, 3])
        );
    }

    #[test]
    fn scale_in_removes_named_then_lowest_incentive_then_highest_index() {
        let none = BTreeMap::new();
        assert_eq!(
            active_indices(&set(&[0, 1, 2, 3, 4]), 2, &[], &none),
            set(&[0, 1])
        );
        assert_eq!(
            active_indices(&set(&[0, 1, 2, 3, 4]), 3, &[1], &none),
            set(&[0, 2, 3])
        );
        let inc: BTreeMap<u32, f64> = [(0, 0.5), (1, 0.01), (2, 0.9), (3, 0.2), (4, 0.3)].into();
        assert_eq!(
            active_indices(&set(&[0, 1, 2, 3, 4]), 3, &[], &inc),
            set(&[0, 2, 4])
        );
        assert_eq!(
            active_indices(&set(&[0, 1, 2, 3, 4]), 3, &[2], &inc),
            set(&[0, 3, 4])
        );
        assert_eq!(active_indices(&set(&[0, 1]), 0, &[], &none), set(&[]));
    }

    /// Replicas by (index, template, ready): "new" is the desired template, any other outdated.
    fn states(v: &[(u32, &str, bool)]) -> BTreeMap<u32, ReplicaState> {
        v.iter()
            .map(|(i, h, r)| {
                let template = if *h == "new" {
                    Template::Current
                } else {
                    Template::Outdated
                };
                (
                    *i,
                    ReplicaState {
                        template,
                        ready: *r,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn one_update_at_a_time_waiting_for_ready() {
        // All old and ready: the first one goes.
        let s = states(&[(0, "old", true), (1, "old", true), (2, "old", true)]);
        assert_eq!(updatable(&s, None), set(&[0]));
        // 0 updated but not ready yet: nothing else moves.
        let s = states(&[(0, "new", false), (1, "old", true), (2, "old", true)]);
        assert_eq!(updatable(&s, None), set(&[]));
        // 0 ready: 1 goes.
        let s = states(&[(0, "new", true), (1, "old", true), (2, "old", true)]);
        assert_eq!(updatable(&s, None), set(&[1]));
        // A replica on the new template that is not ready holds the rollout.
        let s = states(&[(0, "new", false), (1, "old", true), (2, "old", true)]);
        assert_eq!(updatable(&s, None), set(&[]));
        // An outdated replica that is not ready anyway is replaced at once: a broken template
        // can always be fixed by a new one.
        let s = states(&[(0, "new", true), (1, "old", true), (2, "old", false)]);
        assert_eq!(updatable(&s, None), set(&[2]));
        let s = states(&[(0, "bad", false), (1, "bad", false), (2, "old", true)]);
        assert_eq!(updatable(&s, None), set(&[0, 1]));
        // Done.
        let s = states(&[(0, "new", true), (1, "new", true)]);
        assert_eq!(updatable(&s, None), set(&[]));
    }

    #[test]
    fn canary_goes_first_and_holds_until_promoted() {
        let c = Canary {
            index: 2,
            promoted: false,
        };
        let s = states(&[(0, "old", true), (1, "old", true), (2, "old", true)]);
        assert_eq!(updatable(&s, Some(&c)), set(&[2]));
        let s = states(&[(0, "old", true), (1, "old", true), (2, "new", true)]);
        assert_eq!(updatable(&s, Some(&c)), set(&[]), "held until promoted");
        let promoted = Canary {
            index: 2,
            promoted: true,
        };
        assert_eq!(updatable(&s, Some(&promoted)), set(&[0]));
    }

    #[test]
    fn a_canary_that_is_not_a_replica_holds_the_rollout() {
        // The tester's case: index 5 of 3 replicas silently disabled the canary.
        let c = Canary {
            index: 5,
            promoted: false,
        };
        let s = states(&[(0, "old", true), (1, "old", true), (2, "old", true)]);
        assert_eq!(updatable(&s, Some(&c)), set(&[]));
        let promoted = Canary {
            index: 5,
            promoted: true,
        };
        assert_eq!(updatable(&s, Some(&promoted)), set(&[0]));
    }

    #[test]
    fn a_canary_is_promoted_once_ready_on_the_new_template_for_its_timeout() {
        let t = |s: i64| Timestamp::from_second(1_800_000_000 + s).unwrap_or(Timestamp::UNIX_EPOCH);
        let spec = CanarySpec {
            index: 1,
            auto_promote_after: Some("10m".into()),
            promoted: false,
        };
        let state = |template, ready| ReplicaState { template, ready };
        let mut replicas = BTreeMap::from([
            (0, state(Template::Outdated, true)),
            (1, state(Template::Current, false)),
            (2, state(Template::Outdated, true)),
        ]);
        // Not ready on the new template yet: no clock runs, nothing promoted.
        let (c, shown) = canary(&spec, &replicas, "h2", None, t(0));
        assert_eq!((c.index, c.promoted, shown), (1, false, None));
        // Ready: the clock starts now.
        replicas.insert(1, state(Template::Current, true));
        let (c, shown) = canary(&spec, &replicas, "h2", None, t(0));
        assert!(!c.promoted);
        let since = shown.clone().map(|s| s.ready_since).unwrap_or_default();
        assert_eq!(since, t(0).to_string());
        // It keeps its start; one second short of ten minutes it still holds.
        let (c, kept) = canary(&spec, &replicas, "h2", shown.as_ref(), t(599));
        assert_eq!((c.promoted, kept.as_ref()), (false, shown.as_ref()));
        let (c, _) = canary(&spec, &replicas, "h2", shown.as_ref(), t(600));
        assert!(c.promoted, "ten minutes ready: promoted");
        // Another template restarts the clock.
        let (c, other) = canary(&spec, &replicas, "h3", shown.as_ref(), t(600));
        assert!(!c.promoted);
        assert_eq!(other.map(|s| s.ready_since), Some(t(600).to_string()));
        // Without a timeout only a person promotes it; by hand it is at once.
        let manual = CanarySpec {
            auto_promote_after: None,
            ..spec.clone()
        };
        assert!(
            !canary(&manual, &replicas, "h2", shown.as_ref(), t(99_999))
                .0
                .promoted
        );
        let by_hand = CanarySpec {
            promoted: true,
            ..manual
        };
        assert!(canary(&by_hand, &replicas, "h2", None, t(0)).0.promoted);
        // Once the others are updated too, nothing waits for the canary: status drops it.
        replicas.insert(0, state(Template::Current, true));
        replicas.insert(2, state(Template::Current, true));
        assert_eq!(
            canary(&spec, &replicas, "h2", shown.as_ref(), t(10)).1,
            None
        );
    }
}
