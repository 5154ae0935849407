//! What the operator asks of a real node, counted at the endpoint: a counting WebSocket proxy
//! (`e2e::rpc_count`) stands between the operator and a fresh chopsticks chain (spec 218). The
//! operator follows the chain by head subscriptions (best and finalized), so an idle chain costs
//! (almost) no requests and a block costs at most 3 per watched subnet: the runtime version at
//! the new finalized block, one `state_queryStorageAt` (the subnet's items and every neuron's),
//! one `get_neurons_lite`. The fleet has `E2E_RPC_REPLICAS` replicas (10 in CI), all registered
//! first, so the subnet holds their neurons; with `E2E_RPC_MANUAL=1` they are not registered
//! (`registration.mode: Manual`: what `make bench-rpc` runs at 1,000, since registering 1,000
//! hotkeys on chopsticks takes over an hour here). The figures are printed.

use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use e2e::fixtures::{FleetNamespace, fleet_status, status_reason};
use e2e::realchain;
use e2e::rpc_count::RpcCounter;
use e2e::{Chopsticks, client, wait_until};
use subnet_operator::chain::subxt_client::SubxtChain;
use subnet_operator::keys::Hotkey;

/// How many blocks the test builds, one at a time.
const BLOCKS: u64 = 10;

#[tokio::test]
async fn the_operator_reads_per_announced_block_and_not_per_poll() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    if e2e::shared_chain_ws().is_none() {
        // No chain tooling in this run (chopsticks is installed by make test).
        return Ok(());
    }
    let replicas: u32 = std::env::var("E2E_RPC_REPLICAS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let node = Chopsticks::start().await?;
    let chain = SubxtChain::new(vec![node.ws.clone()])?;
    let netuid = realchain::own_subnet(&chain).await?;
    let uids = u16::try_from(replicas + 8).unwrap_or(u16::MAX);
    realchain::sudo_set(
        &chain,
        netuid,
        &[subnet_operator::chain::Hyperparameter::MaxAllowedUids(uids)],
    )
    .await?;
    let coldkey = Hotkey::generate()?;
    realchain::fund(
        &chain,
        coldkey.public(),
        u64::from(replicas) * 5 * realchain::TAO + 100 * realchain::TAO,
    )
    .await?;
    let counter = RpcCounter::start(&node.ws).await?;
    let spec = format!("{{network: \"{}\", netuid: {netuid}}}", counter.url);
    let fleet = FleetNamespace::new(&client, "reads", coldkey, &spec).await?;
    let manual = std::env::var("E2E_RPC_MANUAL").as_deref() == Ok("1");
    let signer = fleet.coldkey_signer().await?;
    let registration = if manual {
        "{mode: Manual}"
    } else {
        "{mode: Burn, maxPriceTao: \"5\"}"
    };
    let miners = fleet.miner(replicas, &signer, registration).await?;
    // The poll interval the operator would use without a subscription: 200 ms.
    let mut op = fleet.operator(
        "op-reads",
        &[("CHAIN_BACKEND", "subxt"), ("CHAIN_POLL_MS", "200")],
    )?;
    let registering = Duration::from_secs(90 + u64::from(replicas) * 2);
    let want = if manual { 0 } else { i64::from(replicas) };
    wait_until(registering, || async {
        let s = fleet_status(&miners, "m").await?;
        // Manual: the subnet was read and every replica has its hotkey.
        let settled = !manual
            || (s.replica_statuses.len() == replicas as usize
                && status_reason(&miners, "m", "Registered").await?
                    == Some(("False".into(), "ManualRegistration".into())));
        Ok(settled && i64::from(s.registered_replicas) == want)
    })
    .await
    .with_context(|| format!("every replica settled: {}", op.diagnose(40)))?;

    // Idle: no block for 20 s. Polling every 200 ms would be 100 head reads here.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = counter.counts();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let idle = delta(&before, &counter.counts());
    let idle_total: u64 = idle.values().sum();
    println!("idle chain, 20 s: {idle_total} requests {idle:?}");

    // Blocks, one at a time, built behind the operator's back (over HTTP, not the proxy).
    let before = counter.counts();
    for _ in 0..BLOCKS {
        node.new_blocks(1).await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let busy = delta(&before, &counter.counts());
    let per_block = busy.values().sum::<u64>() as f64 / BLOCKS as f64;
    println!(
        "{BLOCKS} blocks, 1 subnet watched, {replicas} replicas ({}): {per_block:.1} RPC requests per block per subnet {busy:?}",
        if manual {
            "Manual, unregistered"
        } else {
            "registered"
        }
    );
    ensure!(
        !idle.contains_key("?") && !busy.contains_key("?"),
        "frames the counter could not read: {idle:?} {busy:?}"
    );
    // At most one quiet refresh (every 30 s) while idle; a poll would make hundreds.
    ensure!(
        idle_total <= 12,
        "{idle_total} requests while the chain was idle: {idle:?}"
    );
    // Each block is read (the snapshot follows the chain) ...
    ensure!(
        busy.get("state_queryStorageAt").copied().unwrap_or(0) >= BLOCKS,
        "the blocks were not read: {busy:?}"
    );
    // ... once, and for nothing but the subnet: at most 3 requests, not a read per replica,
    // per neuron or per poll.
    ensure!(
        per_block <= 3.0,
        "{per_block:.1} requests per block: {busy:?}"
    );
    Ok(())
}

fn delta(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> std::collections::BTreeMap<String, u64> {
    after
        .iter()
        .map(|(m, n)| (m.clone(), n - before.get(m).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}
