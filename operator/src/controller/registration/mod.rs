//! The registration step of a fleet reconcile, level-triggered: read the subnet snapshot, record
//! what the chain says of each replica, resolve any registration in flight, then register the
//! next replica when the policy allows (price limit, budget, balance, proxy). The intent (nonce,
//! era end, hash, limit) is written to status *before* anything is sent; after a crash the chain
//! is read before anything is sent again, and a resend reuses the intent's nonce, so a burn is
//! never paid twice.

pub mod plan;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::events::EventType;

use super::context::{Context, Error, Result};
use super::keys::HotkeyRef;
use super::validate::FleetNumbers;
use crate::chain::cache::ChainCache;
use crate::chain::{AccountId, ChainError, PriceGuard, ProxyCheck, ProxyType, TxOutcome};
use crate::crd::FleetKind;
use crate::crd::common::rao_to_tao;
use crate::crd::fleet::{
    FleetSpec, FleetStatus, PlanStatus, RegistrationIntent, RegistrationMode, SpendStatus,
};
use crate::keys::signer::{Signer, SignerKind};
pub use plan::WaitReason;
use plan::{
    Again, Gate, OpenIntent, Wait, call_for, count_registered, floor_spend, forget_chain,
    record_chain_state, record_outcome, trusted_spend, window_spend,
};

/// What the registration step found and did, for conditions and for the status step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RegistrationObservation {
    /// The fleet's status as the chain left it: what the chain says of each replica, the
    /// intents resolved or persisted (written before their transactions were sent), the spend
    /// and the plan. The status step starts from it.
    pub record: FleetStatus,
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

/// Writes the spend ledger annotation (a merge patch of that one key).
async fn write_ledger<K: FleetKind>(ctx: &Context, obj: &K, spend: &SpendStatus) -> Result<()> {
    let ns = obj.namespace().ok_or(Error::MissingNamespace)?;
    let value = serde_json::to_string(spend).map_err(Error::Serialize)?;
    ctx.applier(&ns, &K::kind(&()))
        .annotate(obj, SPEND_LEDGER_ANNOTATION, &value, "spend-ledger")
        .await?;
    Ok(())
}

/// The registration step, from the fleet's `previous` status (read, never changed): its
/// observation carries the status as the chain left it ([`RegistrationObservation::record`]).
/// That record is the step's journal: it is written, with the intent, before each submission.
#[allow(clippy::too_many_arguments)]
pub async fn reconcile<K: FleetKind>(
    ctx: &Context,
    obj: &K,
    previous: &FleetStatus,
    cache: &ChainCache,
    netuid: u16,
    spec: &FleetSpec,
    numbers: &FleetNumbers,
    hotkeys: &BTreeMap<u32, HotkeyRef>,
    signer: Option<std::sync::Arc<Signer>>,
    coldkey: AccountId,
) -> Result<RegistrationObservation> {
    // The step's journal: the status as the chain leaves it, written with each intent.
    let mut record = previous.clone();
    let status = &mut record;
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
        obs.record = record;
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
            Some(ns) => ctx.applier(ns, &K::kind(&())).restart_pod(&pod).await?,
            None => false,
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
            Ok(None) => {
                // Not included. Whether its signer's nonce has been used since decides: the
                // signer is the one recorded in the intent, even if the fleet's has changed.
                let intent_signer = intent
                    .signer
                    .as_deref()
                    .and_then(|ss58| crate::keys::ss58_decode(ss58).ok())
                    .or_else(|| signer.as_ref().map(|s| s.public()));
                let nonce = match intent_signer {
                    Some(who) if snapshot.block <= intent.era_end_block => {
                        cache.reader().account(who).await.ok().map(|a| a.nonce)
                    }
                    _ => None,
                };
                let current = signer.as_ref().map(|s| s.ss58());
                match plan::open_intent(&intent, snapshot.block, nonce, current.as_deref()) {
                    OpenIntent::Expired | OpenIntent::Superseded => {
                        if let Some(r) = status.replica_statuses.iter_mut().find(|r| r.index == i) {
                            r.pending_registration = None;
                        }
                        continue;
                    }
                    OpenIntent::WaitForEra => {}
                    OpenIntent::Resend => {
                        if let Some(s) = signer.as_ref()
                            && let Some(o) =
                                resend(cache, s, coldkey, netuid, &intent, intent_hotkey).await
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
    let mut burn = plan::starting_burn(status, &snapshot);
    let mut price = snapshot.price.clone();
    obs.price_guard = Some(snapshot.price_guard);
    let want_register = plan::to_register(
        status,
        hotkeys,
        spec.registration.re_register,
        snapshot.block,
    );
    // Replicas waiting after a failure: say why, and until when.
    if let Some(w) = plan::backing_off(status, snapshot.block) {
        obs.waiting = Some((w.reason, w.message));
    }
    // What a wait says, into the observation.
    let wait = |obs: &mut RegistrationObservation, w: Wait| {
        obs.waiting = Some((w.reason, w.message));
        match w.again {
            Some(Again::After(d)) => obs.requeue = Some(d),
            Some(Again::Blocks(n)) => obs.requeue = Some(blocks_wait(cache, n)),
            None => {}
        }
    };

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
        let cost = plan::dry_run_cost(
            burn,
            &snapshot.price,
            snapshot.max_burn,
            want_register.len(),
        );
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
            let g = Gate {
                netuid,
                open: snapshot.registration_allowed && snapshot.started,
                burn,
                price: &price,
                block: snapshot.block,
                min_burn: snapshot.min_burn,
                limit,
                budget: numbers.budget.map(|(b, _)| b),
                spent: spend.spent_rao,
            };
            let chain_limit = match plan::gate(&g) {
                Ok(l) => l,
                Err(w) => {
                    obs.budget_exhausted = w.reason == WaitReason::BudgetExhausted;
                    wait(&mut obs, w);
                    break;
                }
            };
            let proxy_type = if signer.kind == SignerKind::Proxy {
                let check = cache
                    .reader()
                    .registration_proxy(coldkey, signer.public())
                    .await;
                match check.map(|c| plan::proxy_gate(&signer.ss58(), c)) {
                    Ok(Ok(t)) => t,
                    Ok(Err(w)) => {
                        wait(&mut obs, w);
                        break;
                    }
                    Err(e) => {
                        obs.waiting = Some((WaitReason::ChainUnreachable, e.to_string()));
                        break;
                    }
                }
            } else {
                ProxyType::Registration
            };
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
            if let Err(w) = plan::balance_gate(burn, payer.free, proxy) {
                wait(&mut obs, w);
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
    obs.record = record;
    Ok(obs)
}

/// How long `blocks` blocks take, clamped to 1 s – 60 s (a requeue).
fn blocks_wait(cache: &ChainCache, blocks: u64) -> Duration {
    cache
        .block_time()
        .saturating_mul(u32::try_from(blocks).unwrap_or(u32::MAX))
        .clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Sends an open intent again with its own nonce, under its signer's turn (nothing else of the
/// account is built or sent meanwhile); the outcome, when it was included.
async fn resend(
    cache: &ChainCache,
    signer: &Signer,
    coldkey: AccountId,
    netuid: u16,
    intent: &RegistrationIntent,
    hotkey: Option<String>,
) -> Option<TxOutcome> {
    // The replica may have been scaled away: its hotkey is in its status entry.
    let hk = hotkey.map(|ss58| HotkeyRef {
        ss58,
        secret_name: String::new(),
    });
    // A proxy's call names the type of its definition: look it up again.
    let proxy_type = if signer.kind == SignerKind::Proxy {
        match cache
            .reader()
            .registration_proxy(coldkey, signer.public())
            .await
        {
            Ok(ProxyCheck::Usable(t)) => t,
            _ => return None,
        }
    } else {
        ProxyType::Registration
    };
    let call = call_for(
        signer,
        coldkey,
        netuid,
        hk.as_ref(),
        intent.limit_rao,
        proxy_type,
    )?;
    let turn = cache.writer().turn(signer).await;
    let tx = turn
        .prepare_register(call, intent.nonce, Some(intent.era_end_block))
        .await
        .ok()?;
    turn.submit(&tx).await.ok()
}
