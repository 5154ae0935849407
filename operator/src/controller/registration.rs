//! The registration step of a fleet reconcile, level-triggered: read the subnet snapshot, record
//! what the chain says of each replica, resolve any registration in flight, then register the
//! next replica when the policy allows (price limit, budget, balance, proxy). The intent (nonce,
//! era end, hash, limit) is written to status *before* anything is sent; after a crash the chain
//! is read before anything is sent again, and a resend reuses the intent's nonce, so a burn is
//! never paid twice.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::events::EventType;

use super::context::{Context, Error, Result};
use super::keys::HotkeyRef;
use super::validate::FleetNumbers;
use crate::chain::cache::ChainCache;
use crate::chain::{
    AccountId, ChainError, PriceGuard, ProxyCheck, ProxyType, RegisterCall, SubnetSnapshot,
    TxOutcome,
};
use crate::crd::FleetKind;
use crate::crd::common::rao_to_tao;
use crate::crd::fleet::{
    AxonAddress, FleetSpec, FleetStatus, PlanStatus, ReRegister, RegistrationIntent,
    RegistrationMode, RegistrationRecord, SpendStatus,
};
use crate::keys::signer::{Signer, SignerKind};
use crate::keys::ss58_decode;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};

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

/// What the registration step found, for conditions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistrationObservation {
    /// Replicas registered / wanted.
    pub registered: usize,
    /// Replicas wanted.
    pub wanted: usize,
    /// Why the remaining replicas are not registered (reason, message).
    pub waiting: Option<(WaitReason, String)>,
    /// The budget of the window is spent.
    pub budget_exhausted: bool,
    /// Replicas that lost their UID (index list).
    pub deregistered: Vec<u32>,
    /// When to look again.
    pub requeue: Option<Duration>,
    /// Status was written during the step (an intent): the final status must be written too,
    /// whatever the object in hand says.
    pub wrote_status: bool,
    /// Who keeps the price limit on this chain (once the subnet was read).
    pub price_guard: Option<PriceGuard>,
}

/// The annotation where the operator keeps its own record of what a fleet has burned, next to
/// `status.spend`: a status edit (or a status wiped by a restore) must not hand the budget back.
pub const SPEND_LEDGER_ANNOTATION: &str = "subnet-operator.io/spend";

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

/// Writes the spend ledger annotation (a merge patch of that one key).
async fn write_ledger<K: FleetKind>(ctx: &Context, obj: &K, spend: &SpendStatus) -> Result<()> {
    let ns = obj.namespace().ok_or(Error::MissingNamespace)?;
    let value = serde_json::to_string(spend).map_err(Error::Serialize)?;
    let patch = serde_json::json!({"metadata": {"annotations": {SPEND_LEDGER_ANNOTATION: value}}});
    ctx.metrics.wrote(&K::kind(&()), "spend-ledger");
    Api::<K>::namespaced(ctx.client.clone(), &ns)
        .patch(
            &obj.name_any(),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .map_err(|source| Error::ApplyChild {
            kind: K::kind(&()).to_string(),
            name: obj.name_any(),
            source,
        })?;
    Ok(())
}

/// Writes what the chain says of each replica into `status` (pure).
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
pub fn retry_delay_blocks(error: &str, tempo: u16) -> u64 {
    let tempo = u64::from(tempo.max(1));
    match error.rsplit('.').next().unwrap_or(error) {
        "RegistrationPriceLimitExceeded" | "TooManyRegistrationsThisBlock" => 1,
        "TooManyRegistrationsThisInterval" | "NoNeuronIdAvailable" => tempo,
        "NotEnoughBalanceToStake"
        | "InsufficientBalance"
        | "SubNetRegistrationDisabled"
        | "SubtokenDisabled" => 50,
        "NonAssociatedColdKey"
        | "NotProxy"
        | "Unproxyable"
        | "RegistrationNotPermittedOnRootSubnet"
        | "SubnetNotExists" => 600,
        _ => 10,
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

pub fn record_chain_state(
    status: &mut FleetStatus,
    snapshot: &SubnetSnapshot,
    hotkeys: &BTreeMap<u32, HotkeyRef>,
) -> Vec<u32> {
    let mut lost = vec![];
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
                r.immune_until_block = Some(n.registered_at + u64::from(snapshot.immunity_period));
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
                r.immune_until_block = None;
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

/// The registration step. `status` is the working status: it is updated in place and written
/// (with the intent) before each submission.
#[allow(clippy::too_many_arguments)]
pub async fn reconcile<K: FleetKind>(
    ctx: &Context,
    obj: &K,
    status: &mut FleetStatus,
    cache: &ChainCache,
    netuid: u16,
    spec: &FleetSpec,
    numbers: &FleetNumbers,
    hotkeys: &BTreeMap<u32, HotkeyRef>,
    signer: Option<std::sync::Arc<Signer>>,
    coldkey: AccountId,
) -> Result<RegistrationObservation> {
    cache.watch(netuid);
    let mut obs = RegistrationObservation {
        wanted: hotkeys.len(),
        ..Default::default()
    };
    // Registrations belong to one run of a chain: if it is a new one (a localnet restarted), they
    // are gone with it. Forget them, so the replicas register again on the new chain.
    if let Ok(Some(head)) = cache.head() {
        if status
            .chain_genesis
            .as_deref()
            .is_some_and(|g| head.is_reset_from(g))
        {
            let forgotten = forget_chain(status);
            ctx.publish(
                obj,
                EventType::Warning,
                "ChainReset",
                format!(
                    "the chain is a new one (another genesis or block 1): {forgotten} registration(s) forgotten; replicas register again"
                ),
            )
            .await;
        }
        status.chain_genesis = Some(head.identity());
    }
    let Some(Some(snapshot)) = cache.snapshot(netuid) else {
        obs.waiting = Some((
            WaitReason::WaitingForChain,
            format!("subnet {netuid} not read from the chain yet, or it does not exist"),
        ));
        obs.requeue = Some(Duration::from_secs(2));
        obs.registered = count_registered(status, hotkeys);
        return Ok(obs);
    };
    // Make sure every replica has a status entry before recording chain state.
    for (&i, h) in hotkeys {
        if !status.replica_statuses.iter().any(|r| r.index == i) {
            status
                .replica_statuses
                .push(crate::crd::fleet::ReplicaStatus {
                    index: i,
                    hotkey: Some(h.ss58.clone()),
                    secret_name: Some(h.secret_name.clone()),
                    ..Default::default()
                });
        }
    }
    status.replica_statuses.sort_by_key(|r| r.index);
    let lost = record_chain_state(status, &snapshot, hotkeys);
    for i in &lost {
        if let Some(r) = status.replica_statuses.iter_mut().find(|r| r.index == *i) {
            r.message = Some(format!("deregistered at block {}", snapshot.block));
        }
        // The chain wiped its axon and its UID changed: restart the program (its StatefulSet
        // brings the pod back), so it serves again and re-reads the metagraph. The pod's name
        // follows from the replica's (one-replica StatefulSet), so a status that has not yet
        // recorded the pod does not skip the restart.
        let pod = format!(
            "{}-0",
            crate::controller::build::replica_name(&obj.name_any(), *i)
        );
        let restarted = match obj.meta().namespace.as_deref() {
            Some(ns) => {
                let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
                ctx.metrics.wrote(&K::kind(&()), "delete-pod");
                match pods.delete(&pod, &DeleteParams::default()).await {
                    Ok(_) => true,
                    Err(kube::Error::Api(e)) if e.code == 404 => false,
                    Err(source) => {
                        return Err(Error::DeleteChild {
                            kind: "Pod".into(),
                            name: pod,
                            source,
                        });
                    }
                }
            }
            _ => false,
        };
        ctx.publish(
            obj,
            EventType::Warning,
            "Deregistered",
            format!(
                "replica {i} lost its UID on subnet {netuid} at block {}{}; registration.reRegister is {:?}",
                snapshot.block,
                if restarted { ", its pod was restarted" } else { "" },
                spec.registration.re_register
            ),
        )
        .await;
    }
    if !lost.is_empty() {
        status.deregistered.extend(lost.iter().copied());
        status.deregistered.sort_unstable();
        status.deregistered.dedup();
    }
    // A replica that is registered again is no longer deregistered.
    let registered: Vec<u32> = status
        .replica_statuses
        .iter()
        .filter(|r| r.registered)
        .map(|r| r.index)
        .collect();
    status.deregistered.retain(|i| !registered.contains(i));
    obs.deregistered = status.deregistered.clone();

    let window = numbers.budget.map(|(_, w)| w).unwrap_or(86_400);
    let ledger: Option<SpendStatus> = obj
        .annotations()
        .get(SPEND_LEDGER_ANNOTATION)
        .and_then(|v| serde_json::from_str(v).ok());
    let remembered = ctx.remembered_spend(obj);
    // The spend as this status records it, consistent with the intents it holds (resolved
    // next); the ledger and this process's memory are a floor under it, applied after that.
    let mut spend = window_spend(status.spend.as_ref(), window, Timestamp::now());

    // Resolve what is in flight first: the chain decides, not memory of the operator.
    let pending: Vec<(u32, RegistrationIntent, Option<String>)> = status
        .replica_statuses
        .iter()
        .filter_map(|r| Some((r.index, r.pending_registration.clone()?, r.hotkey.clone())))
        .collect();
    for (i, intent, intent_hotkey) in pending {
        let outcome = {
            cache
                .reader()
                .find_tx(
                    &intent.tx_hash,
                    intent.submitted_at_block,
                    intent.era_end_block,
                )
                .await
        };
        match outcome {
            Ok(Some(o)) => {
                record_outcome(status, &mut spend, i, &o, snapshot.tempo);
            }
            Ok(None) if snapshot.block > intent.era_end_block => {
                // Expired without inclusion: nothing was paid.
                if let Some(r) = status.replica_statuses.iter_mut().find(|r| r.index == i) {
                    r.pending_registration = None;
                }
            }
            Ok(None) => {
                // Not included. If its signer's nonce has been used by another transaction, it
                // never will be: drop it (nothing was paid). The signer is the one recorded in
                // the intent, even if the fleet's signer has changed since.
                let intent_signer = intent
                    .signer
                    .as_deref()
                    .and_then(|ss58| crate::keys::ss58_decode(ss58).ok())
                    .or_else(|| signer.as_ref().map(|s| s.public()));
                let used = match intent_signer {
                    Some(who) => cache
                        .reader()
                        .account(who)
                        .await
                        .is_ok_and(|a| a.nonce > intent.nonce),
                    None => false,
                };
                if used {
                    if let Some(r) = status.replica_statuses.iter_mut().find(|r| r.index == i) {
                        r.pending_registration = None;
                    }
                    continue;
                }
                // Possibly still in a pool: send it again with the same nonce. One nonce is
                // included at most once, so this can never pay twice. Only its own signer can
                // send it again; with another signer now, wait for its era to end.
                if let Some(s) = signer
                    .as_ref()
                    .filter(|s| intent.signer.as_deref().is_none_or(|i| i == s.ss58()))
                {
                    // The replica may have been scaled away: its hotkey is in its status entry.
                    let hk = intent_hotkey.as_ref().map(|ss58| HotkeyRef {
                        ss58: ss58.clone(),
                        secret_name: String::new(),
                    });
                    // A proxy's call names the type of its definition: look it up again.
                    let proxy_type = if s.kind == SignerKind::Proxy {
                        match cache.reader().registration_proxy(coldkey, s.public()).await {
                            Ok(ProxyCheck::Usable(t)) => Some(t),
                            _ => None,
                        }
                    } else {
                        Some(ProxyType::Registration)
                    };
                    let call = proxy_type.and_then(|t| {
                        call_for(s, coldkey, netuid, hk.as_ref(), intent.limit_rao, t)
                    });
                    if let Some(call) = call {
                        // The same nonce again, under the signer's turn: nothing else of this
                        // account is built or sent meanwhile.
                        let turn = cache.writer().turn(s).await;
                        let tx = turn
                            .prepare_register(call, intent.nonce, Some(intent.era_end_block))
                            .await;
                        if let Ok(tx) = tx
                            && let Ok(o) = turn.submit(&tx).await
                        {
                            record_outcome(status, &mut spend, i, &o, snapshot.tempo);
                        }
                    }
                }
                obs.requeue = Some(Duration::from_secs(2));
            }
            Err(e) => {
                obs.waiting = Some((WaitReason::ChainUnreachable, e.to_string()));
                obs.requeue = Some(Duration::from_secs(5));
            }
        }
    }

    // Never believe a lower spend than the ledger or this process recorded: a status edit (or a
    // status restored from a backup) must not hand back the budget. A maximum, not a sum: the
    // intents just resolved may be in the floor already.
    if let Some(floor) = trusted_spend(ledger.iter().chain(remembered.iter())) {
        spend = floor_spend(spend, &window_spend(Some(&floor), window, Timestamp::now()));
    }
    let mut burn = snapshot.burn;
    let mut price = snapshot.price.clone();
    // A snapshot of a finalized block that does not contain our latest registration yet (the
    // best block runs ahead) shows the price before it: start from what it paid, bumped, so a
    // registration the chain would refuse for its price (and charge a fee for) is not sent.
    if let Some(last) = status
        .replica_statuses
        .iter()
        .filter_map(|r| r.last_registration.as_ref())
        .max_by_key(|l| l.block)
        && last.block >= snapshot.block
    {
        burn = burn.max(price.after_registration(last.price_rao, snapshot.max_burn));
    }
    obs.price_guard = Some(snapshot.price_guard);
    let want_register: Vec<u32> = status
        .replica_statuses
        .iter()
        .filter(|r| hotkeys.contains_key(&r.index))
        .filter(|r| !r.registered && r.pending_registration.is_none())
        .filter(|r| {
            spec.registration.re_register == ReRegister::Always
                || !status.deregistered.contains(&r.index)
        })
        .filter(|r| r.retry_at_block.is_none_or(|b| snapshot.block >= b))
        .map(|r| r.index)
        .collect();
    // Replicas waiting after a failure: say why, and until when.
    if let Some(r) = status
        .replica_statuses
        .iter()
        .find(|r| !r.registered && r.retry_at_block.is_some_and(|b| snapshot.block < b))
    {
        obs.waiting = Some((
            WaitReason::RegistrationFailed,
            format!(
                "replica {}: {}; next attempt at block {}",
                r.index,
                r.message.as_deref().unwrap_or("registration failed"),
                r.retry_at_block.unwrap_or_default()
            ),
        ));
    }

    if spec.registration.mode == RegistrationMode::Manual {
        if !want_register.is_empty() {
            obs.waiting = Some((
                WaitReason::ManualRegistration,
                format!(
                    "{} replica(s) wait for you to register their hotkeys",
                    want_register.len()
                ),
            ));
        }
    } else if spec.registration.dry_run {
        let mut cost = 0u64;
        let mut price = burn;
        for _ in &want_register {
            cost = cost.saturating_add(price);
            price = snapshot.price.after_registration(price, snapshot.max_burn);
        }
        status.plan = Some(PlanStatus {
            would_register: want_register.clone(),
            estimated_cost_tao: rao_to_tao(cost),
        });
        if !want_register.is_empty() {
            obs.waiting = Some((
                WaitReason::DryRun,
                format!(
                    "would register replicas {want_register:?} for about {} TAO",
                    rao_to_tao(cost)
                ),
            ));
        }
    } else if let (Some(signer), Some(limit)) = (signer.as_ref(), numbers.max_price_rao) {
        status.plan = None;
        for i in want_register {
            if !snapshot.registration_allowed || !snapshot.started {
                obs.waiting = Some((
                    WaitReason::RegistrationClosed,
                    format!("subnet {netuid} does not accept registrations now"),
                ));
                obs.requeue = Some(Duration::from_secs(30));
                break;
            }
            if burn > limit {
                let Some(blocks) = price.blocks_until(burn, limit, snapshot.block) else {
                    obs.waiting = Some((
                        WaitReason::PriceLimitUnreachable,
                        format!(
                            "maxPriceTao {} can never be reached: the price never falls below MinBurn {} TAO",
                            rao_to_tao(limit),
                            rao_to_tao(snapshot.min_burn)
                        ),
                    ));
                    // Nothing changes this but a new spec (which triggers a reconcile).
                    obs.requeue = Some(Duration::from_secs(600));
                    break;
                };
                // The message stays the same while the price moves (every block), so status is
                // not rewritten per block: the price itself is in status.registrationPriceTao.
                obs.waiting = Some((
                    WaitReason::PriceAboveLimit,
                    format!(
                        "the registration price is above maxPriceTao {}; {}",
                        rao_to_tao(limit),
                        match price {
                            crate::chain::PriceModel::Decay { .. } => "waiting for it to decay",
                            crate::chain::PriceModel::Adjustment { .. } =>
                                "the runtime re-sets it once per adjustment interval",
                        }
                    ),
                ));
                // Look again when the price may be under the limit (at most a minute).
                obs.requeue = Some(blocks_wait(cache, blocks));
                break;
            }
            if let Some(why) = price.cap_reached() {
                obs.waiting = Some((WaitReason::RegistrationCapReached, why));
                obs.requeue = Some(blocks_wait(
                    cache,
                    price.blocks_to_next_interval(snapshot.block),
                ));
                break;
            }
            if let Some((budget, _)) = numbers.budget
                && spend.spent_rao.saturating_add(burn) > budget
            {
                obs.budget_exhausted = true;
                obs.waiting = Some((
                    WaitReason::BudgetExhausted,
                    format!(
                        "spent {} of {} TAO in this window; the next registration does not fit",
                        rao_to_tao(spend.spent_rao),
                        rao_to_tao(budget)
                    ),
                ));
                obs.requeue = Some(Duration::from_secs(60));
                break;
            }
            // The chain-side limit also keeps the budget: a price that rose since the snapshot
            // fails on chain instead of overspending.
            let chain_limit = match numbers.budget {
                Some((budget, _)) => limit.min(budget.saturating_sub(spend.spent_rao)),
                None => limit,
            };
            let mut proxy_type = ProxyType::Registration;
            if signer.kind == SignerKind::Proxy {
                match cache
                    .reader()
                    .registration_proxy(coldkey, signer.public())
                    .await
                {
                    Ok(ProxyCheck::Usable(t)) => proxy_type = t,
                    Ok(ProxyCheck::Delayed { proxy_type, delay }) => {
                        obs.waiting = Some((
                            WaitReason::ProxyDelayed,
                            format!(
                                "{} is a {} proxy of the coldkey with a delay of {delay} blocks: Proxy.proxy needs an announcement then; add it with delay 0",
                                signer.ss58(),
                                proxy_type.as_str()
                            ),
                        ));
                        obs.requeue = Some(Duration::from_secs(60));
                        break;
                    }
                    Ok(ProxyCheck::Missing) => {
                        obs.waiting = Some((
                            WaitReason::NotAProxy,
                            format!(
                                "{} is not a Registration (or Any) proxy of the coldkey",
                                signer.ss58()
                            ),
                        ));
                        obs.requeue = Some(Duration::from_secs(30));
                        break;
                    }
                    Err(e) => {
                        obs.waiting = Some((WaitReason::ChainUnreachable, e.to_string()));
                        break;
                    }
                }
            }
            let Some(call) = call_for(
                signer,
                coldkey,
                netuid,
                hotkeys.get(&i),
                chain_limit,
                proxy_type,
            ) else {
                break;
            };
            // One transaction at a time per signing account across all fleets and kinds
            // (a Validator's self-stake may share the coldkey): they share its nonce.
            let turn = cache.writer().turn(signer).await;
            let payer = cache.reader().account(coldkey).await;
            let signer_acct = cache.reader().account(signer.public()).await;
            let (Ok(payer), Ok(signer_acct)) = (payer, signer_acct) else {
                obs.waiting = Some((WaitReason::ChainUnreachable, "cannot read balances".into()));
                break;
            };
            let proxy = (signer.public() != coldkey).then(|| (signer.ss58(), signer_acct.free));
            if let Some(message) = balance_shortfall(burn, payer.free, proxy) {
                obs.waiting = Some((WaitReason::InsufficientBalance, message));
                obs.requeue = Some(Duration::from_secs(60));
                break;
            }
            let tx = match turn.prepare_register(call, signer_acct.nonce, None).await {
                Ok(tx) => tx,
                Err(e) => {
                    obs.waiting = Some((WaitReason::ChainUnreachable, e.to_string()));
                    break;
                }
            };
            // Persist the intent before anything reaches the chain.
            if let Some(r) = status.replica_statuses.iter_mut().find(|r| r.index == i) {
                r.pending_registration = Some(RegistrationIntent {
                    nonce: tx.nonce,
                    era_end_block: tx.era_end,
                    tx_hash: tx.hash.clone(),
                    limit_rao: chain_limit,
                    submitted_at_block: snapshot.block,
                    signer: Some(signer.ss58()),
                });
            }
            status.spend = Some(spend.clone());
            ctx.apply_status(obj, &*status).await?;
            obs.wrote_status = true;
            match turn.submit(&tx).await {
                Ok(o) => {
                    let paid = record_outcome(status, &mut spend, i, &o, snapshot.tempo);
                    if let Some(p) = paid {
                        burn = price.after_registration(p, snapshot.max_burn);
                        price.registered();
                        ctx.publish(
                            obj,
                            EventType::Normal,
                            "Registered",
                            format!(
                                "replica {i} registered on subnet {netuid} for {} TAO (tx {})",
                                rao_to_tao(p),
                                o.hash
                            ),
                        )
                        .await;
                    } else if let Err(e) = &o.result {
                        obs.waiting =
                            Some((WaitReason::RegistrationFailed, format!("replica {i}: {e}")));
                        obs.requeue = Some(Duration::from_secs(5));
                        break;
                    }
                }
                Err(ChainError::PriceAboveLimit { burn: now, limit }) => {
                    // The client-side guard refused before anything was sent: drop the intent.
                    if let Some(r) = status.replica_statuses.iter_mut().find(|r| r.index == i) {
                        r.pending_registration = None;
                    }
                    obs.waiting = Some((
                        WaitReason::PriceAboveLimit,
                        format!(
                            "the price at the best block, {} TAO, is above the limit {} TAO (client-side guard): not sent",
                            rao_to_tao(now),
                            rao_to_tao(limit)
                        ),
                    ));
                    obs.requeue = Some(blocks_wait(cache, 1));
                    break;
                }
                Err(e) => {
                    // Not sent, or the answer was lost: the intent stays and is resolved from
                    // the chain next time.
                    obs.waiting = Some((WaitReason::SubmitFailed, e.to_string()));
                    obs.requeue = Some(Duration::from_secs(2));
                    break;
                }
            }
        }
    } else if !want_register.is_empty() {
        obs.waiting = Some((
            WaitReason::NoSigner,
            "registration.mode Burn needs wallet.registrationSigner".into(),
        ));
    }
    ctx.remember_spend(obj, &spend);
    if spend.spent_rao > 0 && ledger.as_ref() != Some(&spend) {
        write_ledger(ctx, obj, &spend).await?;
    }
    status.spend = Some(spend);
    obs.registered = count_registered(status, hotkeys);
    Ok(obs)
}

/// Counts the registered replicas among `hotkeys` into `status.registered_replicas`, and
/// returns the count.
fn count_registered(status: &mut FleetStatus, hotkeys: &BTreeMap<u32, HotkeyRef>) -> usize {
    let n = status
        .replica_statuses
        .iter()
        .filter(|r| hotkeys.contains_key(&r.index) && r.registered)
        .count();
    status.registered_replicas = i32::try_from(n).unwrap_or(i32::MAX);
    n
}

fn call_for(
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

/// How long `blocks` blocks take, clamped to 1 s – 60 s (a requeue).
fn blocks_wait(cache: &ChainCache, blocks: u64) -> Duration {
    cache
        .block_time()
        .saturating_mul(u32::try_from(blocks).unwrap_or(u32::MAX))
        .clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Records a transaction's outcome for replica `i`; returns the burn paid, if any.
fn record_outcome(
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
        Err(e) if !e.ends_with("HotKeyAlreadyRegisteredInSubNet") => {
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
        Err(e) if e.ends_with("HotKeyAlreadyRegisteredInSubNet") => {
            r.registered = true;
            None
        }
        Err(e) => {
            r.message = Some(format!("registration failed: {e}"));
            None
        }
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
            retry_delay_blocks("SubtensorModule.RegistrationPriceLimitExceeded", 360),
            1
        );
        assert_eq!(
            retry_delay_blocks("SubtensorModule.NoNeuronIdAvailable", 360),
            360
        );
        assert_eq!(
            retry_delay_blocks("SubtensorModule.NonAssociatedColdKey", 10),
            600
        );
        assert_eq!(retry_delay_blocks("Proxy.NotProxy", 10), 600);
        assert_eq!(retry_delay_blocks("Something.New", 10), 10);
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
        let e = Err("SubtensorModule.NonAssociatedColdKey".to_string());
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
}
