//! The real-chain harness, without a cluster: the shared chain of `e2e/chain.sh up`
//! (`SUBTENSOR_WS`) runs subtensor spec 218, builds blocks on demand and has the dev accounts
//! funded; a chain of a test's own ([`Chopsticks::start`]) starts from genesis every time.
//! Skipped (loudly) without `SUBTENSOR_WS`; a failure under `E2E_REQUIRED=1`.

use anyhow::Result;
use e2e::{BOB, Chopsticks, DEV_FUNDS, chain_best_number, chain_rpc, shared_chain_ws, ws_to_http};
use serde_json::json;
use subnet_operator::chain::Chain;
use subnet_operator::chain::subxt_client::SubxtChain;
use subnet_operator::keys::signer::Signer;

/// Free balance of a dev account (`Alice`, `Bob`, ...) through the operator's own chain client.
async fn free_of(ws: &str, dev: &str) -> Result<u64> {
    let chain = SubxtChain::new(vec![ws.to_string()])?;
    Ok(chain.account(Signer::dev(dev)?.public()).await?.free)
}

#[tokio::test]
async fn shared_chain_runs_spec_218() -> Result<()> {
    let Some(ws) = shared_chain_ws() else {
        return Ok(());
    };
    let v = chain_rpc(&ws_to_http(&ws), "state_getRuntimeVersion", json!([])).await?;
    assert_eq!(v["specName"], "node-subtensor", "{v}");
    assert_eq!(v["specVersion"], 218, "{v}");
    Ok(())
}

#[tokio::test]
async fn dev_new_block_builds_that_many_blocks() -> Result<()> {
    let Some(ws) = shared_chain_ws() else {
        return Ok(());
    };
    let http = ws_to_http(&ws);
    let before = chain_best_number(&http).await?;
    // The result is the hash of the last block built; its number says how many were built even
    // if something else builds a block on the shared chain meanwhile.
    let last = chain_rpc(&http, "dev_newBlock", json!([{"count": 3}])).await?;
    let header = chain_rpc(&http, "chain_getHeader", json!([last])).await?;
    let n = u64::from_str_radix(
        header["number"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("0x"),
        16,
    )?;
    assert_eq!(n, before + 3, "dev_newBlock 3 from #{before}: {header}");
    e2e::wait_until(std::time::Duration::from_secs(10), || async {
        Ok(chain_best_number(&http).await? >= before + 3)
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn shared_chain_funds_the_dev_accounts() -> Result<()> {
    let Some(ws) = shared_chain_ws() else {
        return Ok(());
    };
    for dev in ["Alice", "Bob", "Charlie"] {
        let free = free_of(&ws, dev).await?;
        assert!(
            free >= DEV_FUNDS,
            "//{dev} holds {free} rao, want >= {DEV_FUNDS}"
        );
    }
    Ok(())
}

/// A chain of its own: funded and sudo as the shared one, changed by set_storage and
/// new_blocks, and none of that left in the next one.
#[tokio::test]
async fn own_chain_starts_fresh_every_time() -> Result<()> {
    if shared_chain_ws().is_none() {
        return Ok(());
    }
    let chain = Chopsticks::start().await?;
    let v = chain.rpc("state_getRuntimeVersion", json!([])).await?;
    assert_eq!(v["specVersion"], 218, "{v}");
    assert!(free_of(&chain.ws, "Bob").await? >= DEV_FUNDS);
    chain
        .set_storage(
            json!({"System": {"Account": [[[BOB], {"providers": 1, "data": {"free": "7"}}]]}}),
        )
        .await?;
    assert_eq!(free_of(&chain.ws, "Bob").await?, 7);
    let head = chain_best_number(&chain.http).await?;
    chain.new_blocks(2).await?;
    // The best head is updated just after dev_newBlock answers: allow it a moment.
    e2e::wait_until(std::time::Duration::from_secs(10), || async {
        Ok(chain_best_number(&chain.http).await? == head + 2)
    })
    .await?;
    drop(chain);

    let again = Chopsticks::start().await?;
    assert!(
        chain_best_number(&again.http).await? < head + 2,
        "a new chain starts from genesis"
    );
    assert!(free_of(&again.ws, "Bob").await? >= DEV_FUNDS);
    Ok(())
}
