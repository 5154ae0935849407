//! The pod of one replica: the user's template, the operator's injections (wallet, chain,
//! axon), GPU scheduling, and hardened defaults.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    KeyToPath, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    ObjectFieldSelector, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec,
    PodTemplateSpec, ProjectedVolumeSource, ResourceRequirements, SeccompProfile, SecretProjection,
    SecurityContext, Toleration, Volume, VolumeMount, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{FleetInput, KUEUE_QUEUE_LABEL, ReplicaInput, pvc_name, replica_selector};
use crate::crd::fleet::{AxonExposure, GpuSpec};
use crate::keys::secrets::{
    COLDKEYPUB_KEY, HOTKEY_KEY, HOTKEYPUB_KEY, coldkeypub_secret_name, hotkey_name,
};

/// Name of the main container.
pub const CONTAINER: &str = "main";
/// GFD label of the GPU product.
pub const GPU_PRODUCT_LABEL: &str = "nvidia.com/gpu.product";
/// GFD label of the GPU memory in MiB.
pub const GPU_MEMORY_LABEL: &str = "nvidia.com/gpu.memory";
/// GFD label of the CUDA compute capability major version.
pub const GPU_COMPUTE_MAJOR_LABEL: &str = "nvidia.com/gpu.compute.major";
/// The taint NVIDIA's GPU operator puts on GPU nodes.
pub const GPU_TAINT_KEY: &str = "nvidia.com/gpu";

/// Names of the environment variables the operator injects (see [`injected_env`]); a template
/// may not set them.
pub const INJECTED_ENV: &[&str] = &[
    "BT_WALLET_NAME",
    "BT_WALLET",
    "BT_WALLET_HOTKEY",
    "BT_WALLET_PATH",
    "BT_SUBTENSOR_NETWORK",
    "BT_AXON_PORT",
    "BT_REPLICA_INDEX",
    "POD_NAME",
    "NODE_NAME",
    "BT_NETUID",
    "BT_SUBTENSOR_CHAIN_ENDPOINT",
    "BT_AXON_EXTERNAL_IP",
    "BT_AXON_EXTERNAL_PORT",
];
/// Name of the operator's wallet volume.
pub const WALLET_VOLUME: &str = "wallet";
/// Name of the operator's writable scratch volume, mounted at [`TMP_PATH`].
pub const TMP_VOLUME: &str = "tmp";
/// Where the scratch volume is mounted.
pub const TMP_PATH: &str = "/tmp";
/// Name of the operator's `storage` volume.
pub const DATA_VOLUME: &str = "data";
/// Names of the volumes the operator adds to every pod; a template may not use them.
pub const OPERATOR_VOLUMES: &[&str] = &[WALLET_VOLUME, TMP_VOLUME, DATA_VOLUME];

/// The environment the operator injects (in this order, before the user's `env`, so the user's
/// variables and `$(VAR)` references in command and args can use them).
pub fn injected_env(f: &FleetInput<'_>, r: &ReplicaInput) -> Vec<EnvVar> {
    let spec = f.spec;
    let wallet = spec
        .wallet
        .name
        .clone()
        .unwrap_or_else(|| f.name.to_string());
    let hotkey = hotkey_name(f.name, r.index);
    let value = |name: &str, v: String| EnvVar {
        name: name.to_string(),
        value: Some(v),
        value_from: None,
    };
    let field = |name: &str, path: &str| EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_string(),
                api_version: None,
            }),
            ..Default::default()
        }),
    };
    let axon_port = spec.axon.port;
    let mut env = vec![
        value("BT_WALLET_NAME", wallet.clone()),
        value("BT_WALLET", wallet),
        value("BT_WALLET_HOTKEY", hotkey),
        value("BT_WALLET_PATH", spec.wallet.path.clone()),
        value("BT_SUBTENSOR_NETWORK", f.network.clone()),
        value("BT_AXON_PORT", axon_port.to_string()),
        value("BT_REPLICA_INDEX", r.index.to_string()),
        field("POD_NAME", "metadata.name"),
        field("NODE_NAME", "spec.nodeName"),
    ];
    if let Some(n) = f.netuid {
        env.push(value("BT_NETUID", n.to_string()));
    }
    if let Some(e) = &f.chain_endpoint {
        env.push(value("BT_SUBTENSOR_CHAIN_ENDPOINT", e.clone()));
    }
    // The address the axon is advertised at: explicit or a load balancer's when known;
    // otherwise the node's address as the kubelet reports it (status.hostIP).
    match (&r.external_ip, spec.axon.exposure) {
        (Some(ip), _) => env.push(value("BT_AXON_EXTERNAL_IP", ip.clone())),
        (None, AxonExposure::HostPort | AxonExposure::NodePort) => {
            env.push(field("BT_AXON_EXTERNAL_IP", "status.hostIP"))
        }
        (None, _) => {}
    }
    let external_port = match spec.axon.exposure {
        AxonExposure::HostPort => Some(r.external_port.unwrap_or(axon_port)),
        AxonExposure::NodePort | AxonExposure::LoadBalancer => r.external_port,
        AxonExposure::None => r.external_port,
    };
    if let Some(p) = external_port {
        env.push(value("BT_AXON_EXTERNAL_PORT", p.to_string()));
    }
    env
}

/// The wallet volume: only this replica's hotkey and the coldkey's public file, mapped into the
/// bittensor layout `<wallet>/hotkeys/<name>`, read-only (0440).
pub fn wallet_volume(f: &FleetInput<'_>, r: &ReplicaInput) -> Volume {
    let wallet = f
        .spec
        .wallet
        .name
        .clone()
        .unwrap_or_else(|| f.name.to_string());
    let hk = hotkey_name(f.name, r.index);
    let item = |key: &str, path: String| KeyToPath {
        key: key.to_string(),
        path,
        mode: None,
    };
    Volume {
        name: WALLET_VOLUME.to_string(),
        projected: Some(ProjectedVolumeSource {
            default_mode: Some(0o440),
            sources: Some(vec![
                VolumeProjection {
                    secret: Some(SecretProjection {
                        name: r.hotkey_secret.clone(),
                        items: Some(vec![
                            item(HOTKEY_KEY, format!("{wallet}/hotkeys/{hk}")),
                            item(HOTKEYPUB_KEY, format!("{wallet}/hotkeys/{hk}pub.txt")),
                        ]),
                        optional: Some(false),
                    }),
                    ..Default::default()
                },
                VolumeProjection {
                    secret: Some(SecretProjection {
                        name: coldkeypub_secret_name(f.name),
                        items: Some(vec![item(
                            COLDKEYPUB_KEY,
                            format!("{wallet}/coldkeypub.txt"),
                        )]),
                        optional: Some(false),
                    }),
                    ..Default::default()
                },
            ]),
        }),
        ..Default::default()
    }
}

/// Node affinity terms implied by the GPU placement (product list, minimum memory, minimum
/// compute capability), as GPU feature discovery labels nodes.
pub fn gpu_requirements(gpu: &GpuSpec) -> Vec<NodeSelectorRequirement> {
    let mut req = vec![];
    if !gpu.products.is_empty() {
        req.push(NodeSelectorRequirement {
            key: GPU_PRODUCT_LABEL.to_string(),
            operator: "In".to_string(),
            values: Some(gpu.products.clone()),
        });
    }
    if let Some(m) = gpu.min_memory_mib {
        req.push(NodeSelectorRequirement {
            key: GPU_MEMORY_LABEL.to_string(),
            operator: "Gt".to_string(),
            values: Some(vec![m.saturating_sub(1).to_string()]),
        });
    }
    if let Some(c) = gpu.min_compute_major {
        req.push(NodeSelectorRequirement {
            key: GPU_COMPUTE_MAJOR_LABEL.to_string(),
            operator: "Gt".to_string(),
            values: Some(vec![c.saturating_sub(1).to_string()]),
        });
    }
    req
}

/// The user's affinity with the GPU requirements ANDed into every required node selector term.
fn merged_affinity(user: Option<&Affinity>, gpu: Vec<NodeSelectorRequirement>) -> Option<Affinity> {
    if gpu.is_empty() {
        return user.cloned();
    }
    let mut aff = user.cloned().unwrap_or_default();
    let na = aff.node_affinity.get_or_insert_with(NodeAffinity::default);
    let required = na
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(|| NodeSelector {
            node_selector_terms: vec![],
        });
    if required.node_selector_terms.is_empty() {
        required
            .node_selector_terms
            .push(NodeSelectorTerm::default());
    }
    for term in &mut required.node_selector_terms {
        term.match_expressions
            .get_or_insert_with(Vec::new)
            .extend(gpu.iter().cloned());
    }
    Some(aff)
}

/// The hardened container defaults: no privilege escalation, read-only root filesystem,
/// non-root, every capability dropped, the runtime's seccomp profile.
pub fn hardened_container_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_string(),
            localhost_profile: None,
        }),
        ..Default::default()
    }
}

/// The hardened pod defaults: non-root UID/GID 1000, `fsGroup` 1000 (so the wallet is
/// readable), the runtime's seccomp profile.
pub fn hardened_pod_context() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(1000),
        run_as_group: Some(1000),
        fs_group: Some(1000),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_string(),
            localhost_profile: None,
        }),
        ..Default::default()
    }
}

/// The container security context: the user's settings merged over the hardened defaults field
/// by field (a field the user leaves unset keeps its default). Dropped capabilities are the
/// union of the defaults' (`ALL`) and the user's. What the user may set at all is checked
/// before, by [`crate::controller::policy::check`].
pub fn container_security_context(user: Option<&SecurityContext>) -> SecurityContext {
    let d = hardened_container_context();
    let Some(u) = user else { return d };
    let u = u.clone();
    let mut drop = d
        .capabilities
        .as_ref()
        .and_then(|c| c.drop.clone())
        .unwrap_or_default();
    let user_caps = u.capabilities.unwrap_or_default();
    for c in user_caps.drop.unwrap_or_default() {
        if !drop.contains(&c) {
            drop.push(c);
        }
    }
    SecurityContext {
        allow_privilege_escalation: u
            .allow_privilege_escalation
            .or(d.allow_privilege_escalation),
        app_armor_profile: u.app_armor_profile.or(d.app_armor_profile),
        capabilities: Some(Capabilities {
            drop: Some(drop),
            add: user_caps.add.filter(|a| !a.is_empty()),
        }),
        privileged: u.privileged.or(d.privileged),
        proc_mount: u.proc_mount.or(d.proc_mount),
        read_only_root_filesystem: u.read_only_root_filesystem.or(d.read_only_root_filesystem),
        run_as_group: u.run_as_group.or(d.run_as_group),
        run_as_non_root: u.run_as_non_root.or(d.run_as_non_root),
        run_as_user: u.run_as_user.or(d.run_as_user),
        se_linux_options: u.se_linux_options.or(d.se_linux_options),
        seccomp_profile: u.seccomp_profile.or(d.seccomp_profile),
        windows_options: u.windows_options.or(d.windows_options),
    }
}

/// The pod security context: the user's settings merged over the hardened defaults field by
/// field (see [`container_security_context`]).
pub fn pod_security_context(user: Option<&PodSecurityContext>) -> PodSecurityContext {
    let d = hardened_pod_context();
    let Some(u) = user else { return d };
    let u = u.clone();
    PodSecurityContext {
        app_armor_profile: u.app_armor_profile.or(d.app_armor_profile),
        fs_group: u.fs_group.or(d.fs_group),
        fs_group_change_policy: u.fs_group_change_policy.or(d.fs_group_change_policy),
        run_as_group: u.run_as_group.or(d.run_as_group),
        run_as_non_root: u.run_as_non_root.or(d.run_as_non_root),
        run_as_user: u.run_as_user.or(d.run_as_user),
        se_linux_change_policy: u.se_linux_change_policy.or(d.se_linux_change_policy),
        se_linux_options: u.se_linux_options.or(d.se_linux_options),
        seccomp_profile: u.seccomp_profile.or(d.seccomp_profile),
        supplemental_groups: u.supplemental_groups.or(d.supplemental_groups),
        supplemental_groups_policy: u
            .supplemental_groups_policy
            .or(d.supplemental_groups_policy),
        sysctls: u.sysctls.or(d.sysctls),
        windows_options: u.windows_options.or(d.windows_options),
    }
}

/// The pod template of replica `r`.
pub fn pod_template(f: &FleetInput<'_>, r: &ReplicaInput) -> PodTemplateSpec {
    let spec = f.spec;
    let t = &spec.template;

    let mut env = injected_env(f, r);
    env.extend(t.env.iter().cloned());

    let mut resources = t.resources.clone().unwrap_or_default();
    if let Some(g) = spec.gpu.as_ref().filter(|g| g.count > 0) {
        let q = Quantity(g.count.to_string());
        resources
            .limits
            .get_or_insert_with(BTreeMap::new)
            .insert(g.resource_name.clone(), q.clone());
        resources
            .requests
            .get_or_insert_with(BTreeMap::new)
            .insert(g.resource_name.clone(), q);
    }
    let resources = (resources != ResourceRequirements::default()).then_some(resources);

    let mut mounts = vec![
        VolumeMount {
            name: WALLET_VOLUME.to_string(),
            mount_path: spec.wallet.path.clone(),
            read_only: Some(true),
            ..Default::default()
        },
        VolumeMount {
            name: TMP_VOLUME.to_string(),
            mount_path: TMP_PATH.to_string(),
            ..Default::default()
        },
    ];
    let mut volumes = vec![
        wallet_volume(f, r),
        Volume {
            name: TMP_VOLUME.to_string(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        },
    ];
    if let Some(s) = &spec.storage {
        mounts.push(VolumeMount {
            name: DATA_VOLUME.to_string(),
            mount_path: s.mount_path.clone(),
            ..Default::default()
        });
        volumes.push(Volume {
            name: DATA_VOLUME.to_string(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: pvc_name(f.name, r.index),
                read_only: None,
            }),
            ..Default::default()
        });
    }
    mounts.extend(t.volume_mounts.iter().cloned());
    volumes.extend(t.volumes.iter().cloned());

    let host_port = (spec.axon.exposure == AxonExposure::HostPort)
        .then(|| i32::from(r.external_port.unwrap_or(spec.axon.port)));
    let container = Container {
        name: CONTAINER.to_string(),
        image: Some(t.image.clone()),
        image_pull_policy: t.image_pull_policy.clone(),
        command: (!t.command.is_empty()).then(|| t.command.clone()),
        args: (!t.args.is_empty()).then(|| t.args.clone()),
        env: Some(env),
        env_from: (!t.env_from.is_empty()).then(|| t.env_from.clone()),
        resources,
        ports: Some(vec![ContainerPort {
            name: Some("axon".to_string()),
            container_port: i32::from(spec.axon.port),
            host_port,
            protocol: Some("TCP".to_string()),
            ..Default::default()
        }]),
        liveness_probe: t.liveness_probe.clone(),
        readiness_probe: t.readiness_probe.clone(),
        startup_probe: t.startup_probe.clone(),
        security_context: Some(container_security_context(t.security_context.as_ref())),
        volume_mounts: Some(mounts),
        ..Default::default()
    };

    let gpu = spec.gpu.as_ref().filter(|g| g.count > 0);
    let mut tolerations = vec![];
    if gpu.is_some_and(|g| g.tolerate_gpu_taint) {
        tolerations.push(Toleration {
            key: Some(GPU_TAINT_KEY.to_string()),
            operator: Some("Exists".to_string()),
            effect: Some("NoSchedule".to_string()),
            ..Default::default()
        });
    }
    tolerations.extend(t.tolerations.iter().cloned());
    let affinity = merged_affinity(
        t.affinity.as_ref(),
        gpu.map(gpu_requirements).unwrap_or_default(),
    );

    let mut labels = t.labels.clone();
    labels.extend(super::fleet_labels(f));
    labels.extend(replica_selector(f, r.index));
    if let Some(q) = &t.queue_name {
        labels.insert(KUEUE_QUEUE_LABEL.to_string(), q.clone());
    }

    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: (!t.annotations.is_empty()).then(|| t.annotations.clone()),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![container],
            volumes: Some(volumes),
            // Never the ServiceAccount token, whatever the template or the ServiceAccount say
            // (`policy::check` refuses `automountServiceAccountToken: true`).
            automount_service_account_token: Some(false),
            service_account_name: t.service_account_name.clone(),
            security_context: Some(pod_security_context(t.pod_security_context.as_ref())),
            node_selector: (!t.node_selector.is_empty()).then(|| t.node_selector.clone()),
            affinity,
            tolerations: (!tolerations.is_empty()).then_some(tolerations),
            runtime_class_name: gpu.and_then(|g| g.runtime_class_name.clone()),
            priority_class_name: t.priority_class_name.clone(),
            image_pull_secrets: (!t.image_pull_secrets.is_empty())
                .then(|| t.image_pull_secrets.clone()),
            termination_grace_period_seconds: t.termination_grace_period_seconds,
            enable_service_links: Some(false),
            ..Default::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{input, miner, replica};
    use super::*;

    const GPU_MINER: &str = r#"
apiVersion: subnet-operator.io/v1alpha1
kind: Miner
metadata: {name: m, namespace: ns}
spec:
  subnetRef: {name: sn}
  replicas: 2
  wallet: {name: fleet, coldkeyPub: {ss58: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY}}
  template:
    image: miner:1
    args: ["--netuid", "$(BT_NETUID)", "--axon.port", "$(BT_AXON_PORT)"]
    env: [{name: EXTRA, value: "1"}]
    nodeSelector: {pool: gpu}
    tolerations: [{key: dedicated, operator: Exists}]
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
            - matchExpressions: [{key: zone, operator: In, values: [a]}]
            - matchExpressions: [{key: zone, operator: In, values: [b]}]
    queueName: gpu-queue
  gpu: {count: 2, products: [NVIDIA-H100-80GB-HBM3], minMemoryMib: 80000, minComputeMajor: 9, runtimeClassName: nvidia}
  axon: {port: 8091, exposure: NodePort}
  storage: {size: 50Gi, mountPath: /models}
"#;

    fn env_value(pod: &PodTemplateSpec, name: &str) -> Option<EnvVar> {
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

    #[test]
    fn gpu_miner_pod_snapshot() {
        let m = miner(GPU_MINER);
        let pod = pod_template(&input(&m), &replica(1));
        insta::assert_yaml_snapshot!(pod);
    }

    #[test]
    fn gpu_requests_and_placement() {
        let m = miner(GPU_MINER);
        let pod = pod_template(&input(&m), &replica(0));
        let spec = pod.spec.clone().unwrap_or_default();
        let c = &spec.containers[0];
        let limits = c
            .resources
            .clone()
            .unwrap_or_default()
            .limits
            .unwrap_or_default();
        assert_eq!(limits.get("nvidia.com/gpu"), Some(&Quantity("2".into())));
        // The GPU requirements are ANDed into each of the user's required terms.
        let terms = spec
            .affinity
            .and_then(|a| a.node_affinity)
            .and_then(|n| n.required_during_scheduling_ignored_during_execution)
            .map(|r| r.node_selector_terms)
            .unwrap_or_default();
        assert_eq!(terms.len(), 2);
        for t in &terms {
            let keys: Vec<_> = t
                .match_expressions
                .iter()
                .flatten()
                .map(|e| e.key.as_str())
                .collect();
            assert_eq!(
                keys,
                vec![
                    "zone",
                    GPU_PRODUCT_LABEL,
                    GPU_MEMORY_LABEL,
                    GPU_COMPUTE_MAJOR_LABEL
                ]
            );
        }
        let tol: Vec<_> = spec
            .tolerations
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| t.key)
            .collect();
        assert_eq!(
            tol,
            vec![GPU_TAINT_KEY.to_string(), "dedicated".to_string()]
        );
        assert_eq!(spec.runtime_class_name.as_deref(), Some("nvidia"));
        let labels = pod.metadata.unwrap_or_default().labels.unwrap_or_default();
        assert_eq!(
            labels.get(KUEUE_QUEUE_LABEL).map(String::as_str),
            Some("gpu-queue")
        );
    }

    #[test]
    fn mig_resource_names_are_requested_as_given() {
        let m = miner(&GPU_MINER.replace(
            "gpu: {count: 2, products",
            "gpu: {count: 1, resourceName: nvidia.com/mig-3g.20gb, products",
        ));
        let pod = pod_template(&input(&m), &replica(0));
        let limits = pod.spec.unwrap_or_default().containers[0]
            .resources
            .clone()
            .unwrap_or_default()
            .limits
            .unwrap_or_default();
        assert_eq!(
            limits.get("nvidia.com/mig-3g.20gb"),
            Some(&Quantity("1".into()))
        );
        assert!(!limits.contains_key("nvidia.com/gpu"));
    }

    #[test]
    fn only_its_own_hotkey_is_mounted() {
        let m = miner(GPU_MINER);
        for i in 0..3 {
            let pod = pod_template(&input(&m), &replica(i));
            let spec = pod.spec.unwrap_or_default();
            let secrets: Vec<String> = spec
                .volumes
                .iter()
                .flatten()
                .filter_map(|v| v.projected.clone())
                .flat_map(|p| p.sources.unwrap_or_default())
                .filter_map(|s| s.secret.map(|s| s.name))
                .collect();
            assert_eq!(
                secrets,
                vec![format!("m-hotkey-{i}"), "m-coldkeypub".to_string()]
            );
            assert!(spec.volumes.iter().flatten().all(|v| v.secret.is_none()));
            assert_eq!(spec.automount_service_account_token, Some(false));
        }
    }

    #[test]
    fn wallet_layout_and_env_for_both_sdk_generations() {
        let m = miner(GPU_MINER);
        let f = input(&m);
        let v = wallet_volume(&f, &replica(4));
        let paths: Vec<String> = v
            .projected
            .and_then(|p| p.sources)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| s.secret)
            .flat_map(|s| s.items.unwrap_or_default())
            .map(|i| i.path)
            .collect();
        assert_eq!(
            paths,
            vec![
                "fleet/hotkeys/m-4",
                "fleet/hotkeys/m-4pub.txt",
                "fleet/coldkeypub.txt"
            ]
        );
        let pod = pod_template(&f, &replica(4));
        for (k, v) in [
            ("BT_WALLET_NAME", "fleet"),
            ("BT_WALLET", "fleet"),
            ("BT_WALLET_HOTKEY", "m-4"),
            ("BT_WALLET_PATH", "/var/run/bittensor/wallets"),
            ("BT_NETUID", "18"),
            ("BT_AXON_PORT", "8091"),
            ("BT_SUBTENSOR_NETWORK", "finney"),
        ] {
            assert_eq!(
                env_value(&pod, k).and_then(|e| e.value).as_deref(),
                Some(v),
                "{k}"
            );
        }
        // The node address comes from the kubelet; the user's env follows the injected one.
        let ip = env_value(&pod, "BT_AXON_EXTERNAL_IP").and_then(|e| e.value_from);
        assert_eq!(
            ip.and_then(|s| s.field_ref)
                .map(|f| f.field_path)
                .as_deref(),
            Some("status.hostIP")
        );
        let names: Vec<_> = pod.spec.unwrap_or_default().containers[0]
            .env
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names.last().map(String::as_str), Some("EXTRA"));
    }

    #[test]
    fn explicit_and_host_port_addresses() {
        let m = miner(&GPU_MINER.replace("exposure: NodePort", "exposure: HostPort"));
        let mut r = replica(0);
        let pod = pod_template(&input(&m), &r);
        assert_eq!(
            env_value(&pod, "BT_AXON_EXTERNAL_PORT")
                .and_then(|e| e.value)
                .as_deref(),
            Some("8091")
        );
        let port = pod.spec.unwrap_or_default().containers[0]
            .ports
            .clone()
            .unwrap_or_default();
        assert_eq!(port[0].host_port, Some(8091));
        r.external_ip = Some("203.0.113.9".into());
        r.external_port = Some(9000);
        let pod = pod_template(&input(&m), &r);
        assert_eq!(
            env_value(&pod, "BT_AXON_EXTERNAL_IP")
                .and_then(|e| e.value)
                .as_deref(),
            Some("203.0.113.9")
        );
        assert_eq!(
            env_value(&pod, "BT_AXON_EXTERNAL_PORT")
                .and_then(|e| e.value)
                .as_deref(),
            Some("9000")
        );
    }

    #[test]
    fn hardened_by_default() {
        let m = miner(GPU_MINER);
        let pod = pod_template(&input(&m), &replica(0));
        let spec = pod.spec.unwrap_or_default();
        let sc = spec.containers[0]
            .security_context
            .clone()
            .unwrap_or_default();
        assert_eq!(sc, hardened_container_context());
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(
            sc.capabilities.and_then(|c| c.drop),
            Some(vec!["ALL".to_string()])
        );
        assert_eq!(spec.security_context, Some(hardened_pod_context()));
        assert_eq!(
            spec.security_context.and_then(|s| s.run_as_non_root),
            Some(true)
        );
    }

    fn with_template(extra: &str) -> PodSpec {
        let m = miner(&GPU_MINER.replace(
            "    queueName: gpu-queue",
            &format!("    queueName: gpu-queue\n{extra}"),
        ));
        pod_template(&input(&m), &replica(0))
            .spec
            .unwrap_or_default()
    }

    #[test]
    fn a_user_security_context_is_merged_over_the_defaults() {
        let spec = with_template("    securityContext: {runAsUser: 1234}");
        let sc = spec.containers[0]
            .security_context
            .clone()
            .unwrap_or_default();
        assert_eq!(sc.run_as_user, Some(1234));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(
            sc.capabilities.clone().and_then(|c| c.drop),
            Some(vec!["ALL".to_string()])
        );
        assert_eq!(sc.capabilities.and_then(|c| c.add), None);
        assert_eq!(
            sc.seccomp_profile.map(|p| p.type_).as_deref(),
            Some("RuntimeDefault")
        );
        // The pod context is untouched by a container setting.
        assert_eq!(spec.security_context, Some(hardened_pod_context()));
    }

    #[test]
    fn a_user_may_relax_only_what_they_set() {
        let spec = with_template(
            "    securityContext: {readOnlyRootFilesystem: false, capabilities: {drop: [NET_RAW, ALL]}}",
        );
        let sc = spec.containers[0]
            .security_context
            .clone()
            .unwrap_or_default();
        assert_eq!(sc.read_only_root_filesystem, Some(false));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.run_as_non_root, Some(true));
        // ALL stays dropped, once; the user's drops are added.
        assert_eq!(
            sc.capabilities.and_then(|c| c.drop),
            Some(vec!["ALL".to_string(), "NET_RAW".to_string()])
        );
    }

    #[test]
    fn a_user_pod_security_context_is_merged_over_the_defaults() {
        let spec = with_template(
            "    podSecurityContext: {runAsUser: 1234, fsGroup: 2000, seccompProfile: {type: Localhost, localhostProfile: miner.json}}",
        );
        let sc = spec.security_context.unwrap_or_default();
        assert_eq!(sc.run_as_user, Some(1234));
        assert_eq!(sc.fs_group, Some(2000));
        assert_eq!(sc.run_as_group, Some(1000));
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(
            sc.seccomp_profile
                .map(|p| (p.type_, p.localhost_profile.unwrap_or_default())),
            Some(("Localhost".to_string(), "miner.json".to_string()))
        );
    }

    #[test]
    fn the_service_account_token_is_never_mounted() {
        let spec = with_template(
            "    serviceAccountName: miner-sa\n    automountServiceAccountToken: true",
        );
        assert_eq!(spec.service_account_name.as_deref(), Some("miner-sa"));
        assert_eq!(spec.automount_service_account_token, Some(false));
    }

    #[test]
    fn injected_names_are_all_listed() {
        let m = miner(&GPU_MINER.replace("exposure: NodePort", "exposure: HostPort"));
        let f = input(&m);
        let mut r = replica(0);
        r.external_ip = Some("203.0.113.9".into());
        for e in injected_env(&f, &r) {
            assert!(INJECTED_ENV.contains(&e.name.as_str()), "{}", e.name);
        }
        let spec = pod_template(&f, &r).spec.unwrap_or_default();
        let volumes: Vec<_> = spec
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.clone())
            .collect();
        for v in volumes {
            assert!(OPERATOR_VOLUMES.contains(&v.as_str()), "{v}");
        }
    }
}
