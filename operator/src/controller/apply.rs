//! The one kube writer. Every object, status, annotation and delete the controllers send goes
//! through an [`Applier`]: server-side apply with the operator's field manager, create-once for
//! what must never be overwritten (hotkeys, owner keys), deletes that treat "already gone" as
//! done, and a count of each write in `subnet_operator_kube_writes_total`.

use std::fmt::Debug;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{Error, Result};
use crate::metrics::Metrics;

/// How many writes one batch ([`Applier::apply_all`], [`Applier::delete_all`]) keeps in flight:
/// enough to hide the round trip, few enough that the API server's priority and fairness queues
/// are not what paces the operator.
pub const WRITES_IN_FLIGHT: usize = 8;

/// Field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "subnet-operator";

/// What a create-once found.
#[derive(Debug)]
pub enum Created<K> {
    /// It was created; the object as the API server stored it.
    New(K),
    /// An object of that name exists already (made concurrently, or by someone else): it was
    /// left as it is.
    AlreadyExists,
}

/// Writes into one namespace on behalf of one kind of owner (`Miner`, `Validator`, `Subnet`: the
/// metric's `kind` label).
pub struct Applier<'a> {
    client: &'a Client,
    metrics: &'a Metrics,
    namespace: &'a str,
    owner: &'a str,
}

/// The bounds of a namespaced object the applier writes (applied and created objects are
/// also [`Serialize`]).
pub trait Object:
    Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + Debug + DeserializeOwned
{
}

impl<K> Object for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
{
}

fn name_of<K: Resource>(obj: &K) -> String {
    obj.meta().name.clone().unwrap_or_default()
}

impl<'a> Applier<'a> {
    /// An applier into `namespace`, counting writes under `owner`.
    pub fn new(
        client: &'a Client,
        metrics: &'a Metrics,
        namespace: &'a str,
        owner: &'a str,
    ) -> Self {
        Self {
            client,
            metrics,
            namespace,
            owner,
        }
    }

    fn api<K: Object>(&self) -> Api<K> {
        Api::namespaced(self.client.clone(), self.namespace)
    }

    fn apply_error<K: Object>(name: String, source: kube::Error) -> Error {
        if K::kind(&()) == "Secret" {
            Error::ApplySecret { name, source }
        } else {
            Error::ApplyChild {
                kind: K::kind(&()).to_string(),
                name,
                source,
            }
        }
    }

    /// Server-side applies `obj` (forcing the operator's fields); returns it as stored.
    pub async fn apply<K: Object + Serialize>(&self, obj: &K) -> Result<K> {
        let name = name_of(obj);
        self.metrics.wrote(self.owner, &K::kind(&()).to_lowercase());
        self.api::<K>()
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(obj),
            )
            .await
            .map_err(|source| Self::apply_error::<K>(name, source))
    }

    /// Server-side applies every object of `objs`, up to [`WRITES_IN_FLIGHT`] at a time (a
    /// scale-up of hundreds does not wait a round trip per object); returns them as stored, in
    /// the order given. The first failure is returned (the others in flight are dropped: an
    /// apply is idempotent, and the next reconcile applies what is still missing).
    pub async fn apply_all<K: Object + Serialize + Send + Sync>(
        &self,
        objs: &[K],
    ) -> Result<Vec<K>> {
        // Boxed and collected first: a lazy `map` closure over borrowed objects trips the
        // compiler's higher-ranked `Send` check (rust-lang/rust#102211) in the controllers.
        let writes: Vec<BoxFuture<'_, Result<K>>> =
            objs.iter().map(|o| self.apply(o).boxed()).collect();
        futures::stream::iter(writes)
            .buffered(WRITES_IN_FLIGHT)
            .try_collect()
            .await
    }

    /// Creates `obj` unless an object of its name exists; never overwrites one.
    pub async fn create<K: Object + Serialize>(&self, obj: &K) -> Result<Created<K>> {
        self.metrics.wrote(self.owner, &K::kind(&()).to_lowercase());
        match self.api::<K>().create(&PostParams::default(), obj).await {
            Ok(k) => Ok(Created::New(k)),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Created::AlreadyExists),
            Err(source) => Err(Self::apply_error::<K>(name_of(obj), source)),
        }
    }

    /// Deletes `name` (in the background: its dependents follow); `false` when it was gone.
    pub async fn delete<K: Object>(&self, name: &str) -> Result<bool> {
        self.delete_with::<K>(name, &DeleteParams::background())
            .await
    }

    /// Server-side applies every object of `objs` like [`Applier::apply_all`], keeping none of
    /// what the API server answers.
    pub async fn apply_each<K: Object + Serialize + Send + Sync>(&self, objs: &[K]) -> Result<()> {
        let writes: Vec<BoxFuture<'_, Result<()>>> = objs
            .iter()
            .map(|o| self.apply(o).map(|r| r.map(drop)).boxed())
            .collect();
        futures::stream::iter(writes)
            .buffer_unordered(WRITES_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Deletes every object named in `names`, up to [`WRITES_IN_FLIGHT`] at a time.
    pub async fn delete_all<K: Object>(&self, names: &[String]) -> Result<()> {
        let deletes: Vec<BoxFuture<'_, Result<bool>>> =
            names.iter().map(|n| self.delete::<K>(n).boxed()).collect();
        futures::stream::iter(deletes)
            .buffer_unordered(WRITES_IN_FLIGHT)
            .try_collect::<Vec<bool>>()
            .await?;
        Ok(())
    }

    /// Restarts a pod by deleting it (its StatefulSet makes a new one); `false` when it was gone.
    pub async fn restart_pod(&self, name: &str) -> Result<bool> {
        self.delete_with::<Pod>(name, &DeleteParams::default())
            .await
    }

    async fn delete_with<K: Object>(&self, name: &str, params: &DeleteParams) -> Result<bool> {
        self.metrics.wrote(
            self.owner,
            &format!("delete-{}", K::kind(&()).to_lowercase()),
        );
        match self.api::<K>().delete(name, params).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(source) => Err(Error::DeleteChild {
                kind: K::kind(&()).to_string(),
                name: name.to_string(),
                source,
            }),
        }
    }

    /// Sets one annotation of `obj` (a merge patch of that key alone), counted as `what`.
    pub async fn annotate<K: Object>(
        &self,
        obj: &K,
        key: &str,
        value: &str,
        what: &str,
    ) -> Result<()> {
        let name = name_of(obj);
        let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
        self.metrics.wrote(self.owner, what);
        self.api::<K>()
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| Error::ApplyChild {
                kind: K::kind(&()).to_string(),
                name,
                source,
            })?;
        Ok(())
    }

    /// Server-side applies `status` (JSON) to object `name` of kind `K`, without reading the
    /// object back as `K`: for an object that cannot be read as its type.
    pub async fn raw_status<K: Resource<DynamicType = ()>>(
        &self,
        name: &str,
        status: serde_json::Value,
    ) -> Result<()> {
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            self.namespace,
            &ApiResource::erase::<K>(&()),
        );
        let body = serde_json::json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": status,
        });
        self.metrics.wrote(self.owner, "status");
        api.patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(Error::PatchStatus)?;
        Ok(())
    }

    /// Server-side applies the status of `obj` (the status subresource).
    pub async fn status<K: Object, S: Serialize>(&self, obj: &K, status: &S) -> Result<()> {
        let body = serde_json::json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": serde_json::to_value(status).map_err(Error::Serialize)?,
        });
        self.metrics.wrote(self.owner, "status");
        self.api::<K>()
            .patch_status(
                &name_of(obj),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await
            .map_err(Error::PatchStatus)?;
        Ok(())
    }
}
