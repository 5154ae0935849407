//! Test harness for the cluster tests: a `kube::Client` for the local control plane started by
//! `e2e/cluster.sh up`, a temporary namespace per test, the CRDs, and the operator as a process.
//!
//! The cluster is found through `SUBNET_OPERATOR_E2E_KUBECONFIG` (set by
//! `eval "$(e2e/cluster.sh env)"`), never through `KUBECONFIG`, so a test can never touch a
//! cluster it did not start. Without it, cluster tests skip loudly; with `E2E_REQUIRED=1`
//! (set by `make test` and CI) they fail instead.

pub mod bad_input;
pub mod fixtures;
pub mod realchain;
pub mod rpc_count;
pub mod tools;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Environment variable holding the test cluster's kubeconfig path.
pub const KUBECONFIG_ENV: &str = "SUBNET_OPERATOR_E2E_KUBECONFIG";

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The test cluster's kubeconfig, or `None` (after saying so loudly) when no cluster is up.
/// Panics instead when `E2E_REQUIRED=1`.
pub fn kubeconfig_path() -> Option<PathBuf> {
    match std::env::var_os(KUBECONFIG_ENV) {
        Some(p) if Path::new(&p).exists() => Some(PathBuf::from(p)),
        _ => {
            let msg = format!(
                "SKIPPED: no local control plane ({KUBECONFIG_ENV} unset). Run `make test`, or \
                 `e2e/cluster.sh up && eval \"$(e2e/cluster.sh env)\"` first."
            );
            if std::env::var("E2E_REQUIRED").as_deref() == Ok("1") {
                panic!("{msg} (E2E_REQUIRED=1, so this is a failure)");
            }
            eprintln!("{msg}");
            None
        }
    }
}

/// A client for the test cluster, or `None` when no cluster is up (see [`kubeconfig_path`]).
pub async fn client() -> Option<Client> {
    let path = kubeconfig_path()?;
    match client_from(&path).await {
        Ok(c) => Some(c),
        Err(e) => panic!(
            "cannot connect to the test cluster ({}): {e:#}",
            path.display()
        ),
    }
}

async fn client_from(path: &Path) -> Result<Client> {
    let kc = Kubeconfig::read_from(path)?;
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(cfg)?)
}

/// Where the cluster tests leave what the secret scan reads afterwards: operator logs and the
/// events of every test namespace (`target/e2e-logs/`).
pub fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let dir = target.join("e2e-logs");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A namespace that exists for one test and is deleted when dropped (its events are saved to
/// [`artifacts_dir`] first).
pub struct TempNamespace {
    /// Its name.
    pub name: String,
    kubeconfig: PathBuf,
}

impl TempNamespace {
    /// Creates `<prefix>-<random>`.
    pub async fn new(client: &Client, prefix: &str) -> Result<Self> {
        let kubeconfig = kubeconfig_path().context("no test cluster")?;
        let suffix: u32 =
            std::process::id() ^ (Instant::now().elapsed().subsec_nanos()) ^ rand_u32();
        let name = format!("{prefix}-{:08x}", suffix);
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"e2e.subnet-operator.io/test": prefix}},
        }))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        // The ServiceAccount admission plugin needs the default ServiceAccount before pods.
        let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
            Api::namespaced(client.clone(), &name);
        wait_until(Duration::from_secs(30), || async {
            Ok(sas.get_opt("default").await?.is_some())
        })
        .await
        .context("default ServiceAccount")?;
        Ok(Self { name, kubeconfig })
    }
}

impl Drop for TempNamespace {
    fn drop(&mut self) {
        if std::env::var("E2E_KEEP_NAMESPACES").as_deref() == Ok("1") {
            eprintln!("keeping namespace {}", self.name);
            return;
        }
        // Drop cannot await, and a client is bound to its runtime: delete from a fresh one.
        let name = self.name.clone();
        let kubeconfig = self.kubeconfig.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(c) = client_from(&kubeconfig).await {
                        let events: Api<k8s_openapi::api::core::v1::Event> =
                            Api::namespaced(c.clone(), &name);
                        if let Ok(list) = events.list(&Default::default()).await {
                            let _ = std::fs::write(
                                artifacts_dir().join(format!("events-{name}.json")),
                                serde_json::to_string_pretty(&list.items).unwrap_or_default(),
                            );
                        }
                        let _ = Api::<Namespace>::all(c)
                            .delete(&name, &DeleteParams::background())
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .elapsed()
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish() as u32
}

/// Polls `f` every 250 ms until it returns true or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, mut f: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_err = None;
    loop {
        match f().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() > deadline {
            match last_err {
                Some(e) => bail!("timed out after {timeout:?}; last error: {e:#}"),
                None => bail!("timed out after {timeout:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Installs the CRDs from `crds/` (server-side apply) and waits until they are established.
pub async fn install_crds(client: &Client) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for file in ["subnet.yaml", "miner.yaml", "validator.yaml"] {
        let path = repo_root().join("crds").join(file);
        let crd: CustomResourceDefinition = serde_yaml::from_str(
            &std::fs::read_to_string(&path).with_context(|| path.display().to_string())?,
        )?;
        let name = crd.metadata.name.clone().context("CRD without name")?;
        api.patch(
            &name,
            &PatchParams::apply("subnet-operator-e2e").force(),
            &Patch::Apply(&crd),
        )
        .await
        .with_context(|| format!("applying {file}"))?;
        wait_until(Duration::from_secs(30), || async {
            let c = api.get(&name).await?;
            Ok(c.status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"))
        })
        .await
        .with_context(|| format!("waiting for {name} to be established"))?;
    }
    Ok(())
}

/// A free TCP port on loopback.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The operator binary, built by `cargo build` (run-tests.sh builds the workspace first).
pub fn operator_binary() -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let bin = target.join("debug").join("subnet-operator");
    if !bin.exists() {
        bail!(
            "{} is missing: run `cargo build -p subnet-operator` first",
            bin.display()
        );
    }
    Ok(bin)
}

/// The operator running as a process against the test cluster; killed when dropped.
pub struct OperatorProcess {
    child: Child,
    /// Where its `/metrics`, `/healthz` and `/readyz` are served.
    pub metrics_addr: String,
    /// Its log file.
    pub log: PathBuf,
}

impl OperatorProcess {
    /// Starts the operator watching `namespace`, with its leader Lease in the same namespace,
    /// and no chain (`CHAIN_BACKEND=none`) unless `extra` names one. `extra` adds environment
    /// variables; an empty value removes one (`("CHAIN_BACKEND", "")`: the operator's own
    /// default, real chains).
    pub fn start(namespace: &str, identity: &str, extra: &[(&str, &str)]) -> Result<Self> {
        let kubeconfig = kubeconfig_path().context("no test cluster")?;
        let port = free_port()?;
        let metrics_addr = format!("127.0.0.1:{port}");
        static STARTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = artifacts_dir().join(format!("operator-{namespace}-{identity}-{n}.log"));
        let out = std::fs::File::create(&log)?;
        let mut cmd = Command::new(operator_binary()?);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECONFIG", &kubeconfig)
            .env("WATCH_NAMESPACE", namespace)
            .env("LEASE_NAMESPACE", namespace)
            .env("LEASE_DURATION_SECONDS", "6")
            .env("POD_NAME", identity)
            .env("METRICS_ADDR", &metrics_addr)
            .env("RUST_LOG", "info,subnet_operator=debug,kube=warn")
            .env("CHAIN_BACKEND", "none")
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out));
        for (k, v) in extra {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let child = cmd.spawn().context("starting the operator")?;
        Ok(Self {
            child,
            metrics_addr,
            log,
        })
    }

    /// GETs a path from the operator's HTTP server; returns (status code, body).
    pub async fn get(&self, path: &str) -> Result<(u16, String)> {
        http_get(&self.metrics_addr, path).await
    }

    /// The operator process's id (for reading `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The sum of the samples of metric `name` whose labels contain every one of `labels`
    /// (e.g. `kind="Miner"`), from its `/metrics`.
    pub async fn metric(&self, name: &str, labels: &[&str]) -> Result<f64> {
        let (_, body) = self.get("/metrics").await?;
        Ok(body
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .filter(|l| labels.iter().all(|want| l.contains(want)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// The operator's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What a failed wait should show about the operator: whether it still runs (or its exit
    /// status) and the last `lines` lines of its log.
    pub fn diagnose(&mut self, lines: usize) -> String {
        let state = match self.child.try_wait() {
            Ok(None) => "running".to_string(),
            Ok(Some(s)) => format!("exited: {s}"),
            Err(e) => format!("unknown: {e}"),
        };
        let log = self.log_text();
        let tail: Vec<&str> = log.lines().rev().take(lines).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "operator {state}; last {lines} log lines of {}:\n{}",
            self.log.display(),
            tail.join("\n")
        )
    }

    /// Sends SIGKILL and waits for the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits up to `timeout` for a clean exit; returns the exit code.
    pub fn terminate(&mut self, timeout: Duration) -> Result<Option<i32>> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait()? {
                return Ok(s.code());
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// GETs `http://{addr}{path}`; returns (status code, body).
pub async fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    let r = reqwest::get(format!("http://{addr}{path}")).await?;
    Ok((r.status().as_u16(), r.text().await?))
}

/// Runs `kubectl` (the one `e2e/cluster.sh env` puts first on PATH) against the test cluster.
pub fn kubectl(args: &[&str]) -> Result<std::process::Output> {
    let kubeconfig = kubeconfig_path().context("no test cluster")?;
    Ok(Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()?)
}

/// The Python with the pinned bittensor SDKs (`SUBNET_OPERATOR_PYTHON`, set by run-tests.sh from
/// `e2e/tools/python-venv.sh`), or `None` after saying so loudly; panics under `E2E_REQUIRED=1`.
pub fn python() -> Option<PathBuf> {
    match std::env::var_os("SUBNET_OPERATOR_PYTHON") {
        Some(p) if Path::new(&p).exists() => Some(PathBuf::from(p)),
        _ => {
            let msg = "SKIPPED: no bittensor SDK venv (SUBNET_OPERATOR_PYTHON unset). Run \
                       `make test`, or `export SUBNET_OPERATOR_PYTHON=$(e2e/tools/python-venv.sh)`.";
            if std::env::var("E2E_REQUIRED").as_deref() == Ok("1") {
                panic!("{msg} (E2E_REQUIRED=1, so this is a failure)");
            }
            eprintln!("{msg}");
            None
        }
    }
}

/// Runs `e2e/python/wallet_tool.py` with the SDK venv; returns its JSON output.
pub fn wallet_tool(python: &Path, args: &[&str]) -> Result<serde_json::Value> {
    let script = repo_root().join("e2e/python/wallet_tool.py");
    let out = Command::new(python).arg(script).args(args).output()?;
    if !out.status.success() {
        bail!(
            "wallet_tool {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    Ok(serde_json::from_str(last)?)
}

/// POSTs a JSON body to `http://{addr}{path}`; returns (status code, body).
pub async fn http_post_json(
    addr: &str,
    path: &str,
    body: &serde_json::Value,
) -> Result<(u16, String)> {
    let r = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .json(body)
        .send()
        .await?;
    Ok((r.status().as_u16(), r.text().await?))
}

/// The simulated chain (`subnet-operator-simchain`, the in-memory model) as a process; killed
/// when dropped. Blocks are produced only when a test asks ([`SimChainProcess::advance`]).
pub struct SimChainProcess {
    child: Child,
    /// Listen address.
    pub addr: String,
}

impl SimChainProcess {
    /// Starts the simulation with `genesis` (YAML); blocks only when asked ([`Self::advance`]).
    pub async fn start(genesis: &str) -> Result<Self> {
        Self::start_with(genesis, 0).await
    }

    /// Starts the simulation with `genesis` (YAML), producing a block every `block_ms` (none
    /// when 0).
    pub async fn start_with(genesis: &str, block_ms: u64) -> Result<Self> {
        let bin = operator_binary()?.with_file_name("subnet-operator-simchain");
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let file = artifacts_dir().join(format!("genesis-{port}.yaml"));
        std::fs::write(&file, genesis)?;
        let log = std::fs::File::create(artifacts_dir().join(format!("simchain-{port}.log")))?;
        let child = Command::new(bin)
            .args([
                "--genesis",
                &file.to_string_lossy(),
                "--listen",
                &addr,
                "--block-ms",
                &block_ms.to_string(),
            ])
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting subnet-operator-simchain")?;
        let me = Self { child, addr };
        wait_until(Duration::from_secs(20), || async {
            Ok(http_get(&me.addr, "/chain/head")
                .await
                .is_ok_and(|(c, _)| c == 200))
        })
        .await?;
        Ok(me)
    }

    /// The URL the operator uses (`SIM_CHAIN_URL`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn admin(&self, path: &str, body: serde_json::Value) -> Result<serde_json::Value> {
        let (code, text) = http_post_json(&self.addr, path, &body).await?;
        if code != 200 {
            bail!("{path}: HTTP {code}: {text}");
        }
        let v: serde_json::Value = serde_json::from_str(&text)?;
        if let Some(e) = v.get("Err") {
            bail!("{path}: {e}");
        }
        Ok(v.get("Ok").cloned().unwrap_or_default())
    }

    /// Produces `blocks` blocks.
    pub async fn advance(&self, blocks: u64) -> Result<()> {
        self.admin("/admin/advance", serde_json::json!({"blocks": blocks}))
            .await
            .map(|_| ())
    }

    /// Every burn paid so far: (payer hex, rao).
    pub async fn burns(&self) -> Result<Vec<(String, u64)>> {
        let (_, text) = http_get(&self.addr, "/admin/burns").await?;
        let v: serde_json::Value = serde_json::from_str(&text)?;
        Ok(serde_json::from_value(
            v.get("Ok").cloned().unwrap_or_default(),
        )?)
    }

    /// Every transaction the chain received with a valid signature, in order, as JSON:
    /// `[{block, hash, signer, nonce, call, hotkey, included, error}]` (accounts in hex;
    /// `included: false` for one refused before inclusion: stale or future nonce, ended era).
    pub async fn txs(&self) -> Result<Vec<serde_json::Value>> {
        let (_, text) = http_get(&self.addr, "/admin/txs").await?;
        let v: serde_json::Value = serde_json::from_str(&text)?;
        Ok(serde_json::from_value(
            v.get("Ok").cloned().unwrap_or_default(),
        )?)
    }

    /// Starts the chain again from genesis with a new genesis hash (a localnet pod restart).
    pub async fn reset(&self) -> Result<()> {
        self.admin("/admin/reset", serde_json::json!({}))
            .await
            .map(|_| ())
    }

    /// Localnet calls dispatched since genesis, as JSON: `[{call, block, result}]`.
    pub async fn localnet_calls(&self) -> Result<Vec<serde_json::Value>> {
        let (_, text) = http_get(&self.addr, "/admin/localnet-calls").await?;
        let v: serde_json::Value = serde_json::from_str(&text)?;
        Ok(serde_json::from_value(
            v.get("Ok").cloned().unwrap_or_default(),
        )?)
    }

    /// Netuids that exist and their owners (hex), as the chain lists them.
    pub async fn subnet_owners(&self) -> Result<Vec<(u16, Option<Vec<u8>>)>> {
        let (_, text) = http_get(&self.addr, "/chain/subnets").await?;
        let v: serde_json::Value = serde_json::from_str(&text)?;
        Ok(serde_json::from_value(
            v.get("Ok").cloned().unwrap_or_default(),
        )?)
    }

    /// The subnet snapshot as JSON.
    pub async fn subnet(&self, netuid: u16) -> Result<serde_json::Value> {
        let (_, text) = http_get(&self.addr, &format!("/chain/subnet/{netuid}")).await?;
        let v: serde_json::Value = serde_json::from_str(&text)?;
        Ok(v.get("Ok").cloned().unwrap_or_default())
    }
}

impl Drop for SimChainProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- A real subtensor runtime: chopsticks -------------------------------------------------------

/// //Alice's SS58 address (generic prefix 42): the chains set up here make it `Sudo.Key`.
pub const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
/// //Bob's SS58 address.
pub const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
/// //Charlie's SS58 address.
pub const CHARLIE: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";
/// Free balance given to [`ALICE`], [`BOB`] and [`CHARLIE`] on a fresh chain: 1,000,000 TAO, in
/// rao.
pub const DEV_FUNDS: u64 = 1_000_000_000_000_000;

/// Storage key of `Sudo.Key`: twox128("Sudo") ++ twox128("Key").
const SUDO_KEY_STORAGE: &str = "0x5c0d1176a568c1f92944340dbfed9e9c530ebca703c85910e7164cb7d1c9e47b";
/// //Alice's public key, as `state_getStorage` returns `Sudo.Key` once it is //Alice.
const ALICE_PUBLIC_HEX: &str = "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";

/// The shared chain started by `e2e/chain.sh up` (`SUBTENSOR_WS`, set by
/// `eval "$(e2e/chain.sh env)"`), or `None` after saying so loudly. Panics instead when
/// `E2E_REQUIRED=1`.
pub fn shared_chain_ws() -> Option<String> {
    match std::env::var("SUBTENSOR_WS") {
        Ok(ws) if !ws.trim().is_empty() => Some(ws.trim().to_string()),
        _ => {
            let msg = "SKIPPED: no shared chain (SUBTENSOR_WS unset). Run `make test`, or \
                       `e2e/chain.sh up && eval \"$(e2e/chain.sh env)\"` first.";
            if std::env::var("E2E_REQUIRED").as_deref() == Ok("1") {
                panic!("{msg} (E2E_REQUIRED=1, so this is a failure)");
            }
            eprintln!("{msg}");
            None
        }
    }
}

/// The HTTP URL serving JSON-RPC beside a WebSocket URL (chopsticks serves both on one port):
/// `ws://h:p` → `http://h:p`, `wss://…` → `https://…`; anything else is returned unchanged.
pub fn ws_to_http(ws: &str) -> String {
    if let Some(rest) = ws.strip_prefix("ws://") {
        format!("http://{rest}")
    } else if let Some(rest) = ws.strip_prefix("wss://") {
        format!("https://{rest}")
    } else {
        ws.to_string()
    }
}

/// The shared data directory (chain spec, metadata): `SUBNET_OPERATOR_SHARED`, else
/// `<repo>/../shared` (where CI puts its copy beside the clone).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("SUBNET_OPERATOR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"))
}

/// The raw chain spec of subtensor spec 218 (`<shared>/chain/raonet-spec218.json`); an error
/// saying where it was looked for when it is missing.
pub fn chain_spec() -> Result<PathBuf> {
    let spec = shared_dir().join("chain/raonet-spec218.json");
    if !spec.is_file() {
        bail!(
            "chain spec {} is missing: set SUBNET_OPERATOR_SHARED to the directory holding \
             chain/raonet-spec218.json (default: <repo>/../shared)",
            spec.display()
        );
    }
    Ok(spec)
}

/// The chopsticks binary: `E2E_CHOPSTICKS` (set by run-tests.sh), else what
/// `e2e/tools/chopsticks.sh` prints (it installs chopsticks into the cache when needed).
pub async fn chopsticks_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("E2E_CHOPSTICKS") {
        return Ok(PathBuf::from(p));
    }
    let script = repo_root().join("e2e/tools/chopsticks.sh");
    let out = tokio::process::Command::new(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .await
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed ({})", script.display(), out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let bin = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    if !bin.is_file() {
        bail!(
            "{} printed {:?}, not a chopsticks binary",
            script.display(),
            bin
        );
    }
    Ok(bin)
}

/// Calls a JSON-RPC method over HTTP (`http` is e.g. `http://127.0.0.1:9944`); returns its
/// `result`, or an error for a transport failure or a JSON-RPC error object.
pub async fn chain_rpc(
    http: &str,
    method: &str,
    params: serde_json::Value,
) -> Result<serde_json::Value> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = match CLIENT.get() {
        Some(c) => c,
        None => {
            let c = reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?;
            CLIENT.get_or_init(|| c)
        }
    };
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let resp = client
        .post(http)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("{method} to {http}"))?;
    let status = resp.status();
    let text = resp.text().await?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{method} to {http}: HTTP {status}, not JSON: {text}"))?;
    if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
        bail!("{method}: JSON-RPC error {e}");
    }
    match v.get("result") {
        Some(r) => Ok(r.clone()),
        None => bail!("{method}: HTTP {status}, no result in {text}"),
    }
}

/// The number of the best block (`chain_getHeader`) of the chain serving JSON-RPC at `http`.
pub async fn chain_best_number(http: &str) -> Result<u64> {
    let h = chain_rpc(http, "chain_getHeader", serde_json::json!([])).await?;
    let n = h
        .get("number")
        .and_then(|n| n.as_str())
        .with_context(|| format!("chain_getHeader without a number: {h}"))?;
    Ok(u64::from_str_radix(n.trim_start_matches("0x"), 16)?)
}

/// The `dev_setStorage` change that makes [`ALICE`] `Sudo.Key` and gives [`ALICE`], [`BOB`] and
/// [`CHARLIE`] [`DEV_FUNDS`] free balance each (what `e2e/chain.sh up` does too).
pub fn dev_accounts_storage() -> serde_json::Value {
    let accounts: Vec<serde_json::Value> = [ALICE, BOB, CHARLIE]
        .iter()
        .map(
            |a| serde_json::json!([[a], {"providers": 1, "data": {"free": DEV_FUNDS.to_string()}}]),
        )
        .collect();
    // Like a localnet (pow-faucet builds): no network-registration rate limit (1 block, not 0:
    // chopsticks drops a 0 and the runtime's default, 7200 blocks, applies again), the lock cost
    // back to its minimum a block after each subnet (it doubles per subnet otherwise), and room
    // for many subnets (spec 218 allows 12, then prunes one — another test's — to make room).
    serde_json::json!({
        "Sudo": {"Key": ALICE},
        "SubtensorModule": {
            "NetworkRateLimit": 1,
            "NetworkLockReductionInterval": 1,
            "SubnetLimit": 1024,
        },
        "System": {"Account": accounts},
    })
}

/// chopsticks running subtensor's real runtime (spec 218, [`chain_spec`]) as a process of its
/// own, started from genesis with //Alice as sudo and the dev accounts funded
/// ([`dev_accounts_storage`]); killed when dropped. It builds a block per transaction
/// (`--build-block-mode=Instant`); [`Chopsticks::new_blocks`] passes time.
pub struct Chopsticks {
    child: Child,
    /// Its WebSocket URL (what the operator's chain client takes).
    pub ws: String,
    /// Its HTTP JSON-RPC URL (same port).
    pub http: String,
    /// Its log file (under [`artifacts_dir`]).
    pub log: PathBuf,
}

impl Chopsticks {
    /// Starts a fresh chain on a free port and waits (up to 180 s) until it answers, then makes
    /// //Alice sudo, lifts the network rate limit, funds the dev accounts, and checks `Sudo.Key` reads back as //Alice.
    pub async fn start() -> Result<Self> {
        let port = free_port()?;
        let child = Self::spawn(
            port,
            &artifacts_dir().join(format!("chopsticks-{port}.log")),
        )
        .await?;
        let mut me = Self {
            child,
            ws: format!("ws://127.0.0.1:{port}"),
            http: format!("http://127.0.0.1:{port}"),
            log: artifacts_dir().join(format!("chopsticks-{port}.log")),
        };
        me.ready().await?;
        Ok(me)
    }

    /// Kills the chain and starts a new one from the same chain spec on the same port (what a
    /// localnet pod restarting looks like to a client: the connection drops, and the chain that
    /// answers again has the same genesis hash and nothing of the old one).
    pub async fn restart(&mut self) -> Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.ws.rsplit(':').next().unwrap_or_default().to_string();
        self.log = artifacts_dir().join(format!("chopsticks-{port}-restarted.log"));
        self.child = Self::spawn(port.parse()?, &self.log).await?;
        self.ready().await
    }

    /// The chopsticks process on `port`, logging to `log`.
    async fn spawn(port: u16, log: &Path) -> Result<Child> {
        let bin = chopsticks_binary().await?;
        let spec = chain_spec()?;
        let out = std::fs::File::create(log)?;
        Command::new(&bin)
            .arg(format!("--genesis={}", spec.display()))
            .args([
                "--host=127.0.0.1".to_string(),
                format!("--port={port}"),
                "--build-block-mode=Instant".to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))
    }

    /// Waits (up to 180 s) until the chain answers, then makes //Alice sudo and funds the dev
    /// accounts.
    async fn ready(&mut self) -> Result<()> {
        let me = self;
        let deadline = Instant::now() + Duration::from_secs(180);
        while chain_best_number(&me.http).await.is_err() {
            if let Some(status) = me.child.try_wait()? {
                bail!(
                    "chopsticks exited ({status}) while starting; see {}",
                    me.log.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "chopsticks did not answer within 180 s; see {}",
                    me.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        me.set_storage(dev_accounts_storage()).await?;
        let sudo = me
            .rpc("state_getStorage", serde_json::json!([SUDO_KEY_STORAGE]))
            .await?;
        if sudo.as_str() != Some(ALICE_PUBLIC_HEX) {
            bail!("Sudo.Key is {sudo} after dev_setStorage, not //Alice");
        }
        Ok(())
    }

    /// Sets storage by pallet and item name (`dev_setStorage` with params `[v]`), e.g.
    /// `{"System": {"Account": [[["<ss58>"], {"providers": 1, "data": {"free": "5"}}]]}}`.
    pub async fn set_storage(&self, v: serde_json::Value) -> Result<()> {
        self.rpc("dev_setStorage", serde_json::json!([v]))
            .await
            .map(|_| ())
    }

    /// Builds `n` empty blocks (`dev_newBlock {"count": n}`).
    pub async fn new_blocks(&self, n: u32) -> Result<()> {
        self.rpc("dev_newBlock", serde_json::json!([{"count": n}]))
            .await
            .map(|_| ())
    }

    /// Calls a JSON-RPC method of this chain over HTTP (see [`chain_rpc`]).
    pub async fn rpc(&self, method: &str, params: serde_json::Value) -> Result<serde_json::Value> {
        chain_rpc(&self.http, method, params).await
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Chopsticks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
