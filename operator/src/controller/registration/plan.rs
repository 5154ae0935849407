//! The registration plan: what a fleet's registration does next, decided from what was read.
//! Everything here is pure (no I/O, no clock): the step in `mod.rs` reads the chain and the
//! status, asks these functions, and does what they say. Each rule has its unit test below:
//! which replicas to register, the price limit and its wait, the count cap, the budget, the
//! proxy, the balance, the back-off after a failure, and an intent left by a run that crashed.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::super::keys::HotkeyRef;
use crate::chain::prune::{immune_blocks_left, prune_order};
use crate::chain::{
    AccountId, DispatchError, PriceModel, ProxyCheck, ProxyType, RegisterCall, SubnetSnapshot,
    TxOutcome,
};
use crate::crd::common::rao_to_tao;
use crate::crd::fleet::{
    AxonAddress, FleetStatus, ReRegister, RegistrationIntent, RegistrationRecord, SpendStatus,
};
use crate::keys::signer::{Signer, SignerKind};
use crate::keys::ss58_decode;

/// Why registration waits: the reason of the `Registered` condition (and of `Ready` while the
/// pods are ready but not all registered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// The subnet has not been read from the chain yet, or does not exist.
    WaitingForChain,
    /// The chain did not answer.
    ChainUnreachable,
    /// `registration.mode: Manual`: the operator does not register.
    ManualRegistration,
    /// `registration.mode: DryRun`: what would be paid is reported, nothing is sent.
    DryRun,
    /// The subnet does not accept registrations now.
    RegistrationClosed,
    /// The burn is above `maxPriceTao`.
    PriceAboveLimit,
    /// The next burn does not fit the budget's window.
    BudgetExhausted,
    /// The registration signer is not a usable proxy of the coldkey.
    NotAProxy,
    /// The proxy has a delay: `Proxy.proxy` would need an announcement.
    ProxyDelayed,
    /// The limit is below what the chain could ever charge.
    PriceLimitUnreachable,
    /// The chain's registration count cap for this interval or block is reached.
    RegistrationCapReached,
    /// The payer (or the proxy, for fees) cannot pay.
    InsufficientBalance,
    /// The chain refused the last registration.
    RegistrationFailed,
    /// Sending failed; the intent is resolved from the chain next time.
    SubmitFailed,
    /// `mode: Burn` without a registration signer.
    NoSigner,
}

impl WaitReason {
    /// The condition reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitingForChain => "WaitingForChain",
            Self::ChainUnreachable => "ChainUnreachable",
            Self::ManualRegistration => "ManualRegistration",
            Self::DryRun => "DryRun",
            Self::RegistrationClosed => "RegistrationClosed",
            Self::PriceAboveLimit => "PriceAboveLimit",
            Self::BudgetExhausted => "BudgetExhausted",
            Self::NotAProxy => "NotAProxy",
            Self::ProxyDelayed => "ProxyDelayed",
            Self::PriceLimitUnreachable => "PriceLimitUnreachable",
            Self::RegistrationCapReached => "RegistrationCapReached",
            Self::InsufficientBalance => "InsufficientBalance",
            Self::RegistrationFailed => "RegistrationFailed",
            Self::SubmitFailed => "SubmitFailed",
            Self::NoSigner => "NoSigner",
        }
    }
}

/// The spend to trust among several records of it (status, the ledger annotation, what this
/// process remembers): the latest window, and in it the highest spend. A lower value is never
/// believed over a higher one of the same window.
pub fn trusted_spend<'a>(
    records: impl IntoIterator<Item = &'a SpendStatus>,
) -> Option<SpendStatus> {
    let start = |s: &SpendStatus| {
        s.window_start
            .as_deref()
            .and_then(|w| w.parse::<Timestamp>().ok())
    };
    let mut best: Option<SpendStatus> = None;
    for r in records {
        best = Some(match best {
            None => r.clone(),
            Some(b) => {
                let total = b.total_spent_rao.max(r.total_spent_rao);
                let mut pick = match start(r).cmp(&start(&b)) {
                    std::cmp::Ordering::Greater => r.clone(),
                    std::cmp::Ordering::Less => b,
                    std::cmp::Ordering::Equal if r.spent_rao > b.spent_rao => r.clone(),
                    std::cmp::Ordering::Equal => b,
                };
                pick.total_spent_rao = total;
                pick
            }
        });
    }
    best
}

/// `spend`, raised to `floor` where the floor records more in its (still current) window.
pub fn floor_spend(mut spend: SpendStatus, floor: &SpendStatus) -> SpendStatus {
    if floor.spent_rao > spend.spent_rao {
        spend.window_start = floor.window_start.clone();
        spend.spent_rao = floor.spent_rao;
        spend.spent_tao = rao_to_tao(spend.spent_rao);
    }
    spend.total_spent_rao = spend.total_spent_rao.max(floor.total_spent_rao);
    spend
}

/// Spend in the current window; starts a new window when the old one has passed.
pub fn window_spend(spend: Option<&SpendStatus>, window_secs: u64, now: Timestamp) -> SpendStatus {
    let mut s = spend.cloned().unwrap_or_default();
    let start = s
        .window_start
        .as_deref()
        .and_then(|w| w.parse::<Timestamp>().ok());
    let expired = start.is_none_or(|start| {
        now.as_second().saturating_sub(start.as_second())
            >= i64::try_from(window_secs).unwrap_or(i64::MAX)
    });
    if expired {
        s.window_start = Some(now.to_string());
        s.spent_rao = 0;
    }
    s.spent_tao = rao_to_tao(s.spent_rao);
    s
}

/// What a registration's transaction fee may cost at most, in rao (0.01 TAO): kept free on
/// whoever signs, on top of the burn when the coldkey signs itself.
pub const FEE_RESERVE_RAO: u64 = 10_000_000;

/// Why the accounts cannot afford a registration at `burn`, if they cannot: the coldkey pays the
/// burn (keeping the existential deposit); whoever signs pays the fee — the coldkey itself, or
/// the proxy (`proxy`: its address and free balance).
pub fn balance_shortfall(
    burn: u64,
    coldkey_free: u64,
    proxy: Option<(String, u64)>,
) -> Option<String> {
    let fee = FEE_RESERVE_RAO;
    let needs = burn
        .saturating_add(crate::chain::EXISTENTIAL_DEPOSIT)
        .saturating_add(if proxy.is_none() { fee } else { 0 });
    if coldkey_free < needs {
        return Some(format!(
            "the coldkey has {} TAO; a registration needs {} (burn, fee and existential deposit)",
            rao_to_tao(coldkey_free),
            rao_to_tao(needs)
        ));
    }
    match proxy {
        Some((ss58, free)) if free < fee => Some(format!(
            "the proxy {ss58} has {} TAO; it pays the transaction fee (keep at least {} TAO on it)",
            rao_to_tao(free),
            rao_to_tao(fee)
        )),
        _ => None,
    }
}

/// Blocks to wait before trying a registration again after it failed with `error`: one block
/// for what clears at once, a tempo for a full subnet (UIDs leave immunity), longer for what
/// only a person can fix — every attempt costs a fee.
pub fn retry_delay_blocks(error: &DispatchError, tempo: u16) -> u64 {
    use crate::chain::DispatchError as E;
    let tempo = u64::from(tempo.max(1));
    match error {
        E::RegistrationPriceLimitExceeded | E::TooManyRegistrationsThisBlock => 1,
        E::TooManyRegistrationsThisInterval | E::NoNeuronIdAvailable => tempo,
        E::NotEnoughBalanceToStake
        | E::InsufficientBalance
        | E::SubNetRegistrationDisabled
        | E::SubtokenDisabled => 50,
        E::NonAssociatedColdKey
        | E::NotProxy
        | E::Unproxyable
        | E::RegistrationNotPermittedOnRootSubnet
        | E::SubnetNotExists => 600,
        E::HotKeyAlreadyRegisteredInSubNet | E::BadOrigin | E::Other(_) => 10,
    }
}

/// Forgets everything a status knows of a chain that is gone (a new chain): registrations,
/// UIDs, chain-side figures, intents in flight and deregistrations. Returns how many replicas
/// were registered.
pub fn forget_chain(status: &mut FleetStatus) -> usize {
    let mut n = 0;
    for r in &mut status.replica_statuses {
        if r.registered {
            n += 1;
        }
        *r = crate::crd::fleet::ReplicaStatus {
            index: r.index,
            hotkey: r.hotkey.take(),
            secret_name: r.secret_name.take(),
            pod: r.pod.take(),
            phase: r.phase.take(),
            axon_exposed: r.axon_exposed.take(),
            message: Some("the chain was reset (a new chain): registering again".to_string()),
            ..Default::default()
        };
    }
    status.deregistered.clear();
    status.registered_replicas = 0;
    n
}

/// Writes what the chain says of each replica into `status` (pure).
pub fn record_chain_state(
    status: &mut FleetStatus,
    snapshot: &SubnetSnapshot,
    hotkeys: &BTreeMap<u32, HotkeyRef>,
) -> Vec<u32> {
    let mut lost = vec![];
    // A registration sent now lands in the next block at the earliest.
    let order = prune_order(snapshot, snapshot.block + 1);
    for r in &mut status.replica_statuses {
        let Some(h) = hotkeys.get(&r.index) else {
            continue;
        };
        let Ok(pk) = ss58_decode(&h.ss58) else {
            continue;
        };
        match snapshot.neuron(&pk) {
            Some(n) => {
                r.registered = true;
                r.uid = Some(n.uid);
                r.registered_at_block = Some(n.registered_at);
                r.immune_until_block = Some(n.registered_at + u64::from(snapshot.immunity_period));
                r.immune_blocks_left = Some(immune_blocks_left(
                    n.registered_at,
                    snapshot.immunity_period,
                    snapshot.block,
                ));
                r.prune_rank = order.rank(n.uid);
                r.registrations_until_pruned = order.registrations_until_pruned(n.uid);
                r.incentive = Some(n.incentive);
                r.emission_rao = Some(n.emission);
                r.trust = Some(n.trust);
                r.stake_rao = Some(n.stake);
                r.validator_permit = Some(n.validator_permit);
                r.validator_trust = Some(n.validator_trust);
                r.dividends = Some(n.dividends);
                r.last_weights_block = Some(n.last_update);
                // Blocks since the last weights change every block; computing them here would
                // rewrite status on every reconcile. Validators report it in their own step.
                r.axon_on_chain = n.axon.as_ref().map(|a| AxonAddress {
                    ip: a.ip.clone(),
                    port: a.port,
                });
            }
            None => {
                // A snapshot from before our own registration landed says nothing.
                let stale = r
                    .last_registration
                    .as_ref()
                    .is_some_and(|l| snapshot.block <= l.block);
                if stale {
                    continue;
                }
                if r.registered && r.pending_registration.is_none() {
                    lost.push(r.index);
                }
                r.registered = false;
                r.uid = None;
                r.registered_at_block = None;
                r.immune_until_block = None;
                r.immune_blocks_left = None;
                r.prune_rank = None;
                r.registrations_until_pruned = None;
                r.incentive = None;
                r.emission_rao = None;
                r.trust = None;
                r.stake_rao = None;
                r.validator_permit = None;
                r.validator_trust = None;
                r.dividends = None;
                r.last_weights_block = None;
                r.blocks_since_weights = None;
                r.axon_on_chain = None;
            }
        }
    }
    lost
}

/// Counts the registered replicas among `hotkeys` into `status.registered_replicas`, and
/// returns the count.
pub fn count_registered(status: &mut FleetStatus, hotkeys: &BTreeMap<u32, HotkeyRef>) -> usize {
    let n = status
        .replica_statuses
        .iter()
        .filter(|r| hotkeys.contains_key(&r.index) && r.registered)
        .count();
    status.registered_replicas = i32::try_from(n).unwrap_or(i32::MAX);
    n
}

/// The registration call for `hotkey`, signed by `signer` (through `Proxy.proxy` when it is a
/// proxy of `coldkey`), with the chain-side price limit `limit`.
pub fn call_for(
    signer: &Signer,
    coldkey: AccountId,
    netuid: u16,
    hotkey: Option<&HotkeyRef>,
    limit: u64,
    proxy_type: ProxyType,
) -> Option<RegisterCall> {
    let hotkey = ss58_decode(&hotkey?.ss58).ok()?;
    Some(RegisterCall {
        netuid,
        hotkey,
        limit_rao: limit,
        real: (signer.kind == SignerKind::Proxy).then_some(coldkey),
        proxy_type,
    })
}

/// Records a transaction's outcome for replica `i`; returns the burn paid, if any.
pub fn record_outcome(
    status: &mut FleetStatus,
    spend: &mut SpendStatus,
    i: u32,
    outcome: &TxOutcome,
    tempo: u16,
) -> Option<u64> {
    let (result, block, hash) = (&outcome.result, outcome.block, outcome.hash.as_str());
    let r = status.replica_statuses.iter_mut().find(|r| r.index == i)?;
    r.pending_registration = None;
    r.retry_at_block = match result {
        Err(e) if *e != DispatchError::HotKeyAlreadyRegisteredInSubNet => {
            Some(block.saturating_add(retry_delay_blocks(e, tempo)))
        }
        _ => None,
    };
    match result {
        Ok((uid, paid)) => {
            r.registered = true;
            r.uid = Some(*uid);
            r.last_registration = Some(RegistrationRecord {
                block,
                price_rao: *paid,
                price_tao: rao_to_tao(*paid),
                tx_hash: Some(hash.to_string()),
                fee_rao: Some(outcome.fee),
            });
            spend.spent_rao = spend.spent_rao.saturating_add(*paid);
            spend.total_spent_rao = spend.total_spent_rao.saturating_add(*paid);
            spend.spent_tao = rao_to_tao(spend.spent_rao);
            Some(*paid)
        }
        Err(DispatchError::HotKeyAlreadyRegisteredInSubNet) => {
            r.registered = true;
            None
        }
        Err(e) => {
            r.message = Some(format!("registration failed: {e}"));
            None
        }
    }
}

/// When to look again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Again {
    /// After this long.
    After(Duration),
    /// After this many blocks (the step turns them into time from the chain's block time).
    Blocks(u64),
}

/// Why registration cannot go on now, and when to look again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    /// The condition reason.
    pub reason: WaitReason,
    /// The condition message.
    pub message: String,
    /// When to look again (`None`: on the next change or the usual resync).
    pub again: Option<Again>,
}

impl Wait {
    fn new(reason: WaitReason, message: impl Into<String>, again: Option<Again>) -> Self {
        Self {
            reason,
            message: message.into(),
            again,
        }
    }
}

/// The replicas to register now, lowest index first: those with a hotkey, not registered, with
/// nothing in flight, not held back after a deregistration (unless `reRegister: Always`), and
/// past their back-off.
pub fn to_register(
    status: &FleetStatus,
    hotkeys: &BTreeMap<u32, HotkeyRef>,
    re_register: ReRegister,
    block: u64,
) -> Vec<u32> {
    let mut out: Vec<u32> = status
        .replica_statuses
        .iter()
        .filter(|r| hotkeys.contains_key(&r.index))
        .filter(|r| !r.registered && r.pending_registration.is_none())
        .filter(|r| re_register == ReRegister::Always || !status.deregistered.contains(&r.index))
        .filter(|r| r.retry_at_block.is_none_or(|b| block >= b))
        .map(|r| r.index)
        .collect();
    out.sort_unstable();
    out
}

/// The first replica still backing off after a failure: why, and until which block.
pub fn backing_off(status: &FleetStatus, block: u64) -> Option<Wait> {
    let r = status
        .replica_statuses
        .iter()
        .find(|r| !r.registered && r.retry_at_block.is_some_and(|b| block < b))?;
    Some(Wait::new(
        WaitReason::RegistrationFailed,
        format!(
            "replica {}: {}; next attempt at block {}",
            r.index,
            r.message.as_deref().unwrap_or("registration failed"),
            r.retry_at_block.unwrap_or_default()
        ),
        None,
    ))
}

/// The burn to start from. A snapshot of a finalized block that does not contain our latest
/// registration yet (the best block runs ahead) shows the price before it: start from what that
/// registration paid, bumped by the runtime's rule, so a registration the chain would refuse
/// for its price (and charge a fee for) is not sent.
pub fn starting_burn(status: &FleetStatus, snapshot: &SubnetSnapshot) -> u64 {
    match status
        .replica_statuses
        .iter()
        .filter_map(|r| r.last_registration.as_ref())
        .max_by_key(|l| l.block)
    {
        Some(last) if last.block >= snapshot.block => snapshot.burn.max(
            snapshot
                .price
                .after_registration(last.price_rao, snapshot.max_burn),
        ),
        _ => snapshot.burn,
    }
}

/// What `n` registrations would cost from `burn`, each raising the price by the runtime's rule.
pub fn dry_run_cost(burn: u64, price: &PriceModel, max_burn: u64, n: usize) -> u64 {
    let (mut cost, mut p) = (0u64, burn);
    for _ in 0..n {
        cost = cost.saturating_add(p);
        p = price.after_registration(p, max_burn);
    }
    cost
}

/// What the chain and the fleet say of the next registration, as read.
#[derive(Clone, Debug)]
pub struct Gate<'a> {
    /// The subnet.
    pub netuid: u16,
    /// The subnet accepts registrations now (allowed and started).
    pub open: bool,
    /// The burn the next registration pays.
    pub burn: u64,
    /// The runtime's price model, as of this reconcile's registrations.
    pub price: &'a PriceModel,
    /// The snapshot's block.
    pub block: u64,
    /// The chain's lowest burn.
    pub min_burn: u64,
    /// `maxPriceTao`, in rao.
    pub limit: u64,
    /// The budget of the window, in rao, if there is one.
    pub budget: Option<u64>,
    /// Spent in the window, in rao.
    pub spent: u64,
}

/// Whether the next registration may be sent: the limit the chain must enforce for it (the
/// price limit, or the budget's remainder when lower: a price that rose since the snapshot
/// fails on chain instead of overspending), or why it waits. The checks, in order: the subnet
/// is open, the price is within the limit (or when it may be), the runtime's count cap, the
/// budget.
pub fn gate(g: &Gate) -> Result<u64, Wait> {
    if !g.open {
        return Err(Wait::new(
            WaitReason::RegistrationClosed,
            format!("subnet {} does not accept registrations now", g.netuid),
            Some(Again::After(Duration::from_secs(30))),
        ));
    }
    if g.burn > g.limit {
        let Some(blocks) = g.price.blocks_until(g.burn, g.limit, g.block) else {
            // Nothing changes this but a new spec (which triggers a reconcile).
            return Err(Wait::new(
                WaitReason::PriceLimitUnreachable,
                format!(
                    "maxPriceTao {} can never be reached: the price never falls below MinBurn {} TAO",
                    rao_to_tao(g.limit),
                    rao_to_tao(g.min_burn)
                ),
                Some(Again::After(Duration::from_secs(600))),
            ));
        };
        // The message stays the same while the price moves (every block), so status is not
        // rewritten per block: the price itself is in status.registrationPriceTao.
        return Err(Wait::new(
            WaitReason::PriceAboveLimit,
            format!(
                "the registration price is above maxPriceTao {}; {}",
                rao_to_tao(g.limit),
                match g.price {
                    PriceModel::Decay { .. } => "waiting for it to decay",
                    PriceModel::Adjustment { .. } =>
                        "the runtime re-sets it once per adjustment interval",
                }
            ),
            Some(Again::Blocks(blocks)),
        ));
    }
    if let Some(why) = g.price.cap_reached() {
        return Err(Wait::new(
            WaitReason::RegistrationCapReached,
            why,
            Some(Again::Blocks(g.price.blocks_to_next_interval(g.block))),
        ));
    }
    match g.budget {
        Some(budget) if g.spent.saturating_add(g.burn) > budget => Err(Wait::new(
            WaitReason::BudgetExhausted,
            format!(
                "spent {} of {} TAO in this window; the next registration does not fit",
                rao_to_tao(g.spent),
                rao_to_tao(budget)
            ),
            Some(Again::After(Duration::from_secs(60))),
        )),
        Some(budget) => Ok(g.limit.min(budget.saturating_sub(g.spent))),
        None => Ok(g.limit),
    }
}

/// The proxy type a proxy signer's calls name, or why it cannot sign (`signer`: its address).
pub fn proxy_gate(signer: &str, check: ProxyCheck) -> Result<ProxyType, Wait> {
    match check {
        ProxyCheck::Usable(t) => Ok(t),
        ProxyCheck::Delayed { proxy_type, delay } => Err(Wait::new(
            WaitReason::ProxyDelayed,
            format!(
                "{signer} is a {} proxy of the coldkey with a delay of {delay} blocks: Proxy.proxy needs an announcement then; add it with delay 0",
                proxy_type.as_str()
            ),
            Some(Again::After(Duration::from_secs(60))),
        )),
        ProxyCheck::Missing => Err(Wait::new(
            WaitReason::NotAProxy,
            format!("{signer} is not a Registration (or Any) proxy of the coldkey"),
            Some(Again::After(Duration::from_secs(30))),
        )),
    }
}

/// Whether the accounts can pay a registration at `burn` (see [`balance_shortfall`]).
pub fn balance_gate(
    burn: u64,
    coldkey_free: u64,
    proxy: Option<(String, u64)>,
) -> Result<(), Wait> {
    match balance_shortfall(burn, coldkey_free, proxy) {
        Some(message) => Err(Wait::new(
            WaitReason::InsufficientBalance,
            message,
            Some(Again::After(Duration::from_secs(60))),
        )),
        None => Ok(()),
    }
}

/// What becomes of an intent in status (perhaps left by a run that crashed) whose transaction
/// the chain has not included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenIntent {
    /// Its era has ended without inclusion: nothing was paid; drop it.
    Expired,
    /// Its signer's nonce was used by another transaction: it never will be included, nothing
    /// was paid; drop it.
    Superseded,
    /// It may still be in a pool: send it again with the same nonce (one nonce is included at
    /// most once, so this cannot pay twice).
    Resend,
    /// Another signer signs now: only the intent's own signer may send it again; wait for its
    /// era to end.
    WaitForEra,
}

/// Decides an open intent at `block`, from its signer's next nonce on chain (when it was read)
/// and the fleet's current signer (its address).
pub fn open_intent(
    intent: &RegistrationIntent,
    block: u64,
    signer_nonce: Option<u64>,
    current_signer: Option<&str>,
) -> OpenIntent {
    if block > intent.era_end_block {
        return OpenIntent::Expired;
    }
    if signer_nonce.is_some_and(|n| n > intent.nonce) {
        return OpenIntent::Superseded;
    }
    match current_signer {
        Some(s) if intent.signer.as_deref().is_none_or(|i| i == s) => OpenIntent::Resend,
        _ => OpenIntent::WaitForEra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_wait_follows_the_runtime_price_model() {
        use crate::chain::PriceModel;
        let decay = PriceModel::decay(360);
        assert_eq!(decay.blocks_until(100, 100, 0), Some(0));
        assert_eq!(decay.blocks_until(200, 100, 0), Some(360));
        assert_eq!(decay.blocks_until(400, 100, 0), Some(720));
        assert_eq!(decay.blocks_until(50, 100, 0), Some(0));
        // A zero limit is never reached: no 1-second loop waiting for it.
        assert_eq!(decay.blocks_until(50, 0, 0), None);
        // A half-life of 0 must not mean "now".
        assert!(PriceModel::decay(0).blocks_until(200, 100, 0) >= Some(1));
        // Older runtimes re-set the price once per interval: wait for the next one.
        let adj = PriceModel::Adjustment {
            interval: 100,
            target: 1,
            max_per_block: 1,
            last_adjustment: 300,
            this_interval: 0,
            this_block: 0,
        };
        assert_eq!(adj.blocks_until(200, 100, 340), Some(60));
        assert_eq!(adj.blocks_until(200, 100, 400), Some(1));
        // Its price does not rise per registration; the decay model's does, by its multiplier.
        assert_eq!(adj.after_registration(1000, u64::MAX), 1000);
        assert_eq!(decay.after_registration(1000, u64::MAX), 1260);
        let steep = PriceModel::Decay {
            half_life: 360,
            increase_mult: 2.0,
        };
        assert_eq!(steep.after_registration(1000, 1500), 1500);
        // The count caps of older runtimes.
        assert_eq!(adj.cap_reached(), None);
        let mut full = adj.clone();
        for _ in 0..3 {
            full.registered();
        }
        assert!(full.cap_reached().is_some_and(|m| m.contains("3 × Target")));
        let block_full = PriceModel::Adjustment {
            interval: 100,
            target: 1,
            max_per_block: 1,
            last_adjustment: 300,
            this_interval: 0,
            this_block: 1,
        };
        assert!(block_full.cap_reached().is_some());
        // After our own registration the pool checks the next one against that block's
        // count: wait for a new block.
        let mut next = adj.clone();
        next.registered();
        assert!(next.cap_reached().is_some_and(|m| m.contains("this block")));
    }

    #[test]
    fn a_snapshot_older_than_our_registration_is_not_a_deregistration() {
        use crate::crd::fleet::ReplicaStatus;
        let hk = crate::keys::Hotkey::generate().unwrap_or_else(|e| panic!("{e}"));
        let hotkeys: BTreeMap<u32, HotkeyRef> = [(
            0,
            HotkeyRef {
                ss58: hk.ss58(),
                secret_name: "m-hotkey-0".into(),
            },
        )]
        .into();
        let snapshot = SubnetSnapshot::for_tests;
        let mut status = FleetStatus {
            replica_statuses: vec![ReplicaStatus {
                index: 0,
                registered: true,
                last_registration: Some(RegistrationRecord {
                    block: 50,
                    price_rao: 1,
                    price_tao: "0.000000001".into(),
                    tx_hash: None,
                    fee_rao: None,
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        // The cache still holds block 49 or 50: the new neuron is not in it yet.
        assert!(record_chain_state(&mut status, &snapshot(49), &hotkeys).is_empty());
        assert!(record_chain_state(&mut status, &snapshot(50), &hotkeys).is_empty());
        assert!(status.replica_statuses[0].registered);
        // A later block without it: pruned.
        assert_eq!(
            record_chain_state(&mut status, &snapshot(51), &hotkeys),
            vec![0]
        );
        assert!(!status.replica_statuses[0].registered);
    }

    #[test]
    fn a_new_chain_forgets_registrations_but_keeps_keys_and_pods() {
        use crate::crd::fleet::{RegistrationIntent, ReplicaStatus};
        let mut status = FleetStatus {
            deregistered: vec![1],
            registered_replicas: 1,
            replica_statuses: vec![
                ReplicaStatus {
                    index: 0,
                    hotkey: Some("5Hot".into()),
                    secret_name: Some("m-hotkey-0".into()),
                    pod: Some("m-0-0".into()),
                    registered: true,
                    uid: Some(3),
                    stake_rao: Some(5),
                    last_registration: Some(RegistrationRecord {
                        block: 900,
                        price_rao: 1,
                        price_tao: "0.000000001".into(),
                        tx_hash: None,
                        fee_rao: None,
                    }),
                    ..Default::default()
                },
                ReplicaStatus {
                    index: 1,
                    pending_registration: Some(RegistrationIntent {
                        nonce: 1,
                        era_end_block: 950,
                        tx_hash: "0xab".into(),
                        limit_rao: 1,
                        submitted_at_block: 920,
                        signer: None,
                    }),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(forget_chain(&mut status), 1);
        let r0 = &status.replica_statuses[0];
        assert!(!r0.registered);
        assert_eq!(
            (r0.uid, r0.stake_rao, r0.last_registration.is_none()),
            (None, None, true)
        );
        assert_eq!(
            (
                r0.hotkey.as_deref(),
                r0.secret_name.as_deref(),
                r0.pod.as_deref()
            ),
            (Some("5Hot"), Some("m-hotkey-0"), Some("m-0-0"))
        );
        assert!(status.replica_statuses[1].pending_registration.is_none());
        assert!(status.deregistered.is_empty());
        // The count goes with them: until the new chain has the subnet, nothing else recounts
        // (a restarted chopsticks showed 3 registered on a chain with none).
        assert_eq!(status.registered_replicas, 0);
    }

    #[test]
    fn balance_checks_count_the_fee_on_whoever_signs() {
        let burn = 1_000_000_000;
        let ed = crate::chain::EXISTENTIAL_DEPOSIT;
        // The coldkey signs: burn + fee + existential deposit.
        assert!(balance_shortfall(burn, burn + ed + FEE_RESERVE_RAO, None).is_none());
        let m = balance_shortfall(burn, burn + ed, None).unwrap_or_default();
        assert!(m.contains("the coldkey has"), "{m}");
        // A proxy signs: the coldkey needs only burn + deposit; the proxy needs the fee.
        assert!(
            balance_shortfall(burn, burn + ed, Some(("5Proxy".into(), FEE_RESERVE_RAO))).is_none()
        );
        let m = balance_shortfall(burn, burn + ed, Some(("5Proxy".into(), 0))).unwrap_or_default();
        assert!(m.contains("the proxy 5Proxy has 0"), "{m}");
    }

    #[test]
    fn failures_back_off_by_how_likely_they_clear() {
        assert_eq!(
            retry_delay_blocks(
                &"SubtensorModule.RegistrationPriceLimitExceeded".into(),
                360
            ),
            1
        );
        assert_eq!(
            retry_delay_blocks(&"SubtensorModule.NoNeuronIdAvailable".into(), 360),
            360
        );
        assert_eq!(
            retry_delay_blocks(&"SubtensorModule.NonAssociatedColdKey".into(), 10),
            600
        );
        assert_eq!(retry_delay_blocks(&"Proxy.NotProxy".into(), 10), 600);
        assert_eq!(retry_delay_blocks(&"Something.New".into(), 10), 10);
        let mut status = FleetStatus {
            replica_statuses: vec![crate::crd::fleet::ReplicaStatus {
                index: 0,
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut spend = SpendStatus::default();
        let outcome = |result, block| TxOutcome {
            block,
            hash: "0x1".into(),
            result,
            fee: 7,
        };
        let e = Err(DispatchError::NonAssociatedColdKey);
        assert_eq!(
            record_outcome(&mut status, &mut spend, 0, &outcome(e, 100), 10),
            None
        );
        assert_eq!(status.replica_statuses[0].retry_at_block, Some(700));
        let ok = Ok((3, 5));
        assert_eq!(
            record_outcome(&mut status, &mut spend, 0, &outcome(ok, 800), 10),
            Some(5)
        );
        assert_eq!(status.replica_statuses[0].retry_at_block, None);
    }

    #[test]
    fn spend_windows_roll_over() {
        let t0: Timestamp = "2026-01-01T00:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let s = window_spend(None, 3600, t0);
        assert_eq!(s.spent_rao, 0);
        let mut s2 = s.clone();
        s2.spent_rao = 5;
        let later = Timestamp::from_second(t0.as_second() + 100).unwrap_or(t0);
        assert_eq!(window_spend(Some(&s2), 3600, later).spent_rao, 5);
        let much_later = Timestamp::from_second(t0.as_second() + 3600).unwrap_or(t0);
        let rolled = window_spend(Some(&s2), 3600, much_later);
        assert_eq!(rolled.spent_rao, 0);
        assert_eq!(rolled.window_start, Some(much_later.to_string()));
    }

    #[test]
    fn a_lower_spend_is_never_believed_over_a_higher_one() {
        let at = |w: &str, spent: u64, total: u64| SpendStatus {
            window_start: Some(w.to_string()),
            spent_rao: spent,
            spent_tao: rao_to_tao(spent),
            total_spent_rao: total,
        };
        let ledger = at("2026-01-01T00:00:00Z", 5_920_000, 5_920_000);
        // A status patched back to zero in the same window: the ledger wins.
        let wiped = at("2026-01-01T00:00:00Z", 0, 0);
        let t = trusted_spend([&wiped, &ledger]).unwrap_or_default();
        assert_eq!((t.spent_rao, t.total_spent_rao), (5_920_000, 5_920_000));
        // A status with no spend at all: the ledger still counts.
        let t = trusted_spend([&ledger]).unwrap_or_default();
        assert_eq!(t.spent_rao, 5_920_000);
        // A later window starts again from zero, but keeps the highest total.
        let next = at("2026-01-02T00:00:00Z", 0, 0);
        let t = trusted_spend([&ledger, &next]).unwrap_or_default();
        assert_eq!(t.window_start.as_deref(), Some("2026-01-02T00:00:00Z"));
        assert_eq!((t.spent_rao, t.total_spent_rao), (0, 5_920_000));
        assert_eq!(trusted_spend([]), None);
    }

    #[test]
    fn the_floor_raises_a_wiped_spend_and_never_adds_to_it() {
        let at = |w: &str, spent: u64, total: u64| SpendStatus {
            window_start: Some(w.to_string()),
            spent_rao: spent,
            spent_tao: rao_to_tao(spent),
            total_spent_rao: total,
        };
        let floor = at("2026-01-01T00:00:00Z", 500, 900);
        // Wiped: a new window from zero; the floor's window is still current.
        let s = floor_spend(at("2026-01-01T05:00:00Z", 0, 0), &floor);
        assert_eq!(s, at("2026-01-01T00:00:00Z", 500, 900));
        // The status caught up with one more registration the floor does not have yet.
        let s = floor_spend(at("2026-01-01T00:00:00Z", 700, 1100), &floor);
        assert_eq!(s, at("2026-01-01T00:00:00Z", 700, 1100));
        // The same registration in both: a maximum, not a sum.
        let s = floor_spend(at("2026-01-01T00:00:00Z", 500, 900), &floor);
        assert_eq!(s.spent_rao, 500);
    }

    fn replica(index: u32) -> crate::crd::fleet::ReplicaStatus {
        crate::crd::fleet::ReplicaStatus {
            index,
            ..Default::default()
        }
    }

    fn keys(indices: &[u32]) -> BTreeMap<u32, HotkeyRef> {
        indices
            .iter()
            .map(|&i| {
                (
                    i,
                    HotkeyRef {
                        ss58: format!("5Hotkey{i}"),
                        secret_name: format!("m-{i}"),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn the_replicas_to_register_skip_the_registered_the_pending_the_held_and_the_backing_off() {
        let mut registered = replica(1);
        registered.registered = true;
        let mut pending = replica(2);
        pending.pending_registration = Some(RegistrationIntent {
            nonce: 0,
            era_end_block: 10,
            tx_hash: "0x1".into(),
            limit_rao: 1,
            submitted_at_block: 1,
            signer: None,
        });
        let mut waiting = replica(4);
        waiting.retry_at_block = Some(105);
        waiting.message = Some("registration failed: X".into());
        let status = FleetStatus {
            replica_statuses: vec![
                replica(5),
                replica(0),
                registered,
                pending,
                replica(3),
                waiting,
                replica(6),
            ],
            deregistered: vec![3],
            ..Default::default()
        };
        // Replica 6 has no hotkey (yet): it waits for one.
        let hotkeys = keys(&[0, 1, 2, 3, 4, 5]);
        assert_eq!(
            to_register(&status, &hotkeys, ReRegister::Never, 100),
            [0, 5]
        );
        assert_eq!(
            to_register(&status, &hotkeys, ReRegister::Always, 100),
            [0, 3, 5]
        );
        // The back-off ends at its block.
        assert_eq!(
            to_register(&status, &hotkeys, ReRegister::Never, 105),
            [0, 4, 5]
        );
        let w = backing_off(&status, 100);
        assert_eq!(
            w.as_ref().map(|w| w.reason),
            Some(WaitReason::RegistrationFailed)
        );
        assert_eq!(
            w.map(|w| w.message).unwrap_or_default(),
            "replica 4: registration failed: X; next attempt at block 105"
        );
        assert_eq!(backing_off(&status, 105), None);
    }

    #[test]
    fn the_burn_starts_from_our_own_registration_when_the_snapshot_predates_it() {
        let mut snapshot = SubnetSnapshot::for_tests(100);
        snapshot.burn = 1_000;
        snapshot.max_burn = 1_000_000;
        snapshot.price = PriceModel::Decay {
            half_life: 360,
            increase_mult: 2.0,
        };
        let mut r = replica(0);
        r.last_registration = Some(RegistrationRecord {
            block: 100,
            price_rao: 4_000,
            price_tao: String::new(),
            tx_hash: None,
            fee_rao: None,
        });
        let mut status = FleetStatus {
            replica_statuses: vec![r],
            ..Default::default()
        };
        // The snapshot (block 100) does not show the registration of block 100 yet: 4000 · 2.
        assert_eq!(starting_burn(&status, &snapshot), 8_000);
        // Within MaxBurn.
        snapshot.max_burn = 5_000;
        assert_eq!(starting_burn(&status, &snapshot), 5_000);
        // A later snapshot shows it: its own burn counts.
        snapshot.block = 101;
        assert_eq!(starting_burn(&status, &snapshot), 1_000);
        status.replica_statuses[0].last_registration = None;
        assert_eq!(starting_burn(&status, &snapshot), 1_000);
        // A dry run adds the rising prices: 1000 + 2000 + 4000, capped at MaxBurn 5000.
        assert_eq!(dry_run_cost(1_000, &snapshot.price, 5_000, 3), 7_000);
        assert_eq!(dry_run_cost(1_000, &snapshot.price, 3_000, 3), 6_000);
        assert_eq!(dry_run_cost(1_000, &snapshot.price, 3_000, 0), 0);
    }

    fn adjustment(this_interval: u16, this_block: u16) -> PriceModel {
        PriceModel::Adjustment {
            interval: 100,
            target: 2,
            max_per_block: 1,
            last_adjustment: 50,
            this_interval,
            this_block,
        }
    }

    #[test]
    fn the_gate_checks_open_price_cap_and_budget_in_that_order() {
        let decay = PriceModel::Decay {
            half_life: 100,
            increase_mult: 1.26,
        };
        let g = Gate {
            netuid: 7,
            open: true,
            burn: 1_000,
            price: &decay,
            block: 120,
            min_burn: 10,
            limit: 2_000,
            budget: None,
            spent: 0,
        };
        // Without a budget the chain enforces the price limit.
        assert_eq!(gate(&g), Ok(2_000));
        // A budget's remainder, when lower, is the chain's limit.
        assert_eq!(
            gate(&Gate {
                budget: Some(2_500),
                spent: 1_000,
                ..g.clone()
            }),
            Ok(1_500)
        );
        assert_eq!(
            gate(&Gate {
                budget: Some(9_000),
                spent: 1_000,
                ..g.clone()
            }),
            Ok(2_000)
        );
        // The next burn does not fit the budget.
        let w = gate(&Gate {
            budget: Some(1_500),
            spent: 1_000,
            ..g.clone()
        });
        assert_eq!(
            w.as_ref().map_err(|w| (w.reason, w.again)),
            Err((
                WaitReason::BudgetExhausted,
                Some(Again::After(Duration::from_secs(60)))
            ))
        );
        // Closed beats everything else.
        let w = gate(&Gate {
            open: false,
            burn: 9_999,
            budget: Some(0),
            ..g.clone()
        });
        assert_eq!(
            w.map_err(|w| (w.reason, w.message)),
            Err((
                WaitReason::RegistrationClosed,
                "subnet 7 does not accept registrations now".to_string()
            ))
        );
        // Above the limit with decay: wait the blocks until it halves below it (4000 -> 2000: 100).
        let w = gate(&Gate {
            burn: 4_000,
            budget: Some(0),
            ..g.clone()
        });
        assert_eq!(
            w.as_ref().map_err(|w| (w.reason, w.again)),
            Err((WaitReason::PriceAboveLimit, Some(Again::Blocks(100))))
        );
        assert!(
            w.map_err(|w| w.message)
                .unwrap_err()
                .contains("waiting for it to decay")
        );
        // A zero limit is never reached.
        let w = gate(&Gate {
            limit: 0,
            ..g.clone()
        });
        assert_eq!(
            w.map_err(|w| w.reason),
            Err(WaitReason::PriceLimitUnreachable)
        );
        // The adjustment model: above the limit waits for the next interval (at block 150).
        let adj = adjustment(0, 0);
        let w = gate(&Gate {
            burn: 4_000,
            price: &adj,
            ..g.clone()
        });
        assert_eq!(
            w.as_ref().map_err(|w| (w.reason, w.again)),
            Err((WaitReason::PriceAboveLimit, Some(Again::Blocks(30))))
        );
        assert!(
            w.map_err(|w| w.message)
                .unwrap_err()
                .contains("once per adjustment interval")
        );
        assert_eq!(
            gate(&Gate {
                price: &adj,
                ..g.clone()
            }),
            Ok(2_000)
        );
        // Its caps: one per block, 3 · target per interval; the budget is not even looked at.
        let full_block = adjustment(1, 1);
        let w = gate(&Gate {
            price: &full_block,
            budget: Some(0),
            ..g.clone()
        });
        assert_eq!(
            w.as_ref().map_err(|w| w.reason),
            Err(WaitReason::RegistrationCapReached)
        );
        assert!(
            w.map_err(|w| w.message)
                .unwrap_err()
                .contains("MaxRegistrationsPerBlock")
        );
        let full_interval = adjustment(6, 0);
        let w = gate(&Gate {
            price: &full_interval,
            ..g.clone()
        });
        assert_eq!(
            w.as_ref().map_err(|w| (w.reason, w.again)),
            Err((WaitReason::RegistrationCapReached, Some(Again::Blocks(30))))
        );
    }

    #[test]
    fn a_proxy_signs_only_without_a_delay_and_the_payers_must_afford_it() {
        assert_eq!(
            proxy_gate("5P", ProxyCheck::Usable(ProxyType::Any)),
            Ok(ProxyType::Any)
        );
        let w = proxy_gate(
            "5P",
            ProxyCheck::Delayed {
                proxy_type: ProxyType::Registration,
                delay: 5,
            },
        );
        assert_eq!(
            w.map_err(|w| (w.reason, w.message)),
            Err((
                WaitReason::ProxyDelayed,
                "5P is a Registration proxy of the coldkey with a delay of 5 blocks: Proxy.proxy needs an announcement then; add it with delay 0".to_string()
            ))
        );
        let w = proxy_gate("5P", ProxyCheck::Missing);
        assert_eq!(
            w.map_err(|w| (w.reason, w.again)),
            Err((
                WaitReason::NotAProxy,
                Some(Again::After(Duration::from_secs(30)))
            ))
        );
        let ed = crate::chain::EXISTENTIAL_DEPOSIT;
        assert_eq!(balance_gate(100, 100 + ed + FEE_RESERVE_RAO, None), Ok(()));
        let w = balance_gate(100, 100 + ed, Some(("5P".into(), 0)));
        assert_eq!(
            w.as_ref().map_err(|w| w.reason),
            Err(WaitReason::InsufficientBalance)
        );
        assert!(
            w.map_err(|w| w.message)
                .unwrap_err()
                .contains("the proxy 5P has 0")
        );
    }

    #[test]
    fn an_intent_left_by_a_crash_is_dropped_resent_or_waited_for() {
        let intent = RegistrationIntent {
            nonce: 4,
            era_end_block: 164,
            tx_hash: "0xab".into(),
            limit_rao: 1_000,
            submitted_at_block: 100,
            signer: Some("5Signer".into()),
        };
        // Still in its era, nonce unused, same signer: send it again with its nonce.
        assert_eq!(
            open_intent(&intent, 150, Some(4), Some("5Signer")),
            OpenIntent::Resend
        );
        // The chain did not answer for the nonce: still only a resend of the same nonce.
        assert_eq!(
            open_intent(&intent, 150, None, Some("5Signer")),
            OpenIntent::Resend
        );
        // Its nonce was used by another transaction: it can never be included.
        assert_eq!(
            open_intent(&intent, 150, Some(5), Some("5Signer")),
            OpenIntent::Superseded
        );
        // Its era ended: nothing can include it any more.
        assert_eq!(
            open_intent(&intent, 165, Some(4), Some("5Signer")),
            OpenIntent::Expired
        );
        assert_eq!(
            open_intent(&intent, 164, Some(4), Some("5Signer")),
            OpenIntent::Resend
        );
        // Another signer now, or none: only the intent's own signer may send it.
        assert_eq!(
            open_intent(&intent, 150, Some(4), Some("5Other")),
            OpenIntent::WaitForEra
        );
        assert_eq!(
            open_intent(&intent, 150, Some(4), None),
            OpenIntent::WaitForEra
        );
        // An intent from before signers were recorded is the current signer's.
        let legacy = RegistrationIntent {
            signer: None,
            ..intent
        };
        assert_eq!(
            open_intent(&legacy, 150, Some(4), Some("5Other")),
            OpenIntent::Resend
        );
    }
}
