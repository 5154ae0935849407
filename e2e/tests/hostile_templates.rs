//! No way from a Miner's template to a key: hostile Miners (each one way to a Secret, the node or
//! root, from `bad_input/reported.yaml`) are refused with a condition naming the field and get
//! no StatefulSet, Pod or hotkey Secret; benign ones with harmless extras run. Then every pod the
//! operator made is scanned for the Secrets it can reach: only its own hotkey and the coldkey's
//! public file, and never a ServiceAccount token.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use e2e::{OperatorProcess, TempNamespace, client, install_crds, kubectl, wait_until};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use subnet_operator::crd::Miner;

use e2e::bad_input::{ALICE, cases, fixtures};

fn benign(name: &str, wallet_extra: &str, template_extra: &str) -> Result<serde_json::Value> {
    Ok(serde_yaml::from_str(&format!(
        r#"
apiVersion: subnet-operator.io/v1alpha1
kind: Miner
metadata: {{name: {name}}}
spec:
  subnetRef: {{name: sn}}
  replicas: 1
  wallet:
    coldkeyPub: {{ss58: {ALICE}}}
{wallet_extra}
  registration: {{mode: Manual}}
  axon: {{exposure: None}}
  template:
    image: "miner:1"
{template_extra}
"#
    ))?)
}

/// The benign Miners: harmless volumes and env, a chosen UID, a ServiceAccount that would
/// automount its token, a proxy signer. All must run.
fn benign_miners() -> Result<Vec<serde_json::Value>> {
    Ok(vec![
        benign(
            "benign-config",
            "",
            r#"    volumes:
      - {name: conf, configMap: {name: miner-conf}}
      - {name: scratch, emptyDir: {}}
      - {name: podinfo, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}
    volumeMounts:
      - {name: conf, mountPath: /etc/miner, readOnly: true}
      - {name: scratch, mountPath: /scratch}
      - {name: podinfo, mountPath: /etc/podinfo}
    env:
      - {name: MODE, valueFrom: {configMapKeyRef: {name: miner-conf, key: mode}}}
      - {name: BT_LOGGING_DEBUG, value: "1"}
    envFrom: [{configMapRef: {name: miner-conf}, prefix: CONF_}]"#,
        )?,
        benign(
            "benign-uid",
            "    registrationSigner:\n      proxy: {secretRef: {name: reg-proxy}, format: Mnemonic}",
            "    securityContext: {runAsUser: 1234, readOnlyRootFilesystem: false}\n    podSecurityContext: {fsGroup: 2000}",
        )?,
        benign("benign-sa", "", "    serviceAccountName: token-sa")?,
    ])
}

fn ready(m: &Miner) -> Option<(String, String, String)> {
    m.status.as_ref().and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    })
}

/// Every Secret `pod` can read: secret and projected volumes, env and envFrom, in all its
/// containers. Fails on anything that would give it a ServiceAccount token.
fn reachable_secrets(pod: &Pod) -> Result<BTreeSet<String>> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    if spec.automount_service_account_token != Some(false) {
        bail!(
            "pod {name}: automountServiceAccountToken is {:?}",
            spec.automount_service_account_token
        );
    }
    let mut out = BTreeSet::new();
    for v in spec.volumes.iter().flatten() {
        if v.name.starts_with("kube-api-access") {
            bail!("pod {name}: has the ServiceAccount token volume {}", v.name);
        }
        if v.host_path.is_some() || v.csi.is_some() {
            bail!("pod {name}: volume {} reaches the node or a driver", v.name);
        }
        if let Some(s) = &v.secret {
            out.insert(s.secret_name.clone().unwrap_or_default());
        }
        for p in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if p.service_account_token.is_some() {
                bail!(
                    "pod {name}: volume {} projects a ServiceAccount token",
                    v.name
                );
            }
            if let Some(s) = &p.secret {
                out.insert(s.name.clone());
            }
        }
    }
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for c in containers {
        for e in c.env.iter().flatten() {
            if let Some(r) = e
                .value_from
                .as_ref()
                .and_then(|f| f.secret_key_ref.as_ref())
            {
                out.insert(r.name.clone());
            }
        }
        for e in c.env_from.iter().flatten() {
            if let Some(r) = &e.secret_ref {
                out.insert(r.name.clone());
            }
        }
        let sc = c.security_context.clone().unwrap_or_default();
        if sc.privileged == Some(true)
            || sc.allow_privilege_escalation != Some(false)
            || sc.run_as_non_root != Some(true)
            || sc.run_as_user == Some(0)
            || sc
                .capabilities
                .as_ref()
                .and_then(|c| c.add.as_ref())
                .is_some()
        {
            bail!("pod {name}: container {} is not hardened: {sc:?}", c.name);
        }
    }
    Ok(out)
}

#[tokio::test]
async fn no_way_from_a_template_to_a_key() -> Result<()> {
    let Some(client) = client().await else {
        return Ok(());
    };
    install_crds(&client).await?;
    let ns = TempNamespace::new(&client, "hostile").await?;
    let planted = fixtures(&client, &ns.name).await?;
    e2e::fixtures::subnet(&client, &ns.name, "{network: finney, netuid: 7}").await?;

    // Everything exists before the operator starts, so that the imports' checks see every
    // fleet that signs with a Secret.
    let ar = ApiResource::erase::<Miner>(&());
    let dynamic: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name, &ar);
    let cases = cases("reported.yaml")?;
    assert!(cases.len() >= 15, "only {} cases", cases.len());
    let mut admitted = vec![];
    for c in &cases {
        let obj: DynamicObject = serde_json::from_value(c.object.clone())?;
        match dynamic.create(&PostParams::default(), &obj).await {
            Ok(_) => admitted.push(c),
            Err(kube::Error::Api(s)) if s.code == 422 => {
                eprintln!("{}: refused at admission: {}", c.name, s.message);
            }
            Err(e) => return Err(e).with_context(|| format!("creating {}", c.name)),
        }
    }
    let benign = benign_miners()?;
    let benign_names: Vec<String> = benign
        .iter()
        .filter_map(|b| b["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    for b in &benign {
        dynamic
            .create(&PostParams::default(), &serde_json::from_value(b.clone())?)
            .await
            .context("creating a benign Miner")?;
    }
    let mut op = OperatorProcess::start(&ns.name, "op-hostile", &[])?;
    let miners: Api<Miner> = Api::namespaced(client.clone(), &ns.name);

    // Each admitted hostile case: Ready=False with its reason and the field in the message.
    for c in &admitted {
        let got = wait_until(Duration::from_secs(120), || async {
            let m = miners.get(&c.name).await?;
            Ok(ready(&m).is_some_and(|(s, r, _)| s == "False" && r == c.reason))
        })
        .await;
        let m = miners.get(&c.name).await?;
        if let Err(e) = got {
            bail!(
                "{} ({}): wanted Ready=False reason {}, have {:?}: {e}\n{}",
                c.name,
                c.description,
                c.reason,
                ready(&m),
                op.diagnose(40)
            );
        }
        let (_, _, message) = ready(&m).unwrap_or_default();
        assert!(
            message.contains(&c.message),
            "{}: message {message:?} lacks {:?}",
            c.name,
            c.message
        );
    }

    // The benign ones run.
    for name in &benign_names {
        let running = wait_until(Duration::from_secs(120), || async {
            let m = miners.get(name).await?;
            let s = m.status.clone().unwrap_or_default();
            Ok(s.ready_replicas == 1 && ready(&m).is_some_and(|(s, _, _)| s == "True"))
        })
        .await;
        if let Err(e) = running {
            let m = miners.get(name).await?;
            bail!(
                "benign Miner {name} should run, has {:?}: {e}\n{}",
                ready(&m),
                op.diagnose(40)
            );
        }
    }

    // `kubectl describe` shows the field.
    if let Some(c) = admitted.iter().find(|c| c.name == "secret-volume") {
        let out = kubectl(&["-n", &ns.name, "describe", "miner", &c.name])?;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("TemplatePolicy") && text.contains("template.volumes[0]"),
            "kubectl describe miner {}:\n{text}",
            c.name
        );
    }

    // Nothing was created for a hostile case: no StatefulSet, no Pod, no hotkey Secret. (Give a
    // reconcile that would have created something time to do so first.)
    tokio::time::sleep(Duration::from_secs(3)).await;
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    for c in &cases {
        let sel = ListParams::default().labels(&format!("app.kubernetes.io/instance={}", c.name));
        let sts = statefulsets.list(&sel).await?.items;
        let ps = pods.list(&sel).await?.items;
        let hk = secrets
            .list(&ListParams::default().labels(&format!(
                "app.kubernetes.io/instance={},app.kubernetes.io/component=hotkey",
                c.name
            )))
            .await?
            .items;
        assert!(
            sts.is_empty() && ps.is_empty() && hk.is_empty(),
            "{} ({}): created {} StatefulSets, {} Pods, {} hotkey Secrets",
            c.name,
            c.description,
            sts.len(),
            ps.len(),
            hk.len()
        );
    }

    // No hotkey Secret the operator made holds a planted private key.
    let all_secrets = secrets.list(&ListParams::default()).await?.items;
    let by_name: BTreeMap<String, &Secret> = all_secrets
        .iter()
        .map(|s| (s.metadata.name.clone().unwrap_or_default(), s))
        .collect();
    for s in &all_secrets {
        let labels = s.metadata.labels.clone().unwrap_or_default();
        let name = s.metadata.name.clone().unwrap_or_default();
        if labels
            .get("app.kubernetes.io/component")
            .map(String::as_str)
            == Some("hotkey")
            && name != "other-fleet-hotkey-0"
        {
            let ss58 = subnet_operator::keys::secrets::ss58_of(s).unwrap_or_default();
            assert!(
                !planted.contains(&ss58),
                "hotkey Secret {name} holds a planted key ({ss58})"
            );
        }
    }

    // Every pod the operator made reaches its own hotkey and its fleet's coldkeypub, nothing
    // else.
    let operator_pods = pods
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=subnet-operator"))
        .await?
        .items;
    let instances: BTreeSet<String> = operator_pods
        .iter()
        .filter_map(|p| {
            p.metadata
                .labels
                .as_ref()?
                .get("app.kubernetes.io/instance")
                .cloned()
        })
        .collect();
    assert_eq!(
        instances,
        benign_names.iter().cloned().collect::<BTreeSet<_>>(),
        "pods exist for exactly the benign Miners"
    );
    for p in &operator_pods {
        let pod_name = p.metadata.name.clone().unwrap_or_default();
        let labels = p.metadata.labels.clone().unwrap_or_default();
        let instance = labels
            .get("app.kubernetes.io/instance")
            .cloned()
            .unwrap_or_default();
        let index = labels
            .get("subnet-operator.io/replica-index")
            .cloned()
            .unwrap_or_default();
        let reachable = reachable_secrets(p)?;
        let mut own_hotkey = false;
        for name in &reachable {
            let Some(s) = by_name.get(name) else {
                bail!("pod {pod_name} references Secret {name}, which does not exist");
            };
            let l = s.metadata.labels.clone().unwrap_or_default();
            let is = |k: &str, v: &str| l.get(k).map(String::as_str) == Some(v);
            let keys: BTreeSet<&str> = s.data.iter().flatten().map(|(k, _)| k.as_str()).collect();
            if is("app.kubernetes.io/component", "hotkey")
                && is("app.kubernetes.io/managed-by", "subnet-operator")
                && is("app.kubernetes.io/instance", &instance)
                && is("subnet-operator.io/replica-index", &index)
            {
                own_hotkey = true;
            } else if *name == format!("{instance}-coldkeypub")
                && is("app.kubernetes.io/component", "coldkeypub")
                && keys == BTreeSet::from(["coldkeypub.txt"])
            {
                // The coldkey's public file only.
            } else {
                bail!(
                    "pod {pod_name} ({instance} replica {index}) can reach Secret {name} (keys {keys:?}), which is not its own"
                );
            }
        }
        assert!(own_hotkey, "pod {pod_name} does not mount its own hotkey");
        eprintln!("pod {pod_name}: reaches only {reachable:?}");
    }
    eprintln!(
        "{} hostile cases ({} admitted, {} refused at admission), {} benign Miners running",
        cases.len(),
        admitted.len(),
        cases.len() - admitted.len(),
        benign_names.len()
    );
    op.kill();
    Ok(())
}
