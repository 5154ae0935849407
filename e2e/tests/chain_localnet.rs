//! The localnet samples on a **real subtensor runtime**: a fresh chopsticks chain running
//! subtensor's spec-218 wasm stands in for the localnet's RPC, and the operator runs with no
//! chain flag at all (its default: real chains, each Subnet its own, here the Subnet's
//! `spec.endpoints`). The scaffold adapts to the runtime it finds: the steps
//! spec 218 lacks (`sudo_set_admin_freeze_window`, `start_call`,
//! `sudo_set_subnet_emission_enabled`) are recorded as skipped with the reason, `register_network`
//! gets the `mechid` that runtime wants, and the subnet ends created, open, and with its fleets
//! registered — all read back from the chain itself. Spec 218 seeds a new pool with dust, so
//! the scaffold gives it reserves (`SeedPool`), and the validator's self-stake buys alpha and
//! earns a permit.

use e2e::fixtures::find_condition;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use e2e::{Chopsticks, OperatorProcess, TempNamespace, client, install_crds, wait_until};
use kube::api::Api;
use subnet_operator::chain::Chain;
use subnet_operator::chain::subxt_client::SubxtChain;
use subnet_operator::crd::{Miner, Subnet, Validator};

/// The messages of the events of `reason` in `ns`.
async fn events_api_reasons(client: &kube::Client, ns: &str, reason: &str) -> Result<Vec<String>> {
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), ns);
    Ok(events
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter_map(|e| e.message)
        .collect())
}

#[tokio::test]
async fn localnet_samples_scaffold_and_register_on_the_real_runtime() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    if e2e::shared_chain_ws().is_none() {
        // No chain tooling in this run (chopsticks is installed by make test).
        return Ok(());
    }
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "reallocal").await?;
    // A chain of its own: the samples' owner and coldkey names are fixed.
    let mut node = Chopsticks::start().await?;
    let chain = SubxtChain::new(vec![node.ws.clone()])?;
    let start = chain.head().await?.best;
    let op = OperatorProcess::start(
        &ns.name,
        "op-reallocal",
        // No chain flag at all: the operator's default (real chains), and the Subnet's own
        // endpoint.
        &[("CHAIN_BACKEND", ""), ("CHAIN_POLL_MS", "200")],
    )?;
    // A localnet builds blocks all the time; chopsticks only on demand: build one every half
    // second while the test runs, as a fast-blocks localnet would.
    let producer = {
        let http = node.http.clone();
        tokio::spawn(async move {
            loop {
                let _ =
                    e2e::chain_rpc(&http, "dev_newBlock", serde_json::json!([{"count": 1}])).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    // The samples as they are, except that the Subnet reaches its localnet at the chopsticks
    // node: in the cluster it would use its own Service (`dev-localnet.<ns>.svc:9944`), which
    // a process outside the cluster cannot reach.
    let samples = e2e::repo_root().join("manifests/samples/localnet");
    let subnet = std::fs::read_to_string(samples.join("00-subnet.yaml"))?;
    let reached = subnet.replacen(
        "spec:\n  network: local\n",
        &format!("spec:\n  network: local\n  endpoints: [\"{}\"]\n", node.ws),
        1,
    );
    ensure!(
        reached != subnet,
        "the localnet sample's Subnet changed shape"
    );
    e2e::tools::kubectl_stdin(&["-n", &ns.name, "apply", "-f", "-"], &reached)?;
    for file in ["01-coldkey.yaml", "02-miner.yaml", "03-validator.yaml"] {
        let path = samples.join(file);
        let out = e2e::kubectl(&["-n", &ns.name, "apply", "-f", &path.to_string_lossy()])?;
        ensure!(
            out.status.success(),
            "kubectl apply of {file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let subnets: Api<Subnet> = Api::namespaced(client.clone(), &ns.name);
    let miners: Api<Miner> = Api::namespaced(client.clone(), &ns.name);
    let validators: Api<Validator> = Api::namespaced(client.clone(), &ns.name);

    wait_until(Duration::from_secs(300), || async {
        let s = subnets.get("dev").await?.status.unwrap_or_default();
        Ok(find_condition(&s.conditions, "Scaffolded").is_some_and(|c| c.status == "True"))
    })
    .await
    .with_context(|| format!("Subnet Scaffolded; operator log:\n{}", op.log_text()))?;
    let status = subnets.get("dev").await?.status.unwrap_or_default();
    let netuid = status.netuid.context("no netuid in status")?;
    let step = |name: &str| {
        status
            .scaffold
            .iter()
            .find(|s| s.name == name)
            .map(|s| (s.state.clone(), s.message.clone().unwrap_or_default()))
            .unwrap_or_default()
    };
    // What spec 218 lacks is skipped, and says why.
    for (name, call) in [
        ("AdminFreezeWindow", "sudo_set_admin_freeze_window"),
        ("StartCall", "start_call"),
        ("EnableEmission", "sudo_set_subnet_emission_enabled"),
    ] {
        let (state, message) = step(name);
        assert_eq!(state, "Skipped", "{name}: {message}");
        assert!(
            message.contains(call) && message.contains("spec 218"),
            "{name}: {message}"
        );
    }
    for name in [
        "FundOwner",
        "RegisterNetwork",
        "SeedPool",
        "Hyperparameters",
        "FundColdkeys",
    ] {
        assert_eq!(step(name).0, "Done", "{name}: {}", step(name).1);
    }
    // Spec 218 seeds a new pool with 1 rao of each: the scaffold gave it depth, and says so.
    let (_, seeded) = step("SeedPool");
    assert!(
        seeded.contains("1 rao of TAO") && seeded.contains("set to 1000"),
        "SeedPool: {seeded}"
    );
    // The chain has the subnet, owned by the scaffold's owner, open, with the hyperparameters.
    let snap = chain
        .subnet(netuid)
        .await?
        .context("the scaffolded subnet is not on chain")?;
    assert!(snap.started && snap.registration_allowed, "{snap:?}");
    assert_eq!(snap.max_uids, 64);
    assert_eq!(snap.immunity_period, 100);
    assert!(!snap.commit_reveal);
    assert!(snap.owner.is_some());
    let pool = snap.pool.context("no pool on a dTAO runtime")?;
    assert!(pool.tao >= 1_000 * e2e::realchain::TAO, "{pool:?}");

    // Every fleet registers; the chain's events show each hotkey once.
    wait_until(Duration::from_secs(180), || async {
        let m = e2e::fixtures::fleet_status(&miners, "dev-miners").await?;
        let v = e2e::fixtures::fleet_status(&validators, "dev-validator").await?;
        Ok(m.registered_replicas == 3 && v.registered_replicas == 1)
    })
    .await
    .with_context(|| format!("fleets registered; operator log:\n{}", op.log_text()))?;
    let end = chain.head().await?.best;
    let events = e2e::realchain::registrations(&node.ws, netuid, start, end).await?;
    assert_eq!(events.len(), 4, "3 miners + 1 validator: {events:?}");

    // The validator's self-stake (selfStakeTao 100) buys alpha from the seeded pool, and an
    // epoch later it holds a permit: read from its status, and its stake from the chain.
    wait_until(Duration::from_secs(240), || async {
        let v = e2e::fixtures::fleet_status(&validators, "dev-validator").await?;
        let permitted =
            find_condition(&v.conditions, "Permitted").is_some_and(|c| c.status == "True");
        let staked = v
            .total_stake_tao
            .as_deref()
            .is_some_and(|t| t.parse::<f64>().is_ok_and(|t| t > 0.0));
        Ok(permitted && staked && v.permitted_replicas == Some(1))
    })
    .await
    .with_context(|| {
        format!(
            "validator staked and permitted; operator log:\n{}",
            op.log_text()
        )
    })?;
    let v = e2e::fixtures::fleet_status(&validators, "dev-validator").await?;
    let staked: f64 = v
        .total_stake_tao
        .as_deref()
        .unwrap_or("0")
        .parse()
        .context("totalStakeTao")?;
    // 100 TAO into a 1000/1000 pool buys ~91 alpha (more once emission adds to it).
    assert!(staked >= 85.0, "the validator's stake: {staked} alpha");
    let snap = chain.subnet(netuid).await?.context("no subnet")?;
    let hotkey = v
        .replica_statuses
        .first()
        .and_then(|r| r.hotkey.as_deref())
        .context("no validator hotkey in status")?;
    let on_chain = snap
        .neuron(&subnet_operator::keys::ss58_decode(hotkey)?)
        .context("the validator is not on chain")?;
    assert!(on_chain.validator_permit && on_chain.stake >= 85 * e2e::realchain::TAO);
    // The stake went in on the first try: the coldkey that signs it also signs the four
    // registrations, and a shared nonce would have dropped one of them (SelfStakeFailed).
    let failed = events_api_reasons(&client, &ns.name, "SelfStakeFailed").await?;
    assert!(failed.is_empty(), "self-stake failures: {failed:?}");

    // A chain reset: the chain stops, and a new one starts from the same chain spec on the same
    // port, as a localnet pod restarting does. Same genesis hash (chopsticks gives every chain
    // one placeholder; a localnet's chain spec is fixed too), another block 1. The operator
    // must see a new chain: scaffold it again, and register every fleet again on it.
    let old = chain.head().await?;
    let old_subnet = subnets.get("dev").await?.status.unwrap_or_default();
    node.restart().await?;
    // The test's own client reconnects too, and the producer builds the new chain's block 1.
    let mut new = None;
    for _ in 0..240 {
        new = chain
            .head()
            .await
            .ok()
            .filter(|h| h.first_block_hash.is_some());
        if new.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let new = new.context("no block 1 on the restarted chain after 60 s")?;
    assert_eq!(
        new.genesis_hash, old.genesis_hash,
        "chopsticks keeps one genesis hash"
    );
    assert_ne!(new.identity(), old.identity(), "{new:?} vs {old:?}");
    wait_until(Duration::from_secs(300), || async {
        let s = subnets.get("dev").await?.status.unwrap_or_default();
        let again =
            s.scaffold_genesis.is_some() && s.scaffold_genesis != old_subnet.scaffold_genesis;
        Ok(
            again
                && find_condition(&s.conditions, "Scaffolded").is_some_and(|c| c.status == "True"),
        )
    })
    .await
    .with_context(|| {
        format!(
            "scaffolded again after the reset; operator log:\n{}",
            op.log_text()
        )
    })?;
    let netuid = subnets
        .get("dev")
        .await?
        .status
        .unwrap_or_default()
        .netuid
        .context("no netuid after the reset")?;
    wait_until(Duration::from_secs(240), || async {
        let m = e2e::fixtures::fleet_status(&miners, "dev-miners").await?;
        let v = e2e::fixtures::fleet_status(&validators, "dev-validator").await?;
        let on_new = |g: &Option<String>| g.as_deref() == Some(new.identity().as_str());
        if !(m.registered_replicas == 3
            && v.registered_replicas == 1
            && on_new(&m.chain_genesis)
            && on_new(&v.chain_genesis))
        {
            return Ok(false);
        }
        // What the status says, the new chain's own events must show.
        let end = chain.head().await?.best;
        let events = e2e::realchain::registrations(&node.ws, netuid, 0, end).await?;
        ensure!(events.len() <= 4, "a hotkey registered twice: {events:?}");
        ensure!(
            events.len() == 4,
            "status says 4 registered, the new chain's events show {events:?}"
        );
        Ok(true)
    })
    .await
    .with_context(|| format!("fleets registered again; operator log:\n{}", op.log_text()))?;
    let resets: Vec<String> = events_api_reasons(&client, &ns.name, "ChainReset").await?;
    assert!(
        resets.len() >= 3,
        "a ChainReset event from the Subnet and from each fleet: {resets:?}"
    );
    producer.abort();
    Ok(())
}
