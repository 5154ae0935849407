//! Per-replica StatefulSet, Service and PVC, and the fleet's PodDisruptionBudget.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, Service, ServicePort, ServiceSpec,
    VolumeResourceRequirements,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::pod::pod_template;
use super::{
    FleetInput, KUEUE_QUEUE_LABEL, ReplicaInput, TEMPLATE_HASH_ANNOTATION, child_meta,
    fleet_selector, hash_of, pvc_name, replica_name, replica_selector, stamp,
};
use crate::crd::fleet::{AxonExposure, RetentionPolicy};

/// The one-replica StatefulSet of replica `r`. Its `template-hash` annotation identifies the pod
/// template, so rolling updates can tell old replicas from new ones.
pub fn statefulset(f: &FleetInput<'_>, r: &ReplicaInput) -> StatefulSet {
    let template = pod_template(f, r);
    let mut meta = child_meta(f, replica_name(f.name, r.index), Some(r.index));
    if let Some(q) = &f.spec.template.queue_name {
        meta.labels
            .get_or_insert_with(BTreeMap::new)
            .insert(KUEUE_QUEUE_LABEL.to_string(), q.clone());
    }
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(TEMPLATE_HASH_ANNOTATION.to_string(), hash_of(&template));
    let spec = StatefulSetSpec {
        replicas: Some(1),
        selector: LabelSelector {
            match_labels: Some(replica_selector(f, r.index)),
            match_expressions: None,
        },
        service_name: Some(replica_name(f.name, r.index)),
        pod_management_policy: Some("Parallel".to_string()),
        update_strategy: Some(StatefulSetUpdateStrategy {
            type_: Some("RollingUpdate".to_string()),
            rolling_update: None,
        }),
        template,
        ..Default::default()
    };
    let mut sts = StatefulSet {
        metadata: meta,
        spec: Some(spec),
        status: None,
    };
    let snapshot = (&sts.metadata.labels, &sts.metadata.annotations, &sts.spec);
    let mut meta = sts.metadata.clone();
    stamp(&mut meta, &snapshot);
    sts.metadata = meta;
    sts
}

/// The template hash a StatefulSet was built with.
pub fn template_hash(sts: &StatefulSet) -> Option<&str> {
    sts.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(TEMPLATE_HASH_ANNOTATION))
        .map(String::as_str)
}

/// The Service exposing replica `index`'s axon, for `NodePort` and `LoadBalancer` exposure.
pub fn service(f: &FleetInput<'_>, index: u32) -> Option<Service> {
    let type_ = match f.spec.axon.exposure {
        AxonExposure::NodePort => "NodePort",
        AxonExposure::LoadBalancer => "LoadBalancer",
        AxonExposure::HostPort | AxonExposure::None => return None,
    };
    let port = i32::from(f.spec.axon.port);
    let mut svc = Service {
        metadata: child_meta(f, replica_name(f.name, index), Some(index)),
        spec: Some(ServiceSpec {
            type_: Some(type_.to_string()),
            selector: Some(replica_selector(f, index)),
            // The axon sees the caller's address, and traffic stays on the pod's node.
            external_traffic_policy: Some("Local".to_string()),
            ports: Some(vec![ServicePort {
                name: Some("axon".to_string()),
                port,
                target_port: Some(IntOrString::String("axon".to_string())),
                protocol: Some("TCP".to_string()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    };
    let snapshot = (&svc.metadata.labels, &svc.spec);
    let mut meta = svc.metadata.clone();
    stamp(&mut meta, &snapshot);
    svc.metadata = meta;
    Some(svc)
}

/// The volume claim of replica `index`, when `storage` is set. Owned by the resource (so it
/// goes with it) only when `whenDeleted: Delete`.
pub fn pvc(f: &FleetInput<'_>, index: u32) -> Option<PersistentVolumeClaim> {
    let s = f.spec.storage.as_ref()?;
    let mut meta = child_meta(f, pvc_name(f.name, index), Some(index));
    if s.when_deleted == RetentionPolicy::Retain {
        meta.owner_references = None;
    }
    let mut requests = BTreeMap::new();
    requests.insert("storage".to_string(), s.size.clone());
    let mut claim = PersistentVolumeClaim {
        metadata: meta,
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_string()]),
            storage_class_name: s.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(requests),
                limits: None,
            }),
            ..Default::default()
        }),
        status: None,
    };
    let snapshot = (
        &claim.metadata.labels,
        &claim.metadata.owner_references,
        &claim.spec,
    );
    let mut meta = claim.metadata.clone();
    stamp(&mut meta, &snapshot);
    claim.metadata = meta;
    Some(claim)
}

/// The fleet's PodDisruptionBudget: at most one replica voluntarily disrupted at a time.
pub fn pdb(f: &FleetInput<'_>) -> PodDisruptionBudget {
    let mut p = PodDisruptionBudget {
        metadata: child_meta(f, f.name.to_string(), None),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(fleet_selector(f)),
                match_expressions: None,
            }),
            ..Default::default()
        }),
        status: None,
    };
    let snapshot = (&p.metadata.labels, &p.spec);
    let mut meta = p.metadata.clone();
    stamp(&mut meta, &snapshot);
    p.metadata = meta;
    p
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{input, miner, replica};
    use super::super::stamped;
    use super::*;

    const MINER: &str = r#"
apiVersion: subnet-operator.io/v1alpha1
kind: Miner
metadata: {name: m, namespace: ns}
spec:
  subnetRef: {name: sn}
  replicas: 2
  wallet: {coldkeyPub: {ss58: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY}}
  template: {image: "miner:1", queueName: q}
  gpu: {count: 1}
  axon: {exposure: NodePort}
  storage: {size: 10Gi, whenDeleted: Delete}
"#;

    #[test]
    fn statefulset_snapshot() {
        let m = miner(MINER);
        insta::assert_yaml_snapshot!(statefulset(&input(&m), &replica(0)));
    }

    #[test]
    fn service_pvc_pdb_snapshots() {
        let m = miner(MINER);
        let f = input(&m);
        insta::assert_yaml_snapshot!("service", service(&f, 1));
        insta::assert_yaml_snapshot!("pvc", pvc(&f, 1));
        insta::assert_yaml_snapshot!("pdb", pdb(&f));
    }

    #[test]
    fn statefulset_is_one_owned_replica_with_stable_names() {
        let m = miner(MINER);
        let sts = statefulset(&input(&m), &replica(3));
        assert_eq!(sts.metadata.name.as_deref(), Some("m-3"));
        let spec = sts.spec.clone().unwrap_or_default();
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(
            sts.metadata
                .owner_references
                .as_ref()
                .map(|o| o[0].kind.as_str()),
            Some("Miner")
        );
        assert!(stamped(&sts.metadata).is_some());
        assert!(template_hash(&sts).is_some());
        assert_eq!(
            sts.metadata
                .labels
                .unwrap_or_default()
                .get(KUEUE_QUEUE_LABEL)
                .map(String::as_str),
            Some("q")
        );
    }

    #[test]
    fn hashes_follow_the_template() {
        let m = miner(MINER);
        let a = statefulset(&input(&m), &replica(0));
        let b = statefulset(&input(&m), &replica(0));
        assert_eq!(
            stamped(&a.metadata),
            stamped(&b.metadata),
            "builders are deterministic"
        );
        let m2 = miner(&MINER.replace("miner:1", "miner:2"));
        let c = statefulset(&input(&m2), &replica(0));
        assert_ne!(template_hash(&a), template_hash(&c));
        assert_ne!(stamped(&a.metadata), stamped(&c.metadata));
    }

    #[test]
    fn exposure_decides_the_service() {
        for (exposure, want) in [
            ("NodePort", Some("NodePort")),
            ("LoadBalancer", Some("LoadBalancer")),
            ("HostPort", None),
            ("None", None),
        ] {
            let m = miner(&MINER.replace("exposure: NodePort", &format!("exposure: {exposure}")));
            let svc = service(&input(&m), 0);
            assert_eq!(
                svc.and_then(|s| s.spec).and_then(|s| s.type_).as_deref(),
                want,
                "{exposure}"
            );
        }
    }

    #[test]
    fn retained_volumes_are_not_owned() {
        let m = miner(&MINER.replace("whenDeleted: Delete", "whenDeleted: Retain"));
        let claim = pvc(&input(&m), 0);
        assert!(claim.is_some_and(|c| c.metadata.owner_references.is_none()));
        let m = miner(MINER);
        assert!(pvc(&input(&m), 0).is_some_and(|c| c.metadata.owner_references.is_some()));
    }
}
