//! The Miner and Validator controllers: one generic reconcile over [`FleetKind`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Client, Resource, ResourceExt};

use std::collections::{BTreeMap, BTreeSet};

use super::build::FleetInput;
use super::context::{Context, Error, Result, api};
use super::keys;
use super::status::{self, FleetObservation};
use super::validate::{self, Problem, SecretNeed};
use super::{registration, rollout, validators, workloads};
use crate::crd::conditions::{find, types};
use crate::crd::fleet::FleetSpec;
use crate::crd::{Miner, Subnet, Validator};

use crate::chain::cache::ChainCache;
use crate::crd::FleetKind;

/// Builds the controller for `K`: watches `K` through `DeserializeGuard`; its children through
/// the shared caches (`wakes`: a StatefulSet, Service, pod, claim or hotkey Secret changing
/// reconciles the one fleet it belongs to, see [`super::children`]); Subnets (a Subnet
/// appearing or changing reconciles the fleets that reference it); and Secret metadata (a
/// referenced Secret appearing or changing reconciles the fleet at once). Only metadata of
/// Secrets is watched, never their data.
pub fn controller<K: FleetKind>(
    client: &Client,
    namespace: Option<&str>,
    subnets: Api<Subnet>,
    wakes: impl futures::Stream<Item = ObjectRef<DeserializeGuard<K>>> + Send + 'static,
) -> Controller<DeserializeGuard<K>> {
    let ctl = Controller::new(
        api::<DeserializeGuard<K>>(client, namespace),
        watcher::Config::default(),
    );
    let store = ctl.store();
    let secret_store = ctl.store();
    let seen = SubnetRelevance::default();
    ctl.reconcile_on(wakes)
        .watches(
            subnets,
            watcher::Config::default(),
            move |subnet: Subnet| {
                // A Subnet's status changes every block (price, block numbers); only what its
                // fleets act on wakes them, or every fleet would run every block.
                if !seen.changed(&subnet) {
                    return Vec::new();
                }
                let ns = subnet.namespace();
                let name = subnet.name_any();
                store
                    .state()
                    .into_iter()
                    .filter_map(|g| match &g.0 {
                        Ok(f) if f.namespace() == ns && f.fleet().subnet_ref.name == name => {
                            Some(ObjectRef::from_obj(g.as_ref()))
                        }
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            api::<PartialObjectMeta<Secret>>(client, namespace),
            watcher::Config::default(),
            move |secret: PartialObjectMeta<Secret>| {
                let ns = secret.namespace();
                let name = secret.name_any();
                secret_store
                    .state()
                    .into_iter()
                    .filter_map(|g| match &g.0 {
                        Ok(f) if f.namespace() == ns => validate::secret_needs(f.fleet())
                            .iter()
                            .any(|n| n.name == name)
                            .then(|| ObjectRef::from_obj(g.as_ref())),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            },
        )
}

/// The last fleet-relevant state seen of each Subnet, so that the Subnet watch wakes fleets only
/// when something they act on changed: the spec, the netuid, the chain (endpoint, genesis,
/// runtime), the tempo, or a condition's status or reason. Not the per-block numbers.
#[derive(Clone, Default)]
struct SubnetRelevance(Arc<std::sync::Mutex<BTreeMap<(String, String), u64>>>);

impl SubnetRelevance {
    /// Records `subnet`'s relevant state; true when it differs from the last one seen.
    fn changed(&self, subnet: &Subnet) -> bool {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        subnet.metadata.generation.hash(&mut h);
        subnet.metadata.uid.hash(&mut h);
        subnet.metadata.deletion_timestamp.is_some().hash(&mut h);
        if let Some(s) = &subnet.status {
            (
                s.netuid,
                &s.endpoint,
                &s.genesis_hash,
                s.runtime_spec_version,
                s.tempo,
                s.registration_open,
            )
                .hash(&mut h);
            for c in &s.conditions {
                (&c.type_, &c.status, &c.reason).hash(&mut h);
            }
        }
        let key = (subnet.namespace().unwrap_or_default(), subnet.name_any());
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.insert(key, h.finish()) != Some(h.finish())
    }
}

/// Reconciles one Miner or Validator.
pub async fn reconcile<K: FleetKind>(
    guard: Arc<DeserializeGuard<K>>,
    ctx: Arc<Context>,
) -> Result<Action> {
    let obj = match &guard.0 {
        Ok(obj) => obj,
        Err(invalid) => return Err(super::context::report_invalid::<K>(&ctx, invalid).await),
    };
    // A failing fleet waits out its back-off, whatever woke it (a Pod, a Subnet's new block).
    if let Some(left) = ctx.backing_off(obj) {
        return Ok(Action::requeue(left));
    }
    let started = Instant::now();
    let result = reconcile_fleet(obj, &ctx).await;
    if let Err(e) = &result {
        super::context::report_failure(&ctx, obj, obj.fleet_status(), e).await;
    }
    super::context::finish(&ctx, obj, started, &result);
    result
}

#[tracing::instrument(skip_all, fields(kind = %K::kind(&()), name = %obj.name_any(), namespace = obj.namespace().unwrap_or_default()))]
async fn reconcile_fleet<K: FleetKind>(obj: &K, ctx: &Context) -> Result<Action> {
    let ns = obj.namespace().ok_or(Error::MissingNamespace)?;
    let spec = obj.fleet();
    // validate (pure, once) → dereference (reads only) → the steps → status (pure) → write.
    let validated = validate::fleet(spec);
    let mut observed = dereference(ctx, &ns, obj, validated.as_ref().err()).await?;
    let chain = fleet_chain(ctx, &ns, &spec.subnet_ref.name, &mut observed);
    if observed.problem.is_none()
        && let Ok(numbers) = &validated
        && let Some(coldkey) = observed.coldkey_ss58.clone()
        && let Some(owner) = obj.controller_owner_ref(&())
    {
        let kind = K::kind(&());
        let name = obj.name_any();
        let f = FleetInput {
            kind: &kind,
            component: K::COMPONENT,
            name: &name,
            namespace: &ns,
            owner,
            spec,
            netuid: observed
                .subnet
                .as_ref()
                .and_then(|s| s.netuid)
                .or_else(|| observed.subnet_spec.as_ref().and_then(|s| s.netuid)),
            // The pods talk to the chain the operator resolved for the Subnet.
            chain_endpoint: observed.subnet_spec.as_ref().and_then(|s| {
                let target = ctx.chains.target(s, &spec.subnet_ref.name, &ns);
                target.endpoints.into_iter().next()
            }),
            network: observed
                .subnet_spec
                .as_ref()
                .map(|s| s.network.clone())
                .unwrap_or_default(),
        };
        converge(
            ctx,
            obj,
            &f,
            numbers,
            &coldkey,
            chain.as_deref(),
            &mut observed,
        )
        .await?;
    }

    let desired = status::fleet(
        obj.fleet_status(),
        spec,
        obj.meta().generation,
        crate::labels::fleet_selector_string(&obj.name_any(), K::COMPONENT),
        &observed,
        Timestamp::now(),
    );
    let wrote_intent = observed
        .registration
        .as_ref()
        .is_some_and(|r| r.wrote_status);
    if wrote_intent || obj.fleet_status() != Some(&desired) {
        ctx.apply_status(obj, &desired).await?;
    }
    ctx.metrics.publish_fleet(
        &crate::metrics::FleetLabels {
            namespace: ns.clone(),
            kind: K::kind(&()).to_string(),
            name: obj.name_any(),
        },
        &desired,
    );
    let before = obj.fleet_status().map(|s| &s.conditions[..]);
    announce_ready_change(ctx, obj, before, &desired.conditions).await;
    announce_degraded_change(ctx, obj, before, &desired.conditions).await;
    announce_transition(ctx, obj, before, &desired.conditions, types::AT_RISK, true).await;
    announce_transition(ctx, obj, before, &desired.conditions, types::EARNING, false).await;
    let block_time = chain.as_ref().map(|c| c.block_time());
    Ok(match requeue_after(&observed, ctx.resync, block_time) {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

/// The steps of a fleet whose references resolved: hotkeys, workloads, registration, a
/// localnet validator's self-stake, and the validators' assessment. Each reads the fleet's
/// status as the step before it left it and fills its part of `observed`; none changes a
/// status (the registration step's record is its own journal, see [`registration::reconcile`]).
async fn converge<K: FleetKind>(
    ctx: &Context,
    obj: &K,
    f: &FleetInput<'_>,
    numbers: &validate::FleetNumbers,
    coldkey: &str,
    chain: Option<&ChainCache>,
    observed: &mut FleetObservation,
) -> Result<()> {
    let previous = obj.fleet_status().cloned().unwrap_or_default();
    let (spec, ns) = (f.spec, f.namespace);
    let children = workloads::list_children(ctx, f).await?;
    let existing: BTreeSet<u32> = children.statefulsets.keys().copied().collect();
    let incentive: BTreeMap<u32, f64> = obj
        .fleet_status()
        .map(|s| {
            s.replica_statuses
                .iter()
                .filter_map(|r| Some((r.index, r.incentive?)))
                .collect()
        })
        .unwrap_or_default();
    let replicas = u32::try_from(spec.replicas).unwrap_or(0);
    let active = rollout::active_indices(&existing, replicas, &spec.remove_replicas, &incentive);
    let indices: Vec<u32> = active.iter().copied().collect();
    let keys = keys::ensure(ctx, obj, ns, coldkey, &indices).await?;
    // The registration signer, looked up once for every transaction of this reconcile.
    let signer = keys
        .signer_cache_key
        .as_ref()
        .and_then(|k| ctx.signers.get(k));
    observed.problem = keys.problem.clone();
    let wl = workloads::reconcile(
        ctx,
        f,
        &children,
        &active,
        &keys.hotkeys,
        previous.canary.as_ref(),
        Timestamp::now(),
    )
    .await?;
    if let (Some(cache), Some(netuid), Ok(coldkey)) =
        (chain, f.netuid, crate::keys::ss58_decode(coldkey))
    {
        observed.registration = Some(
            registration::reconcile(
                ctx,
                obj,
                &previous,
                cache,
                netuid,
                spec,
                numbers,
                &keys.hotkeys,
                signer.clone(),
                coldkey,
            )
            .await?,
        );
    }
    // Validators on a localnet: the stake the scaffold promises (`localnet.selfStakeTao`).
    if let (Some(_), Some(cache), Some(netuid), Some(amount)) = (
        obj.weights_policy(),
        chain,
        f.netuid,
        observed
            .subnet_spec
            .as_ref()
            .and_then(|s| s.localnet.as_ref())
            .and_then(|l| l.self_stake_tao.as_deref())
            .and_then(crate::crd::common::tao_to_rao),
    ) {
        let registered: Vec<(u32, [u8; 32])> = chain_record(observed, &previous)
            .replica_statuses
            .iter()
            .filter(|r| r.registered && r.self_staked_at_block.is_none())
            .filter_map(|r| {
                Some((
                    r.index,
                    crate::keys::ss58_decode(r.hotkey.as_deref()?).ok()?,
                ))
            })
            .collect();
        if !registered.is_empty() {
            let (staked, problem) = super::localnet::self_stake(
                ctx,
                obj,
                cache,
                netuid,
                signer.as_deref(),
                &registered,
                amount,
            )
            .await;
            observed.self_staked = staked;
            if let Some(problem) = problem {
                ctx.publish(obj, EventType::Warning, "SelfStakeFailed", problem)
                    .await;
            }
        }
    }
    if let (Some(policy), Some(cache), Some(netuid)) = (obj.weights_policy(), chain, f.netuid)
        && let Some(Some(snapshot)) = cache.snapshot(netuid)
    {
        let record = chain_record(observed, &previous);
        let v =
            validators::reconcile(ctx, obj, record, &snapshot, policy, Timestamp::now()).await?;
        observed.validators = Some(v);
    }
    observed.keys = Some(keys);
    observed.workloads = Some(wl);
    Ok(())
}

/// The chain of the fleet's Subnet `subnet` (opened if no Subnet uses it yet), when the
/// operator opens chains and the fleet has no problem. A chain that answers as another network
/// than the Subnet's (or another chain than the one its URL first showed) becomes the fleet's
/// problem, and nothing is sent to it; a URL's chain whose genesis the Subnet has not recorded
/// yet is not used until it has.
fn fleet_chain(
    ctx: &Context,
    ns: &str,
    subnet: &str,
    observed: &mut FleetObservation,
) -> Option<Arc<ChainCache>> {
    if observed.problem.is_some() {
        return None;
    }
    // A Subnet whose spec cannot be used has no chain (its own reconcile released it).
    let spec = observed
        .subnet_spec
        .as_ref()
        .filter(|s| validate::subnet(s).is_ok())?;
    let target = ctx.chains.target(spec, subnet, ns);
    let cache = match ctx
        .chains
        .acquire(&(ns.to_string(), subnet.to_string()), &target)
    {
        Ok(cache) => cache?,
        Err(e) => {
            tracing::warn!(error = %e, "cannot open the Subnet's chain");
            return None;
        }
    };
    let recorded = observed
        .subnet
        .as_ref()
        .and_then(|s| s.genesis_hash.as_deref());
    // Not answered yet (nothing of it is read, so nothing is sent either), or not pinned.
    let Some(check) = ctx.chains.check(&cache, &target.network, recorded) else {
        return Some(cache);
    };
    if let Some((reason, message)) = check.problem() {
        observed.problem = Some(Problem::WrongChain { reason, message });
        return None;
    }
    check.allows_writes().then_some(cache)
}

/// The fleet's status as the registration step left it (the previous one without a chain).
fn chain_record<'a>(
    observed: &'a FleetObservation,
    previous: &'a crate::crd::FleetStatus,
) -> &'a crate::crd::FleetStatus {
    observed
        .registration
        .as_ref()
        .map_or(previous, |r| &r.record)
}

/// When to look at a fleet again (`None`: on its next change). A problem the user must fix
/// waits for a change; other problems look again in 30 s. Otherwise the resync, shortened
/// while pods settle (a minute), while registration waits for something (its own time),
/// for validators about once a tempo, and while a canary's auto-promotion timer runs (5 s).
fn requeue_after(
    observed: &FleetObservation,
    resync: Duration,
    block_time: Option<Duration>,
) -> Option<Duration> {
    match observed.problem {
        Some(Problem::InvalidSpec(_) | Problem::TemplatePolicy { .. }) => return None,
        // Referenced objects are watched, but a foreign Secret in the way or a chain-side
        // change is not: look again soon.
        Some(_) => return Some(Duration::from_secs(30)),
        None => {}
    }
    let mut after = resync;
    // Pods and StatefulSets are watched; this only covers what is not an event.
    if observed
        .workloads
        .as_ref()
        .is_some_and(|w| w.replicas.values().any(|r| !r.ready))
    {
        after = after.min(Duration::from_secs(60));
    }
    if let Some(r) = observed.registration.as_ref().and_then(|r| r.requeue) {
        after = after.min(r);
    }
    // Weights freshness is a matter of blocks passing: look again about once a tempo.
    if observed.validators.is_some()
        && let Some(block_time) = block_time
    {
        let tempo = observed
            .subnet
            .as_ref()
            .and_then(|s| s.tempo)
            .unwrap_or(360);
        let every = block_time.saturating_mul(u32::from(tempo));
        after = after.min(every.clamp(Duration::from_secs(1), Duration::from_secs(60)));
    }
    // A canary's auto-promotion timer is not an event: look again soon.
    if observed
        .workloads
        .as_ref()
        .is_some_and(|w| w.canary.is_some())
    {
        after = after.min(Duration::from_secs(5));
    }
    Some(after)
}

/// Whether a fleet of the other kind holds this name: the older of the two keeps it (ties go to
/// the smaller uid), the other creates nothing and says why.
async fn name_taken<K: FleetKind>(client: &Client, ns: &str, obj: &K) -> Result<Option<Problem>> {
    let other = if K::COMPONENT == <Miner as FleetKind>::COMPONENT {
        kube::core::ApiResource::erase::<Validator>(&())
    } else {
        kube::core::ApiResource::erase::<Miner>(&())
    };
    let api: Api<kube::core::DynamicObject> = Api::namespaced_with(client.clone(), ns, &other);
    let name = obj.name_any();
    let Some(theirs) = api
        .get_metadata_opt(&name)
        .await
        .map_err(|source| Error::ListChildren {
            kind: other.kind.clone(),
            source,
        })?
    else {
        return Ok(None);
    };
    let age = |m: &kube::core::ObjectMeta| {
        (
            m.creation_timestamp.as_ref().map(|t| t.0),
            m.uid.clone().unwrap_or_default(),
        )
    };
    if age(&theirs.metadata) < age(obj.meta()) {
        return Ok(Some(Problem::NameTaken {
            kind: K::kind(&()).to_string(),
            other_kind: other.kind,
            name,
        }));
    }
    Ok(None)
}

/// Reads what the fleet references (reads only) and finds the first problem: the spec's own
/// (`invalid`, from validation), the Subnet, the Secrets, and a fleet of the other kind that
/// holds the name.
async fn dereference<K: FleetKind>(
    ctx: &Context,
    ns: &str,
    obj: &K,
    invalid: Option<&Problem>,
) -> Result<FleetObservation> {
    let mut obs = references(&ctx.client, ns, obj.fleet(), invalid).await?;
    if obs.problem.is_none() {
        obs.problem = name_taken(&ctx.client, ns, obj).await?;
    }
    Ok(obs)
}

/// Reads the Subnet and the Secrets the fleet references.
async fn references(
    client: &Client,
    ns: &str,
    spec: &FleetSpec,
    invalid: Option<&Problem>,
) -> Result<FleetObservation> {
    let mut obs = FleetObservation::default();
    if let Some(p) = invalid {
        obs.problem = Some(p.clone());
        return Ok(obs);
    }
    let subnets: Api<Subnet> = Api::namespaced(client.clone(), ns);
    let subnet = subnets
        .get_opt(&spec.subnet_ref.name)
        .await
        .map_err(|source| Error::FetchSubnet {
            name: spec.subnet_ref.name.clone(),
            source,
        })?;
    let Some(subnet) = subnet else {
        obs.problem = Some(Problem::SubnetNotFound(spec.subnet_ref.name.clone()));
        return Ok(obs);
    };
    obs.subnet = subnet.status;
    obs.subnet_spec = Some(subnet.spec);
    obs.coldkey_ss58 = spec.wallet.coldkey_pub.ss58.clone();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let coldkey_key = spec
        .wallet
        .coldkey_pub
        .secret_ref
        .as_ref()
        .map(|r| (r.name.clone(), r.key_or("coldkeypub.txt").to_string()));
    for need in validate::secret_needs(spec) {
        let secret = secrets
            .get_opt(&need.name)
            .await
            .map_err(|source| Error::FetchSecret {
                name: need.name.clone(),
                source,
            })?;
        match check_secret(secret.as_ref(), &need, coldkey_key.as_ref()) {
            Err(problem) => {
                obs.problem = Some(problem);
                return Ok(obs);
            }
            Ok(Some(ss58)) => obs.coldkey_ss58 = Some(ss58),
            Ok(None) => {}
        }
    }
    Ok(obs)
}

/// Checks one referenced Secret; returns the coldkey's address when it is the coldkey's public
/// file. Reads only what it must (the public coldkey file); never logs content.
fn check_secret(
    secret: Option<&Secret>,
    need: &SecretNeed,
    coldkey_pub: Option<&(String, String)>,
) -> std::result::Result<Option<String>, Problem> {
    let Some(secret) = secret else {
        return Err(Problem::SecretNotFound {
            name: need.name.clone(),
            purpose: need.purpose.clone(),
        });
    };
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&need.key))
        .map(|b| b.0.as_slice());
    let Some(value) = value else {
        return Err(Problem::SecretKeyMissing {
            name: need.name.clone(),
            key: need.key.clone(),
            purpose: need.purpose.clone(),
        });
    };
    if coldkey_pub == Some(&(need.name.clone(), need.key.clone())) {
        return validate::coldkeypub_ss58(value)
            .map(Some)
            .map_err(|reason| Problem::InvalidColdkeyPub {
                name: need.name.clone(),
                key: need.key.clone(),
                reason,
            });
    }
    Ok(None)
}

/// Publishes an event when the `Ready` condition's reason changes.
pub(crate) async fn announce_ready_change<K>(
    ctx: &Context,
    obj: &K,
    before: Option<&[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]>,
    after: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) where
    K: Resource<DynamicType = ()>,
{
    let old = before.and_then(|c| find(c, types::READY));
    let Some(new) = find(after, types::READY) else {
        return;
    };
    if old.map(|c| (&c.status, &c.reason)) == Some((&new.status, &new.reason)) {
        return;
    }
    let problem = new.status != "True"
        && !matches!(
            new.reason.as_str(),
            "ReplicasNotReady" | "ChainNotConnected" | "ScaledToZero"
        );
    let type_ = if problem {
        EventType::Warning
    } else {
        EventType::Normal
    };
    ctx.publish(obj, type_, &new.reason, new.message.clone())
        .await;
}

/// Publishes a Warning event when the fleet becomes `Degraded` (e.g. a replica cannot be
/// scheduled), and a Normal one when it recovers.
async fn announce_degraded_change<K>(
    ctx: &Context,
    obj: &K,
    before: Option<&[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]>,
    after: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) where
    K: Resource<DynamicType = ()>,
{
    let old = before.and_then(|c| find(c, types::DEGRADED));
    let Some(new) = find(after, types::DEGRADED) else {
        return;
    };
    let was = old.is_some_and(|c| c.status == "True");
    let now = new.status == "True";
    if was == now && old.map(|c| &c.message) == Some(&new.message) {
        return;
    }
    if !now && old.is_none() {
        return;
    }
    let type_ = if now {
        EventType::Warning
    } else {
        EventType::Normal
    };
    ctx.publish(obj, type_, &new.reason, new.message.clone())
        .await;
}

/// Publishes an event when condition `type_` changes status or reason: a Warning when it
/// enters its bad state (`bad` is the status that is bad: True for `AtRisk`, False for
/// `Earning`), a Normal one when it leaves it. A condition that first appears in its good
/// state says nothing.
async fn announce_transition<K>(
    ctx: &Context,
    obj: &K,
    before: Option<&[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]>,
    after: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
    bad: bool,
) where
    K: Resource<DynamicType = ()>,
{
    let old = before.and_then(|c| find(c, type_));
    let Some(new) = find(after, type_) else {
        return;
    };
    if old.map(|c| (&c.status, &c.reason)) == Some((&new.status, &new.reason)) {
        return;
    }
    let is_bad = (new.status == "True") == bad;
    if !is_bad && old.is_none() {
        return;
    }
    let kind = if is_bad {
        EventType::Warning
    } else {
        EventType::Normal
    };
    ctx.publish(obj, kind, &new.reason, new.message.clone())
        .await;
}

/// Error policy of the fleet controllers.
pub fn error_policy<K: FleetKind>(
    guard: Arc<DeserializeGuard<K>>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    match &guard.0 {
        Ok(obj) => super::context::error_policy(obj, error, &ctx),
        Err(_) => Action::await_change(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_is_looked_at_again_by_what_it_waits_for() {
        let resync = Duration::from_secs(300);
        let secs = Duration::from_secs;
        // A spec the user must fix waits for a change; a missing Secret is looked at in 30 s.
        let invalid = FleetObservation {
            problem: Some(Problem::InvalidSpec("x".into())),
            ..Default::default()
        };
        assert_eq!(requeue_after(&invalid, resync, None), None);
        let missing = FleetObservation {
            problem: Some(Problem::SubnetNotFound("sn".into())),
            ..Default::default()
        };
        assert_eq!(requeue_after(&missing, resync, None), Some(secs(30)));
        // Settled: the resync.
        let mut o = FleetObservation::default();
        assert_eq!(requeue_after(&o, resync, None), Some(resync));
        // A pod settling: a minute; a registration waiting 7 s: 7 s.
        let mut wl = workloads::WorkloadObservation::default();
        wl.replicas
            .insert(0, workloads::ReplicaObservation::default());
        o.workloads = Some(wl.clone());
        assert_eq!(requeue_after(&o, resync, None), Some(secs(60)));
        o.registration = Some(registration::RegistrationObservation {
            requeue: Some(secs(7)),
            ..Default::default()
        });
        assert_eq!(requeue_after(&o, resync, None), Some(secs(7)));
        // Validators: once a tempo of blocks (10 × 12 s = 120 s, clamped to a minute; 10 × 0.5 s).
        o.registration = None;
        o.workloads = None;
        let verdict = validators::Verdict {
            type_: "Permitted",
            status: true,
            reason: "Permitted",
            message: String::new(),
        };
        o.validators = Some(validators::ValidatorObservation {
            permitted: verdict.clone(),
            fresh: verdict,
            restart: vec![],
            permitted_replicas: 1,
            total_stake_tao: "1".into(),
            oldest_weights_block: None,
            replicas: vec![],
        });
        o.subnet = Some(crate::crd::SubnetStatus {
            tempo: Some(10),
            ..Default::default()
        });
        assert_eq!(requeue_after(&o, resync, Some(secs(12))), Some(secs(60)));
        assert_eq!(
            requeue_after(&o, resync, Some(Duration::from_millis(500))),
            Some(secs(5))
        );
        // Without a chain, no tempo to count.
        assert_eq!(requeue_after(&o, resync, None), Some(resync));
        // A canary's timer: 5 s.
        wl.replicas.clear();
        wl.canary = Some(crate::crd::fleet::CanaryStatus {
            index: 0,
            template_hash: "h".into(),
            ready_since: "2026-01-01T00:00:00Z".into(),
        });
        o.workloads = Some(wl);
        assert_eq!(requeue_after(&o, resync, Some(secs(12))), Some(secs(5)));
    }

    #[test]
    fn a_subnets_new_block_does_not_wake_its_fleets_but_a_new_netuid_does() {
        let seen = SubnetRelevance::default();
        let mut sn: Subnet = serde_yaml::from_str(
            "{apiVersion: subnet-operator.io/v1alpha1, kind: Subnet, metadata: {name: sn, namespace: ns, generation: 1}, spec: {network: finney, netuid: 7}}",
        )
        .unwrap_or_else(|e| panic!("fixture: {e}"));
        let mut status = crate::crd::subnet::SubnetStatus {
            netuid: Some(7),
            best_block: Some(100),
            registration_price_rao: Some(1_000),
            ..Default::default()
        };
        sn.status = Some(status.clone());
        assert!(seen.changed(&sn), "first sight");
        // Every block: new numbers, nothing a fleet acts on.
        status.best_block = Some(101);
        status.finalized_block = Some(99);
        status.registration_price_rao = Some(990);
        status.uids_used = Some(12);
        sn.status = Some(status.clone());
        assert!(!seen.changed(&sn), "a new block woke the fleets");
        status.netuid = Some(8);
        sn.status = Some(status);
        assert!(seen.changed(&sn), "a new netuid must wake them");
        sn.metadata.generation = Some(2);
        assert!(seen.changed(&sn), "a spec change must wake them");
    }
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn secret(data: &[(&str, &[u8])]) -> Secret {
        Secret {
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        }
    }

    fn need(name: &str, key: &str) -> SecretNeed {
        SecretNeed {
            name: name.into(),
            key: key.into(),
            purpose: "wallet.coldkeyPub".into(),
        }
    }

    #[test]
    fn secret_checks_name_the_problem() {
        let n = need("cold", "coldkeypub.txt");
        let ck = ("cold".to_string(), "coldkeypub.txt".to_string());
        let reason = |r: std::result::Result<Option<String>, Problem>| r.map_err(|p| p.reason());
        assert_eq!(
            reason(check_secret(None, &n, Some(&ck))),
            Err("SecretNotFound")
        );
        assert_eq!(
            reason(check_secret(
                Some(&secret(&[("other", b"x")])),
                &n,
                Some(&ck)
            )),
            Err("SecretKeyMissing")
        );
        assert_eq!(
            reason(check_secret(
                Some(&secret(&[("coldkeypub.txt", b"{}")])),
                &n,
                Some(&ck)
            )),
            Err("InvalidColdkeyPub")
        );
        let good = br#"{"ss58Address":"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}"#;
        assert_eq!(
            check_secret(Some(&secret(&[("coldkeypub.txt", good)])), &n, Some(&ck)),
            Ok(Some(
                "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".to_string()
            ))
        );
        // A non-coldkeypub Secret is only checked for its key, never parsed.
        let other = need("proxy", "mnemonic");
        assert_eq!(
            check_secret(Some(&secret(&[("mnemonic", b"words")])), &other, Some(&ck)),
            Ok(None)
        );
    }
}
