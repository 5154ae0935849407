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
