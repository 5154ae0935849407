//! The localnet of a Subnet: its StatefulSet and Service, its owner key, and the declarative
//! scaffold that makes a subnet on it (CHAIN.md §4's bring-up order), one step at a time, each
//! recorded in `status.scaffold` and run once.
//!
//! Idempotence comes from the chain first and the status second: funding tops balances up to a
//! target; `RegisterNetwork` adopts a subnet the owner key already owns (so a crash between the
//! call and the status write never makes a second subnet); `StartCall` is skipped when the
//! subnet is started. A new chain (the localnet pod restarted: another genesis hash, or the same
//! one with another block 1, see [`ChainHead::identity`](crate::chain::ChainHead::identity))
//! clears the scaffold and runs it again.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, ListParams};
use kube::core::DeserializeGuard;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::apply::Created;
use super::build::localnet::{self as build, LocalnetInput};
use super::build::stamped;
use super::context::{Context, Error, Result};
use crate::chain::{ChainError, Hyperparameter, LocalnetCall, NETWORK_LOCK_RAO};
use crate::crd::common::{rao_to_tao, tao_to_rao};
use crate::crd::subnet::{LocalnetSpec, ScaffoldStep, SubnetStatus};
use crate::crd::{Miner, Subnet, Validator};
use crate::keys::Hotkey;
use crate::keys::signer::Signer;
use crate::labels;

/// A scaffold step. They run in the order of [`Step::ALL`], each until it is done, once per
/// chain (a new chain clears them all); [`Step::FundColdkeys`] runs every time, since fleets
/// come and go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `sudo_set_admin_freeze_window(0)`: setters work at any block.
    AdminFreezeWindow,
    /// The owner coldkey gets the lock cost and a margin.
    FundOwner,
    /// `register_network` (or the subnet the owner key already owns).
    RegisterNetwork,
    /// `start_call`, unless started (runtimes without it run subnets from creation).
    StartCall,
    /// Emission on.
    EnableEmission,
    /// A pool seeded with dust gets reserves, so stake buys alpha.
    SeedPool,
    /// Commit-reveal and rate limits off, registration room, the spec's overrides.
    Hyperparameters,
    /// Every fleet coldkey topped up to `fundTao`.
    FundColdkeys,
}

impl Step {
    /// Every step, in the order they run.
    pub const ALL: [Step; 8] = [
        Step::AdminFreezeWindow,
        Step::FundOwner,
        Step::RegisterNetwork,
        Step::StartCall,
        Step::EnableEmission,
        Step::SeedPool,
        Step::Hyperparameters,
        Step::FundColdkeys,
    ];

    /// Its name in `status.scaffold`.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::AdminFreezeWindow => "AdminFreezeWindow",
            Step::FundOwner => "FundOwner",
            Step::RegisterNetwork => "RegisterNetwork",
            Step::StartCall => "StartCall",
            Step::EnableEmission => "EnableEmission",
            Step::SeedPool => "SeedPool",
            Step::Hyperparameters => "Hyperparameters",
            Step::FundColdkeys => "FundColdkeys",
        }
    }

    /// The step after this one, `None` after the last.
    pub fn next(self) -> Option<Step> {
        let i = Step::ALL.iter().position(|s| *s == self)?;
        Step::ALL.get(i + 1).copied()
    }

    /// Whether it acts on the subnet, and so waits for its netuid.
    pub fn needs_netuid(self) -> bool {
        matches!(
            self,
            Step::StartCall | Step::EnableEmission | Step::SeedPool | Step::Hyperparameters
        )
    }

    /// Whether it runs at every reconcile, done or not.
    pub fn runs_every_time(self) -> bool {
        self == Step::FundColdkeys
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a step in `status.scaffold`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepState {
    /// Not run yet.
    Pending,
    /// Done on this chain.
    Done,
    /// The runtime lacks what it needs (the message says what).
    Skipped,
    /// Its last call failed (the message says why).
    Failed,
}

impl StepState {
    /// Its name in `status.scaffold`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "Pending",
            StepState::Done => "Done",
            StepState::Skipped => "Skipped",
            StepState::Failed => "Failed",
        }
    }
}

/// Whether `s` is `step` in state `state`.
fn is_at(s: &ScaffoldStep, step: Step, state: StepState) -> bool {
    s.name == step.as_str() && s.state == state.as_str()
}

/// Key of the owner Secret holding the owner coldkey's mnemonic.
pub const OWNER_COLDKEY_KEY: &str = "coldkey-mnemonic";
/// Key of the owner Secret holding the owner hotkey's mnemonic.
pub const OWNER_HOTKEY_KEY: &str = "hotkey-mnemonic";
/// `TargetRegistrationsPerInterval` on a localnet subnet: room for a development fleet.
pub const LOCALNET_TARGET_REGISTRATIONS: u16 = 256;
/// The reserves `SeedPool` gives a subnet's pool whose runtime seeded it with dust, in rao of
/// TAO and of alpha each (1000: price 1, and a 100 TAO self-stake buys ~91 alpha).
pub const LOCALNET_POOL_RAO: u64 = 1_000_000_000_000;
/// A pool with less TAO than this (1 TAO) is dust: stake into it buys no alpha.
const DUST_POOL_RAO: u64 = 1_000_000_000;
/// What the owner keeps above the lock cost for fees, in rao (10 TAO).
const OWNER_MARGIN_RAO: u64 = 10_000_000_000;

/// Name of the Secret with a localnet's subnet owner keys.
pub fn owner_secret_name(subnet: &str) -> String {
    format!("{subnet}-localnet-owner")
}

/// What the scaffold reports to the Subnet's status.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaffoldReport {
    /// All steps done.
    pub complete: bool,
    /// Reason of the `Scaffolded` condition.
    pub reason: &'static str,
    /// Message of the `Scaffolded` condition.
    pub message: String,
    /// When to look again.
    pub requeue: Duration,
}

/// The step list with `step` set to `state` (adding missing steps in order).
pub fn set_step(
    steps: &mut Vec<ScaffoldStep>,
    step: Step,
    state: StepState,
    block: Option<u64>,
    message: Option<String>,
) {
    for n in Step::ALL {
        if !steps.iter().any(|s| s.name == n.as_str()) {
            steps.push(ScaffoldStep {
                name: n.to_string(),
                state: StepState::Pending.as_str().to_string(),
                block: None,
                message: None,
            });
        }
    }
    steps.sort_by_key(|s| {
        Step::ALL
            .iter()
            .position(|n| n.as_str() == s.name)
            .unwrap_or(usize::MAX)
    });
    if let Some(s) = steps.iter_mut().find(|s| s.name == step.as_str()) {
        s.state = state.as_str().to_string();
        if block.is_some() {
            s.block = block;
        }
        s.message = message;
    }
}

/// The steps a scaffold reconcile runs, in the bring-up order: each until it is done (or
/// skipped, when the runtime lacks it), once per chain (a new chain clears them all); funding
/// coldkeys runs every time, since fleets come and go.
pub fn steps_to_run(recorded: &[ScaffoldStep]) -> Vec<Step> {
    Step::ALL
        .into_iter()
        .filter(|s| s.runs_every_time() || !is_done(recorded, *s))
        .collect()
}

/// Whether `step` is recorded as done (or skipped: the runtime lacks its calls).
pub fn is_done(steps: &[ScaffoldStep], step: Step) -> bool {
    steps
        .iter()
        .any(|s| is_at(s, step, StepState::Done) || is_at(s, step, StepState::Skipped))
}

/// The hyperparameter calls for `spec`, in order: commit-reveal off and rate limits 0 unless
/// the spec says otherwise (drand is unreachable offline), then the spec's overrides.
pub fn hyperparameter_calls(spec: &LocalnetSpec) -> Result<Vec<Hyperparameter>, String> {
    let h = spec.hyperparameters.clone().unwrap_or_default();
    let mut calls = vec![
        Hyperparameter::CommitReveal(h.commit_reveal.unwrap_or(false)),
        Hyperparameter::WeightsSetRateLimit(h.weights_set_rate_limit.unwrap_or(0)),
        Hyperparameter::ServingRateLimit(h.serving_rate_limit.unwrap_or(0)),
        // Runtimes with registration count caps (spec 218, 393: 3 × this per adjustment
        // interval) would hold a development fleet back; later runtimes have no such cap.
        Hyperparameter::TargetRegistrationsPerInterval(LOCALNET_TARGET_REGISTRATIONS),
    ];
    let tao =
        |v: &str, what: &str| tao_to_rao(v).ok_or_else(|| format!("{what}: bad TAO amount {v:?}"));
    if let Some(v) = &h.min_burn_tao {
        calls.push(Hyperparameter::MinBurn(tao(v, "minBurnTao")?));
    }
    if let Some(v) = &h.max_burn_tao {
        calls.push(Hyperparameter::MaxBurn(tao(v, "maxBurnTao")?));
    }
    if let Some(v) = h.burn_half_life {
        calls.push(Hyperparameter::BurnHalfLife(v));
    }
    if let Some(v) = h.immunity_period {
        calls.push(Hyperparameter::ImmunityPeriod(v));
    }
    if let Some(v) = h.tempo {
        calls.push(Hyperparameter::Tempo(v));
    }
    if let Some(v) = h.max_allowed_uids {
        calls.push(Hyperparameter::MaxAllowedUids(v));
    }
    if let Some(v) = h.max_allowed_validators {
        calls.push(Hyperparameter::MaxAllowedValidators(v));
    }
    Ok(calls)
}

/// Applies `obj` unless the object in the cluster carries the same stamp; returns the object as
/// it is now (so its status can be read without another GET).
async fn apply_child<K>(ctx: &Context, ns: &str, obj: &K) -> Result<Option<K>>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let name = obj.name_any();
    let current = api
        .get_opt(&name)
        .await
        .map_err(|source| Error::ListChildren {
            kind: K::kind(&()).to_string(),
            source,
        })?;
    if current.is_some() && current.as_ref().and_then(|c| stamped(c.meta())) == stamped(obj.meta())
    {
        return Ok(current);
    }
    ctx.applier(ns, "Subnet").apply(obj).await.map(Some)
}

/// The owner keys of the localnet's subnet: created once in an owned Secret (the localnet and
/// its keys go together), never taken over from someone else.
async fn owner_keys(
    ctx: &Context,
    subnet: &Subnet,
    ns: &str,
    owner: &OwnerReference,
) -> Result<std::result::Result<(Signer, Hotkey), String>> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let name = owner_secret_name(&subnet.name_any());
    let secret = match api
        .get_opt(&name)
        .await
        .map_err(|source| Error::FetchSecret {
            name: name.clone(),
            source,
        })? {
        Some(s) => s,
        None => {
            let fresh = || Hotkey::generate().map_err(|e| e.to_string());
            let (cold, hot) = match (fresh(), fresh()) {
                (Ok(c), Ok(h)) => (c, h),
                (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
            };
            let phrase =
                |k: &Hotkey| ByteString(k.mnemonic().unwrap_or_default().as_bytes().to_vec());
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(ns.to_string()),
                    labels: Some(BTreeMap::from([
                        (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
                        (labels::INSTANCE.to_string(), subnet.name_any()),
                        (labels::COMPONENT.to_string(), build::COMPONENT.to_string()),
                    ])),
                    owner_references: Some(vec![owner.clone()]),
                    ..Default::default()
                },
                data: Some(BTreeMap::from([
                    (OWNER_COLDKEY_KEY.to_string(), phrase(&cold)),
                    (OWNER_HOTKEY_KEY.to_string(), phrase(&hot)),
                ])),
                immutable: Some(true),
                type_: Some("Opaque".to_string()),
                ..Default::default()
            };
            match ctx.applier(ns, "Subnet").create(&secret).await? {
                Created::New(s) => s,
                // Created concurrently: read it back.
                Created::AlreadyExists => {
                    api.get(&name).await.map_err(|source| Error::FetchSecret {
                        name: name.clone(),
                        source,
                    })?
                }
            }
        }
    };
    let ours = secret.owner_references().iter().any(|o| o.uid == owner.uid);
    if !ours {
        return Ok(Err(format!(
            "Secret {name} exists and is not this Subnet's: the operator never takes it over; rename or delete it"
        )));
    }
    let phrase = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(|b| std::str::from_utf8(&b.0).ok())
            .map(Hotkey::from_mnemonic)
    };
    match (phrase(OWNER_COLDKEY_KEY), phrase(OWNER_HOTKEY_KEY)) {
        (Some(Ok(c)), Some(Ok(h))) => Ok(Ok((Signer::owned(c), h))),
        _ => Ok(Err(format!("Secret {name} does not hold the owner keys"))),
    }
}

/// The coldkeys of the Miners and Validators in `ns` that reference `subnet`, as their status
/// reports them.
async fn fleet_coldkeys(ctx: &Context, ns: &str, subnet: &str) -> Result<Vec<String>> {
    let mut out = vec![];
    let lp = ListParams::default();
    let miners: Api<DeserializeGuard<Miner>> = Api::namespaced(ctx.client.clone(), ns);
    let validators: Api<DeserializeGuard<Validator>> = Api::namespaced(ctx.client.clone(), ns);
    let list_err = |kind: &str| {
        let kind = kind.to_string();
        move |source| Error::ListChildren { kind, source }
    };
    for m in miners.list(&lp).await.map_err(list_err("Miner"))?.items {
        if let Ok(m) = m.0
            && m.spec.fleet.subnet_ref.name == subnet
            && let Some(c) = m.status.and_then(|s| s.coldkey)
        {
            out.push(c);
        }
    }
    for v in validators
        .list(&lp)
        .await
        .map_err(list_err("Validator"))?
        .items
    {
        if let Ok(v) = v.0
            && v.spec.fleet.subnet_ref.name == subnet
            && let Some(c) = v.status.and_then(|s| s.coldkey)
        {
            out.push(c);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn report(
    complete: bool,
    reason: &'static str,
    message: String,
    requeue: Duration,
) -> ScaffoldReport {
    ScaffoldReport {
        complete,
        reason,
        message,
        requeue,
    }
}

/// Runs the localnet of `subnet`: applies its StatefulSet and Service, then scaffolds the
/// subnet step by step into `status` (a working copy of the Subnet's status).
pub async fn reconcile(
    ctx: &Context,
    subnet: &Subnet,
    spec: &LocalnetSpec,
    chain: Option<&crate::chain::cache::ChainCache>,
    status: &mut SubnetStatus,
) -> Result<ScaffoldReport> {
    let ns = subnet.namespace().ok_or(Error::MissingNamespace)?;
    let name = subnet.name_any();
    let Some(owner) = subnet.controller_owner_ref(&()) else {
        return Err(Error::InvalidObject("Subnet without uid".into()));
    };
    let input = LocalnetInput {
        subnet: &name,
        namespace: &ns,
        owner: owner.clone(),
        spec,
    };
    let sts: Option<StatefulSet> = apply_child(ctx, &ns, &build::statefulset(&input)).await?;
    apply_child(ctx, &ns, &build::service(&input)).await?;

    let slow = Duration::from_secs(5);
    let ready = sts
        .and_then(|s| s.status)
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    if ready < 1 {
        return Ok(report(
            false,
            "LocalnetStarting",
            format!(
                "the localnet pod of {} is not ready yet",
                build::localnet_name(&name)
            ),
            Duration::from_secs(2),
        ));
    }
    let Some(cache) = chain else {
        return Ok(report(
            false,
            "ChainNotConnected",
            "the operator runs without a chain client (--chain-backend none); it cannot scaffold"
                .into(),
            ctx.resync,
        ));
    };
    let head = match cache.head() {
        Ok(Some(h)) => h,
        Ok(None) => {
            return Ok(report(
                false,
                "LocalnetStarting",
                "no block read from the localnet yet".into(),
                Duration::from_secs(1),
            ));
        }
        Err(e) => return Ok(report(false, "ChainUnreachable", e, slow)),
    };
    // A new chain (another genesis or block 1): the localnet restarted. Scaffold it again.
    if status
        .scaffold_genesis
        .as_deref()
        .is_some_and(|g| head.is_reset_from(g))
    {
        let old_netuid = status.netuid;
        status.scaffold.clear();
        if subnet.spec.netuid.is_none() {
            status.netuid = None;
        }
        status.best_block = None;
        status.scaffold_genesis = None;
        ctx.publish(
            subnet,
            EventType::Warning,
            "ChainReset",
            format!(
                "the localnet's chain is a new one (another genesis or block 1: its pod restarted); scaffolding it again{}",
                old_netuid.map(|n| format!(" (netuid was {n})")).unwrap_or_default()
            ),
        )
        .await;
    }
    // Readiness means blocks advancing.
    let advancing = status.best_block.is_some_and(|b| head.best > b) || !status.scaffold.is_empty();
    if !advancing {
        status.best_block = Some(head.best);
        return Ok(report(
            false,
            "LocalnetStarting",
            format!("waiting for blocks to advance past {}", head.best),
            Duration::from_secs(1),
        ));
    }

    status.scaffold_genesis = Some(head.identity());
    let keys = match owner_keys(ctx, subnet, &ns, &owner).await? {
        Ok(k) => k,
        Err(msg) => return Ok(report(false, "OwnerKeyConflict", msg, ctx.resync)),
    };
    let (owner_cold, owner_hot) = keys;
    let alice = match Signer::dev("Alice") {
        Ok(s) => s,
        Err(e) => return Ok(report(false, "Failed", e.to_string(), ctx.resync)),
    };
    let chain = cache.reader();
    let fund_rao = tao_to_rao(&spec.fund_tao).unwrap_or(0);
    let hyper = match hyperparameter_calls(spec) {
        Ok(h) => h,
        Err(e) => return Ok(report(false, "InvalidSpec", e, ctx.resync)),
    };

    // The subnet the owner key already has, if any (read once, until the scaffold has one):
    // a crash between `register_network` and the status write never makes a second subnet.
    let owned: Option<u16> = if is_done(&status.scaffold, Step::RegisterNetwork) {
        None
    } else {
        match chain.subnet_owners().await {
            Ok(owners) => owners
                .into_iter()
                .find(|(n, o)| *n > 0 && *o == Some(owner_cold.public()))
                .map(|(n, _)| n),
            Err(e) => {
                return Ok(report(
                    false,
                    "ChainUnreachable",
                    format!("RegisterNetwork: {e}"),
                    slow,
                ));
            }
        }
    };
    let mut latest = head.best;
    for step in steps_to_run(&status.scaffold) {
        let netuid = status.netuid;
        let mut calls: Vec<(&Signer, LocalnetCall)> = vec![];
        let mut done_message = None;
        let planned: std::result::Result<(), ChainError> = async {
            match step {
                Step::AdminFreezeWindow => {
                    calls.push((&alice, LocalnetCall::SudoSetAdminFreezeWindow(0)))
                }
                Step::FundOwner => {
                    // Only until the owner has its subnet: registering it spends the lock.
                    if owned.is_none() {
                        let need = NETWORK_LOCK_RAO + OWNER_MARGIN_RAO;
                        let free = chain.account(owner_cold.public()).await?.free;
                        if free < need {
                            calls.push((
                                &alice,
                                LocalnetCall::Transfer {
                                    dest: owner_cold.public(),
                                    rao: need - free,
                                },
                            ));
                        }
                    }
                }
                Step::RegisterNetwork => match owned {
                    Some(n) => {
                        if status.netuid != Some(n) {
                            done_message =
                                Some(format!("netuid {n} (owned by {})", owner_cold.ss58()));
                        }
                        status.netuid = Some(n);
                    }
                    None => calls.push((
                        &owner_cold,
                        LocalnetCall::RegisterNetwork {
                            hotkey: owner_hot.public(),
                        },
                    )),
                },
                Step::StartCall => {
                    if let Some(n) = netuid {
                        let call = LocalnetCall::StartCall { netuid: n };
                        // A runtime without start_call runs subnets from creation: the call
                        // is planned anyway, and reported as skipped (Unsupported) below.
                        let supported = chain.supports(&call).await?;
                        if !supported || !chain.subnet(n).await?.is_some_and(|s| s.started) {
                            calls.push((&owner_cold, call));
                        }
                    }
                }
                Step::EnableEmission => {
                    if let Some(n) = netuid {
                        calls.push((
                            &alice,
                            LocalnetCall::SudoSetHyperparameter {
                                netuid: n,
                                param: Hyperparameter::EmissionEnabled(true),
                            },
                        ));
                    }
                }
                Step::SeedPool => {
                    if let Some(n) = netuid {
                        let call = LocalnetCall::SudoSetPool {
                            netuid: n,
                            tao: LOCALNET_POOL_RAO,
                            alpha: LOCALNET_POOL_RAO,
                        };
                        // A runtime without pools gets the call anyway: it is reported as
                        // skipped (Unsupported) below.
                        match chain.subnet(n).await?.and_then(|s| s.pool) {
                            Some(p) if p.tao >= DUST_POOL_RAO => {
                                done_message = Some(format!(
                                    "not needed: the pool holds {} TAO",
                                    rao_to_tao(p.tao)
                                ));
                            }
                            Some(p) => {
                                done_message = Some(format!(
                                    "the runtime seeded the pool with {} rao of TAO and {} of \
                                     alpha (stake would buy none): set to {} of each",
                                    p.tao,
                                    p.alpha,
                                    rao_to_tao(LOCALNET_POOL_RAO)
                                ));
                                calls.push((&alice, call));
                            }
                            None => calls.push((&alice, call)),
                        }
                    }
                }
                Step::Hyperparameters => {
                    if let Some(n) = netuid {
                        for p in &hyper {
                            calls.push((
                                &alice,
                                LocalnetCall::SudoSetHyperparameter {
                                    netuid: n,
                                    param: p.clone(),
                                },
                            ));
                        }
                    }
                }
                Step::FundColdkeys => {
                    // Top every fleet coldkey up to fundTao.
                    let mut funded = 0;
                    for ss58 in fleet_coldkeys(ctx, &ns, &name).await.unwrap_or_default() {
                        let Ok(who) = crate::keys::ss58_decode(&ss58) else {
                            continue;
                        };
                        let free = chain.account(who).await?.free;
                        if free < fund_rao / 2 {
                            calls.push((
                                &alice,
                                LocalnetCall::Transfer {
                                    dest: who,
                                    rao: fund_rao - free,
                                },
                            ));
                        }
                        funded += 1;
                    }
                    done_message = Some(format!(
                        "{funded} coldkey(s) hold at least half of fundTao {}",
                        spec.fund_tao
                    ));
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = planned {
            return Ok(report(
                false,
                "ChainUnreachable",
                format!("{step}: {e}"),
                slow,
            ));
        }
        if step.needs_netuid() && netuid.is_none() {
            return Ok(report(
                false,
                "Scaffolding",
                format!("{step}: no netuid yet"),
                slow,
            ));
        }
        let mut last_block = None;
        let planned_calls = calls.len();
        let mut skipped: Vec<String> = vec![];
        for (signer, call) in calls {
            let what = format!("{call:?}");
            let r = cache.writer().turn(signer).await.localnet_call(call).await;
            match r {
                Ok(o) => match o.result {
                    Ok(created) => {
                        last_block = Some(o.block);
                        if let Some(n) = created {
                            if let Some(want) = subnet.spec.netuid
                                && want != n
                            {
                                let msg = format!(
                                    "the chain created netuid {n}, but spec.netuid is {want}"
                                );
                                set_step(
                                    &mut status.scaffold,
                                    step,
                                    StepState::Failed,
                                    None,
                                    Some(msg.clone()),
                                );
                                return Ok(report(false, "ScaffoldFailed", msg, ctx.resync));
                            }
                            status.netuid = Some(n);
                            done_message = Some(format!("created netuid {n}"));
                            ctx.publish(
                                subnet,
                                EventType::Normal,
                                "SubnetCreated",
                                format!(
                                    "registered netuid {n} on the localnet (owner {})",
                                    owner_cold.ss58()
                                ),
                            )
                            .await;
                        }
                    }
                    Err(e) => {
                        let msg = format!("{what}: {e}");
                        let first = !status.scaffold.iter().any(|s| {
                            is_at(s, step, StepState::Failed)
                                && s.message.as_deref() == Some(msg.as_str())
                        });
                        set_step(
                            &mut status.scaffold,
                            step,
                            StepState::Failed,
                            None,
                            Some(msg.clone()),
                        );
                        if first {
                            ctx.publish(
                                subnet,
                                EventType::Warning,
                                "ScaffoldFailed",
                                format!("{step}: {msg}"),
                            )
                            .await;
                        }
                        return Ok(report(
                            false,
                            "ScaffoldFailed",
                            format!("{step}: {msg}"),
                            slow,
                        ));
                    }
                },
                Err(ChainError::Unsupported(what)) => skipped.push(what),
                Err(e) => {
                    return Ok(report(
                        false,
                        "ChainUnreachable",
                        format!("{step}: {e}"),
                        slow,
                    ));
                }
            }
        }
        if !skipped.is_empty() {
            let why = format!(
                "the runtime (spec {}) has no {}",
                head.spec_version,
                skipped.join(", ")
            );
            if skipped.len() == planned_calls {
                let first = !status
                    .scaffold
                    .iter()
                    .any(|s| is_at(s, step, StepState::Skipped));
                set_step(
                    &mut status.scaffold,
                    step,
                    StepState::Skipped,
                    Some(latest),
                    Some(why.clone()),
                );
                if first {
                    tracing::info!(subnet = %name, step = step.as_str(), %why, "localnet scaffold step skipped");
                }
                continue;
            }
            done_message = Some(match done_message {
                Some(m) => format!("{m}; skipped: {why}"),
                None => format!("skipped: {why}"),
            });
        }
        let before = status
            .scaffold
            .iter()
            .find(|s| s.name == step.as_str())
            .cloned();
        // A step that sent nothing is done as of the latest block the scaffold has seen (the
        // head it read, or a later step's inclusion block), so recorded blocks never go back.
        let block = last_block
            .or_else(|| before.as_ref().and_then(|b| b.block))
            .unwrap_or(latest);
        latest = latest.max(block);
        let block = Some(block);
        let message = done_message.or_else(|| {
            before.as_ref().and_then(|b| b.message.clone()).filter(|_| {
                before
                    .as_ref()
                    .is_some_and(|b| is_at(b, step, StepState::Done))
            })
        });
        set_step(&mut status.scaffold, step, StepState::Done, block, message);
        if before
            .as_ref()
            .is_none_or(|b| !is_at(b, step, StepState::Done))
        {
            tracing::info!(subnet = %name, step = step.as_str(), "localnet scaffold step done");
        }
    }
    Ok(report(
        true,
        "Scaffolded",
        format!(
            "subnet {} created, started and configured on the localnet",
            status.netuid.map(|n| n.to_string()).unwrap_or_default()
        ),
        Duration::from_secs(10),
    ))
}

/// Stakes `amount_rao` to each registered replica of a Validator on a localnet
/// (`localnet.selfStakeTao`), signed by the fleet's coldkey, so validators can earn a permit.
/// Reads the subnet fresh from the chain (not the cache) so a stake that just landed is never
/// added twice. Returns a problem to report, if any.
pub async fn self_stake<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    cache: &crate::chain::cache::ChainCache,
    netuid: u16,
    signer: Option<&Signer>,
    hotkeys: &[(u32, [u8; 32])],
    amount_rao: u64,
) -> (Vec<(u32, u64)>, Option<String>) {
    let mut staked = vec![];
    let signer = match signer {
        Some(s) if s.kind == crate::keys::signer::SignerKind::Coldkey => s,
        _ => {
            return (
                staked,
                Some(
                    "localnet.selfStakeTao needs the coldkey as the registration signer (a Registration proxy cannot stake)".into(),
                ),
            );
        }
    };
    let snapshot = match cache.reader().subnet(netuid).await {
        Ok(Some(s)) => s,
        Ok(None) => return (staked, None),
        Err(e) => return (staked, Some(format!("self-stake: {e}"))),
    };
    for (index, hotkey) in hotkeys {
        let Some(n) = snapshot.neuron(hotkey) else {
            continue;
        };
        // Staked once: on dTAO runtimes (spec 218 and later) the chain reports stake in the
        // subnet's alpha, which does not compare to a TAO amount, so any stake means done.
        if n.stake > 0 {
            continue;
        }
        let rao = amount_rao;
        // The coldkey also signs the fleets' registrations: the writer's turn keeps them
        // apart, or two would take the same nonce and one would never land.
        let r = cache
            .writer()
            .turn(signer)
            .await
            .localnet_call(LocalnetCall::AddStake {
                hotkey: *hotkey,
                netuid,
                rao,
            })
            .await;
        match r.map(|o| (o.block, o.result)) {
            Ok((block, Ok(_))) => {
                staked.push((*index, block));
                ctx.publish(
                    obj,
                    EventType::Normal,
                    "SelfStaked",
                    format!(
                        "staked {} TAO to replica {index} on netuid {netuid} (localnet.selfStakeTao)",
                        crate::crd::common::rao_to_tao(rao)
                    ),
                )
                .await;
            }
            Ok((_, Err(e))) => {
                return (staked, Some(format!("self-stake of replica {index}: {e}")));
            }
            Err(e) => {
                return (staked, Some(format!("self-stake of replica {index}: {e}")));
            }
        }
    }
    (staked, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_run_in_the_bring_up_order() {
        // next() walks ALL from the first to the last, once each.
        let mut walked = vec![Step::AdminFreezeWindow];
        while let Some(n) = walked.last().and_then(|s| s.next()) {
            walked.push(n);
        }
        assert_eq!(walked, Step::ALL);
        // The owner is funded before it registers; the subnet exists before anything acts on
        // it; the pool is seeded before the hyperparameters, and coldkeys are funded last.
        let at = |s: Step| Step::ALL.iter().position(|x| *x == s).unwrap_or(usize::MAX);
        assert!(at(Step::FundOwner) < at(Step::RegisterNetwork));
        for s in Step::ALL.into_iter().filter(|s| s.needs_netuid()) {
            assert!(at(Step::RegisterNetwork) < at(s), "{s}");
        }
        assert_eq!(Step::ALL.last(), Some(&Step::FundColdkeys));
        assert!(Step::FundColdkeys.runs_every_time() && !Step::SeedPool.runs_every_time());
    }

    #[test]
    fn steps_are_kept_in_order_and_set_by_name() {
        let mut steps = vec![];
        set_step(&mut steps, Step::StartCall, StepState::Done, Some(7), None);
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "AdminFreezeWindow",
                "FundOwner",
                "RegisterNetwork",
                "StartCall",
                "EnableEmission",
                "SeedPool",
                "Hyperparameters",
                "FundColdkeys"
            ]
        );
        assert!(is_done(&steps, Step::StartCall));
        assert!(!is_done(&steps, Step::RegisterNetwork));
        // A step the runtime lacks is skipped, and that counts as done.
        set_step(
            &mut steps,
            Step::EnableEmission,
            StepState::Skipped,
            None,
            None,
        );
        assert!(is_done(&steps, Step::EnableEmission));
        set_step(
            &mut steps,
            Step::StartCall,
            StepState::Failed,
            None,
            Some("x".into()),
        );
        assert!(!is_done(&steps, Step::StartCall));
        assert_eq!(
            steps[3].block,
            Some(7),
            "a failure keeps the block of the last success"
        );
    }

    #[test]
    fn hyperparameters_turn_off_commit_reveal_and_rate_limits_unless_told() {
        let spec: LocalnetSpec = serde_yaml::from_str("{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            hyperparameter_calls(&spec),
            Ok(vec![
                Hyperparameter::CommitReveal(false),
                Hyperparameter::WeightsSetRateLimit(0),
                Hyperparameter::ServingRateLimit(0),
                Hyperparameter::TargetRegistrationsPerInterval(LOCALNET_TARGET_REGISTRATIONS),
            ])
        );
        let spec: LocalnetSpec = serde_yaml::from_str(
            "{hyperparameters: {commitReveal: true, minBurnTao: '0.0005', maxBurnTao: '10', tempo: 20, maxAllowedUids: 64}}",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let calls = hyperparameter_calls(&spec).unwrap_or_default();
        assert_eq!(calls[0], Hyperparameter::CommitReveal(true));
        assert!(calls.contains(&Hyperparameter::MinBurn(500_000)));
        assert!(calls.contains(&Hyperparameter::MaxBurn(10_000_000_000)));
        assert!(calls.contains(&Hyperparameter::Tempo(20)));
        assert!(calls.contains(&Hyperparameter::MaxAllowedUids(64)));
    }

    #[test]
    fn a_scaffold_runs_what_is_left_in_order_and_never_a_step_the_runtime_lacks_again() {
        let mut steps = vec![];
        assert_eq!(
            steps_to_run(&steps),
            Step::ALL,
            "a new chain: everything, in order"
        );
        set_step(
            &mut steps,
            Step::AdminFreezeWindow,
            StepState::Done,
            Some(1),
            None,
        );
        set_step(&mut steps, Step::FundOwner, StepState::Done, Some(2), None);
        set_step(
            &mut steps,
            Step::RegisterNetwork,
            StepState::Done,
            Some(3),
            None,
        );
        // Spec 218 has no start_call: skipped, and not tried again.
        set_step(
            &mut steps,
            Step::StartCall,
            StepState::Skipped,
            None,
            Some("no start_call".into()),
        );
        // A failure is tried again; a pending step too.
        set_step(
            &mut steps,
            Step::EnableEmission,
            StepState::Failed,
            None,
            Some("x".into()),
        );
        set_step(&mut steps, Step::SeedPool, StepState::Done, Some(5), None);
        assert_eq!(
            steps_to_run(&steps),
            [
                Step::EnableEmission,
                Step::Hyperparameters,
                Step::FundColdkeys
            ]
        );
        set_step(
            &mut steps,
            Step::EnableEmission,
            StepState::Done,
            Some(6),
            None,
        );
        set_step(
            &mut steps,
            Step::Hyperparameters,
            StepState::Done,
            Some(7),
            None,
        );
        set_step(
            &mut steps,
            Step::FundColdkeys,
            StepState::Done,
            Some(8),
            None,
        );
        // All done: only the coldkeys are looked at again (new fleets may have come).
        assert_eq!(steps_to_run(&steps), [Step::FundColdkeys]);
    }
}
