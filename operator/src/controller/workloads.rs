//! The workloads step of a fleet reconcile: per-replica StatefulSets, Services and volumes, the
//! fleet's PodDisruptionBudget, scale-in, and rolling updates. Reads come from the watch
//! caches ([`super::children`]); an object is written only when what the operator would apply differs from what it
//! applied last (the `spec-hash` annotation), so a steady state sends no write.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use std::sync::Arc;

use kube::ResourceExt;
use kube::api::{Api, PartialObjectMeta};

use super::build::workload::{self, template_hash};
use super::build::{FleetInput, ReplicaInput, stamped};
use super::children;
use super::context::{Context, Error, Result};
use super::keys::HotkeyRef;
use super::rollout::{self, ReplicaState, Template};
use crate::crd::fleet::ReplicaPhase;
use k8s_openapi::jiff::Timestamp;

use crate::crd::fleet::{AxonAddress, AxonExposure, CanaryStatus, RetentionPolicy};

/// The children of a fleet as the caches held them at the start of a reconcile.
#[derive(Default)]
pub struct Children {
    /// StatefulSets by replica index (metadata and status).
    pub statefulsets: BTreeMap<u32, Arc<StatefulSet>>,
    /// Services by replica index.
    pub services: BTreeMap<u32, Arc<Service>>,
    /// Volume claims by replica index (metadata).
    pub pvcs: BTreeMap<u32, Arc<PartialObjectMeta<PersistentVolumeClaim>>>,
    /// Pods by replica index (metadata and status).
    pub pods: BTreeMap<u32, Arc<Pod>>,
}

/// What became of each replica this reconcile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicaObservation {
    /// Pod name, when a pod exists.
    pub pod: Option<String>,
    /// Where the replica stands.
    pub phase: ReplicaPhase,
    /// Why it is not ready (e.g. the scheduler's message).
    pub message: Option<String>,
    /// Whether it is ready on the desired template.
    pub ready: bool,
    /// The address its axon is exposed at, when known.
    pub axon: Option<AxonAddress>,
    /// The scheduler cannot place it.
    pub unschedulable: bool,
}

/// What the workloads step found and did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkloadObservation {
    /// Replicas by index (the active ones).
    pub replicas: BTreeMap<u32, ReplicaObservation>,
    /// Replicas whose StatefulSet still has an older template.
    pub outdated: BTreeSet<u32>,
    /// The canary replica is on the new template and ready, waiting for promotion.
    pub canary_waiting: bool,
    /// The canary index is not a replica (it is at or above `replicas`, or scaled away): template
    /// changes are held until it is promoted or points at a replica.
    pub canary_missing: Option<u32>,
    /// Since when the canary has been ready on the new template (for `autoPromoteAfter`).
    pub canary: Option<CanaryStatus>,
}

/// The fleet's children, from the watch caches (no request).
pub async fn list_children(ctx: &Context, f: &FleetInput<'_>) -> Result<Children> {
    let c = ctx.children.stores(f.namespace)?;
    let (ns, name, component) = (f.namespace, f.name, f.component);
    Ok(Children {
        statefulsets: children::by_index(&c.statefulsets, ns, name, component).await?,
        services: children::by_index(&c.services, ns, name, component).await?,
        pvcs: children::by_index(&c.pvcs, ns, name, component).await?,
        pods: children::by_index(&c.pods, ns, name, component).await?,
    })
}

/// A child the workload step deletes: scale-in removes what is no longer active.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removal {
    /// A replica's StatefulSet.
    StatefulSet(String),
    /// A replica's Service.
    Service(String),
    /// A replica's volume claim (`storage.whenScaled: Delete`).
    Claim(String),
}

/// What scale-in removes (pure): the StatefulSet and Service of every replica no longer active,
/// and its claim when `storage.whenScaled` is `Delete`. Hotkey Secrets stay (see keys).
pub fn removals(f: &FleetInput<'_>, children: &Children, active: &BTreeSet<u32>) -> Vec<Removal> {
    let delete_claims =
        f.spec.storage.as_ref().map(|s| s.when_scaled) == Some(RetentionPolicy::Delete);
    let mut out = vec![];
    for (&i, sts) in &children.statefulsets {
        if active.contains(&i) {
            continue;
        }
        out.push(Removal::StatefulSet(sts.name_any()));
        if let Some(svc) = children.services.get(&i) {
            out.push(Removal::Service(svc.name_any()));
        }
        if delete_claims && let Some(pvc) = children.pvcs.get(&i) {
            out.push(Removal::Claim(pvc.name_any()));
        }
    }
    out
}

/// The address a replica's axon is announced at, from the fleet's spec and its Service as the
/// API server has it (the NodePort it assigned, the load balancer's address).
fn endpoint(f: &FleetInput<'_>, svc: Option<&Service>) -> (Option<String>, Option<u16>) {
    let spec = f.spec;
    let mut ip = spec.axon.external_ip.clone();
    let mut port = spec.axon.external_port;
    let Some(svc) = svc else {
        return (ip, port);
    };
    match spec.axon.exposure {
        AxonExposure::NodePort => {
            port = svc
                .spec
                .as_ref()
                .and_then(|s| s.ports.as_ref())
                .and_then(|p| p.first())
                .and_then(|p| p.node_port)
                .and_then(|p| u16::try_from(p).ok());
        }
        AxonExposure::LoadBalancer => {
            let ingress = svc
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|l| l.ingress.as_ref())
                .and_then(|i| i.first());
            if ip.is_none() {
                ip = ingress.and_then(|i| i.ip.clone());
            }
            port = Some(spec.axon.port);
        }
        _ => {}
    }
    (ip, port)
}

/// What the StatefulSet half of the workload step decided (pure, see [`plan_statefulsets`]).
#[derive(Clone, Debug, Default)]
pub struct StatefulSetPlan {
    /// What each active replica's desired StatefulSet hashes to (those with a hotkey).
    pub desired: BTreeMap<u32, Desired>,
    /// The StatefulSets to apply now (those of `apply`), built whole.
    pub objects: Vec<StatefulSet>,
    /// The replicas whose StatefulSet is applied now: new ones, changes that keep the
    /// template, and template changes the rollout allows.
    pub apply: BTreeSet<u32>,
    /// Replicas held on an older template by the rollout.
    pub outdated: BTreeSet<u32>,
    /// The canary decision, when the fleet has a canary.
    pub canary: Option<rollout::Canary>,
    /// The canary status to show.
    pub shown_canary: Option<CanaryStatus>,
}

/// What a plan keeps of a replica's desired StatefulSet: its two hashes. The object itself is
/// built again only when it is applied: a thousand of them would hold tens of MiB through
/// every reconcile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// Its `spec-hash` stamp (what the operator applies).
    pub stamp: Option<String>,
    /// Its pod template's hash.
    pub template: Option<String>,
}

impl Desired {
    fn of(sts: &StatefulSet) -> Self {
        Self {
            stamp: stamped(&sts.metadata).map(str::to_string),
            template: template_hash(sts).map(str::to_string),
        }
    }
}

/// Which StatefulSets to apply (pure): new replicas at once, template changes one at a time
/// (canary first), from the children read, the replicas' hotkeys and axon endpoints.
pub fn plan_statefulsets(
    f: &FleetInput<'_>,
    children: &Children,
    active: &BTreeSet<u32>,
    hotkeys: &BTreeMap<u32, HotkeyRef>,
    endpoints: &BTreeMap<u32, (Option<String>, Option<u16>)>,
    previous_canary: Option<&CanaryStatus>,
    now: Timestamp,
) -> StatefulSetPlan {
    let mut plan = StatefulSetPlan::default();
    let build = |i: u32| {
        let hk = hotkeys.get(&i)?;
        let (ip, port) = endpoints.get(&i).cloned().unwrap_or_default();
        let r = ReplicaInput {
            index: i,
            hotkey_secret: hk.secret_name.clone(),
            external_ip: ip,
            external_port: port,
        };
        Some(workload::statefulset(f, &r))
    };
    for &i in active {
        if let Some(sts) = build(i) {
            plan.desired.insert(i, Desired::of(&sts));
        }
    }
    // Each replica's template differs (index, hotkey), so compare each with its own target.
    let states: BTreeMap<u32, ReplicaState> = children
        .statefulsets
        .iter()
        .filter_map(|(&i, sts)| {
            let want = plan.desired.get(&i)?;
            let current = template_hash(sts) == want.template.as_deref();
            Some((
                i,
                ReplicaState {
                    template: if current {
                        Template::Current
                    } else {
                        Template::Outdated
                    },
                    ready: replica_ready(sts, children.pods.get(&i).map(Arc::as_ref)),
                },
            ))
        })
        .collect();
    // A canary that has run the new template, ready, for `autoPromoteAfter` is promoted.
    if let Some(c) = f.spec.update_strategy.canary.as_ref() {
        let want = plan
            .desired
            .get(&c.index)
            .and_then(|d| d.template.as_deref())
            .unwrap_or_default();
        let (canary, shown) = rollout::canary(c, &states, want, previous_canary, now);
        plan.canary = Some(canary);
        plan.shown_canary = shown;
    }
    let may_update = rollout::updatable(&states, plan.canary.as_ref());
    for (&i, want) in &plan.desired {
        match children.statefulsets.get(&i) {
            None => {
                plan.apply.insert(i);
            }
            Some(have) if stamped(&have.metadata) == want.stamp.as_deref() => {}
            Some(have) => {
                if template_hash(have) == want.template.as_deref() || may_update.contains(&i) {
                    plan.apply.insert(i);
                } else {
                    plan.outdated.insert(i);
                }
            }
        }
    }
    plan.objects = plan.apply.iter().filter_map(|&i| build(i)).collect();
    plan
}

/// What became of each active replica (pure): its pod, phase and readiness on the desired
/// template, and its axon's address.
fn observe(
    f: &FleetInput<'_>,
    children: &Children,
    active: &BTreeSet<u32>,
    hotkeys: &BTreeMap<u32, HotkeyRef>,
    endpoints: &BTreeMap<u32, (Option<String>, Option<u16>)>,
    plan: StatefulSetPlan,
) -> WorkloadObservation {
    let spec = f.spec;
    let mut obs = WorkloadObservation {
        outdated: plan.outdated,
        canary: plan.shown_canary,
        ..Default::default()
    };
    for &i in active {
        let sts = children.statefulsets.get(&i).map(Arc::as_ref);
        let pod = children.pods.get(&i).map(Arc::as_ref);
        let mut r = ReplicaObservation {
            pod: pod.map(|p| p.name_any()),
            ..Default::default()
        };
        let (phase, message, unschedulable) = pod_phase(pod);
        r.phase = phase;
        r.message = message;
        r.unschedulable = unschedulable;
        r.ready = sts.is_some_and(|s| replica_ready(s, pod))
            && sts.and_then(template_hash)
                == plan.desired.get(&i).and_then(|d| d.template.as_deref());
        if sts.is_none() {
            r.phase = if hotkeys.contains_key(&i) {
                ReplicaPhase::Creating
            } else {
                ReplicaPhase::WaitingForHotkey
            };
        } else if obs.outdated.contains(&i) && r.phase != ReplicaPhase::Terminating {
            r.phase = ReplicaPhase::Outdated;
        }
        let (ip, port) = endpoints.get(&i).cloned().unwrap_or_default();
        let ip = ip.or_else(|| {
            matches!(
                spec.axon.exposure,
                AxonExposure::HostPort | AxonExposure::NodePort
            )
            .then(|| pod.and_then(|p| p.status.as_ref()?.host_ip.clone()))
            .flatten()
        });
        let port = match spec.axon.exposure {
            AxonExposure::HostPort => Some(port.unwrap_or(spec.axon.port)),
            _ => port,
        };
        if let (Some(ip), Some(port)) = (ip, port) {
            r.axon = Some(AxonAddress { ip, port });
        }
        obs.replicas.insert(i, r);
    }
    // A canary rollout waits for promotion once the canary runs the new template and is ready.
    if let Some(c) = &plan.canary {
        obs.canary_waiting = !c.promoted
            && !obs.outdated.is_empty()
            && !obs.outdated.contains(&c.index)
            && obs.replicas.get(&c.index).is_some_and(|r| r.ready);
        obs.canary_missing = (!c.promoted && !active.contains(&c.index)).then_some(c.index);
    }
    obs
}

/// The workload step: removals → Services (their NodePort or load balancer address goes into
/// the pods' environment) → volume claims (created once: they are immutable) → StatefulSets as
/// planned → the PodDisruptionBudget; then what became of each replica. Every decision is one
/// of the pure functions above; this only writes what they decided.
pub async fn reconcile(
    ctx: &Context,
    f: &FleetInput<'_>,
    children: &Children,
    active: &BTreeSet<u32>,
    hotkeys: &BTreeMap<u32, HotkeyRef>,
    previous_canary: Option<&CanaryStatus>,
    now: Timestamp,
) -> Result<WorkloadObservation> {
    let writer = ctx.applier(f.namespace, f.kind);
    let (mut sts, mut svcs, mut claims) = (vec![], vec![], vec![]);
    for r in removals(f, children, active) {
        match r {
            Removal::StatefulSet(n) => sts.push(n),
            Removal::Service(n) => svcs.push(n),
            Removal::Claim(n) => claims.push(n),
        }
    }
    writer.delete_all::<StatefulSet>(&sts).await?;
    writer.delete_all::<Service>(&svcs).await?;
    writer.delete_all::<PersistentVolumeClaim>(&claims).await?;
    let mut endpoints: BTreeMap<u32, (Option<String>, Option<u16>)> = BTreeMap::new();
    let (mut changed, mut wants) = (vec![], vec![]);
    for &i in active {
        match workload::service(f, i) {
            Some(want) => match children.services.get(&i) {
                Some(h) if stamped(&h.metadata) == stamped(&want.metadata) => {
                    endpoints.insert(i, endpoint(f, Some(h)));
                }
                _ => {
                    changed.push(i);
                    wants.push(want);
                }
            },
            None => {
                endpoints.insert(i, endpoint(f, None));
            }
        }
    }
    for (i, svc) in changed.into_iter().zip(writer.apply_all(&wants).await?) {
        endpoints.insert(i, endpoint(f, Some(&svc)));
    }
    let claims: Vec<PersistentVolumeClaim> = active
        .iter()
        .filter(|i| !children.pvcs.contains_key(i))
        .filter_map(|&i| workload::pvc(f, i))
        .collect();
    writer.apply_each(&claims).await?;
    let plan = plan_statefulsets(
        f,
        children,
        active,
        hotkeys,
        &endpoints,
        previous_canary,
        now,
    );
    writer.apply_each(&plan.objects).await?;
    if !active.is_empty() {
        let want = workload::pdb(f);
        let have: Option<PodDisruptionBudget> =
            Api::<PodDisruptionBudget>::namespaced(ctx.client.clone(), f.namespace)
                .get_opt(f.name)
                .await
                .map_err(|source| Error::ListChildren {
                    kind: "PodDisruptionBudget".into(),
                    source,
                })?;
        if have.as_ref().map(|h| stamped(&h.metadata)) != Some(stamped(&want.metadata)) {
            writer.apply(&want).await?;
        }
    }
    Ok(observe(f, children, active, hotkeys, &endpoints, plan))
}

/// A replica is ready when its pod is ready and was made from the StatefulSet's update
/// revision for its current generation. The pod says so itself (its `controller-revision-hash`
/// label); the StatefulSet's own counters (`readyReplicas`, `currentRevision`) are not waited
/// for: the controller-manager writes them later, paced by its API rate limit, and at a thousand
/// replicas that is a minute behind the pods.
fn replica_ready(sts: &StatefulSet, pod: Option<&Pod>) -> bool {
    let Some(status) = sts.status.as_ref() else {
        return false;
    };
    let rolled =
        status.observed_generation == sts.metadata.generation && status.update_revision.is_some();
    let pod_ready = pod.is_some_and(|p| {
        p.metadata.deletion_timestamp.is_none()
            && p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("controller-revision-hash"))
                == status.update_revision.as_ref()
            && p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    });
    rolled && pod_ready
}

/// The phase to show for a pod, the reason it is not ready, and whether it is unschedulable.
fn pod_phase(pod: Option<&Pod>) -> (ReplicaPhase, Option<String>, bool) {
    let Some(pod) = pod else {
        return (ReplicaPhase::Pending, Some("no pod yet".to_string()), false);
    };
    if pod.metadata.deletion_timestamp.is_some() {
        return (
            ReplicaPhase::Terminating,
            Some(format!("pod {} is being deleted", pod.name_any())),
            false,
        );
    }
    let status = pod.status.clone().unwrap_or_default();
    let conditions = status.conditions.unwrap_or_default();
    if let Some(c) = conditions
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    {
        let unschedulable = c.reason.as_deref() == Some("Unschedulable");
        return (ReplicaPhase::Pending, c.message.clone(), unschedulable);
    }
    let ready = conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if ready {
        return (ReplicaPhase::Ready, None, false);
    }
    let phase = ReplicaPhase::of_pod_phase(status.phase.as_deref());
    let waiting = status
        .container_statuses
        .unwrap_or_default()
        .into_iter()
        .find_map(|c| {
            let w = c.state?.waiting?;
            Some(format!(
                "{}: {}",
                w.reason.unwrap_or_default(),
                w.message.unwrap_or_default()
            ))
        });
    (phase, waiting, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::build::fixtures::{input, miner, replica};
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};

    const MINER: &str = r#"
apiVersion: subnet-operator.io/v1alpha1
kind: Miner
metadata: {name: m, namespace: ns, uid: uid-1}
spec:
  subnetRef: {name: sn}
  replicas: 3
  wallet: {coldkeyPub: {ss58: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY}}
  template: {image: "miner:1"}
  storage: {size: 1Gi, whenScaled: Delete}
"#;

    fn hotkeys(n: u32) -> BTreeMap<u32, HotkeyRef> {
        (0..n)
            .map(|i| {
                (
                    i,
                    HotkeyRef {
                        ss58: format!("hotkey-{i}"),
                        secret_name: format!("m-hotkey-{i}"),
                    },
                )
            })
            .collect()
    }

    /// The children as the API server would hold them after `f`'s StatefulSets were applied:
    /// each rolled out and ready, its pod ready.
    fn running(f: &FleetInput<'_>, n: u32) -> Children {
        let mut c = Children::default();
        for i in 0..n {
            let mut sts = workload::statefulset(f, &replica(i));
            sts.metadata.generation = Some(1);
            sts.status = Some(k8s_openapi::api::apps::v1::StatefulSetStatus {
                observed_generation: Some(1),
                current_revision: Some("r1".into()),
                update_revision: Some("r1".into()),
                ready_replicas: Some(1),
                ..Default::default()
            });
            c.statefulsets.insert(i, Arc::new(sts));
            if let Some(pvc) = workload::pvc(f, i) {
                c.pvcs.insert(
                    i,
                    Arc::new(PartialObjectMeta {
                        types: None,
                        metadata: pvc.metadata,
                        _phantom: Default::default(),
                    }),
                );
            }
            c.pods.insert(
                i,
                Arc::new(ready_pod(kube::api::ObjectMeta {
                    name: Some(format!("m-{i}-0")),
                    labels: Some(
                        [("controller-revision-hash".to_string(), "r1".to_string())].into(),
                    ),
                    ..Default::default()
                })),
            );
        }
        c
    }

    /// A running pod whose Ready condition is True.
    fn ready_pod(metadata: kube::api::ObjectMeta) -> Pod {
        Pod {
            metadata,
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn scale_in_removes_the_statefulset_and_the_claim_when_asked_and_keeps_the_rest() {
        let m = miner(MINER);
        let f = input(&m);
        let children = running(&f, 3);
        let active: BTreeSet<u32> = [0, 2].into();
        assert_eq!(
            removals(&f, &children, &active),
            vec![
                Removal::StatefulSet("m-1".into()),
                Removal::Claim(children.pvcs[&1].name_any()),
            ]
        );
        // Claims are kept under the default retention.
        let mut retain = miner(MINER);
        retain.spec.fleet.storage = retain.spec.fleet.storage.map(|mut s| {
            s.when_scaled = RetentionPolicy::Retain;
            s
        });
        let f = input(&retain);
        assert_eq!(
            removals(&f, &children, &active),
            vec![Removal::StatefulSet("m-1".into())]
        );
        assert!(removals(&f, &children, &[0, 1, 2].into()).is_empty());
    }

    #[test]
    fn a_pod_ready_on_the_update_revision_is_ready_before_the_statefulset_counts_it() {
        let m = miner(MINER);
        let f = input(&m);
        let c = running(&f, 1);
        let (sts, pod) = (c.statefulsets[&0].as_ref(), c.pods[&0].as_ref());
        assert!(replica_ready(sts, Some(pod)));
        // The controller-manager has not counted the pod yet: it is ready all the same.
        let mut uncounted = sts.clone();
        uncounted.status = uncounted.status.map(|mut s| {
            s.ready_replicas = Some(0);
            s.current_revision = None;
            s
        });
        assert!(replica_ready(&uncounted, Some(pod)));
        // A status of an older generation, a pod of another revision, a pod not ready, a pod
        // being deleted, or no pod: not ready.
        let mut stale = sts.clone();
        stale.metadata.generation = Some(2);
        assert!(!replica_ready(&stale, Some(pod)));
        let mut old = pod.clone();
        old.metadata.labels = Some([("controller-revision-hash".into(), "r0".into())].into());
        assert!(!replica_ready(sts, Some(&old)));
        let mut unready = pod.clone();
        unready.status = None;
        assert!(!replica_ready(sts, Some(&unready)));
        let mut deleting = pod.clone();
        deleting.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH),
        );
        assert!(!replica_ready(sts, Some(&deleting)));
        assert!(!replica_ready(sts, None));
    }

    #[test]
    fn new_replicas_apply_at_once_and_a_template_change_rolls_one_at_a_time() {
        let m = miner(MINER);
        let f = input(&m);
        let active: BTreeSet<u32> = [0, 1, 2].into();
        let none = BTreeMap::new();
        let now = Timestamp::UNIX_EPOCH;
        // Nothing exists: all three at once.
        let plan = plan_statefulsets(
            &f,
            &Children::default(),
            &active,
            &hotkeys(3),
            &none,
            None,
            now,
        );
        assert_eq!(plan.apply, active);
        assert!(plan.outdated.is_empty());
        // A replica without its hotkey yet gets no StatefulSet.
        let plan = plan_statefulsets(
            &f,
            &Children::default(),
            &active,
            &hotkeys(2),
            &none,
            None,
            now,
        );
        assert_eq!(plan.apply, [0, 1].into());
        // All running the desired template: nothing to write.
        let children = running(&f, 3);
        let plan = plan_statefulsets(&f, &children, &active, &hotkeys(3), &none, None, now);
        assert!(
            plan.apply.is_empty() && plan.outdated.is_empty(),
            "{:?}",
            plan.apply
        );
        let obs = observe(&f, &children, &active, &hotkeys(3), &none, plan);
        assert!(
            obs.replicas
                .values()
                .all(|r| r.ready && r.phase == ReplicaPhase::Ready),
            "{obs:?}"
        );
        // A new image: one replica now, the others held as Outdated.
        let mut next = miner(MINER);
        next.spec.fleet.template.image = "miner:2".into();
        let f2 = input(&next);
        let plan = plan_statefulsets(&f2, &children, &active, &hotkeys(3), &none, None, now);
        assert_eq!(plan.apply.len(), 1, "{:?}", plan.apply);
        assert_eq!(plan.outdated.len(), 2, "{:?}", plan.outdated);
        let obs = observe(&f2, &children, &active, &hotkeys(3), &none, plan);
        assert_eq!(
            obs.replicas
                .values()
                .filter(|r| r.phase == ReplicaPhase::Outdated)
                .count(),
            2
        );
        assert!(
            obs.replicas.values().all(|r| !r.ready),
            "none is ready on the new template"
        );
    }

    #[test]
    fn unschedulable_pods_say_why() {
        let pod = Pod {
            status: Some(PodStatus {
                phase: Some("Pending".into()),
                conditions: Some(vec![PodCondition {
                    type_: "PodScheduled".into(),
                    status: "False".into(),
                    reason: Some("Unschedulable".into()),
                    message: Some("0/6 nodes are available: 6 Insufficient nvidia.com/gpu.".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (phase, msg, unschedulable) = pod_phase(Some(&pod));
        assert_eq!(phase, ReplicaPhase::Pending);
        assert!(unschedulable);
        assert!(
            msg.unwrap_or_default()
                .contains("Insufficient nvidia.com/gpu")
        );
    }

    #[test]
    fn a_pod_being_deleted_is_terminating_whatever_its_conditions() {
        let pod = ready_pod(kube::api::ObjectMeta {
            name: Some("v-0-0".into()),
            deletion_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                Default::default(),
            )),
            ..Default::default()
        });
        let (phase, msg, unschedulable) = pod_phase(Some(&pod));
        assert_eq!(phase, ReplicaPhase::Terminating);
        assert_eq!(msg.as_deref(), Some("pod v-0-0 is being deleted"));
        assert!(!unschedulable);
    }
}
