//! The controllers: one per kind, sharing a [`Context`].
//!
//! Each reconcile follows the same steps: fetch what the resource references, validate (pure),
//! compute the desired status (pure), and write only what differs. Writes use server-side apply
//! with one field manager.

pub mod apply;
pub mod build;
pub mod children;
pub mod context;
pub mod diagnosis;
pub mod error;
pub mod fleet;
pub mod keys;
pub mod localnet;
pub mod policy;
pub mod problem;
pub mod registration;
pub mod rollout;
pub mod status;
pub mod subnet;
pub mod validate;
pub mod validators;
pub mod workloads;

use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::runtime::{Controller, controller};
use kube::{Resource, ResourceExt};

use crate::crd::{Miner, Subnet, Validator};

/// Label keys the operator puts on what it creates (defined in [`crate::labels`]).
pub use crate::labels;
pub use context::{Context, Error, FIELD_MANAGER, Result, api, backoff_delay};

/// Runs the three controllers until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + Clone + 'static,
) {
    let client = ctx.client.clone();
    let ns = namespace.as_deref();
    let subnets: Api<Subnet> = api(&client, ns);
    let cfg = controller::Config::default().concurrency(concurrency);

    // A Subnet owns its localnet's StatefulSet and Service; a Miner or Validator appearing or
    // changing (its coldkey in status) reconciles its Subnet, whose scaffold funds coldkeys.
    let localnet = watcher::Config::default().labels(&format!(
        "{}={},{}={}",
        labels::MANAGED_BY,
        labels::MANAGER,
        labels::COMPONENT,
        build::localnet::COMPONENT
    ));
    let to_subnet = |ns: Option<String>, subnet: &str| {
        ObjectRef::<DeserializeGuard<Subnet>>::new(subnet).within(&ns.unwrap_or_default())
    };
    let subnet_ctl = Controller::new(
        api::<DeserializeGuard<Subnet>>(&client, ns),
        watcher::Config::default(),
    );
    // Deleted Subnets are never reconciled: sweep the chains of those gone from the cache.
    let sweep = {
        let (store, ctx, scope) = (subnet_ctl.store(), ctx.clone(), namespace.clone());
        let shutdown = shutdown.clone();
        async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let sweeping = async {
                // An empty cache before the first list means nothing; wait for it.
                if store.wait_until_ready().await.is_err() {
                    return;
                }
                loop {
                    tick.tick().await;
                    let live = store
                        .state()
                        .iter()
                        .map(|s| (s.namespace().unwrap_or_default(), s.name_any()))
                        .collect();
                    ctx.chains.retain(scope.as_deref(), &live);
                }
            };
            tokio::select! {
                _ = sweeping => {}
                _ = shutdown => {}
            }
        }
    };
    let subnet_ctl = subnet_ctl
        .owns(
            api::<k8s_openapi::api::apps::v1::StatefulSet>(&client, ns),
            localnet.clone(),
        )
        .owns(
            api::<k8s_openapi::api::core::v1::Service>(&client, ns),
            localnet,
        )
        .watches(
            api::<DeserializeGuard<Miner>>(&client, ns),
            watcher::Config::default(),
            move |m| {
                let ns = m.namespace();
                m.0.ok()
                    .map(|m| to_subnet(ns, &m.spec.fleet.subnet_ref.name))
            },
        )
        .watches(
            api::<DeserializeGuard<Validator>>(&client, ns),
            watcher::Config::default(),
            move |v| {
                let ns = v.namespace();
                v.0.ok()
                    .map(|v| to_subnet(ns, &v.spec.fleet.subnet_ref.name))
            },
        )
        .with_config(cfg.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(subnet::reconcile, subnet::error_policy, ctx.clone())
        .for_each(|r| async move { log_result("Subnet", r) });

    let changes = || {
        let rx = ctx.chains.subscribe();
        futures::stream::unfold(rx, |mut rx| async move {
            rx.changed().await.ok()?;
            Some(((), rx))
        })
    };
    // The fleets' children, one watch per kind for both controllers.
    let (watching, wakes) = ctx.children.watch(&client, ns);
    let miner_ctl = fleet::controller::<Miner>(&client, ns, subnets.clone(), wakes.miners)
        .reconcile_all_on(changes())
        .with_config(cfg.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(
            fleet::reconcile::<Miner>,
            fleet::error_policy::<Miner>,
            ctx.clone(),
        )
        .for_each(|r| async move { log_result("Miner", r) });

    let validator_ctl = fleet::controller::<Validator>(&client, ns, subnets, wakes.validators)
        .reconcile_all_on(changes())
        .with_config(cfg)
        .graceful_shutdown_on(shutdown)
        .run(
            fleet::reconcile::<Validator>,
            fleet::error_policy::<Validator>,
            ctx,
        )
        .for_each(|r| async move { log_result("Validator", r) });

    // The caches' watches never end on their own: they stop with the controllers.
    tokio::select! {
        _ = async { tokio::join!(subnet_ctl, miner_ctl, validator_ctl, sweep) } => {}
        _ = watching => {}
    }
}

/// How often the chains of deleted Subnets are released.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

fn log_result<K: Resource, E: std::fmt::Display, Q: std::fmt::Display>(
    kind: &str,
    r: std::result::Result<(ObjectRef<K>, Action), controller::Error<E, Q>>,
) where
    K::DynamicType: Debug,
{
    match r {
        Ok((o, _)) => tracing::debug!(kind, object = %o.name, "reconciled"),
        Err(controller::Error::ReconcilerFailed(e, o)) => {
            tracing::debug!(kind, object = %o.name, error = %e, "reconcile failed")
        }
        Err(e) => tracing::warn!(kind, error = %e, "controller error"),
    }
}
