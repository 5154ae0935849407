//! The local control plane behaves like a real GPU cluster: the scheduler places GPU pods by
//! extended resources and GPU feature-discovery labels, KWOK runs them, the controller-manager
//! runs StatefulSets, binds volumes and garbage-collects owned objects.

use std::time::Duration;

use anyhow::Result;
use e2e::{TempNamespace, client, wait_until};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Node, PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};

fn gpu_pod(name: &str, resource: &str, count: u32, product: Option<&str>) -> Result<Pod> {
    let mut spec = serde_json::json!({
        "containers": [{
            "name": "main", "image": "miner:test",
            "resources": {"limits": {resource: count.to_string()}},
        }],
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    });
    if let Some(p) = product {
        spec["affinity"] = serde_json::json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "nvidia.com/gpu.product", "operator": "In", "values": [p]}
            ]}]
        }}});
    }
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec,
    }))?)
}

async fn node_label(client: &kube::Client, node: &str, key: &str) -> Result<Option<String>> {
    let n = Api::<Node>::all(client.clone()).get(node).await?;
    Ok(n.metadata.labels.unwrap_or_default().get(key).cloned())
}

async fn wait_running(pods: &Api<Pod>, name: &str) -> Result<Pod> {
    wait_until(Duration::from_secs(60), || async {
        let p = pods.get(name).await?;
        Ok(p.status.and_then(|s| s.phase).as_deref() == Some("Running"))
    })
    .await?;
    Ok(pods.get(name).await?)
}

#[tokio::test]
async fn gpu_pods_land_on_matching_nodes_or_stay_pending_with_the_reason() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    let ns = TempNamespace::new(&client, "gpu").await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);

    // One H100 by product affinity.
    pods.create(
        &PostParams::default(),
        &gpu_pod("h100", "nvidia.com/gpu", 1, Some("NVIDIA-H100-80GB-HBM3"))?,
    )
    .await?;
    let p = wait_running(&pods, "h100").await?;
    let node = p.spec.and_then(|s| s.node_name).unwrap_or_default();
    assert_eq!(
        node_label(&client, &node, "nvidia.com/gpu.product")
            .await?
            .as_deref(),
        Some("NVIDIA-H100-80GB-HBM3"),
        "pod landed on {node}"
    );

    // A MIG slice lands on the MIG node.
    pods.create(
        &PostParams::default(),
        &gpu_pod("mig", "nvidia.com/mig-3g.20gb", 1, None)?,
    )
    .await?;
    let p = wait_running(&pods, "mig").await?;
    let node = p.spec.and_then(|s| s.node_name).unwrap_or_default();
    assert_eq!(
        node_label(&client, &node, "nvidia.com/mig.strategy")
            .await?
            .as_deref(),
        Some("mixed"),
        "MIG pod landed on {node}"
    );

    // More GPUs than any node has: Pending, and the scheduler says why.
    pods.create(
        &PostParams::default(),
        &gpu_pod("greedy", "nvidia.com/gpu", 100, None)?,
    )
    .await?;
    let message = e2e::fixtures::wait_for_event(
        &client,
        &ns.name,
        "FailedScheduling",
        Some("greedy"),
        Duration::from_secs(60),
    )
    .await?
    .message
    .unwrap_or_default();
    assert!(message.contains("Insufficient nvidia.com/gpu"), "{message}");
    let p = pods.get("greedy").await?;
    assert_eq!(p.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
    Ok(())
}

#[tokio::test]
async fn statefulsets_run_bind_volumes_and_are_garbage_collected() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    let ns = TempNamespace::new(&client, "sts").await?;
    let sts: StatefulSet = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "serviceName": "web",
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "web:1",
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]},
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }],
        },
    }))?;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns.name);
    sets.create(&PostParams::default(), &sts).await?;

    // The controller-manager creates the pods (and claims); the PV binder binds the claims.
    for i in 0..2 {
        wait_running(&pods, &format!("web-{i}")).await?;
        let claim = format!("data-web-{i}");
        wait_until(Duration::from_secs(60), || async {
            let c = pvcs.get(&claim).await?;
            Ok(c.status.and_then(|s| s.phase).as_deref() == Some("Bound"))
        })
        .await?;
    }

    // A deleted pod is recreated by its StatefulSet.
    let before = pods.get("web-0").await?.metadata.uid;
    pods.delete("web-0", &DeleteParams::default()).await?;
    wait_until(Duration::from_secs(60), || async {
        let p = pods.get_opt("web-0").await?;
        Ok(p.is_some_and(|p| {
            p.metadata.uid != before && p.status.and_then(|s| s.phase).as_deref() == Some("Running")
        }))
    })
    .await?;

    // Deleting the owner garbage-collects the pods.
    sets.delete("web", &DeleteParams::background()).await?;
    wait_until(Duration::from_secs(60), || async {
        Ok(pods
            .list(&ListParams::default().labels("app=web"))
            .await?
            .items
            .is_empty())
    })
    .await?;

    // Any owner reference works the same way.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let owner = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "owner"}}))?,
        )
        .await?;
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(
            serde_json::json!({"metadata": {"name": "owned", "ownerReferences": [{
                "apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                "uid": owner.metadata.uid.unwrap_or_default(),
            }]}}),
        )?,
    )
    .await?;
    cms.delete("owner", &DeleteParams::background()).await?;
    wait_until(Duration::from_secs(60), || async {
        Ok(cms.get_opt("owned").await?.is_none())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn nodes_look_like_a_gpu_cluster() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    let nodes = Api::<Node>::all(client)
        .list(&ListParams::default())
        .await?;
    let gpu = |n: &Node, r: &str| {
        n.status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .and_then(|a| a.get(r))
            .map(|q| q.0.clone())
    };
    let label = |n: &Node, k: &str| n.metadata.labels.as_ref().and_then(|l| l.get(k)).cloned();
    let h100: Vec<_> = nodes
        .items
        .iter()
        .filter(|n| label(n, "nvidia.com/gpu.product").as_deref() == Some("NVIDIA-H100-80GB-HBM3"))
        .collect();
    assert!(h100.len() >= 2);
    for n in &h100 {
        assert_eq!(gpu(n, "nvidia.com/gpu").as_deref(), Some("8"));
        assert!(label(n, "nvidia.com/gpu.memory").is_some());
        assert!(label(n, "nvidia.com/gpu.compute.major").is_some());
        let taints = n
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        assert!(
            taints
                .iter()
                .any(|t| t.key == "nvidia.com/gpu" && t.effect == "NoSchedule")
        );
    }
    assert!(
        nodes
            .items
            .iter()
            .any(|n| gpu(n, "nvidia.com/mig-3g.20gb").is_some())
    );
    assert!(
        nodes
            .items
            .iter()
            .any(|n| label(n, "nvidia.com/gpu.present").is_none()),
        "no CPU-only node"
    );
    for n in &nodes.items {
        let ready = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        assert!(ready, "node {:?} is not Ready", n.metadata.name);
    }
    Ok(())
}
