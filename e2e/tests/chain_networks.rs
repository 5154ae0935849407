//! One operator, several chains, each Subnet its own: two fresh chopsticks chains (the real
//! spec-218 runtime), each behind a counting proxy (`e2e::rpc_count`) so what reaches a chain is
//! seen at its endpoint. The operator runs with no chain flag at all.
//! - Subnet `sn` names chain A by URL and Subnet `sb` chain B; Miner `ma` on `sn` and Miner `mb`
//!   on `sb`. Both subnets have the same netuid, so a registration sent to the wrong chain would
//!   land there: each chain's own events show only its own Miner's hotkeys.
//! - Subnet `st` says `network: test` but its endpoint is chain A (through a third proxy): its
//!   genesis is not the testnet's, so `st` and its Miner `mt` are `WrongNetwork`, no transaction
//!   reaches that endpoint, and `mt`'s coldkey keeps its balance on A.
//! - Deleting `sb` (the last Subnet on B) closes the connection to B: the proxy sees it closed and
//!   the operator's `chain_open` series for B goes away.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use e2e::fixtures::{FleetNamespace, FleetYaml, fleet_status, ready_reason};
use e2e::realchain::{self, TAO};
use e2e::rpc_count::RpcCounter;
use e2e::{Chopsticks, client, wait_until};
use kube::api::{Api, DeleteParams, PostParams};
use subnet_operator::chain::Chain as _;
use subnet_operator::chain::subxt_client::SubxtChain;
use subnet_operator::crd::{Miner, Subnet};
use subnet_operator::keys::Hotkey;

/// Creates Subnet `name` in `ns` with `spec` (a YAML flow mapping).
async fn subnet(client: &kube::Client, ns: &str, name: &str, spec: &str) -> Result<()> {
    let api: Api<Subnet> = Api::namespaced(client.clone(), ns);
    let yaml = format!(
        "{{apiVersion: subnet-operator.io/v1alpha1, kind: Subnet, metadata: {{name: {name}}}, spec: {spec}}}"
    );
    api.create(&PostParams::default(), &serde_yaml::from_str(&yaml)?)
        .await?;
    Ok(())
}

/// Creates Miner `name` of `replicas` on Subnet `subnet`, paid by `coldkey` and signed by it.
async fn miner(
    api: &Api<Miner>,
    name: &str,
    subnet: &str,
    coldkey: &Hotkey,
    replicas: u32,
    signer: &str,
) -> Result<()> {
    let mut m = FleetYaml {
        name,
        coldkey,
        replicas,
        signer,
        registration: "{mode: Burn, maxPriceTao: \"5\"}",
        extra: "",
    }
    .object::<Miner>()?;
    m.spec.fleet.subnet_ref.name = subnet.to_string();
    api.create(&PostParams::default(), &m).await?;
    Ok(())
}

/// The hotkeys of a Miner's replicas, from its status.
async fn hotkeys(api: &Api<Miner>, name: &str) -> Result<BTreeSet<[u8; 32]>> {
    fleet_status(api, name)
        .await?
        .replica_statuses
        .iter()
        .filter_map(|r| r.hotkey.as_deref())
        .map(|h| subnet_operator::keys::ss58_decode(h).map_err(anyhow::Error::msg))
        .collect()
}

/// The hotkeys registered on `netuid` of the chain at `ws` since block `from`, by its events.
async fn registered_on(
    chain: &SubxtChain,
    ws: &str,
    netuid: u16,
    from: u64,
) -> Result<BTreeSet<[u8; 32]>> {
    let to = realchain::best(chain).await?;
    Ok(realchain::registrations(ws, netuid, from, to)
        .await?
        .into_iter()
        .map(|r| r.hotkey)
        .collect())
}

#[tokio::test]
async fn each_subnet_talks_to_its_own_chain_and_only_to_it() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    if e2e::shared_chain_ws().is_none() {
        // No chain tooling in this run (chopsticks is installed by make test).
        return Ok(());
    }
    let (a, b) = tokio::try_join!(Chopsticks::start(), Chopsticks::start())?;
    let (chain_a, chain_b) = (
        SubxtChain::new(vec![a.ws.clone()])?,
        SubxtChain::new(vec![b.ws.clone()])?,
    );
    let netuid_a = realchain::own_subnet(&chain_a).await?;
    let netuid_b = realchain::own_subnet(&chain_b).await?;
    let coldkey = Hotkey::generate()?;
    let wrong_coldkey = Hotkey::generate()?;
    realchain::fund(&chain_a, coldkey.public(), 100 * TAO).await?;
    realchain::fund(&chain_b, coldkey.public(), 100 * TAO).await?;
    realchain::fund(&chain_a, wrong_coldkey.public(), 100 * TAO).await?;
    let (start_a, start_b) = (
        realchain::best(&chain_a).await?,
        realchain::best(&chain_b).await?,
    );
    let wrong_before = chain_a.account(wrong_coldkey.public()).await?.free;
    let (proxy_a, proxy_b, proxy_test) = (
        RpcCounter::start(&a.ws).await?,
        RpcCounter::start(&b.ws).await?,
        RpcCounter::start(&a.ws).await?,
    );

    let spec_a = format!("{{network: \"{}\", netuid: {netuid_a}}}", proxy_a.url);
    let fleet = FleetNamespace::new(&client, "nets", coldkey, &spec_a).await?;
    let coldkey = &fleet.coldkey;
    let ns = fleet.ns.clone();
    subnet(
        &client,
        &ns,
        "sb",
        &format!("{{network: \"{}\", netuid: {netuid_b}}}", proxy_b.url),
    )
    .await?;
    subnet(
        &client,
        &ns,
        "st",
        &format!(
            "{{network: test, netuid: {netuid_a}, endpoints: [\"{}\"]}}",
            proxy_test.url
        ),
    )
    .await?;
    let signer = fleet.coldkey_signer().await?;
    fleet
        .secret("cold2", "coldkey", &wrong_coldkey.keyfile_json())
        .await?;
    fleet.secret("cold2-pw", "password", "").await?;
    let wrong_signer = "    registrationSigner: {coldkey: {secretRef: {name: cold2}, passwordSecretRef: {name: cold2-pw}}}";
    let miners: Api<Miner> = Api::namespaced(client.clone(), &ns);
    miner(&miners, "ma", "sn", coldkey, 2, &signer).await?;
    miner(&miners, "mb", "sb", coldkey, 1, &signer).await?;
    miner(&miners, "mt", "st", &wrong_coldkey, 1, wrong_signer).await?;

    // No chain flag: the operator's default, real chains, each Subnet its own.
    let mut op = fleet.operator(
        "op-nets",
        &[("CHAIN_BACKEND", ""), ("CHAIN_POLL_MS", "200")],
    )?;
    let registered = |name: &'static str, want: usize| {
        let miners = miners.clone();
        async move {
            let s = fleet_status(&miners, name).await?;
            anyhow::Ok(s.replica_statuses.iter().filter(|r| r.registered).count() == want)
        }
    };
    wait_until(Duration::from_secs(180), || async {
        Ok(registered("ma", 2).await? && registered("mb", 1).await?)
    })
    .await
    .with_context(|| format!("both Miners registered: {}", op.diagnose(60)))?;
    wait_until(Duration::from_secs(60), || async {
        Ok(ready_reason(&miners, "mt")
            .await?
            .is_some_and(|(r, _)| r == "WrongNetwork"))
    })
    .await
    .with_context(|| format!("mt is WrongNetwork: {}", op.diagnose(60)))?;

    // Each chain's own events: only its own Miner's hotkeys.
    let (ma, mb, mt) = (
        hotkeys(&miners, "ma").await?,
        hotkeys(&miners, "mb").await?,
        hotkeys(&miners, "mt").await?,
    );
    let on_a = registered_on(&chain_a, &a.ws, netuid_a, start_a).await?;
    let on_b = registered_on(&chain_b, &b.ws, netuid_b, start_b).await?;
    println!(
        "chain A: {} registrations, chain B: {}; netuids {netuid_a} and {netuid_b}",
        on_a.len(),
        on_b.len()
    );
    ensure!(
        on_a == ma,
        "chain A registered {on_a:?}, Miner ma is {ma:?}"
    );
    ensure!(
        on_b == mb,
        "chain B registered {on_b:?}, Miner mb is {mb:?}"
    );
    ensure!(mt.len() == 1 && on_a.is_disjoint(&mt) && on_b.is_disjoint(&mt));

    // The Subnets' status: each its endpoint, genesis and runtime; `st` the wrong network.
    let subnets: Api<Subnet> = Api::namespaced(client.clone(), &ns);
    let status = |name: &'static str| {
        let subnets = subnets.clone();
        async move { anyhow::Ok(subnets.get(name).await?.status.unwrap_or_default()) }
    };
    let sn = status("sn").await?;
    ensure!(
        sn.endpoint.as_deref() == Some(proxy_a.url.as_str()),
        "{sn:?}"
    );
    ensure!(sn.runtime_spec_version == Some(218), "{sn:?}");
    ensure!(sn.genesis_hash.is_some(), "{sn:?}");
    let reachable =
        e2e::fixtures::find_condition(&sn.conditions, "ChainReachable").map(|c| c.status.clone());
    ensure!(reachable.as_deref() == Some("True"), "{sn:?}");
    let st = status("st").await?;
    let ready = e2e::fixtures::find_condition(&st.conditions, "Ready")
        .map(|c| (c.reason.clone(), c.message.clone()));
    ensure!(
        ready.as_ref().is_some_and(|(r, m)| r == "WrongNetwork"
            && m.contains(subnet_operator::chain::network::TEST_GENESIS)),
        "{st:?}"
    );

    // Nothing was sent to the wrong network's endpoint, and its coldkey paid nothing.
    let seen = proxy_test.counts();
    println!("requests at the `test` Subnet's endpoint: {seen:?}");
    ensure!(
        !seen.is_empty() && seen.keys().all(|m| !m.starts_with("author_")),
        "{seen:?}"
    );
    ensure!(
        !seen.contains_key("state_queryStorageAt"),
        "the wrong network's subnet was read: {seen:?}"
    );
    let wrong_after = chain_a.account(wrong_coldkey.public()).await?.free;
    ensure!(
        wrong_after == wrong_before,
        "the wrong network's coldkey paid {}",
        wrong_before - wrong_after
    );

    // Three chains open (A, B, and A pinned to the testnet); B's last Subnet goes, and B closes.
    let open = || op.metric("subnet_operator_chain_open", &[]);
    ensure!(open().await? == 3.0, "{}", op.get("/metrics").await?.1);
    ensure!(proxy_b.open_connections() >= 1);
    let b_label = format!("chain=\"{}\"", proxy_b.url.trim_start_matches("ws://"));
    ensure!(op.metric("subnet_operator_chain_open", &[&b_label]).await? == 1.0);
    miners.delete("mb", &DeleteParams::default()).await?;
    subnets.delete("sb", &DeleteParams::default()).await?;
    wait_until(Duration::from_secs(30), || async {
        Ok(proxy_b.open_connections() == 0 && open().await? == 2.0)
    })
    .await
    .with_context(|| {
        format!(
            "B closed ({} connections open): {}",
            proxy_b.open_connections(),
            op.diagnose(30)
        )
    })?;
    let (_, metrics) = op.get("/metrics").await?;
    ensure!(!metrics.contains(&b_label), "B's series remain:\n{metrics}");
    ensure!(proxy_a.open_connections() >= 1, "A stays open");
    Ok(())
}
