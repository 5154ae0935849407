//! Pure validation of specs beyond what admission can check, and of what the references hold.
//!
//! Admission (schema + CEL, see `crds/`) rejects most bad input; these checks cover what only
//! the operator can see (referenced objects) and guard against objects stored before a rule
//! existed.

use std::collections::BTreeSet;

use crate::crd::common::{parse_duration_secs, tao_to_rao};
use crate::crd::fleet::{FleetSpec, KeyFormat, RegistrationMode};
use crate::crd::subnet::SubnetSpec;

pub use super::problem::Problem;

/// A Secret key a fleet needs, and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretNeed {
    /// Secret name.
    pub name: String,
    /// Key within the Secret.
    pub key: String,
    /// What it is for, for messages (never the content).
    pub purpose: String,
}

/// Every Secret key `spec` references, in a stable order.
pub fn secret_needs(spec: &FleetSpec) -> Vec<SecretNeed> {
    let mut needs = BTreeSet::new();
    let w = &spec.wallet;
    if let Some(r) = &w.coldkey_pub.secret_ref {
        needs.insert(SecretNeed {
            name: r.name.clone(),
            key: r.key_or("coldkeypub.txt").to_string(),
            purpose: "wallet.coldkeyPub".into(),
        });
    }
    if let Some(s) = &w.registration_signer {
        if let Some(p) = &s.proxy {
            needs.insert(SecretNeed {
                name: p.secret_ref.name.clone(),
                key: p.secret_ref.key_or(default_key(p.format)).to_string(),
                purpose: "wallet.registrationSigner.proxy".into(),
            });
        }
        if let Some(c) = &s.coldkey {
            needs.insert(SecretNeed {
                name: c.secret_ref.name.clone(),
                key: c.secret_ref.key_or("coldkey").to_string(),
                purpose: "wallet.registrationSigner.coldkey".into(),
            });
            needs.insert(SecretNeed {
                name: c.password_secret_ref.name.clone(),
                key: c.password_secret_ref.key_or("password").to_string(),
                purpose: "wallet.registrationSigner.coldkey password".into(),
            });
        }
    }
    for i in &w.hotkeys.imports {
        needs.insert(SecretNeed {
            name: i.secret_ref.name.clone(),
            key: i.secret_ref.key_or(default_key(i.format)).to_string(),
            purpose: format!("wallet.hotkeys.imports[index={}]", i.index),
        });
    }
    needs.into_iter().collect()
}

/// Default Secret key for a key format.
pub fn default_key(format: KeyFormat) -> &'static str {
    match format {
        KeyFormat::Mnemonic => "mnemonic",
        KeyFormat::Keyfile => "keyfile",
    }
}

/// The parsed numbers of a valid fleet spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetNumbers {
    /// Price limit per registration, in rao (`None` in Manual mode without a limit).
    pub max_price_rao: Option<u64>,
    /// Budget per window: (rao, window seconds).
    pub budget: Option<(u64, u64)>,
}

/// Checks a fleet spec, including the template policy ([`super::policy::check`]); returns the
/// parsed numbers or the first problem.
pub fn fleet(spec: &FleetSpec) -> Result<FleetNumbers, Problem> {
    let invalid = |m: String| Err(Problem::InvalidSpec(m));
    if spec.replicas < 0 {
        return invalid(format!("replicas must be >= 0, got {}", spec.replicas));
    }
    let max_price_rao = match &spec.registration.max_price_tao {
        Some(s) => match tao_to_rao(s) {
            Some(r) => Some(r),
            None => {
                return invalid(format!(
                    "registration.maxPriceTao {s:?} is not a TAO amount"
                ));
            }
        },
        None => None,
    };
    let burn = spec.registration.mode == RegistrationMode::Burn;
    if burn && max_price_rao.is_none() {
        return invalid("registration.mode Burn needs registration.maxPriceTao".into());
    }
    if burn && !spec.registration.dry_run && spec.wallet.registration_signer.is_none() {
        return invalid("registration.mode Burn needs wallet.registrationSigner".into());
    }
    let budget = match &spec.registration.budget {
        Some(b) => {
            let Some(rao) = tao_to_rao(&b.tao) else {
                return invalid(format!(
                    "registration.budget.tao {:?} is not a TAO amount",
                    b.tao
                ));
            };
            let Some(window) = parse_duration_secs(&b.window).filter(|w| *w > 0) else {
                return invalid(format!(
                    "registration.budget.window {:?} is not a duration",
                    b.window
                ));
            };
            Some((rao, window))
        }
        None => None,
    };
    let mut seen = BTreeSet::new();
    for i in &spec.wallet.hotkeys.imports {
        if !seen.insert(i.index) {
            return invalid(format!(
                "wallet.hotkeys.imports has two entries for index {}",
                i.index
            ));
        }
    }
    if let Some(g) = &spec.gpu
        && !g.resource_name.contains('/')
    {
        return invalid(format!(
            "gpu.resourceName {:?} is not an extended resource name",
            g.resource_name
        ));
    }
    super::policy::check(spec)?;
    Ok(FleetNumbers {
        max_price_rao,
        budget,
    })
}

/// Checks a Subnet spec.
pub fn subnet(spec: &SubnetSpec) -> Result<(), Problem> {
    let url_ok = |u: &str| {
        (u.starts_with("ws://") || u.starts_with("wss://"))
            && u.split("://").nth(1).is_some_and(|h| !h.is_empty())
    };
    if !matches!(spec.network.as_str(), "finney" | "test" | "local") && !url_ok(&spec.network) {
        return Err(Problem::InvalidSpec(format!(
            "network {:?} must be finney, test, local or a ws:// / wss:// URL",
            spec.network
        )));
    }
    if let Some(bad) = spec.endpoints.iter().find(|e| !url_ok(e)) {
        return Err(Problem::InvalidSpec(format!(
            "endpoint {bad:?} is not a ws:// or wss:// URL"
        )));
    }
    if spec.netuid.is_none() && spec.localnet.is_none() {
        return Err(Problem::InvalidSpec(
            "a Subnet needs spec.netuid, or spec.localnet to create one".into(),
        ));
    }
    if spec.netuid == Some(0) {
        return Err(Problem::InvalidSpec(
            "netuid 0 is the root network and cannot host miners".into(),
        ));
    }
    Ok(())
}

/// Reads the ss58 address from a bittensor `coldkeypub.txt` (JSON with `ss58Address`).
pub fn coldkeypub_ss58(contents: &[u8]) -> Result<String, String> {
    let v: serde_json::Value =
        serde_json::from_slice(contents).map_err(|e| format!("not JSON: {e}"))?;
    let ss58 = v
        .get("ss58Address")
        .and_then(|s| s.as_str())
        .ok_or_else(|| "no ss58Address field".to_string())?;
    if !is_ss58(ss58) {
        return Err(format!("{ss58:?} is not an SS58 address"));
    }
    // A private keyfile is not a public one: it would be mounted into every pod of the fleet.
    // The message names what was found in words, never by its JSON field name: the secret scan
    // of logs and events (e2e/tests/log_scan.rs) treats those names as a leaked keyfile.
    if let Some((_, what)) = [
        ("secretPhrase", "a secret phrase"),
        ("secretSeed", "a secret seed"),
        ("privateKey", "a private key"),
    ]
    .into_iter()
    .find(|(f, _)| v.get(f).is_some_and(|x| !x.is_null()))
    {
        return Err(format!(
            "it holds {what}: this is a private keyfile, not the coldkey's public file"
        ));
    }
    let key = crate::keys::ss58_decode(ss58)
        .map_err(|_| format!("{ss58:?} is not a valid SS58 address (checksum)"))?;
    if let Some(public) = v.get("publicKey").and_then(|p| p.as_str()) {
        let hex = public.strip_prefix("0x").unwrap_or(public);
        let ours: String = key.iter().map(|b| format!("{b:02x}")).collect();
        if !hex.eq_ignore_ascii_case(&ours) {
            return Err(format!(
                "its publicKey does not belong to its ss58Address {ss58}"
            ));
        }
    }
    Ok(ss58.to_string())
}

/// Shape check of an SS58 address with prefix 42 (48 base58 characters starting with `5`).
pub fn is_ss58(s: &str) -> bool {
    s.len() == 48
        && s.starts_with('5')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() && !matches!(b, b'0' | b'O' | b'I' | b'l'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::Miner;

    fn miner(yaml: &str) -> Miner {
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("fixture: {e}"))
    }

    const BASE: &str = r#"
apiVersion: subnet-operator.io/v1alpha1
kind: Miner
metadata: {name: m, namespace: ns}
spec:
  subnetRef: {name: sn}
  replicas: 2
  wallet:
    coldkeyPub: {secretRef: {name: cold}}
    registrationSigner:
      proxy: {secretRef: {name: proxy}}
    hotkeys:
      imports:
        - {index: 0, secretRef: {name: hk0}, format: Keyfile}
  registration: {mode: Burn, maxPriceTao: "0.5", budget: {tao: "3", window: 24h}}
  template: {image: miner:1}
"#;

    #[test]
    fn a_valid_fleet_parses_its_numbers() {
        let m = miner(BASE);
        let n = fleet(&m.spec.fleet).unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(n.max_price_rao, Some(500_000_000));
        assert_eq!(n.budget, Some((3_000_000_000, 86_400)));
    }

    #[test]
    fn secret_needs_name_every_reference_with_default_keys() {
        let m = miner(BASE);
        let needs = secret_needs(&m.spec.fleet);
        let pairs: Vec<_> = needs
            .iter()
            .map(|n| (n.name.as_str(), n.key.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("cold", "coldkeypub.txt"),
                ("hk0", "keyfile"),
                ("proxy", "mnemonic")
            ]
        );
    }

    #[test]
    fn burn_without_price_or_signer_is_invalid() {
        let mut m = miner(BASE);
        m.spec.fleet.registration.max_price_tao = None;
        assert_eq!(
            fleet(&m.spec.fleet).map_err(|p| p.reason()),
            Err("InvalidSpec")
        );
        let mut m = miner(BASE);
        m.spec.fleet.wallet.registration_signer = None;
        assert!(
            matches!(fleet(&m.spec.fleet), Err(Problem::InvalidSpec(s)) if s.contains("registrationSigner"))
        );
        // A dry run needs no signer: it sends nothing.
        m.spec.fleet.registration.dry_run = true;
        assert!(fleet(&m.spec.fleet).is_ok());
    }

    #[test]
    fn bad_numbers_are_invalid() {
        let mut m = miner(BASE);
        m.spec.fleet.registration.max_price_tao = Some("1.0000000001".into());
        assert!(fleet(&m.spec.fleet).is_err());
        let mut m = miner(BASE);
        if let Some(b) = m.spec.fleet.registration.budget.as_mut() {
            b.window = "0h".into();
        }
        assert!(fleet(&m.spec.fleet).is_err());
        let mut m = miner(BASE);
        let dup = m.spec.fleet.wallet.hotkeys.imports[0].clone();
        m.spec.fleet.wallet.hotkeys.imports.push(dup);
        assert!(
            matches!(fleet(&m.spec.fleet), Err(Problem::InvalidSpec(s)) if s.contains("index 0"))
        );
    }

    #[test]
    fn the_template_policy_is_part_of_validation() {
        let m = miner(&BASE.replace(
            "  template: {image: miner:1}",
            "  template: {image: miner:1, volumes: [{name: keys, secret: {secretName: proxy}}]}",
        ));
        let p = fleet(&m.spec.fleet).err();
        assert_eq!(p.as_ref().map(Problem::reason), Some("TemplatePolicy"));
        assert!(
            p.map(|p| p.to_string())
                .is_some_and(|m| m.starts_with(r#"template.volumes[0] (name "keys"): secret"#))
        );
        let m = miner(&BASE.replace("name: hk0", "name: proxy"));
        assert_eq!(
            fleet(&m.spec.fleet).map_err(|p| p.reason()),
            Err("InvalidHotkeyImport")
        );
    }

    #[test]
    fn coldkeypub_files_are_read() {
        let good = br#"{"accountId":"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d","publicKey":"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d","ss58Address":"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY","cryptoType":1}"#;
        assert_eq!(
            coldkeypub_ss58(good).as_deref(),
            Ok("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY")
        );
        assert!(coldkeypub_ss58(b"not json").is_err());
        assert!(coldkeypub_ss58(br#"{"ss58Address":"nope"}"#).is_err());
        assert!(coldkeypub_ss58(br#"{"publicKey":"0x00"}"#).is_err());
        // The tester's cases: a private keyfile, and an address whose key is another's.
        let private = br#"{"publicKey":"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d","secretPhrase":"bottom drive obey lake curtain smoke basket hold race lonely fit walk","ss58Address":"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}"#;
        let refused = coldkeypub_ss58(private).err().unwrap_or_default();
        assert!(refused.contains("private keyfile"), "{refused}");
        // It reaches an event: it names what it found in words, never by the keyfile's field name
        // (the secret scan of the run's events flags those).
        assert!(!refused.contains("secretPhrase"), "{refused}");
        let mismatch = br#"{"publicKey":"0x8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48","ss58Address":"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}"#;
        assert!(coldkeypub_ss58(mismatch).is_err_and(|e| e.contains("does not belong")));
        // A bad checksum with the right shape.
        assert!(
            coldkeypub_ss58(
                br#"{"ss58Address":"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn subnet_specs_are_checked() {
        let s: crate::crd::Subnet = serde_yaml::from_str(
            "{apiVersion: subnet-operator.io/v1alpha1, kind: Subnet, metadata: {name: s}, spec: {network: finney, netuid: 3}}",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(subnet(&s.spec).is_ok());
        let mut bad = s.spec.clone();
        bad.network = "http://x".into();
        assert!(subnet(&bad).is_err());
        let mut bad = s.spec.clone();
        bad.netuid = None;
        assert!(subnet(&bad).is_err());
        let mut bad = s.spec.clone();
        bad.endpoints = vec!["wss://ok:443".into(), "tcp://no".into()];
        assert!(subnet(&bad).is_err());
    }
}
