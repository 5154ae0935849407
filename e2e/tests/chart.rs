//! The Helm chart (`charts/subnet-operator`) and `manifests/install.yaml`: the generated files
//! are up to date, the chart lints clean and rejects values it cannot honour, the CRD templates
//! are gated and kept on uninstall, the rendered objects are accepted by the apiserver, install /
//! upgrade / uninstall with two replicas (Miners survive), RBAC is exactly the documented rules,
//! and the real operator runs with nothing but the chart's ServiceAccount token.
//!
//! Helm is the pinned build (`e2e/tools/versions.env`): on PATH after
//! `eval "$(e2e/cluster.sh env)"`, else from `e2e/tools/build-bins.sh` under `E2E_REQUIRED=1`.
//! CRDs are cluster-scoped and shared with the other tests running in parallel, so these tests
//! never install or delete them through Helm: installs use `crds.enabled=false` (the CRDs come
//! from `install_crds`), and the CRD templates are checked in `helm template` output and with a
//! server-side dry run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use e2e::tools::{helm, kubectl_stdin, run};
use e2e::{
    TempNamespace, artifacts_dir, client, free_port, http_get, install_crds, kubeconfig_path,
    kubectl, operator_binary, repo_root, wait_until,
};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    Event, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams};
use serde::Deserialize;
use subnet_operator::crd::{Miner, Subnet};

const CHART: &str = "charts/subnet-operator";
const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

/// The operator's rules, as documented in `templates/rbac.yaml`: resource → verbs, in the
/// watched namespace (or cluster-wide).
const OPERATOR_RULES: &[(&str, &[&str])] = &[
    ("subnets.subnet-operator.io", &["get", "list", "watch"]),
    ("miners.subnet-operator.io", &["get", "list", "watch"]),
    ("validators.subnet-operator.io", &["get", "list", "watch"]),
    ("subnets.subnet-operator.io/status", &["patch"]),
    ("miners.subnet-operator.io/status", &["patch"]),
    ("validators.subnet-operator.io/status", &["patch"]),
    ("miners.subnet-operator.io/finalizers", &["update"]),
    ("validators.subnet-operator.io/finalizers", &["update"]),
    ("secrets", &["get", "list", "watch", "create", "patch"]),
    (
        "statefulsets.apps",
        &["get", "list", "watch", "create", "patch", "delete"],
    ),
    (
        "services",
        &["get", "list", "watch", "create", "patch", "delete"],
    ),
    (
        "persistentvolumeclaims",
        &["get", "list", "watch", "create", "patch", "delete"],
    ),
    ("pods", &["get", "list", "watch", "delete"]),
    (
        "poddisruptionbudgets.policy",
        &["get", "list", "watch", "create", "patch"],
    ),
    ("events.events.k8s.io", &["create", "patch"]),
];

/// What every authenticated user may do (system:basic-user), present in every `can-i --list`.
const EVERYONE: &[&str] = &[
    "selfsubjectreviews.authentication.k8s.io",
    "selfsubjectaccessreviews.authorization.k8s.io",
    "selfsubjectrulesreviews.authorization.k8s.io",
];

/// `helm <args>` against the test cluster (when there is one), from the repository root.
fn helm_cmd(helm: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(helm);
    cmd.current_dir(repo_root()).args(args);
    if let Some(kc) = std::env::var_os(e2e::KUBECONFIG_ENV) {
        cmd.env("KUBECONFIG", kc);
    }
    cmd
}

/// `helm template <release> charts/subnet-operator -n <namespace> <extra>`.
fn template(helm: &Path, release: &str, namespace: &str, extra: &[&str]) -> Result<String> {
    let mut args = vec!["template", release, CHART, "--namespace", namespace];
    args.extend_from_slice(extra);
    run(&mut helm_cmd(helm, &args))
}

/// The documents of a multi-document YAML stream (empty ones dropped).
fn docs(yaml: &str) -> Result<Vec<serde_yaml::Value>> {
    let mut out = Vec::new();
    for d in serde_yaml::Deserializer::from_str(yaml) {
        let v = serde_yaml::Value::deserialize(d)?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

fn kind_of(v: &serde_yaml::Value) -> &str {
    v["kind"].as_str().unwrap_or_default()
}

fn of_kind<'a>(docs: &'a [serde_yaml::Value], kind: &str) -> Vec<&'a serde_yaml::Value> {
    docs.iter().filter(|d| kind_of(d) == kind).collect()
}

fn kubectl_ok(args: &[&str]) -> Result<String> {
    let out = kubectl(args)?;
    if !out.status.success() {
        bail!(
            "kubectl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// A Helm release in a test namespace; uninstalled when dropped (its cluster-scoped RBAC must
/// not outlive the test).
struct Release {
    helm: PathBuf,
    name: String,
    namespace: String,
}

impl Release {
    fn install(helm: &Path, name: &str, namespace: &str, extra: &[&str]) -> Result<Self> {
        let mut args = vec!["install", name, CHART, "--namespace", namespace];
        args.extend_from_slice(extra);
        let release = Self {
            helm: helm.to_path_buf(),
            name: name.to_string(),
            namespace: namespace.to_string(),
        };
        run(&mut helm_cmd(helm, &args)).context("helm install")?;
        Ok(release)
    }

    /// The chart's full name for this release (the prefix of its object names).
    fn fullname(&self) -> String {
        if self.name.contains("subnet-operator") {
            self.name.clone()
        } else {
            format!("{}-subnet-operator", self.name)
        }
    }

    fn service_account(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace,
            self.fullname()
        )
    }

    fn uninstall(&self) -> Result<()> {
        run(&mut helm_cmd(
            &self.helm,
            &[
                "uninstall",
                &self.name,
                "--namespace",
                &self.namespace,
                "--wait",
            ],
        ))
        .map(|_| ())
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = helm_cmd(
            &self.helm,
            &[
                "uninstall",
                &self.name,
                "--namespace",
                &self.namespace,
                "--ignore-not-found",
            ],
        )
        .output();
    }
}

/// Everything helm and kubectl need, or `None` (skipped loudly) without a cluster.
async fn cluster() -> Option<(kube::Client, PathBuf)> {
    let client = client().await?;
    let helm = helm()?;
    Some((client, helm))
}

// --- without a cluster ---------------------------------------------------------------------

#[test]
fn generated_chart_files_are_up_to_date() -> Result<()> {
    let Some(helm) = helm() else { return Ok(()) };
    let root = repo_root();
    let out = std::env::temp_dir().join(format!(
        "subnet-operator-generate-{}-{}",
        std::process::id(),
        free_port()?
    ));
    let result = (|| {
        run(Command::new(root.join("charts/generate.sh"))
            .arg(&out)
            .env("HELM", &helm))?;
        let list = |dir: &Path| -> Result<BTreeSet<String>> {
            Ok(std::fs::read_dir(dir)
                .with_context(|| dir.display().to_string())?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.ends_with(".yaml"))
                .collect())
        };
        let crds = format!("{CHART}/templates/crds");
        let want = list(&out.join(&crds))?;
        let have = list(&root.join(&crds))?;
        ensure!(
            have == want,
            "{crds}/ holds {have:?}, the generator makes {want:?}: run `make generate`"
        );
        for file in want
            .iter()
            .map(|f| format!("{crds}/{f}"))
            .chain(["manifests/install.yaml".to_string()])
        {
            let want = std::fs::read_to_string(out.join(&file))?;
            let have = std::fs::read_to_string(root.join(&file)).unwrap_or_default();
            ensure!(
                have == want,
                "{file} is stale or was edited by hand: run `make generate` (charts/generate.sh)"
            );
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&out);
    result
}

#[test]
fn chart_lints_clean() -> Result<()> {
    let Some(helm) = helm() else { return Ok(()) };
    for values in [
        vec![],
        vec![
            "--set",
            "watchNamespaces={miners}",
            "--set",
            "replicaCount=2",
        ],
        vec![
            "--set",
            "crds.enabled=false",
            "--set",
            "rbac.create=false",
            "--set",
            "serviceAccount.create=false",
        ],
        vec![
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "crds.keep=false",
        ],
    ] {
        let mut args = vec!["lint", "--strict", CHART];
        args.extend(values.iter().copied());
        let out = run(&mut helm_cmd(&helm, &args))?;
        assert!(out.contains("0 chart(s) failed"), "{values:?}:\n{out}");
        assert!(
            !out.contains("[WARNING]") && !out.contains("[ERROR]"),
            "{values:?}:\n{out}"
        );
    }
    Ok(())
}

#[test]
fn chart_rejects_values_it_cannot_honour() -> Result<()> {
    let Some(helm) = helm() else { return Ok(()) };
    for (values, message) in [
        (
            vec!["--set", "watchNamespaces={a,b,a}"],
            "at '/watchNamespaces': items at 0 and 2 are equal",
        ),
        (
            vec![
                "--set",
                "replicaCount=2",
                "--set",
                "leaderElection.enabled=false",
            ],
            "replicaCount > 1 needs leaderElection.enabled=true",
        ),
        (
            vec!["--set", "logging.format=xml"],
            "value must be one of 'json', 'text'",
        ),
        (
            vec!["--set", "replicaCount=-1"],
            "/replicaCount': minimum: got -1",
        ),
        (
            vec!["--set", "watchNamespaces={Not_A_Namespace}"],
            "/watchNamespaces/0",
        ),
        (
            vec!["--set", "loging.format=json"],
            "additional properties 'loging' not allowed",
        ),
    ] {
        let err = template(&helm, "x", "ops", &values)
            .err()
            .unwrap_or_else(|| panic!("{values:?} rendered"));
        let err = format!("{err:#}");
        assert!(err.contains(message), "{values:?}: {err}");
    }
    Ok(())
}

#[test]
fn crd_templates_are_gated_and_kept_on_uninstall() -> Result<()> {
    let Some(helm) = helm() else { return Ok(()) };
    let crds = |extra: &[&str]| -> Result<Vec<serde_yaml::Value>> {
        Ok(docs(&template(&helm, "so", "ops", extra)?)?
            .into_iter()
            .filter(|d| kind_of(d) == "CustomResourceDefinition")
            .collect())
    };
    let keep = |d: &serde_yaml::Value| {
        d["metadata"]["annotations"]["helm.sh/resource-policy"]
            .as_str()
            .map(str::to_string)
    };

    // Default: all three, kept on uninstall, the same as crds/ apart from labels and annotation.
    let rendered = crds(&[])?;
    let names: BTreeSet<&str> = rendered
        .iter()
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "miners.subnet-operator.io",
            "subnets.subnet-operator.io",
            "validators.subnet-operator.io"
        ])
    );
    for d in &rendered {
        let name = d["metadata"]["name"].as_str().unwrap_or_default();
        assert_eq!(keep(d).as_deref(), Some("keep"), "{name}");
        assert_eq!(
            d["metadata"]["labels"]["app.kubernetes.io/name"].as_str(),
            Some("subnet-operator")
        );
        let file = format!(
            "{}.yaml",
            d["spec"]["names"]["singular"].as_str().unwrap_or_default()
        );
        let source: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(
            repo_root().join("crds").join(&file),
        )?)?;
        assert_eq!(d["spec"], source["spec"], "{name} differs from crds/{file}");
        assert_eq!(d["apiVersion"], source["apiVersion"]);
    }

    // crds.keep=false: no annotation; crds.enabled=false: no CRDs.
    let unkept = crds(&["--set", "crds.keep=false"])?;
    assert_eq!(unkept.len(), 3);
    assert!(unkept.iter().all(|d| keep(d).is_none()));
    assert!(crds(&["--set", "crds.enabled=false"])?.is_empty());

    // manifests/install.yaml: a Namespace first, kept CRDs, everything else in that namespace.
    let install = docs(&std::fs::read_to_string(
        repo_root().join("manifests/install.yaml"),
    )?)?;
    assert_eq!(kind_of(&install[0]), "Namespace");
    assert_eq!(
        install[0]["metadata"]["name"].as_str(),
        Some("subnet-operator")
    );
    let cluster_scoped = [
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
    ];
    for d in &install {
        let kind = kind_of(d);
        if kind == "CustomResourceDefinition" {
            assert_eq!(keep(d).as_deref(), Some("keep"));
        } else if !cluster_scoped.contains(&kind) {
            assert_eq!(
                d["metadata"]["namespace"].as_str(),
                Some("subnet-operator"),
                "{kind} {:?}",
                d["metadata"]["name"]
            );
        }
    }
    assert_eq!(of_kind(&install, "CustomResourceDefinition").len(), 3);
    assert_eq!(of_kind(&install, "ClusterRole").len(), 1);
    assert_eq!(of_kind(&install, "Deployment").len(), 1);
    Ok(())
}

#[test]
fn chart_renders_the_documented_deployment() -> Result<()> {
    let Some(helm) = helm() else { return Ok(()) };
    // appVersion is the crate version (the e2e crate shares the workspace version).
    let chart: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(
        repo_root().join(CHART).join("Chart.yaml"),
    )?)?;
    assert_eq!(chart["apiVersion"].as_str(), Some("v2"));
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION")),
        "Chart.yaml appVersion must be the crate version"
    );

    let env_of = |d: &serde_yaml::Value| -> BTreeMap<String, String> {
        d["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|e| {
                let v = match e["value"].as_str() {
                    Some(v) => v.to_string(),
                    None => format!(
                        "fieldRef:{}",
                        e["valueFrom"]["fieldRef"]["fieldPath"]
                            .as_str()
                            .unwrap_or_default()
                    ),
                };
                (e["name"].as_str().unwrap_or_default().to_string(), v)
            })
            .collect()
    };

    let all = docs(&template(&helm, "subnet-operator", "ops", &[])?)?;
    let dep = of_kind(&all, "Deployment")[0];
    assert_eq!(dep["spec"]["replicas"].as_u64(), Some(1));
    assert_eq!(
        dep["spec"]["strategy"]["type"].as_str(),
        Some("RollingUpdate")
    );
    let pod = &dep["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(
        c["image"].as_str().map(str::to_string),
        Some(format!(
            "ghcr.io/subnet-operator/subnet-operator:{}",
            env!("CARGO_PKG_VERSION")
        ))
    );
    let env = env_of(dep);
    for (k, v) in [
        ("WATCH_NAMESPACE", ""),
        ("METRICS_ADDR", "0.0.0.0:8080"),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "info,kube=warn"),
        ("LEADER_ELECTION", "true"),
        ("LEASE_NAME", "subnet-operator-leader"),
        ("LEASE_NAMESPACE", "ops"),
        ("POD_NAME", "fieldRef:metadata.name"),
        ("POD_NAMESPACE", "fieldRef:metadata.namespace"),
    ] {
        assert_eq!(env.get(k).map(String::as_str), Some(v), "{k}");
    }
    assert_eq!(c["ports"][0]["name"].as_str(), Some("http"));
    assert_eq!(c["ports"][0]["containerPort"].as_u64(), Some(8080));
    assert_eq!(
        c["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(sc["runAsUser"].as_u64(), Some(65532));
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(sc["capabilities"]["drop"][0].as_str(), Some("ALL"));
    assert_eq!(
        sc["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault")
    );
    assert_eq!(pod["serviceAccountName"].as_str(), Some("subnet-operator"));
    let svc = of_kind(&all, "Service")[0];
    assert_eq!(svc["spec"]["type"].as_str(), Some("ClusterIP"));
    assert_eq!(svc["spec"]["ports"][0]["name"].as_str(), Some("http"));
    assert_eq!(svc["spec"]["ports"][0]["port"].as_u64(), Some(8080));
    assert!(of_kind(&all, "ServiceMonitor").is_empty());
    assert_eq!(of_kind(&all, "ClusterRole").len(), 1);
    assert_eq!(of_kind(&all, "ClusterRoleBinding").len(), 1);
    // Only the Lease Role is namespaced in cluster-wide mode.
    assert_eq!(of_kind(&all, "Role").len(), 1);

    // One namespace: Role + RoleBinding there, WATCH_NAMESPACE set, no cluster-wide RBAC.
    let all = docs(&template(
        &helm,
        "so",
        "ops",
        &[
            "--set",
            "watchNamespaces={miners}",
            "--set",
            "logging.format=text",
            "--set",
            "image.tag=dev",
            "--set",
            "metrics.serviceMonitor.enabled=true",
        ],
    )?)?;
    assert!(of_kind(&all, "ClusterRole").is_empty());
    assert!(of_kind(&all, "ClusterRoleBinding").is_empty());
    let roles = of_kind(&all, "Role");
    assert!(
        roles
            .iter()
            .any(|r| r["metadata"]["namespace"].as_str() == Some("miners"))
    );
    let env = env_of(of_kind(&all, "Deployment")[0]);
    assert_eq!(
        env.get("WATCH_NAMESPACE").map(String::as_str),
        Some("miners")
    );
    assert_eq!(env.get("LOG_FORMAT").map(String::as_str), Some("text"));
    assert_eq!(
        env.get("LEASE_NAME").map(String::as_str),
        Some("so-subnet-operator-leader")
    );
    assert!(
        of_kind(&all, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .is_some_and(|i| i.ends_with(":dev"))
    );
    assert_eq!(of_kind(&all, "ServiceMonitor").len(), 1);

    // No leader election: one replica only, and never two pods at once.
    let all = docs(&template(
        &helm,
        "so",
        "ops",
        &["--set", "leaderElection.enabled=false"],
    )?)?;
    let dep = of_kind(&all, "Deployment")[0];
    assert_eq!(dep["spec"]["strategy"]["type"].as_str(), Some("Recreate"));
    assert_eq!(
        env_of(dep).get("LEADER_ELECTION").map(String::as_str),
        Some("false")
    );
    assert_eq!(of_kind(&all, "Role").len(), 0);
    Ok(())
}

// --- against the local control plane -------------------------------------------------------

#[tokio::test]
async fn rendered_chart_and_install_yaml_are_accepted_by_the_apiserver() -> Result<()> {
    let Some((client, helm)) = cluster().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "chart-dry").await?;

    // The chart with its CRDs, both ways kubectl applies, cluster-wide and namespaced.
    for extra in [
        vec![],
        vec![
            "--set".to_string(),
            format!("watchNamespaces={{{}}}", ns.name),
        ],
    ] {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let mut values = vec!["--set", "crds.enabled=true"];
        values.extend(extra);
        let rendered = template(&helm, &ns.name, &ns.name, &values)?;
        kubectl_stdin(&["apply", "--dry-run=server", "-f", "-"], &rendered)
            .context("client-side apply, dry run")?;
        kubectl_stdin(
            &["apply", "--server-side", "--dry-run=server", "-f", "-"],
            &rendered,
        )
        .context("server-side apply, dry run")?;
    }

    // manifests/install.yaml as shipped, pointed at the test namespace.
    let install = std::fs::read_to_string(repo_root().join("manifests/install.yaml"))?.replace(
        "namespace: subnet-operator\n",
        &format!("namespace: {}\n", ns.name),
    );
    let out = kubectl_stdin(
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        &install,
    )?;
    for object in [
        "namespace/subnet-operator",
        "customresourcedefinition.apiextensions.k8s.io/miners.subnet-operator.io",
        "clusterrole.rbac.authorization.k8s.io/subnet-operator",
        "deployment.apps/subnet-operator",
        "service/subnet-operator-metrics",
    ] {
        assert!(out.contains(object), "{object} missing from:\n{out}");
    }
    Ok(())
}

#[tokio::test]
async fn install_two_replicas_upgrade_and_uninstall_keeps_miners() -> Result<()> {
    let Some((client, helm)) = cluster().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "chart-inst").await?;
    // The operator pods must meet the restricted Pod Security Standard.
    kubectl_ok(&[
        "label",
        "namespace",
        &ns.name,
        "pod-security.kubernetes.io/enforce=restricted",
    ])?;
    let release = Release::install(
        &helm,
        &ns.name,
        &ns.name,
        &[
            "--set",
            "crds.enabled=false",
            "--set",
            "replicaCount=2",
            "--set",
            "image.repository=registry.invalid/subnet-operator",
            "--set",
            "image.tag=e2e",
            "--wait",
            "--timeout",
            "120s",
        ],
    )?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let selector = format!(
        "app.kubernetes.io/name=subnet-operator,app.kubernetes.io/instance={}",
        release.name
    );
    let running = |rust_log: &'static str| {
        let pods = pods.clone();
        let selector = selector.clone();
        async move {
            let list = pods.list(&ListParams::default().labels(&selector)).await?;
            let live: Vec<&Pod> = list
                .items
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            let ok = live.len() == list.items.len()
                && live.len() == 2
                && live.iter().all(|p| {
                    let running =
                        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
                    let env = p
                        .spec
                        .as_ref()
                        .and_then(|s| s.containers[0].env.clone())
                        .unwrap_or_default();
                    running
                        && env
                            .iter()
                            .any(|e| e.name == "RUST_LOG" && e.value.as_deref() == Some(rust_log))
                });
            anyhow::Ok((
                ok,
                live.iter()
                    .filter_map(|p| p.metadata.name.clone())
                    .collect::<BTreeSet<_>>(),
            ))
        }
    };
    wait_until(Duration::from_secs(60), || async {
        Ok(running("info,kube=warn").await?.0)
    })
    .await
    .context("two operator pods Running")?;
    let before = running("info,kube=warn").await?.1;

    // An upgrade with a changed value rolls both pods (one at a time, surge 1).
    run(&mut helm_cmd(
        &helm,
        &[
            "upgrade",
            &release.name,
            CHART,
            "--namespace",
            &ns.name,
            "--reuse-values",
            "--set",
            "logging.filter=debug",
            "--wait",
            "--timeout",
            "120s",
        ],
    ))
    .context("helm upgrade")?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    wait_until(Duration::from_secs(90), || async {
        let d = deployments.get(&release.fullname()).await?;
        let s = d.status.unwrap_or_default();
        let (ok, names) = running("debug").await?;
        Ok(ok
            && names.is_disjoint(&before)
            && s.observed_generation == d.metadata.generation
            && s.updated_replicas == Some(2)
            && s.ready_replicas == Some(2)
            && s.replicas == Some(2))
    })
    .await
    .context("rolled to two new pods with RUST_LOG=debug")?;
    let history = run(&mut helm_cmd(
        &helm,
        &[
            "history",
            &release.name,
            "--namespace",
            &ns.name,
            "--max",
            "5",
        ],
    ))?;
    assert!(history.contains("Upgrade complete"), "{history}");

    // Uninstall keeps the user's resources (and the CRDs, which this release never owned).
    let subnets: Api<Subnet> = Api::namespaced(client.clone(), &ns.name);
    subnets
        .create(
            &PostParams::default(),
            &serde_yaml::from_str(
                "{apiVersion: subnet-operator.io/v1alpha1, kind: Subnet, metadata: {name: sn}, spec: {network: finney, netuid: 7}}",
            )?,
        )
        .await?;
    let miners: Api<Miner> = Api::namespaced(client.clone(), &ns.name);
    miners
        .create(&PostParams::default(), &miner("m", 1, "")?)
        .await?;
    release.uninstall()?;
    assert!(deployments.get_opt(&release.fullname()).await?.is_none());
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns.name);
    assert!(sas.get_opt(&release.fullname()).await?.is_none());
    let roles: Api<ClusterRole> = Api::all(client.clone());
    assert!(roles.get_opt(&release.fullname()).await?.is_none());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        miners.get_opt("m").await?.is_some(),
        "uninstall deleted a Miner"
    );
    assert!(
        subnets.get_opt("sn").await?.is_some(),
        "uninstall deleted a Subnet"
    );
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [
        "subnets.subnet-operator.io",
        "miners.subnet-operator.io",
        "validators.subnet-operator.io",
    ] {
        assert!(crds.get_opt(crd).await?.is_some(), "{crd} deleted");
    }
    Ok(())
}

/// `kubectl auth can-i --list` as `user` in `namespace`: resource (with `[names]` when limited
/// to names) → verbs.
fn can_i_list(user: &str, namespace: &str) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let out = kubectl_ok(&["auth", "can-i", "--list", "--as", user, "-n", namespace])?;
    let mut rules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in out.lines().skip(1) {
        if line.starts_with(' ') {
            continue; // non-resource URLs
        }
        let resource = line.split_whitespace().next().unwrap_or_default();
        let groups: Vec<&str> = line
            .split('[')
            .skip(1)
            .filter_map(|g| g.split(']').next())
            .collect();
        let [_, names, verbs] = groups[..] else {
            bail!("unexpected can-i line: {line}");
        };
        let key = if names.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}[{names}]")
        };
        rules
            .entry(key)
            .or_default()
            .extend(verbs.split_whitespace().map(str::to_string));
    }
    Ok(rules)
}

fn expected(extra: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
    let everyone = EVERYONE.iter().map(|r| (*r, &["create"][..]));
    OPERATOR_RULES
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .chain(everyone)
        .map(|(r, v)| (r.to_string(), v.iter().map(|v| v.to_string()).collect()))
        .collect()
}

/// `kubectl auth can-i <verb> <resource> --as <user> -n <namespace> <extra>`.
fn can_i(user: &str, namespace: &str, verb: &str, resource: &str, extra: &[&str]) -> Result<bool> {
    let mut args = vec![
        "auth", "can-i", verb, resource, "--as", user, "-n", namespace,
    ];
    args.extend_from_slice(extra);
    let out = kubectl(&args)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "yes")
}

#[tokio::test]
async fn rbac_grants_exactly_the_documented_rules() -> Result<()> {
    let Some((client, helm)) = cluster().await else {
        return Ok(());
    };
    let home = TempNamespace::new(&client, "chart-rbac").await?;
    let fleets = TempNamespace::new(&client, "chart-rbac-fleets").await?;
    let elsewhere = TempNamespace::new(&client, "chart-rbac-other").await?;
    let no_pods = ["--set", "crds.enabled=false", "--set", "replicaCount=0"];

    // Cluster-wide (the default): the operator rules in every namespace, the Lease only at home.
    let wide = Release::install(&helm, &home.name, &home.name, &no_pods)?;
    let sa = wide.service_account();
    let lease = format!("leases.coordination.k8s.io[{}-leader]", wide.fullname());
    let lease_rules: &[(&str, &[&str])] = &[
        ("leases.coordination.k8s.io", &["create"]),
        (&lease, &["get", "patch"]),
    ];
    assert_eq!(can_i_list(&sa, &fleets.name)?, expected(&[]));
    assert_eq!(can_i_list(&sa, &home.name)?, expected(lease_rules));
    for (verb, resource) in [
        ("delete", "secrets"),
        ("update", "secrets"),
        ("create", "pods"),
        ("delete", "miners.subnet-operator.io"),
        ("patch", "miners.subnet-operator.io"),
        ("create", "deployments.apps"),
        ("create", "events"),
        ("get", "configmaps"),
        ("get", "leases.coordination.k8s.io/someone-elses"),
        ("patch", "leases.coordination.k8s.io"),
    ] {
        assert!(
            !can_i(&sa, &home.name, verb, resource, &[])?,
            "{sa} can {verb} {resource}"
        );
    }
    for (verb, resource) in [
        ("get", "nodes"),
        ("list", "namespaces"),
        ("get", "customresourcedefinitions.apiextensions.k8s.io"),
        ("create", "clusterroles.rbac.authorization.k8s.io"),
    ] {
        assert!(
            !can_i(&sa, "default", verb, resource, &[])?,
            "{sa} can {verb} {resource}"
        );
    }
    assert!(can_i(&sa, &fleets.name, "create", "secrets", &[])?);
    assert!(can_i(
        &sa,
        &fleets.name,
        "list",
        "miners.subnet-operator.io",
        &[]
    )?);
    assert!(can_i(
        &sa,
        &home.name,
        "patch",
        &format!("leases.coordination.k8s.io/{}-leader", wide.fullname()),
        &[]
    )?);
    drop(wide);

    // A list of namespaces: the operator rules in each of them only; the Lease at home; nothing
    // elsewhere (kube-system's Secrets included).
    let fleets2 = TempNamespace::new(&client, "chart-rbac-fleets2").await?;
    let narrow = Release::install(
        &helm,
        "narrow",
        &home.name,
        &[
            no_pods.as_slice(),
            &[
                "--set",
                &format!("watchNamespaces={{{},{}}}", fleets.name, fleets2.name),
            ],
        ]
        .concat(),
    )?;
    let sa = narrow.service_account();
    let lease = format!("leases.coordination.k8s.io[{}-leader]", narrow.fullname());
    let lease_rules: &[(&str, &[&str])] = &[
        ("leases.coordination.k8s.io", &["create"]),
        (&lease, &["get", "patch"]),
    ];
    assert_eq!(can_i_list(&sa, &fleets.name)?, expected(&[]));
    assert_eq!(can_i_list(&sa, &fleets2.name)?, expected(&[]));
    assert!(!can_i(&sa, "kube-system", "get", "secrets", &[])?);
    let home_rules = can_i_list(&sa, &home.name)?;
    let want_home: BTreeMap<String, BTreeSet<String>> = expected(lease_rules)
        .into_iter()
        .filter(|(r, _)| r.starts_with("leases.") || EVERYONE.contains(&r.as_str()))
        .collect();
    assert_eq!(home_rules, want_home);
    let elsewhere_rules = can_i_list(&sa, &elsewhere.name)?;
    assert!(
        elsewhere_rules
            .keys()
            .all(|r| EVERYONE.contains(&r.as_str())),
        "{elsewhere_rules:?}"
    );
    assert!(!can_i(
        &sa,
        "default",
        "list",
        "miners.subnet-operator.io",
        &["--all-namespaces"]
    )?);
    Ok(())
}

/// The operator binary running as a process with a given kubeconfig; killed when dropped.
struct OperatorAs {
    child: Child,
    metrics_addr: String,
    log: PathBuf,
}

impl OperatorAs {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits up to 20 s; returns the exit code.
    fn terminate(&mut self) -> Result<Option<i32>> {
        run(Command::new("kill").args(["-TERM", &self.child.id().to_string()]))?;
        for _ in 0..200 {
            if let Some(s) = self.child.try_wait()? {
                return Ok(s.code());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(None)
    }
}

impl Drop for OperatorAs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A kubeconfig for the test cluster that authenticates with `token` only.
fn token_kubeconfig(path: &Path, token: &str) -> Result<()> {
    let admin: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(
        kubeconfig_path().context("no test cluster")?,
    )?)?;
    let cluster = admin["clusters"][0]["cluster"].clone();
    ensure!(!cluster.is_null(), "no cluster in the test kubeconfig");
    let kc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": cluster}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "e2e", "user": "sa"}}],
        "current-context": "sa",
    });
    std::fs::write(path, serde_yaml::to_string(&kc)?)?;
    Ok(())
}

fn miner(name: &str, replicas: u32, extra: &str) -> Result<Miner> {
    e2e::fixtures::miner_object(
        name,
        replicas,
        "{coldkeyPub: {secretRef: {name: cold}}}",
        extra,
    )
}

#[tokio::test]
async fn operator_runs_with_only_the_charts_service_account() -> Result<()> {
    let Some((client, helm)) = cluster().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "chart-sa").await?;
    // A second namespace of fleets: the operator gets a Role in each, and nothing elsewhere.
    let second = TempNamespace::new(&client, "chart-sa-2").await?;
    // The chart's RBAC for these namespaces; the process below stands in for its pod.
    let release = Release::install(
        &helm,
        &ns.name,
        &ns.name,
        &[
            "--set",
            "crds.enabled=false",
            "--set",
            "replicaCount=0",
            "--set",
            &format!("watchNamespaces={{{},{}}}", ns.name, second.name),
        ],
    )?;
    let token = kubectl_ok(&[
        "create",
        "token",
        &release.fullname(),
        "-n",
        &ns.name,
        "--duration=1h",
    ])?;
    let kubeconfig = std::env::temp_dir().join(format!("{}-sa.kubeconfig", ns.name));
    token_kubeconfig(&kubeconfig, token.trim())?;
    struct RemoveOnDrop<'a>(&'a Path);
    impl Drop for RemoveOnDrop<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    let _kubeconfig_guard = RemoveOnDrop(&kubeconfig);

    let identity = "chart-sa";
    let lease_name = format!("{}-leader", release.fullname());
    let metrics_addr = format!("127.0.0.1:{}", free_port()?);
    let log = artifacts_dir().join(format!("operator-{}-{identity}.log", ns.name));
    let out = std::fs::File::create(&log)?;
    let child = Command::new(operator_binary()?)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KUBECONFIG", &kubeconfig)
        .env("WATCH_NAMESPACE", format!("{},{}", ns.name, second.name))
        .env("LEASE_NAME", &lease_name)
        .env("LEASE_NAMESPACE", &ns.name)
        .env("LEASE_DURATION_SECONDS", "6")
        .env("POD_NAME", identity)
        .env("POD_NAMESPACE", &ns.name)
        .env("METRICS_ADDR", &metrics_addr)
        // Kubernetes rights only: no chain (Finney is not reachable from here).
        .env("CHAIN_BACKEND", "none")
        .env(
            "RUST_LOG",
            "info,subnet_operator=debug,kube=warn,kube_runtime=info",
        )
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .spawn()
        .context("starting the operator")?;
    let mut op = OperatorAs {
        child,
        metrics_addr,
        log,
    };
    let result = async {
        wait_until(Duration::from_secs(60), || async {
            Ok(http_get(&op.metrics_addr, "/readyz")
                .await
                .is_ok_and(|(c, _)| c == 200))
        })
        .await
        .context("operator ready (the CRD check passed)")?;
        let leases: Api<Lease> = Api::namespaced(client.clone(), &ns.name);
        wait_until(Duration::from_secs(30), || async {
            Ok(leases
                .get_opt(&lease_name)
                .await?
                .and_then(|l| l.spec)
                .and_then(|s| s.holder_identity)
                .as_deref()
                == Some(identity))
        })
        .await
        .context("took the leader Lease")?;
        let renewed = || async {
            anyhow::Ok(
                leases
                    .get(&lease_name)
                    .await?
                    .spec
                    .and_then(|s| s.renew_time)
                    .map(|t| t.0.to_string()),
            )
        };
        let first_renewal = renewed().await?;

        // A fleet that touches every kind the operator writes: hotkey and coldkeypub Secrets,
        // StatefulSets, NodePort Services, PVCs, the PodDisruptionBudget, status, events.
        let miners: Api<Miner> = Api::namespaced(client.clone(), &ns.name);
        miners
            .create(
                &PostParams::default(),
                &miner(
                    "m",
                    2,
                    "  axon: {exposure: NodePort}\n  storage: {size: 1Gi, whenScaled: Delete}",
                )?,
            )
            .await?;
        let subnets: Api<Subnet> = Api::namespaced(client.clone(), &ns.name);
        subnets
            .create(
                &PostParams::default(),
                &serde_yaml::from_str(
                    "{apiVersion: subnet-operator.io/v1alpha1, kind: Subnet, metadata: {name: sn}, spec: {network: finney, netuid: 7}}",
                )?,
            )
            .await?;
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
        secrets
            .create(
                &PostParams::default(),
                &serde_json::from_value(serde_json::json!({
                    "metadata": {"name": "cold"},
                    "stringData": {"coldkeypub.txt": format!(
                        r#"{{"accountId":"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d","publicKey":"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d","ss58Address":"{ALICE}","cryptoType":1}}"#
                    )},
                }))?,
            )
            .await?;
        let ready = |n: i32| {
            let miners = miners.clone();
            async move {
                wait_until(Duration::from_secs(120), || async {
                    let s = miners.get("m").await?.status.unwrap_or_default();
                    Ok(s.replicas == n
                        && s.ready_replicas == n
                        && s.conditions
                            .iter()
                            .any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .await
                .with_context(|| format!("Miner m with {n} ready replicas"))
            }
        };
        ready(2).await?;

        // The same operator runs a fleet in the second namespace.
        e2e::fixtures::subnet(&client, &second.name, "{network: finney, netuid: 7}").await?;
        let miners2: Api<Miner> = Api::namespaced(client.clone(), &second.name);
        let mut other: Miner = miner("m2", 1, "")?;
        other.spec.fleet.wallet.coldkey_pub = serde_yaml::from_str(&format!("{{ss58: {ALICE}}}"))?;
        miners2.create(&PostParams::default(), &other).await?;
        wait_until(Duration::from_secs(120), || async {
            let s = miners2.get("m2").await?.status.unwrap_or_default();
            Ok(s.ready_replicas == 1
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .await
        .context("Miner m2 in the second watched namespace is ready")?;

        let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
        let svcs: Api<Service> = Api::namespaced(client.clone(), &ns.name);
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns.name);
        let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &ns.name);
        for i in 0..2 {
            assert!(secrets.get_opt(&format!("m-hotkey-{i}")).await?.is_some());
            assert!(sts.get_opt(&format!("m-{i}")).await?.is_some());
            assert!(svcs.get_opt(&format!("m-{i}")).await?.is_some());
            assert!(pvcs.get_opt(&format!("m-data-{i}")).await?.is_some());
        }
        assert!(secrets.get_opt("m-coldkeypub").await?.is_some());
        assert!(pdbs.get_opt("m").await?.is_some());

        // Scale-in deletes a StatefulSet, its Service and (whenScaled: Delete) its claim.
        kubectl_ok(&["-n", &ns.name, "scale", "miner/m", "--replicas=1"])?;
        ready(1).await?;
        wait_until(Duration::from_secs(60), || async {
            let claim_gone = pvcs
                .get_opt("m-data-1")
                .await?
                .is_none_or(|c| c.metadata.deletion_timestamp.is_some());
            Ok(sts.get_opt("m-1").await?.is_none()
                && svcs.get_opt("m-1").await?.is_none()
                && claim_gone)
        })
        .await
        .context("scale-in removed replica 1")?;

        let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
        let list = events.list(&ListParams::default()).await?;
        assert!(
            list.items
                .iter()
                .any(|e| e.reporting_component.as_deref() == Some("subnet-operator")),
            "no event from the operator"
        );

        // The leader renews its Lease (a patch on the named Lease only).
        wait_until(Duration::from_secs(30), || async {
            Ok(renewed().await? != first_renewal)
        })
        .await
        .context("renewed the leader Lease")?;

        // A clean shutdown releases the Lease (a patch).
        let code = op.terminate()?;
        assert_eq!(code, Some(0), "operator log:\n{}", op.log_text());
        anyhow::Ok(())
    }
    .await;
    let log = op.log_text();
    result.with_context(|| format!("operator log:\n{log}"))?;
    let lower = log.to_lowercase();
    assert!(
        !lower.contains("forbidden"),
        "the chart's RBAC denied the operator something:\n{log}"
    );
    Ok(())
}
