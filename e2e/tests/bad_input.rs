//! The bad-input suite, the half admission cannot refuse: hostile templates
//! (`bad_input/reported.yaml`) and careless objects only the operator can judge
//! (`bad_input/controller.yaml`), all loaded at once on one running operator. Each must show its
//! condition reason (with the field or cause in the message), and while all of them are loaded
//! the operator must stay quiet: a few writes per object per minute at most, and no event
//! announced twice. The other half, what admission refuses (`bad_input/rejected.yaml`), is
//! `admission.rs`.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use e2e::bad_input::{Case, cases, fixtures};
use e2e::{OperatorProcess, TempNamespace, client, install_crds, wait_until};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use subnet_operator::crd::{Miner, Validator};

/// The conditions of a Miner or Validator, as (type, status, reason, message).
async fn conditions(
    client: &kube::Client,
    ns: &str,
    case: &Case,
) -> Result<Vec<(String, String, String, String)>> {
    let kind = case.object["kind"].as_str().unwrap_or_default();
    let ar = if kind == "Validator" {
        ApiResource::erase::<Validator>(&())
    } else {
        ApiResource::erase::<Miner>(&())
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let obj = api.get(&case.name).await?;
    Ok(obj.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("type"), s("status"), s("reason"), s("message"))
        })
        .collect())
}

/// Whether `case` shows what it expects: a condition with its reason and message, or, for
/// `Ready`, Ready=True.
fn shows(case: &Case, conditions: &[(String, String, String, String)]) -> bool {
    if case.reason == "Ready" {
        return conditions
            .iter()
            .any(|(t, s, _, _)| t == "Ready" && s == "True");
    }
    conditions
        .iter()
        .any(|(_, _, r, m)| *r == case.reason && m.contains(&case.message))
}

async fn metric_sum(op: &OperatorProcess, name: &str) -> Result<f64> {
    op.metric(name, &[]).await
}

/// Every event in the namespace, counting repeats.
async fn event_total(events: &Api<Event>) -> Result<i64> {
    Ok(events
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|e| i64::from(e.count.unwrap_or(1).max(1)))
        .sum())
}

#[tokio::test]
async fn bad_input_is_reported_once_and_left_alone() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "bad").await?;
    fixtures(&client, &ns.name).await?;
    e2e::fixtures::subnet(&client, &ns.name, "{network: finney, netuid: 7}").await?;
    let mut all = cases("reported.yaml")?;
    all.extend(cases("controller.yaml")?);
    let rejected_elsewhere = cases_count("rejected.yaml")?;
    // Everything exists before the operator starts (the import checks look at every fleet).
    let mut loaded = vec![];
    for c in &all {
        let kind = c.object["kind"].as_str().unwrap_or_default();
        let ar = if kind == "Validator" {
            ApiResource::erase::<Validator>(&())
        } else {
            ApiResource::erase::<Miner>(&())
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name, &ar);
        let obj: DynamicObject = serde_json::from_value(c.object.clone())?;
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => loaded.push(c),
            // Admission may refuse a hostile template first: that is an outcome too.
            Err(kube::Error::Api(s)) if s.code == 422 => {
                eprintln!("{}: refused at admission: {}", c.name, s.message);
            }
            Err(e) => return Err(e).with_context(|| format!("creating {}", c.name)),
        }
        // Creation timestamps have a one-second grain: the older of two fleets with one name
        // must be older by the clock, not by the tie-break.
        if c.name == "twin" && kind == "Miner" {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }
    let mut op = OperatorProcess::start(&ns.name, "op-bad", &[])?;

    let mut failures = vec![];
    for c in &loaded {
        let ok = wait_until(Duration::from_secs(120), || async {
            Ok(shows(c, &conditions(&client, &ns.name, c).await?))
        })
        .await;
        if ok.is_err() {
            failures.push(format!(
                "{} ({}): wanted reason {} with {:?}, have {:?}",
                c.name,
                c.description,
                c.reason,
                c.message,
                conditions(&client, &ns.name, c).await?
            ));
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} cases did not show their outcome:\n{}\n{}",
            failures.len(),
            loaded.len(),
            failures.join("\n"),
            op.diagnose(40)
        );
    }

    // One hotkey in two pods: a Secret imported by one fleet, then by another.
    let miners: Api<Miner> = Api::namespaced(client.clone(), &ns.name);
    let shared = subnet_operator::keys::Hotkey::generate()?;
    let phrase = shared.mnemonic().unwrap_or_default();
    e2e::fixtures::secret(&client, &ns.name, "shared-hotkey", "mnemonic", phrase).await?;
    let importer = |name: &str| -> Result<Miner> {
        Ok(serde_yaml::from_str(&format!(
            "apiVersion: subnet-operator.io/v1alpha1\nkind: Miner\nmetadata: {{name: {name}}}\nspec:\n  subnetRef: {{name: sn}}\n  replicas: 1\n  wallet:\n    coldkeyPub: {{ss58: {}}}\n    hotkeys: {{imports: [{{index: 0, secretRef: {{name: shared-hotkey}}}}]}}\n  template: {{image: \"miner:1\"}}\n",
            e2e::bad_input::ALICE
        ))?)
    };
    miners
        .create(&PostParams::default(), &importer("dup-a")?)
        .await?;
    wait_until(Duration::from_secs(60), || async {
        Ok(miners
            .get("dup-a")
            .await?
            .status
            .is_some_and(|s| s.replica_statuses.iter().any(|r| r.hotkey.is_some())))
    })
    .await
    .context("dup-a gets the imported hotkey")?;
    miners
        .create(&PostParams::default(), &importer("dup-b")?)
        .await?;
    wait_until(Duration::from_secs(60), || async {
        Ok(miners.get("dup-b").await?.status.is_some_and(|s| {
            s.conditions.iter().any(|c| {
                c.reason == "InvalidHotkeyImport"
                    && c.message
                        .contains("already the hotkey of Miner dup-a replica 0")
            })
        }))
    })
    .await
    .context("dup-b is refused the hotkey dup-a runs")?;

    // All of them loaded: a minute of quiet. (Pods of the cases that run become ready first.)
    tokio::time::sleep(Duration::from_secs(10)).await;
    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let w0 = metric_sum(&op, "subnet_operator_kube_writes_total").await?;
    let r0 = metric_sum(&op, "subnet_operator_reconciles_total").await?;
    let e0 = event_total(&events).await?;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let w1 = metric_sum(&op, "subnet_operator_kube_writes_total").await?;
    let r1 = metric_sum(&op, "subnet_operator_reconciles_total").await?;
    let e1 = event_total(&events).await?;
    let objects = (loaded.len() + 2) as f64;
    println!(
        "bad-input suite: {} cases here ({} loaded, {} refused at admission) + {rejected_elsewhere} in admission.rs; over 60 s with all loaded: {} writes, {} reconciles, {} new events",
        all.len(),
        loaded.len(),
        all.len() - loaded.len(),
        w1 - w0,
        r1 - r0,
        e1 - e0
    );
    assert!(
        w1 - w0 <= 3.0 * objects,
        "{} writes in a minute for {objects} objects",
        w1 - w0
    );
    assert_eq!(e1, e0, "events were announced again while nothing changed");
    op.kill();
    Ok(())
}

/// How many cases a file holds.
fn cases_count(file: &str) -> Result<usize> {
    let path = e2e::repo_root().join("e2e/tests/bad_input").join(file);
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    Ok(text.lines().filter(|l| l.trim_end() == "---").count())
}
