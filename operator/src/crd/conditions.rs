//! Pure helpers for `meta/v1 Condition` lists: set a condition by type, keeping
//! `lastTransitionTime` unless the status flips.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// Condition types used by the three kinds.
pub mod types {
    /// Everything is as desired.
    pub const READY: &str = "Ready";
    /// The chain endpoint answers.
    pub const CHAIN_REACHABLE: &str = "ChainReachable";
    /// Every replica is registered.
    pub const REGISTERED: &str = "Registered";
    /// The operator is moving towards the spec.
    pub const PROGRESSING: &str = "Progressing";
    /// Something is wrong that the operator cannot fix by itself.
    pub const DEGRADED: &str = "Degraded";
    /// The registration budget of the current window is spent.
    pub const BUDGET_EXHAUSTED: &str = "BudgetExhausted";
    /// A replica lost its UID.
    pub const DEREGISTERED: &str = "Deregistered";
    /// Who keeps registrations under `maxPriceTao`: True when the chain does
    /// (`register_limit`), False when only the operator's check before sending does.
    pub const PRICE_GUARD: &str = "PriceGuard";
    /// Some replica is within `registration.riskRegistrations` registrations of being pruned.
    pub const AT_RISK: &str = "AtRisk";
    /// Every registered replica earns (incentive, dividends or emission above 0).
    pub const EARNING: &str = "Earning";
    /// A localnet Subnet's scaffold is complete (subnet created, started, configured, funded).
    pub const SCAFFOLDED: &str = "Scaffolded";
}

/// A condition to set, without timestamps (those are managed by [`set_condition`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCondition<'a> {
    /// Condition type, e.g. `Ready`.
    pub type_: &'a str,
    /// `true` → `"True"`, `false` → `"False"`.
    pub status: bool,
    /// PascalCase reason.
    pub reason: &'a str,
    /// Human-readable message.
    pub message: String,
}

/// Sets `new` in `conditions` (keyed by type). `lastTransitionTime` changes only when the status
/// flips or the condition is new; reason, message and observedGeneration are always updated.
/// Returns true when anything changed.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    new: NewCondition<'_>,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> bool {
    let status = if new.status { "True" } else { "False" };
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(c) => {
            let before = c.clone();
            if c.status != status {
                c.status = status.to_string();
                c.last_transition_time = Time(now);
            }
            c.reason = new.reason.to_string();
            c.message = new.message;
            c.observed_generation = observed_generation;
            *c != before
        }
        None => {
            conditions.push(Condition {
                type_: new.type_.to_string(),
                status: status.to_string(),
                reason: new.reason.to_string(),
                message: new.message,
                observed_generation,
                last_transition_time: Time(now),
            });
            true
        }
    }
}

/// Finds a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when the condition of `type_` exists with status `"True"`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn ready(status: bool, reason: &str) -> NewCondition<'_> {
        NewCondition {
            type_: types::READY,
            status,
            reason,
            message: format!("{reason} message"),
        }
    }

    #[test]
    fn new_condition_gets_the_current_time() {
        let mut cs = vec![];
        assert!(set_condition(
            &mut cs,
            ready(false, "SubnetNotFound"),
            Some(1),
            ts(100)
        ));
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].last_transition_time, Time(ts(100)));
        assert_eq!(cs[0].status, "False");
        assert_eq!(cs[0].observed_generation, Some(1));
    }

    #[test]
    fn unchanged_status_keeps_last_transition_time() {
        let mut cs = vec![];
        set_condition(&mut cs, ready(false, "SubnetNotFound"), Some(1), ts(100));
        // Same everything, later: nothing changes, not even the time.
        assert!(!set_condition(
            &mut cs,
            ready(false, "SubnetNotFound"),
            Some(1),
            ts(200)
        ));
        assert_eq!(cs[0].last_transition_time, Time(ts(100)));
        // Same status, new reason: reason changes, the time does not.
        assert!(set_condition(
            &mut cs,
            ready(false, "SecretNotFound"),
            Some(2),
            ts(300)
        ));
        assert_eq!(cs[0].last_transition_time, Time(ts(100)));
        assert_eq!(cs[0].reason, "SecretNotFound");
        assert_eq!(cs[0].observed_generation, Some(2));
    }

    #[test]
    fn flipped_status_moves_last_transition_time() {
        let mut cs = vec![];
        set_condition(&mut cs, ready(false, "SubnetNotFound"), Some(1), ts(100));
        assert!(set_condition(
            &mut cs,
            ready(true, "Ready"),
            Some(1),
            ts(400)
        ));
        assert_eq!(cs[0].last_transition_time, Time(ts(400)));
        assert!(is_true(&cs, types::READY));
    }

    #[test]
    fn conditions_are_keyed_by_type() {
        let mut cs = vec![];
        set_condition(&mut cs, ready(true, "Ready"), None, ts(1));
        set_condition(
            &mut cs,
            NewCondition {
                type_: types::REGISTERED,
                status: false,
                reason: "Pending",
                message: String::new(),
            },
            None,
            ts(2),
        );
        set_condition(&mut cs, ready(false, "Broken"), None, ts(3));
        assert_eq!(cs.len(), 2);
        assert!(!is_true(&cs, types::READY));
        assert!(find(&cs, types::REGISTERED).is_some());
    }
}
