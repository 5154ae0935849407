//! The registration signer: a Registration-proxy key, or the coldkey itself. Read only by the
//! operator, never mounted into a workload. Decrypting a coldkey costs ~512 MiB and seconds, so
//! signers are cached by the Secrets' resourceVersions and kept in memory; their secrets are
//! wiped on drop. A coldkey that cannot be decrypted (a wrong password) is cached the same way:
//! it is tried again only when one of its Secrets changes, never on every reconcile.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use zeroize::Zeroizing;

use super::nacl::KdfCost;
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
        Self::coldkey_with(keyfile, password, KdfCost::SENSITIVE)
    }

    /// [`Signer::coldkey`] with the given KDF cost (tests use cheap ones).
    fn coldkey_with(keyfile: &[u8], password: &[u8], cost: KdfCost) -> Result<Self, KeyError> {
        let key = if nacl::is_encrypted(keyfile) {
            let plain = nacl::decrypt_with(keyfile, password, cost)?;
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

/// Why a coldkey signer could not be loaded. Cached like a loaded signer; never holds secret
/// material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The keyfile cannot be read or decrypted (a wrong password, a corrupted file).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The decryption task panicked or was cancelled.
    #[error("coldkey decryption task: {0}")]
    Task(String),
}

/// What the cache holds for one version of a signer's Secrets.
#[derive(Clone)]
enum Entry {
    Loaded(Arc<Signer>),
    Failed(LoadError),
}

impl Entry {
    fn result(&self) -> Result<Arc<Signer>, LoadError> {
        match self {
            Entry::Loaded(s) => Ok(s.clone()),
            Entry::Failed(e) => Err(e.clone()),
        }
    }
}

type Entries = Arc<Mutex<HashMap<String, Entry>>>;

/// Loaded signers, and coldkeys that failed to load, keyed by the Secrets (and their
/// resourceVersions) they came from: `<ns>/<name>@<rv>`, or for a coldkey
/// `<ns>/<keyfile>+<password>@<rv>.<password rv>`.
#[derive(Default)]
pub struct SignerCache {
    entries: Entries,
    /// Held while a coldkey loads, so that concurrent reconciles decrypt each version once.
    loading: Arc<Mutex<()>>,
    /// The KDF cost of encrypted coldkeys (btcli's; cheaper in tests).
    cost: KdfCost,
    /// Coldkey decryptions this cache ran.
    derivations: Arc<AtomicU64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Inserts `entry` under `key`, dropping (and so wiping) entries for older versions of the same
/// Secrets (same prefix before the last `@`).
fn insert_entry(entries: &Mutex<HashMap<String, Entry>>, key: String, entry: Entry) {
    let mut m = lock(entries);
    if let Some((prefix, _)) = key.rsplit_once('@') {
        m.retain(|k, _| k.rsplit_once('@').map(|(p, _)| p) != Some(prefix));
    }
    m.insert(key, entry);
}

impl SignerCache {
    /// A cache whose encrypted coldkeys use `cost` instead of btcli's.
    #[cfg(test)]
    pub(crate) fn with_cost(cost: KdfCost) -> Self {
        Self {
            cost,
            ..Self::default()
        }
    }

    /// The cached signer for `key`, if one loaded.
    pub fn get(&self, key: &str) -> Option<Arc<Signer>> {
        match lock(&self.entries).get(key) {
            Some(Entry::Loaded(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// Caches `signer` under `key`, dropping (and so wiping) entries for older versions of the
    /// same Secrets (same prefix before the last `@`).
    pub fn insert(&self, key: String, signer: Arc<Signer>) {
        insert_entry(&self.entries, key, Entry::Loaded(signer));
    }

    /// How many encrypted coldkeys this cache decrypted (or tried to): each one runs the KDF.
    pub fn derivations(&self) -> u64 {
        self.derivations.load(Ordering::Relaxed)
    }

    /// The coldkey signer for `key` (see [`SignerCache`] for its shape), loaded from `keyfile`
    /// and `password` unless this version of its Secrets is cached, as a signer or as a
    /// failure. Decryption runs on the blocking pool, one coldkey at a time, and its outcome
    /// is cached even when the caller stops waiting.
    pub async fn coldkey(
        &self,
        key: &str,
        keyfile: Zeroizing<Vec<u8>>,
        password: Zeroizing<Vec<u8>>,
    ) -> Result<Arc<Signer>, LoadError> {
        if let Some(e) = lock(&self.entries).get(key) {
            return e.result();
        }
        let entries = self.entries.clone();
        let loading = self.loading.clone();
        let derivations = self.derivations.clone();
        let cost = self.cost;
        let owned_key = key.to_string();
        let loaded = tokio::task::spawn_blocking(move || {
            let _one = lock(&loading);
            // Another reconcile may have loaded it while this one waited.
            if let Some(e) = lock(&entries).get(&owned_key) {
                return e.result();
            }
            let encrypted = nacl::is_encrypted(&keyfile);
            let started = Instant::now();
            let result = Signer::coldkey_with(&keyfile, &password, cost)
                .map(Arc::new)
                .map_err(LoadError::from);
            if encrypted {
                let n = derivations.fetch_add(1, Ordering::Relaxed) + 1;
                let took_ms = started.elapsed().as_millis();
                match &result {
                    Ok(_) => tracing::info!(
                        signer = %owned_key, took_ms, derivations = n,
                        "derived the coldkey key: decrypted"
                    ),
                    Err(e) => tracing::warn!(
                        signer = %owned_key, took_ms, derivations = n, error = %e,
                        "derived the coldkey key: cannot decrypt; not retried until a Secret changes"
                    ),
                }
            }
            let entry = match &result {
                Ok(s) => Entry::Loaded(s.clone()),
                Err(e) => Entry::Failed(e.clone()),
            };
            insert_entry(&entries, owned_key, entry);
            result
        })
        .await;
        loaded.unwrap_or_else(|e| {
            let e = LoadError::Task(e.to_string());
            insert_entry(&self.entries, key.to_string(), Entry::Failed(e.clone()));
            Err(e)
        })
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

    /// Argon2's cheap end (the `$NACL` format, without btcli's cost).
    const CHEAP: KdfCost = KdfCost {
        mem_kib: 64,
        ops: 1,
    };

    /// The dev phrase's keyfile, `$NACL`-encrypted with `password` at `cost`.
    fn encrypted_keyfile(password: &[u8], cost: KdfCost) -> Zeroizing<Vec<u8>> {
        let plain = Hotkey::from_mnemonic(DEV_PHRASE)
            .unwrap_or_else(|e| panic!("{e}"))
            .keyfile_json();
        Zeroizing::new(
            nacl::encrypt_with(plain.as_bytes(), password, cost).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    fn pw(p: &str) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(p.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn a_wrong_password_is_tried_once_per_version_of_the_secrets() {
        let c = SignerCache::with_cost(CHEAP);
        let kf = encrypted_keyfile(b"right", CHEAP);
        for _ in 0..5 {
            let e = c
                .coldkey("ns/cold+pw@1.1", kf.clone(), pw("wrong"))
                .await
                .map(|_| ());
            assert_eq!(e, Err(LoadError::Key(KeyError::Decrypt)));
        }
        assert_eq!(c.derivations(), 1, "a failure must be cached");
        let msg = c
            .coldkey("ns/cold+pw@1.1", kf.clone(), pw("wrong"))
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(msg, "cannot decrypt the keyfile (wrong password?)");
        assert!(c.get("ns/cold+pw@1.1").is_none());

        // The password Secret changes: tried again, and now it loads (once).
        for _ in 0..3 {
            let s = c
                .coldkey("ns/cold+pw@1.2", kf.clone(), pw("right"))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.ss58(), "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV");
        }
        assert_eq!(c.derivations(), 2);
        assert!(c.get("ns/cold+pw@1.2").is_some());

        // The keyfile Secret changes: tried again; the older versions are dropped.
        let e = c.coldkey("ns/cold+pw@2.2", kf.clone(), pw("wrong")).await;
        assert!(matches!(e, Err(LoadError::Key(KeyError::Decrypt))));
        assert_eq!(c.derivations(), 3);
        assert!(c.get("ns/cold+pw@1.2").is_none());
        // Going back to an old version is a change too (its entry was dropped).
        assert!(c.coldkey("ns/cold+pw@1.2", kf, pw("right")).await.is_ok());
        assert_eq!(c.derivations(), 4);
    }

    #[tokio::test]
    async fn unreadable_plain_keyfiles_are_cached_without_a_derivation() {
        let c = SignerCache::with_cost(CHEAP);
        for _ in 0..2 {
            let e = c
                .coldkey("ns/cold+pw@1.1", pw("{\"nothing\": 1}"), pw(""))
                .await;
            assert!(matches!(
                e,
                Err(LoadError::Key(KeyError::InvalidKeyfile(_)))
            ));
        }
        assert_eq!(c.derivations(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_loads_decrypt_once_and_one_derivation_at_a_time() {
        // Costly enough (16 MiB, 2 passes) that unserialized derivations would overlap.
        let cost = KdfCost {
            mem_kib: 16 * 1024,
            ops: 2,
        };
        let kf = encrypted_keyfile(b"right", cost);
        let c = Arc::new(SignerCache::with_cost(cost));
        // Two caches stand for any two callers of the KDF: the lock is the process's.
        let other = Arc::new(SignerCache::with_cost(cost));
        let mut tasks = vec![];
        for i in 0..6 {
            let (c, kf) = (if i % 2 == 0 { &c } else { &other }.clone(), kf.clone());
            let password = if i % 2 == 0 { "wrong" } else { "right" };
            tasks.push(tokio::spawn(async move {
                c.coldkey("ns/cold+pw@1.1", kf, pw(password)).await.is_ok()
            }));
        }
        let mut ok = vec![];
        for t in tasks {
            ok.push(t.await.unwrap_or_else(|e| panic!("{e}")));
        }
        assert_eq!(ok, [false, true, false, true, false, true]);
        // Three concurrent loads of one version ran one derivation per cache.
        assert_eq!((c.derivations(), other.derivations()), (1, 1));
        assert_eq!(
            nacl::peak_concurrent_derivations(),
            1,
            "two Argon2 derivations ran at once"
        );
    }
}
