//! What every controller shares: the [`Context`], the reconcile [`Error`], and how a failed or
//! invalid object is reported and retried.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::Api;
use kube::core::error_boundary::InvalidObject;
use kube::core::{ApiResource, DynamicObject};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::metrics::Metrics;

pub use super::apply::{Applier, FIELD_MANAGER};
pub use super::error::{Error, Result};

/// Shared state of all controllers.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Event recorder shared by all reconciles.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Metrics,
    /// Period of the drift safety-net requeue.
    pub resync: Duration,
    /// Loaded registration signers.
    pub signers: crate::keys::signer::SignerCache,
    /// The open chains, one per distinct chain the Subnets name, each read through one cache.
    pub chains: crate::chain::pool::ChainPool,
    /// The fleets' children as the watches hold them (reconciles read these, never LIST).
    pub children: super::children::ChildCaches,
    /// Consecutive failures per object, for capped exponential backoff.
    failures: Mutex<HashMap<String, Backoff>>,
    /// Invalid objects already reported, by object key: the generation and error reported.
    /// The report is written once; the status write it makes wakes the object again, and that
    /// wake must not write (and announce) the same thing again.
    reported_invalid: Mutex<HashMap<String, (Option<i64>, String)>>,
    /// The highest spend this process has recorded per fleet (by uid): a lower one in status or
    /// in the ledger annotation is not believed.
    spend: Mutex<HashMap<String, crate::crd::fleet::SpendStatus>>,
}

/// The back-off state of one failing object.
#[derive(Clone, Copy, Debug)]
struct Backoff {
    /// Consecutive failures.
    failures: u32,
    /// No reconcile before this, unless the spec changes.
    until: std::time::Instant,
    /// The generation that failed.
    generation: Option<i64>,
}

impl Context {
    /// Creates the shared context.
    pub fn new(client: Client, metrics: Metrics, identity: &str, resync: Duration) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_string(),
            instance: Some(identity.to_string()),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics: metrics.clone(),
            resync,
            signers: Default::default(),
            chains: crate::chain::pool::ChainPool::disabled(metrics.clone()),
            children: Default::default(),
            failures: Mutex::new(HashMap::new()),
            reported_invalid: Mutex::new(HashMap::new()),
            spend: Mutex::new(HashMap::new()),
        }
    }

    /// Publishes an event about `obj`; failures to publish are logged, not fatal.
    pub async fn publish<K>(&self, obj: &K, type_: EventType, reason: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        let ev = Event {
            type_,
            reason: reason.to_string(),
            note: Some(note),
            action: "Reconcile".to_string(),
            secondary: None,
        };
        self.metrics.wrote(&K::kind(&()), "event");
        if let Err(e) = self.recorder.publish(&ev, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "could not publish event");
        }
    }

    /// The kube writer into `namespace`, counting writes under `owner` (a kind).
    pub fn applier<'a>(&'a self, namespace: &'a str, owner: &'a str) -> Applier<'a> {
        Applier::new(&self.client, &self.metrics, namespace, owner)
    }

    /// Writes `status` of `obj` with server-side apply on the status subresource.
    pub async fn apply_status<K, S>(&self, obj: &K, status: &S) -> Result<()>
    where
        K: super::apply::Object,
        S: Serialize,
    {
        let ns = obj.namespace().ok_or(Error::MissingNamespace)?;
        self.applier(&ns, &K::kind(&())).status(obj, status).await
    }

    fn backoff(&self, key: String, generation: Option<i64>) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let b = failures.entry(key).or_insert(Backoff {
            failures: 0,
            until: std::time::Instant::now(),
            generation,
        });
        b.failures = b.failures.saturating_add(1);
        let delay = backoff_delay(b.failures);
        b.until = std::time::Instant::now() + delay;
        b.generation = generation;
        delay
    }

    fn reset_backoff(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(key);
    }

    /// How long a failing object must still wait before its next reconcile. Watch events (a
    /// Subnet's new block, a Pod's status) would otherwise wake it at once, again and again, and
    /// defeat the back-off; a new generation (the user changed the spec) is tried at once.
    pub(crate) fn backing_off<K: Resource<DynamicType = ()>>(&self, obj: &K) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let b = failures.get(&object_key(obj))?;
        if b.generation != obj.meta().generation {
            return None;
        }
        let left = b.until.saturating_duration_since(std::time::Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// The spend this process last recorded for `obj` (by uid).
    pub(crate) fn remembered_spend<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
    ) -> Option<crate::crd::fleet::SpendStatus> {
        let uid = obj.meta().uid.as_deref()?;
        let spend = self.spend.lock().unwrap_or_else(|p| p.into_inner());
        spend.get(uid).cloned()
    }

    /// Records the spend of `obj` (by uid).
    pub(crate) fn remember_spend<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        value: &crate::crd::fleet::SpendStatus,
    ) {
        let Some(uid) = obj.meta().uid.clone() else {
            return;
        };
        let mut spend = self.spend.lock().unwrap_or_else(|p| p.into_inner());
        spend.insert(uid, value.clone());
    }

    /// Whether this exact problem of this generation is new; records it if so.
    fn first_report(&self, key: String, generation: Option<i64>, error: &str) -> bool {
        let mut reported = self
            .reported_invalid
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        first_report(&mut reported, key, generation, error)
    }

    /// Forgets a reported invalid object once it reads again.
    fn forget_report(&self, key: &str) {
        let mut reported = self
            .reported_invalid
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        reported.remove(key);
    }
}

/// A status with conditions, so that a failed reconcile can be reported in it.
pub(crate) trait WithConditions: Clone + Default + Serialize {
    /// The conditions.
    fn conditions_mut(
        &mut self,
    ) -> &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>;
}

impl WithConditions for crate::crd::fleet::FleetStatus {
    fn conditions_mut(
        &mut self,
    ) -> &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
        &mut self.conditions
    }
}

impl WithConditions for crate::crd::subnet::SubnetStatus {
    fn conditions_mut(
        &mut self,
    ) -> &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
        &mut self.conditions
    }
}

/// Makes a failed reconcile visible: `Degraded=True` with the step and the API server's message,
/// and one Warning event, both only when that message is new. The next reconcile that gets
/// through writes the status it computes, which clears it.
pub(crate) async fn report_failure<K, S>(ctx: &Context, obj: &K, status: Option<&S>, error: &Error)
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned,
    S: WithConditions,
{
    use crate::crd::conditions::{NewCondition, find, set_condition, types};
    let reason = error.metric_label();
    let message = error.summary();
    let mut status = status.cloned().unwrap_or_default();
    let same = find(status.conditions_mut(), types::DEGRADED)
        .is_some_and(|c| c.status == "True" && c.reason == reason && c.message == message);
    if same {
        return;
    }
    set_condition(
        status.conditions_mut(),
        NewCondition {
            type_: types::DEGRADED,
            status: true,
            reason,
            message: message.clone(),
        },
        obj.meta().generation,
        k8s_openapi::jiff::Timestamp::now(),
    );
    if let Err(e) = ctx.apply_status(obj, &status).await {
        tracing::warn!(error = %e, "could not report a failed reconcile in status");
    }
    ctx.publish(obj, EventType::Warning, reason, message).await;
}

/// Reports an object that could not be read as its type (it bypassed admission, or the CRD
/// changed): a Warning event and `Ready=False` with reason `InvalidObject`. Returns the error.
pub(crate) async fn report_invalid<K>(ctx: &Context, invalid: &InvalidObject) -> Error
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + DeserializeOwned,
{
    let kind = K::kind(&());
    let err = Error::InvalidObject(invalid.error.clone());
    ctx.metrics.failed(&kind, err.metric_label());
    let (Some(ns), Some(name)) = (&invalid.metadata.namespace, &invalid.metadata.name) else {
        return err;
    };
    let key = format!("{kind}/{ns}/{name}");
    if !ctx.first_report(key, invalid.metadata.generation, &invalid.error) {
        return err;
    }
    let reference = ObjectReference {
        api_version: Some(K::api_version(&()).to_string()),
        kind: Some(kind.to_string()),
        name: Some(name.clone()),
        namespace: Some(ns.clone()),
        uid: invalid.metadata.uid.clone(),
        resource_version: invalid.metadata.resource_version.clone(),
        ..Default::default()
    };
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), ns, &ApiResource::erase::<K>(&()));
    // Name the field: read the object once more and decode it with the path tracked.
    let field = match api.get(name).await {
        Ok(raw) => serde_json::to_value(&raw).ok().and_then(|v| {
            let path = serde_path_to_error::deserialize::<_, K>(v.clone())
                .err()?
                .path()
                .to_string();
            // A fleet's spec is flattened into the kind's, which hides the path below `spec`:
            // read it as the shared fleet spec for the rest of the way.
            if path == "spec"
                && let Err(e) = serde_path_to_error::deserialize::<_, crate::crd::fleet::FleetSpec>(
                    v["spec"].clone(),
                )
            {
                return Some(format!("spec.{}", e.path()));
            }
            Some(path)
        }),
        Err(_) => None,
    };
    let message = match field {
        Some(path) => format!("cannot read this {kind}: {path}: {}", invalid.error),
        None => format!("cannot read this {kind}: {}", invalid.error),
    };
    let ev = Event {
        type_: EventType::Warning,
        reason: "InvalidObject".to_string(),
        note: Some(message.clone()),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    ctx.metrics.wrote(&kind, "event");
    if let Err(e) = ctx.recorder.publish(&ev, &reference).await {
        tracing::warn!(error = %e, "could not publish event");
    }
    let status = serde_json::json!({
        "observedGeneration": invalid.metadata.generation,
        "conditions": [{
            "type": "Ready",
            "status": "False",
            "reason": "InvalidObject",
            "message": message,
            "lastTransitionTime": k8s_openapi::jiff::Timestamp::now().to_string(),
            "observedGeneration": invalid.metadata.generation,
        }],
    });
    if let Err(e) = ctx.applier(ns, &kind).raw_status::<K>(name, status).await {
        tracing::warn!(error = %e, "could not write status of an invalid object");
    }
    err
}

/// Whether `error` at `generation` of the object `key` is news to `reported`; records it if so.
fn first_report(
    reported: &mut HashMap<String, (Option<i64>, String)>,
    key: String,
    generation: Option<i64>,
    error: &str,
) -> bool {
    let entry = (generation, error.to_string());
    if reported.get(&key) == Some(&entry) {
        return false;
    }
    reported.insert(key, entry);
    true
}

/// Capped exponential backoff: 5 s, 10 s, 20 s, … up to 5 minutes.
pub fn backoff_delay(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(6);
    Duration::from_secs((5u64 << exp).min(300))
}

fn object_key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default()
    )
}

/// What every reconcile does on its way out: metrics and backoff bookkeeping.
pub(crate) fn finish<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    started: std::time::Instant,
    result: &Result<Action>,
) {
    let kind = K::kind(&());
    ctx.metrics.reconciled(&kind, started.elapsed());
    ctx.forget_report(&object_key(obj));
    match result {
        Ok(_) => ctx.reset_backoff(&object_key(obj)),
        Err(e) => ctx.metrics.failed(&kind, e.metric_label()),
    }
}

/// Error policy shared by the controllers: permanent errors wait for a change; transient errors
/// retry with capped exponential backoff.
pub(crate) fn error_policy<K: Resource<DynamicType = ()>>(
    obj: &K,
    error: &Error,
    ctx: &Context,
) -> Action {
    if error.is_permanent() {
        tracing::warn!(error = %error, "permanent reconcile error; waiting for a change");
        return Action::await_change();
    }
    let delay = ctx.backoff(object_key(obj), obj.meta().generation);
    tracing::warn!(error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

pub use crate::apiclient::api;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_delay(1), Duration::from_secs(5));
        assert_eq!(backoff_delay(2), Duration::from_secs(10));
        assert_eq!(backoff_delay(4), Duration::from_secs(40));
        assert_eq!(backoff_delay(7), Duration::from_secs(300));
        assert_eq!(backoff_delay(100), Duration::from_secs(300));
    }

    #[test]
    fn an_invalid_object_is_reported_once_per_generation_and_error() {
        let mut reported = HashMap::new();
        let mut first =
            |key: &str, g: Option<i64>, e: &str| first_report(&mut reported, key.into(), g, e);
        assert!(first("Miner/ns/m", Some(1), "bad"));
        assert!(!first("Miner/ns/m", Some(1), "bad"), "reported twice");
        assert!(
            first("Miner/ns/m", Some(2), "bad"),
            "a new generation is news"
        );
        assert!(first("Miner/ns/m", Some(2), "worse"), "a new error is news");
    }

    #[test]
    fn every_metric_label_is_listed() {
        let e = || kube::Error::LinesCodecMaxLineLengthExceeded;
        let all = [
            Error::FetchSubnet {
                name: "s".into(),
                source: e(),
            },
            Error::FetchSecret {
                name: "s".into(),
                source: e(),
            },
            Error::ApplySecret {
                name: "s".into(),
                source: e(),
            },
            Error::ListChildren {
                kind: "k".into(),
                source: e(),
            },
            Error::ApplyChild {
                kind: "k".into(),
                name: "n".into(),
                source: e(),
            },
            Error::DeleteChild {
                kind: "k".into(),
                name: "n".into(),
                source: e(),
            },
            Error::PatchStatus(e()),
            Error::InvalidObject("x".into()),
            Error::MissingNamespace,
        ];
        for err in &all {
            assert!(
                Error::LABELS.contains(&err.metric_label()),
                "{}",
                err.metric_label()
            );
        }
    }

    #[test]
    fn permanent_errors_are_classified() {
        assert!(Error::InvalidObject("x".into()).is_permanent());
        assert!(!Error::PatchStatus(kube::Error::LinesCodecMaxLineLengthExceeded).is_permanent());
        assert_eq!(
            Error::PatchStatus(kube::Error::LinesCodecMaxLineLengthExceeded).metric_label(),
            "PatchStatus"
        );
    }
}
