//! The chain's prune order: which neuron the next registrations on a subnet replace
//! (`get_neuron_to_prune`, CHAIN.md §3 and §7), as a pure function of one snapshot.
//!
//! Runtimes differ, and the rule of the runtime read is followed ([`PruneRule`], chosen from
//! its metadata by the client):
//! - since Dec 2025 (runtimes with `MinNonImmuneUids`): the non-immune neuron with the lowest
//!   emission, ties to the older registration, then the lower uid; the owner's immortal hotkeys
//!   are skipped; immune neurons go only when at most `MinNonImmuneUids` non-immune remain;
//! - before: the lowest `pruning_score` among non-immune neurons (ties the same way), else the
//!   same among immune ones; the owner's hotkeys are skipped from spec 236 on (subtensor
//!   `cb03dd6d7`), and the owner's oldest `ImmuneOwnerUidsLimit` hotkeys once that exists.
//!
//! The order is what successive registrations at one block would do: each prunes the
//! candidate and puts a fresh, immune-if-there-is-immunity neuron in its place. Time does not
//! pass in it, so a neuron whose immunity ends soon ranks as immune.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::SubnetSnapshot;

/// The first runtime whose pruning-score rule skips the subnet owner's hotkey
/// (`SubnetOwnerHotkey`; subtensor `cb03dd6d7`, Feb 2025). Spec 218 does not: its owner's
/// neurons are pruned like any other. Nothing in the metadata tells the two apart.
pub const OWNER_HOTKEY_IMMUNE_FROM_SPEC: u32 = 236;

/// The default `MinNonImmuneUids` (CHAIN.md §2).
pub const DEFAULT_MIN_NON_IMMUNE_UIDS: u16 = 10;

/// How a runtime picks the neuron a registration on a full subnet replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "by")]
pub enum PruneRule {
    /// Since Dec 2025: the lowest emission.
    #[serde(rename_all = "camelCase")]
    Emission {
        /// `MinNonImmuneUids`: immune neurons are pruned only when at most this many
        /// non-immune ones remain.
        min_non_immune: u16,
        /// `ImmuneOwnerUidsLimit`: how many of the owner's hotkeys are never pruned.
        owner_uids_limit: u16,
    },
    /// Before: the lowest `pruning_score`, non-immune neurons first.
    #[serde(rename_all = "camelCase")]
    PruningScore {
        /// Which of the owner's neurons are never pruned.
        owners: OwnerImmunity,
    },
}

impl Default for PruneRule {
    fn default() -> Self {
        Self::Emission {
            min_non_immune: DEFAULT_MIN_NON_IMMUNE_UIDS,
            owner_uids_limit: 1,
        }
    }
}

/// Which of a subnet owner's neurons a pruning-score runtime never prunes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum OwnerImmunity {
    /// None of them (spec 218).
    None,
    /// The `SubnetOwnerHotkey`.
    OwnerHotkey,
    /// The `SubnetOwnerHotkey` and the owner's oldest hotkeys, `limit` in all.
    Owned {
        /// `ImmuneOwnerUidsLimit`.
        limit: u16,
    },
}

/// One neuron as the rule sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    /// Emission (the current rule) or pruning score (the older one): lower goes first.
    key: u64,
    registered_at: u64,
    immune: bool,
    /// The owner's: never pruned.
    immortal: bool,
    /// Put there by the order's own registrations (not a neuron of the snapshot).
    newcomer: bool,
}

/// The uids of the owner's neurons the rule never prunes.
fn immortal_uids(snap: &SubnetSnapshot) -> BTreeSet<u16> {
    let owner_hotkey_uid = || {
        snap.owner_hotkey
            .as_ref()
            .and_then(|h| snap.neuron(h))
            .map(|n| n.uid)
    };
    let owned = |limit: u16| -> BTreeSet<u16> {
        let limit = usize::from(limit);
        let mut owned: Vec<(u64, u16)> = match snap.owner.as_ref() {
            Some(owner) => snap
                .neurons
                .iter()
                .filter(|n| &n.coldkey == owner)
                .map(|n| (n.registered_at, n.uid))
                .collect(),
            None => vec![],
        };
        owned.sort_unstable();
        owned.truncate(limit);
        let mut uids: Vec<u16> = owned.into_iter().map(|(_, uid)| uid).collect();
        if let Some(uid) = owner_hotkey_uid()
            && !uids.contains(&uid)
        {
            uids.insert(0, uid);
            uids.truncate(limit);
        }
        uids.into_iter().collect()
    };
    match snap.prune_rule {
        PruneRule::Emission {
            owner_uids_limit, ..
        } => owned(owner_uids_limit),
        PruneRule::PruningScore { owners } => match owners {
            OwnerImmunity::None => BTreeSet::new(),
            OwnerImmunity::OwnerHotkey => owner_hotkey_uid().into_iter().collect(),
            OwnerImmunity::Owned { limit } => owned(limit),
        },
    }
}

/// Whether a neuron registered at `registered_at` is immune at block `at`.
pub fn is_immune(registered_at: u64, immunity_period: u16, at: u64) -> bool {
    at.saturating_sub(registered_at) < u64::from(immunity_period)
}

/// Blocks of immunity left at block `at` (0 once it is over).
pub fn immune_blocks_left(registered_at: u64, immunity_period: u16, at: u64) -> u64 {
    (registered_at + u64::from(immunity_period)).saturating_sub(at)
}

/// The uid a registration would replace, of `entries` by uid, under `rule`; `None` when the
/// chain would refuse it (`NoNeuronIdAvailable`).
fn candidate(rule: PruneRule, entries: &BTreeMap<u16, Entry>) -> Option<u16> {
    let best = |immune: bool| {
        entries
            .iter()
            .filter(|(_, e)| !e.immortal && e.immune == immune)
            .min_by_key(|(uid, e)| (e.key, e.registered_at, **uid))
            .map(|(uid, _)| *uid)
    };
    let non_immune = entries
        .values()
        .filter(|e| !e.immortal && !e.immune)
        .count();
    match rule {
        PruneRule::Emission { min_non_immune, .. } => {
            if non_immune > usize::from(min_non_immune) {
                best(false).or_else(|| best(true))
            } else {
                best(true)
            }
        }
        // When every neuron is the owner's, these runtimes fall back to uid 0.
        PruneRule::PruningScore { .. } => best(false)
            .or_else(|| best(true))
            .or_else(|| (!entries.is_empty()).then_some(0)),
    }
}

/// Where each of a subnet's neurons stands in the order registrations would prune them.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PruneOrder {
    /// Registrations that would append to the subnet before any is pruned.
    pub open_slots: u32,
    /// Uid → its position among the prunes (0 = the first pruned). A uid missing here is not
    /// reached: the owner's, or kept by `MinNonImmuneUids` once newcomers fill the rest.
    pub ranks: BTreeMap<u16, u32>,
}

impl PruneOrder {
    /// The uid's position in the prune order (0 = next out once the subnet is full).
    pub fn rank(&self, uid: u16) -> Option<u32> {
        self.ranks.get(&uid).copied()
    }

    /// How many registrations on the subnet it takes to prune `uid`: the last of them does.
    pub fn registrations_until_pruned(&self, uid: u16) -> Option<u32> {
        self.rank(uid)
            .map(|r| self.open_slots.saturating_add(r).saturating_add(1))
    }
}

/// The snapshot's neurons as the rule sees them at block `at`, by uid.
fn entries(snap: &SubnetSnapshot, at: u64) -> BTreeMap<u16, Entry> {
    let immortal = immortal_uids(snap);
    let by_emission = matches!(snap.prune_rule, PruneRule::Emission { .. });
    snap.neurons
        .iter()
        .map(|n| {
            let key = if by_emission {
                n.emission
            } else {
                u64::from(n.pruning_score)
            };
            let entry = Entry {
                key,
                registered_at: n.registered_at,
                immune: is_immune(n.registered_at, snap.immunity_period, at),
                immortal: immortal.contains(&n.uid),
                newcomer: false,
            };
            (n.uid, entry)
        })
        .collect()
}

/// The uid a registration at block `at` on the snapshot's (full) subnet replaces; `None` when
/// the chain would refuse it (`NoNeuronIdAvailable`).
pub fn next_to_prune(snap: &SubnetSnapshot, at: u64) -> Option<u16> {
    candidate(snap.prune_rule, &entries(snap, at))
}

/// The prune order of the snapshot's neurons for registrations at block `at` (the next block,
/// for a registration sent now): the open slots fill first with fresh neurons, then each
/// registration prunes [`next_to_prune`]'s pick and puts a fresh neuron in its place.
pub fn prune_order(snap: &SubnetSnapshot, at: u64) -> PruneOrder {
    let by_emission = matches!(snap.prune_rule, PruneRule::Emission { .. });
    let mut entries = entries(snap, at);
    let fresh_immune = is_immune(at, snap.immunity_period, at);
    let fresh = |key: u64| Entry {
        key,
        registered_at: at,
        immune: fresh_immune,
        immortal: false,
        newcomer: true,
    };
    let max = usize::from(snap.max_uids);
    let open_slots = max.saturating_sub(entries.len());
    // The open slots fill with appended neurons (emission 0; pruning score 0).
    let mut next_uid = entries.keys().next_back().map_or(0, |u| u + 1);
    for _ in 0..open_slots {
        entries.insert(next_uid, fresh(0));
        next_uid = next_uid.saturating_add(1);
    }
    let mut ranks = BTreeMap::new();
    let originals = snap.neurons.len();
    // Each step prunes one original, or reaches a fixed point (a newcomer replaced by an
    // identical one, or no candidate): at most one step per original.
    for step in 0..originals {
        let Some(uid) = candidate(snap.prune_rule, &entries) else {
            break;
        };
        match entries.get(&uid) {
            Some(e) if !e.newcomer => {
                ranks.insert(uid, u32::try_from(step).unwrap_or(u32::MAX));
            }
            _ => break,
        }
        // A replaced neuron's emission starts at 0; older runtimes leave the pruning score at
        // u16::MAX, which `get_neuron_to_prune` set.
        let key = if by_emission { 0 } else { u64::from(u16::MAX) };
        entries.insert(uid, fresh(key));
    }
    PruneOrder {
        open_slots: u32::try_from(open_slots).unwrap_or(u32::MAX),
        ranks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{AccountId, Neuron};

    fn key(i: u8) -> AccountId {
        [i; 32]
    }

    /// A neuron of uid `uid` (hotkey `[uid+1; 32]`, coldkey `[100; 32]`), registered at `reg`
    /// with emission and pruning score `score`.
    fn neuron(uid: u16, reg: u64, score: u16) -> Neuron {
        let mut n = Neuron::registered(uid, key(uid as u8 + 1), key(100), reg);
        n.emission = u64::from(score);
        n.pruning_score = score;
        n
    }

    /// A full subnet at block 1000 with immunity 100, one neuron per `(reg, score)`.
    fn subnet(rule: PruneRule, neurons: &[(u64, u16)]) -> SubnetSnapshot {
        let mut s = SubnetSnapshot::for_tests(1000);
        s.prune_rule = rule;
        s.immunity_period = 100;
        s.max_uids = neurons.len() as u16;
        s.neurons = neurons
            .iter()
            .enumerate()
            .map(|(uid, &(reg, score))| neuron(uid as u16, reg, score))
            .collect();
        s
    }

    fn emission(min_non_immune: u16) -> PruneRule {
        PruneRule::Emission {
            min_non_immune,
            owner_uids_limit: 1,
        }
    }

    const SCORE_218: PruneRule = PruneRule::PruningScore {
        owners: OwnerImmunity::None,
    };

    fn ranks(o: &PruneOrder) -> Vec<(u16, u32)> {
        o.ranks.iter().map(|(u, r)| (*u, *r)).collect()
    }

    #[test]
    fn the_lowest_emission_goes_first_and_ties_go_to_the_older_registration_then_the_lower_uid() {
        // uid: 0 (reg 10, 5), 1 (reg 20, 3), 2 (reg 5, 3), 3 (reg 5, 3), 4 (reg 1, 9)
        let s = subnet(emission(0), &[(10, 5), (20, 3), (5, 3), (5, 3), (1, 9)]);
        let o = prune_order(&s, 1001);
        assert_eq!(o.open_slots, 0);
        // 2 and 3 tie on emission and block: the lower uid; then 1 (younger); then 0, then 4.
        assert_eq!(ranks(&o), vec![(0, 3), (1, 2), (2, 0), (3, 1), (4, 4)]);
        assert_eq!(o.registrations_until_pruned(2), Some(1));
        assert_eq!(o.registrations_until_pruned(4), Some(5));
    }

    #[test]
    fn the_pruning_score_rule_ranks_by_score_not_emission() {
        let mut s = subnet(SCORE_218, &[(10, 5), (20, 3), (5, 7)]);
        // Emission says the opposite of the score.
        for (n, e) in s.neurons.iter_mut().zip([1u64, 9, 0]) {
            n.emission = e;
        }
        let o = prune_order(&s, 1001);
        assert_eq!(ranks(&o), vec![(0, 1), (1, 0), (2, 2)]);
    }

    #[test]
    fn the_owners_immortal_hotkeys_are_never_reached() {
        let rule = PruneRule::Emission {
            min_non_immune: 0,
            owner_uids_limit: 2,
        };
        let mut s = subnet(rule, &[(10, 0), (20, 0), (30, 0), (40, 0), (50, 1)]);
        let owner = key(200);
        s.owner = Some(owner);
        // The owner holds uids 1, 2 and 3, and uid 3 is its SubnetOwnerHotkey. The limit is 2:
        // the owner hotkey first, then its oldest other (uid 1); uid 2 is pruned like anyone.
        for uid in [1, 2, 3] {
            s.neurons[uid].coldkey = owner;
        }
        s.owner_hotkey = Some(s.neurons[3].hotkey);
        let o = prune_order(&s, 1001);
        assert_eq!(ranks(&o), vec![(0, 0), (2, 1), (4, 2)]);
        assert_eq!(o.rank(1), None);
        assert_eq!(o.rank(3), None);
        // Spec 218 skips nobody: the owner's neurons go by their score like the rest.
        s.prune_rule = SCORE_218;
        assert_eq!(
            ranks(&prune_order(&s, 1001)),
            vec![(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]
        );
        // Later pruning-score runtimes skip the SubnetOwnerHotkey alone.
        s.prune_rule = PruneRule::PruningScore {
            owners: OwnerImmunity::OwnerHotkey,
        };
        assert_eq!(
            ranks(&prune_order(&s, 1001)),
            vec![(0, 0), (1, 1), (2, 2), (4, 3)]
        );
    }

    #[test]
    fn immune_neurons_go_only_once_min_non_immune_uids_is_reached() {
        // At block 1000 with immunity 100: uids 0–2 are past it, 3 and 4 immune (reg 950, 960).
        let s = subnet(
            emission(2),
            &[(10, 5), (20, 6), (30, 7), (950, 0), (960, 0)],
        );
        let o = prune_order(&s, 1000);
        // Three non-immune > 2: uid 0 goes (rank 0), its newcomer is immune. Then two remain,
        // which is not more than 2: the immune go, lowest emission, older first: uid 3, uid 4.
        // After them only newcomers are immune and the next pick is a newcomer: uids 1 and 2
        // are never reached.
        assert_eq!(ranks(&o), vec![(0, 0), (3, 1), (4, 2)]);
        assert_eq!(o.rank(1), None);
        // With the floor at 0 the non-immune all go first, lowest emission first.
        let o = prune_order(
            &subnet(
                emission(0),
                &[(10, 5), (20, 6), (30, 7), (950, 0), (960, 0)],
            ),
            1000,
        );
        assert_eq!(ranks(&o), vec![(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]);
    }

    #[test]
    fn with_no_immune_neuron_and_too_few_non_immune_the_chain_refuses() {
        // Two non-immune neurons, floor 10, nobody immune: NoNeuronIdAvailable.
        let s = subnet(emission(10), &[(10, 5), (20, 6)]);
        assert_eq!(prune_order(&s, 1000).ranks, BTreeMap::new());
        // The older runtime has no floor: it prunes the non-immune.
        let mut s = s;
        s.prune_rule = SCORE_218;
        assert_eq!(ranks(&prune_order(&s, 1000)), vec![(0, 0), (1, 1)]);
    }

    #[test]
    fn open_slots_fill_first_and_count_toward_the_registrations() {
        let mut s = subnet(emission(0), &[(10, 5), (20, 3)]);
        s.max_uids = 5;
        let o = prune_order(&s, 1001);
        assert_eq!(o.open_slots, 3);
        // The three appended neurons are immune: the old ones go first, uid 1 (emission 3).
        assert_eq!(ranks(&o), vec![(0, 1), (1, 0)]);
        assert_eq!(o.registrations_until_pruned(1), Some(4));
        assert_eq!(o.registrations_until_pruned(0), Some(5));
        // Without immunity the appended neurons (emission 0, pruning score 0) go first, and
        // each one replaced is fresh again: the old ones are never reached.
        s.immunity_period = 0;
        let o = prune_order(&s, 1001);
        assert_eq!(o.ranks, BTreeMap::new());
    }

    #[test]
    fn a_full_subnet_of_immune_neurons_prunes_the_lowest_among_them() {
        let s = subnet(SCORE_218, &[(990, 4), (995, 2), (999, 2)]);
        let o = prune_order(&s, 1000);
        // All immune: the same rule among them; newcomers (score u16::MAX) come after.
        assert_eq!(ranks(&o), vec![(0, 2), (1, 0), (2, 1)]);
    }

    #[test]
    fn immunity_ends_at_registration_plus_the_period() {
        assert!(is_immune(100, 10, 109));
        assert!(!is_immune(100, 10, 110));
        assert_eq!(immune_blocks_left(100, 10, 104), 6);
        assert_eq!(immune_blocks_left(100, 10, 120), 0);
        assert!(!is_immune(100, 0, 100));
    }
}
