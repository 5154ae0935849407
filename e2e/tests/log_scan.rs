//! The secret scan over a whole test run: every operator log and every test namespace's events
//! that the cluster tests left in `target/e2e-logs/` must hold no mnemonic (a run of 12 or more
//! BIP39 words), no private key or seed (64 or 128 hex digits) and no keyfile secret field.
//!
//! `#[ignore]`d so that it runs after the other tests: `make test` (e2e/run-tests.sh) runs it
//! last with `--ignored`.

use anyhow::Result;
use subnet_operator::keys::Hotkey;
use subxt_signer_words::english_words;

mod subxt_signer_words {
    /// The BIP39 English word list (from the same bip39 crate the operator uses).
    pub fn english_words() -> std::collections::HashSet<&'static str> {
        subxt_signer::bip39::Language::English
            .word_list()
            .iter()
            .copied()
            .collect()
    }
}

/// Findings in `text`: mnemonic-like word runs, long hex strings, secret field names.
fn findings(text: &str, words: &std::collections::HashSet<&str>) -> Vec<String> {
    let mut out = vec![];
    let mut run = 0;
    for token in text.split(|c: char| !c.is_ascii_alphabetic()) {
        if token.is_empty() {
            continue;
        }
        if words.contains(token) {
            run += 1;
            if run == 12 {
                out.push("a run of 12 BIP39 words".to_string());
            }
        } else {
            run = 0;
        }
    }
    for token in text.split(|c: char| !c.is_ascii_hexdigit()) {
        if token.len() == 64 || token.len() == 128 {
            out.push(format!("a {}-digit hex string", token.len()));
        }
    }
    for field in ["secretPhrase", "secretSeed", "privateKey"] {
        if text.contains(field) {
            out.push(format!("the field name {field}"));
        }
    }
    out
}

#[test]
fn the_detector_finds_real_secrets() {
    let words = english_words();
    let k = Hotkey::generate().unwrap_or_else(|e| panic!("{e}"));
    let phrase = k.mnemonic().unwrap_or_default().to_string();
    assert!(!findings(&format!("log line: {phrase} end"), &words).is_empty());
    assert!(!findings(&format!("seed=0x{}", hex::encode(k.seed())), &words).is_empty());
    assert!(!findings(&k.keyfile_json(), &words).is_empty());
    // Public material is fine.
    assert!(findings(&format!("hotkey {} registered", k.ss58()), &words).is_empty());
    assert!(findings("the miner is ready and all replicas run", &words).is_empty());
}

#[test]
#[ignore = "runs last, from e2e/run-tests.sh, over the whole run's logs"]
fn no_secret_in_any_log_or_event_of_the_run() -> Result<()> {
    let words = english_words();
    let dir = e2e::artifacts_dir();
    let mut files = 0;
    let mut bad = vec![];
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        files += 1;
        for f in findings(&text, &words) {
            bad.push(format!("{}: {f}", path.display()));
        }
    }
    assert!(files > 0, "no logs in {} to scan", dir.display());
    assert!(bad.is_empty(), "secrets found:\n{}", bad.join("\n"));
    eprintln!("scanned {files} logs and event dumps: clean");
    Ok(())
}
