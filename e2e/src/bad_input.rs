//! The bad-input cases the cluster tests share (`e2e/tests/bad_input/*.yaml`) and the objects
//! they point at.

use anyhow::{Context as _, Result, bail};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::api::{Api, PostParams};
use serde::Deserialize;
use subnet_operator::keys::Hotkey;

/// The coldkey of every case: //Alice (a public development key; here it plays the secret one).
pub const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
/// Annotation: what a case tests.
pub const CASE: &str = "test.subnet-operator.io/case";
/// Annotation: the condition reason the operator must report.
pub const EXPECT_REASON: &str = "test.subnet-operator.io/expect-reason";
/// Annotation: a substring of that condition's message.
pub const EXPECT_MESSAGE: &str = "test.subnet-operator.io/expect-message";

/// One case from a shared file.
pub struct Case {
    /// The object's name.
    pub name: String,
    /// What it tests.
    pub description: String,
    /// The condition reason expected.
    pub reason: String,
    /// A substring of the condition's message.
    pub message: String,
    /// The object.
    pub object: serde_json::Value,
}

/// Reads `e2e/tests/bad_input/<file>`: one object per document, each with its expected reason
/// and message in annotations.
pub fn cases(file: &str) -> Result<Vec<Case>> {
    let path = crate::repo_root().join("e2e/tests/bad_input").join(file);
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let mut out = vec![];
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = serde_json::Value::deserialize(doc)?;
        if v.is_null() {
            continue;
        }
        let meta = &v["metadata"];
        let ann = |k: &str| {
            meta["annotations"][k]
                .as_str()
                .map(str::to_string)
                .with_context(|| format!("{} lacks annotation {k}", meta["name"]))
        };
        out.push(Case {
            name: meta["name"]
                .as_str()
                .context("case without name")?
                .to_string(),
            description: ann(CASE)?,
            reason: ann(EXPECT_REASON)?,
            message: ann(EXPECT_MESSAGE)?,
            object: v,
        });
    }
    Ok(out)
}

/// What the test creates for the cases to point at (names documented in reported.yaml).
pub async fn fixtures(client: &kube::Client, ns: &str) -> Result<Vec<String>> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let alice = Hotkey::dev("Alice")?;
    if alice.ss58() != ALICE {
        bail!("//Alice is {}, not {ALICE}", alice.ss58());
    }
    let proxy = Hotkey::generate()?;
    let other = Hotkey::generate()?;
    let mk = |name: &str, labels: serde_json::Value, data: serde_json::Value| -> Result<Secret> {
        Ok(serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": labels}, "stringData": data,
        }))?)
    };
    let none = serde_json::json!({});
    for s in [
        mk(
            "cold",
            none.clone(),
            serde_json::json!({"coldkey": alice.keyfile_json().as_str()}),
        )?,
        mk("cold-pw", none.clone(), serde_json::json!({"password": ""}))?,
        mk(
            "cold-backup",
            none.clone(),
            serde_json::json!({"keyfile": alice.keyfile_json().as_str()}),
        )?,
        mk(
            "reg-proxy",
            none.clone(),
            serde_json::json!({"mnemonic": proxy.mnemonic().unwrap_or_default()}),
        )?,
        mk(
            "other-fleet-hotkey-0",
            serde_json::json!({
                "app.kubernetes.io/managed-by": "subnet-operator",
                "app.kubernetes.io/instance": "other-fleet",
                "app.kubernetes.io/component": "hotkey",
                "subnet-operator.io/owner-kind": "Miner",
                "subnet-operator.io/replica-index": "0",
            }),
            serde_json::json!({"hotkey": other.keyfile_json().as_str(), "hotkeypub.txt": other.pub_json()}),
        )?,
        // For controller.yaml.
        mk(
            "mismatched-coldkeypub",
            none.clone(),
            serde_json::json!({"coldkeypub.txt": serde_json::json!({
                "ss58Address": ALICE,
                "publicKey": format!(
                    "0x{}",
                    Hotkey::dev("Bob")?
                        .public()
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                ),
            }).to_string()}),
        )?,
        mk(
            "fleet-coldkeypub",
            none.clone(),
            serde_json::json!({"coldkeypub.txt": alice.pub_json()}),
        )?,
        mk(
            "not-a-key",
            none.clone(),
            serde_json::json!({"keyfile": "hello"}),
        )?,
    ] {
        secrets.create(&PostParams::default(), &s).await?;
    }
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    sas.create(
        &PostParams::default(),
        &serde_json::from_value(serde_json::json!({
            "metadata": {"name": "token-sa"}, "automountServiceAccountToken": true,
        }))?,
    )
    .await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(serde_json::json!({
            "metadata": {"name": "miner-conf"}, "data": {"mode": "test", "level": "info"},
        }))?,
    )
    .await?;
    // The public addresses of every private key the test planted: no operator hotkey Secret
    // may end up holding one of them.
    Ok(vec![alice.ss58(), proxy.ss58(), other.ss58()])
}
