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
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::runtime::events::EventType;

use super::apply::Created;
use super::context::{Context, Error, Result};
use super::validate::Problem;
use crate::crd::FleetKind;
use crate::crd::fleet::{FleetSpec, KeyFormat};
use crate::keys::secrets::{self, Existing, Source};
use crate::keys::signer::{LoadError, Signer, SignerKind};
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

    // The hotkey Secrets from the watch cache (metadata only): no request, and no key read.
    let cached = super::children::by_index(
        &ctx.children.stores(ns)?.hotkeys,
        ns,
        &name,
        secrets::HOTKEY_COMPONENT,
    )
    .await?;
    let have: BTreeMap<u32, HotkeyRef> = cached
        .iter()
        .filter_map(|(&index, s)| {
            let ss58 = secrets::classify_meta(&s.metadata, &kind, &name, index)?;
            Some((
                index,
                HotkeyRef {
                    ss58,
                    secret_name: s.name_any(),
                },
            ))
        })
        .collect();

    for &index in indices {
        if let Some(h) = have.get(&index) {
            obs.hotkeys.insert(index, h.clone());
            continue;
        }
        match create_hotkey(ctx, obj, &api, ns, spec, index, &coldkey_public).await? {
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
/// name is read and classified, never overwritten. An import is refused (see
/// [`import_refusal`]) when its Secret is another fleet's key or its key is the coldkey.
async fn create_hotkey<K: FleetKind>(
    ctx: &Context,
    obj: &K,
    api: &Api<Secret>,
    ns: &str,
    spec: &FleetSpec,
    index: u32,
    coldkey_public: &[u8; 32],
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
            let pos = spec
                .wallet
                .hotkeys
                .imports
                .iter()
                .position(|i| i.index == index)
                .unwrap_or_default();
            let refuse = |reason: String| {
                Ok(Err(Problem::InvalidHotkeyImport {
                    name: import.secret_ref.name.clone(),
                    index,
                    reason: format!("wallet.hotkeys.imports[{pos}].secretRef: {reason}"),
                }))
            };
            let source_secret = api
                .get_opt(&import.secret_ref.name)
                .await
                .map_err(|source| Error::FetchSecret {
                    name: import.secret_ref.name.clone(),
                    source,
                })?;
            if let Some(reason) = source_secret.as_ref().and_then(operator_made) {
                return refuse(reason);
            }
            if let Some(reason) = signer_of_another_fleet(ctx, ns, &import.secret_ref.name).await? {
                return refuse(reason);
            }
            let value = source_secret
                .and_then(|s| s.data)
                .and_then(|mut d| d.remove(&key_name))
                .map(|b| zeroize::Zeroizing::new(b.0));
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
                Ok(k) if k.public() == *coldkey_public => {
                    return refuse(format!(
                        "the imported key is the coldkey itself (wallet.coldkeyPub {}); a hotkey \
                         must be another key, and the coldkey never enters a pod",
                        k.ss58()
                    ));
                }
                Ok(k) => {
                    // One hotkey in two pods: another replica (of any fleet) already runs it.
                    if let Some(holder) = hotkey_holder(api, &k.ss58()).await? {
                        return refuse(format!(
                            "the imported hotkey {} is already the hotkey of {holder}; one hotkey \
                             may run in one pod only",
                            k.ss58()
                        ));
                    }
                    (
                        k,
                        Source::Imported {
                            secret: import.secret_ref.name.clone(),
                            key: key_name,
                        },
                    )
                }
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
    if let Created::AlreadyExists = ctx.applier(ns, &kind).create(&secret).await? {
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
        // The user's own coldkeypub Secret under that very name (the samples name it so) is
        // the file the pods need: it was checked to be a public file of this coldkey, so it is
        // used as it is, and not written.
        let theirs_is_the_spec = obj
            .fleet()
            .wallet
            .coldkey_pub
            .secret_ref
            .as_ref()
            .is_some_and(|r| {
                r.name == want_name && r.key_or(secrets::COLDKEYPUB_KEY) == secrets::COLDKEYPUB_KEY
            });
        if theirs_is_the_spec && !ours {
            return Ok(None);
        }
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
    ctx.applier(ns, &K::kind(&())).apply(&want).await?;
    Ok(None)
}

/// Which replica's hotkey Secret (made by the operator, in this namespace) holds `ss58`, if any:
/// "Miner m replica 0".
async fn hotkey_holder(api: &Api<Secret>, ss58: &str) -> Result<Option<String>> {
    let selector = format!(
        "{}={},{}=hotkey",
        crate::labels::MANAGED_BY,
        crate::labels::MANAGER,
        crate::labels::COMPONENT
    );
    let list = api
        .list_metadata(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::ListChildren {
            kind: "Secret".into(),
            source,
        })?;
    Ok(list.items.iter().find_map(|m| {
        let annotations = m.metadata.annotations.as_ref()?;
        (annotations
            .get(secrets::SS58_ANNOTATION)
            .map(String::as_str)
            == Some(ss58))
        .then(|| {
            let labels = m.metadata.labels.clone().unwrap_or_default();
            let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
            format!(
                "{} {} replica {}",
                get(secrets::OWNER_KIND_LABEL),
                get(crate::labels::INSTANCE),
                get(crate::labels::REPLICA_INDEX)
            )
        })
    }))
}

/// Why a hotkey may not be imported from `secret` because the operator made it (another
/// replica's or fleet's hotkey, or a coldkeypub Secret): importing it would put one key in two
/// pods, or hand another fleet's hotkey to whoever wrote this fleet.
fn operator_made(secret: &Secret) -> Option<String> {
    let labels = secret.metadata.labels.as_ref()?;
    if labels.get(crate::labels::MANAGED_BY).map(String::as_str) != Some(crate::labels::MANAGER) {
        return None;
    }
    let component = labels.get(crate::labels::COMPONENT).map(String::as_str);
    let instance = labels.get(crate::labels::INSTANCE).map(String::as_str);
    Some(format!(
        "Secret {} was created by subnet-operator ({} of {}); the operator's own Secrets \
         cannot be imported as a hotkey",
        secret.name_any(),
        component.unwrap_or("unknown component"),
        instance.unwrap_or("an unknown resource")
    ))
}

/// Why a hotkey may not be imported from Secret `name` because a Miner or Validator of the
/// namespace names it as its coldkeyPub or registration signer (see
/// [`super::policy::signer_secrets`]); read as plain JSON so that one unreadable object does
/// not hide the others.
async fn signer_of_another_fleet(ctx: &Context, ns: &str, name: &str) -> Result<Option<String>> {
    for ar in [
        ApiResource::erase::<crate::crd::Miner>(&()),
        ApiResource::erase::<crate::crd::Validator>(&()),
    ] {
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &ar);
        let list =
            api.list(&ListParams::default())
                .await
                .map_err(|source| Error::ListChildren {
                    kind: ar.kind.clone(),
                    source,
                })?;
        for o in list.items {
            let fleet = o.name_any();
            let Ok(json) = serde_json::to_value(&o) else {
                continue;
            };
            if let Some((_, what)) = super::policy::signer_secrets(&json)
                .into_iter()
                .find(|(n, _)| n == name)
            {
                return Ok(Some(format!(
                    "Secret {name} is {what} of {} {fleet}; a signer's key cannot be imported as \
                     a hotkey",
                    ar.kind
                )));
            }
        }
    }
    Ok(None)
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
        // Argon2i at 512 MiB, once per version of the two Secrets (failures too), off the
        // async runtime.
        let password = zeroize::Zeroizing::new(password);
        let password = zeroize::Zeroizing::new(trim_newline(&password).to_vec());
        let keyfile = zeroize::Zeroizing::new(keyfile);
        match ctx.signers.coldkey(&cache_key, keyfile, password).await {
            Ok(s) => s,
            Err(LoadError::Key(e)) => {
                return invalid(format!("coldkey in Secret {}: {e}", c.secret_ref.name));
            }
            Err(e @ LoadError::Task(_)) => return invalid(e.to_string()),
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
