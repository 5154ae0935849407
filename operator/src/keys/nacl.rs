//! Bittensor's encrypted keyfile format (`$NACL`): `b"$NACL" ‖ nonce(24) ‖ secretbox(json)`,
//! with the key from Argon2i v1.3 at libsodium's SENSITIVE limits (8 passes, 512 MiB, 1 lane)
//! over the password and bittensor's fixed salt, and XSalsa20-Poly1305 as the box.
//!
//! Decrypting costs about 512 MiB and a few seconds: the operator does it once per version of
//! the signer's Secrets, success or failure (see [`super::signer::SignerCache`]). At most one
//! derivation runs at a time in the process (a lock held around the KDF), so the operator's
//! peak memory is its base plus one derivation, however many fleets decrypt coldkeys. The
//! KDF's 512 MiB is allocated here, wiped after use and freed before the lock is released; an
//! allocation that large is always `mmap`ed by glibc's malloc (far above its 32 MiB ceiling of
//! the dynamic mmap threshold), so freeing it returns it to the OS at once.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use zeroize::{Zeroize, Zeroizing};

use super::KeyError;

/// Prefix of NaCl-encrypted keyfiles.
pub const NACL_PREFIX: &[u8] = b"$NACL";
/// Bittensor's fixed Argon2 salt.
pub const SALT: &[u8; 16] = b"\x13q\x83\xdf\xf1Z\t\xbc\x9c\x90\xb5Q\x879\xe9\xb1";
/// libsodium `crypto_pwhash_OPSLIMIT_SENSITIVE`.
pub const OPS_LIMIT: u32 = 8;
/// libsodium `crypto_pwhash_MEMLIMIT_SENSITIVE`, in KiB (512 MiB).
pub const MEM_LIMIT_KIB: u32 = 512 * 1024;

/// The cost of the Argon2i derivation: memory in KiB and passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfCost {
    /// Memory, in KiB.
    pub mem_kib: u32,
    /// Passes over the memory.
    pub ops: u32,
}

impl KdfCost {
    /// What btcli uses (libsodium's SENSITIVE limits): 512 MiB, 8 passes.
    pub const SENSITIVE: Self = Self {
        mem_kib: MEM_LIMIT_KIB,
        ops: OPS_LIMIT,
    };
}

impl Default for KdfCost {
    fn default() -> Self {
        Self::SENSITIVE
    }
}

/// Held around every derivation: one at a time in the process.
static KDF_LOCK: Mutex<()> = Mutex::new(());
/// Derivations started since the process started.
static DERIVATIONS: AtomicU64 = AtomicU64::new(0);
/// Derivations running now, and the most that ever ran at once (for tests).
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// How many Argon2 derivations this process has run (each costs the KDF's memory and seconds of
/// CPU).
pub fn derivations() -> u64 {
    DERIVATIONS.load(Ordering::Relaxed)
}

/// The most derivations that ever ran at the same time in this process (1 while the lock holds).
#[cfg(test)]
pub(crate) fn peak_concurrent_derivations() -> usize {
    PEAK_RUNNING.load(Ordering::Relaxed)
}

/// Whether a keyfile is encrypted in any format bittensor writes (`$NACL`, Ansible vault, or the
/// legacy Fernet `gAAAAA`).
pub fn is_encrypted(contents: &[u8]) -> bool {
    contents.starts_with(NACL_PREFIX)
        || contents.starts_with(b"$ANSIBLE_VAULT")
        || contents.starts_with(b"gAAAAA")
}

/// The KDF's working memory: wiped when dropped (it is derived from the password).
struct Memory(Vec<Block>);

impl Drop for Memory {
    fn drop(&mut self) {
        for b in &mut self.0 {
            AsMut::<[u64]>::as_mut(b).zeroize();
        }
    }
}

/// Counts a running derivation while alive.
struct Running;

impl Running {
    fn start() -> Self {
        DERIVATIONS.fetch_add(1, Ordering::Relaxed);
        let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK_RUNNING.fetch_max(now, Ordering::SeqCst);
        Self
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

fn derive_key(password: &[u8], cost: KdfCost) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let params = Params::new(cost.mem_kib, cost.ops, 1, Some(32)).map_err(|_| KeyError::Decrypt)?;
    let argon2 = Argon2::new(Algorithm::Argon2i, Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    // One derivation at a time: the lock is held until the memory is wiped and freed. A
    // poisoned lock (a panic in another derivation) guards nothing that could be inconsistent.
    let _one = KDF_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let _running = Running::start();
    let mut memory = Memory(vec![Block::new(); argon2.params().block_count()]);
    let hashed = argon2.hash_password_into_with_memory(password, SALT, key.as_mut(), &mut memory.0);
    drop(memory);
    hashed.map_err(|_| KeyError::Decrypt)?;
    Ok(key)
}

/// Decrypts a `$NACL` keyfile; returns the plaintext JSON. Slow (see the module docs): call it
/// off the async runtime.
pub fn decrypt(contents: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    decrypt_with(contents, password, KdfCost::SENSITIVE)
}

/// [`decrypt`] with the given KDF cost (btcli's keyfiles need [`KdfCost::SENSITIVE`]).
pub fn decrypt_with(
    contents: &[u8],
    password: &[u8],
    cost: KdfCost,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let body = contents.strip_prefix(NACL_PREFIX).ok_or_else(|| {
        KeyError::InvalidKeyfile(
            "not a $NACL keyfile (only NaCl-encrypted keyfiles are supported)".into(),
        )
    })?;
    if body.len() < 24 + 16 {
        return Err(KeyError::InvalidKeyfile("truncated $NACL keyfile".into()));
    }
    let (nonce, ciphertext) = body.split_at(24);
    let key = derive_key(password, cost)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    cipher
        .decrypt(Nonce::from_slice(nonce), ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| KeyError::Decrypt)
}

/// Encrypts `plaintext` as a `$NACL` keyfile (as btcli does), with a random nonce.
pub fn encrypt(plaintext: &[u8], password: &[u8]) -> Result<Vec<u8>, KeyError> {
    encrypt_with(plaintext, password, KdfCost::SENSITIVE)
}

/// [`encrypt`] with the given KDF cost (only [`KdfCost::SENSITIVE`] makes files btcli reads).
pub fn encrypt_with(plaintext: &[u8], password: &[u8], cost: KdfCost) -> Result<Vec<u8>, KeyError> {
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).map_err(|e| KeyError::Random(e.to_string()))?;
    let key = derive_key(password, cost)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), plaintext)
        .map_err(|_| KeyError::Decrypt)?;
    let mut out = NACL_PREFIX.to_vec();
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Argon2's minimum memory (64 KiB) and one pass: the format, without the cost.
    pub(crate) const CHEAP: KdfCost = KdfCost {
        mem_kib: 64,
        ops: 1,
    };

    #[test]
    fn round_trip_with_cheap_parameters() {
        // The format with small Argon2 costs; the real costs are exercised once below and by
        // the Python SDK test in e2e.
        let ct = encrypt_with(b"{\"secretSeed\":\"0x01\"}", b"pw", CHEAP)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(is_encrypted(&ct));
        let pt = decrypt_with(&ct, b"pw", CHEAP).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pt.as_slice(), b"{\"secretSeed\":\"0x01\"}");
        assert_eq!(
            decrypt_with(&ct, b"wrong", CHEAP).map(|_| ()),
            Err(KeyError::Decrypt)
        );
        assert!(decrypt_with(b"{}", b"pw", CHEAP).is_err());
        assert!(decrypt_with(b"$NACLshort", b"pw", CHEAP).is_err());
    }

    #[test]
    fn real_parameters_round_trip() {
        let ct = encrypt(b"secret", b"hunter2").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            decrypt(&ct, b"hunter2")
                .unwrap_or_else(|e| panic!("{e}"))
                .as_slice(),
            b"secret"
        );
    }
}
