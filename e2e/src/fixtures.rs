//! Fixtures the cluster tests share: the test's Subnet, Secrets, the coldkey as a registration
//! signer, Miner and Validator builders on that Subnet, and waits for conditions and events.

use std::time::Duration;

use anyhow::{Context as _, Result};
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use subnet_operator::crd::{Miner, Validator};
use subnet_operator::keys::Hotkey;

/// Creates Subnet `sn` in `ns` with `spec`, a YAML flow mapping such as
/// `{network: finney, netuid: 7}`.
pub async fn subnet(client: &Client, ns: &str, spec: &str) -> Result<()> {
    let subnets: Api<subnet_operator::crd::Subnet> = Api::namespaced(client.clone(), ns);
    subnets
        .create(
            &PostParams::default(),
            &serde_yaml::from_str(&format!(
                "{{apiVersion: subnet-operator.io/v1alpha1, kind: Subnet, metadata: {{name: sn}}, spec: {spec}}}"
            ))?,
        )
        .await?;
    Ok(())
}

/// Creates Secret `name` in `ns` holding `key: value`.
pub async fn secret(client: &Client, ns: &str, name: &str, key: &str, value: &str) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": name}, "stringData": {key: value},
            }))?,
        )
        .await?;
    Ok(())
}

/// `coldkey` as the registration signer: its keyfile (unencrypted, for tests) in Secret `cold`
/// and an empty password in `cold-pw`. Returns the Miner's `wallet.registrationSigner` line.
pub async fn coldkey_signer(client: &Client, ns: &str, coldkey: &Hotkey) -> Result<String> {
    secret(client, ns, "cold", "coldkey", &coldkey.keyfile_json()).await?;
    secret(client, ns, "cold-pw", "password", "").await?;
    Ok("    registrationSigner: {coldkey: {secretRef: {name: cold}, passwordSecretRef: {name: cold-pw}}}".into())
}

/// A Miner or Validator `name` on Subnet `sn`: `replicas` paid by `coldkey`, the given signer
/// line (from [`coldkey_signer`], or a proxy's, or empty), `registration` (a YAML flow mapping)
/// and `extra` spec lines (each indented two spaces, such as `  weights: {maxStaleTempos: 1}`).
pub struct FleetYaml<'a> {
    /// Object name.
    pub name: &'a str,
    /// The coldkey that pays.
    pub coldkey: &'a Hotkey,
    /// Replicas.
    pub replicas: u32,
    /// The `registrationSigner` line, or empty.
    pub signer: &'a str,
    /// `spec.registration`, a YAML flow mapping.
    pub registration: &'a str,
    /// More spec lines.
    pub extra: &'a str,
}

impl FleetYaml<'_> {
    /// The object of kind `K` (its template's image is the kind's name in lower case).
    pub fn object<K: subnet_operator::crd::FleetKind>(&self) -> Result<K> {
        let kind = K::kind(&());
        let yaml = format!(
            "apiVersion: subnet-operator.io/v1alpha1\nkind: {kind}\nmetadata: {{name: {}}}\nspec:\n  subnetRef: {{name: sn}}\n  replicas: {}\n  wallet:\n    coldkeyPub: {{ss58: {}}}\n{}\n  registration: {}\n  template: {{image: \"{}:1\"}}\n{}",
            self.name,
            self.replicas,
            self.coldkey.ss58(),
            self.signer,
            self.registration,
            kind.to_lowercase(),
            self.extra,
        );
        serde_yaml::from_str(&yaml).with_context(|| format!("{kind} {}:\n{yaml}", self.name))
    }

    /// Creates the object of kind `K` in `ns`; returns the kind's API there.
    pub async fn create<K: subnet_operator::crd::FleetKind>(
        &self,
        client: &Client,
        ns: &str,
    ) -> Result<Api<K>> {
        let api: Api<K> = Api::namespaced(client.clone(), ns);
        api.create(&PostParams::default(), &self.object::<K>()?)
            .await
            .with_context(|| format!("creating {} {}", K::kind(&()), self.name))?;
        Ok(api)
    }
}

/// Miner `name` on Subnet `sn` (not created): `replicas`, `wallet` (a YAML flow mapping, such
/// as `{coldkeyPub: {ss58: …}}`), image `miner:1`, and `extra` spec lines (indented two spaces).
pub fn miner_object(name: &str, replicas: u32, wallet: &str, extra: &str) -> Result<Miner> {
    let yaml = format!(
        "apiVersion: subnet-operator.io/v1alpha1\nkind: Miner\nmetadata: {{name: {name}}}\nspec:\n  subnetRef: {{name: sn}}\n  replicas: {replicas}\n  wallet: {wallet}\n  template: {{image: \"miner:1\"}}\n{extra}\n"
    );
    serde_yaml::from_str(&yaml).with_context(|| format!("Miner {name}:\n{yaml}"))
}

/// Creates Miner `m` on Subnet `sn` with `replicas` paid by `coldkey`, the given signer line
/// (from [`coldkey_signer`], or a proxy's) and `registration` (a YAML flow mapping).
pub async fn miner(
    client: &Client,
    ns: &str,
    coldkey: &Hotkey,
    replicas: u32,
    signer: &str,
    registration: &str,
) -> Result<Api<Miner>> {
    FleetYaml {
        name: "m",
        coldkey,
        replicas,
        signer,
        registration,
        extra: "",
    }
    .create::<Miner>(client, ns)
    .await
}

/// Creates Validator `name` on Subnet `sn`, one replica paid by `coldkey`, with the signer line,
/// `registration` and `weights` (YAML flow mappings).
pub async fn validator(
    client: &Client,
    ns: &str,
    name: &str,
    coldkey: &Hotkey,
    signer: &str,
    registration: &str,
    weights: &str,
) -> Result<Api<Validator>> {
    FleetYaml {
        name,
        coldkey,
        replicas: 1,
        signer,
        registration,
        extra: &format!("  weights: {weights}\n"),
    }
    .create::<Validator>(client, ns)
    .await
}

/// Waits up to `within` for an event in `ns` with `reason`, about the object named `about` when
/// given; returns it (its message says what happened).
pub async fn wait_for_event(
    client: &Client,
    ns: &str,
    reason: &str,
    about: Option<&str>,
    within: Duration,
) -> Result<Event> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let params = match about {
        Some(name) => ListParams::default().fields(&format!("involvedObject.name={name}")),
        None => ListParams::default(),
    };
    let found = || async {
        anyhow::Ok(
            events
                .list(&params)
                .await?
                .items
                .into_iter()
                .find(|e| e.reason.as_deref() == Some(reason)),
        )
    };
    crate::wait_until(within, || async { Ok(found().await?.is_some()) })
        .await
        .with_context(|| match about {
            Some(name) => format!("no {reason} event about {name} in {ns}"),
            None => format!("no {reason} event in {ns}"),
        })?;
    found()
        .await?
        .with_context(|| format!("the {reason} event in {ns} went away"))
}

/// The status of the Miner or Validator `name` (empty while it has none).
pub async fn fleet_status<K: subnet_operator::crd::FleetKind>(
    api: &Api<K>,
    name: &str,
) -> Result<subnet_operator::crd::FleetStatus> {
    Ok(api
        .get(name)
        .await?
        .fleet_status()
        .cloned()
        .unwrap_or_default())
}

/// The condition of `type_` among `conditions`, if set.
pub fn find_condition<'a>(
    conditions: &'a [k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// A fleet's condition of `type_` as `(status, reason, message)`, if set.
pub async fn condition<K: subnet_operator::crd::FleetKind>(
    api: &Api<K>,
    name: &str,
    type_: &str,
) -> Result<Option<(String, String, String)>> {
    let status = fleet_status(api, name).await?;
    Ok(find_condition(&status.conditions, type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone())))
}

/// A fleet's condition of `type_` as `(status, reason)`, if set.
pub async fn status_reason<K: subnet_operator::crd::FleetKind>(
    api: &Api<K>,
    name: &str,
    type_: &str,
) -> Result<Option<(String, String)>> {
    Ok(condition(api, name, type_).await?.map(|(s, r, _)| (s, r)))
}

/// A fleet's `Ready` condition as `(reason, message)`, if set.
pub async fn ready_reason<K: subnet_operator::crd::FleetKind>(
    api: &Api<K>,
    name: &str,
) -> Result<Option<(String, String)>> {
    Ok(condition(api, name, "Ready").await?.map(|(_, r, m)| (r, m)))
}

/// The cluster half of a registration test's world: its namespace, a coldkey, and Subnet `sn`
/// with the given spec. The chain half (simulated or real) is the test's.
pub struct FleetNamespace {
    _ns: crate::TempNamespace,
    /// The namespace's name.
    pub ns: String,
    /// A client of the test cluster.
    pub client: Client,
    /// The coldkey that pays.
    pub coldkey: Hotkey,
}

impl FleetNamespace {
    /// A fresh namespace named after `prefix` (the CRDs installed) with Subnet `sn` of `subnet`,
    /// a YAML flow mapping such as `{network: finney, netuid: 7}`.
    pub async fn new(client: &Client, prefix: &str, coldkey: Hotkey, subnet: &str) -> Result<Self> {
        crate::install_crds(client).await?;
        let ns = crate::TempNamespace::new(client, prefix).await?;
        self::subnet(client, &ns.name, subnet).await?;
        Ok(Self {
            ns: ns.name.clone(),
            _ns: ns,
            client: client.clone(),
            coldkey,
        })
    }

    /// The operator as a process watching this namespace, with `env` (the chain it talks to).
    pub fn operator(&self, identity: &str, env: &[(&str, &str)]) -> Result<crate::OperatorProcess> {
        crate::OperatorProcess::start(&self.ns, identity, env)
    }

    /// Creates Secret `name` holding `key: value`.
    pub async fn secret(&self, name: &str, key: &str, value: &str) -> Result<()> {
        secret(&self.client, &self.ns, name, key, value).await
    }

    /// The coldkey as the registration signer (an unencrypted keyfile, for the test).
    pub async fn coldkey_signer(&self) -> Result<String> {
        coldkey_signer(&self.client, &self.ns, &self.coldkey).await
    }

    /// Miner `m` of `replicas`, paid by the coldkey and signed by `proxy`, its Registration
    /// proxy (whose mnemonic goes into Secret `reg-proxy`).
    pub async fn proxy_miner(
        &self,
        proxy: &Hotkey,
        replicas: u32,
        registration: &str,
    ) -> Result<Api<Miner>> {
        self.secret(
            "reg-proxy",
            "mnemonic",
            proxy.mnemonic().unwrap_or_default(),
        )
        .await?;
        self.miner(
            replicas,
            "    registrationSigner: {proxy: {secretRef: {name: reg-proxy}}}",
            registration,
        )
        .await
    }

    /// Miner `m` of `replicas`, paid by the coldkey (see [`miner`]).
    pub async fn miner(
        &self,
        replicas: u32,
        signer: &str,
        registration: &str,
    ) -> Result<Api<Miner>> {
        miner(
            &self.client,
            &self.ns,
            &self.coldkey,
            replicas,
            signer,
            registration,
        )
        .await
    }
}
