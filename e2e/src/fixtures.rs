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
