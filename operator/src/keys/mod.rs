//! Keys: sr25519 hotkeys from BIP39 mnemonics, written as bittensor wallet files; imports of
//! existing hotkeys; the coldkey's public file; the registration signer.
//!
//! Derivation follows substrate-bip39 (what the bittensor SDKs and `subxt-signer` use): BIP39
//! entropy → PBKDF2-HMAC-SHA512(entropy, "mnemonic", 2048) → first 32 bytes (the mini secret,
//! `secretSeed`) → schnorrkel `expand_to_keypair(Ed25519)`. `privateKey` is schnorrkel's
//! `SecretKey::to_bytes()` (key ‖ nonce), as the SDKs write it.
//!
//! Nothing here logs. Secret material lives in [`Zeroizing`] buffers and schnorrkel keys, which
//! are wiped on drop; `Debug` prints only the public address.

pub mod nacl;
pub mod secrets;
pub mod signer;

use std::fmt;

use hmac::Hmac;
use schnorrkel::{ExpansionMode, MiniSecretKey};
use serde::{Deserialize, Serialize};
use sha2::Sha512;
use subxt_signer::bip39::{Language, Mnemonic};
use subxt_utils_accountid32::AccountId32;
use zeroize::Zeroizing;

/// Substrate's well-known development phrase (the root of `//Alice`, `//Bob`, …).
pub const DEV_PHRASE: &str =
    "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

/// Signing context of substrate's sr25519 (what the SDKs sign and verify with).
pub const SIGNING_CONTEXT: &[u8] = b"substrate";

/// Errors of key handling. Messages never contain secret material.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The phrase is not a valid BIP39 mnemonic.
    #[error("not a valid BIP39 mnemonic")]
    InvalidMnemonic,
    /// A seed or key has the wrong length or encoding.
    #[error("invalid {0}")]
    InvalidKey(&'static str),
    /// The keyfile is not a bittensor keyfile.
    #[error("not a bittensor keyfile: {0}")]
    InvalidKeyfile(String),
    /// The keyfile is encrypted and needs a password.
    #[error("the keyfile is encrypted")]
    Encrypted,
    /// Decryption failed (wrong password or corrupted file).
    #[error("cannot decrypt the keyfile (wrong password?)")]
    Decrypt,
    /// The system random source failed.
    #[error("random source: {0}")]
    Random(String),
    /// Not an SS58 address.
    #[error("not an SS58 address: {0}")]
    InvalidSs58(String),
}

/// An sr25519 key pair with the secrets bittensor wallet files carry.
pub struct Hotkey {
    mnemonic: Option<Zeroizing<String>>,
    seed: Zeroizing<[u8; 32]>,
    keypair: schnorrkel::Keypair,
}

impl fmt::Debug for Hotkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hotkey")
            .field("ss58", &self.ss58())
            .finish_non_exhaustive()
    }
}

impl Hotkey {
    /// A new key from a fresh 12-word mnemonic (128 bits from the OS random source).
    pub fn generate() -> Result<Self, KeyError> {
        let mut entropy = Zeroizing::new([0u8; 16]);
        getrandom::fill(entropy.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
        let mnemonic = Mnemonic::from_entropy_in(Language::English, entropy.as_ref())
            .map_err(|_| KeyError::InvalidMnemonic)?;
        Self::from_mnemonic(&mnemonic.to_string())
    }

    /// The key of a BIP39 mnemonic (no password), as btcli `regen_hotkey` derives it.
    pub fn from_mnemonic(phrase: &str) -> Result<Self, KeyError> {
        let phrase = Zeroizing::new(phrase.split_whitespace().collect::<Vec<_>>().join(" "));
        let mnemonic = Mnemonic::parse_in_normalized(Language::English, &phrase)
            .map_err(|_| KeyError::InvalidMnemonic)?;
        let (entropy, len) = mnemonic.to_entropy_array();
        let entropy = Zeroizing::new(entropy);
        let seed = seed_from_entropy(&entropy[..len])?;
        let mut key = Self::from_seed(*seed)?;
        key.mnemonic = Some(phrase);
        Ok(key)
    }

    /// The key of a 32-byte mini secret (`secretSeed`).
    pub fn from_seed(seed: [u8; 32]) -> Result<Self, KeyError> {
        let seed = Zeroizing::new(seed);
        let mini = MiniSecretKey::from_bytes(seed.as_ref())
            .map_err(|_| KeyError::InvalidKey("secret seed"))?;
        Ok(Self {
            mnemonic: None,
            keypair: mini.expand_to_keypair(ExpansionMode::Ed25519),
            seed,
        })
    }

    /// A substrate development account (`//Alice`, `//Bob`, …): the dev phrase with one hard
    /// junction, as `subxt-signer`'s `dev` accounts and the localnet's genesis derive them.
    /// Public knowledge, never a secret: for scaffolding localnets only.
    pub fn dev(name: &str) -> Result<Self, KeyError> {
        let root = Self::from_mnemonic(DEV_PHRASE)?;
        // A hard junction's chain code is the SCALE-encoded name (compact length, then bytes),
        // zero-padded to 32 bytes (names up to 31 bytes; longer ones would be hashed).
        let bytes = name.as_bytes();
        if bytes.len() > 31 {
            return Err(KeyError::InvalidKey("dev account name"));
        }
        let mut cc = [0u8; 32];
        cc[0] =
            u8::try_from(bytes.len() << 2).map_err(|_| KeyError::InvalidKey("dev account name"))?;
        cc[1..=bytes.len()].copy_from_slice(bytes);
        let (mini, _) = root
            .keypair
            .secret
            .hard_derive_mini_secret_key(Some(schnorrkel::derive::ChainCode(cc)), b"");
        Self::from_seed(mini.to_bytes())
    }

    /// The key of a bittensor keyfile (JSON with `secretSeed`, or `secretPhrase`), as btcli
    /// writes `hotkeys/<name>`. Encrypted keyfiles are refused: decrypt them with [`nacl`].
    pub fn from_keyfile(contents: &[u8]) -> Result<Self, KeyError> {
        if nacl::is_encrypted(contents) {
            return Err(KeyError::Encrypted);
        }
        let kf: KeyfileSecrets = serde_json::from_slice(contents)
            .map_err(|e| KeyError::InvalidKeyfile(format!("not JSON (line {})", e.line())))?;
        let key = match (&kf.secret_seed, &kf.secret_phrase) {
            (Some(seed), _) => {
                let bytes = Zeroizing::new(decode_hex(seed, "secret seed")?);
                let seed: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| KeyError::InvalidKey("secret seed"))?;
                let mut key = Self::from_seed(seed)?;
                key.mnemonic = kf.secret_phrase.clone().map(Zeroizing::new);
                key
            }
            (None, Some(phrase)) => Self::from_mnemonic(phrase)?,
            (None, None) => {
                return Err(KeyError::InvalidKeyfile(
                    "neither a secret seed nor a secret phrase".into(),
                ));
            }
        };
        if let Some(ss58) = &kf.ss58_address
            && *ss58 != key.ss58()
        {
            return Err(KeyError::InvalidKeyfile(
                "ss58Address does not match the secret".into(),
            ));
        }
        Ok(key)
    }

    /// The 32-byte public key.
    pub fn public(&self) -> [u8; 32] {
        self.keypair.public.to_bytes()
    }

    /// The SS58 address (prefix 42).
    pub fn ss58(&self) -> String {
        AccountId32(self.public()).to_string()
    }

    /// The mnemonic, when the key came from one.
    pub fn mnemonic(&self) -> Option<&str> {
        self.mnemonic.as_deref().map(String::as_str)
    }

    /// The 32-byte mini secret.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// Signs `message` in the substrate signing context (as the SDKs do).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let ctx = schnorrkel::signing_context(SIGNING_CONTEXT);
        self.keypair.sign(ctx.bytes(message)).to_bytes()
    }

    /// Signs `message` in the substrate signing context with a nonce derived from the key and
    /// the message only (no system randomness), so the same message always gets the same
    /// signature. The witness still mixes in the key's secret nonce and the whole transcript
    /// (as deterministic Schnorr does), so this is as safe as the randomized form; it lets a
    /// re-prepared extrinsic have the same bytes and hash as the first one.
    pub fn sign_deterministic(&self, message: &[u8]) -> [u8; 64] {
        let ctx = schnorrkel::signing_context(SIGNING_CONTEXT);
        let t = schnorrkel::context::attach_rng(ctx.bytes(message), ZeroRng);
        self.keypair.sign(t).to_bytes()
    }

    /// The bittensor keyfile for this key (`hotkeys/<name>`; also the decrypted coldkey format).
    pub fn keyfile_json(&self) -> Zeroizing<String> {
        let public = format!("0x{}", hex::encode(self.public()));
        let secret = Zeroizing::new(self.keypair.secret.to_bytes());
        let kf = serde_json::json!({
            "accountId": public,
            "publicKey": public,
            "privateKey": format!("0x{}", hex::encode(secret.as_ref())),
            "secretPhrase": self.mnemonic(),
            "secretSeed": format!("0x{}", hex::encode(self.seed.as_ref())),
            "ss58Address": self.ss58(),
            "cryptoType": 1,
        });
        Zeroizing::new(kf.to_string())
    }

    /// The public keyfile (`hotkeys/<name>pub.txt`, same shape as `coldkeypub.txt`).
    pub fn pub_json(&self) -> String {
        public_keyfile_json(&self.public())
    }
}

/// A public keyfile (`coldkeypub.txt` / `<name>pub.txt`) for a 32-byte public key.
pub fn public_keyfile_json(public: &[u8; 32]) -> String {
    let hex = format!("0x{}", hex::encode(public));
    serde_json::json!({
        "accountId": hex,
        "publicKey": hex,
        "ss58Address": AccountId32(*public).to_string(),
        "cryptoType": 1,
    })
    .to_string()
}

/// Decodes an SS58 address to its 32-byte public key (checksum verified).
pub fn ss58_decode(ss58: &str) -> Result<[u8; 32], KeyError> {
    ss58.parse::<AccountId32>()
        .map(|a| a.0)
        .map_err(|_| KeyError::InvalidSs58(ss58.to_string()))
}

/// Verifies an sr25519 signature in the substrate signing context.
pub fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let (Ok(pk), Ok(sig)) = (
        schnorrkel::PublicKey::from_bytes(public),
        schnorrkel::Signature::from_bytes(signature),
    ) else {
        return false;
    };
    pk.verify_simple(SIGNING_CONTEXT, message, &sig).is_ok()
}

/// The secret fields of a keyfile. Unknown fields are ignored (newer SDKs add some).
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyfileSecrets {
    #[serde(default)]
    secret_seed: Option<String>,
    #[serde(default)]
    secret_phrase: Option<String>,
    #[serde(default)]
    ss58_address: Option<String>,
}

impl Drop for KeyfileSecrets {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.secret_seed.zeroize();
        self.secret_phrase.zeroize();
    }
}

fn decode_hex(s: &str, what: &'static str) -> Result<Vec<u8>, KeyError> {
    hex::decode(s.trim_start_matches("0x")).map_err(|_| KeyError::InvalidKey(what))
}

/// substrate-bip39: the 32-byte mini secret of BIP39 entropy (no password).
fn seed_from_entropy(entropy: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    if entropy.len() < 16 || entropy.len() > 32 || !entropy.len().is_multiple_of(4) {
        return Err(KeyError::InvalidMnemonic);
    }
    let mut big = Zeroizing::new([0u8; 64]);
    pbkdf2::pbkdf2::<Hmac<Sha512>>(entropy, b"mnemonic", 2048, big.as_mut())
        .map_err(|_| KeyError::InvalidMnemonic)?;
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(&big[..32]);
    Ok(seed)
}

/// An "RNG" that yields zeros: schnorrkel hashes its output together with the secret nonce and
/// the transcript, so the signing witness stays secret and message-bound (see
/// [`Hotkey::sign_deterministic`]).
struct ZeroRng;

impl rand_core::RngCore for ZeroRng {
    fn next_u32(&mut self) -> u32 {
        0
    }
    fn next_u64(&mut self) -> u64 {
        0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        dest.fill(0);
        Ok(())
    }
}

impl rand_core::CryptoRng for ZeroRng {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published address of the dev phrase's root key.
    const DEV_ROOT_SS58: &str = "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV";

    #[test]
    fn dev_accounts_match_the_published_addresses_and_subxt_signer() {
        for (name, ss58, theirs) in [
            (
                "Alice",
                "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
                subxt_signer::sr25519::dev::alice(),
            ),
            (
                "Bob",
                "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
                subxt_signer::sr25519::dev::bob(),
            ),
        ] {
            let k = Hotkey::dev(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(k.ss58(), ss58, "{name}");
            assert_eq!(k.public(), theirs.public_key().0, "{name}");
        }
        assert!(Hotkey::dev(&"x".repeat(32)).is_err());
    }

    #[test]
    fn dev_phrase_derives_the_published_address() {
        let k = Hotkey::from_mnemonic(DEV_PHRASE).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k.ss58(), DEV_ROOT_SS58);
        // subxt-signer (the chain client's signer) derives the same public key.
        let m = Mnemonic::parse(DEV_PHRASE).unwrap_or_else(|e| panic!("{e}"));
        let kp = subxt_signer::sr25519::Keypair::from_phrase(&m, None)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(kp.public_key().0, k.public());
    }

    #[test]
    fn alice_is_the_known_address() {
        // //Alice's public key, as every Substrate chain knows it.
        let alice = subxt_signer::sr25519::dev::alice().public_key().0;
        assert_eq!(
            AccountId32(alice).to_string(),
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
        );
        assert_eq!(
            ss58_decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"),
            Ok(alice)
        );
        assert!(ss58_decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ").is_err());
    }

    #[test]
    fn generated_keys_are_fresh_12_word_mnemonics() {
        let a = Hotkey::generate().unwrap_or_else(|e| panic!("{e}"));
        let b = Hotkey::generate().unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(a.ss58(), b.ss58());
        let words = a.mnemonic().unwrap_or_default().split(' ').count();
        assert_eq!(words, 12);
        // The mnemonic re-derives the same key.
        let again = Hotkey::from_mnemonic(a.mnemonic().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.public(), a.public());
    }

    #[test]
    fn keyfile_has_the_bittensor_layout_and_round_trips() {
        let k = Hotkey::from_mnemonic(DEV_PHRASE).unwrap_or_else(|e| panic!("{e}"));
        let json = k.keyfile_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        let hex_len = |f: &str| v[f].as_str().map(|s| (s.starts_with("0x"), s.len()));
        assert_eq!(hex_len("accountId"), Some((true, 66)));
        assert_eq!(v["accountId"], v["publicKey"]);
        assert_eq!(hex_len("privateKey"), Some((true, 130)));
        assert_eq!(hex_len("secretSeed"), Some((true, 66)));
        assert_eq!(v["secretPhrase"], DEV_PHRASE);
        assert_eq!(v["ss58Address"], DEV_ROOT_SS58);
        assert_eq!(v["cryptoType"], 1);
        // privateKey is schnorrkel's key‖nonce of the expanded seed.
        let mini = MiniSecretKey::from_bytes(k.seed()).unwrap_or_else(|e| panic!("{e}"));
        let expanded = mini
            .expand_to_keypair(ExpansionMode::Ed25519)
            .secret
            .to_bytes();
        assert_eq!(v["privateKey"], format!("0x{}", hex::encode(expanded)));

        let back = Hotkey::from_keyfile(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.public(), k.public());
        assert_eq!(back.mnemonic(), Some(DEV_PHRASE));

        let pubv: serde_json::Value = serde_json::from_str(&k.pub_json()).unwrap_or_default();
        assert_eq!(pubv["ss58Address"], DEV_ROOT_SS58);
        assert!(pubv.get("privateKey").is_none() && pubv.get("secretSeed").is_none());
    }

    #[test]
    fn keyfiles_with_only_a_phrase_or_wrong_address_are_handled() {
        let only_phrase = format!(r#"{{"secretPhrase":"{DEV_PHRASE}","extra":1}}"#);
        let k = Hotkey::from_keyfile(only_phrase.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k.ss58(), DEV_ROOT_SS58);
        let wrong = format!(
            r#"{{"secretPhrase":"{DEV_PHRASE}","ss58Address":"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}}"#
        );
        assert!(matches!(
            Hotkey::from_keyfile(wrong.as_bytes()),
            Err(KeyError::InvalidKeyfile(_))
        ));
        assert_eq!(
            Hotkey::from_keyfile(b"$NACLxxxx").map(|_| ()),
            Err(KeyError::Encrypted)
        );
        assert!(Hotkey::from_mnemonic("not a mnemonic at all").is_err());
    }

    #[test]
    fn signatures_verify_and_errors_hide_secrets() {
        let k = Hotkey::generate().unwrap_or_else(|e| panic!("{e}"));
        let sig = k.sign(b"hello");
        assert!(verify(&k.public(), b"hello", &sig));
        assert!(!verify(&k.public(), b"hellO", &sig));
        let dbg = format!("{k:?}");
        let phrase = k.mnemonic().unwrap_or_default().to_string();
        assert!(dbg.contains(&k.ss58()));
        for word in phrase.split(' ') {
            assert!(
                !dbg.contains(&format!(" {word} ")),
                "Debug leaks the mnemonic"
            );
        }
        let bad =
            Hotkey::from_keyfile(format!(r#"{{"secretSeed":"0x{}"}}"#, "zz".repeat(32)).as_bytes());
        assert_eq!(bad.map(|_| ()), Err(KeyError::InvalidKey("secret seed")));
    }
}
