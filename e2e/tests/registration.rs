//! Registration against the simulated chain (the in-memory model behind
//! `subnet-operator-simchain`), with the operator running as a process on the local control
//! plane: price limit, decay, budget, crash safety under SIGKILL, and proxies.

use e2e::fixtures::{FleetNamespace, status_reason};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use e2e::{OperatorProcess, SimChainProcess, client, wait_until};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams};
use subnet_operator::crd::Miner;
use subnet_operator::keys::Hotkey;

struct World {
    fleet: FleetNamespace,
    chain: SimChainProcess,
}

impl std::ops::Deref for World {
    type Target = FleetNamespace;
    fn deref(&self) -> &FleetNamespace {
        &self.fleet
    }
}

/// How many blocks the simulated chain's finalized block trails its best one (GRANDPA's lag on
/// a real node): subnet snapshots are read there, nonces and balances at the best block.
const FINALITY_LAG: u64 = 3;

/// A namespace, a simulated chain whose subnet 1 starts at `burn` TAO with half-life 360
/// blocks (every transaction lands in a block of its own; the finalized block trails by
/// [`FINALITY_LAG`]), a funded coldkey, a Subnet, and the coldkey's public file.
async fn world(prefix: &str, burn: &str, extra_genesis: &str) -> Result<Option<World>> {
    world_with(prefix, burn, Hotkey::generate()?, extra_genesis).await
}

async fn world_with(
    prefix: &str,
    burn: &str,
    coldkey: Hotkey,
    extra_genesis: &str,
) -> Result<Option<World>> {
    world_subnet(
        prefix,
        &format!(
            "{{netuid: 1, burnTao: \"{burn}\", burnHalfLife: 360, maxBurnTao: \"100\", tempo: 10}}"
        ),
        coldkey,
        extra_genesis,
    )
    .await
}

async fn world_subnet(
    prefix: &str,
    subnet: &str,
    coldkey: Hotkey,
    extra_genesis: &str,
) -> Result<Option<World>> {
    let Some(client) = client().await else {
        return Ok(None);
    };
    let genesis = format!(
        "feeRao: 1000\nfinalityLag: {FINALITY_LAG}\nbalances:\n  - {{account: {}, tao: \"1000\"}}\n{extra_genesis}subnets:\n  - {subnet}\n",
        coldkey.ss58()
    );
    let chain = SimChainProcess::start(&genesis).await?;
    let fleet = FleetNamespace::new(
        &client,
        prefix,
        coldkey,
        "{network: \"ws://simulated:9944\", netuid: 1}",
    )
    .await?;
    Ok(Some(World { fleet, chain }))
}

impl World {
    fn operator(&self, identity: &str) -> Result<OperatorProcess> {
        self.fleet.operator(
            identity,
            &[
                ("CHAIN_BACKEND", "sim"),
                ("SIM_CHAIN_URL", &self.chain.url()),
                ("CHAIN_POLL_MS", "100"),
            ],
        )
    }

    /// Miner `m` of 5 replicas signed by the coldkey, with a 0.3 TAO budget, once the budget is
    /// exhausted.
    async fn exhaust_a_budget(&self) -> Result<Api<Miner>> {
        let signer = self.coldkey_signer().await?;
        let miners = self
            .miner(
                5,
                &signer,
                "{mode: Burn, maxPriceTao: \"1\", budget: {tao: \"0.3\", window: 24h}}",
            )
            .await?;
        wait_until(Duration::from_secs(60), || async {
            Ok(status_reason(&miners, "m", "BudgetExhausted")
                .await?
                .is_some_and(|(s, _)| s == "True"))
        })
        .await?;
        Ok(miners)
    }
}

async fn registered(miners: &Api<Miner>) -> Result<(i32, u64, Vec<u64>)> {
    let s = miners.get("m").await?.status.unwrap_or_default();
    let spend = s.spend.map(|s| s.total_spent_rao).unwrap_or(0);
    let prices = s
        .replica_statuses
        .iter()
        .filter_map(|r| r.last_registration.as_ref().map(|l| l.price_rao))
        .collect();
    Ok((s.registered_replicas, spend, prices))
}

#[tokio::test]
async fn twenty_replicas_register_under_the_limit_and_resume_as_the_price_decays() -> Result<()> {
    let Some(w) = world("reg", "0.1", "").await? else {
        return Ok(());
    };
    let op = w.operator("op-reg")?;
    let signer = w.coldkey_signer().await?;
    let miners = w
        .miner(20, &signer, "{mode: Burn, maxPriceTao: \"0.45\"}")
        .await?;

    // Each registration bumps the price by 1.26 and its own block decays it by 2^(-1/360):
    // 0.1 · 1.2576^k stays under 0.45 for k = 0..6: seven registrations, then the limit holds.
    wait_until(Duration::from_secs(90), || async {
        Ok(registered(&miners).await?.0 == 7)
    })
    .await?;
    wait_until(Duration::from_secs(30), || async {
        Ok(status_reason(&miners, "m", "Registered").await?
            == Some(("False".into(), "PriceAboveLimit".into())))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (n, _, mut prices) = registered(&miners).await?;
    assert_eq!(n, 7, "the price limit did not hold");
    prices.sort_unstable();
    for pair in prices.windows(2) {
        assert!(
            pair[1] > pair[0],
            "prices must rise with each registration: {prices:?}"
        );
    }
    assert!(prices.iter().all(|p| *p <= 450_000_000));

    // Blocks pass, the price decays, registration resumes until all 20 are in.
    let deadline = Instant::now() + Duration::from_secs(240);
    while registered(&miners).await?.0 < 20 {
        if Instant::now() > deadline {
            bail!("only {} of 20 registered", registered(&miners).await?.0);
        }
        w.chain.advance(40).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_until(Duration::from_secs(30), || async {
        Ok(status_reason(&miners, "m", "Registered").await?
            == Some(("True".into(), "AllRegistered".into())))
    })
    .await?;
    // Spend equals the sum of the prices the chain charged, and each was paid once.
    let burns = w.chain.burns().await?;
    assert_eq!(burns.len(), 20);
    let charged: u64 = burns.iter().map(|(_, b)| b).sum();
    let (_, spend, prices) = registered(&miners).await?;
    assert_eq!(spend, charged);
    assert_eq!(prices.iter().sum::<u64>(), charged);
    eprintln!("transactions: {}", tx_summary(&w.chain.txs().await?));
    // The subnet is read at the finalized block: it shows the last registrations once the
    // blocks after them come.
    w.chain.advance(FINALITY_LAG).await?;
    let snap = w.chain.subnet(1).await?;
    assert_eq!(snap["neurons"].as_array().map(Vec::len), Some(20));
    // The operator exports the same per replica and per fleet.
    let (_, metrics) = op.get("/metrics").await?;
    let registered_series = metrics
        .lines()
        .filter(|l| l.starts_with("subnet_operator_replica_registered{") && l.ends_with(" 1"))
        .count();
    assert_eq!(registered_series, 20, "{metrics}");
    let spent = format!(
        "subnet_operator_spent_rao{{namespace=\"{}\",kind=\"Miner\",name=\"m\"}} {charged}",
        w.ns
    );
    assert!(metrics.contains(&spent), "{spent} not in:\n{metrics}");
    Ok(())
}

#[tokio::test]
async fn a_budget_smaller_than_the_fleet_stops_at_the_budget() -> Result<()> {
    let Some(w) = world("budget", "0.1", "").await? else {
        return Ok(());
    };
    let _op = w.operator("op-budget")?;
    // 0.1 + 0.1258 fits in 0.3; the third (about 0.158) does not.
    let miners = w.exhaust_a_budget().await?;
    let (n, first_spend, _) = registered(&miners).await?;
    assert_eq!(n, 2);
    assert!(first_spend <= 300_000_000);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        registered(&miners).await?.1,
        first_spend,
        "spent after the budget was exhausted"
    );
    // Time passes and prices fall: what still fits may be spent, never more than the budget.
    for _ in 0..5 {
        w.chain.advance(20).await?;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let (n, spend, _) = registered(&miners).await?;
    assert!(
        spend <= 300_000_000,
        "spent {spend} rao of a 0.3 TAO budget"
    );
    assert!(n < 5, "the budget cannot pay for the whole fleet");
    let charged: u64 = w.chain.burns().await?.iter().map(|(_, b)| b).sum();
    assert_eq!(spend, charged);
    Ok(())
}

/// The tester's case: a status patch that zeroes `status.spend` handed the budget back (0.00592
/// TAO burned of a 0.005 budget). The operator keeps its own ledger (an annotation) and never
/// believes a lower spend; here it is restarted first, so its memory cannot be what holds.
#[tokio::test]
async fn a_status_edit_does_not_hand_the_budget_back() -> Result<()> {
    let Some(w) = world("budget-edit", "0.1", "").await? else {
        return Ok(());
    };
    let mut op = w.operator("op-budget-edit")?;
    let miners = w.exhaust_a_budget().await?;
    let before: u64 = w.chain.burns().await?.iter().map(|(_, b)| b).sum();
    op.kill();
    let spend = miners.get("m").await?.status.and_then(|s| s.spend);
    let window = spend.and_then(|s| s.window_start).unwrap_or_default();
    miners
        .patch_status(
            "m",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {"spend": {
                "windowStart": window, "spentRao": 0, "spentTao": "0", "totalSpentRao": 0
            }}})),
        )
        .await?;
    let _op = w.operator("op-budget-edit-2")?;
    for _ in 0..5 {
        w.chain.advance(20).await?;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    wait_until(Duration::from_secs(30), || async {
        Ok(miners
            .get("m")
            .await?
            .status
            .and_then(|s| s.spend)
            .is_some_and(|s| s.spent_rao > 0))
    })
    .await
    .context("the restarted operator restores the spend from its ledger")?;
    let after: u64 = w.chain.burns().await?.iter().map(|(_, b)| b).sum();
    assert!(
        after <= 300_000_000,
        "burned {after} rao against a 0.3 TAO budget after the status edit (before: {before})"
    );
    Ok(())
}

#[tokio::test]
async fn sigkill_during_registrations_never_pays_twice() -> Result<()> {
    let Some(w) = world("crash", "0.1", "").await? else {
        return Ok(());
    };
    let signer = w.coldkey_signer().await?;
    // A low limit spreads registrations over time (each bump waits for decay), so that kills
    // land while registrations are in flight.
    let miners = w
        .miner(20, &signer, "{mode: Burn, maxPriceTao: \"0.11\"}")
        .await?;
    let chain_addr = w.chain.addr.clone();
    let ticker = tokio::spawn(async move {
        loop {
            let _ = e2e::http_post_json(
                &chain_addr,
                "/admin/advance",
                &serde_json::json!({"blocks": 1}),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    });
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let result = async {
        for kill in 0..20 {
            let mut op = w.operator("op-crash")?;
            tokio::time::sleep(Duration::from_millis(1500 + next() % 2500)).await;
            op.kill();
            eprintln!("kill {kill}: {} registered", registered(&miners).await?.0);
        }
        let _op = w.operator("op-crash")?;
        wait_until(Duration::from_secs(240), || async {
            Ok(registered(&miners).await?.0 == 20)
        })
        .await
        .context("all 20 registered after the crashes")?;
        anyhow::Ok(())
    }
    .await;
    ticker.abort();
    result?;
    let burns = w.chain.burns().await?;
    assert_eq!(
        burns.len(),
        20,
        "a burn was paid twice (or missed): {} burns",
        burns.len()
    );
    let charged: u64 = burns.iter().map(|(_, b)| b).sum();
    let (_, spend, prices) = registered(&miners).await?;
    assert_eq!(
        spend, charged,
        "status spend differs from what the chain charged"
    );
    assert_eq!(prices.len(), 20);
    Ok(())
}

#[tokio::test]
async fn a_registration_proxy_signs_and_the_coldkey_pays() -> Result<()> {
    let coldkey = Hotkey::generate()?;
    let proxy = Hotkey::generate()?;
    // On chain from genesis: the proxy relationship, and a little for the proxy's fees.
    let extra = format!(
        "  - {{account: {}, tao: \"1\"}}\nproxies:\n  - {{real: {}, delegate: {}}}\n",
        proxy.ss58(),
        coldkey.ss58(),
        proxy.ss58()
    );
    let Some(w) = world_with("proxy", "0.1", coldkey, &extra).await? else {
        return Ok(());
    };
    let _op = w.operator("op-proxy")?;
    let miners = w
        .proxy_miner(&proxy, 3, "{mode: Burn, maxPriceTao: \"1\"}")
        .await?;
    wait_until(Duration::from_secs(60), || async {
        Ok(registered(&miners).await?.0 == 3)
    })
    .await?;
    let burns = w.chain.burns().await?;
    assert_eq!(burns.len(), 3);
    let cold_hex = hex::encode(w.coldkey.public());
    assert!(
        burns.iter().all(|(payer, _)| *payer == cold_hex),
        "the coldkey must pay: {burns:?}"
    );
    let status = miners.get("m").await?.status.unwrap_or_default();
    let signer = status
        .registration_signer
        .context("no registrationSigner in status")?;
    assert_eq!(
        (signer.kind.as_str(), signer.ss58.as_str()),
        ("Proxy", proxy.ss58().as_str())
    );
    // The coldkey's secret is nowhere in the cluster.
    let secrets: Api<Secret> = Api::namespaced(w.client.clone(), &w.ns);
    let all = serde_json::to_string(&secrets.list(&ListParams::default()).await?.items)?;
    let phrase = w.coldkey.mnemonic().unwrap_or_default().to_string();
    use base64::Engine as _;
    for needle in [
        phrase.clone(),
        base64::engine::general_purpose::STANDARD.encode(&phrase),
        hex::encode(w.coldkey.seed()),
    ] {
        assert!(
            !all.contains(&needle),
            "the coldkey's secret is in a Secret"
        );
    }
    Ok(())
}

#[tokio::test]
async fn pruning_deregisters_and_re_registration_follows_the_policy() -> Result<()> {
    let other = Hotkey::generate()?;
    let extra = format!("  - {{account: {}, tao: \"1000\"}}\n", other.ss58());
    let Some(w) = world_subnet(
        "prune",
        "{netuid: 1, burnTao: \"0.1\", burnHalfLife: 360, maxUids: 12, immunityPeriod: 5, tempo: 10}",
        Hotkey::generate()?,
        &extra,
    )
    .await?
    else {
        return Ok(());
    };
    let _op = w.operator("op-prune")?;
    let signer = w.coldkey_signer().await?;
    let miners = w
        .miner(
            2,
            &signer,
            "{mode: Burn, maxPriceTao: \"10\", reRegister: Never, riskRegistrations: 1}",
        )
        .await?;
    wait_until(Duration::from_secs(60), || async {
        Ok(registered(&miners).await?.0 == 2)
    })
    .await?;
    let cold = hex::encode(w.coldkey.public());
    let ours = || async {
        anyhow::Ok(
            w.chain
                .burns()
                .await?
                .iter()
                .filter(|(p, _)| *p == cold)
                .count(),
        )
    };
    assert_eq!(ours().await?, 2);
    let status = miners.get("m").await?.status.unwrap_or_default();
    let hotkey_hex = |i: u32| -> Result<String> {
        let ss58 = status
            .replica_statuses
            .iter()
            .find(|r| r.index == i)
            .and_then(|r| r.hotkey.clone())
            .context("no hotkey")?;
        Ok(hex::encode(subnet_operator::keys::ss58_decode(&ss58)?))
    };
    let (ours0, ours1) = (hotkey_hex(0)?, hotkey_hex(1)?);
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(w.client.clone(), &w.ns);
    wait_until(Duration::from_secs(60), || async {
        Ok(pods.get_opt("m-0-0").await?.is_some())
    })
    .await?;
    let pod_uid = pods.get("m-0-0").await?.metadata.uid;

    // Ten other miners fill the subnet; past immunity, replica 0 has the lowest emission.
    let other_hex = hex::encode(other.public());
    let post = |path: &'static str, body: serde_json::Value| {
        let addr = w.chain.addr.clone();
        async move { e2e::http_post_json(&addr, path, &body).await }
    };
    let mut others = vec![];
    for _ in 0..10 {
        let hk = hex::encode(Hotkey::generate()?.public());
        post(
            "/admin/register-other",
            serde_json::json!({"netuid": 1, "hotkey": hk, "coldkey": other_hex}),
        )
        .await?;
        others.push(hk);
    }
    w.chain.advance(6).await?;
    for hk in &others {
        post(
            "/admin/performance",
            serde_json::json!({"netuid": 1, "hotkey": hk, "emission": 1000, "incentive": 0.1}),
        )
        .await?;
    }
    post(
        "/admin/performance",
        serde_json::json!({"netuid": 1, "hotkey": ours0, "emission": 0, "incentive": 0.0}),
    )
    .await?;
    post(
        "/admin/performance",
        serde_json::json!({"netuid": 1, "hotkey": ours1, "emission": 5000, "incentive": 0.5}),
    )
    .await?;
    // Before anyone registers, status says who goes next: replica 0, by the next registration.
    w.chain.advance(FINALITY_LAG).await?;
    wait_until(Duration::from_secs(30), || async {
        Ok(status_reason(&miners, "m", "AtRisk").await?
            == Some(("True".into(), "NextToBePruned".into())))
    })
    .await?;
    let s = miners.get("m").await?.status.unwrap_or_default();
    let r0 = s
        .replica_statuses
        .iter()
        .find(|r| r.index == 0)
        .context("replica 0")?;
    assert_eq!(
        (r0.prune_rank, r0.registrations_until_pruned),
        (Some(0), Some(1))
    );
    assert_eq!(
        r0.diagnosis.as_ref().map(|d| d.reason),
        Some(subnet_operator::crd::fleet::DiagnosisReason::NextToBePruned)
    );
    assert_eq!(r0.immune_blocks_left, Some(0));
    // A newcomer registers into the full subnet: replica 0's UID is pruned.
    let newcomer = hex::encode(Hotkey::generate()?.public());
    post(
        "/admin/register-other",
        serde_json::json!({"netuid": 1, "hotkey": newcomer, "coldkey": other_hex}),
    )
    .await?;
    // The operator reads the subnet at the finalized block: the pruning shows once the blocks
    // after it come (blocks come only when asked here).
    w.chain.advance(FINALITY_LAG).await?;
    let pruned_at = Instant::now();
    wait_until(Duration::from_secs(30), || async {
        Ok(status_reason(&miners, "m", "Deregistered").await?
            == Some(("True".into(), "UidLost".into())))
    })
    .await?;
    eprintln!("deregistration noticed after {:?}", pruned_at.elapsed());
    assert_eq!(registered(&miners).await?.0, 1);
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(w.client.clone(), &w.ns);
    wait_until(Duration::from_secs(30), || async {
        Ok(events
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("Deregistered")
                    && e.message
                        .as_deref()
                        .unwrap_or_default()
                        .contains("replica 0")
                    && e.message
                        .as_deref()
                        .unwrap_or_default()
                        .contains("its pod was restarted")
            }))
    })
    .await?;
    // Its pod was restarted (the chain wiped its axon).
    wait_until(Duration::from_secs(120), || async {
        Ok(pods
            .get_opt("m-0-0")
            .await?
            .is_some_and(|p| p.metadata.uid != pod_uid))
    })
    .await
    .with_context(|| format!("pod restarted after deregistration (old pod uid {pod_uid:?})"))?;
    // reRegister: Never — nothing is spent again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(ours().await?, 2, "re-registered under reRegister: Never");
    assert_eq!(
        diagnosis_of(&miners, "m", 0).await?,
        Some(subnet_operator::crd::fleet::DiagnosisReason::NotRegistered)
    );

    // reRegister: Always — it registers again.
    miners
        .patch(
            "m",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                serde_json::json!({"spec": {"registration": {"reRegister": "Always"}}}),
            ),
        )
        .await?;
    wait_until(Duration::from_secs(60), || async {
        Ok(registered(&miners).await?.0 == 2)
    })
    .await?;
    assert_eq!(ours().await?, 3);
    wait_until(Duration::from_secs(30), || async {
        Ok(status_reason(&miners, "m", "Deregistered")
            .await?
            .is_some_and(|(s, _)| s == "False"))
    })
    .await?;
    // Registered again (immune, and the subnet's floor of non-immune UIDs keeps the rest):
    // no longer within one registration of pruning.
    w.chain.advance(FINALITY_LAG).await?;
    wait_until(Duration::from_secs(30), || async {
        Ok(status_reason(&miners, "m", "AtRisk").await? == Some(("False".into(), "Safe".into())))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn validators_report_permits_and_stale_weights_and_restart_with_backoff() -> Result<()> {
    let Some(w) = world("vali", "0.1", "").await? else {
        return Ok(());
    };
    let _op = w.operator("op-vali")?;
    let signer = w.coldkey_signer().await?;
    let mut validators = None;
    for (name, weights) in [
        (
            "v",
            "{maxStaleTempos: 1, restartAfterStaleTempos: 2, maxRestarts: 2, restartWindow: 24h}",
        ),
        ("quiet", "{maxStaleTempos: 1}"),
    ] {
        let burn = "{mode: Burn, maxPriceTao: \"10\"}";
        validators = Some(
            e2e::fixtures::validator(&w.client, &w.ns, name, &w.coldkey, &signer, burn, weights)
                .await?,
        );
    }
    let validators = validators.context("no Validator created")?;
    let hotkey = |name: &'static str| {
        let validators = validators.clone();
        async move {
            let s = validators.get(name).await?.status.unwrap_or_default();
            let r = s.replica_statuses.first().cloned().unwrap_or_default();
            anyhow::Ok((
                r.registered,
                r.hotkey
                    .map(|h| subnet_operator::keys::ss58_decode(&h).map(hex::encode))
                    .transpose()?,
            ))
        }
    };
    wait_until(Duration::from_secs(60), || async {
        Ok(hotkey("v").await?.0 && hotkey("quiet").await?.0)
    })
    .await?;
    let hk_v = hotkey("v").await?.1.context("hotkey of v")?;
    let hk_q = hotkey("quiet").await?.1.context("hotkey of quiet")?;
    let cond = |name: &'static str, type_: &'static str| {
        let validators = validators.clone();
        async move {
            anyhow::Ok(validators.get(name).await?.status.and_then(|s| {
                s.conditions
                    .into_iter()
                    .find(|c| c.type_ == type_)
                    .map(|c| (c.status, c.reason))
            }))
        }
    };
    let post = |path: &'static str, hk: String, rao: u64| {
        let addr = w.chain.addr.clone();
        async move {
            e2e::http_post_json(
                &addr,
                path,
                &serde_json::json!({"netuid": 1, "hotkey": hk, "rao": rao}),
            )
            .await
        }
    };

    // Stake earns v a permit at the next epoch; quiet has none.
    post("/admin/stake", hk_v.clone(), 1_000_000_000).await?;
    w.chain.advance(10).await?; // an epoch passes: permits are assigned
    post("/admin/weights", hk_v.clone(), 0).await?;
    post("/admin/weights", hk_q.clone(), 0).await?;
    // Seen at the finalized block: the blocks after them have to come. From here on, the
    // finalized view goes through the same blocks a chain without lag would have shown.
    w.chain.advance(FINALITY_LAG).await?;
    wait_until(Duration::from_secs(30), || async {
        Ok(
            cond("v", "Permitted").await? == Some(("True".into(), "Permitted".into()))
                && cond("quiet", "Permitted").await? == Some(("False".into(), "NoStake".into()))
                && cond("v", "WeightsFresh").await? == Some(("True".into(), "WeightsFresh".into())),
        )
    })
    .await
    .context("permits")?;

    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(w.client.clone(), &w.ns);
    let mut uids: PodUids = Default::default();
    // Registered and permitted says nothing of the pods: under load they may not run yet. The
    // first pods must be seen, or a restart's new pod would be counted as the first.
    wait_until(Duration::from_secs(60), || async {
        for pod in ["v-0-0", "quiet-0-0"] {
            if pods
                .get_opt(pod)
                .await?
                .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
            {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await
    .context("the first pods")?;
    sample(&pods, &mut uids).await?;
    assert_eq!(uids.get("v").map(|u| u.len()), Some(1), "v's first pod");
    // Weights stop: after one tempo (10 blocks) both are stale.
    w.chain.advance(12).await?;
    wait_until(Duration::from_secs(30), || async {
        Ok(
            cond("v", "WeightsFresh").await? == Some(("False".into(), "WeightsStale".into()))
                && cond("quiet", "WeightsFresh")
                    .await?
                    .is_some_and(|(s, _)| s == "False"),
        )
    })
    .await
    .context("stale")?;
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(w.client.clone(), &w.ns);
    wait_until(Duration::from_secs(30), || async {
        Ok(events
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("WeightsStale")
                    && e.involved_object.name.as_deref() == Some("v")
            }))
    })
    .await?;
    // Two tempos stale: v is restarted once; then again only after two more tempos; then the cap.
    let restarts = |name: &'static str| {
        let validators = validators.clone();
        async move {
            anyhow::Ok(
                validators
                    .get(name)
                    .await?
                    .status
                    .and_then(|s| s.replica_statuses.first().map(|r| r.weights_restarts.len()))
                    .unwrap_or(0),
            )
        }
    };
    let mut before = 0;
    for (advance, want) in [(10u64, 1usize), (5, 1), (15, 2), (30, 2), (30, 2)] {
        w.chain.advance(advance).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        wait_until(Duration::from_secs(30), || async {
            Ok(restarts("v").await? == want)
        })
        .await
        .with_context(|| format!("{want} restart(s) after advancing {advance}"))?;
        // A restart shows as a new pod, not the old one on its way out.
        let seen = uids.get("v").cloned().unwrap_or_default();
        wait_until(Duration::from_secs(60), || async {
            Ok(pods.get_opt("v-0-0").await?.is_some_and(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && (want == before || !seen.contains(p.metadata.uid.as_deref().unwrap_or("")))
            }))
        })
        .await
        .with_context(|| format!("a new pod for restart {want}"))?;
        before = want;
        sample(&pods, &mut uids).await?;
    }
    assert_eq!(
        uids.get("v").map(|u| u.len()),
        Some(3),
        "v: the first pod and two restarts"
    );
    assert_eq!(
        uids.get("quiet").map(|u| u.len()),
        Some(1),
        "quiet has no restart policy"
    );
    assert_eq!(restarts("quiet").await?, 0);
    Ok(())
}

/// Counts of a simulated chain's transactions (`/admin/txs`): included and succeeded, included
/// but failed (by error), refused before inclusion (by error).
fn tx_summary(txs: &[serde_json::Value]) -> String {
    let mut ok = 0;
    let mut failed = std::collections::BTreeMap::<String, usize>::new();
    let mut refused = std::collections::BTreeMap::<String, usize>::new();
    for t in txs {
        let error = t["error"].as_str().map(str::to_string);
        match (t["included"].as_bool(), error) {
            (Some(true), None) => ok += 1,
            (Some(true), Some(e)) => *failed.entry(e).or_default() += 1,
            (_, e) => *refused.entry(e.unwrap_or_default()).or_default() += 1,
        }
    }
    format!("{ok} included and succeeded; failed: {failed:?}; refused: {refused:?}")
}

#[tokio::test]
async fn twenty_registrations_from_one_coldkey_with_finality_lag_reuse_no_nonce() -> Result<()> {
    // Blocks come only with transactions: the finalized block trails the operator's own last
    // FINALITY_LAG registrations, so a nonce, a snapshot or an era read at the wrong block is
    // wrong at every send (and a wait for an era to end never ends).
    let Some(w) = world("lag", "0.1", "").await? else {
        return Ok(());
    };
    let started = Instant::now();
    let _op = w.operator("op-lag")?;
    let signer = w.coldkey_signer().await?;
    // 0.1 · 1.26^19 ≈ 8.1 TAO for the last one: all 20 fit under 10 TAO (about 39 TAO in all,
    // of the coldkey's 1000).
    let miners = w
        .miner(20, &signer, "{mode: Burn, maxPriceTao: \"10\"}")
        .await?;
    // Watch status while it works: every intent (its hash) and every reason it gave.
    let mut hashes = std::collections::BTreeSet::new();
    let mut reasons = std::collections::BTreeSet::new();
    let deadline = started + Duration::from_secs(120);
    loop {
        let status = miners.get("m").await?.status.unwrap_or_default();
        for r in &status.replica_statuses {
            if let Some(p) = &r.pending_registration {
                hashes.insert(p.tx_hash.clone());
            }
            if let Some(h) = r.last_registration.as_ref().and_then(|l| l.tx_hash.clone()) {
                hashes.insert(h);
            }
        }
        for c in &status.conditions {
            reasons.insert(format!("{}={}/{}", c.type_, c.status, c.reason));
        }
        let done = status.registered_replicas == 20
            && status.conditions.iter().any(|c| {
                c.type_ == "Registered" && c.status == "True" && c.reason == "AllRegistered"
            });
        if done {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{} of 20 registered after {:?}; reasons seen: {reasons:?}; transactions: {}",
                status.registered_replicas,
                started.elapsed(),
                tx_summary(&w.chain.txs().await?)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    let txs = w.chain.txs().await?;
    eprintln!(
        "20 registered in {elapsed:?}; transactions: {}",
        tx_summary(&txs)
    );

    // One transaction per replica, nonces 0..20 each used once, nothing refused or failed.
    let cold = hex::encode(w.coldkey.public());
    assert!(
        txs.iter().all(|t| t["signer"] == cold.as_str()),
        "only the coldkey signs: {txs:?}"
    );
    let refused: Vec<_> = txs.iter().filter(|t| t["included"] != true).collect();
    assert!(
        refused.is_empty(),
        "transactions refused (a reused or future nonce, an ended era): {refused:?}"
    );
    let failed: Vec<_> = txs.iter().filter(|t| !t["error"].is_null()).collect();
    assert!(failed.is_empty(), "registrations failed: {failed:?}");
    let mut nonces: Vec<u64> = txs.iter().filter_map(|t| t["nonce"].as_u64()).collect();
    nonces.sort_unstable();
    assert_eq!(nonces, (0..20).collect::<Vec<u64>>(), "nonces used");
    let status = miners.get("m").await?.status.unwrap_or_default();
    let ours: std::collections::BTreeSet<String> = status
        .replica_statuses
        .iter()
        .filter_map(|r| r.hotkey.as_deref())
        .map(|h| subnet_operator::keys::ss58_decode(h).map(hex::encode))
        .collect::<Result<_, _>>()?;
    let named: std::collections::BTreeSet<String> = txs
        .iter()
        .filter_map(|t| t["hotkey"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ours.len(), 20);
    assert_eq!(named, ours, "every replica registered exactly once");
    // Every intent the operator wrote was included: none was dropped after its era ended.
    let included: std::collections::BTreeSet<String> = txs
        .iter()
        .filter_map(|t| t["hash"].as_str().map(str::to_string))
        .collect();
    assert_eq!(hashes, included, "intents written vs transactions included");
    for bad in ["RegistrationFailed", "SubmitFailed", "UidLost"] {
        assert!(
            !reasons.iter().any(|r| r.ends_with(&format!("/{bad}"))),
            "{bad} seen: {reasons:?}"
        );
    }
    // Paid once per replica, and status says what the chain charged.
    let burns = w.chain.burns().await?;
    assert_eq!(burns.len(), 20);
    assert!(burns.iter().all(|(payer, _)| *payer == cold));
    let charged: u64 = burns.iter().map(|(_, b)| b).sum();
    let (n, spend, prices) = registered(&miners).await?;
    assert_eq!(
        (n, spend, prices.iter().sum::<u64>()),
        (20, charged, charged)
    );
    // One block per registration: well under one era (ERA_BLOCKS = 32), let alone 20; and the
    // finalized snapshot still trails the status by the lag.
    let (_, head) = e2e::http_get(&w.chain.addr, "/chain/head").await?;
    let head: serde_json::Value = serde_json::from_str(&head)?;
    assert_eq!(
        (
            head["Ok"]["best"].as_u64(),
            head["Ok"]["finalized"].as_u64()
        ),
        (Some(20), Some(20 - FINALITY_LAG)),
        "{head}"
    );
    let neurons = |snap: &serde_json::Value| snap["neurons"].as_array().map(Vec::len);
    assert_eq!(neurons(&w.chain.subnet(1).await?), Some(17));
    assert!(
        elapsed < Duration::from_secs(90),
        "20 registrations took {elapsed:?}"
    );

    // Finality catches up: all 20 on chain, and the lagging snapshots never made a replica
    // look deregistered.
    w.chain.advance(FINALITY_LAG).await?;
    assert_eq!(neurons(&w.chain.subnet(1).await?), Some(20));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(registered(&miners).await?.0, 20);
    assert_ne!(
        status_reason(&miners, "m", "Deregistered")
            .await?
            .map(|(s, _)| s),
        Some("True".into())
    );
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(w.client.clone(), &w.ns);
    let warnings: Vec<String> = events
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|e| {
            matches!(
                e.reason.as_deref(),
                Some("RegistrationFailed" | "SubmitFailed" | "Deregistered" | "UidLost")
            )
        })
        .map(|e| format!("{:?}: {:?}", e.reason, e.message))
        .collect();
    assert!(warnings.is_empty(), "{warnings:?}");
    Ok(())
}

type PodUids = std::collections::BTreeMap<&'static str, std::collections::BTreeSet<String>>;

/// Records the UIDs of the validators' pods (a new UID is a restart).
async fn sample(pods: &Api<k8s_openapi::api::core::v1::Pod>, uids: &mut PodUids) -> Result<()> {
    for (name, pod) in [("v", "v-0-0"), ("quiet", "quiet-0-0")] {
        if let Some(p) = pods
            .get_opt(pod)
            .await?
            .filter(|p| p.metadata.deletion_timestamp.is_none())
        {
            uids.entry(name)
                .or_default()
                .insert(p.metadata.uid.unwrap_or_default());
        }
    }
    Ok(())
}

/// The diagnosis of one replica of fleet `name`, if status has one.
async fn diagnosis_of(
    api: &Api<Miner>,
    name: &str,
    index: u32,
) -> Result<Option<subnet_operator::crd::fleet::DiagnosisReason>> {
    let s = api.get(name).await?.status.unwrap_or_default();
    Ok(s.replica_statuses
        .iter()
        .find(|r| r.index == index)
        .and_then(|r| r.diagnosis.as_ref().map(|d| d.reason)))
}

/// Waits up to 30 s for the diagnoses of Miner `m`'s replicas 0.. to be `want`; the last seen
/// in the error otherwise.
async fn wait_for_reasons(
    api: &Api<Miner>,
    want: &[subnet_operator::crd::fleet::DiagnosisReason],
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut seen = vec![];
        for i in 0..want.len() {
            seen.push(diagnosis_of(api, "m", u32::try_from(i)?).await?);
        }
        if seen.iter().zip(want).all(|(s, w)| *s == Some(*w)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("diagnoses {seen:?}, not {want:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn each_replica_is_diagnosed_and_the_earning_condition_follows() -> Result<()> {
    use subnet_operator::crd::fleet::DiagnosisReason as D;
    let Some(w) = world_subnet(
        "diag",
        "{netuid: 1, burnTao: \"0.1\", burnHalfLife: 360, maxUids: 32, immunityPeriod: 200, tempo: 10}",
        Hotkey::generate()?,
        "",
    )
    .await?
    else {
        return Ok(());
    };
    let op = w.operator("op-diag")?;
    let signer = w.coldkey_signer().await?;
    let miners = w
        .miner(4, &signer, "{mode: Burn, maxPriceTao: \"10\"}")
        .await?;
    // A second fleet whose pod can never be scheduled (64 GPUs): registered, never ready.
    e2e::fixtures::FleetYaml {
        name: "g",
        coldkey: &w.coldkey,
        replicas: 1,
        signer: &signer,
        registration: "{mode: Burn, maxPriceTao: \"10\"}",
        extra: "  gpu: {count: 64}\n",
    }
    .create::<Miner>(&w.client, &w.ns)
    .await?;
    // Registered, pods ready and exposed, no axon served yet: AxonNotServed.
    let status = || async { anyhow::Ok(miners.get("m").await?.status.unwrap_or_default()) };
    wait_until(Duration::from_secs(120), || async {
        let s = status().await?;
        Ok(s.replica_statuses.len() == 4
            && s.replica_statuses.iter().all(|r| {
                r.diagnosis.as_ref().map(|d| d.reason) == Some(D::AxonNotServed)
                    && r.axon_exposed.is_some()
            }))
    })
    .await
    .with_context(|| "AxonNotServed for all four")?;
    wait_until(Duration::from_secs(60), || async {
        Ok(diagnosis_of(&miners, "g", 0).await? == Some(D::PodNotReady))
    })
    .await?;
    assert_eq!(
        status_reason(&miners, "m", "Earning").await?,
        Some(("False".into(), "AxonNotServed".into()))
    );

    // The programs serve their axons: replicas 0, 2, 3 where they were exposed, replica 1 on
    // another port. Replica 2 earns at once; the others are still immune.
    let s = status().await?;
    let hotkey_hex = |i: u32| -> Result<String> {
        let r = s
            .replica_statuses
            .iter()
            .find(|r| r.index == i)
            .context("replica")?;
        Ok(hex::encode(subnet_operator::keys::ss58_decode(
            r.hotkey.as_deref().context("hotkey")?,
        )?))
    };
    let post = |path: &'static str, body: serde_json::Value| {
        let addr = w.chain.addr.clone();
        async move { e2e::http_post_json(&addr, path, &body).await }
    };
    for r in &s.replica_statuses {
        let exposed = r.axon_exposed.clone().context("exposed")?;
        let port = if r.index == 1 {
            exposed.port.wrapping_add(1)
        } else {
            exposed.port
        };
        post(
            "/admin/axon",
            serde_json::json!({"netuid": 1, "hotkey": hotkey_hex(r.index)?, "ip": exposed.ip, "port": port}),
        )
        .await?;
    }
    post(
        "/admin/performance",
        serde_json::json!({"netuid": 1, "hotkey": hotkey_hex(2)?, "emission": 1000, "incentive": 0.25}),
    )
    .await?;
    // Performance changes the best block's state; the operator reads the finalized one.
    w.chain.advance(FINALITY_LAG + 1).await?;
    wait_for_reasons(
        &miners,
        &[D::Immune, D::AxonMismatch, D::Earning, D::Immune],
    )
    .await?;
    let s = status().await?;
    let r0 = s
        .replica_statuses
        .iter()
        .find(|r| r.index == 0)
        .context("0")?;
    assert!(r0.immune_blocks_left.is_some_and(|b| b > 0), "{r0:?}");
    // Where the immunity counts from: the chain's registration block, in status too.
    assert_eq!(
        r0.registered_at_block
            .zip(r0.immune_until_block)
            .map(|(a, u)| u - a),
        Some(200),
        "{r0:?}"
    );
    // Immunity runs out: replicas 0 and 3 earn nothing (NoIncentive).
    w.chain.advance(200).await?;
    w.chain.advance(FINALITY_LAG).await?;
    wait_for_reasons(
        &miners,
        &[D::NoIncentive, D::AxonMismatch, D::Earning, D::NoIncentive],
    )
    .await?;
    assert_eq!(
        status_reason(&miners, "m", "Earning").await?,
        Some(("False".into(), "AxonMismatch".into()))
    );
    // The metric carries the same reasons, one series per replica.
    let ns = w.ns.clone();
    let series = |replica: &'static str, reason: &'static str| {
        let (ns, op) = (ns.clone(), &op);
        async move {
            op.metric(
                "subnet_operator_replica_diagnosis",
                &[
                    &format!(r#"namespace="{ns}""#),
                    r#"name="m""#,
                    &format!(r#"replica="{replica}""#),
                    &format!(r#"reason="{reason}""#),
                ],
            )
            .await
        }
    };
    wait_until(Duration::from_secs(30), || async {
        Ok(series("0", "NoIncentive").await? == 1.0 && series("0", "Immune").await? == 0.0)
    })
    .await?;
    // Fixed: replica 1 serves where it was exposed, 0 and 3 are given weight. All earn.
    post(
        "/admin/axon",
        serde_json::json!({"netuid": 1, "hotkey": hotkey_hex(1)?, "ip": s.replica_statuses[1].axon_exposed.as_ref().map(|a| a.ip.clone()), "port": s.replica_statuses[1].axon_exposed.as_ref().map(|a| a.port)}),
    )
    .await?;
    for i in [0, 1, 3] {
        post(
            "/admin/performance",
            serde_json::json!({"netuid": 1, "hotkey": hotkey_hex(i)?, "emission": 500, "incentive": 0.1}),
        )
        .await?;
    }
    w.chain.advance(FINALITY_LAG + 1).await?;
    wait_until(Duration::from_secs(30), || async {
        Ok(status_reason(&miners, "m", "Earning").await?
            == Some(("True".into(), "AllEarning".into())))
    })
    .await?;
    // The transition to earning was announced, as a Normal event.
    let e = e2e::fixtures::wait_for_event(
        &w.client,
        &w.ns,
        "AllEarning",
        Some("m"),
        Duration::from_secs(30),
    )
    .await?;
    assert_eq!(e.type_.as_deref(), Some("Normal"));
    Ok(())
}
