//! The keys step of a fleet reconcile: one hotkey Secret per replica (created once, never
//! overwritten, never deleted by the operator), the coldkey's public Secret, and the
//! registration signer.
//!
//! Reads first: one LIST of the fleet's hotkey Secrets per reconcile; a Secret is created only
//! for an index that has none. A Secret under the expected name that the operator did not create
//! is reported (condition and event) and left alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;

use super::fleet::FleetKind;
use super::validate::Problem;
use super::{Context, Error, FIELD_MANAGER, Result};
use crate::crd::fleet::{FleetSpec, KeyFormat};
use crate::keys::secrets::{self, Existing, Source};
use crate::keys::signer::{Signer, SignerKind};
use crate::keys::{Hotkey, KeyError, ss58_decode};

/// A replica's hotkey as the controller knows it (public parts only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HotkeyRef {
    /// SS58 address.
    pub ss58: String,
    /// Name of the Secret holding it.
    pub secret_name: String,
}

/// What the keys step found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeysObservation {
    /// Hotkeys of the wanted replica indices that have one.
    pub hotkeys: BTreeMap<u32, HotkeyRef>,
    /// The registration signer: kind and SS58 address.
    pub signer: Option<(SignerKind, String)>,
    /// Where the loaded signer is cached (see [`crate::keys::signer::SignerCache`]).
    pub signer_cache_key: Option<String>,
    /// The first problem, if any (the other replicas proceed).
    pub problem: Option<Problem>,
}

/// Ensures the hotkey Secrets of `indices`, the coldkeypub Secret, and loads the signer.
pub async fn ensure<K: FleetKind>(
    ctx: &Context,
    obj: &K,
    ns: &str,
    coldkey_ss58: &str,
    indices: &[u32],
) -> Result<KeysObservation> {
    let spec = obj.fleet();
    let name = obj.name_any();
    let kind = K::kind(&()).to_string();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let mut obs = KeysObservation::default();

    let Ok(coldkey_public) = ss58_decode(coldkey_ss58) else {
        obs.problem = Some(Problem::InvalidSpec(format!(
            "the coldkey address {coldkey_ss58} does not decode"
        )));
        return Ok(obs);
    };
    if let Some(p) = ensure_coldkeypub(ctx, obj, &api, ns, &coldkey_public).await? {
        obs.problem = Some(p);
        return Ok(obs);
    }

    let existing = api
        .list(&ListParams::default().labels(&secrets::hotkey_selector(&kind, &name)))
        .await
        .map_err(|source| Error::FetchSecret {
            name: format!("hotkeys of {name}"),
            source,
        })?;
    let mut have: BTreeMap<u32, HotkeyRef> = BTreeMap::new();
    for s in &existing.items {
        let index = s
            .labels()
            .get(secrets::REPLICA_INDEX_LABEL)
            .and_then(|i| i.parse::<u32>().ok());
        if let Some(index) = index
            && let Existing::Ours { ss58 } = secrets::classify(s, &kind, &name, index)
        {
            have.insert(
                index,
                HotkeyRef {
                    ss58,
                    secret_name: s.name_any(),
                },
            );
        }
    }

    for &index in indices {
        if let Some(h) = have.get(&index) {
            obs.hotkeys.insert(index, h.clone());
            continue;
        }
        match create_hotkey(ctx, obj, &api, ns, spec, index).await? {
            Ok(h) => {
                obs.hotkeys.insert(index, h);
            }
            Err(p) => {
                obs.problem.get_or_insert(p);
            }
        }
    }

    match load_signer(ctx, &api, ns, spec, coldkey_ss58).await? {
        Ok(s) => {
            obs.signer_cache_key = s.as_ref().map(|(_, _, k)| k.clone());
            obs.signer = s.map(|(kind, ss58, _)| (kind, ss58));
        }
        Err(p) => {
            obs.problem.get_or_insert(p);
        }
    }
    Ok(obs)
}

/// Creates replica `index`'s hotkey Secret (generated or imported). A Secret already under that
/// name is read and classified, never overwritten.
async fn create_hotkey<K: FleetKind>(
    ctx: &Context,
    obj: &K,
    api: &Api<Secret>,
    ns: &str,
    spec: &FleetSpec,
    index: u32,
) -> Result<std::result::Result<HotkeyRef, Problem>> {
    let name = obj.name_any();
    let kind = K::kind(&()).to_string();
    let secret_name = secrets::hotkey_secret_name(&name, index);

    // Someone else's Secret may already stand under the name (it lacks our labels, so the LIST
    // above did not see it).
    let current = api
        .get_opt(&secret_name)
        .await
        .map_err(|source| Error::FetchSecret {
            name: secret_name.clone(),
            source,
        })?;
    if let Some(s) = current {
        return Ok(match secrets::classify(&s, &kind, &name, index) {
            Existing::Ours { ss58 } => Ok(HotkeyRef { ss58, secret_name }),
            Existing::Foreign => Err(Problem::HotkeySecretConflict { name: secret_name }),
        });
    }

    let (key, source) = match spec
        .wallet
        .hotkeys
        .imports
        .iter()
        .find(|i| i.index == index)
    {
        Some(import) => {
            let key_name = import
                .secret_ref
                .key_or(super::validate::default_key(import.format))
                .to_string();
            let value = read_key(api, &import.secret_ref.name, &key_name).await?;
            let Some(value) = value else {
                return Ok(Err(Problem::SecretKeyMissing {
                    name: import.secret_ref.name.clone(),
                    key: key_name,
                    purpose: format!("wallet.hotkeys.imports[index={index}]"),
                }));
            };
            let parsed = match import.format {
                KeyFormat::Keyfile => Hotkey::from_keyfile(&value),
                KeyFormat::Mnemonic => std::str::from_utf8(&value)
                    .map_err(|_| KeyError::InvalidMnemonic)
                    .and_then(Hotkey::from_mnemonic),
            };
            match parsed {
                Ok(k) => (
                    k,
                    Source::Imported {
                        secret: import.secret_ref.name.clone(),
                        key: key_name,
                    },
                ),
                Err(e) => {
                    return Ok(Err(Problem::InvalidHotkeyImport {
                        name: import.secret_ref.name.clone(),
                        index,
                        reason: e.to_string(),
                    }));
                }
            }
        }
        None => match Hotkey::generate() {
            Ok(k) => (k, Source::Generated),
            Err(e) => {
                return Ok(Err(Problem::InvalidSpec(format!(
                    "cannot generate a hotkey: {e}"
                ))));
            }
        },
    };
    let secret = secrets::hotkey_secret(&kind, &name, ns, index, &key, &source);
    let ss58 = key.ss58();
    drop(key);
    ctx.metrics.wrote(&kind, "secret");
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {
            // Created concurrently: read what is there now.
            let s = api
                .get(&secret_name)
                .await
                .map_err(|source| Error::FetchSecret {
                    name: secret_name.clone(),
                    source,
                })?;
            return Ok(match secrets::classify(&s, &kind, &name, index) {
                Existing::Ours { ss58 } => Ok(HotkeyRef { ss58, secret_name }),
                Existing::Foreign => Err(Problem::HotkeySecretConflict { name: secret_name }),
            });
        }
        Err(source) => {
            return Err(Error::ApplySecret {
                name: secret_name,
                source,
            });
        }
    }
    let how = match &source {
        Source::Generated => "generated".to_string(),
        Source::Imported { secret, .. } => format!("imported from Secret {secret}"),
    };
    ctx.publish(
        obj,
        EventType::Normal,
        "HotkeyCreated",
        format!("replica {index}: hotkey {ss58} ({how}) stored in Secret {secret_name}"),
    )
    .await;
    Ok(Ok(HotkeyRef { ss58, secret_name }))
}

/// Keeps `<resource>-coldkeypub` equal to the coldkey in the spec; writes only on change, and
/// never over a Secret the operator did not create (that is a problem, reported).
async fn ensure_coldkeypub<K: FleetKind>(
    ctx: &Context,
    obj: &K,
    api: &Api<Secret>,
    ns: &str,
    coldkey_public: &[u8; 32],
) -> Result<Option<Problem>> {
    let name = obj.name_any();
    let Some(owner) = obj.controller_owner_ref(&()) else {
        return Ok(None);
    };
    let want = secrets::coldkeypub_secret(&name, ns, coldkey_public, owner);
    let want_name = secrets::coldkeypub_secret_name(&name);
    let have = api
        .get_opt(&want_name)
        .await
        .map_err(|source| Error::FetchSecret {
            name: want_name.clone(),
            source,
        })?;
    let want_labels = want.metadata.labels.clone().unwrap_or_default();
    if let Some(h) = &have {
        let labels = h.metadata.labels.clone().unwrap_or_default();
        let ours = want_labels.iter().all(|(k, v)| labels.get(k) == Some(v));
        if !ours {
            return Ok(Some(Problem::ColdkeyPubSecretConflict { name: want_name }));
        }
    }
    // Compare only what the operator sets: others may add labels or annotations.
    let same = have.as_ref().is_some_and(|h| {
        h.data == want.data && h.metadata.owner_references == want.metadata.owner_references
    });
    if same {
        return Ok(None);
    }
    ctx.metrics.wrote(&K::kind(&()), "secret");
    api.patch(
        &want_name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&want),
    )
    .await
    .map_err(|source| Error::ApplySecret {
        name: want_name,
        source,
    })?;
    Ok(None)
}

async fn read_key(api: &Api<Secret>, name: &str, key: &str) -> Result<Option<Vec<u8>>> {
    let s = api
        .get_opt(name)
        .await
        .map_err(|source| Error::FetchSecret {
            name: name.to_string(),
            source,
        })?;
    Ok(s.and_then(|s| s.data)
        .and_then(|mut d| d.remove(key))
        .map(|b| b.0))
}

/// Loads (or takes from the cache) the registration signer, and checks that a coldkey signer
/// is the wallet's coldkey. Returns its kind, address and cache key.
async fn load_signer(
    ctx: &Context,
    api: &Api<Secret>,
    ns: &str,
    spec: &FleetSpec,
    coldkey_ss58: &str,
) -> Result<std::result::Result<Option<(SignerKind, String, String)>, Problem>> {
    let Some(signer_spec) = &spec.wallet.registration_signer else {
        return Ok(Ok(None));
    };
    let invalid = |reason: String| Ok(Err(Problem::InvalidSigner(reason)));
    let cache_key;
    let signer: Arc<Signer> = if let Some(p) = &signer_spec.proxy {
        let key = p.secret_ref.key_or(super::validate::default_key(p.format));
        let Some((value, rv)) = read_versioned(api, &p.secret_ref.name, key).await? else {
            return invalid(format!("Secret {} has no key {key}", p.secret_ref.name));
        };
        cache_key = format!("{ns}/{}@{rv}", p.secret_ref.name);
        match ctx.signers.get(&cache_key) {
            Some(s) => s,
            None => match Signer::proxy(p.format, &value) {
                Ok(s) => {
                    let s = Arc::new(s);
                    ctx.signers.insert(cache_key.clone(), s.clone());
                    s
                }
                Err(e) => {
                    return invalid(format!("proxy key in Secret {}: {e}", p.secret_ref.name));
                }
            },
        }
    } else if let Some(c) = &signer_spec.coldkey {
        let key = c.secret_ref.key_or("coldkey");
        let pw_key = c.password_secret_ref.key_or("password");
        let Some((keyfile, rv)) = read_versioned(api, &c.secret_ref.name, key).await? else {
            return invalid(format!("Secret {} has no key {key}", c.secret_ref.name));
        };
        let Some((password, pw_rv)) =
            read_versioned(api, &c.password_secret_ref.name, pw_key).await?
        else {
            return invalid(format!(
                "Secret {} has no key {pw_key}",
                c.password_secret_ref.name
            ));
        };
        cache_key = format!(
            "{ns}/{}+{}@{rv}.{pw_rv}",
            c.secret_ref.name, c.password_secret_ref.name
        );
        match ctx.signers.get(&cache_key) {
            Some(s) => s,
            None => {
                // Argon2i at 512 MiB: seconds of CPU, off the async runtime.
                let password = zeroize::Zeroizing::new(password);
                let loaded = tokio::task::spawn_blocking(move || {
                    let trimmed = trim_newline(&password);
                    Signer::coldkey(&keyfile, trimmed)
                })
                .await;
                match loaded {
                    Ok(Ok(s)) => {
                        let s = Arc::new(s);
                        ctx.signers.insert(cache_key.clone(), s.clone());
                        s
                    }
                    Ok(Err(e)) => {
                        return invalid(format!("coldkey in Secret {}: {e}", c.secret_ref.name));
                    }
                    Err(e) => return invalid(format!("coldkey decryption task: {e}")),
                }
            }
        }
    } else {
        return Ok(Ok(None));
    };
    if signer.kind == SignerKind::Coldkey && signer.ss58() != coldkey_ss58 {
        return invalid(format!(
            "the coldkey signer is {} but wallet.coldkeyPub is {coldkey_ss58}",
            signer.ss58()
        ));
    }
    Ok(Ok(Some((signer.kind, signer.ss58(), cache_key))))
}

async fn read_versioned(
    api: &Api<Secret>,
    name: &str,
    key: &str,
) -> Result<Option<(Vec<u8>, String)>> {
    let s = api
        .get_opt(name)
        .await
        .map_err(|source| Error::FetchSecret {
            name: name.to_string(),
            source,
        })?;
    Ok(s.and_then(|s| {
        let rv = s.resource_version().unwrap_or_default();
        s.data.and_then(|mut d| d.remove(key)).map(|b| (b.0, rv))
    }))
}

/// Passwords pasted into Secrets often end with a newline.
fn trim_newline(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\r\n")
        .or_else(|| b.strip_suffix(b"\n"))
        .unwrap_or(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_newlines_are_trimmed_from_passwords() {
        assert_eq!(trim_newline(b"pw\n"), b"pw");
        assert_eq!(trim_newline(b"pw\r\n"), b"pw");
        assert_eq!(trim_newline(b"pw"), b"pw");
        assert_eq!(trim_newline(b"p w \n"), b"p w ");
    }
}
