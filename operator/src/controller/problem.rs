//! Why a resource cannot be acted on: the [`Problem`]s that validation, the template policy
//! and the reconcile steps report (each a condition reason).

/// Why a resource cannot be acted on. Each variant is a condition reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The spec is invalid.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// The referenced Subnet does not exist.
    #[error("Subnet {0} not found in this namespace")]
    SubnetNotFound(String),
    /// A referenced Secret does not exist.
    #[error("Secret {name} ({purpose}) not found in this namespace")]
    SecretNotFound {
        /// Secret name.
        name: String,
        /// What the Secret is for.
        purpose: String,
    },
    /// A referenced Secret lacks the key.
    #[error("Secret {name} ({purpose}) has no key {key}")]
    SecretKeyMissing {
        /// Secret name.
        name: String,
        /// Missing key.
        key: String,
        /// What the Secret is for.
        purpose: String,
    },
    /// A Secret the operator did not create stands under a hotkey Secret's name; it is left
    /// alone and that replica cannot run.
    #[error(
        "Secret {name} exists but was not created by subnet-operator for this replica; it is left untouched (rename or delete it to let the operator create the hotkey)"
    )]
    HotkeySecretConflict {
        /// Secret name.
        name: String,
    },
    /// A Secret the operator did not create stands under the coldkeypub Secret's name.
    #[error(
        "Secret {name} exists but was not created by subnet-operator; it is left untouched (rename or delete it so the operator can write the coldkey's public file there)"
    )]
    ColdkeyPubSecretConflict {
        /// Secret name.
        name: String,
    },
    /// An imported hotkey cannot be read.
    #[error("hotkey import for replica {index} from Secret {name}: {reason}")]
    InvalidHotkeyImport {
        /// Secret name.
        name: String,
        /// Replica index.
        index: u32,
        /// What is wrong (never secret material).
        reason: String,
    },
    /// The template (or another part of the spec) would give a pod something the policy refuses:
    /// a Secret, the node, root, a ServiceAccount token (see [`super::policy`]).
    #[error("{field}: {reason}")]
    TemplatePolicy {
        /// The offending field, e.g. `template.volumes[1] (name "keys")`.
        field: String,
        /// What is wrong and why it is refused.
        reason: String,
    },
    /// The registration signer cannot be loaded or does not match the wallet.
    #[error("registration signer: {0}")]
    InvalidSigner(String),
    /// A fleet of the other kind (Miner or Validator) already has this name in the namespace:
    /// the two would share every child name (StatefulSets, Secrets, the disruption budget).
    #[error(
        "a {other_kind} named {name} already exists in this namespace; Miners and Validators share child names (StatefulSets, hotkey Secrets, the PodDisruptionBudget), so this {kind} creates nothing: rename one of them"
    )]
    NameTaken {
        /// This fleet's kind.
        kind: String,
        /// The kind that holds the name.
        other_kind: String,
        /// The name.
        name: String,
    },
    /// The Subnet's endpoint answers as another chain than its network (`WrongNetwork`), or than
    /// the one first seen behind its URL (`GenesisChanged`): nothing is registered or staked.
    #[error("{message}")]
    WrongChain {
        /// `WrongNetwork` or `GenesisChanged`.
        reason: &'static str,
        /// Both genesis hashes, and what is held back.
        message: String,
    },
    /// The coldkey public file is not a bittensor `coldkeypub.txt`.
    #[error("Secret {name} key {key} is not a coldkeypub.txt with an ss58Address: {reason}")]
    InvalidColdkeyPub {
        /// Secret name.
        name: String,
        /// Key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl Problem {
    /// The condition and event reason for this problem.
    pub fn reason(&self) -> &'static str {
        match self {
            Problem::NameTaken { .. } => "NameTaken",
            Problem::HotkeySecretConflict { .. } => "HotkeySecretConflict",
            Problem::ColdkeyPubSecretConflict { .. } => "ColdkeyPubSecretConflict",
            Problem::InvalidHotkeyImport { .. } => "InvalidHotkeyImport",
            Problem::InvalidSigner(_) => "InvalidSigner",
            Problem::InvalidSpec(_) => "InvalidSpec",
            Problem::TemplatePolicy { .. } => "TemplatePolicy",
            Problem::SubnetNotFound(_) => "SubnetNotFound",
            Problem::SecretNotFound { .. } => "SecretNotFound",
            Problem::SecretKeyMissing { .. } => "SecretKeyMissing",
            Problem::InvalidColdkeyPub { .. } => "InvalidColdkeyPub",
            Problem::WrongChain { reason, .. } => reason,
        }
    }
}
