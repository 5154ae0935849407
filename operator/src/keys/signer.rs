//! The registration signer: a Registration-proxy key, or the coldkey itself. Read only by the
//! operator, never mounted into a workload. Decrypting a coldkey costs ~512 MiB and seconds, so
//! signers are cached by the Secret's resourceVersion and kept in memory; their secrets are
//! wiped on drop.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use super::{Hotkey, KeyError, nacl};
use crate::crd::fleet::KeyFormat;

/// Which kind of account signs registrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignerKind {
    /// A `Registration` proxy of the coldkey: the coldkey pays, the proxy signs.
    Proxy,
    /// The coldkey itself.
    Coldkey,
}

/// A loaded signer.
pub struct Signer {
    /// Kind of account.
    pub kind: SignerKind,
    key: Hotkey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("kind", &self.kind)
            .field("ss58", &self.key.ss58())
            .finish()
    }
}

impl Signer {
    /// A proxy signer from a Secret value in `format`.
    pub fn proxy(format: KeyFormat, value: &[u8]) -> Result<Self, KeyError> {
        let key = match format {
            KeyFormat::Mnemonic => {
                let phrase = std::str::from_utf8(value).map_err(|_| KeyError::InvalidMnemonic)?;
                Hotkey::from_mnemonic(phrase)?
            }
            KeyFormat::Keyfile => Hotkey::from_keyfile(value)?,
        };
        Ok(Self {
            kind: SignerKind::Proxy,
            key,
        })
    }

    /// The coldkey from its btcli keyfile, decrypted with `password` when encrypted. Slow when
    /// encrypted: call it off the async runtime (`spawn_blocking`).
    pub fn coldkey(keyfile: &[u8], password: &[u8]) -> Result<Self, KeyError> {
        let key = if nacl::is_encrypted(keyfile) {
            let plain = nacl::decrypt(keyfile, password)?;
            Hotkey::from_keyfile(&plain)?
        } else {
            Hotkey::from_keyfile(keyfile)?
        };
        Ok(Self {
            kind: SignerKind::Coldkey,
            key,
        })
    }

    /// A substrate development account (`//Alice` is the localnet's sudo key) signing as a
    /// coldkey. For localnet scaffolds only: these keys are public knowledge.
    pub fn dev(name: &str) -> Result<Self, KeyError> {
        Ok(Self {
            kind: SignerKind::Coldkey,
            key: Hotkey::dev(name)?,
        })
    }

    /// A key the operator generated and keeps itself (a localnet subnet owner's coldkey).
    pub fn owned(key: Hotkey) -> Self {
        Self {
            kind: SignerKind::Coldkey,
            key,
        }
    }

    /// The signer's SS58 address.
    pub fn ss58(&self) -> String {
        self.key.ss58()
    }

    /// The signer's public key.
    pub fn public(&self) -> [u8; 32] {
        self.key.public()
    }

    /// Signs `message` (sr25519, substrate context).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message)
    }

    /// Signs `message` deterministically (same message, same signature): see
    /// [`Hotkey::sign_deterministic`]. Used for extrinsics, so that re-preparing a transaction
    /// yields the same bytes and hash.
    pub fn sign_deterministic(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign_deterministic(message)
    }

    /// A `subxt-signer` key pair for signing extrinsics.
    pub fn keypair(&self) -> Result<subxt_signer::sr25519::Keypair, KeyError> {
        subxt_signer::sr25519::Keypair::from_secret_key(*self.key.seed())
            .map_err(|_| KeyError::InvalidKey("signer seed"))
    }
}

/// Loaded signers, keyed by the Secrets (and their resourceVersions) they came from.
#[derive(Default)]
pub struct SignerCache {
    signers: Mutex<HashMap<String, Arc<Signer>>>,
}

impl SignerCache {
    /// The cached signer for `key`, if any.
    pub fn get(&self, key: &str) -> Option<Arc<Signer>> {
        self.signers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Caches `signer` under `key`, dropping (and so wiping) entries for older versions of the
    /// same Secrets (same prefix before the last `@`).
    pub fn insert(&self, key: String, signer: Arc<Signer>) {
        let mut m = self.signers.lock().unwrap_or_else(|p| p.into_inner());
        let prefix = key.rsplit_once('@').map(|(p, _)| p.to_string());
        if let Some(prefix) = prefix {
            m.retain(|k, _| k.rsplit_once('@').map(|(p, _)| p) != Some(prefix.as_str()));
        }
        m.insert(key, signer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV_PHRASE: &str =
        "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

    #[test]
    fn proxy_from_mnemonic_or_keyfile() {
        let a = Signer::proxy(KeyFormat::Mnemonic, format!("{DEV_PHRASE}\n").as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let kf = Hotkey::from_mnemonic(DEV_PHRASE)
            .unwrap_or_else(|e| panic!("{e}"))
            .keyfile_json();
        let b = Signer::proxy(KeyFormat::Keyfile, kf.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.ss58(), b.ss58());
        assert_eq!(a.kind, SignerKind::Proxy);
        let kp = a.keypair().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(kp.public_key().0, a.public());
        assert!(!format!("{a:?}").contains("bottom"));
    }

    #[test]
    fn plain_coldkey_keyfile_loads() {
        let kf = Hotkey::from_mnemonic(DEV_PHRASE)
            .unwrap_or_else(|e| panic!("{e}"))
            .keyfile_json();
        let s = Signer::coldkey(kf.as_bytes(), b"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.kind, SignerKind::Coldkey);
        assert_eq!(s.ss58(), "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV");
    }

    #[test]
    fn cache_replaces_old_versions() {
        let c = SignerCache::default();
        let s = || {
            Arc::new(
                Signer::proxy(KeyFormat::Mnemonic, DEV_PHRASE.as_bytes())
                    .unwrap_or_else(|e| panic!("{e}")),
            )
        };
        c.insert("ns/proxy@1".into(), s());
        c.insert("ns/other@1".into(), s());
        c.insert("ns/proxy@2".into(), s());
        assert!(c.get("ns/proxy@1").is_none());
        assert!(c.get("ns/proxy@2").is_some());
        assert!(c.get("ns/other@1").is_some());
    }
}
