//! The fleets' children as the operator's watch caches hold them.
//!
//! One watch per kind serves every Miner and Validator of the namespace scope: StatefulSets,
//! Services and Pods (their metadata and status; the specs the operator never reads are dropped
//! before they are stored), and the metadata only of volume claims and hotkey Secrets (never a
//! Secret's data). Each change wakes the one fleet its labels name, after the cache holds it, so
//! the reconcile it starts reads the change. A reconcile reads its children from these caches and
//! sends no LIST.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStatus, PersistentVolumeClaim, Pod, PodCondition, PodStatus, Secret,
    Service,
};
#[cfg(test)]
use kube::ResourceExt;
use kube::api::{Api, ObjectMeta, PartialObjectMeta};
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use crate::apiclient::api;
use crate::crd::{FleetKind, Miner, Validator};
use crate::keys::secrets;
use crate::labels;

/// The caches' read handles, shared by every reconcile.
#[derive(Clone)]
pub struct ChildStores {
    /// Replica StatefulSets (metadata and status).
    pub statefulsets: Store<StatefulSet>,
    /// Replica Services.
    pub services: Store<Service>,
    /// Replica pods (metadata and status).
    pub pods: Store<Pod>,
    /// Replica volume claims (metadata).
    pub pvcs: Store<PartialObjectMeta<PersistentVolumeClaim>>,
    /// Hotkey Secrets (metadata: the labels and the SS58 annotation).
    pub hotkeys: Store<PartialObjectMeta<Secret>>,
}

/// The write halves of one scope's caches.
struct Writers {
    statefulsets: reflector::store::Writer<StatefulSet>,
    services: reflector::store::Writer<Service>,
    pods: reflector::store::Writer<Pod>,
    pvcs: reflector::store::Writer<PartialObjectMeta<PersistentVolumeClaim>>,
    hotkeys: reflector::store::Writer<PartialObjectMeta<Secret>>,
}

/// The fleets' child caches, one set per watched scope (a namespace, or all of them).
#[derive(Default)]
pub struct ChildCaches {
    scopes: Mutex<Vec<(Option<String>, ChildStores)>>,
}

/// Why a cache cannot be read: its first list has not completed in [`READY_WITHIN`] (the
/// API server refuses the watch, or is slow), or the cache was closed (shutdown).
#[derive(Debug, thiserror::Error)]
#[error("the {kind} cache has not completed its first list")]
pub struct CacheNotReady {
    /// The kind whose cache is not ready.
    pub kind: String,
}

/// How long a reconcile waits for a cache's first list before it fails (and is retried with
/// back-off) rather than hold its worker.
pub const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// No cache watches a namespace (the operator does not watch it).
#[derive(Debug, thiserror::Error)]
#[error("no child cache watches namespace {namespace}")]
pub struct NotWatched {
    /// The namespace.
    pub namespace: String,
}

/// The fleet a child belongs to, from its labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A Miner's child.
    Miner(ObjectRef<DeserializeGuard<Miner>>),
    /// A Validator's child.
    Validator(ObjectRef<DeserializeGuard<Validator>>),
}

/// Which fleet `meta` belongs to (pure): its component label names the kind (for a hotkey
/// Secret, its owner-kind label), its instance label the fleet.
pub fn owner_of(meta: &ObjectMeta) -> Option<Owner> {
    let l = meta.labels.as_ref()?;
    if l.get(labels::MANAGED_BY).map(String::as_str) != Some(labels::MANAGER) {
        return None;
    }
    let name = l.get(labels::INSTANCE)?;
    let ns = meta.namespace.clone().unwrap_or_default();
    let kind = match l.get(labels::COMPONENT).map(String::as_str)? {
        secrets::HOTKEY_COMPONENT => match l.get(secrets::OWNER_KIND_LABEL).map(String::as_str)? {
            "Miner" => Miner::COMPONENT,
            "Validator" => Validator::COMPONENT,
            _ => return None,
        },
        c => c,
    };
    if kind == Miner::COMPONENT {
        Some(Owner::Miner(ObjectRef::new(name).within(&ns)))
    } else if kind == Validator::COMPONENT {
        Some(Owner::Validator(ObjectRef::new(name).within(&ns)))
    } else {
        None
    }
}

/// Where the caches' changes go: one stream of fleets to wake per controller.
pub struct Wakes {
    /// Miners to reconcile.
    pub miners: UnboundedReceiver<ObjectRef<DeserializeGuard<Miner>>>,
    /// Validators to reconcile.
    pub validators: UnboundedReceiver<ObjectRef<DeserializeGuard<Validator>>>,
}

#[derive(Clone)]
struct Router {
    miners: UnboundedSender<ObjectRef<DeserializeGuard<Miner>>>,
    validators: UnboundedSender<ObjectRef<DeserializeGuard<Validator>>>,
}

impl Router {
    fn send(&self, owner: Owner) {
        // A closed receiver means its controller stopped (shutdown): nothing to wake.
        match owner {
            Owner::Miner(r) => {
                let _ = self.miners.unbounded_send(r);
            }
            Owner::Validator(r) => {
                let _ = self.validators.unbounded_send(r);
            }
        }
    }
}

/// The label selector of the fleets' workloads (both kinds).
fn workload_selector() -> String {
    format!(
        "{}={},{} in ({},{})",
        labels::MANAGED_BY,
        labels::MANAGER,
        labels::COMPONENT,
        Miner::COMPONENT,
        Validator::COMPONENT
    )
}

/// The label selector of the hotkey Secrets.
fn hotkey_selector() -> String {
    format!(
        "{}={},{}={}",
        labels::MANAGED_BY,
        labels::MANAGER,
        labels::COMPONENT,
        secrets::HOTKEY_COMPONENT
    )
}

impl ChildCaches {
    /// The caches of the scope that holds `namespace`.
    pub fn stores(&self, namespace: &str) -> Result<ChildStores, NotWatched> {
        let scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
        scopes
            .iter()
            .find(|(scope, _)| scope.as_deref().is_none_or(|s| s == namespace))
            .map(|(_, s)| s.clone())
            .ok_or_else(|| NotWatched {
                namespace: namespace.to_string(),
            })
    }

    /// Opens the caches of `namespace` (all namespaces when `None`) and returns the watches
    /// that fill them (a future that runs until it is dropped) and the streams of the fleets
    /// their changes wake. A scope opened again replaces its caches.
    pub fn watch(
        &self,
        client: &Client,
        namespace: Option<&str>,
    ) -> (
        impl std::future::Future<Output = ()> + Send + 'static,
        Wakes,
    ) {
        let (statefulsets, sts_w) = reflector::store();
        let (services, svc_w) = reflector::store();
        let (pods, pod_w) = reflector::store();
        let (pvcs, pvc_w) = reflector::store();
        let (hotkeys, key_w) = reflector::store();
        {
            let mut scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
            let scope = namespace.map(str::to_string);
            scopes.retain(|(s, _)| *s != scope);
            scopes.push((
                scope,
                ChildStores {
                    statefulsets,
                    services,
                    pods,
                    pvcs,
                    hotkeys,
                },
            ));
        }
        let w = Writers {
            statefulsets: sts_w,
            services: svc_w,
            pods: pod_w,
            pvcs: pvc_w,
            hotkeys: key_w,
        };
        let (mtx, miners) = unbounded();
        let (vtx, validators) = unbounded();
        let router = Router {
            miners: mtx,
            validators: vtx,
        };
        let workloads = watcher::Config::default().labels(&workload_selector());
        let keys = watcher::Config::default().labels(&hotkey_selector());
        let sts = full(
            api::<StatefulSet>(client, namespace),
            workloads.clone(),
            w.statefulsets,
            router.clone(),
            |s: &mut StatefulSet| {
                // Only the metadata (annotations, generation) and which revision the status
                // says is current for which generation are read; not its counters.
                s.spec = None;
                s.status = s.status.take().map(|st| StatefulSetStatus {
                    observed_generation: st.observed_generation,
                    update_revision: st.update_revision,
                    ..Default::default()
                });
            },
        );
        let svc = full(
            api::<Service>(client, namespace),
            workloads.clone(),
            w.services,
            router.clone(),
            |_: &mut Service| {},
        );
        let pods = full(
            api::<Pod>(client, namespace),
            workloads.clone(),
            w.pods,
            router.clone(),
            |p: &mut Pod| {
                // Only the labels, the deletion mark, the phase, the conditions (not their
                // times), the node's address and why a container waits are read.
                p.spec = None;
                p.metadata.annotations = None;
                p.metadata.owner_references = None;
                p.status = p.status.take().map(trim_pod_status);
            },
        );
        // `Api<PartialObjectMeta<_>>` asks for metadata only.
        let pvcs = full(
            api::<PartialObjectMeta<PersistentVolumeClaim>>(client, namespace),
            workloads,
            w.pvcs,
            router.clone(),
            |_: &mut PartialObjectMeta<PersistentVolumeClaim>| {},
        );
        let hotkeys = full(
            api::<PartialObjectMeta<Secret>>(client, namespace),
            keys,
            w.hotkeys,
            router,
            |_: &mut PartialObjectMeta<Secret>| {},
        );
        let run = async move {
            tokio::join!(sts, svc, pods, pvcs, hotkeys);
        };
        (run, Wakes { miners, validators })
    }
}

/// What of a pod's status the fleet reads (see `workloads::pod_phase`).
fn trim_pod_status(st: PodStatus) -> PodStatus {
    PodStatus {
        phase: st.phase,
        host_ip: st.host_ip,
        conditions: st.conditions.map(|cs| {
            cs.into_iter()
                .map(|c| PodCondition {
                    last_probe_time: None,
                    last_transition_time: None,
                    ..c
                })
                .collect()
        }),
        container_statuses: st.container_statuses.map(|cs| {
            cs.into_iter()
                .map(|c| ContainerStatus {
                    name: c.name,
                    state: c.state.and_then(|s| {
                        s.waiting.map(|w| ContainerState {
                            waiting: Some(w),
                            ..Default::default()
                        })
                    }),
                    ..Default::default()
                })
                .collect()
        }),
        ..Default::default()
    }
}

/// Watches `api` into `writer` (less what `trim` drops, and the managed fields), waking each
/// changed object's fleet.
async fn full<K>(
    api: Api<K>,
    cfg: watcher::Config,
    writer: reflector::store::Writer<K>,
    router: Router,
    trim: impl FnMut(&mut K) + Send + 'static,
) where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let stream = watcher(api, cfg)
        .default_backoff()
        .modify(trim)
        .modify(|o: &mut K| o.meta_mut().managed_fields = None);
    route(reflector::reflector(writer, stream), router).await;
}

/// What of a cached object matters to its fleet: the object as trimmed, less its resource
/// version (which every write changes).
fn relevance<K: Resource + serde::Serialize>(obj: &K) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut v = serde_json::to_value(obj).unwrap_or_default();
    if let Some(m) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        m.remove("resourceVersion");
    }
    v.to_string().hash(&mut h);
    h.finish()
}

/// The last relevant state of each object one watch reported, with the fleet it belongs to.
#[derive(Default)]
struct Seen {
    objects: std::collections::HashMap<(Option<String>, String), (u64, Option<Owner>)>,
    /// During a relist: the objects it has reported so far (those it does not report were
    /// deleted while the watch was down).
    relisted: Option<std::collections::HashSet<(Option<String>, String)>>,
}

impl Seen {
    /// Records `meta`'s object at relevance `hash`; the fleet to wake when it changed.
    fn changed(&mut self, meta: &ObjectMeta, hash: u64) -> Option<Owner> {
        let key = (
            meta.namespace.clone(),
            meta.name.clone().unwrap_or_default(),
        );
        let owner = owner_of(meta);
        if let Some(r) = self.relisted.as_mut() {
            r.insert(key.clone());
        }
        match self.objects.insert(key, (hash, owner.clone())) {
            Some((before, _)) if before == hash => None,
            _ => owner,
        }
    }

    /// Forgets a deleted object; its fleet to wake.
    fn deleted(&mut self, meta: &ObjectMeta) -> Option<Owner> {
        let key = (
            meta.namespace.clone(),
            meta.name.clone().unwrap_or_default(),
        );
        self.objects.remove(&key);
        owner_of(meta)
    }

    /// A relist has ended: the objects it did not report are gone; their fleets to wake.
    fn relisted(&mut self) -> Vec<Owner> {
        let Some(relisted) = self.relisted.take() else {
            return vec![];
        };
        let mut gone = vec![];
        self.objects.retain(|k, (_, owner)| {
            let keep = relisted.contains(k);
            if !keep && let Some(o) = owner.take() {
                gone.push(o);
            }
            keep
        });
        gone
    }
}

/// Wakes the fleet of every object a (reflected) watch stream reports, when what its fleet
/// reads of it changed ([`relevance`]: a pod's probe time or a StatefulSet's counters wake
/// nobody); watch errors are logged and retried by the stream's back-off.
async fn route<K: Resource<DynamicType = ()> + serde::Serialize>(
    stream: impl futures::Stream<Item = watcher::Result<watcher::Event<K>>>,
    router: Router,
) {
    let mut seen = Seen::default();
    stream
        .for_each(|ev| {
            let wake: Vec<Owner> = match ev {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                    seen.changed(o.meta(), relevance(&o)).into_iter().collect()
                }
                Ok(watcher::Event::Delete(o)) => seen.deleted(o.meta()).into_iter().collect(),
                Ok(watcher::Event::Init) => {
                    seen.relisted = Some(Default::default());
                    vec![]
                }
                Ok(watcher::Event::InitDone) => seen.relisted(),
                Err(e) => {
                    tracing::warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying");
                    vec![]
                }
            };
            for o in wake {
                router.send(o);
            }
            std::future::ready(())
        })
        .await;
}

/// The objects of `store` that belong to fleet `instance` of `component` in `namespace`, by
/// replica index. Waits up to [`READY_WITHIN`] for the cache's first list.
pub async fn by_index<K>(
    store: &Store<K>,
    namespace: &str,
    instance: &str,
    component: &str,
) -> Result<BTreeMap<u32, Arc<K>>, CacheNotReady>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let not_ready = || CacheNotReady {
        kind: K::kind(&()).to_string(),
    };
    tokio::time::timeout(READY_WITHIN, store.wait_until_ready())
        .await
        .map_err(|_| not_ready())?
        .map_err(|_| not_ready())?;
    Ok(store
        .state()
        .into_iter()
        .filter(|o| {
            let m = o.meta();
            m.namespace.as_deref() == Some(namespace)
                && m.labels.as_ref().is_some_and(|l| {
                    l.get(labels::INSTANCE).map(String::as_str) == Some(instance)
                        && l.get(labels::COMPONENT).map(String::as_str) == Some(component)
                })
        })
        .filter_map(|o| {
            let i = o
                .meta()
                .labels
                .as_ref()?
                .get(labels::REPLICA_INDEX)?
                .parse()
                .ok()?;
            Some((i, o))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(labels: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            name: Some("x".into()),
            namespace: Some("ns".into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn a_child_wakes_the_fleet_its_labels_name_and_nothing_else() {
        let managed = (labels::MANAGED_BY, labels::MANAGER);
        assert_eq!(
            owner_of(&meta(&[
                managed,
                (labels::INSTANCE, "m"),
                (labels::COMPONENT, "miner")
            ])),
            Some(Owner::Miner(ObjectRef::new("m").within("ns")))
        );
        assert_eq!(
            owner_of(&meta(&[
                managed,
                (labels::INSTANCE, "v"),
                (labels::COMPONENT, "validator")
            ])),
            Some(Owner::Validator(ObjectRef::new("v").within("ns")))
        );
        // A hotkey Secret names its owner's kind in its own label.
        assert_eq!(
            owner_of(&meta(&[
                managed,
                (labels::INSTANCE, "v"),
                (labels::COMPONENT, secrets::HOTKEY_COMPONENT),
                (secrets::OWNER_KIND_LABEL, "Validator"),
            ])),
            Some(Owner::Validator(ObjectRef::new("v").within("ns")))
        );
        // Not the operator's, a localnet's, or without an instance: nobody is woken.
        for m in [
            meta(&[(labels::INSTANCE, "m"), (labels::COMPONENT, "miner")]),
            meta(&[
                managed,
                (labels::INSTANCE, "s"),
                (labels::COMPONENT, "localnet"),
            ]),
            meta(&[managed, (labels::COMPONENT, "miner")]),
            meta(&[
                managed,
                (labels::INSTANCE, "m"),
                (labels::COMPONENT, secrets::HOTKEY_COMPONENT),
            ]),
        ] {
            assert_eq!(owner_of(&m), None, "{m:?}");
        }
    }

    #[test]
    fn only_a_change_its_fleet_reads_wakes_it_and_a_relist_finds_the_deleted() {
        let managed = (labels::MANAGED_BY, labels::MANAGER);
        let m = Owner::Miner(ObjectRef::new("m").within("ns"));
        let pod = |name: &str, rv: &str, ready: &str, probed: i64| {
            let mut meta = meta(&[
                managed,
                (labels::INSTANCE, "m"),
                (labels::COMPONENT, "miner"),
            ]);
            meta.name = Some(name.into());
            meta.resource_version = Some(rv.into());
            let status = PodStatus {
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    last_probe_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                        k8s_openapi::jiff::Timestamp::from_second(probed).unwrap_or_default(),
                    )),
                    ..Default::default()
                }]),
                ..Default::default()
            };
            let mut p = Pod {
                metadata: meta,
                status: Some(status),
                ..Default::default()
            };
            p.status = p.status.take().map(trim_pod_status);
            p
        };
        let mut seen = Seen::default();
        let first = pod("m-0-0", "1", "False", 1);
        assert_eq!(
            seen.changed(&first.metadata, relevance(&first)),
            Some(m.clone())
        );
        // A new resource version and probe time, nothing else: nobody is woken.
        let probed = pod("m-0-0", "2", "False", 2);
        assert_eq!(seen.changed(&probed.metadata, relevance(&probed)), None);
        // Readiness changed: its fleet is woken.
        let ready = pod("m-0-0", "3", "True", 3);
        assert_eq!(
            seen.changed(&ready.metadata, relevance(&ready)),
            Some(m.clone())
        );
        // A relist that no longer holds a pod wakes its fleet when it ends.
        let other = pod("m-1-0", "4", "True", 3);
        assert_eq!(
            seen.changed(&other.metadata, relevance(&other)),
            Some(m.clone())
        );
        seen.relisted = Some(Default::default());
        assert_eq!(seen.changed(&ready.metadata, relevance(&ready)), None);
        assert_eq!(seen.relisted(), vec![m.clone()]);
        // A deletion wakes it at once.
        assert_eq!(seen.deleted(&ready.metadata), Some(m));
        assert!(seen.objects.is_empty());
    }

    #[tokio::test]
    async fn a_fleet_reads_its_own_children_by_index_from_the_cache() {
        let (store, mut writer) = reflector::store::<Pod>();
        let pod = |name: &str, ns: &str, instance: &str, component: &str, index: &str| Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                labels: Some(
                    [
                        (labels::INSTANCE.to_string(), instance.to_string()),
                        (labels::COMPONENT.to_string(), component.to_string()),
                        (labels::REPLICA_INDEX.to_string(), index.to_string()),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            ..Default::default()
        };
        writer.apply_watcher_event(&watcher::Event::Init);
        for p in [
            pod("m-0-0", "ns", "m", "miner", "0"),
            pod("m-2-0", "ns", "m", "miner", "2"),
            pod("m-1-0", "other", "m", "miner", "1"),
            pod("m-3-0", "ns", "m", "validator", "3"),
            pod("n-4-0", "ns", "n", "miner", "4"),
            pod("m-x-0", "ns", "m", "miner", "x"),
        ] {
            writer.apply_watcher_event(&watcher::Event::InitApply(p));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let got = by_index(&store, "ns", "m", "miner")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<(u32, String)> = got.iter().map(|(i, p)| (*i, p.name_any())).collect();
        assert_eq!(names, vec![(0, "m-0-0".into()), (2, "m-2-0".into())]);
    }
}
