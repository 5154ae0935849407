//! Keys on the local control plane: hotkeys survive scaling and re-creation, a foreign Secret
//! is never overwritten, wallets work with the real Python SDKs both ways, and no secret
//! appears in logs, events or status.

use e2e::fixtures::ready_reason;
use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result};
use e2e::{
    OperatorProcess, TempNamespace, client, install_crds, kubectl, python, wait_until, wallet_tool,
};
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use subnet_operator::crd::Miner;
use subnet_operator::keys::signer::Signer;
use subnet_operator::keys::{self as keys, Hotkey};

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

async fn setup(client: &kube::Client, ns: &str) -> Result<()> {
    kube_apply(
        client,
        ns,
        "{apiVersion: subnet-operator.io/v1alpha1, kind: Subnet, metadata: {name: sn}, spec: {network: finney, netuid: 7}}",
    )
    .await
}

async fn kube_apply(client: &kube::Client, ns: &str, yaml: &str) -> Result<()> {
    let obj: kube::api::DynamicObject = serde_yaml::from_str(yaml)?;
    let gvk = kube::core::GroupVersionKind::try_from(
        obj.types
            .as_ref()
            .context("object without apiVersion/kind")?,
    )?;
    let (ar, _) = kube::discovery::pinned_kind(client, &gvk).await?;
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    api.create(&PostParams::default(), &obj).await?;
    Ok(())
}

fn miner_yaml(name: &str, replicas: u32, extra_wallet: &str) -> String {
    format!(
        r#"
apiVersion: subnet-operator.io/v1alpha1
kind: Miner
metadata: {{name: {name}}}
spec:
  subnetRef: {{name: sn}}
  replicas: {replicas}
  wallet:
    coldkeyPub: {{ss58: {ALICE}}}
{extra_wallet}
  template: {{image: "miner:1"}}
"#
    )
}

/// index → hotkey ss58 from the Miner's status.
async fn hotkeys(miners: &Api<Miner>, name: &str) -> Result<BTreeMap<u32, String>> {
    let m = miners.get(name).await?;
    Ok(m.status
        .unwrap_or_default()
        .replica_statuses
        .into_iter()
        .filter_map(|r| Some((r.index, r.hotkey?)))
        .collect())
}

async fn wait_hotkeys(miners: &Api<Miner>, name: &str, n: usize) -> Result<BTreeMap<u32, String>> {
    wait_until(Duration::from_secs(60), || async {
        Ok(hotkeys(miners, name).await?.len() == n)
    })
    .await
    .with_context(|| format!("waiting for {n} hotkeys in {name}'s status"))?;
    hotkeys(miners, name).await
}

fn secret_value(s: &Secret, key: &str) -> Vec<u8> {
    s.data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .unwrap_or_default()
}

/// Every secret string inside the hotkey Secrets of `ns`: mnemonics, seeds, private keys.
async fn secret_material(secrets: &Api<Secret>) -> Result<Vec<String>> {
    let list = secrets
        .list(&ListParams::default().labels("app.kubernetes.io/component=hotkey"))
        .await?;
    let mut out = vec![];
    for s in &list.items {
        let v: serde_json::Value = serde_json::from_slice(&secret_value(s, "hotkey"))?;
        for f in ["secretPhrase", "secretSeed", "privateKey"] {
            if let Some(x) = v[f].as_str() {
                out.push(x.to_string());
                // Also without the 0x prefix, and the phrase's first words.
                out.push(x.trim_start_matches("0x").to_string());
                if f == "secretPhrase" {
                    out.push(x.split(' ').take(4).collect::<Vec<_>>().join(" "));
                }
            }
        }
    }
    Ok(out)
}

/// Fails if any secret appears in the operator's log, the namespace's events or the Miners'
/// status.
async fn assert_no_leaks(client: &kube::Client, ns: &str, op: &OperatorProcess) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let material = secret_material(&secrets).await?;
    assert!(!material.is_empty(), "no hotkey Secrets to check");
    let events = Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await?;
    let miners = Api::<Miner>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await?;
    let haystacks = [
        ("operator log", op.log_text()),
        ("events", serde_json::to_string(&events.items)?),
        ("Miner status", serde_json::to_string(&miners.items)?),
    ];
    for (what, text) in &haystacks {
        assert!(
            !text.is_empty() || *what != "operator log",
            "empty operator log"
        );
        for m in &material {
            assert!(
                !text.contains(m.as_str()),
                "a hotkey secret appears in the {what}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn hotkeys_survive_scaling_and_recreation_and_never_leak() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "keys").await?;
    let op = OperatorProcess::start(&ns.name, "op-keys", &[])?;
    setup(&client, &ns.name).await?;
    let miners: Api<Miner> = Api::namespaced(client.clone(), &ns.name);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    miners
        .create(
            &PostParams::default(),
            &serde_yaml::from_str(&miner_yaml("m", 3, ""))?,
        )
        .await?;
    let first = wait_hotkeys(&miners, "m", 3).await?;
    assert_eq!(first.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2]);
    for (i, ss58) in &first {
        let s = secrets.get(&format!("m-hotkey-{i}")).await?;
        assert_eq!(s.immutable, Some(true));
        assert!(
            s.metadata.owner_references.is_none(),
            "hotkey Secrets must not be owned"
        );
        let pubfile: serde_json::Value =
            serde_json::from_slice(&secret_value(&s, "hotkeypub.txt"))?;
        assert_eq!(pubfile["ss58Address"].as_str(), Some(ss58.as_str()));
        // The hotkey file re-derives to the same address.
        let key = Hotkey::from_keyfile(&secret_value(&s, "hotkey"))?;
        assert_eq!(&key.ss58(), ss58);
    }
    let cold = secrets.get("m-coldkeypub").await?;
    assert!(String::from_utf8_lossy(&secret_value(&cold, "coldkeypub.txt")).contains(ALICE));

    // 3 → 1 → 3: the same three hotkeys.
    for (replicas, want) in [(1usize, 1usize), (3, 3)] {
        let out = kubectl(&[
            "-n",
            &ns.name,
            "scale",
            "miner/m",
            &format!("--replicas={replicas}"),
        ])?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let now = wait_hotkeys(&miners, "m", want).await?;
        for (i, ss58) in &now {
            assert_eq!(first.get(i), Some(ss58), "replica {i} changed its hotkey");
        }
        let all = secrets
            .list(
                &ListParams::default()
                    .labels("app.kubernetes.io/instance=m,app.kubernetes.io/component=hotkey"),
            )
            .await?;
        assert_eq!(
            all.items.len(),
            3,
            "a hotkey Secret was deleted or duplicated"
        );
    }

    // Delete and re-create the Miner: the hotkeys are reused.
    miners.delete("m", &DeleteParams::default()).await?;
    wait_until(Duration::from_secs(30), || async {
        Ok(miners.get_opt("m").await?.is_none())
    })
    .await?;
    assert_eq!(
        secrets
            .list(
                &ListParams::default()
                    .labels("app.kubernetes.io/instance=m,app.kubernetes.io/component=hotkey")
            )
            .await?
            .items
            .len(),
        3
    );
    miners
        .create(
            &PostParams::default(),
            &serde_yaml::from_str(&miner_yaml("m", 3, ""))?,
        )
        .await?;
    let again = wait_hotkeys(&miners, "m", 3).await?;
    assert_eq!(again, first, "re-created Miner got new hotkeys");

    assert_no_leaks(&client, &ns.name, &op).await?;
    Ok(())
}

#[tokio::test]
async fn a_foreign_secret_is_left_untouched_and_reported() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "foreign").await?;
    let _op = OperatorProcess::start(&ns.name, "op-foreign", &[])?;
    setup(&client, &ns.name).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    let foreign = secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": "m-hotkey-1"},
                "stringData": {"hotkey": "someone else's data"},
            }))?,
        )
        .await?;
    let miners: Api<Miner> = Api::namespaced(client.clone(), &ns.name);
    miners
        .create(
            &PostParams::default(),
            &serde_yaml::from_str(&miner_yaml("m", 2, ""))?,
        )
        .await?;
    wait_until(Duration::from_secs(60), || async {
        Ok(ready_reason(&miners, "m")
            .await?
            .is_some_and(|(r, _)| r == "HotkeySecretConflict"))
    })
    .await?;
    // Replica 0 still got its hotkey; replica 1 did not.
    let hk = hotkeys(&miners, "m").await?;
    assert!(hk.contains_key(&0) && !hk.contains_key(&1), "{hk:?}");
    let events = Api::<Event>::namespaced(client.clone(), &ns.name);
    wait_until(Duration::from_secs(30), || async {
        Ok(events
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("HotkeySecretConflict")
                    && e.type_.as_deref() == Some("Warning")
                    && e.message
                        .as_deref()
                        .unwrap_or_default()
                        .contains("m-hotkey-1")
            }))
    })
    .await?;
    let after = secrets.get("m-hotkey-1").await?;
    assert_eq!(
        after.metadata.resource_version,
        foreign.metadata.resource_version
    );
    assert_eq!(secret_value(&after, "hotkey"), b"someone else's data");

    // The same for the coldkey's public file: someone's `<name>-coldkeypub` is never taken over.
    let theirs = secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": "n-coldkeypub"},
                "stringData": {"coldkeypub.txt": "theirs"},
            }))?,
        )
        .await?;
    miners
        .create(
            &PostParams::default(),
            &serde_yaml::from_str(&miner_yaml("n", 1, ""))?,
        )
        .await?;
    wait_until(Duration::from_secs(60), || async {
        Ok(ready_reason(&miners, "n")
            .await?
            .is_some_and(|(r, _)| r == "ColdkeyPubSecretConflict"))
    })
    .await?;
    let after = secrets.get("n-coldkeypub").await?;
    assert_eq!(
        after.metadata.resource_version,
        theirs.metadata.resource_version
    );
    assert!(after.metadata.owner_references.is_none());
    Ok(())
}

#[tokio::test]
async fn wallets_work_with_the_python_sdk_both_ways() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    let Some(py) = python() else { return Ok(()) };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "sdk").await?;
    let op = OperatorProcess::start(&ns.name, "op-sdk", &[])?;
    setup(&client, &ns.name).await?;
    let dir = tempdir()?;
    let path = dir.to_string_lossy().to_string();

    // The SDK makes two hotkeys and a password-encrypted coldkey.
    let a = wallet_tool(&py, &["new-hotkey", &path, "sdk", "a"])?;
    let b = wallet_tool(&py, &["new-hotkey", &path, "sdk", "b"])?;
    let cold = wallet_tool(&py, &["new-coldkey", &path, "sdk", "correct horse"])?;
    let cold_ss58 = cold["ss58"].as_str().unwrap_or_default().to_string();
    let cold_file = std::fs::read(dir.join("sdk/coldkey"))?;
    assert!(
        cold_file.starts_with(b"$NACL"),
        "the SDK did not encrypt the coldkey"
    );
    // The SDK-encrypted coldkey decrypts in Rust with its password, to the same address.
    let signer = tokio::task::spawn_blocking({
        let f = cold_file.clone();
        move || Signer::coldkey(&f, b"correct horse")
    })
    .await??;
    assert_eq!(signer.ss58(), cold_ss58);
    assert!(Signer::coldkey(&cold_file, b"wrong").is_err());

    // Imports: hotkey a as a btcli keyfile, hotkey b as its mnemonic; the coldkey as signer.
    let b_file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("sdk/hotkeys/b"))?)?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    let mk = |name: &str, data: serde_json::Value| -> Result<Secret> {
        Ok(serde_json::from_value(
            serde_json::json!({"metadata": {"name": name}, "data": data}),
        )?)
    };
    use base64::Engine as _;
    let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
    secrets
        .create(
            &PostParams::default(),
            &mk(
                "import-a",
                serde_json::json!({"keyfile": b64(&std::fs::read(dir.join("sdk/hotkeys/a"))?)}),
            )?,
        )
        .await?;
    secrets
        .create(&PostParams::default(), &mk("import-b", serde_json::json!({"mnemonic": b64(b_file["secretPhrase"].as_str().unwrap_or_default().as_bytes())}))?)
        .await?;
    secrets
        .create(
            &PostParams::default(),
            &mk("cold", serde_json::json!({"coldkey": b64(&cold_file)}))?,
        )
        .await?;
    secrets
        .create(
            &PostParams::default(),
            &mk(
                "cold-pw",
                serde_json::json!({"password": b64(b"correct horse\n")}),
            )?,
        )
        .await?;
    let wallet = r#"    registrationSigner:
      coldkey: {secretRef: {name: cold}, passwordSecretRef: {name: cold-pw}}
    hotkeys:
      imports:
        - {index: 0, secretRef: {name: import-a}, format: Keyfile}
        - {index: 1, secretRef: {name: import-b}, format: Mnemonic}"#;
    let yaml = miner_yaml("m", 3, wallet).replace(ALICE, &cold_ss58);
    let miners: Api<Miner> = Api::namespaced(client.clone(), &ns.name);
    miners
        .create(&PostParams::default(), &serde_yaml::from_str(&yaml)?)
        .await?;
    let hk = wait_hotkeys(&miners, "m", 3).await?;
    assert_eq!(
        hk.get(&0).map(String::as_str),
        a["ss58"].as_str(),
        "imported keyfile"
    );
    assert_eq!(
        hk.get(&1).map(String::as_str),
        b["ss58"].as_str(),
        "imported mnemonic"
    );
    wait_until(Duration::from_secs(60), || async {
        let m = miners.get("m").await?;
        Ok(m.status
            .and_then(|s| s.registration_signer)
            .is_some_and(|s| s.kind == "Coldkey" && s.ss58 == cold_ss58))
    })
    .await
    .context("status.registrationSigner")?;

    // A wallet the operator generated (replica 2) loads in both SDKs, laid out as a pod sees
    // it, and what they sign verifies in Rust.
    let s = secrets.get("m-hotkey-2").await?;
    let cold_pub = secrets.get("m-coldkeypub").await?;
    let pod_path = dir.join("pod");
    let hotkeys_dir = pod_path.join("wallet/hotkeys");
    std::fs::create_dir_all(&hotkeys_dir)?;
    std::fs::write(hotkeys_dir.join("m-2"), secret_value(&s, "hotkey"))?;
    std::fs::write(
        hotkeys_dir.join("m-2pub.txt"),
        secret_value(&s, "hotkeypub.txt"),
    )?;
    std::fs::write(
        pod_path.join("wallet/coldkeypub.txt"),
        secret_value(&cold_pub, "coldkeypub.txt"),
    )?;
    let message = b"subnet-operator e2e";
    let signed = wallet_tool(
        &py,
        &[
            "sign",
            &pod_path.to_string_lossy(),
            "wallet",
            "m-2",
            &hex::encode(message),
        ],
    )?;
    let public = keys::ss58_decode(hk.get(&2).map(String::as_str).unwrap_or_default())?;
    for sdk in ["bittensor", "bittensor_wallet"] {
        let r = &signed[sdk];
        assert_eq!(r["ss58"].as_str(), hk.get(&2).map(String::as_str), "{sdk}");
        assert_eq!(r["coldkeypub"].as_str(), Some(cold_ss58.as_str()), "{sdk}");
        assert_eq!(r["verifies"], true, "{sdk}");
        let sig: [u8; 64] = hex::decode(r["signature"].as_str().unwrap_or_default())?
            .try_into()
            .map_err(|_| anyhow::anyhow!("bad signature length"))?;
        assert!(
            keys::verify(&public, message, &sig),
            "{sdk}'s signature does not verify in Rust"
        );
    }
    assert_no_leaks(&client, &ns.name, &op).await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempdir() -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!(
        "so-keys-{}-{}",
        std::process::id(),
        e2e::free_port()?
    ));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
