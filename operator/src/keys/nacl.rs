//! Bittensor's encrypted keyfile format (`$NACL`): `b"$NACL" ‖ nonce(24) ‖ secretbox(json)`,
//! with the key from Argon2i v1.3 at libsodium's SENSITIVE limits (8 passes, 512 MiB, 1 lane)
//! over the password and bittensor's fixed salt, and XSalsa20-Poly1305 as the box.
//!
//! Decrypting costs about 512 MiB and a few seconds: the operator does it once per signer and
//! keeps the key in memory (see [`super::signer`]).

use argon2::{Algorithm, Argon2, Params, Version};
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use zeroize::Zeroizing;

use super::KeyError;

/// Prefix of NaCl-encrypted keyfiles.
pub const NACL_PREFIX: &[u8] = b"$NACL";
/// Bittensor's fixed Argon2 salt.
pub const SALT: &[u8; 16] = b"\x13q\x83\xdf\xf1Z\t\xbc\x9c\x90\xb5Q\x879\xe9\xb1";
/// libsodium `crypto_pwhash_OPSLIMIT_SENSITIVE`.
pub const OPS_LIMIT: u32 = 8;
/// libsodium `crypto_pwhash_MEMLIMIT_SENSITIVE`, in KiB (512 MiB).
pub const MEM_LIMIT_KIB: u32 = 512 * 1024;

/// Whether a keyfile is encrypted in any format bittensor writes (`$NACL`, Ansible vault, or the
/// legacy Fernet `gAAAAA`).
pub fn is_encrypted(contents: &[u8]) -> bool {
    contents.starts_with(NACL_PREFIX)
        || contents.starts_with(b"$ANSIBLE_VAULT")
        || contents.starts_with(b"gAAAAA")
}

fn derive_key(password: &[u8], mem_kib: u32, ops: u32) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let params = Params::new(mem_kib, ops, 1, Some(32)).map_err(|_| KeyError::Decrypt)?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
        .hash_password_into(password, SALT, key.as_mut())
        .map_err(|_| KeyError::Decrypt)?;
    Ok(key)
}

/// Decrypts a `$NACL` keyfile; returns the plaintext JSON.
pub fn decrypt(contents: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    decrypt_with(contents, password, MEM_LIMIT_KIB, OPS_LIMIT)
}

fn decrypt_with(
    contents: &[u8],
    password: &[u8],
    mem_kib: u32,
    ops: u32,
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
    let key = derive_key(password, mem_kib, ops)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    cipher
        .decrypt(Nonce::from_slice(nonce), ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| KeyError::Decrypt)
}

/// Encrypts `plaintext` as a `$NACL` keyfile (as btcli does), with a random nonce.
pub fn encrypt(plaintext: &[u8], password: &[u8]) -> Result<Vec<u8>, KeyError> {
    encrypt_with(plaintext, password, MEM_LIMIT_KIB, OPS_LIMIT)
}

fn encrypt_with(
    plaintext: &[u8],
    password: &[u8],
    mem_kib: u32,
    ops: u32,
) -> Result<Vec<u8>, KeyError> {
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).map_err(|e| KeyError::Random(e.to_string()))?;
    let key = derive_key(password, mem_kib, ops)?;
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

    #[test]
    fn round_trip_with_cheap_parameters() {
        // The format with small Argon2 costs; the real costs are exercised once below and by
        // the Python SDK test in e2e.
        let ct = encrypt_with(b"{\"secretSeed\":\"0x01\"}", b"pw", 64, 1)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(is_encrypted(&ct));
        let pt = decrypt_with(&ct, b"pw", 64, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pt.as_slice(), b"{\"secretSeed\":\"0x01\"}");
        assert_eq!(
            decrypt_with(&ct, b"wrong", 64, 1).map(|_| ()),
            Err(KeyError::Decrypt)
        );
        assert!(decrypt_with(b"{}", b"pw", 64, 1).is_err());
        assert!(decrypt_with(b"$NACLshort", b"pw", 64, 1).is_err());
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
