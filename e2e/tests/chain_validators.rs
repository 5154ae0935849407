//! Stake and validator permits on the **real subtensor runtime** (spec 218 under chopsticks),
//! without a control plane: what a Validator's localnet self-stake relies on.
//!
//! What spec 218 does (subtensor's rao code of January 2025, `scripts/specs/raonet.json`):
//! - `register_network` accepts only `mechid == 1` (dynamic) and seeds the new pool with
//!   `SubnetTAO = SubnetAlphaIn = 1` rao, whatever the lock cost (the lock is burned). Later
//!   runtimes (spec 233+) seed it with `NetworkMinLockCost`.
//! - `swap_tao_for_alpha` is constant-product: `tao` into a `(1, 1)` pool buys
//!   `1 - 1/(1 + tao)` alpha, truncated to 0 rao. Emission does not deepen it (a subnet's TAO
//!   emission is proportional to its pool's TAO).
//! - Reserves written by sudo (`System.set_storage` of `SubnetTAO`, `SubnetAlphaIn`) make it a
//!   real pool: 100 TAO into 1000/1000 buys ~90.9 alpha (`TotalHotkeyAlpha`).
//! - `NeuronInfoRuntimeApi.get_neurons_lite` reports stake from the pre-dTAO `Stake` map, which
//!   `add_stake` no longer writes: 0 even then. The client reads `TotalHotkeyAlpha` instead on
//!   such runtimes (`subxt_client::stake_from_storage`), and this test checks its snapshot.
//! - Permits are `is_topk(stake, MaxAllowedValidators)`, all `true` while the subnet has fewer
//!   neurons than that (64 by default), set at each epoch.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use e2e::Chopsticks;
use e2e::realchain::{self, TAO};
use subnet_operator::chain::subxt_client::SubxtChain;
use subnet_operator::chain::{Chain, Hyperparameter, LocalnetCall};
use subnet_operator::keys::Hotkey;
use subnet_operator::keys::signer::Signer;

#[tokio::test]
async fn self_stake_buys_alpha_and_a_permit_once_the_pool_has_reserves() -> Result<()> {
    if e2e::shared_chain_ws().is_none() {
        // No chain tooling in this run (chopsticks is installed by make test).
        return Ok(());
    }
    let node = Chopsticks::start().await?;
    let chain = SubxtChain::new(vec![node.ws.clone()])?;
    let owner = Signer::owned(Hotkey::generate()?);
    let hot = Hotkey::generate()?;
    realchain::fund(&chain, owner.public(), 5_000 * TAO).await?;
    let netuid = realchain::call(
        &chain,
        &owner,
        LocalnetCall::RegisterNetwork {
            hotkey: hot.public(),
        },
    )
    .await?
    .context("register_network gave no NetworkAdded")?;
    let n = || scale_value::Value::u128(u128::from(netuid));
    let pool = || async {
        let tao = realchain::subtensor_u64(&node.ws, &node.http, "SubnetTAO", vec![n()]).await?;
        let alpha =
            realchain::subtensor_u64(&node.ws, &node.http, "SubnetAlphaIn", vec![n()]).await?;
        anyhow::Ok((tao, alpha))
    };
    let alpha = || realchain::hotkey_alpha(&node.ws, &node.http, hot.public(), netuid);
    let stake = |rao| LocalnetCall::AddStake {
        hotkey: hot.public(),
        netuid,
        rao,
    };
    let snap = chain.subnet(netuid).await?.context("no subnet")?;
    let uid0 = snap.neurons.first().context("no uid 0")?;
    eprintln!(
        "netuid {netuid} at block {}: tempo {}, uid 0 permit {}",
        snap.block, snap.tempo, uid0.validator_permit
    );
    ensure!(!uid0.validator_permit, "a permit before any epoch");
    let fresh = pool().await?;
    ensure!(
        fresh == (1, 1),
        "a new subnet's pool is {fresh:?}, not 1 rao each"
    );

    // What one add_stake bought, from its StakeAdded event.
    let (ws, hotkey) = (node.ws.as_str(), hot.public());
    let buy = |rao: u64| {
        let (chain, owner, call) = (&chain, &owner, stake(rao));
        async move {
            let from = chain.head().await?.best;
            realchain::call(chain, owner, call).await?;
            let to = chain.head().await?.best;
            let got = realchain::stakes_added(ws, hotkey, from, to).await?;
            ensure!(
                got.len() == 1 && got[0].0 == rao,
                "StakeAdded of {rao} rao: {got:?}"
            );
            anyhow::Ok(got[0].1)
        }
    };

    // The pool register_network made buys nothing.
    let bought = buy(10 * TAO).await?;
    eprintln!("10 TAO into the {fresh:?} pool of netuid {netuid}: {bought} rao alpha");
    ensure!(bought < TAO, "a 1-rao pool sold {bought} rao of alpha");

    // Reserves of 1000 TAO / 1000 alpha (price 1): 100 TAO buys 1000 - 1000²/1100 ≈ 90.9.
    let depth = 1_000 * TAO;
    let mut items = vec![];
    for entry in ["SubnetTAO", "SubnetAlphaIn"] {
        let key = realchain::subtensor_key(&node.ws, entry, vec![n()]).await?;
        items.push((key, depth.to_le_bytes().to_vec()));
    }
    realchain::sudo_set_storage(&chain, &node.ws, items).await?;
    ensure!(pool().await? == (depth, depth), "{:?}", pool().await?);
    let bought = buy(100 * TAO).await?;
    let snap = chain.subnet(netuid).await?.context("no subnet")?;
    let reported = snap.neurons.first().map(|n| n.stake);
    eprintln!(
        "100 TAO into a 1000/1000 pool: {bought} rao alpha (pool now {:?}, TotalHotkeyAlpha \
         {}); the snapshot reports stake {reported:?}",
        pool().await?,
        alpha().await?
    );
    ensure!(
        (85 * TAO..=95 * TAO).contains(&bought),
        "100 TAO into a 1000 TAO pool bought {bought} rao"
    );
    // The client's snapshot reports the alpha staked (read from TotalHotkeyAlpha on this
    // runtime), not the 0 its get_neurons_lite answers.
    ensure!(
        reported == Some(alpha().await?),
        "snapshot stake {reported:?}, TotalHotkeyAlpha {}",
        alpha().await?
    );

    // An epoch later (tempo 5), a permit.
    realchain::sudo_set(&chain, netuid, &[Hyperparameter::Tempo(5)]).await?;
    let from = chain.head().await?.best;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        node.new_blocks(7).await?;
        let snap = chain.subnet(netuid).await?.context("no subnet")?;
        let uid0 = snap.neurons.first().context("no uid 0")?;
        if uid0.validator_permit && snap.block >= from + 7 {
            eprintln!(
                "permit at block {} (tempo set at {from}); alpha {} rao",
                snap.block,
                alpha().await?
            );
            break;
        }
        ensure!(Instant::now() < deadline, "no validator permit after 120 s");
    }
    Ok(())
}
