//! The operator binary against the local control plane: references resolved into conditions
//! and events, the scale subresource, steady state without writes, leader election, health and
//! metrics endpoints, graceful shutdown.

use e2e::fixtures::ready_reason;
use std::time::Duration;

use anyhow::Result;
use e2e::{OperatorProcess, TempNamespace, client, install_crds, kubectl, wait_until};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use subnet_operator::crd::{Miner, Subnet};

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

fn miner() -> Result<Miner> {
    Ok(serde_yaml::from_str(
        r#"
apiVersion: subnet-operator.io/v1alpha1
kind: Miner
metadata: {name: m}
spec:
  subnetRef: {name: sn}
  replicas: 2
  wallet: {coldkeyPub: {secretRef: {name: cold}}}
  template: {image: "miner:1"}
  gpu: {count: 1}
"#,
    )?)
}

async fn wait_reason(api: &Api<Miner>, name: &str, reason: &str) -> Result<()> {
    wait_until(Duration::from_secs(60), || async {
        Ok(ready_reason(api, name)
            .await?
            .is_some_and(|(r, _)| r == reason))
    })
    .await
    .map_err(|e| anyhow::anyhow!("waiting for Ready reason {reason}: {e:#}"))
}

async fn metric(op: &OperatorProcess, name: &str) -> Result<f64> {
    let (_, body) = op.get("/metrics").await?;
    Ok(body
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

#[tokio::test]
async fn operator_resolves_references_into_conditions_and_events() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "op").await?;
    let op = OperatorProcess::start(&ns.name, "op-a", &[])?;
    wait_until(Duration::from_secs(60), || async {
        Ok(op.get("/readyz").await.is_ok_and(|(c, _)| c == 200))
    })
    .await?;
    assert_eq!(op.get("/healthz").await?.0, 200);

    let miners: Api<Miner> = Api::namespaced(client.clone(), &ns.name);
    let created = miners.create(&PostParams::default(), &miner()?).await?;

    // No Subnet yet.
    wait_reason(&miners, "m", "SubnetNotFound").await?;
    let m = miners.get("m").await?;
    let st = m.status.clone().unwrap_or_default();
    assert_eq!(st.observed_generation, created.metadata.generation);
    assert_eq!(st.gpus, 2);
    assert_eq!(
        st.selector.as_deref(),
        Some("app.kubernetes.io/instance=m,app.kubernetes.io/component=miner")
    );
    let e = e2e::fixtures::wait_for_event(
        &client,
        &ns.name,
        "SubnetNotFound",
        Some("m"),
        Duration::from_secs(30),
    )
    .await?;
    assert_eq!(e.type_.as_deref(), Some("Warning"));

    // The Subnet appears: the Miner is reconciled at once (it watches Subnets) and now lacks
    // its Secret.
    let subnets: Api<Subnet> = Api::namespaced(client.clone(), &ns.name);
    subnets
        .create(
            &PostParams::default(),
            &serde_yaml::from_str(
                "{apiVersion: subnet-operator.io/v1alpha1, kind: Subnet, metadata: {name: sn}, spec: {network: finney, netuid: 7}}",
            )?,
        )
        .await?;
    wait_reason(&miners, "m", "SecretNotFound").await?;
    let (_, msg) = ready_reason(&miners, "m").await?.unwrap_or_default();
    assert!(
        msg.contains("Secret cold (wallet.coldkeyPub) not found"),
        "{msg}"
    );
    wait_until(Duration::from_secs(30), || async {
        let s = subnets.get("sn").await?;
        Ok(s.status.is_some_and(|s| {
            s.netuid == Some(7)
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.reason == "ChainNotConnected")
        }))
    })
    .await?;

    // A Secret that is not a coldkeypub.txt is reported as such; the right one resolves.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    let secret = |content: &str| -> Result<Secret> {
        Ok(serde_json::from_value(serde_json::json!({
            "metadata": {"name": "cold"},
            "stringData": {"coldkeypub.txt": content},
        }))?)
    };
    secrets
        .create(&PostParams::default(), &secret("garbage")?)
        .await?;
    wait_reason(&miners, "m", "InvalidColdkeyPub").await?;
    let good = format!(
        r#"{{"accountId":"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d","publicKey":"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d","ss58Address":"{ALICE}","cryptoType":1}}"#
    );
    secrets
        .patch(
            "cold",
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(&secret(&good)?),
        )
        .await?;
    wait_reason(&miners, "m", "AllReplicasReady").await?;

    // kubectl scale goes through the scale subresource.
    let out = kubectl(&["-n", &ns.name, "scale", "miner/m", "--replicas=3"])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(Duration::from_secs(60), || async {
        Ok(miners
            .get("m")
            .await?
            .status
            .is_some_and(|s| s.gpus == 3 && s.ready_replicas == 3 && s.replicas == 3))
    })
    .await?;
    wait_reason(&miners, "m", "AllReplicasReady").await?;

    // Steady state: a reconcile with nothing changed writes nothing.
    let writes = metric(&op, "subnet_operator_kube_writes_total").await?;
    let runs = metric(&op, "subnet_operator_reconciles_total{kind=\"Miner\"}").await?;
    miners
        .patch(
            "m",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"annotations": {"touch": "1"}}})),
        )
        .await?;
    wait_until(Duration::from_secs(30), || async {
        Ok(metric(&op, "subnet_operator_reconciles_total{kind=\"Miner\"}").await? > runs)
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        metric(&op, "subnet_operator_kube_writes_total").await?,
        writes,
        "a reconcile with nothing changed wrote to the API"
    );
    Ok(())
}

#[tokio::test]
async fn one_leader_at_a_time_and_a_clean_handover() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "lease").await?;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns.name);
    let holder = || async {
        Ok::<_, anyhow::Error>(
            leases
                .get_opt("subnet-operator-leader")
                .await?
                .and_then(|l| l.spec)
                .and_then(|s| s.holder_identity),
        )
    };

    let mut a = OperatorProcess::start(&ns.name, "op-a", &[])?;
    wait_until(Duration::from_secs(60), || async {
        Ok(holder().await?.as_deref() == Some("op-a"))
    })
    .await?;
    let b = OperatorProcess::start(&ns.name, "op-b", &[])?;
    wait_until(Duration::from_secs(30), || async {
        Ok(b.get("/readyz").await.is_ok_and(|(c, _)| c == 200))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(metric(&a, "subnet_operator_leader").await?, 1.0);
    assert_eq!(
        metric(&b, "subnet_operator_leader").await?,
        0.0,
        "two leaders"
    );
    assert_eq!(holder().await?.as_deref(), Some("op-a"));

    // SIGTERM: a clean exit that releases the Lease, and the standby takes over.
    let code = a.terminate(Duration::from_secs(20))?;
    assert_eq!(code, Some(0), "operator log:\n{}", a.log_text());
    wait_until(Duration::from_secs(30), || async {
        Ok(holder().await?.as_deref() == Some("op-b"))
    })
    .await?;
    wait_until(Duration::from_secs(10), || async {
        Ok(metric(&b, "subnet_operator_leader").await? == 1.0)
    })
    .await?;
    Ok(())
}
