//! Workloads on the local control plane with KWOK GPU nodes: GPU placement, unschedulable
//! replicas explained, scaling with kept hotkeys, one-at-a-time rollouts, NodePort exposure,
//! only-own-hotkey mounts, and self-healing after deletions and a node loss.

use e2e::fixtures::condition;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use e2e::{OperatorProcess, TempNamespace, client, install_crds, kubectl, wait_until};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use subnet_operator::crd::Miner;

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

struct Env {
    client: kube::Client,
    ns: TempNamespace,
    op: OperatorProcess,
    miners: Api<Miner>,
    pods: Api<Pod>,
}

async fn env(prefix: &str) -> Result<Option<Env>> {
    let Some(client) = client().await else {
        return Ok(None);
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, prefix).await?;
    let op = OperatorProcess::start(&ns.name, &format!("op-{prefix}"), &[])?;
    e2e::fixtures::subnet(&client, &ns.name, "{network: finney, netuid: 7}").await?;
    Ok(Some(Env {
        miners: Api::namespaced(client.clone(), &ns.name),
        pods: Api::namespaced(client.clone(), &ns.name),
        client,
        ns,
        op,
    }))
}

fn miner(name: &str, replicas: u32, extra: &str) -> Result<Miner> {
    e2e::fixtures::miner_object(
        name,
        replicas,
        &format!("{{coldkeyPub: {{ss58: {ALICE}}}}}"),
        extra,
    )
}

async fn wait_ready(miners: &Api<Miner>, name: &str, replicas: i32) -> Result<()> {
    wait_until(Duration::from_secs(90), || async {
        let m = miners.get(name).await?;
        let s = m.status.unwrap_or_default();
        let ready = s
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        Ok(ready && s.ready_replicas == replicas && s.replicas == replicas)
    })
    .await
    .with_context(|| format!("waiting for {name} to have {replicas} ready replicas"))
}

async fn fleet_pods(pods: &Api<Pod>, name: &str) -> Result<Vec<Pod>> {
    Ok(pods
        .list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={name}")))
        .await?
        .items)
}

async fn node_label(client: &kube::Client, node: &str, key: &str) -> Result<Option<String>> {
    let n = Api::<Node>::all(client.clone()).get(node).await?;
    Ok(n.metadata.labels.unwrap_or_default().get(key).cloned())
}

fn env_var(pod: &Pod, name: &str) -> Option<k8s_openapi::api::core::v1::EnvVar> {
    pod.spec
        .as_ref()?
        .containers
        .first()?
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)
        .cloned()
}

#[tokio::test]
async fn gpu_replicas_land_on_the_right_nodes_or_say_why_not() -> Result<()> {
    let Some(e) = env("wl-gpu").await? else {
        return Ok(());
    };
    e.miners
        .create(
            &PostParams::default(),
            &miner("h100", 3, "  gpu: {count: 1, products: [NVIDIA-H100-80GB-HBM3], minMemoryMib: 80000, minComputeMajor: 9}")?,
        )
        .await?;
    e.miners
        .create(
            &PostParams::default(),
            &miner(
                "mig",
                1,
                "  gpu: {count: 1, resourceName: nvidia.com/mig-3g.20gb}",
            )?,
        )
        .await?;
    e.miners
        .create(
            &PostParams::default(),
            &miner("huge", 1, "  gpu: {count: 16}")?,
        )
        .await?;

    wait_ready(&e.miners, "h100", 3).await?;
    for p in fleet_pods(&e.pods, "h100").await? {
        let node = p.spec.and_then(|s| s.node_name).unwrap_or_default();
        assert_eq!(
            node_label(&e.client, &node, "nvidia.com/gpu.product")
                .await?
                .as_deref(),
            Some("NVIDIA-H100-80GB-HBM3"),
            "a replica landed on {node}"
        );
    }
    wait_ready(&e.miners, "mig", 1).await?;
    for p in fleet_pods(&e.pods, "mig").await? {
        let node = p.spec.and_then(|s| s.node_name).unwrap_or_default();
        assert_eq!(
            node_label(&e.client, &node, "nvidia.com/mig.strategy")
                .await?
                .as_deref(),
            Some("mixed")
        );
    }

    // More GPUs than any node has: Pending, and the Miner says why.
    wait_until(Duration::from_secs(60), || async {
        Ok(condition(&e.miners, "huge", "Degraded")
            .await?
            .is_some_and(|(s, r, _)| s == "True" && r == "Unschedulable"))
    })
    .await?;
    let (_, _, msg) = condition(&e.miners, "huge", "Degraded")
        .await?
        .unwrap_or_default();
    assert!(
        msg.contains("replica 0") && msg.contains("Insufficient nvidia.com/gpu"),
        "{msg}"
    );
    let (status, reason, msg) = condition(&e.miners, "huge", "Ready")
        .await?
        .unwrap_or_default();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "ReplicasNotReady")
    );
    assert!(msg.contains("Insufficient nvidia.com/gpu"), "{msg}");
    e2e::fixtures::wait_for_event(
        &e.client,
        &e.ns.name,
        "Unschedulable",
        Some("huge"),
        Duration::from_secs(30),
    )
    .await?;
    let out = kubectl(&["-n", &e.ns.name, "get", "miners"])?;
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("GPUS"), "{table}");
    Ok(())
}

#[tokio::test]
async fn scaling_removes_the_right_replicas_and_keeps_hotkeys() -> Result<()> {
    let Some(e) = env("wl-scale").await? else {
        return Ok(());
    };
    e.miners
        .create(&PostParams::default(), &miner("m", 2, "")?)
        .await?;
    wait_ready(&e.miners, "m", 2).await?;
    let hotkeys = |m: &Miner| -> BTreeMap<u32, String> {
        m.status
            .clone()
            .unwrap_or_default()
            .replica_statuses
            .into_iter()
            .filter_map(|r| Some((r.index, r.hotkey?)))
            .collect()
    };

    let out = kubectl(&["-n", &e.ns.name, "scale", "miner/m", "--replicas=5"])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_ready(&e.miners, "m", 5).await?;
    let five = hotkeys(&e.miners.get("m").await?);
    assert_eq!(
        five.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );

    // Name index 1 for removal: 5 → 2 removes 1, then the highest (4, 3).
    e.miners
        .patch(
            "m",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"removeReplicas": [1]}})),
        )
        .await?;
    let out = kubectl(&["-n", &e.ns.name, "scale", "miner/m", "--replicas=2"])?;
    assert!(out.status.success());
    wait_ready(&e.miners, "m", 2).await?;
    wait_until(Duration::from_secs(60), || async {
        let sts: Api<StatefulSet> = Api::namespaced(e.client.clone(), &e.ns.name);
        let names: BTreeSet<String> = sts
            .list(&ListParams::default().labels("app.kubernetes.io/instance=m"))
            .await?
            .items
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .collect();
        Ok(names == ["m-0".to_string(), "m-2".to_string()].into())
    })
    .await?;
    let two = hotkeys(&e.miners.get("m").await?);
    assert_eq!(two.keys().copied().collect::<Vec<_>>(), vec![0, 2]);
    for (i, h) in &two {
        assert_eq!(five.get(i), Some(h));
    }
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(e.client.clone(), &e.ns.name);
    let kept = secrets
        .list(
            &ListParams::default()
                .labels("app.kubernetes.io/instance=m,app.kubernetes.io/component=hotkey"),
        )
        .await?;
    assert_eq!(
        kept.items.len(),
        5,
        "scale-in must keep every hotkey Secret"
    );

    // Scale back up without the removal list: the same hotkeys return.
    e.miners
        .patch(
            "m",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"removeReplicas": null, "replicas": 5}})),
        )
        .await?;
    wait_ready(&e.miners, "m", 5).await?;
    assert_eq!(hotkeys(&e.miners.get("m").await?), five);
    Ok(())
}

#[tokio::test]
async fn an_image_change_rolls_out_one_replica_at_a_time() -> Result<()> {
    let Some(e) = env("wl-roll").await? else {
        return Ok(());
    };
    e.miners
        .create(&PostParams::default(), &miner("m", 4, "")?)
        .await?;
    wait_ready(&e.miners, "m", 4).await?;
    e.miners
        .patch(
            "m",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"template": {"image": "miner:2"}}})),
        )
        .await?;
    // Watch every 50 ms: at most one replica unavailable at any moment, until all run miner:2.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut max_unavailable = 0;
    let mut seen_progressing = false;
    loop {
        let pods = fleet_pods(&e.pods, "m").await?;
        let ready = |p: &Pod| {
            p.metadata.deletion_timestamp.is_none()
                && p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        };
        let available = pods.iter().filter(|p| ready(p)).count();
        max_unavailable = max_unavailable.max(4usize.saturating_sub(available));
        let new = pods
            .iter()
            .filter(|p| ready(p))
            .filter(|p| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.as_deref())
                    == Some("miner:2")
            })
            .count();
        if let Some((s, r, _)) = condition(&e.miners, "m", "Progressing").await?
            && s == "True"
            && r == "RollingUpdate"
        {
            seen_progressing = true;
        }
        if new == 4 {
            break;
        }
        if Instant::now() > deadline {
            bail!("rollout did not finish: {new}/4 on miner:2");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        max_unavailable <= 1,
        "{max_unavailable} replicas were unavailable at once"
    );
    assert!(
        seen_progressing,
        "Progressing=True/RollingUpdate was never reported"
    );
    wait_ready(&e.miners, "m", 4).await?;
    Ok(())
}

#[tokio::test]
async fn canary_holds_until_promoted() -> Result<()> {
    let Some(e) = env("wl-canary").await? else {
        return Ok(());
    };
    e.miners
        .create(
            &PostParams::default(),
            &miner("m", 3, "  updateStrategy: {canary: {index: 1}}")?,
        )
        .await?;
    wait_ready(&e.miners, "m", 3).await?;
    e.miners
        .patch(
            "m",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"template": {"image": "miner:2"}}})),
        )
        .await?;
    wait_until(Duration::from_secs(60), || async {
        Ok(condition(&e.miners, "m", "Progressing")
            .await?
            .is_some_and(|(_, r, _)| r == "CanaryWaiting"))
    })
    .await?;
    let images = || async {
        let mut v: Vec<(String, String)> = fleet_pods(&e.pods, "m")
            .await?
            .into_iter()
            .map(|p| {
                (
                    p.metadata.name.clone().unwrap_or_default(),
                    p.spec
                        .and_then(|s| s.containers.first().and_then(|c| c.image.clone()))
                        .unwrap_or_default(),
                )
            })
            .collect();
        v.sort();
        anyhow::Ok(v)
    };
    let held = images().await?;
    assert_eq!(
        held,
        vec![
            ("m-0-0".to_string(), "miner:1".to_string()),
            ("m-1-0".to_string(), "miner:2".to_string()),
            ("m-2-0".to_string(), "miner:1".to_string())
        ]
    );
    e.miners
        .patch(
            "m",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"updateStrategy": {"canary": {"index": 1, "promoted": true}}}})),
        )
        .await?;
    wait_until(Duration::from_secs(90), || async {
        Ok(images().await?.iter().all(|(_, i)| i == "miner:2"))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_canary_is_promoted_after_its_timeout() -> Result<()> {
    let Some(mut e) = env("wl-auto").await? else {
        return Ok(());
    };
    e.miners
        .create(
            &PostParams::default(),
            &miner(
                "m",
                3,
                "  updateStrategy: {canary: {index: 2, autoPromoteAfter: 4s}}",
            )?,
        )
        .await?;
    wait_ready(&e.miners, "m", 3).await?;
    e.miners
        .patch(
            "m",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"template": {"image": "miner:2"}}})),
        )
        .await?;
    // The hold is reported, then lifted by the timer alone.
    wait_until(Duration::from_secs(60), || async {
        Ok(condition(&e.miners, "m", "Progressing")
            .await?
            .is_some_and(|(_, r, _)| r == "CanaryWaiting"))
    })
    .await?;
    let since = e
        .miners
        .get("m")
        .await?
        .status
        .and_then(|s| s.canary)
        .context("status.canary")?;
    assert_eq!(since.index, 2);
    let promoted = wait_until(Duration::from_secs(90), || async {
        let pods = fleet_pods(&e.pods, "m").await?;
        Ok(pods.len() == 3
            && pods.iter().all(|p| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.as_deref())
                    == Some("miner:2")
            }))
    })
    .await;
    if let Err(err) = promoted {
        let status = e.miners.get("m").await.ok().and_then(|m| m.status);
        let images: Vec<_> = fleet_pods(&e.pods, "m")
            .await?
            .into_iter()
            .map(|p| {
                let image = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.clone());
                (p.metadata.name, image)
            })
            .collect();
        bail!(
            "auto-promotion: {err:#}\npods: {images:?}\nstatus: {}\n{}",
            serde_json::to_string(&status).unwrap_or_default(),
            e.op.diagnose(60)
        );
    }
    wait_ready(&e.miners, "m", 3).await?;
    Ok(())
}

#[tokio::test]
async fn node_port_exposure_and_own_hotkey_mounts() -> Result<()> {
    let Some(e) = env("wl-port").await? else {
        return Ok(());
    };
    e.miners
        .create(
            &PostParams::default(),
            &miner("m", 3, "  axon: {port: 8091, exposure: NodePort}")?,
        )
        .await?;
    wait_ready(&e.miners, "m", 3).await?;
    let svcs: Api<Service> = Api::namespaced(e.client.clone(), &e.ns.name);
    let m = e.miners.get("m").await?;
    let status = m.status.unwrap_or_default();
    for pod in fleet_pods(&e.pods, "m").await? {
        let index: u32 = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("subnet-operator.io/replica-index"))
            .and_then(|i| i.parse().ok())
            .context("pod without replica index")?;
        let svc = svcs.get(&format!("m-{index}")).await?;
        let node_port = svc
            .spec
            .and_then(|s| s.ports)
            .and_then(|p| p.first().and_then(|p| p.node_port))
            .context("no node port")?;
        assert_eq!(
            env_var(&pod, "BT_AXON_EXTERNAL_PORT").and_then(|v| v.value),
            Some(node_port.to_string())
        );
        let ip_src = env_var(&pod, "BT_AXON_EXTERNAL_IP")
            .and_then(|v| v.value_from)
            .and_then(|f| f.field_ref)
            .map(|f| f.field_path);
        assert_eq!(ip_src.as_deref(), Some("status.hostIP"));
        // What the pod is told is what status reports as exposed.
        let host_ip = pod
            .status
            .as_ref()
            .and_then(|s| s.host_ip.clone())
            .unwrap_or_default();
        let exposed = status
            .replica_statuses
            .iter()
            .find(|r| r.index == index)
            .and_then(|r| r.axon_exposed.clone())
            .context("no axonExposed in status")?;
        assert_eq!(
            (exposed.ip.as_str(), i32::from(exposed.port)),
            (host_ip.as_str(), node_port)
        );

        // Only its own hotkey, and never the coldkey.
        let secrets: Vec<String> = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.clone())
            .unwrap_or_default()
            .into_iter()
            .flat_map(|v| {
                let mut names = vec![];
                if let Some(s) = v.secret {
                    names.push(s.secret_name.unwrap_or_default());
                }
                for src in v.projected.and_then(|p| p.sources).unwrap_or_default() {
                    if let Some(s) = src.secret {
                        names.push(s.name);
                    }
                }
                names
            })
            .collect();
        assert_eq!(
            secrets,
            vec![format!("m-hotkey-{index}"), "m-coldkeypub".to_string()]
        );
        let env_from_secrets = pod
            .spec
            .as_ref()
            .map(|s| {
                s.containers
                    .iter()
                    .flat_map(|c| c.env.clone().unwrap_or_default())
                    .any(|e| e.value_from.is_some_and(|v| v.secret_key_ref.is_some()))
            })
            .unwrap_or(false);
        assert!(!env_from_secrets, "no secret may enter a pod through env");
        assert_eq!(
            pod.spec
                .as_ref()
                .and_then(|s| s.automount_service_account_token),
            Some(false)
        );
    }
    Ok(())
}

#[tokio::test]
async fn deleted_children_and_lost_nodes_heal() -> Result<()> {
    let Some(e) = env("wl-heal").await? else {
        return Ok(());
    };
    // Two nodes of this test's own pool, so a node loss affects no other test.
    let pool = e.ns.name.clone();
    let nodes: Api<Node> = Api::all(e.client.clone());
    for i in 0..2 {
        let n: Node = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": format!("{pool}-{i}"),
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {"type": "kwok", "pool": pool, "kubernetes.io/hostname": format!("{pool}-{i}")},
            },
            "status": {
                "capacity": {"cpu": "8", "memory": "32Gi", "pods": "20"},
                "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "20"},
            },
        }))?;
        nodes.create(&PostParams::default(), &n).await?;
    }
    let result = async {
        e.miners
            .create(
                &PostParams::default(),
                &miner(
                    "m",
                    1,
                    "  axon: {exposure: NodePort}\n  storage: {size: 1Gi}",
                )?
                .with_node_selector(&pool)?,
            )
            .await?;
        wait_ready(&e.miners, "m", 1).await?;

        // A deleted pod, StatefulSet or Service comes back.
        let sts: Api<StatefulSet> = Api::namespaced(e.client.clone(), &e.ns.name);
        let svcs: Api<Service> = Api::namespaced(e.client.clone(), &e.ns.name);
        let uid = |o: Option<String>| o.unwrap_or_default();
        let before = uid(e.pods.get("m-0-0").await?.metadata.uid);
        e.pods.delete("m-0-0", &DeleteParams::default()).await?;
        wait_until(Duration::from_secs(60), || async {
            Ok(e.pods
                .get_opt("m-0-0")
                .await?
                .is_some_and(|p| p.metadata.uid.unwrap_or_default() != before))
        })
        .await
        .context("pod recreated")?;
        let before = uid(sts.get("m-0").await?.metadata.uid);
        sts.delete("m-0", &DeleteParams::foreground()).await?;
        wait_until(Duration::from_secs(60), || async {
            Ok(sts
                .get_opt("m-0")
                .await?
                .is_some_and(|s| s.metadata.uid.unwrap_or_default() != before))
        })
        .await
        .context("StatefulSet recreated")?;
        let before = uid(svcs.get("m-0").await?.metadata.uid);
        svcs.delete("m-0", &DeleteParams::default()).await?;
        wait_until(Duration::from_secs(60), || async {
            Ok(svcs
                .get_opt("m-0")
                .await?
                .is_some_and(|s| s.metadata.uid.unwrap_or_default() != before))
        })
        .await
        .context("Service recreated")?;
        wait_ready(&e.miners, "m", 1).await?;

        // Lose the node: the pod is rescheduled onto the other node of the pool.
        let node = e
            .pods
            .get("m-0-0")
            .await?
            .spec
            .and_then(|s| s.node_name)
            .unwrap_or_default();
        nodes.delete(&node, &DeleteParams::default()).await?;
        wait_until(Duration::from_secs(150), || async {
            let p = e.pods.get_opt("m-0-0").await?;
            Ok(p.is_some_and(|p| {
                p.spec.and_then(|s| s.node_name).is_some_and(|n| n != node)
                    && p.status.and_then(|s| s.phase).as_deref() == Some("Running")
            }))
        })
        .await
        .context("pod rescheduled after the node loss")?;
        wait_ready(&e.miners, "m", 1).await?;
        anyhow::Ok(())
    }
    .await;
    for i in 0..2 {
        let _ = nodes
            .delete(&format!("{pool}-{i}"), &DeleteParams::default())
            .await;
    }
    result
}

trait WithNodeSelector: Sized {
    fn with_node_selector(self, pool: &str) -> Result<Self>;
}

impl WithNodeSelector for Miner {
    fn with_node_selector(mut self, pool: &str) -> Result<Self> {
        self.spec
            .fleet
            .template
            .node_selector
            .insert("pool".to_string(), pool.to_string());
        Ok(self)
    }
}

/// A pod's readiness reaches the fleet's status through the pod watch, not the resync (an hour
/// here): within seconds, both ways, and in a reconcile or two.
#[tokio::test]
async fn status_follows_a_pods_readiness_without_a_resync() -> Result<()> {
    // More replicas than the reconciles allowed, so one reconcile per pod would fail.
    const REPLICAS: i32 = 10;
    let Some(client) = client().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "podready").await?;
    let op = OperatorProcess::start(&ns.name, "op-podready", &[("RESYNC_SECONDS", "3600")])?;
    e2e::fixtures::subnet(&client, &ns.name, "{network: finney, netuid: 7}").await?;
    let miners: Api<Miner> = Api::namespaced(client.clone(), &ns.name);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    miners
        .create(
            &PostParams::default(),
            &miner("m", REPLICAS.unsigned_abs(), "")?,
        )
        .await?;
    wait_ready(&miners, "m", REPLICAS).await?;
    // KWOK leaves a Running pod's conditions alone: set Ready as a kubelet would.
    let set_ready = |ready: bool| {
        let pods = pods.clone();
        async move {
            let status = if ready { "True" } else { "False" };
            let patch = serde_json::json!({"status": {"conditions": [
                {"type": "Ready", "status": status, "lastTransitionTime": k8s_openapi::jiff::Timestamp::now().to_string()},
                {"type": "ContainersReady", "status": status, "lastTransitionTime": k8s_openapi::jiff::Timestamp::now().to_string()},
            ]}});
            pods.patch_status("m-0-0", &PatchParams::default(), &Patch::Strategic(patch))
                .await?;
            anyhow::Ok(())
        }
    };
    let ready_replicas = || async {
        anyhow::Ok(
            miners
                .get("m")
                .await?
                .status
                .unwrap_or_default()
                .ready_replicas,
        )
    };
    let reconciles = || op.metric("subnet_operator_reconciles_total", &["kind=\"Miner\""]);
    for (ready, want) in [(false, REPLICAS - 1), (true, REPLICAS)] {
        let before = reconciles().await?;
        let started = Instant::now();
        set_ready(ready).await?;
        wait_until(Duration::from_secs(30), || async {
            Ok(ready_replicas().await? == want)
        })
        .await
        .with_context(|| format!("status shows {want} ready replica(s) after the pod's change"))?;
        let took = reconciles().await? - before;
        println!(
            "pod m-0-0 Ready={ready}: the Miner's status showed {want} ready after {:.1} s and {took} reconcile(s)",
            started.elapsed().as_secs_f64()
        );
        // Counted after the status showed it, so this includes the reconciles the change set
        // off (the StatefulSet's status, the Miner's own status write): a handful, never a
        // reconcile per resync tick or one per pod of the fleet (there are more pods than that).
        assert!(
            took < f64::from(REPLICAS),
            "{took} reconciles for one pod's change in a fleet of {REPLICAS}"
        );
    }
    Ok(())
}
