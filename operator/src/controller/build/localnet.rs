//! The localnet of a `Subnet.spec.localnet`: one StatefulSet running the official subtensor
//! localnet image (three authority nodes in one container, CHAIN.md §4) and its Service. Pure:
//! no client, no clock.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, HTTPGetAction, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, Service, ServicePort, ServiceSpec, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::stamp;
use crate::crd::subnet::LocalnetSpec;
use crate::labels;

/// RPC (WebSocket and HTTP JSON-RPC) port of node One, the one clients use.
pub const RPC_PORT: i32 = crate::chain::network::LOCALNET_RPC_PORT as i32;
/// RPC port of node Two.
pub const RPC_PORT_TWO: i32 = 9945;
/// P2P ports of nodes One and Two (the image exposes these).
pub const P2P_PORTS: [i32; 2] = [30334, 30335];
/// `app.kubernetes.io/component` of the localnet.
pub const COMPONENT: &str = "localnet";

/// What the builders need about the Subnet.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalnetInput<'a> {
    /// Subnet name.
    pub subnet: &'a str,
    /// Namespace.
    pub namespace: &'a str,
    /// Controller owner reference to the Subnet.
    pub owner: OwnerReference,
    /// The localnet spec.
    pub spec: &'a LocalnetSpec,
}

pub use crate::chain::network::{localnet_endpoint, localnet_name};

fn selector(l: &LocalnetInput<'_>) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::NAME.to_string(), "subtensor-localnet".to_string()),
        (labels::INSTANCE.to_string(), l.subnet.to_string()),
        (labels::COMPONENT.to_string(), COMPONENT.to_string()),
    ])
}

fn meta(l: &LocalnetInput<'_>) -> ObjectMeta {
    let mut labels = selector(l);
    labels.insert(labels::MANAGED_BY.to_string(), labels::MANAGER.to_string());
    ObjectMeta {
        name: Some(localnet_name(l.subnet)),
        namespace: Some(l.namespace.to_string()),
        labels: Some(labels),
        owner_references: Some(vec![l.owner.clone()]),
        ..Default::default()
    }
}

fn port(name: &str, port: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_string()),
        container_port: port,
        protocol: Some("TCP".to_string()),
        ..Default::default()
    }
}

/// Default requests of the localnet container: three nodes building blocks.
fn default_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), Quantity("500m".to_string())),
            ("memory".to_string(), Quantity("1Gi".to_string())),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_string(),
            Quantity("4Gi".to_string()),
        )])),
        ..Default::default()
    }
}

/// The localnet's StatefulSet: one pod, the image's own entrypoint (`/scripts/localnet.sh`)
/// with `True` (fast blocks) or `False`, RPC bound on all interfaces (`RUN_IN_DOCKER=1`). The
/// chain is rebuilt at each start (no volume): a restart is a chain reset, which the operator
/// detects by the genesis hash.
pub fn statefulset(l: &LocalnetInput<'_>) -> StatefulSet {
    let fast = if l.spec.fast_blocks { "True" } else { "False" };
    let container = Container {
        name: "localnet".to_string(),
        image: Some(l.spec.image.clone()),
        args: Some(vec![fast.to_string()]),
        env: Some(vec![EnvVar {
            name: "RUN_IN_DOCKER".to_string(),
            value: Some("1".to_string()),
            ..Default::default()
        }]),
        ports: Some(vec![
            port("rpc", RPC_PORT),
            port("rpc-two", RPC_PORT_TWO),
            port("p2p-one", P2P_PORTS[0]),
            port("p2p-two", P2P_PORTS[1]),
        ]),
        // Building the chainspec and starting three nodes takes a while.
        startup_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::String("rpc".to_string()),
                ..Default::default()
            }),
            period_seconds: Some(5),
            failure_threshold: Some(60),
            ..Default::default()
        }),
        // Substrate's RPC server answers `GET /health/readiness` (200 when not syncing).
        readiness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/health/readiness".to_string()),
                port: IntOrString::String("rpc".to_string()),
                ..Default::default()
            }),
            period_seconds: Some(5),
            failure_threshold: Some(3),
            ..Default::default()
        }),
        liveness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::String("rpc".to_string()),
                ..Default::default()
            }),
            period_seconds: Some(10),
            failure_threshold: Some(6),
            ..Default::default()
        }),
        resources: Some(l.spec.resources.clone().unwrap_or_else(default_resources)),
        ..Default::default()
    };
    let mut sts = StatefulSet {
        metadata: meta(l),
        spec: Some(StatefulSetSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector(l)),
                match_expressions: None,
            },
            service_name: Some(localnet_name(l.subnet)),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(selector(l)),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    // The image runs as root; nothing else in the pod.
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    termination_grace_period_seconds: Some(10),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    };
    let snapshot = (&sts.metadata.labels, &sts.spec);
    let mut m = sts.metadata.clone();
    stamp(&mut m, &snapshot);
    sts.metadata = m;
    sts
}

/// The localnet's Service: RPC of nodes One and Two, and their p2p ports.
pub fn service(l: &LocalnetInput<'_>) -> Service {
    let sp = |name: &str, port: i32| ServicePort {
        name: Some(name.to_string()),
        port,
        target_port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".to_string()),
        ..Default::default()
    };
    let mut svc = Service {
        metadata: meta(l),
        spec: Some(ServiceSpec {
            selector: Some(selector(l)),
            ports: Some(vec![
                sp("rpc", RPC_PORT),
                sp("rpc-two", RPC_PORT_TWO),
                sp("p2p-one", P2P_PORTS[0]),
                sp("p2p-two", P2P_PORTS[1]),
            ]),
            // Clients must reach the node even before it reports ready (it is the chain).
            publish_not_ready_addresses: Some(true),
            ..Default::default()
        }),
        status: None,
    };
    let snapshot = (&svc.metadata.labels, &svc.spec);
    let mut m = svc.metadata.clone();
    stamp(&mut m, &snapshot);
    svc.metadata = m;
    svc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::Subnet;

    fn subnet(yaml: &str) -> Subnet {
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    fn input<'a>(s: &'a Subnet, spec: &'a LocalnetSpec) -> LocalnetInput<'a> {
        LocalnetInput {
            subnet: "dev",
            namespace: "ns",
            owner: OwnerReference {
                api_version: "subnet-operator.io/v1alpha1".into(),
                kind: "Subnet".into(),
                name: s.metadata.name.clone().unwrap_or_default(),
                uid: "uid-1".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
            spec,
        }
    }

    const FAST: &str = "{apiVersion: subnet-operator.io/v1alpha1, kind: Subnet, metadata: {name: dev, namespace: ns}, spec: {network: local, localnet: {}}}";

    #[test]
    fn fast_localnet_statefulset_and_service_snapshot() {
        let s = subnet(FAST);
        let spec = s.spec.localnet.clone().unwrap_or_default();
        insta::assert_yaml_snapshot!("localnet_statefulset_fast", statefulset(&input(&s, &spec)));
        insta::assert_yaml_snapshot!("localnet_service", service(&input(&s, &spec)));
    }

    #[test]
    fn slow_blocks_custom_image_and_resources() {
        let s = subnet(
            "{apiVersion: subnet-operator.io/v1alpha1, kind: Subnet, metadata: {name: dev, namespace: ns}, spec: {network: local, localnet: {image: 'ghcr.io/opentensor/subtensor-localnet:v3.2.1', fastBlocks: false, resources: {requests: {cpu: '2'}}}}}",
        );
        let spec = s.spec.localnet.clone().unwrap_or_default();
        let sts = statefulset(&input(&s, &spec));
        let c = sts
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .map(|p| p.containers[0].clone())
            .unwrap_or_else(|| panic!("no container"));
        assert_eq!(c.args, Some(vec!["False".to_string()]));
        assert_eq!(
            c.image.as_deref(),
            Some("ghcr.io/opentensor/subtensor-localnet:v3.2.1")
        );
        assert_eq!(
            c.resources
                .and_then(|r| r.requests)
                .and_then(|r| r.get("cpu").cloned()),
            Some(Quantity("2".into()))
        );
        // A different spec is a different stamp: the operator re-applies it.
        let fast = subnet(FAST);
        let fast_spec = fast.spec.localnet.clone().unwrap_or_default();
        assert_ne!(
            super::super::stamped(&sts.metadata),
            super::super::stamped(&statefulset(&input(&fast, &fast_spec)).metadata)
        );
        assert_eq!(
            localnet_endpoint("dev", "ns"),
            "ws://dev-localnet.ns.svc:9944"
        );
    }
}
