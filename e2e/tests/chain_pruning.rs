//! The prune order against a **real subtensor runtime** (the spec-218 wasm under chopsticks,
//! the shared chain of `e2e/chain.sh`): a small subnet of our own is filled (`MaxAllowedUids`
//! lowered by sudo), and each further registration must replace the neuron
//! `subnet_operator::chain::prune::next_to_prune` named from the snapshot read just before it.
//! The scores are the runtime's own (it recomputes them from stake at every block, so a score
//! written by sudo is gone before the next registration); the rounds move the immunity period
//! instead. They cover a tie (the oldest registration goes), immunity (the newest stays),
//! spec 218's owner rule (its owner's hotkey is pruned like any other, and a neuron past
//! immunity goes before immune ones with lower scores), and a subnet where all are immune.

use anyhow::{Context as _, Result, anyhow, ensure};
use subnet_operator::chain::prune::{
    OwnerImmunity, PruneRule, is_immune, next_to_prune, prune_order,
};
use subnet_operator::chain::subxt_client::SubxtChain;
use subnet_operator::chain::{AccountId, Chain, Hyperparameter, RegisterCall, SubnetSnapshot};
use subnet_operator::keys::Hotkey;
use subnet_operator::keys::signer::Signer;

use e2e::realchain::{self, TAO};

/// Blocks a new registration is immune (each transaction here builds one block).
const IMMUNITY: u16 = 3;

/// Registers `hotkey` on `netuid`, paid by `payer`; the uid it got.
async fn register(
    chain: &SubxtChain,
    payer: &Signer,
    netuid: u16,
    hotkey: AccountId,
) -> Result<u16> {
    let nonce = chain.account(payer.public()).await?.nonce;
    let tx = chain
        .prepare_register(
            payer,
            RegisterCall {
                netuid,
                hotkey,
                limit_rao: 100 * TAO,
                real: None,
                proxy_type: Default::default(),
            },
            nonce,
            None,
        )
        .await?;
    let outcome = chain.submit(&tx).await?;
    Ok(outcome.result.map_err(|e| anyhow!("register: {e}"))?.0)
}

async fn snapshot(chain: &SubxtChain, netuid: u16) -> Result<SubnetSnapshot> {
    chain.subnet(netuid).await?.context("our subnet is gone")
}

/// The neurons of `snap`, one `uid:score@registered_at` each, for a failure's message.
fn table(snap: &SubnetSnapshot) -> String {
    snap.neurons
        .iter()
        .map(|n| format!("{}:{}@{}", n.uid, n.pruning_score, n.registered_at))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The registration that follows `snap` replaces the uid the function names; returns it.
async fn check_next(
    chain: &SubxtChain,
    payer: &Signer,
    netuid: u16,
    snap: &SubnetSnapshot,
) -> Result<u16> {
    let named = next_to_prune(snap, snap.block + 1).context("the function names no neuron")?;
    let victim = snap
        .neurons
        .iter()
        .find(|n| n.uid == named)
        .map(|n| n.hotkey)
        .context("named uid not in the snapshot")?;
    let newcomer = Hotkey::generate()?.public();
    let uid = register(chain, payer, netuid, newcomer).await?;
    let after = snapshot(chain, netuid).await?;
    ensure!(
        after.neuron(&victim).is_none(),
        "uid {named} (named by the function) was not pruned; the newcomer got uid {uid}.\n\
         before (block {}, netuid {netuid}, tempo {}): {}\nafter (block {}): {}",
        snap.block,
        snap.tempo,
        table(snap),
        after.block,
        table(&after)
    );
    ensure!(
        uid == named,
        "the chain gave the newcomer uid {uid}, not {named}"
    );
    Ok(named)
}

/// Sets the subnet's `ImmunityPeriod` by sudo (one block) and returns the snapshot after it.
async fn immunity(chain: &SubxtChain, netuid: u16, period: u16) -> Result<SubnetSnapshot> {
    realchain::sudo_set(chain, netuid, &[Hyperparameter::ImmunityPeriod(period)]).await?;
    let snap = snapshot(chain, netuid).await?;
    ensure!(
        snap.immunity_period == period,
        "ImmunityPeriod {period} set"
    );
    Ok(snap)
}

#[tokio::test]
async fn the_prune_order_names_the_neuron_the_real_runtime_prunes() -> Result<()> {
    let Some(ws) = e2e::shared_chain_ws() else {
        return Ok(());
    };
    let chain = SubxtChain::new(vec![ws.clone()])?;
    let netuid = realchain::own_subnet(&chain).await?;
    let before = snapshot(&chain, netuid).await?;
    let ours = 4u16;
    let max = u16::try_from(before.neurons.len())? + ours;
    realchain::sudo_set(
        &chain,
        netuid,
        &[
            Hyperparameter::MaxAllowedUids(max),
            Hyperparameter::ImmunityPeriod(IMMUNITY),
        ],
    )
    .await?;
    let payer = Signer::owned(Hotkey::generate()?);
    realchain::fund(&chain, payer.public(), 1_000 * TAO).await?;
    let mut mine = vec![];
    for _ in 0..ours {
        let hk = Hotkey::generate()?.public();
        mine.push((register(&chain, &payer, netuid, hk).await?, hk));
    }
    let snap = snapshot(&chain, netuid).await?;
    ensure!(snap.neurons.len() == usize::from(max), "the subnet is full");
    ensure!(
        snap.prune_rule
            == PruneRule::PruningScore {
                owners: OwnerImmunity::None
            },
        "spec 218's rule read from its metadata: {:?}",
        snap.prune_rule
    );
    let owner = snap
        .neurons
        .iter()
        .find(|n| Some(n.coldkey) == snap.owner)
        .cloned()
        .context("register_network gave the owner a neuron")?;
    // This runtime recomputes the pruning scores from stake at every block: ours hold none and
    // score alike, the owner's hotkey holds the subnet's stake and scores higher.
    let score = |hk: &AccountId| snap.neuron(hk).map(|n| n.pruning_score);
    let ours_score = score(&mine[0].1);
    ensure!(
        mine.iter().all(|(_, hk)| score(hk) == ours_score)
            && Some(owner.pruning_score) > ours_score,
        "ours tie below the owner: {}",
        table(&snap)
    );

    // Round 1, ImmunityPeriod 3: d (the newest) is immune, a, b, c and the owner are not. a, b
    // and c tie on the lowest score and a is the oldest.
    let next = snap.block + 1;
    let d = snap.neuron(&mine[3].1).context("d")?;
    ensure!(
        is_immune(d.registered_at, IMMUNITY, next),
        "d is immune at the next block"
    );
    let order = prune_order(&snap, next);
    assert_eq!(order.open_slots, 0);
    assert_eq!(order.registrations_until_pruned(mine[0].0), Some(1));
    assert_eq!(order.registrations_until_pruned(mine[1].0), Some(2));
    assert_eq!(check_next(&chain, &payer, netuid, &snap).await?, mine[0].0);

    // Round 2, the owner rule: an immunity that covers every neuron of ours but not the owner's
    // hotkey, registered with the subnet before them. Spec 218 spares no owner, and a neuron past
    // immunity goes before any immune one, whatever the scores.
    let oldest_ours = snap
        .neurons
        .iter()
        .filter(|n| n.uid != owner.uid)
        .map(|n| n.registered_at)
        .min()
        .context("ours")?;
    // The sudo call takes a block, the registration the one after it.
    let at = realchain::best(&chain).await? + 2;
    let period = u16::try_from(at - oldest_ours + 1)?;
    ensure!(
        !is_immune(owner.registered_at, period, at),
        "the owner registered at {}, ours from {oldest_ours}: no period covers only ours",
        owner.registered_at
    );
    let snap = immunity(&chain, netuid, period).await?;
    assert_eq!(snap.block + 1, at);
    assert_eq!(check_next(&chain, &payer, netuid, &snap).await?, owner.uid);

    // Round 3: everyone immune. The lowest score among the immune goes, ties by age: b, the
    // oldest of ours left.
    let snap = immunity(&chain, netuid, 10_000).await?;
    assert_eq!(check_next(&chain, &payer, netuid, &snap).await?, mine[1].0);
    Ok(())
}
