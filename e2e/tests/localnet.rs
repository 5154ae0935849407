//! A localnet Subnet end to end, on the local control plane with the in-memory chain standing in
//! for the localnet's RPC (the simulation server with the official localnet's genesis: dev
//! accounts, //Alice as sudo, netuid 1 unowned, fast blocks): the samples in
//! `manifests/samples/localnet/` are applied as they are; the operator runs the localnet
//! StatefulSet, scaffolds the subnet step by step and once, funds the coldkey, registers three
//! miners and a validator, stakes the validator to a permit; a chain reset (the localnet pod
//! deleted, its chain new) is detected and everything is made again, without a second subnet.

use e2e::fixtures::find_condition;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use e2e::{OperatorProcess, SimChainProcess, TempNamespace, client, install_crds, wait_until};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams};
use subnet_operator::crd::{Miner, Subnet, Validator};

/// Names of the localnet calls the chain dispatched, in order (e.g. `registerNetwork`,
/// `sudoSetHyperparameter.commitReveal`).
async fn call_names(chain: &SimChainProcess) -> Result<Vec<String>> {
    Ok(chain
        .localnet_calls()
        .await?
        .iter()
        .filter(|c| c.get("result").and_then(|r| r.get("Ok")).is_some())
        .map(|c| {
            let call = c.get("call").cloned().unwrap_or_default();
            let (name, body) = match &call {
                serde_json::Value::Object(m) => m
                    .iter()
                    .next()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .unwrap_or_default(),
                other => (other.to_string(), serde_json::Value::Null),
            };
            match body.get("param") {
                Some(serde_json::Value::Object(p)) => {
                    format!("{name}.{}", p.keys().next().cloned().unwrap_or_default())
                }
                _ => name,
            }
        })
        .collect())
}

fn count(names: &[String], name: &str) -> usize {
    names.iter().filter(|n| *n == name).count()
}

async fn scaffolded(subnets: &Api<Subnet>) -> Result<bool> {
    let s = subnets.get("dev").await?.status.unwrap_or_default();
    Ok(
        find_condition(&s.conditions, "Scaffolded").is_some_and(|c| c.status == "True")
            && find_condition(&s.conditions, "Ready").is_some_and(|c| c.status == "True"),
    )
}

async fn all_registered(miners: &Api<Miner>, validators: &Api<Validator>) -> Result<bool> {
    let m = e2e::fixtures::fleet_status(miners, "dev-miners").await?;
    let v = e2e::fixtures::fleet_status(validators, "dev-validator").await?;
    Ok(m.registered_replicas == 3 && v.registered_replicas == 1)
}

#[tokio::test]
async fn localnet_samples_scaffold_once_register_and_survive_a_chain_reset() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "localnet").await?;
    // Fast blocks, like the localnet's 250 ms.
    let chain = SimChainProcess::start_with("localnet: true\n", 100).await?;
    let _op = OperatorProcess::start(
        &ns.name,
        "op-localnet",
        &[
            ("CHAIN_BACKEND", "sim"),
            ("SIM_CHAIN_URL", &chain.url()),
            ("CHAIN_POLL_MS", "100"),
        ],
    )?;
    let samples = e2e::repo_root().join("manifests/samples/localnet");
    let out = e2e::kubectl(&["-n", &ns.name, "apply", "-f", &samples.to_string_lossy()])?;
    ensure!(
        out.status.success(),
        "kubectl apply of the localnet samples: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let subnets: Api<Subnet> = Api::namespaced(client.clone(), &ns.name);
    let miners: Api<Miner> = Api::namespaced(client.clone(), &ns.name);
    let validators: Api<Validator> = Api::namespaced(client.clone(), &ns.name);
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
    let services: Api<Service> = Api::namespaced(client.clone(), &ns.name);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);

    // The localnet runs as a StatefulSet with its Service, on the real image.
    wait_until(Duration::from_secs(60), || async {
        Ok(sts.get_opt("dev-localnet").await?.is_some()
            && services.get_opt("dev-localnet").await?.is_some())
    })
    .await
    .context("localnet StatefulSet and Service")?;
    let image = sts
        .get("dev-localnet")
        .await?
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|p| p.containers.first().and_then(|c| c.image.clone()));
    assert_eq!(
        image.as_deref(),
        Some("ghcr.io/opentensor/subtensor-localnet:devnet-ready")
    );

    wait_until(Duration::from_secs(120), || scaffolded(&subnets))
        .await
        .context("Subnet Scaffolded and Ready")?;
    let status = subnets.get("dev").await?.status.unwrap_or_default();
    let netuid = status.netuid.context("no netuid in status")?;
    assert_eq!(
        netuid, 2,
        "netuid 1 exists on a localnet: the scaffold makes 2"
    );
    let steps: Vec<(String, String)> = status
        .scaffold
        .iter()
        .map(|s| (s.name.clone(), s.state.clone()))
        .collect();
    assert_eq!(
        steps,
        subnet_operator::controller::localnet::Step::ALL
            .iter()
            .map(|n| (n.to_string(), "Done".to_string()))
            .collect::<Vec<_>>()
    );
    // Steps ran in the bring-up order; blocks recorded are increasing.
    let blocks: Vec<u64> = status.scaffold.iter().filter_map(|s| s.block).collect();
    assert!(blocks.windows(2).all(|w| w[0] <= w[1]), "{blocks:?}");

    wait_until(Duration::from_secs(120), || {
        all_registered(&miners, &validators)
    })
    .await
    .context("3 miners and 1 validator registered")?;
    // The validator got its self-stake and a permit at the next epoch.
    wait_until(Duration::from_secs(60), || async {
        let v = e2e::fixtures::fleet_status(&validators, "dev-validator").await?;
        Ok(v.replica_statuses
            .first()
            .is_some_and(|r| r.stake_rao.is_some_and(|s| s >= 100_000_000_000))
            && find_condition(&v.conditions, "Permitted").is_some_and(|c| c.status == "True"))
    })
    .await
    .context("validator staked and permitted")?;

    // Each scaffold call ran once, even though the Subnet was reconciled many times since.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let names = call_names(&chain).await?;
    for once in [
        "sudoSetAdminFreezeWindow",
        "registerNetwork",
        "startCall",
        "sudoSetHyperparameter.emissionEnabled",
        "sudoSetHyperparameter.commitReveal",
        "sudoSetHyperparameter.maxAllowedUids",
        "sudoSetHyperparameter.immunityPeriod",
        "addStake",
    ] {
        assert_eq!(count(&names, once), 1, "{once} in {names:?}");
    }
    // Two transfers: the owner's lock, and //Dave topped up to fundTao.
    assert_eq!(count(&names, "transfer"), 2, "{names:?}");
    let snap = chain.subnet(netuid).await?;
    assert_eq!(
        snap.get("neurons").and_then(|n| n.as_array()).map(Vec::len),
        Some(5),
        "owner + 3 miners + 1 validator"
    );
    assert_eq!(snap.get("commit_reveal"), Some(&serde_json::json!(false)));
    assert_eq!(snap.get("max_uids"), Some(&serde_json::json!(64)));

    // The scaffold's record lost (as after a crash between `register_network` and the status
    // write): it runs again and adopts the subnet its owner key has, without a second one.
    subnets
        .patch_status(
            "dev",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                serde_json::json!({"status": {"scaffold": null, "netuid": null}}),
            ),
        )
        .await?;
    wait_until(Duration::from_secs(60), || async {
        let s = subnets.get("dev").await?.status.unwrap_or_default();
        Ok(s.netuid == Some(netuid) && scaffolded(&subnets).await?)
    })
    .await
    .context("scaffold record rebuilt")?;
    let names = call_names(&chain).await?;
    assert_eq!(
        count(&names, "registerNetwork"),
        1,
        "adopted, not registered again: {names:?}"
    );

    // A chain reset: the localnet pod is deleted, and its chain starts again from genesis.
    let old_genesis = status.genesis_hash.clone();
    pods.delete("dev-localnet-0", &DeleteParams::default())
        .await?;
    chain.reset().await?;
    e2e::fixtures::wait_for_event(
        &client,
        &ns.name,
        "ChainReset",
        None,
        Duration::from_secs(60),
    )
    .await?;
    wait_until(Duration::from_secs(120), || async {
        let s = subnets.get("dev").await?.status.unwrap_or_default();
        Ok(s.genesis_hash != old_genesis && scaffolded(&subnets).await?)
    })
    .await
    .context("re-scaffolded on the new chain")?;
    wait_until(Duration::from_secs(120), || async {
        Ok(all_registered(&miners, &validators).await?
            && chain
                .subnet(netuid)
                .await?
                .get("neurons")
                .and_then(|n| n.as_array())
                .map(Vec::len)
                == Some(5))
    })
    .await
    .context("re-registered on the new chain")?;
    // One subnet on the new chain, made once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let names = call_names(&chain).await?;
    assert_eq!(count(&names, "registerNetwork"), 1, "{names:?}");
    let owners = chain.subnet_owners().await?;
    assert_eq!(
        owners.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec![1, 2],
        "no second subnet"
    );
    // The StatefulSet controller recreates the pod on its own time: wait for it (the rest of
    // the reset can be over before it has).
    wait_until(Duration::from_secs(60), || async {
        Ok(pods.get_opt("dev-localnet-0").await?.is_some())
    })
    .await
    .context("the StatefulSet brought the localnet pod back")?;
    Ok(())
}
