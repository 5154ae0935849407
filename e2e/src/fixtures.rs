//! Fixtures the cluster tests share: the test's Subnet, Secrets, the coldkey as a registration
//! signer, and a Miner on that Subnet.

use anyhow::Result;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PostParams};
use subnet_operator::crd::Miner;
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
    let miners: Api<Miner> = Api::namespaced(client.clone(), ns);
    let yaml = format!(
        "apiVersion: subnet-operator.io/v1alpha1\nkind: Miner\nmetadata: {{name: m}}\nspec:\n  subnetRef: {{name: sn}}\n  replicas: {replicas}\n  wallet:\n    coldkeyPub: {{ss58: {}}}\n{signer}\n  registration: {registration}\n  template: {{image: \"miner:1\"}}\n",
        coldkey.ss58()
    );
    miners
        .create(&PostParams::default(), &serde_yaml::from_str(&yaml)?)
        .await?;
    Ok(miners)
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
