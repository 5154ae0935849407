//! Metrics, alerts and the dashboard: what the operator really exports (a scrape of the real
//! binary) equals the documented list (`subnet_operator::metrics::METRIC_NAMES`) and the table in
//! `docs/metrics.md`; the chart's PrometheusRule and Grafana dashboard, rendered by the pinned
//! `helm template`, name only exported metrics, link runbooks that exist in `docs/alerts.md`, pass
//! `promtool check rules` and the unit tests in `tests/alerts/alerts.test.yaml`, and are accepted
//! by the apiserver (server-side dry run; the PrometheusRule against a subset of the upstream CRD).
//!
//! Helm and promtool are the pinned builds of `e2e/tools/build-bins.sh`: on PATH after
//! `eval "$(e2e/cluster.sh env)"`, else found through build-bins.sh under `E2E_REQUIRED=1`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use e2e::tools::{helm, kubectl_stdin, pinned, run, tool};
use e2e::{OperatorProcess, TempNamespace, client, install_crds, repo_root, wait_until};
use serde::Deserialize;
use subnet_operator::metrics::METRIC_NAMES;

const CHART: &str = "charts/subnet-operator";
const DASHBOARD: &str = "charts/subnet-operator/dashboards/subnet-operator.json";
const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

fn promtool() -> Option<PathBuf> {
    let v = pinned("PROMTOOL_VERSION").unwrap_or_else(|e| panic!("{e:#}"));
    tool(
        "promtool",
        &["--version"],
        &format!("version {}", v.trim_start_matches('v')),
    )
}

/// `helm template <release> charts/subnet-operator -n <namespace> <extra>`, as documents.
fn template(helm: &Path, release: &str, namespace: &str, extra: &[&str]) -> Result<Vec<Value>> {
    let mut args = vec!["template", release, CHART, "--namespace", namespace];
    args.extend_from_slice(extra);
    let yaml = run(Command::new(helm).current_dir(repo_root()).args(&args))?;
    let mut out = Vec::new();
    for d in serde_yaml::Deserializer::from_str(&yaml) {
        let v = Value::deserialize(d)?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

type Value = serde_yaml::Value;

/// The one object of `kind` in `docs`.
fn only<'a>(docs: &'a [Value], kind: &str) -> Result<&'a Value> {
    let all: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    ensure!(all.len() == 1, "{} objects of kind {kind}", all.len());
    Ok(all[0])
}

const WITH_EVERYTHING: &[&str] = &[
    "--set",
    "metrics.prometheusRule.enabled=true",
    "--set",
    "grafana.dashboards.enabled=true",
    "--set",
    "metrics.serviceMonitor.enabled=true",
];

// --- PromQL metric names -------------------------------------------------------------------

/// PromQL words that are not metric names when they stand alone.
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "inf",
    "nan",
    // Aggregation operators may be followed by `by (...)` instead of their parenthesis.
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// The metric names a PromQL expression (or a Grafana query such as `label_values(m, l)`)
/// selects: identifiers that are not functions (followed by `(`), keywords, label names (inside
/// `{}` or the parentheses of `by`/`on`/...), numbers, durations, strings or Grafana variables.
fn metric_names(expr: &str) -> Result<BTreeSet<String>> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    let mut in_braces = false;
    // Parenthesis depth at which a label list (`by (...)`) started.
    let mut label_list: Option<usize> = None;
    let mut depth = 0usize;
    let mut after_grouping = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                let q = c;
                i += 1;
                while i < chars.len() && chars[i] != q {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                ensure!(i < chars.len(), "unterminated string in {expr}");
                i += 1;
            }
            '{' => {
                ensure!(!in_braces, "nested braces in {expr}");
                in_braces = true;
                i += 1;
            }
            '}' => {
                ensure!(in_braces, "unbalanced braces in {expr}");
                in_braces = false;
                i += 1;
            }
            '[' => {
                // A range or subquery duration (may hold a Grafana variable).
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
                ensure!(i < chars.len(), "unterminated range in {expr}");
                i += 1;
            }
            '(' => {
                depth += 1;
                if after_grouping {
                    label_list = Some(depth);
                    after_grouping = false;
                }
                i += 1;
            }
            ')' => {
                ensure!(depth > 0, "unbalanced parentheses in {expr}");
                if label_list == Some(depth) {
                    label_list = None;
                }
                depth -= 1;
                i += 1;
            }
            '$' => {
                // A Grafana variable: $name, ${name} or $__rate_interval.
                i += 1;
                if i < chars.len() && chars[i] == '{' {
                    while i < chars.len() && chars[i] != '}' {
                        i += 1;
                    }
                    i += 1;
                } else {
                    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                // A number (1e9, 0.5) or a duration (5m): digits, letters, dots, signs after e.
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '.'
                        || ((chars[i] == '+' || chars[i] == '-')
                            && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let called = chars.get(j) == Some(&'(');
                let lower = word.to_ascii_lowercase();
                if in_braces || label_list.is_some() {
                    // A label name.
                } else if matches!(
                    lower.as_str(),
                    "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                ) {
                    after_grouping = called;
                } else if KEYWORDS.contains(&lower.as_str()) || called {
                    // A keyword or a function (or label_values' label after a comma: below).
                } else if label_values_label(&chars, start) {
                    // The label argument of Grafana's label_values(metric, label).
                } else {
                    out.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    ensure!(!in_braces && depth == 0, "unbalanced expression: {expr}");
    Ok(out)
}

/// True when the word at `start` is the second argument of `label_values(...)`.
fn label_values_label(chars: &[char], start: usize) -> bool {
    let before: String = chars[..start].iter().collect();
    let before = before.trim_end();
    before.ends_with(',') && before.contains("label_values(")
}

/// The exported metric a selected name belongs to (histograms export `_bucket`, `_sum` and
/// `_count`), or `None` when the operator does not export it.
fn exported(name: &str, known: &BTreeSet<String>) -> Option<String> {
    if known.contains(name) {
        return Some(name.to_string());
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|s| {
        let base = name.strip_suffix(s)?;
        known.contains(base).then(|| base.to_string())
    })
}

fn documented() -> BTreeSet<String> {
    METRIC_NAMES.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_metric_name_extractor_finds_metrics_and_only_metrics() -> Result<()> {
    let cases: &[(&str, &[&str])] = &[
        (
            r#"sum by (kind, error) (rate(subnet_operator_reconcile_errors_total{job="x", kind=~"Miner|Validator"}[5m])) > 0"#,
            &["subnet_operator_reconcile_errors_total"],
        ),
        (
            r#"histogram_quantile(0.95, sum by (le) (rate(a_bucket{job=~"$job"}[$__rate_interval]))) / 1e9 > 2.5e-3"#,
            &["a_bucket"],
        ),
        (
            "max by (namespace) (up_x) < 1 or absent(b{c=\"d\"}) and on (namespace, name) c_d offset 5m",
            &["up_x", "b", "c_d"],
        ),
        (
            r#"label_values(subnet_operator_replica_registered{namespace=~"$namespace"}, name)"#,
            &["subnet_operator_replica_registered"],
        ),
        ("count(x == 0) or vector(0)", &["x"]),
        ("a / ignoring (pod) group_left (name) b", &["a", "b"]),
    ];
    for (expr, want) in cases {
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(metric_names(expr)?, want, "{expr}");
    }
    assert!(metric_names("sum(rate(x{a=\"b\"[5m]))").is_err());
    // A name the operator does not export is caught, a histogram's series are not.
    let known = documented();
    assert_eq!(
        exported("subnet_operator_reconcile_duration_seconds_bucket", &known).as_deref(),
        Some("subnet_operator_reconcile_duration_seconds")
    );
    assert_eq!(exported("subnet_operator_reconciles", &known), None);
    assert_eq!(exported("subnet_operator_replica_ready", &known), None);
    Ok(())
}

// --- docs -----------------------------------------------------------------------------------

/// The metrics reference table of `docs/metrics.md`: name → type.
fn docs_metrics() -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(repo_root().join("docs/metrics.md"))?;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `name` | type | labels | meaning |
        if cells.len() < 5 || !cells[1].starts_with("`subnet_operator_") {
            continue;
        }
        let name = cells[1].trim_matches('`').to_string();
        ensure!(
            out.insert(name.clone(), cells[2].to_string()).is_none(),
            "{name} listed twice in docs/metrics.md"
        );
    }
    ensure!(!out.is_empty(), "no metrics table in docs/metrics.md");
    Ok(out)
}

/// The alert sections of `docs/alerts.md` (`## SubnetOperator...` headings).
fn docs_alerts() -> Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(repo_root().join("docs/alerts.md"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(str::trim)
        .filter(|h| h.starts_with("SubnetOperator"))
        .map(str::to_string)
        .collect())
}

// --- the scrape ------------------------------------------------------------------------------

/// Metric families of an OpenMetrics scrape, by the name their samples carry (counters get
/// `_total`), with their type.
fn scraped_families(body: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for line in body.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(family), Some(kind)) = (parts.next(), parts.next()) else {
            bail!("malformed TYPE line: {line}");
        };
        let name = match kind {
            "counter" if !family.ends_with("_total") => format!("{family}_total"),
            _ => family.to_string(),
        };
        out.insert(name, kind.to_string());
    }
    ensure!(body.trim_end().ends_with("# EOF"), "no # EOF in:\n{body}");
    Ok(out)
}

/// Families only a registration on a live chain, a failing reconcile, a validator restart or a
/// replica diagnosed from the chain's figures produce; `every_documented_metric_is_exported` in the operator crate covers them, and the
/// registration tests exercise them against the simulation.
const NOT_IN_THIS_SCRAPE: &[&str] = &[
    "subnet_operator_reconcile_errors_total",
    "subnet_operator_extrinsics_total",
    "subnet_operator_stale_weight_restarts_total",
    "subnet_operator_registration_price_rao",
    "subnet_operator_replica_diagnosis",
];

#[tokio::test]
async fn the_scrape_equals_the_documented_metrics_and_the_docs_table() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "obs").await?;
    // A chain endpoint that refuses connections: chain calls and their errors are counted.
    let dead = format!("http://127.0.0.1:{}", e2e::free_port()?);
    let op = OperatorProcess::start(
        &ns.name,
        "obs-a",
        &[
            ("CHAIN_BACKEND", "sim"),
            ("SIM_CHAIN_URL", &dead),
            ("CHAIN_POLL_MS", "200"),
        ],
    )?;
    wait_until(Duration::from_secs(60), || async {
        Ok(op.get("/readyz").await.is_ok_and(|(c, _)| c == 200))
    })
    .await
    .with_context(|| format!("operator not ready; log:\n{}", op.log_text()))?;

    // A Subnet, the coldkey's public file and a Miner of two replicas: reconciles, writes and
    // per-replica gauges.
    let apply = |yaml: &str| kubectl_stdin(&["apply", "-n", &ns.name, "-f", "-"], yaml);
    apply(
        "{apiVersion: subnet-operator.io/v1alpha1, kind: Subnet, metadata: {name: sn}, spec: {network: finney, netuid: 7}}",
    )?;
    let coldkeypub = format!(
        r#"{{"accountId":"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d","publicKey":"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d","ss58Address":"{ALICE}","cryptoType":1}}"#
    );
    apply(&format!(
        "{{apiVersion: v1, kind: Secret, metadata: {{name: cold}}, stringData: {{coldkeypub.txt: '{coldkeypub}'}}}}"
    ))?;
    apply(
        "{apiVersion: subnet-operator.io/v1alpha1, kind: Miner, metadata: {name: m}, spec: {subnetRef: {name: sn}, replicas: 2, wallet: {coldkeyPub: {secretRef: {name: cold}}}, registration: {mode: Manual}, template: {image: 'miner:1'}}}",
    )?;
    let want = [
        "subnet_operator_leader 1",
        r#"subnet_operator_replica_registered{namespace="NS",kind="Miner",name="m",replica="1"} 0"#,
        r#"subnet_operator_chain_errors_total{chain="sim",method="head"}"#,
        r#"subnet_operator_chain_open{chain="sim"} 1"#,
        r#"subnet_operator_spent_rao{namespace="NS",kind="Miner",name="m"} 0"#,
    ]
    .map(|w| w.replace("NS", &ns.name));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let body = loop {
        let body = op.get("/metrics").await?.1;
        if want.iter().all(|w| body.contains(w.as_str())) {
            break body;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "the scrape lacks one of {want:?}:\n{body}\noperator log:\n{}",
            op.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let scraped = scraped_families(&body)?;
    let names: BTreeSet<String> = scraped.keys().cloned().collect();

    // What is served is documented, and everything documented is served but the few families
    // this scenario cannot produce.
    let documented = documented();
    let undocumented: Vec<&String> = names.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in subnet_operator::metrics::METRIC_NAMES: {undocumented:?}"
    );
    let missing: BTreeSet<&str> = documented.difference(&names).map(String::as_str).collect();
    assert_eq!(
        missing,
        NOT_IN_THIS_SCRAPE.iter().copied().collect(),
        "documented metrics missing from the scrape:\n{body}"
    );

    // docs/metrics.md lists exactly the documented names, with the types the scrape shows.
    let docs = docs_metrics()?;
    let doc_names: BTreeSet<String> = docs.keys().cloned().collect();
    assert_eq!(
        doc_names, documented,
        "docs/metrics.md's table (left) differs from METRIC_NAMES (right)"
    );
    for (name, kind) in &scraped {
        assert_eq!(
            docs.get(name),
            Some(kind),
            "docs/metrics.md gives {name} another type than the scrape's {kind}"
        );
    }
    for name in NOT_IN_THIS_SCRAPE {
        let want = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        assert_eq!(docs.get(*name).map(String::as_str), Some(want), "{name}");
    }
    Ok(())
}

// --- the rendered chart ----------------------------------------------------------------------

fn rules(rule: &Value) -> Vec<&Value> {
    rule["spec"]["groups"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_sequence().into_iter().flatten())
        .collect()
}

/// Every panel of a dashboard, including those inside collapsed rows.
fn panels(dashboard: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = vec![];
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        out.push(p);
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

#[test]
fn alerts_name_only_exported_metrics_and_link_their_runbooks() -> Result<()> {
    let Some(helm) = helm() else { return Ok(()) };
    let known = documented();
    let mut lint = vec!["lint", "--strict", CHART];
    lint.extend_from_slice(WITH_EVERYTHING);
    let out = run(Command::new(&helm).current_dir(repo_root()).args(&lint))?;
    assert!(
        out.contains("0 chart(s) failed") && !out.contains("[WARNING]") && !out.contains("[ERROR]"),
        "{out}"
    );
    let docs = template(&helm, "so", "ops", WITH_EVERYTHING)?;
    let rule = only(&docs, "PrometheusRule")?;
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["metadata"]["namespace"], "ops");
    let runbooks = docs_alerts()?;
    let mut alerts = BTreeSet::new();
    let mut used = BTreeSet::new();
    for r in rules(rule) {
        let alert = r["alert"].as_str().context("a rule without alert")?;
        assert!(alerts.insert(alert.to_string()), "{alert} twice");
        let expr = r["expr"].as_str().context("expr")?;
        let names = metric_names(expr)?;
        assert!(!names.is_empty(), "{alert}: no metric in {expr}");
        for n in &names {
            let base = exported(n, &known)
                .unwrap_or_else(|| panic!("{alert} uses {n}, which the operator does not export"));
            used.insert(base);
        }
        // Every selector is scoped to this release's scrapes.
        assert!(
            expr.matches("subnet_operator_").count()
                == expr.matches(r#"{job="so-subnet-operator-metrics""#).count(),
            "{alert}: a selector without the release's job: {expr}"
        );
        let severity = r["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{alert}: severity {severity:?}"
        );
        for a in ["summary", "description", "runbook_url"] {
            assert!(
                r["annotations"][a].as_str().is_some_and(|s| !s.is_empty()),
                "{alert}: no {a}"
            );
        }
        let runbook = r["annotations"]["runbook_url"].as_str().unwrap_or_default();
        assert_eq!(
            runbook,
            format!(
                "https://github.com/subnet-operator/subnet-operator/blob/main/docs/alerts.md#{}",
                alert.to_lowercase()
            )
        );
    }
    // docs/alerts.md has a section per alert and no section for an alert that does not exist.
    assert_eq!(
        alerts, runbooks,
        "alerts in the chart (left) and sections of docs/alerts.md (right) differ"
    );
    // The alerts the issue asks for (by what they watch).
    for m in [
        "subnet_operator_replica_registered",
        "subnet_operator_spent_rao",
        "subnet_operator_chain_errors_total",
        "subnet_operator_replica_blocks_since_weights",
        "subnet_operator_registration_price_rao",
        "subnet_operator_reconcile_errors_total",
        "subnet_operator_leader",
        "subnet_operator_replica_registrations_until_pruned",
        "subnet_operator_replica_diagnosis",
    ] {
        assert!(used.contains(m), "no alert watches {m}");
    }

    // Values change the rule: thresholds, selector, labels, left-out alerts; off by default.
    let custom = template(
        &helm,
        "so",
        "ops",
        &[
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--set",
            "metrics.prometheusRule.thresholds.registrationPriceTao=2.5",
            "--set",
            r#"metrics.prometheusRule.selector=namespace="ops"\,service="so""#,
            "--set",
            "metrics.prometheusRule.namespace=monitoring",
            "--set",
            "metrics.prometheusRule.labels.release=prom",
            "--set",
            "metrics.prometheusRule.alertLabels.team=ml",
            "--set",
            "metrics.prometheusRule.disabled={SubnetOperatorAxonDrift}",
        ],
    )?;
    let custom = only(&custom, "PrometheusRule")?;
    assert_eq!(custom["metadata"]["namespace"], "monitoring");
    assert_eq!(custom["metadata"]["labels"]["release"], "prom");
    let by_name: BTreeMap<&str, &Value> = rules(custom)
        .into_iter()
        .filter_map(|r| Some((r["alert"].as_str()?, r)))
        .collect();
    assert!(!by_name.contains_key("SubnetOperatorAxonDrift"));
    assert_eq!(by_name.len(), alerts.len() - 1);
    let price = by_name["SubnetOperatorRegistrationPriceHigh"]["expr"]
        .as_str()
        .unwrap_or_default();
    assert!(
        price.contains(r#"subnet_operator_registration_price_rao{namespace="ops",service="so"}"#)
            && price.trim_end().ends_with("> 2.5"),
        "{price}"
    );
    assert!(
        by_name
            .values()
            .all(|r| r["labels"]["team"] == "ml" && !r["labels"]["severity"].is_null())
    );
    let plain = template(&helm, "so", "ops", &[])?;
    assert!(plain.iter().all(|d| d["kind"] != "PrometheusRule"));
    assert!(plain.iter().all(|d| d["kind"] != "ConfigMap"));
    Ok(())
}

#[test]
fn dashboard_panels_name_only_exported_metrics() -> Result<()> {
    let Some(helm) = helm() else { return Ok(()) };
    let known = documented();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join(DASHBOARD))?)?;

    // The ConfigMap for the Grafana sidecar carries the file unchanged, with the sidecar label.
    let docs = template(
        &helm,
        "so",
        "ops",
        &[
            "--set",
            "grafana.dashboards.enabled=true",
            "--set",
            "grafana.dashboards.namespace=grafana",
            "--set",
            "grafana.dashboards.annotations.grafana_folder=Bittensor",
        ],
    )?;
    let cm = only(&docs, "ConfigMap")?;
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(cm["metadata"]["namespace"], "grafana");
    assert_eq!(cm["metadata"]["annotations"]["grafana_folder"], "Bittensor");
    let embedded: serde_json::Value = serde_json::from_str(
        cm["data"]["subnet-operator.json"]
            .as_str()
            .context("no subnet-operator.json in the ConfigMap")?,
    )?;
    assert_eq!(embedded, file);
    let relabelled = template(
        &helm,
        "so",
        "ops",
        &[
            "--set",
            "grafana.dashboards.enabled=true",
            "--set",
            "grafana.dashboards.label=dashboards",
            "--set",
            "grafana.dashboards.labelValue=subnets",
        ],
    )?;
    let cm = only(&relabelled, "ConfigMap")?;
    assert_eq!(cm["metadata"]["labels"]["dashboards"], "subnets");
    assert!(cm["metadata"]["labels"]["grafana_dashboard"].is_null());

    // Every query of every panel and template variable names exported metrics only.
    assert!(file["uid"].as_str().is_some_and(|u| !u.is_empty()));
    let mut used = BTreeSet::new();
    let mut queries = 0;
    for p in panels(&file) {
        if p["type"] == "row" {
            continue;
        }
        let title = p["title"].as_str().unwrap_or_default();
        let targets = p["targets"].as_array().context("a panel without targets")?;
        assert!(!targets.is_empty(), "panel {title:?} has no query");
        for t in targets {
            let expr = t["expr"].as_str().context("a target without expr")?;
            let names = metric_names(expr)?;
            assert!(!names.is_empty(), "panel {title:?}: no metric in {expr}");
            for n in names {
                let base = exported(&n, &known).unwrap_or_else(|| {
                    panic!("panel {title:?} uses {n}, which the operator does not export")
                });
                used.insert(base);
            }
            queries += 1;
        }
    }
    for v in file["templating"]["list"].as_array().into_iter().flatten() {
        if let Some(q) = v["query"]["query"].as_str() {
            for n in metric_names(q)? {
                assert!(
                    exported(&n, &known).is_some(),
                    "variable {}: {n} is not exported",
                    v["name"]
                );
            }
            queries += 1;
        }
    }
    assert!(queries > 20, "only {queries} queries");
    // The fleet overview the issue asks for.
    for m in [
        "subnet_operator_replica_registered",
        "subnet_operator_replica_incentive",
        "subnet_operator_replica_emission_rao",
        "subnet_operator_registration_price_rao",
        "subnet_operator_spent_rao",
        "subnet_operator_reconcile_errors_total",
        "subnet_operator_chain_errors_total",
        "subnet_operator_reconcile_duration_seconds",
        "subnet_operator_replica_diagnosis",
        "subnet_operator_replica_registrations_until_pruned",
    ] {
        assert!(used.contains(m), "no panel shows {m}");
    }
    Ok(())
}

// --- promtool --------------------------------------------------------------------------------

#[test]
fn promtool_checks_the_rules_and_runs_their_unit_tests() -> Result<()> {
    let (Some(helm), Some(promtool)) = (helm(), promtool()) else {
        return Ok(());
    };
    // The release "subnet-operator", whose scrapes have job="subnet-operator-metrics" (the
    // series in alerts.test.yaml).
    let docs = template(
        &helm,
        "subnet-operator",
        "subnet-operator",
        &["--set", "metrics.prometheusRule.enabled=true"],
    )?;
    let rule = only(&docs, "PrometheusRule")?;
    let dir = std::env::temp_dir().join(format!(
        "subnet-operator-promtool-{}-{}",
        std::process::id(),
        e2e::free_port()?
    ));
    std::fs::create_dir_all(&dir)?;
    let result = (|| {
        let mut file = serde_yaml::Mapping::new();
        file.insert("groups".into(), rule["spec"]["groups"].clone());
        std::fs::write(dir.join("rules.yaml"), serde_yaml::to_string(&file)?)?;
        std::fs::copy(
            repo_root().join("e2e/tests/alerts/alerts.test.yaml"),
            dir.join("alerts.test.yaml"),
        )?;
        let out =
            run(Command::new(&promtool)
                .current_dir(&dir)
                .args(["check", "rules", "rules.yaml"]))?;
        assert!(
            out.contains(&format!("SUCCESS: {} rules found", rules(rule).len())),
            "{out}"
        );
        let out = run(Command::new(&promtool).current_dir(&dir).args([
            "test",
            "rules",
            "alerts.test.yaml",
        ]))?;
        assert!(out.contains("SUCCESS"), "{out}");

        // promtool is not a rubber stamp: a broken expression and a wrong expectation fail.
        let broken = serde_yaml::to_string(&file)?.replacen(
            "subnet_operator_leader{",
            "subnet_operator_leader{{",
            1,
        );
        std::fs::write(dir.join("broken.yaml"), broken)?;
        let out = Command::new(&promtool)
            .current_dir(&dir)
            .args(["check", "rules", "broken.yaml"])
            .output()?;
        assert!(!out.status.success(), "promtool accepted a broken rule");
        let wrong = std::fs::read_to_string(dir.join("alerts.test.yaml"))?
            .replace("eval_time: 13m", "eval_time: 11m30s");
        std::fs::write(dir.join("wrong.test.yaml"), wrong)?;
        let out = Command::new(&promtool)
            .current_dir(&dir)
            .args(["test", "rules", "wrong.test.yaml"])
            .output()?;
        assert!(!out.status.success(), "promtool passed a wrong expectation");
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

// --- the apiserver ---------------------------------------------------------------------------

#[tokio::test]
async fn rendered_rule_and_dashboard_are_accepted_by_the_apiserver() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    let Some(helm) = helm() else { return Ok(()) };
    let ns = TempNamespace::new(&client, "obs-dry").await?;
    // The PrometheusRule needs its CRD: a subset of the Prometheus Operator's schema (the fields
    // the chart uses, with the upstream types and `for` pattern), kept by the cluster like ours.
    let crd = std::fs::read_to_string(
        repo_root().join("e2e/tests/alerts/prometheusrule-crd-subset.yaml"),
    )?;
    kubectl_stdin(&["apply", "--server-side", "-f", "-"], &crd)?;
    kubectl_stdin(
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "-f",
            "-",
        ],
        &crd,
    )?;

    let docs = template(&helm, &ns.name, &ns.name, WITH_EVERYTHING)?;
    let mut objects = String::new();
    for kind in ["PrometheusRule", "ConfigMap"] {
        objects.push_str("---\n");
        objects.push_str(&serde_yaml::to_string(only(&docs, kind)?)?);
    }
    let out = kubectl_stdin(
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        &objects,
    )?;
    for object in ["prometheusrule.monitoring.coreos.com/", "configmap/"] {
        assert!(out.contains(object), "{object} missing from:\n{out}");
    }
    // The CRD's schema is enforced: a `for` that is no duration is rejected.
    let bad = objects.replacen("for: 2m", "for: soon", 1);
    let err = kubectl_stdin(
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        &bad,
    )
    .err()
    .context("a rule with `for: soon` was accepted")?;
    assert!(format!("{err:#}").contains("for"), "{err:#}");
    Ok(())
}
