//! Random valid specs never make a builder panic, and the objects keep their invariants.

use proptest::prelude::*;

use super::fixtures::input;
use super::workload::{pdb, pvc, service, statefulset};
use super::{ReplicaInput, replica_name};
use crate::crd::Miner;

fn spec_yaml() -> impl Strategy<Value = (String, u32)> {
    let gpu = prop_oneof![
        Just(String::new()),
        (
            0u32..9,
            prop_oneof![
                Just("nvidia.com/gpu"),
                Just("nvidia.com/mig-3g.20gb"),
                Just("nvidia.com/gpu.shared")
            ],
            proptest::option::of(1u64..200_000),
            proptest::option::of(1u32..12),
            proptest::bool::ANY,
            proptest::collection::vec("[A-Z][A-Za-z0-9-]{0,20}", 0..3),
        )
            .prop_map(|(count, res, mem, cc, tol, products)| {
                let mut g = format!(
                    "  gpu: {{count: {count}, resourceName: {res}, tolerateGpuTaint: {tol}"
                );
                if let Some(m) = mem {
                    g.push_str(&format!(", minMemoryMib: {m}"));
                }
                if let Some(c) = cc {
                    g.push_str(&format!(", minComputeMajor: {c}"));
                }
                if !products.is_empty() {
                    g.push_str(&format!(", products: [{}]", products.join(", ")));
                }
                g.push_str("}\n");
                g
            }),
    ];
    let axon = (
        prop_oneof![
            Just("HostPort"),
            Just("NodePort"),
            Just("LoadBalancer"),
            Just("None")
        ],
        1u16..=65535,
        proptest::option::of((1u8..=254, 0u8..=255, 0u8..=255, 1u8..=254)),
    )
        .prop_map(|(exp, port, ip)| {
            let ip = ip
                .map(|(a, b, c, d)| format!(", externalIp: {a}.{b}.{c}.{d}"))
                .unwrap_or_default();
            format!("  axon: {{exposure: {exp}, port: {port}{ip}}}\n")
        });
    let storage = prop_oneof![
        Just(String::new()),
        (1u32..1000, proptest::bool::ANY, proptest::bool::ANY).prop_map(|(gi, a, b)| {
            let p = |x: bool| if x { "Retain" } else { "Delete" };
            format!(
                "  storage: {{size: {gi}Gi, whenScaled: {}, whenDeleted: {}}}\n",
                p(a),
                p(b)
            )
        }),
    ];
    let template = (
        "[a-z0-9./:-]{1,40}",
        proptest::collection::vec("[A-Za-z0-9_$(){}=-]{0,12}", 0..4),
        proptest::collection::vec("[A-Z][A-Z0-9_]{0,10}", 0..3),
        proptest::option::of("[a-z]{1,10}"),
    )
        .prop_map(|(image, args, env, queue)| {
            let env: Vec<String> = env
                .into_iter()
                .map(|e| format!("{{name: {e}, value: x}}"))
                .collect();
            let args: Vec<String> = args.into_iter().map(|a| format!("{a:?}")).collect();
            let q = queue
                .map(|q| format!(", queueName: {q:?}"))
                .unwrap_or_default();
            format!(
                "  template: {{image: {image:?}, args: [{}], env: [{}]{q}}}\n",
                args.join(", "),
                env.join(", ")
            )
        });
    (gpu, axon, storage, template, 0u32..64, proptest::option::of("[a-z0-9-]{1,20}"))
        .prop_map(|(gpu, axon, storage, template, index, wallet)| {
            let wallet = wallet.map(|w| format!("name: {w:?}, ")).unwrap_or_default();
            let yaml = format!(
                "apiVersion: subnet-operator.io/v1alpha1\nkind: Miner\nmetadata: {{name: m, namespace: ns}}\nspec:\n  subnetRef: {{name: sn}}\n  replicas: 3\n  wallet: {{{wallet}coldkeyPub: {{ss58: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY}}}}\n{gpu}{axon}{storage}{template}"
            );
            (yaml, index)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn builders_never_panic_and_keep_invariants((yaml, index) in spec_yaml()) {
        let m: Miner = match serde_yaml::from_str(&yaml) {
            Ok(m) => m,
            Err(e) => return Err(TestCaseError::fail(format!("generator made invalid YAML: {e}\n{yaml}"))),
        };
        let f = input(&m);
        let r = ReplicaInput {
            index,
            hotkey_secret: format!("m-hotkey-{index}"),
            external_ip: None,
            external_port: None,
        };
        let sts = statefulset(&f, &r);
        prop_assert_eq!(sts.metadata.name.clone(), Some(replica_name("m", index)));
        let pod = sts.spec.clone().unwrap_or_default().template.spec.unwrap_or_default();
        // Only this replica's hotkey Secret is mounted.
        let mounted: Vec<String> = pod.volumes.iter().flatten()
            .filter_map(|v| v.projected.clone())
            .flat_map(|p| p.sources.unwrap_or_default())
            .filter_map(|s| s.secret.map(|s| s.name))
            .filter(|n| n.contains("hotkey"))
            .collect();
        prop_assert_eq!(mounted, vec![format!("m-hotkey-{index}")]);
        if let Some(g) = m.spec.fleet.gpu.as_ref().filter(|g| g.count > 0) {
            let limits = pod.containers[0].resources.clone().unwrap_or_default().limits.unwrap_or_default();
            prop_assert_eq!(limits.get(&g.resource_name).map(|q| q.0.clone()), Some(g.count.to_string()));
        }
        let _ = service(&f, index);
        let _ = pvc(&f, index);
        let _ = pdb(&f);
    }
}
