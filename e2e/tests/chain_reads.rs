//! What the operator asks of a real node, counted at the endpoint: a counting WebSocket proxy
//! (`e2e::rpc_count`) stands between the operator and a fresh chopsticks chain (spec 218). The
//! operator follows the chain by a head subscription, so an idle chain costs (almost) no
//! requests, and each block costs one head read and one snapshot per watched subnet, whatever
//! the replica count. The figures are printed.

use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use e2e::fixtures::{FleetNamespace, status_reason};
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
    let node = Chopsticks::start().await?;
    let chain = SubxtChain::new(vec![node.ws.clone()])?;
    let netuid = realchain::own_subnet(&chain).await?;
    let counter = RpcCounter::start(&node.ws).await?;
    let spec = format!("{{network: \"{}\", netuid: {netuid}}}", counter.url);
    let fleet = FleetNamespace::new(&client, "reads", Hotkey::generate()?, &spec).await?;
    // A Manual fleet of 3: the operator watches the subnet and sends nothing.
    let miners = fleet.miner(3, "", "{mode: Manual}").await?;
    // The poll interval the operator would use without a subscription: 200 ms.
    let mut op = fleet.operator(
        "op-reads",
        &[
            ("CHAIN_BACKEND", "subxt"),
            ("CHAIN_ENDPOINTS", &counter.url),
            ("CHAIN_POLL_MS", "200"),
        ],
    )?;
    wait_until(Duration::from_secs(90), || async {
        Ok(status_reason(&miners, "m", "Registered").await?
            == Some(("False".into(), "ManualRegistration".into())))
    })
    .await
    .with_context(|| format!("the subnet was read: {}", op.diagnose(40)))?;

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
        "{BLOCKS} blocks, 1 subnet watched, 3 replicas: {per_block:.1} requests per block {busy:?}"
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
    // ... once: a head read (4 requests) and one snapshot (4: it shares the head's block), not
    // a read per replica or per poll.
    ensure!(
        per_block <= 8.5,
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
