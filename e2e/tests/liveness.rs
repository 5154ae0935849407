//! Liveness under load: 50 fleets on one Subnet whose status changes every block, plus one fleet
//! whose children the API server refuses. A Subnet's per-block numbers must not wake every fleet
//! (a newly applied Miner then waited minutes for its first reconcile), and a failing fleet backs
//! off whatever wakes it, reporting its failure once.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use e2e::{OperatorProcess, SimChainProcess, TempNamespace, client, install_crds, wait_until};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use subnet_operator::crd::{Miner, Subnet};

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const FLEETS: usize = 50;

fn miner(name: &str, extra: &str) -> Result<Miner> {
    Ok(serde_yaml::from_str(&format!(
        "apiVersion: subnet-operator.io/v1alpha1\nkind: Miner\nmetadata: {{name: {name}}}\nspec:\n  subnetRef: {{name: sn}}\n  replicas: 1\n  wallet: {{coldkeyPub: {{ss58: {ALICE}}}}}\n  template:\n    image: \"miner:1\"\n{extra}"
    ))?)
}

async fn reconciled(miners: &Api<Miner>, name: &str) -> Result<bool> {
    Ok(miners
        .get_opt(name)
        .await?
        .and_then(|m| m.status)
        .is_some_and(|s| s.observed_generation.is_some()))
}

#[tokio::test]
async fn fifty_fleets_on_a_busy_subnet_leave_room_for_a_new_one_and_a_failing_one_backs_off()
-> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "live").await?;
    // A block every 300 ms; the burn decays every block, so the Subnet's status changes with it.
    let chain = SimChainProcess::start_with(
        "subnets:\n  - {netuid: 1, burnTao: \"1\", burnHalfLife: 50, maxBurnTao: \"100\", tempo: 10}\n",
        300,
    )
    .await?;
    let op = OperatorProcess::start(
        &ns.name,
        "op-live",
        &[
            ("CHAIN_BACKEND", "sim"),
            ("SIM_CHAIN_URL", &chain.url()),
            ("CHAIN_POLL_MS", "100"),
        ],
    )?;
    let subnets: Api<Subnet> = Api::namespaced(client.clone(), &ns.name);
    e2e::fixtures::subnet(
        &client,
        &ns.name,
        "{network: \"ws://simulated:9944\", netuid: 1}",
    )
    .await?;
    let price = || async {
        anyhow::Ok(
            subnets
                .get("sn")
                .await?
                .status
                .and_then(|s| s.registration_price_rao),
        )
    };
    wait_until(Duration::from_secs(30), || async {
        Ok(price().await?.is_some())
    })
    .await?;
    let first = price().await?;
    wait_until(Duration::from_secs(30), || async {
        Ok(price().await? != first)
    })
    .await
    .context("the Subnet's status follows the chain's blocks")?;

    let miners: Api<Miner> = Api::namespaced(client.clone(), &ns.name);
    for i in 0..FLEETS {
        miners
            .create(&PostParams::default(), &miner(&format!("f-{i}"), "")?)
            .await?;
    }
    // Admission lets tolerations through as free-form objects; the API server refuses the
    // StatefulSet: the apply fails every time.
    miners
        .create(
            &PostParams::default(),
            &miner(
                "broken",
                "    tolerations: [{key: a, operator: Bogus, effect: NoSchedule}]\n",
            )?,
        )
        .await?;
    let t0 = Instant::now();
    wait_until(Duration::from_secs(300), || async {
        for i in 0..FLEETS {
            if !reconciled(&miners, &format!("f-{i}")).await? {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await
    .context("every fleet reconciled once")?;
    println!(
        "{FLEETS} fleets reconciled in {:.1}s",
        t0.elapsed().as_secs_f64()
    );

    // The newcomer, while the Subnet keeps changing every block.
    let t1 = Instant::now();
    miners
        .create(&PostParams::default(), &miner("newcomer", "")?)
        .await?;
    wait_until(Duration::from_secs(120), || async {
        reconciled(&miners, "newcomer").await
    })
    .await?;
    let first_reconcile = t1.elapsed();
    println!(
        "with {FLEETS} fleets on one busy Subnet, a new Miner's first reconcile came after {:.2}s",
        first_reconcile.as_secs_f64()
    );
    assert!(
        first_reconcile < Duration::from_secs(20),
        "a new Miner waited {first_reconcile:?} for its first reconcile"
    );

    // The failing fleet: one Degraded condition naming the step and the API server's message.
    wait_until(Duration::from_secs(60), || async {
        Ok(miners.get("broken").await?.status.is_some_and(|s| {
            s.conditions.iter().any(|c| {
                c.type_ == "Degraded"
                    && c.status == "True"
                    && c.reason == "ApplyChild"
                    && c.message.contains("Unsupported value")
            })
        }))
    })
    .await
    .context("the failing fleet reports its failure in a condition")?;

    // Steady state first: every healthy fleet's pod is ready (a fleet writes its status as its
    // pod is scheduled, starts and becomes ready; those writes are not the subject here).
    let ready = |name: String| {
        let miners = miners.clone();
        async move {
            // Pods ready; the fleets are not registered (Manual), so Ready stays False.
            anyhow::Ok(
                miners
                    .get(&name)
                    .await?
                    .status
                    .is_some_and(|s| s.ready_replicas == 1),
            )
        }
    };
    wait_until(Duration::from_secs(300), || async {
        for name in (0..FLEETS)
            .map(|i| format!("f-{i}"))
            .chain(["newcomer".to_string()])
        {
            if !ready(name).await? {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await
    .context("every healthy fleet ready")?;
    tokio::time::sleep(Duration::from_secs(5)).await;

    // A minute of steady state: the failing fleet backs off (5 s, 10 s, 20 s, 40 s: at most
    // four failures), the healthy fleets are not woken by the Subnet's blocks, and nothing is
    // announced twice.
    let errors = || {
        op.metric(
            "subnet_operator_reconcile_errors_total",
            &["kind=\"Miner\""],
        )
    };
    let reconciles = || op.metric("subnet_operator_reconciles_total", &["kind=\"Miner\""]);
    let writes = || op.metric("subnet_operator_kube_writes_total", &["kind=\"Miner\""]);
    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let warnings = || async {
        let list = events
            .list(&ListParams::default().fields("involvedObject.name=broken"))
            .await?;
        anyhow::Ok(
            list.items
                .iter()
                .filter(|e| e.type_.as_deref() == Some("Warning"))
                .map(|e| e.count.unwrap_or(1).max(1))
                .sum::<i32>(),
        )
    };
    let (e0, r0, w0, ev0) = (
        errors().await?,
        reconciles().await?,
        writes().await?,
        warnings().await?,
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    let (e1, r1, w1, ev1) = (
        errors().await?,
        reconciles().await?,
        writes().await?,
        warnings().await?,
    );
    let fleets = (FLEETS + 2) as f64;
    println!(
        "over 60 s: {} failed reconciles of the broken fleet, {} reconciles and {} writes across {} fleets, {} new warnings",
        e1 - e0,
        r1 - r0,
        w1 - w0,
        FLEETS + 2,
        ev1 - ev0
    );
    assert!(
        e1 - e0 <= 4.0,
        "the failing fleet failed {} times in 60 s",
        e1 - e0
    );
    assert!(
        r1 - r0 <= 2.0 * fleets,
        "{} reconciles of {fleets} fleets in 60 s: woken by the Subnet's blocks",
        r1 - r0
    );
    assert!(w1 - w0 <= 3.0 * fleets, "{} writes in 60 s", w1 - w0);
    assert_eq!(ev1, ev0, "the failure was announced again");
    Ok(())
}
