//! The `kubectl-subnet` plugin against the local control plane: the operator runs against the
//! simulated chain so that a 2-replica Miner gets real status (registered, UIDs, diagnosis),
//! then the built plugin binary reads it — as the admin, with a ServiceAccount that has no
//! RBAC at all (refused, with the message saying what a read-only user needs), and with one
//! that may only get and list miners and validators (it works).
//!
//! The plugin binary is the one `cargo build` (or `cargo test --workspace`) puts beside the
//! operator's: `target/debug/kubectl-subnet`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use e2e::fixtures::{FleetNamespace, FleetYaml, status_reason};
use e2e::{SimChainProcess, client, kubeconfig_path, wait_until};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, PostParams};
use kube::config::Kubeconfig;
use subnet_operator::crd::Miner;
use subnet_operator::crd::fleet::DiagnosisReason as D;
use subnet_operator::keys::Hotkey;

/// Blocks the simulated chain's finalized block trails its best one.
const FINALITY_LAG: u64 = 3;

/// The plugin binary, built by `cargo build` beside the operator's.
fn plugin_binary() -> Result<PathBuf> {
    let bin = e2e::operator_binary()?.with_file_name("kubectl-subnet");
    if !bin.exists() {
        bail!(
            "{} is missing: run `cargo build -p kubectl-subnet` (or `cargo build`) first",
            bin.display()
        );
    }
    Ok(bin)
}

/// What one run of the plugin did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the plugin with `kubeconfig` (as `KUBECONFIG`, the way kubectl users have it) and
/// nothing else of this process's environment.
async fn plugin(kubeconfig: &Path, args: &[&str]) -> Result<Run> {
    let out = tokio::process::Command::new(plugin_binary()?)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .context("running kubectl-subnet")?;
    Ok(Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Cells of a table line: columns are separated by two spaces or more, cells hold at most
/// single spaces.
fn cells(line: &str) -> Vec<String> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// `ip:port` (an IPv4 address and a port).
fn is_addr(s: &str) -> bool {
    s.split_once(':').is_some_and(|(ip, port)| {
        ip.split('.').count() == 4
            && ip.split('.').all(|p| p.parse::<u8>().is_ok())
            && port.parse::<u16>().is_ok()
    })
}

/// Masks what changes from run to run in the header lines: timestamps, `ip:port` and the
/// number after `block`.
fn mask_words(line: &str) -> String {
    let mut out = vec![];
    let mut after_block = false;
    for word in line.split(' ') {
        let core = word.trim_end_matches([',', ')', ':', ';']);
        let tail = &word[core.len()..];
        let masked = if core.len() >= 20
            && core.as_bytes()[4] == b'-'
            && core.contains('T')
            && core.ends_with('Z')
        {
            format!("[time]{tail}")
        } else if is_addr(core) {
            format!("[addr]{tail}")
        } else if after_block && !core.is_empty() && core.bytes().all(|b| b.is_ascii_digit()) {
            format!("[n]{tail}")
        } else {
            word.to_string()
        };
        after_block = core == "block";
        out.push(masked);
    }
    out.join(" ")
}

/// The status table with what changes from run to run masked: the namespace, the price now,
/// hotkeys, block numbers, immunity left and the axon's address (a NodePort); the table is
/// aligned again after masking.
fn mask_status(out: &str, ns: &str) -> String {
    const VOLATILE: [&str; 4] = ["HOTKEY", "REGISTERED AT", "IMMUNE LEFT", "AXON"];
    let mut text = String::new();
    let mut table: Vec<Vec<String>> = vec![];
    let flush = |table: &mut Vec<Vec<String>>, text: &mut String| {
        let Some(header) = table.first().cloned() else {
            return;
        };
        for row in table.iter_mut().skip(1) {
            for (i, cell) in row.iter_mut().enumerate() {
                if header
                    .get(i)
                    .is_some_and(|h| VOLATILE.contains(&h.as_str()))
                    && cell != "-"
                {
                    *cell = format!("[{}]", header[i].to_lowercase());
                }
            }
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                table
                    .iter()
                    .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in table.iter() {
            let line: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
                .collect();
            text.push_str(line.join("  ").trim_end());
            text.push('\n');
        }
        table.clear();
    };
    for line in out.lines() {
        let line = line.replace(ns, "[ns]");
        if line.starts_with("INDEX  ") || !table.is_empty() && !line.is_empty() {
            table.push(cells(&line));
            continue;
        }
        flush(&mut table, &mut text);
        // The price moves with every block and registration.
        if let Some(rest) = line.strip_prefix("Price now") {
            let pad = rest.len() - rest.trim_start().len();
            text.push_str(&format!("Price now{}[price] TAO\n", " ".repeat(pad)));
            continue;
        }
        text.push_str(&mask_words(&line));
        text.push('\n');
    }
    flush(&mut table, &mut text);
    text
}

/// A kubeconfig for the test cluster's server and CA that authenticates with `token` and
/// defaults to `namespace`; deleted when dropped. It lives in the system's temporary
/// directory, not in the artifacts the secret scan reads.
struct TokenKubeconfig {
    path: PathBuf,
}

impl TokenKubeconfig {
    fn write(admin: &Path, token: &str, namespace: &str) -> Result<Self> {
        let kc = Kubeconfig::read_from(admin)?;
        let current = kc.current_context.clone().context("no current context")?;
        let cluster_name = kc
            .contexts
            .iter()
            .find(|c| c.name == current)
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.clone())
            .context("the current context names no cluster")?;
        let cluster = kc
            .clusters
            .iter()
            .find(|c| c.name == cluster_name)
            .context("the context's cluster is missing")?;
        let doc = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [serde_json::to_value(cluster)?],
            "users": [{"name": "reader", "user": {"token": token}}],
            "contexts": [{"name": "reader", "context": {
                "cluster": cluster_name, "user": "reader", "namespace": namespace,
            }}],
            "current-context": "reader",
        });
        let path = std::env::temp_dir().join(format!(
            "kubectl-subnet-e2e-{namespace}-{}.kubeconfig",
            std::process::id()
        ));
        std::fs::write(&path, serde_json::to_vec_pretty(&doc)?)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(Self { path })
    }
}

impl Drop for TokenKubeconfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A ServiceAccount `name` in `ns` with no RBAC, and a token for it.
async fn service_account_token(client: &kube::Client, ns: &str, name: &str) -> Result<String> {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    sas.create(
        &PostParams::default(),
        &serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))?,
    )
    .await?;
    let tr = sas
        .create_token_request(
            name,
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec {
                    expiration_seconds: Some(600),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .context("TokenRequest")?;
    Ok(tr.status.context("TokenRequest without a status")?.token)
}

/// Grants `sa` in `ns` get and list on miners and validators, and nothing else.
async fn grant_read_only(client: &kube::Client, ns: &str, sa: &str) -> Result<()> {
    let roles: Api<Role> = Api::namespaced(client.clone(), ns);
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": "subnet-reader"},
                "rules": [{
                    "apiGroups": ["subnet-operator.io"],
                    "resources": ["miners", "validators"],
                    "verbs": ["get", "list"],
                }],
            }))?,
        )
        .await?;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), ns);
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": "subnet-reader"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "subnet-reader"},
                "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
            }))?,
        )
        .await?;
    Ok(())
}

/// The diagnoses of Miner `name`'s replicas 0.., as far as they exist.
async fn diagnoses(miners: &Api<Miner>, name: &str) -> Result<Vec<Option<D>>> {
    let mut s = miners.get(name).await?.status.unwrap_or_default();
    s.replica_statuses.sort_by_key(|r| r.index);
    Ok(s.replica_statuses
        .iter()
        .map(|r| r.diagnosis.as_ref().map(|d| d.reason))
        .collect())
}

#[tokio::test]
async fn the_plugin_shows_status_diagnosis_and_plan_and_works_read_only() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    let admin = kubeconfig_path().context("no test cluster")?;
    plugin_binary()?;
    let coldkey = Hotkey::generate()?;
    let genesis = format!(
        "feeRao: 1000\nfinalityLag: {FINALITY_LAG}\nbalances:\n  - {{account: {}, tao: \"1000\"}}\nsubnets:\n  - {{netuid: 1, burnTao: \"0.1\", burnHalfLife: 360, maxUids: 32, immunityPeriod: 200, tempo: 10}}\n",
        coldkey.ss58()
    );
    let chain = SimChainProcess::start(&genesis).await?;
    let w = FleetNamespace::new(
        &client,
        "kplug",
        coldkey,
        "{network: \"ws://simulated:9944\", netuid: 1}",
    )
    .await?;
    let ns = w.ns.clone();
    let mut op = w.operator(
        "op-kplug",
        &[
            ("CHAIN_BACKEND", "sim"),
            ("SIM_CHAIN_URL", &chain.url()),
            ("CHAIN_POLL_MS", "100"),
        ],
    )?;
    let signer = w.coldkey_signer().await?;
    let miners = w
        .miner(
            2,
            &signer,
            "{mode: Burn, maxPriceTao: \"1\", budget: {tao: \"5\", window: 24h}}",
        )
        .await?;
    // A second fleet that only plans.
    FleetYaml {
        name: "dry",
        coldkey: &w.coldkey,
        replicas: 2,
        signer: "",
        registration: "{mode: Burn, dryRun: true, maxPriceTao: \"1\"}",
        extra: "",
    }
    .create::<Miner>(&w.client, &ns)
    .await?;

    // Both replicas registered, their pods ready and exposed, no axon served: AxonNotServed.
    let started = Instant::now();
    let registered_and_exposed = wait_until(Duration::from_secs(120), || async {
        let s = miners.get("m").await?.status.unwrap_or_default();
        Ok(s.replica_statuses.len() == 2
            && s.replica_statuses.iter().all(|r| {
                r.registered
                    && r.axon_exposed.is_some()
                    && r.diagnosis.as_ref().map(|d| d.reason) == Some(D::AxonNotServed)
            }))
    })
    .await;
    if let Err(e) = registered_and_exposed {
        bail!("{e:#}\n{}", op.diagnose(40));
    }
    eprintln!("registered and exposed after {:?}", started.elapsed());
    // Replica 0 serves its axon where it is exposed and earns; replica 1 gets stake.
    let s = miners.get("m").await?.status.unwrap_or_default();
    let replica = |i: u32| s.replica_statuses.iter().find(|r| r.index == i);
    let hotkey_hex = |i: u32| -> Result<String> {
        let ss58 = replica(i)
            .and_then(|r| r.hotkey.clone())
            .context("hotkey")?;
        Ok(hex::encode(subnet_operator::keys::ss58_decode(&ss58)?))
    };
    let exposed = replica(0)
        .and_then(|r| r.axon_exposed.clone())
        .context("exposed")?;
    let post = |path: &'static str, body: serde_json::Value| {
        let addr = chain.addr.clone();
        async move { e2e::http_post_json(&addr, path, &body).await }
    };
    post(
        "/admin/axon",
        serde_json::json!({"netuid": 1, "hotkey": hotkey_hex(0)?, "ip": exposed.ip, "port": exposed.port}),
    )
    .await?;
    post(
        "/admin/performance",
        serde_json::json!({"netuid": 1, "hotkey": hotkey_hex(0)?, "emission": 1000, "incentive": 0.25}),
    )
    .await?;
    post(
        "/admin/stake",
        serde_json::json!({"netuid": 1, "hotkey": hotkey_hex(1)?, "rao": 1_500_000_000u64}),
    )
    .await?;
    chain.advance(FINALITY_LAG + 1).await?;
    let t = Instant::now();
    let settled = wait_until(Duration::from_secs(60), || async {
        let s = miners.get("m").await?.status.unwrap_or_default();
        let stake1 = s
            .replica_statuses
            .iter()
            .find(|r| r.index == 1)
            .and_then(|r| r.stake_rao);
        Ok(
            diagnoses(&miners, "m").await? == [Some(D::Earning), Some(D::AxonNotServed)]
                && stake1 == Some(1_500_000_000)
                && status_reason(&miners, "m", "AtRisk").await?.is_some(),
        )
    })
    .await;
    if let Err(e) = settled {
        bail!("{e:#}\n{}", op.diagnose(40));
    }
    // The dry-run fleet's plan (it can take a requeue, about 30 s, to appear).
    let planned = wait_until(Duration::from_secs(90), || async {
        let dry = miners.get("dry").await?.status.unwrap_or_default();
        Ok(dry.plan.is_some_and(|p| p.would_register == [0, 1]))
    })
    .await;
    if let Err(e) = planned {
        bail!("no plan for Miner dry: {e:#}\n{}", op.diagnose(40));
    }
    eprintln!(
        "the chain's figures reached the status after {:?}",
        t.elapsed()
    );
    let mut want = miners.get("m").await?.status.unwrap_or_default();
    want.replica_statuses.sort_by_key(|r| r.index);

    // status: the table, masked where it changes from run to run.
    let r = plugin(&admin, &["status", "miner/m", "-n", &ns]).await?;
    assert_eq!(r.code, Some(0), "{r}");
    insta::assert_snapshot!("status_table", mask_status(&r.stdout, &ns));

    // -o json: the replicas, with full hotkeys and the figures of the status.
    let r = plugin(&admin, &["status", "miner/m", "-n", &ns, "-o", "json"]).await?;
    assert_eq!(r.code, Some(0), "{r}");
    let j: serde_json::Value = serde_json::from_str(&r.stdout).with_context(|| r.to_string())?;
    assert_eq!(j["kind"], "Miner");
    assert_eq!(j["namespace"], ns.as_str());
    assert_eq!(j["subnet"]["tempo"], 10);
    assert_eq!(j["registeredReplicas"], 2);
    let replicas = j["replicas"].as_array().context("replicas")?;
    assert_eq!(replicas.len(), 2, "{j}");
    for (got, want) in replicas.iter().zip(&want.replica_statuses) {
        assert_eq!(got["index"], want.index);
        assert_eq!(got["hotkey"].as_str(), want.hotkey.as_deref());
        assert_eq!(got["hotkey"].as_str().map(str::len), Some(48));
        assert_eq!(got["uid"].as_u64(), want.uid.map(u64::from));
        assert_eq!(got["registered"], true);
    }
    assert_eq!(replicas[0]["diagnosis"]["reason"], "Earning");
    assert_eq!(replicas[0]["emissionRaoPerEpoch"], 1000);
    assert_eq!(replicas[1]["stakeRao"], 1_500_000_000u64);
    // The block time of a ws:// endpoint is unknown: no per-day figure unless given.
    assert!(replicas[0]["emissionRaoPerDay"].is_null(), "{j}");
    let r = plugin(
        &admin,
        &[
            "status",
            "miner",
            "m",
            "-n",
            &ns,
            "-o",
            "json",
            "--block-time",
            "12s",
        ],
    )
    .await?;
    let j: serde_json::Value = serde_json::from_str(&r.stdout).with_context(|| r.to_string())?;
    // 1000 rao an epoch, an epoch every tempo + 1 = 11 blocks, 7200 blocks a day.
    assert_eq!(
        j["replicas"][0]["emissionRaoPerDay"],
        1000 * 7200 / 11,
        "{r}"
    );
    let r = plugin(&admin, &["status", "mnr/m", "-n", &ns, "-o", "yaml"]).await?;
    let y: serde_yaml::Value = serde_yaml::from_str(&r.stdout).with_context(|| r.to_string())?;
    assert_eq!(y["replicas"].as_sequence().map(Vec::len), Some(2), "{r}");

    // diagnose: the planning fleet (nothing registered) first.
    let r = plugin(&admin, &["diagnose", "-n", &ns]).await?;
    assert_eq!(r.code, Some(0), "{r}");
    insta::assert_snapshot!("diagnose_table", r.stdout.replace(&ns, "[ns]"));
    let r = plugin(&admin, &["diagnose", "-A", "-o", "json"]).await?;
    assert_eq!(r.code, Some(0), "{r}");
    let j: serde_json::Value = serde_json::from_str(&r.stdout).with_context(|| r.to_string())?;
    let ours: Vec<&serde_json::Value> = j["fleets"]
        .as_array()
        .context("fleets")?
        .iter()
        .filter(|f| f["namespace"] == ns.as_str())
        .collect();
    assert_eq!(ours.len(), 2, "{j}");
    assert_eq!(ours[0]["name"], "dry");
    assert_eq!(ours[0]["worst"], "NotRegistered");
    assert_eq!(ours[1]["earning"]["reason"], "AxonNotServed");

    // plan: the dry-run fleet's plan, and why the other has none.
    let r = plugin(&admin, &["plan", "miner/dry", "-n", &ns]).await?;
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        r.stdout
            .contains("Would register  replicas 0, 1 (2 registrations)"),
        "{r}"
    );
    let r = plugin(&admin, &["plan", "miner/dry", "-n", &ns, "-o", "json"]).await?;
    let j: serde_json::Value = serde_json::from_str(&r.stdout).with_context(|| r.to_string())?;
    assert_eq!(j["plan"]["wouldRegister"], serde_json::json!([0, 1]), "{r}");
    assert_eq!(j["priceWithinLimit"], true, "{r}");
    let r = plugin(&admin, &["plan", "miner/m", "-n", &ns]).await?;
    assert!(r.stdout.contains("registration.dryRun is false"), "{r}");

    // A Miner that does not exist, and an argument that is not one.
    let r = plugin(&admin, &["status", "miner/nope", "-n", &ns]).await?;
    assert_eq!(r.code, Some(3), "{r}");
    assert_eq!(
        r.stderr.trim(),
        format!("error: miner nope not found in namespace {ns}")
    );
    assert!(r.stdout.is_empty(), "{r}");
    let r = plugin(&admin, &["status", "foo/bar", "-n", &ns]).await?;
    assert_eq!(r.code, Some(2), "{r}");
    assert!(r.stderr.contains("unknown kind \"foo\""), "{r}");

    // A ServiceAccount without RBAC: refused, and told what a read-only user needs.
    let token = service_account_token(&client, &ns, "reader").await?;
    let reader = TokenKubeconfig::write(&admin, &token, &ns)?;
    let r = plugin(&reader.path, &["status", "miner/m"]).await?;
    assert_eq!(r.code, Some(4), "{r}");
    assert!(
        r.stderr.starts_with(&format!(
            "error: access denied: cannot get miners.subnet-operator.io in namespace {ns} (403 Forbidden); a read-only kubeconfig needs the verbs get and list on miners.subnet-operator.io and validators.subnet-operator.io"
        )),
        "{r}"
    );
    let r = plugin(&reader.path, &["diagnose"]).await?;
    assert_eq!(r.code, Some(4), "{r}");
    assert!(
        r.stderr.contains(&format!(
            "cannot list miners.subnet-operator.io in namespace {ns}"
        )),
        "{r}"
    );

    // get and list on miners and validators only: it works (the namespace from the context),
    // without the Subnet (no tempo, so raw emission).
    grant_read_only(&client, &ns, "reader").await?;
    let granted = Instant::now();
    let r = loop {
        let r = plugin(&reader.path, &["status", "miner/m"]).await?;
        if r.code == Some(0) {
            break r;
        }
        if granted.elapsed() > Duration::from_secs(60) {
            bail!("read-only status still fails 60 s after the grant: {r}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!(
        "the read-only grant took effect after {:?}",
        granted.elapsed()
    );
    assert!(r.stdout.starts_with("Miner "), "{r}");
    assert!(
        r.stdout.contains(
            "Subnet        sn (no access: get on subnets.subnet-operator.io is not granted)"
        ),
        "{r}"
    );
    assert!(r.stdout.contains("EMISSION (RAO/EPOCH)"), "{r}");
    let r = plugin(&reader.path, &["diagnose", "-o", "json"]).await?;
    assert_eq!(r.code, Some(0), "{r}");
    let j: serde_json::Value = serde_json::from_str(&r.stdout).with_context(|| r.to_string())?;
    assert_eq!(j["fleets"].as_array().map(Vec::len), Some(2), "{j}");
    // Listing every namespace is still refused.
    let r = plugin(&reader.path, &["diagnose", "-A"]).await?;
    assert_eq!(r.code, Some(4), "{r}");
    assert!(
        r.stderr
            .contains("cannot list miners.subnet-operator.io in any namespace"),
        "{r}"
    );
    drop(op);
    Ok(())
}

#[test]
fn masking_keeps_the_table_aligned() {
    let out = "Miner   ns-1/m\nPrice now  0.15 TAO\nSubnet  sn (netuid 1, finalized block 123)\nSpend   0.1 TAO in the window since 2026-05-01T10:00:00Z (x)\nEarning False (X): replica 1: serve_axon with 10.0.0.1:30001\n\nINDEX  HOTKEY     UID  AXON\n0      5F3s…YjQX  10   10.0.0.1:30001\n1      5HGj…UMaw  2    -\n\nfooter\n";
    assert_eq!(
        mask_status(out, "ns-1"),
        "Miner   [ns]/m\nPrice now  [price] TAO\nSubnet  sn (netuid 1, finalized block [n])\nSpend   0.1 TAO in the window since [time] (x)\nEarning False (X): replica 1: serve_axon with [addr]\n\nINDEX  HOTKEY    UID  AXON\n0      [hotkey]  10   [axon]\n1      [hotkey]  2    -\n\nfooter\n"
    );
}
