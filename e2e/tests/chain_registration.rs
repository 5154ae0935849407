//! Registration on a **real subtensor runtime**: the spec-218 wasm under chopsticks (the shared
//! chain of `e2e/chain.sh`), with the operator running as a process with `CHAIN_BACKEND=subxt`
//! against it. What was paid is checked on the chain's side: balances, and the chain's own
//! `NeuronRegistered` events.
//!
//! Spec 218 has no `register_limit`, so these fleets run under the client-side price guard,
//! which status says.

use e2e::fixtures::{FleetNamespace, status_reason};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use e2e::realchain::{self, TAO};
use e2e::{OperatorProcess, client, shared_chain_ws, wait_until};
use kube::api::{Api, Patch, PatchParams};
use subnet_operator::chain::Chain;
use subnet_operator::chain::subxt_client::SubxtChain;
use subnet_operator::crd::Miner;
use subnet_operator::keys::Hotkey;
use subnet_operator::keys::signer::Signer;

/// One test at a time on the shared chain: chopsticks builds blocks one by one in a single
/// process, and parallel fleets there only measure its queue (and lose transactions to it).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct World {
    _serial: tokio::sync::MutexGuard<'static, ()>,
    fleet: FleetNamespace,
    ws: String,
    chain: SubxtChain,
    netuid: u16,
}

impl std::ops::Deref for World {
    type Target = FleetNamespace;
    fn deref(&self) -> &FleetNamespace {
        &self.fleet
    }
}

/// A namespace, a subnet of our own on the shared real chain, a coldkey funded with
/// `fund_tao`, and a Subnet pointing at the chain.
async fn world(prefix: &str, fund_tao: u64) -> Result<Option<World>> {
    let Some(client) = client().await else {
        return Ok(None);
    };
    let Some(ws) = shared_chain_ws() else {
        return Ok(None);
    };
    let serial = SERIAL.lock().await;
    let chain = SubxtChain::new(vec![ws.clone()])?;
    let netuid = realchain::own_subnet(&chain).await?;
    let coldkey = Hotkey::generate()?;
    realchain::fund(&chain, coldkey.public(), fund_tao * TAO).await?;
    let spec = format!("{{network: \"{ws}\", netuid: {netuid}}}");
    let fleet = FleetNamespace::new(&client, prefix, coldkey, &spec).await?;
    Ok(Some(World {
        _serial: serial,
        fleet,
        ws,
        chain,
        netuid,
    }))
}

impl World {
    fn operator(&self, identity: &str) -> Result<OperatorProcess> {
        self.fleet.operator(
            identity,
            &[("CHAIN_BACKEND", "subxt"), ("CHAIN_POLL_MS", "200")],
        )
    }

    async fn free(&self, who: [u8; 32]) -> Result<u64> {
        Ok(self.chain.account(who).await?.free)
    }
}

/// (registered replicas, total spent, Σ burns recorded per replica, Σ fees recorded per replica,
/// the hotkeys of the replicas).
async fn status(miners: &Api<Miner>) -> Result<(i32, u64, u64, u64, Vec<String>)> {
    let s = miners.get("m").await?.status.unwrap_or_default();
    let spend = s.spend.map(|s| s.total_spent_rao).unwrap_or(0);
    let burns = s
        .replica_statuses
        .iter()
        .filter_map(|r| r.last_registration.as_ref().map(|l| l.price_rao))
        .sum();
    let fees = s
        .replica_statuses
        .iter()
        .filter_map(|r| r.last_registration.as_ref().and_then(|l| l.fee_rao))
        .sum();
    let hotkeys = s
        .replica_statuses
        .iter()
        .filter_map(|r| r.hotkey.clone())
        .collect();
    Ok((s.registered_replicas, spend, burns, fees, hotkeys))
}

fn random_ms(max: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() % max.max(1)
}

#[tokio::test]
async fn five_replicas_register_on_the_real_runtime_and_sigkills_never_pay_twice() -> Result<()> {
    let Some(w) = world("realreg", 100).await? else {
        return Ok(());
    };
    let start_block = realchain::best(&w.chain).await?;
    let before = w.free(w.coldkey.public()).await?;
    let signer = w.coldkey_signer().await?;
    let mut op = w.operator("op-real-0")?;
    let miners = w
        .miner(5, &signer, "{mode: Burn, maxPriceTao: \"5\"}")
        .await?;
    let t0 = Instant::now();
    wait_until(Duration::from_secs(240), || async {
        Ok(status(&miners).await?.0 == 5)
    })
    .await
    .with_context(|| format!("operator log:\n{}", op.log_text()))?;
    eprintln!(
        "5 replicas registered on the real runtime in {:?}",
        t0.elapsed()
    );

    // The chain charged exactly the burns and fees its events report, and spend is the burns.
    let (_, spend, burns, fees, _) = status(&miners).await?;
    let after = w.free(w.coldkey.public()).await?;
    // (Spec 218's burned_register is Pays::No: its fee is 0 there, and the events say so.)
    assert!(burns >= 5 * TAO / 10, "burns {burns}, fees {fees}");
    assert_eq!(before - after, burns + fees, "balance drop vs burns + fees");
    assert_eq!(spend, burns, "status.spend must equal the burns paid");
    // Spec 218 has no register_limit: the guard is the client's, and status says so.
    let s = miners.get("m").await?.status.unwrap_or_default();
    assert_eq!(s.price_guard.as_deref(), Some("Client"));
    assert_eq!(
        status_reason(&miners, "m", "PriceGuard").await?,
        Some(("False".into(), "Client".into()))
    );

    // Five more, with the operator killed at random moments and started again each time.
    miners
        .patch(
            "m",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 10}})),
        )
        .await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut kills = 0;
    while status(&miners).await?.0 < 10 && kills < 8 {
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300 + random_ms(3000))).await;
        op.kill();
        kills += 1;
        op = w.operator(&format!("op-real-{kills}"))?;
    }
    wait_until(Duration::from_secs(240), || async {
        Ok(status(&miners).await?.0 == 10)
    })
    .await
    .with_context(|| format!("after {kills} kills; operator log:\n{}", op.log_text()))?;
    eprintln!("10 replicas registered after {kills} SIGKILLs");

    // The chain's own record: one NeuronRegistered per replica hotkey, none twice.
    let end_block = realchain::best(&w.chain).await?;
    let events = realchain::registrations(&w.ws, w.netuid, start_block, end_block).await?;
    let (_, _, _, _, hotkeys) = status(&miners).await?;
    let mine: Vec<[u8; 32]> = hotkeys
        .iter()
        .map(|h| subnet_operator::keys::ss58_decode(h))
        .collect::<std::result::Result<_, _>>()?;
    assert_eq!(mine.len(), 10);
    for hk in &mine {
        let n = events.iter().filter(|e| &e.hotkey == hk).count();
        assert_eq!(
            n, 1,
            "NeuronRegistered for one hotkey {n} times: {events:?}"
        );
    }
    assert_eq!(events.len(), 10, "registrations on our subnet: {events:?}");
    // Never paid twice: the coldkey lost exactly the burns status counted (each once, across
    // the kills) and the fees the chain's events reported for them.
    let (_, spend, _, fees, _) = status(&miners).await?;
    let end = w.free(w.coldkey.public()).await?;
    assert_eq!(before - end, spend + fees, "balance drop vs spend + fees");
    Ok(())
}

#[tokio::test]
async fn a_registration_proxy_signs_on_the_real_runtime_and_the_coldkey_pays_the_burn() -> Result<()>
{
    let Some(w) = world("realproxy", 50).await? else {
        return Ok(());
    };
    let proxy = Hotkey::generate()?;
    realchain::fund(&w.chain, proxy.public(), TAO).await?;
    // The coldkey makes the proxy its Registration proxy, on chain (docs/security.md).
    let cold = Signer::owned(Hotkey::from_seed(*w.coldkey.seed())?);
    realchain::add_proxy(&w.chain, &w.ws, &cold, proxy.public(), "Registration", 0).await?;
    let cold_before = w.free(w.coldkey.public()).await?;
    let proxy_before = w.free(proxy.public()).await?;
    let _op = w.operator("op-real-proxy")?;
    let miners = w
        .proxy_miner(&proxy, 2, "{mode: Burn, maxPriceTao: \"5\"}")
        .await?;
    wait_until(Duration::from_secs(180), || async {
        Ok(status(&miners).await?.0 == 2)
    })
    .await?;
    let (_, spend, burns, fees, _) = status(&miners).await?;
    let cold_after = w.free(w.coldkey.public()).await?;
    let proxy_after = w.free(proxy.public()).await?;
    // The coldkey paid exactly the burns; the proxy paid exactly the fees.
    assert!(burns > 0);
    assert_eq!(cold_before - cold_after, burns, "coldkey: burns only");
    assert_eq!(proxy_before - proxy_after, fees, "proxy: fees only");
    assert_eq!(spend, burns);
    Ok(())
}

#[tokio::test]
async fn a_delayed_proxy_is_reported_and_nothing_is_sent() -> Result<()> {
    let Some(w) = world("realdelay", 10).await? else {
        return Ok(());
    };
    let proxy = Hotkey::generate()?;
    realchain::fund(&w.chain, proxy.public(), TAO).await?;
    let cold = Signer::owned(Hotkey::from_seed(*w.coldkey.seed())?);
    realchain::add_proxy(&w.chain, &w.ws, &cold, proxy.public(), "Registration", 5).await?;
    let proxy_before = w.chain.account(proxy.public()).await?;
    let _op = w.operator("op-real-delay")?;
    let miners = w
        .proxy_miner(&proxy, 1, "{mode: Burn, maxPriceTao: \"5\"}")
        .await?;
    wait_until(Duration::from_secs(120), || async {
        Ok(status_reason(&miners, "m", "Registered").await?
            == Some(("False".into(), "ProxyDelayed".into())))
    })
    .await?;
    // Proxy.proxy would fail with Unannounced and cost a fee: nothing was sent.
    let proxy_after = w.chain.account(proxy.public()).await?;
    assert_eq!(proxy_after.nonce, proxy_before.nonce);
    assert_eq!(proxy_after.free, proxy_before.free);
    Ok(())
}

#[tokio::test]
async fn a_replica_pruned_on_the_real_runtime_is_seen_deregistered() -> Result<()> {
    let Some(w) = world("realprune", 50).await? else {
        return Ok(());
    };
    // Room for the owner and two more, no immunity: the next registration prunes one.
    realchain::sudo_set(
        &w.chain,
        w.netuid,
        &[
            subnet_operator::chain::Hyperparameter::MaxAllowedUids(3),
            subnet_operator::chain::Hyperparameter::ImmunityPeriod(0),
        ],
    )
    .await?;
    let signer = w.coldkey_signer().await?;
    let op = w.operator("op-real-prune")?;
    let miners = w
        .miner(
            2,
            &signer,
            "{mode: Burn, maxPriceTao: \"5\", reRegister: Never}",
        )
        .await?;
    wait_until(Duration::from_secs(180), || async {
        Ok(status(&miners).await?.0 == 2)
    })
    .await
    .with_context(|| format!("operator log:\n{}", op.log_text()))?;
    let (_, _, _, _, hotkeys) = status(&miners).await?;
    // Someone else registers: the full subnet prunes one of ours.
    let other = Signer::owned(Hotkey::generate()?);
    realchain::fund(&w.chain, other.public(), 10 * TAO).await?;
    let newcomer = Hotkey::generate()?;
    let nonce = w.chain.account(other.public()).await?.nonce;
    let tx = w
        .chain
        .prepare_register(
            &other,
            subnet_operator::chain::RegisterCall {
                netuid: w.netuid,
                hotkey: newcomer.public(),
                limit_rao: 5 * TAO,
                real: None,
                proxy_type: Default::default(),
            },
            nonce,
            None,
        )
        .await?;
    let o = w.chain.submit(&tx).await?;
    let uid = o.result.map_err(|e| anyhow::anyhow!("{e}"))?.0;
    let snap = w.chain.subnet(w.netuid).await?.context("our subnet")?;
    assert_eq!(snap.neurons.len(), 3);
    let gone: Vec<usize> = hotkeys
        .iter()
        .enumerate()
        .filter(|(_, h)| {
            subnet_operator::keys::ss58_decode(h)
                .map(|pk| snap.neuron(&pk).is_none())
                .unwrap_or(false)
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        gone.len(),
        1,
        "the chain pruned one of our two replicas (uid {uid})"
    );
    // The operator sees it on the next block: condition, status, and no re-registration.
    wait_until(Duration::from_secs(120), || async {
        Ok(status_reason(&miners, "m", "Deregistered").await?
            == Some(("True".into(), "UidLost".into())))
    })
    .await
    .with_context(|| format!("operator log:\n{}", op.log_text()))?;
    let s = miners.get("m").await?.status.unwrap_or_default();
    assert_eq!(s.deregistered.len(), 1, "{:?}", s.deregistered);
    assert_eq!(s.registered_replicas, 1);
    Ok(())
}
