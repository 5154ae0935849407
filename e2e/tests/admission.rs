//! The CRDs on a real apiserver: valid samples are admitted, invalid ones are rejected with
//! their messages, and `kubectl explain` shows the field descriptions.

use anyhow::{Context, Result};
use e2e::{TempNamespace, client, install_crds, kubectl};
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use subnet_operator::crd::samples::{self, Sample};

fn api_for(client: &kube::Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("subnet-operator.io", "v1alpha1", kind);
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk))
}

fn dynamic(v: serde_json::Value) -> Result<DynamicObject> {
    Ok(serde_json::from_value(v)?)
}

async fn try_admit(
    client: &kube::Client,
    ns: &str,
    s: &Sample,
) -> Result<std::result::Result<(), String>> {
    let api = api_for(client, ns, s.kind());
    if let Some(old) = s.old_object() {
        // Update rules: the old object is created for real, then replaced.
        let created = api
            .create(&PostParams::default(), &dynamic(old)?)
            .await
            .with_context(|| format!("{}: creating the old object", s.name))?;
        let mut new = dynamic(s.object())?;
        new.metadata.resource_version = created.metadata.resource_version;
        return Ok(api
            .replace(&s.name, &PostParams::default(), &new)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()));
    }
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    Ok(api
        .create(&dry, &dynamic(s.object())?)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string()))
}

#[tokio::test]
async fn samples_are_admitted_or_rejected_with_their_messages() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "admission").await?;

    let valid = samples::parse(samples::VALID)?;
    for s in &valid {
        let r = try_admit(&client, &ns.name, s).await?;
        assert!(r.is_ok(), "valid sample {} was rejected: {r:?}", s.name);
    }
    let invalid = samples::parse(samples::INVALID)?;
    assert!(invalid.len() >= 20);
    for s in &invalid {
        let expect = s.expect.clone().unwrap_or_default();
        match try_admit(&client, &ns.name, s).await? {
            Ok(()) => panic!(
                "invalid sample {} was admitted (expected {expect:?})",
                s.name
            ),
            Err(msg) => assert!(
                msg.contains(&expect),
                "invalid sample {}: expected {expect:?} in the apiserver's message, got: {msg}",
                s.name
            ),
        }
    }
    eprintln!(
        "admitted {} valid and rejected {} invalid samples",
        valid.len(),
        invalid.len()
    );
    Ok(())
}

#[tokio::test]
async fn kubectl_explain_shows_descriptions() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    // Discovery may lag the Established condition by a moment.
    let mut text = String::new();
    e2e::wait_until(std::time::Duration::from_secs(30), || {
        let out = kubectl(&["explain", "miner.spec.gpu"]);
        let ok = matches!(&out, Ok(o) if o.status.success());
        if let Ok(o) = out {
            text = String::from_utf8_lossy(&o.stdout).to_string();
        }
        async move { Ok(ok) }
    })
    .await?;
    for want in [
        "GPUs per replica and where they may be scheduled",
        "resourceName",
        "nvidia.com/mig-3g.20gb",
        "minMemoryMib",
        "nvidia.com/gpu.compute.major",
    ] {
        assert!(
            text.contains(want),
            "`kubectl explain miner.spec.gpu` lacks {want:?}:\n{text}"
        );
    }
    let out = kubectl(&["explain", "validator.spec.weights.maxStaleTempos"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Weights older than this many tempos"),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn manifest_samples_are_admitted() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "samples").await?;
    let dir = e2e::repo_root().join("manifests/samples");
    let out = kubectl(&[
        "apply",
        "--dry-run=server",
        "--recursive",
        "-n",
        &ns.name,
        "-f",
        &dir.to_string_lossy(),
    ])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for kind in [
        "subnet.subnet-operator.io",
        "miner.subnet-operator.io",
        "validator.subnet-operator.io",
    ] {
        assert!(stdout.contains(kind), "no {kind} in:\n{stdout}");
    }
    // Every sample, including those in subfolders (localnet/, more/).
    for name in [
        "subnet.subnet-operator.io/dev",
        "miner.subnet-operator.io/dev-miners",
        "validator.subnet-operator.io/dev-validator",
        "miner.subnet-operator.io/imported",
        "miner.subnet-operator.io/proxied",
    ] {
        assert!(stdout.contains(name), "no {name} in:\n{stdout}");
    }
    Ok(())
}

/// Annotation holding a substring of the rejection message a bad-input case must produce.
const EXPECT_REJECTED: &str = "test.subnet-operator.io/expect-rejected";
/// Annotation describing a bad-input case.
const CASE: &str = "test.subnet-operator.io/case";

/// One object of `e2e/tests/bad_input/rejected.yaml`.
struct BadInput {
    name: String,
    kind: String,
    case: String,
    expect: String,
    object: DynamicObject,
}

fn bad_inputs() -> Result<Vec<BadInput>> {
    let path = e2e::repo_root().join("e2e/tests/bad_input/rejected.yaml");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let mut cases = vec![];
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v: serde_json::Value = serde::Deserialize::deserialize(doc)?;
        if v.is_null() {
            continue;
        }
        let object: DynamicObject = serde_json::from_value(v.clone())?;
        let name = object
            .metadata
            .name
            .clone()
            .context("a case without a name")?;
        let note = |key: &str| {
            object
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(key))
                .cloned()
                .with_context(|| format!("{name}: no annotation {key}"))
        };
        cases.push(BadInput {
            kind: v["kind"].as_str().unwrap_or_default().to_string(),
            case: note(CASE)?,
            expect: note(EXPECT_REJECTED)?,
            name,
            object,
        });
    }
    Ok(cases)
}

/// Dry-run creates `o`; `Err` carries the apiserver's message.
async fn dry_create(
    client: &kube::Client,
    ns: &str,
    kind: &str,
    o: &DynamicObject,
) -> std::result::Result<DynamicObject, String> {
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    api_for(client, ns, kind)
        .create(&dry, o)
        .await
        .map_err(|e| e.to_string())
}

/// Careless and hostile input (issue #16): every object of `bad_input/rejected.yaml` is rejected
/// by admission, with a message containing the case's expected substring. All mismatches are
/// collected and listed together.
#[tokio::test]
async fn bad_input_is_rejected_with_clear_messages() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    let cases = bad_inputs()?;
    assert!(cases.len() >= 40, "only {} bad-input cases", cases.len());
    let mut names = std::collections::BTreeSet::new();
    for c in &cases {
        assert!(
            names.insert(&c.name),
            "two bad-input cases are named {}",
            c.name
        );
        assert!(
            ["Subnet", "Miner", "Validator"].contains(&c.kind.as_str()),
            "{}: kind {:?}",
            c.name,
            c.kind
        );
    }
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "bad-input").await?;

    let mut failing: Vec<&BadInput> = cases.iter().collect();
    let mut mismatches = vec![];
    // The apiserver serves a just-updated CRD's schema a moment after it is Established: a
    // case admitted in the first rounds is tried again before it counts.
    for round in 0..5 {
        if round > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
        mismatches.clear();
        let mut still = vec![];
        for c in failing {
            let problem = match dry_create(&client, &ns.name, &c.kind, &c.object).await {
                Ok(_) => Some("admitted".to_string()),
                Err(msg) if msg.contains(&c.expect) => None,
                Err(msg) => Some(format!("rejected with another message: {msg}")),
            };
            if let Some(p) = problem {
                mismatches.push(format!(
                    "{} ({}): expected a rejection containing {:?}; {p}",
                    c.name, c.case, c.expect
                ));
                still.push(c);
            }
        }
        failing = still;
        if failing.is_empty() {
            break;
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} bad-input cases were not rejected as expected:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
    eprintln!("rejected all {} bad-input cases", cases.len());
    Ok(())
}

/// Input near the new bounds that must still be admitted, and the defaults the apiserver applies.
#[tokio::test]
async fn careful_input_near_the_bounds_is_admitted() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "near-bounds").await?;
    let base = |name: &str, kind: &str, extra: &str| {
        format!(
            "{{apiVersion: subnet-operator.io/v1alpha1, kind: {kind}, metadata: {{name: {name}}}, spec: {{subnetRef: {{name: sn}}, wallet: {{coldkeyPub: {{ss58: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY}}}}, template: {{image: 'miner:1'}}{extra}}}}}"
        )
    };
    let forty = "m".repeat(40);
    let ok = [
        base("empty-registration", "Miner", ", registration: {}"),
        base(&forty, "Miner", ""),
        base("v-40-chars-is-fine-xxxxxxxxxxxxxxxxxxxxx", "Validator", ""),
        base(
            "bounds",
            "Miner",
            ", replicas: 4096, removeReplicas: [0, 4095], updateStrategy: {canary: {index: 4095, autoPromoteAfter: 0s}}, gpu: {count: 64, minMemoryMib: 1048576, minComputeMajor: 99, products: [NVIDIA-H100-80GB-HBM3]}",
        ),
        base(
            "max-price",
            "Miner",
            ", wallet: {coldkeyPub: {ss58: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY}, registrationSigner: {proxy: {secretRef: {name: p}}}}, registration: {mode: Burn, maxPriceTao: '99999999.999999999', budget: {tao: '0', window: 1s}}",
        ),
        base(
            "same-secret-two-keys",
            "Miner",
            ", replicas: 3, wallet: {coldkeyPub: {ss58: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY}, hotkeys: {imports: [{index: 0, secretRef: {name: hk}}, {index: 1, secretRef: {name: hk}, format: Keyfile}, {index: 2, secretRef: {name: hk, key: other}}]}}",
        ),
        base(
            "private-ip",
            "Miner",
            ", axon: {exposure: HostPort, externalIp: 10.0.0.5}",
        ),
        base(
            "ipv6",
            "Miner",
            ", axon: {exposure: HostPort, externalIp: '2a01:4f8::1'}",
        ),
        base(
            "paths",
            "Miner",
            ", wallet: {coldkeyPub: {ss58: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY}, path: /root/.bittensor/wallets}, storage: {size: 1073741824, mountPath: /root/.bittensor/cache}",
        ),
        base(
            "wallet-under-storage",
            "Validator",
            ", wallet: {coldkeyPub: {ss58: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY}, path: /data/wallets-x}, storage: {size: 500Mi, mountPath: /data/wallets}, weights: {restartWindow: 1s, maxRestarts: 100, maxStaleTempos: 10000}",
        ),
        base(
            "labels",
            "Miner",
            ", template: {image: 'ghcr.io/org/miner@sha256:0123', serviceAccountName: miner, automountServiceAccountToken: false, queueName: gpu-queue, priorityClassName: high, labels: {team: ml, example.com/tier: '', app: miner}, annotations: {prometheus.io/scrape: 'true', cluster-autoscaler.kubernetes.io/safe-to-evict: 'false'}, nodeSelector: {kubernetes.io/arch: amd64}}",
        ),
    ];
    let mut problems = vec![];
    let mut empty_registration = None;
    for yaml in &ok {
        let v: serde_json::Value = serde_yaml::from_str(yaml)?;
        let kind = v["kind"].as_str().unwrap_or_default().to_string();
        let name = v["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match dry_create(&client, &ns.name, &kind, &dynamic(v)?).await {
            Ok(o) if name == "empty-registration" => empty_registration = Some(o),
            Ok(_) => {}
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    assert!(problems.is_empty(), "rejected:\n{}", problems.join("\n"));
    // `registration: {}` means Manual, as an absent `registration` does.
    let o = empty_registration.context("no empty-registration object")?;
    assert_eq!(
        o.data["spec"]["registration"]["mode"].as_str(),
        Some("Manual"),
        "{}",
        o.data["spec"]["registration"]
    );
    let o = dry_create(
        &client,
        &ns.name,
        "Miner",
        &dynamic(serde_yaml::from_str(&base("no-registration", "Miner", ""))?)?,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    assert_eq!(
        o.data["spec"]["registration"]["mode"].as_str(),
        Some("Manual")
    );
    Ok(())
}
