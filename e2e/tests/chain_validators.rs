//! Stake and validator permits on the **real subtensor runtime** (spec 218 under chopsticks),
//! without a control plane: what the localnet scaffold's pool seeding and a Validator's
//! self-stake rely on.
//!
//! Spec 218's `register_network` seeds a new subnet's pool with 1 rao of TAO and 1 rao of alpha
//! (whatever the lock cost), and `swap_tao_for_alpha` is constant-product: `add_stake` on such
//! a pool buys `1 - 1/(1 + tao)` alpha, truncated to 0 rao. Emission does not fill it either
//! (a subnet's TAO emission is proportional to its pool's TAO). Writing the pool's reserves
//! (`SubnetTAO`, `SubnetAlphaIn`) by sudo gives it depth; then stake buys alpha, and after an
//! epoch every neuron of a subnet smaller than `MaxAllowedValidators` holds a permit.

use std::time::Duration;

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
    let pool = |entry: &'static str| {
        let (ws, http) = (node.ws.clone(), node.http.clone());
        async move { realchain::subnet_u64(&ws, &http, entry, netuid).await }
    };
    let stake_of_uid0 = || async {
        let snap = chain.subnet(netuid).await?.context("no subnet")?;
        let n = snap.neurons.first().cloned().context("no uid 0")?;
        anyhow::Ok((n.stake, n.validator_permit))
    };
    eprintln!(
        "netuid {netuid}: SubnetTAO {} SubnetAlphaIn {}",
        pool("SubnetTAO").await?,
        pool("SubnetAlphaIn").await?
    );

    // The pool register_network made buys nothing.
    let stake = LocalnetCall::AddStake {
        hotkey: hot.public(),
        netuid,
        rao: 10 * TAO,
    };
    realchain::call(&chain, &owner, stake.clone()).await?;
    let (before, _) = stake_of_uid0().await?;
    eprintln!("stake after 10 TAO into the fresh pool: {before} rao");
    ensure!(before < TAO, "a fresh pool bought {before} rao of alpha");

    // Reserves of 1000 TAO / 1000 alpha (price 1): 100 TAO buys ~90.9 alpha.
    let depth = 1_000 * TAO;
    let mut items = vec![];
    for entry in ["SubnetTAO", "SubnetAlphaIn"] {
        let key = realchain::subnet_map_key(&node.ws, entry, netuid).await?;
        items.push((key, depth.to_le_bytes().to_vec()));
    }
    realchain::sudo_set_storage(&chain, &node.ws, items).await?;
    ensure!(pool("SubnetTAO").await? == depth && pool("SubnetAlphaIn").await? == depth);
    realchain::call(
        &chain,
        &owner,
        LocalnetCall::AddStake {
            hotkey: hot.public(),
            netuid,
            rao: 100 * TAO,
        },
    )
    .await?;
    let (after, permit) = stake_of_uid0().await?;
    eprintln!(
        "stake after 100 TAO into a 1000/1000 pool: {after} rao (permit {permit}); pool now {} / {}",
        pool("SubnetTAO").await?,
        pool("SubnetAlphaIn").await?
    );
    ensure!(
        after > 80 * TAO,
        "100 TAO into a 1000 TAO pool bought {after} rao"
    );

    // An epoch later, a permit.
    realchain::sudo_set(&chain, netuid, &[Hyperparameter::Tempo(5)]).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        node.new_blocks(3).await?;
        let (stake, permit) = stake_of_uid0().await?;
        if permit {
            eprintln!(
                "permit at block {} with stake {stake} rao",
                chain.head().await?.best
            );
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "no validator permit after 120 s (stake {stake})"
        );
    }
    Ok(())
}
