//! The encrypted coldkey signer's memory on the local control plane: two Miners whose
//! `wallet.registrationSigner.coldkey` is a btcli `$NACL` keyfile with a WRONG password, while
//! their reconciles are forced every 2 s. Decrypting runs Argon2i over 512 MiB; the operator
//! must try each version of the Secrets once (failures are cached), run one derivation at a
//! time (two fleets cannot stack 2 × 512 MiB) and give the memory back afterwards.
//!
//! The window is `E2E_SIGNER_WINDOW_SECS` (default 60). The figures measured (base, peak and
//! final RSS, derivations, reconciles) are printed to stderr.

use e2e::fixtures::ready_reason;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use e2e::{OperatorProcess, TempNamespace, client, install_crds, wait_until};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use subnet_operator::crd::Miner;
use subnet_operator::keys::{Hotkey, nacl};

/// What one derivation allocates: libsodium's SENSITIVE memory limit (512 MiB).
const KDF_KIB: u64 = nacl::MEM_LIMIT_KIB as u64;
/// Room over base + one derivation for the allocator, the blocking thread's stack and the
/// reconciles running meanwhile. Two derivations at once would exceed it by ~450 MiB.
const MARGIN_KIB: u64 = 64 * 1024;
/// The log line the operator writes after each derivation (success or failure).
const DERIVED: &str = "derived the coldkey key";

/// `VmRSS` and `VmHWM` (peak RSS) of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

/// A metric's value from a Prometheus text scrape (the first series whose line starts with
/// `series`).
fn metric(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

async fn secret(secrets: &Api<Secret>, name: &str, key: &str, value: &[u8]) -> Result<()> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(value);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": name}, "data": {key: b64},
            }))?,
        )
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_wrong_coldkey_password_is_tried_once_and_memory_stays_bounded() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    let window = Duration::from_secs(
        std::env::var("E2E_SIGNER_WINDOW_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "signer-mem").await?;
    let ns_name = ns.name.clone();

    // A btcli-format coldkey, encrypted at btcli's cost with the right password (this process
    // pays one derivation for it; the operator's are counted in its log).
    let coldkey = Hotkey::generate()?;
    let plain = coldkey.keyfile_json();
    let keyfile =
        tokio::task::spawn_blocking(move || nacl::encrypt(plain.as_bytes(), b"right")).await??;

    let mut op = OperatorProcess::start(&ns_name, "op-signer-mem", &[])?;
    let pid = op.pid();
    wait_until(Duration::from_secs(60), || async {
        Ok(metric(&op.get("/metrics").await?.1, "subnet_operator_leader ") == 1.0)
    })
    .await
    .with_context(|| op.diagnose(30))?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (base, base_hwm) = rss_kib(pid)?;

    e2e::fixtures::subnet(&client, &ns_name, "{network: finney, netuid: 7}").await?;
    // Two fleets, each with its own keyfile and (wrong) password Secrets.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns_name);
    let miners: Api<Miner> = Api::namespaced(client.clone(), &ns_name);
    let names = ["m1", "m2"];
    for m in names {
        secret(&secrets, &format!("{m}-cold"), "coldkey", &keyfile).await?;
        secret(&secrets, &format!("{m}-cold-pw"), "password", b"wrong\n").await?;
        let yaml = format!(
            "apiVersion: subnet-operator.io/v1alpha1\nkind: Miner\nmetadata: {{name: {m}}}\nspec:\n  subnetRef: {{name: sn}}\n  replicas: 1\n  wallet:\n    coldkeyPub: {{ss58: {}}}\n    registrationSigner: {{coldkey: {{secretRef: {{name: {m}-cold}}, passwordSecretRef: {{name: {m}-cold-pw}}}}}}\n  registration: {{mode: Burn, maxPriceTao: \"1\"}}\n  template: {{image: \"miner:1\"}}\n",
            coldkey.ss58()
        );
        miners
            .create(&PostParams::default(), &serde_yaml::from_str(&yaml)?)
            .await?;
    }
    let reconciles_before = metric(
        &op.get("/metrics").await?.1,
        "subnet_operator_reconciles_total{kind=\"Miner\"}",
    );

    // The window: force reconciles every 2 s, sample the RSS every 250 ms.
    let started = Instant::now();
    let mut peak_rss = base;
    let mut patches = 0u32;
    let mut next_patch = Instant::now();
    while started.elapsed() < window {
        if Instant::now() >= next_patch {
            patches += 1;
            let p =
                serde_json::json!({"metadata": {"annotations": {"e2e/poke": patches.to_string()}}});
            for m in names {
                miners
                    .patch(m, &PatchParams::default(), &Patch::Merge(&p))
                    .await?;
            }
            next_patch += Duration::from_secs(2);
        }
        peak_rss = peak_rss.max(rss_kib(pid)?.0);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (end_rss, hwm) = rss_kib(pid)?;
    let scrape = op.get("/metrics").await?.1;
    let reconciles =
        metric(&scrape, "subnet_operator_reconciles_total{kind=\"Miner\"}") - reconciles_before;
    let derived = op.log_text().matches(DERIVED).count();
    eprintln!(
        "signer memory over {window:?}: base RSS {} (peak before the Miners {}), sampled peak \
         RSS {}, VmHWM {}, RSS at the end {}; {derived} derivations, {reconciles} Miner \
         reconciles, {patches} annotation patches per Miner",
        mib(base),
        mib(base_hwm),
        mib(peak_rss),
        mib(hwm),
        mib(end_rss),
    );

    // Both Miners report the signer problem, with the clear error and no secret.
    for m in names {
        let (reason, message) = ready_reason(&miners, m)
            .await?
            .with_context(|| format!("{m} has no Ready condition"))?;
        ensure!(
            reason == "InvalidSigner",
            "{m}: Ready reason {reason}: {message}"
        );
        ensure!(
            message.contains("cannot decrypt the keyfile (wrong password?)"),
            "{m}: {message}"
        );
        ensure!(!message.contains("wrong\n") && !message.contains("right"));
    }
    // Each fleet's Secrets were decrypted once, however often it reconciled.
    ensure!(
        derived == names.len(),
        "{derived} derivations for {} fleets whose Secrets never changed:\n{}",
        names.len(),
        op.diagnose(40)
    );
    // One derivation at a time: the peak is the base plus one KDF's memory, never two.
    let bound = base_hwm + KDF_KIB + MARGIN_KIB;
    ensure!(
        hwm < bound,
        "peak RSS {} is over base {} + one derivation {} + margin {}",
        mib(hwm),
        mib(base_hwm),
        mib(KDF_KIB),
        mib(MARGIN_KIB)
    );
    // The KDF's memory went back to the OS.
    ensure!(
        end_rss < base + MARGIN_KIB,
        "RSS {} after the derivations, base {}: the KDF's memory was not returned",
        mib(end_rss),
        mib(base)
    );

    // Reconciles ran all along (the derivations above were not for want of them).
    ensure!(
        reconciles >= (window.as_secs() / 4) as f64,
        "only {reconciles} Miner reconciles in {window:?}: the window did not force reconciles"
    );

    // The password Secret changes (now right): tried again, and the signer loads.
    secrets
        .patch(
            "m1-cold-pw",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"stringData": {"password": "right\n"}})),
        )
        .await?;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let m = miners.get("m1").await?;
        if m.status
            .and_then(|s| s.registration_signer)
            .is_some_and(|s| s.kind == "Coldkey" && s.ss58 == coldkey.ss58())
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("m1's signer did not load: {}", op.diagnose(40));
        }
        let p = serde_json::json!({"metadata": {"annotations": {"e2e/poke": "after"}}});
        miners
            .patch("m1", &PatchParams::default(), &Patch::Merge(&p))
            .await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (after_rss, after_hwm) = rss_kib(pid)?;
    let derived_after = op.log_text().matches(DERIVED).count();
    eprintln!(
        "after the right password: {derived_after} derivations, RSS {}, VmHWM {}",
        mib(after_rss),
        mib(after_hwm)
    );
    ensure!(
        derived_after == names.len() + 1,
        "{derived_after} derivations"
    );
    ensure!(after_hwm < bound, "peak RSS {}", mib(after_hwm));
    ensure!(
        after_rss < base + MARGIN_KIB,
        "RSS {} after a successful decryption, base {}",
        mib(after_rss),
        mib(base)
    );
    Ok(())
}
