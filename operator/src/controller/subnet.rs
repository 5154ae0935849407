//! The Subnet controller.

use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;

use super::context::{Context, Error, Result};
use super::fleet::announce_ready_change;
use super::{localnet, status, validate};
use crate::crd::Subnet;

/// Reconciles one Subnet.
pub async fn reconcile(guard: Arc<DeserializeGuard<Subnet>>, ctx: Arc<Context>) -> Result<Action> {
    let subnet = match &guard.0 {
        Ok(s) => s,
        Err(invalid) => return Err(super::context::report_invalid::<Subnet>(&ctx, invalid).await),
    };
    if let Some(left) = ctx.backing_off(subnet) {
        return Ok(Action::requeue(left));
    }
    let started = Instant::now();
    let result = reconcile_subnet(subnet, &ctx).await;
    if let Err(e) = &result {
        super::context::report_failure(&ctx, subnet, subnet.status.as_ref(), e).await;
    }
    super::context::finish(&ctx, subnet, started, &result);
    result
}

#[tracing::instrument(skip_all, fields(name = %subnet.name_any(), namespace = subnet.namespace().unwrap_or_default()))]
async fn reconcile_subnet(subnet: &Subnet, ctx: &Context) -> Result<Action> {
    let problem = validate::subnet(&subnet.spec).err();
    let mut working = subnet.status.clone().unwrap_or_default();
    // The Subnet's own chain, opened on first use; a Subnet with a problem uses none.
    let (ns, name) = (subnet.namespace().unwrap_or_default(), subnet.name_any());
    let key = (ns.clone(), name.clone());
    let target = ctx.chains.target(&subnet.spec, &name, &ns);
    let opened = match &problem {
        None => ctx.chains.acquire(&key, &target),
        Some(_) => {
            ctx.chains.release(&key);
            Ok(None)
        }
    };
    let cache = opened.as_ref().ok().and_then(Option::as_ref);
    // A chain answering as another network is never scaffolded (nor registered on).
    let genesis = cache.and_then(|c| {
        ctx.chains
            .check(c, &target.network, working.genesis_hash.as_deref())
    });
    let usable = genesis.as_ref().is_none_or(|g| g.problem().is_none());
    // A localnet: run it and scaffold a subnet on it first (this may set the netuid).
    let scaffold = match (&subnet.spec.localnet, &problem) {
        (Some(spec), None) => Some(
            localnet::reconcile(
                ctx,
                subnet,
                spec,
                cache.filter(|_| usable).map(|c| &**c),
                &mut working,
            )
            .await?,
        ),
        _ => None,
    };
    let netuid = subnet.spec.netuid.or(working.netuid);
    let chain = match (&opened, netuid, &problem) {
        (Ok(Some(cache)), Some(netuid), None) => {
            cache.watch(netuid);
            Some(status::ChainView {
                endpoint: cache
                    .reader()
                    .endpoint()
                    .unwrap_or_else(|| cache.reader().describe()),
                head: cache.head(),
                snapshot: cache.snapshot(netuid),
                genesis,
            })
        }
        // The chain cannot even be opened (no endpoint to try).
        (Err(e), _, None) => Some(status::ChainView {
            endpoint: target.endpoints.join(","),
            head: Err(e.to_string()),
            snapshot: None,
            genesis: None,
        }),
        _ => None,
    };
    let now = Timestamp::now();
    let mut desired = status::subnet(
        Some(&working),
        &subnet.spec,
        subnet.metadata.generation,
        problem.as_ref(),
        chain.as_ref(),
        now,
    );
    if let Some(r) = &scaffold {
        status::apply_scaffold(&mut desired, r, subnet.metadata.generation, now);
    }
    if subnet.status.as_ref() != Some(&desired) {
        ctx.apply_status(subnet, &desired).await?;
    }
    announce_ready_change(
        ctx,
        subnet,
        subnet.status.as_ref().map(|s| &s.conditions[..]),
        &desired.conditions,
    )
    .await;
    let ready =
        crate::crd::conditions::is_true(&desired.conditions, crate::crd::conditions::types::READY);
    Ok(if problem.is_some() {
        Action::await_change()
    } else if !usable {
        // Another chain behind the endpoint: look again now and then, not every 2 s.
        Action::requeue(std::time::Duration::from_secs(30).min(ctx.resync))
    } else if let Some(r) = &scaffold {
        Action::requeue(r.requeue.min(ctx.resync))
    } else if chain.is_some() && !ready {
        // Not read from the chain yet (or unreachable): look again soon.
        Action::requeue(std::time::Duration::from_secs(2))
    } else if chain.is_some() {
        // Block numbers and prices move: refresh the status now and then, not every block.
        Action::requeue(std::time::Duration::from_secs(15).min(ctx.resync))
    } else {
        Action::requeue(ctx.resync)
    })
}

/// Error policy of the Subnet controller.
pub fn error_policy(
    guard: Arc<DeserializeGuard<Subnet>>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    match &guard.0 {
        Ok(obj) => super::context::error_policy(obj, error, &ctx),
        Err(_) => Action::await_change(),
    }
}
