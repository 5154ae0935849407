//! The workloads step of a fleet reconcile: per-replica StatefulSets, Services and volumes, the
//! fleet's PodDisruptionBudget, scale-in, and rolling updates. Reads are one LIST per child
//! kind; an object is written only when what the operator would apply differs from what it
//! applied last (the `spec-hash` annotation), so a steady state sends no write.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::build::workload::{self, template_hash};
use super::build::{FleetInput, ReplicaInput, stamped};
use super::context::{Context, Error, Result};
use super::keys::HotkeyRef;
use super::rollout::{self, ReplicaState, Template};
use crate::crd::fleet::ReplicaPhase;
use k8s_openapi::jiff::Timestamp;

use crate::crd::fleet::{AxonAddress, AxonExposure, CanaryStatus, RetentionPolicy};

/// The children of a fleet as listed at the start of a reconcile.
#[derive(Default)]
pub struct Children {
    /// StatefulSets by replica index.
    pub statefulsets: BTreeMap<u32, StatefulSet>,
    /// Services by replica index.
    pub services: BTreeMap<u32, Service>,
    /// Volume claims by replica index.
    pub pvcs: BTreeMap<u32, PersistentVolumeClaim>,
    /// Pods by replica index.
    pub pods: BTreeMap<u32, Pod>,
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

fn index_of<K: Resource>(obj: &K) -> Option<u32> {
    obj.meta()
        .labels
        .as_ref()?
        .get(crate::labels::REPLICA_INDEX)?
        .parse()
        .ok()
}

async fn list_by_index<K>(ctx: &Context, ns: &str, selector: &str) -> Result<BTreeMap<u32, K>>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|source| Error::ListChildren {
            kind: K::kind(&()).to_string(),
            source,
        })?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|o| Some((index_of(&o)?, o)))
        .collect())
}

/// Lists the fleet's children (one LIST per kind).
pub async fn list_children(ctx: &Context, f: &FleetInput<'_>) -> Result<Children> {
    let selector = crate::labels::fleet_selector_string(f.name, f.component);
    Ok(Children {
        statefulsets: list_by_index(ctx, f.namespace, &selector).await?,
        services: list_by_index(ctx, f.namespace, &selector).await?,
        pvcs: list_by_index(ctx, f.namespace, &selector).await?,
        pods: list_by_index(ctx, f.namespace, &selector).await?,
    })
}

/// Brings the workloads to the desired state for the `active` replicas that have a hotkey, and
/// removes replicas that are no longer active.
pub async fn reconcile(
    ctx: &Context,
    f: &FleetInput<'_>,
    children: &Children,
    active: &BTreeSet<u32>,
    hotkeys: &BTreeMap<u32, HotkeyRef>,
    previous_canary: Option<&CanaryStatus>,
    now: Timestamp,
) -> Result<WorkloadObservation> {
    let spec = f.spec;
    let mut obs = WorkloadObservation::default();
    let writer = ctx.applier(f.namespace, f.kind);

    // Scale-in: remove what is no longer active. Hotkey Secrets stay (see keys).
    for (&i, sts) in &children.statefulsets {
        if !active.contains(&i) {
            writer.delete::<StatefulSet>(&sts.name_any()).await?;
            if let Some(svc) = children.services.get(&i) {
                writer.delete::<Service>(&svc.name_any()).await?;
            }
            if spec.storage.as_ref().map(|s| s.when_scaled) == Some(RetentionPolicy::Delete)
                && let Some(pvc) = children.pvcs.get(&i)
            {
                writer
                    .delete::<PersistentVolumeClaim>(&pvc.name_any())
                    .await?;
            }
        }
    }

    // Services first: a NodePort or load balancer address goes into the pod's environment.
    let mut endpoints: BTreeMap<u32, (Option<String>, Option<u16>)> = BTreeMap::new();
    for &i in active {
        let mut ip = spec.axon.external_ip.clone();
        let mut port = spec.axon.external_port;
        if let Some(want) = workload::service(f, i) {
            let have = children.services.get(&i);
            let svc = match have {
                Some(h) if stamped(&h.metadata) == stamped(&want.metadata) => h.clone(),
                _ => writer.apply(&want).await?,
            };
            let sp = svc.spec.as_ref();
            match spec.axon.exposure {
                AxonExposure::NodePort => {
                    port = sp
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
        }
        endpoints.insert(i, (ip, port));
    }

    // Volumes: created once (claims are immutable).
    for &i in active {
        if let Some(want) = workload::pvc(f, i)
            && !children.pvcs.contains_key(&i)
        {
            writer.apply(&want).await?;
        }
    }

    // StatefulSets: new replicas at once, template changes one at a time.
    let mut desired: BTreeMap<u32, StatefulSet> = BTreeMap::new();
    for &i in active {
        let Some(hk) = hotkeys.get(&i) else { continue };
        let (ip, port) = endpoints.get(&i).cloned().unwrap_or_default();
        let r = ReplicaInput {
            index: i,
            hotkey_secret: hk.secret_name.clone(),
            external_ip: ip,
            external_port: port,
        };
        desired.insert(i, workload::statefulset(f, &r));
    }
    // Each replica's template differs (index, hotkey), so compare each with its own target.
    let states: BTreeMap<u32, ReplicaState> = children
        .statefulsets
        .iter()
        .filter_map(|(&i, sts)| {
            let want = desired.get(&i)?;
            let current = template_hash(sts) == template_hash(want);
            Some((
                i,
                ReplicaState {
                    template: if current {
                        Template::Current
                    } else {
                        Template::Outdated
                    },
                    ready: replica_ready(sts, children.pods.get(&i)),
                },
            ))
        })
        .collect();
    // A canary that has run the new template, ready, for `autoPromoteAfter` is promoted.
    let canary = spec.update_strategy.canary.as_ref().map(|c| {
        let want = desired
            .get(&c.index)
            .and_then(template_hash)
            .unwrap_or_default();
        let (canary, shown) = rollout::canary(c, &states, want, previous_canary, now);
        obs.canary = shown;
        canary
    });
    let may_update = rollout::updatable(&states, canary.as_ref());
    for (&i, want) in &desired {
        match children.statefulsets.get(&i) {
            None => {
                writer.apply(want).await?;
            }
            Some(have) if stamped(&have.metadata) == stamped(&want.metadata) => {}
            Some(have) => {
                let template_changed = template_hash(have) != template_hash(want);
                if !template_changed || may_update.contains(&i) {
                    writer.apply(want).await?;
                } else {
                    obs.outdated.insert(i);
                }
            }
        }
    }
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

    for &i in active {
        let sts = children.statefulsets.get(&i);
        let pod = children.pods.get(&i);
        let mut r = ReplicaObservation {
            pod: pod.map(|p| p.name_any()),
            ..Default::default()
        };
        let (phase, message, unschedulable) = pod_phase(pod);
        r.phase = phase;
        r.message = message;
        r.unschedulable = unschedulable;
        r.ready = sts.is_some_and(|s| replica_ready(s, pod))
            && sts.and_then(template_hash) == desired.get(&i).and_then(template_hash);
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
    if let Some(c) = &canary {
        obs.canary_waiting = !c.promoted
            && !obs.outdated.is_empty()
            && !obs.outdated.contains(&c.index)
            && obs.replicas.get(&c.index).is_some_and(|r| r.ready);
        obs.canary_missing = (!c.promoted && !active.contains(&c.index)).then_some(c.index);
    }
    Ok(obs)
}

/// A replica is ready when its StatefulSet has rolled out its current template and the pod is
/// ready.
fn replica_ready(sts: &StatefulSet, pod: Option<&Pod>) -> bool {
    let Some(status) = sts.status.as_ref() else {
        return false;
    };
    let rolled = status.observed_generation == sts.metadata.generation
        && status.update_revision.is_some()
        && status.current_revision == status.update_revision
        && status.ready_replicas.unwrap_or(0) >= 1;
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
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};

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
        let pod = Pod {
            metadata: kube::api::ObjectMeta {
                name: Some("v-0-0".into()),
                deletion_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    Default::default(),
                )),
                ..Default::default()
            },
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
        };
        let (phase, msg, unschedulable) = pod_phase(Some(&pod));
        assert_eq!(phase, ReplicaPhase::Terminating);
        assert_eq!(msg.as_deref(), Some("pod v-0-0 is being deleted"));
        assert!(!unschedulable);
    }
}
