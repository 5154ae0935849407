//! The chain: one [`Chain`] trait for what the controllers need, with an in-memory model of
//! subtensor's rules ([`memory`]) that tests use directly and that the operator can run against
//! through the simulation server ([`sim`]).
//!
//! Transactions are signed by the caller's key and prepared before they are sent
//! ([`Chain::prepare_register`]), so the controller can persist the intent (nonce, era end,
//! hash) before anything reaches the chain. One nonce is included at most once: re-sending a
//! prepared registration after a crash can never pay twice.

pub mod cache;
pub mod contract;
pub mod network;
pub mod pool;
pub mod prune;
pub mod simulation;
pub use simulation::{memory, sim};
pub mod subxt_client;
pub mod writer;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A 32-byte account id (public key).
pub type AccountId = [u8; 32];

/// Errors of chain access. Dispatch errors carry the chain's own names (`pallet.Error`).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainError {
    /// The endpoint cannot be reached or answered badly.
    #[error("chain unreachable: {0}")]
    Unreachable(String),
    /// A transaction was rejected before inclusion (bad nonce, expired era, bad signature).
    #[error("transaction invalid: {0}")]
    Invalid(String),
    /// The chain ran the call and it failed with this error (e.g.
    /// `SubtensorModule.RegistrationPriceLimitExceeded`).
    #[error("dispatch error: {0}")]
    Dispatch(String),
    /// The runtime's data did not have the shape the client expected (a runtime the client does
    /// not know yet). Not a transport error: the connection is kept.
    #[error("cannot decode the chain's answer: {0}")]
    Decode(String),
    /// The runtime has no such call (an older or newer runtime); the name says which.
    #[error("the chain's runtime has no {0}")]
    Unsupported(String),
    /// The client-side price guard refused to send a registration: on a runtime without
    /// `register_limit` the chain would charge whatever the burn is at inclusion.
    #[error(
        "the registration price {burn} rao (at the best block) is above the limit {limit} rao; not sent"
    )]
    PriceAboveLimit {
        /// The burn at the best block, in rao.
        burn: u64,
        /// The limit, in rao.
        limit: u64,
    },
    /// The chain is not the Subnet's network (another genesis), or not yet known to be: the
    /// writer sends nothing to it.
    #[error("wrong network: {0}")]
    WrongNetwork(String),
    /// Something else.
    #[error("{0}")]
    Other(String),
}

impl ChainError {
    /// The short error name for metrics and conditions (`RegistrationPriceLimitExceeded`).
    pub fn name(&self) -> String {
        match self {
            ChainError::Dispatch(e) => e.rsplit('.').next().unwrap_or(e).to_string(),
            ChainError::Unreachable(_) => "Unreachable".to_string(),
            ChainError::Invalid(_) => "Invalid".to_string(),
            ChainError::Decode(_) => "Decode".to_string(),
            ChainError::Unsupported(_) => "Unsupported".to_string(),
            ChainError::PriceAboveLimit { .. } => "PriceAboveLimit".to_string(),
            ChainError::WrongNetwork(_) => "WrongNetwork".to_string(),
            ChainError::Other(_) => "Other".to_string(),
        }
    }
}

/// Result of chain calls.
pub type Result<T, E = ChainError> = std::result::Result<T, E>;

/// The chain's head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// Best block number.
    pub best: u64,
    /// Finalized block number.
    pub finalized: u64,
    /// Genesis hash (hex).
    pub genesis_hash: String,
    /// Hash of block 1 (hex), once it exists. With the genesis hash it tells one run of a
    /// chain from another: a localnet or chopsticks started again from the same chain spec has
    /// the same genesis hash (chopsticks even gives every chain the same one), but its block 1
    /// holds another timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_block_hash: Option<String>,
    /// Runtime spec version.
    pub spec_version: u32,
}

impl ChainHead {
    /// The identity of this run of the chain, as statuses record it: the genesis hash, then
    /// `:` and the hash of block 1 once there is one.
    pub fn identity(&self) -> String {
        match &self.first_block_hash {
            Some(first) => format!("{}:{first}", self.genesis_hash),
            None => self.genesis_hash.clone(),
        }
    }

    /// Whether `recorded` (an [`identity`](Self::identity) read earlier) names another run of
    /// the chain: another genesis, another block 1, or a chain back before block 1. A recorded
    /// genesis hash alone (statuses written before block 1 existed, or by older operators)
    /// compares by genesis only, so an upgrade never reads as a reset.
    pub fn is_reset_from(&self, recorded: &str) -> bool {
        let (genesis, first) = match recorded.split_once(':') {
            Some((g, f)) => (g, Some(f)),
            None => (recorded, None),
        };
        genesis != self.genesis_hash
            || first.is_some_and(|f| self.first_block_hash.as_deref() != Some(f))
    }
}

/// An axon as the chain stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Axon {
    /// IP address.
    pub ip: String,
    /// Port.
    pub port: u16,
}

/// A neuron (UID) of a subnet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Neuron {
    /// UID.
    pub uid: u16,
    /// Hotkey.
    pub hotkey: AccountId,
    /// Owning coldkey.
    pub coldkey: AccountId,
    /// Block of registration.
    pub registered_at: u64,
    /// Incentive, 0–1.
    pub incentive: f64,
    /// Emission per epoch in rao.
    pub emission: u64,
    /// Trust, 0–1.
    pub trust: f64,
    /// Stake on the subnet in rao.
    pub stake: u64,
    /// Validator permit.
    pub validator_permit: bool,
    /// Validator trust, 0–1.
    pub validator_trust: f64,
    /// Dividends, 0–1.
    pub dividends: f64,
    /// Block of the last weights set.
    pub last_update: u64,
    /// Axon, if served.
    pub axon: Option<Axon>,
    /// `pruning_score` (what runtimes before Dec 2025 prune by: [`prune::PruneRule`]).
    #[serde(default)]
    pub pruning_score: u16,
}

/// One read of a subnet at one block: what every Miner and Validator on it needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubnetSnapshot {
    /// Netuid.
    pub netuid: u16,
    /// Block read at.
    pub block: u64,
    /// Registration burn in rao.
    pub burn: u64,
    /// Lower bound of the burn.
    pub min_burn: u64,
    /// Upper bound of the burn.
    pub max_burn: u64,
    /// How the registration price moves (depends on the runtime).
    pub price: PriceModel,
    /// Who enforces `maxPriceTao`: the chain (`register_limit`) or the client.
    #[serde(default)]
    pub price_guard: PriceGuard,
    /// Blocks per epoch.
    pub tempo: u16,
    /// Maximum UIDs.
    pub max_uids: u16,
    /// Blocks a new registration is immune to pruning.
    pub immunity_period: u16,
    /// Registration allowed.
    pub registration_allowed: bool,
    /// Started (`start_call` done; subtoken enabled).
    pub started: bool,
    /// Owner coldkey.
    pub owner: Option<AccountId>,
    /// The owner's hotkey on the subnet (`SubnetOwnerHotkey`), which is never pruned.
    #[serde(default)]
    pub owner_hotkey: Option<AccountId>,
    /// How this runtime picks the neuron a registration on a full subnet replaces.
    #[serde(default)]
    pub prune_rule: prune::PruneRule,
    /// Commit-reveal of weights is on (weights are committed, then revealed later).
    #[serde(default)]
    pub commit_reveal: bool,
    /// The subnet's dTAO pool; `None` on runtimes without pools.
    #[serde(default)]
    pub pool: Option<Pool>,
    /// Neurons by UID.
    pub neurons: Vec<Neuron>,
}

/// A subnet's dTAO pool: what staking TAO swaps against (`SubnetTAO`, `SubnetAlphaIn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// TAO in the pool, in rao.
    pub tao: u64,
    /// Alpha in the pool, in rao.
    pub alpha: u64,
}

impl Neuron {
    /// A neuron just registered at `block`: nothing earned, no stake, no permit, no axon.
    pub fn registered(uid: u16, hotkey: AccountId, coldkey: AccountId, block: u64) -> Self {
        Self {
            uid,
            hotkey,
            coldkey,
            registered_at: block,
            incentive: 0.0,
            emission: 0,
            trust: 0.0,
            stake: 0,
            validator_permit: false,
            validator_trust: 0.0,
            dividends: 0.0,
            last_update: block,
            axon: None,
            pruning_score: 0,
        }
    }
}

impl SubnetSnapshot {
    /// An empty, started subnet for tests: tempo 10, immunity 100, 256 UIDs, no neurons.
    #[cfg(test)]
    pub fn for_tests(block: u64) -> Self {
        Self {
            netuid: 1,
            block,
            burn: 0,
            min_burn: 0,
            max_burn: 0,
            price: PriceModel::decay(360),
            price_guard: PriceGuard::Chain,
            tempo: 10,
            max_uids: 256,
            immunity_period: 100,
            registration_allowed: true,
            started: true,
            owner: None,
            owner_hotkey: None,
            prune_rule: prune::PruneRule::default(),
            commit_reveal: false,
            pool: None,
            neurons: vec![],
        }
    }

    /// The neuron of `hotkey`, if registered.
    pub fn neuron(&self, hotkey: &AccountId) -> Option<&Neuron> {
        self.neurons.iter().find(|n| &n.hotkey == hotkey)
    }
}

/// How a runtime moves the registration price (CHAIN.md §3 and §7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PriceModel {
    /// Spec 397 and later: the burn decays every block (halving every `half_life` blocks) and
    /// is multiplied by `increase_mult` at each registration; no count caps.
    Decay {
        /// Blocks for the burn to halve (`BurnHalfLife`).
        half_life: u16,
        /// Factor per registration (`BurnIncreaseMult`).
        increase_mult: f64,
    },
    /// Older runtimes (spec 218, 393): the burn is re-set once every `interval` blocks, up when
    /// more than `target` registered in the interval and down when fewer; at most
    /// `max_per_block` registrations per block and `3 · target` per interval.
    Adjustment {
        /// `AdjustmentInterval`.
        interval: u16,
        /// `TargetRegistrationsPerInterval`.
        target: u16,
        /// `MaxRegistrationsPerBlock`.
        max_per_block: u16,
        /// `LastAdjustmentBlock`.
        last_adjustment: u64,
        /// `RegistrationsThisInterval`.
        this_interval: u16,
        /// `RegistrationsThisBlock`.
        this_block: u16,
    },
}

impl Default for PriceModel {
    fn default() -> Self {
        Self::decay(360)
    }
}

impl PriceModel {
    /// The decay model with `half_life` and the chain's default multiplier (1.26).
    pub fn decay(half_life: u16) -> Self {
        Self::Decay {
            half_life,
            increase_mult: DEFAULT_BURN_INCREASE_MULT,
        }
    }

    /// The price after one registration at `price`, within `max` (the decay model multiplies;
    /// the adjustment model keeps it until the interval ends).
    pub fn after_registration(&self, price: u64, max: u64) -> u64 {
        match self {
            Self::Decay { increase_mult, .. } => {
                ((price as f64) * increase_mult).round().min(max as f64) as u64
            }
            Self::Adjustment { .. } => price,
        }
    }

    /// Blocks until the price `burn` may be at or below `limit` at block `now`: the decay
    /// model's `half_life · log2(burn/limit)`; the adjustment model's next re-set (which may
    /// or may not lower it). `None` when it never can (a zero limit).
    pub fn blocks_until(&self, burn: u64, limit: u64, now: u64) -> Option<u64> {
        if burn <= limit {
            return Some(0);
        }
        if limit == 0 {
            return None;
        }
        match self {
            Self::Decay { half_life, .. } => {
                let ratio = burn as f64 / limit as f64;
                Some(((f64::from((*half_life).max(1))) * ratio.log2()).ceil() as u64)
            }
            Self::Adjustment { .. } => Some(self.blocks_to_next_interval(now)),
        }
    }

    /// Blocks until the adjustment model's next interval (1 for the decay model).
    pub fn blocks_to_next_interval(&self, now: u64) -> u64 {
        match self {
            Self::Decay { .. } => 1,
            Self::Adjustment {
                interval,
                last_adjustment,
                ..
            } => {
                let interval = u64::from((*interval).max(1));
                let next = last_adjustment.saturating_add(interval);
                next.saturating_sub(now).max(1)
            }
        }
    }

    /// Counts one registration made by the operator since the snapshot (the adjustment model's
    /// interval and block counts).
    pub fn registered(&mut self) {
        if let Self::Adjustment {
            this_interval,
            this_block,
            ..
        } = self
        {
            *this_interval = this_interval.saturating_add(1);
            // The pool validates the next one against the state of the block that included
            // this one: the per-block count holds until a new block begins.
            *this_block = this_block.saturating_add(1);
        }
    }

    /// Why no registration can be included now, if the runtime's count caps forbid it.
    pub fn cap_reached(&self) -> Option<String> {
        match self {
            Self::Decay { .. } => None,
            Self::Adjustment {
                target,
                max_per_block,
                this_interval,
                this_block,
                ..
            } => {
                let per_interval = u32::from(*target).saturating_mul(3);
                if u32::from(*this_interval) >= per_interval {
                    Some(format!(
                        "{this_interval} registrations this adjustment interval: the runtime allows {per_interval} (3 × TargetRegistrationsPerInterval)"
                    ))
                } else if *this_block >= *max_per_block {
                    Some(format!(
                        "{this_block} registrations this block: the runtime allows {max_per_block} (MaxRegistrationsPerBlock)"
                    ))
                } else {
                    None
                }
            }
        }
    }
}

/// The chain's default `BurnIncreaseMult` (spec 397+), used where a runtime does not say.
pub const DEFAULT_BURN_INCREASE_MULT: f64 = 1.26;

/// Existential deposit of subtensor's balances, in rao: an account must keep it.
pub const EXISTENTIAL_DEPOSIT: u64 = 500;

/// Lock cost of `register_network` (`NetworkMinLockCost`, 1000 TAO), in rao.
pub const NETWORK_LOCK_RAO: u64 = 1_000_000_000_000;

/// Who keeps a registration under `maxPriceTao`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PriceGuard {
    /// The chain: `register_limit(netuid, hotkey, limit)` fails above the limit and burns
    /// nothing.
    #[default]
    Chain,
    /// The client: the runtime has only `burned_register`, which charges whatever the burn is
    /// at inclusion. The operator re-reads the burn at the best block just before sending; a
    /// registration by someone else in between can still raise it.
    Client,
}

impl PriceGuard {
    /// Its name in status (`Chain`, `Client`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Chain => "Chain",
            Self::Client => "Client",
        }
    }
}

/// A proxy type that may register (CHAIN.md §1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProxyType {
    /// `ProxyType::Registration`: exactly the registration calls.
    #[default]
    Registration,
    /// `ProxyType::Any`: everything.
    Any,
}

impl ProxyType {
    /// The variant's name on chain.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Registration => "Registration",
            Self::Any => "Any",
        }
    }
}

/// Whether a delegate may register on behalf of a real account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProxyCheck {
    /// A definition of this type with no delay: `Proxy.proxy(real, Some(type), call)` works.
    Usable(ProxyType),
    /// Only definitions with a delay: `Proxy.proxy` fails with `Unannounced`.
    Delayed {
        /// Its type.
        proxy_type: ProxyType,
        /// Its delay in blocks.
        delay: u32,
    },
    /// No definition that allows registering.
    Missing,
}

/// An account's balance and next nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AccountInfo {
    /// Free balance in rao.
    pub free: u64,
    /// Next nonce.
    pub nonce: u64,
}

/// A registration to sign: `register_limit(netuid, hotkey, limit)`, sent by the coldkey, or
/// wrapped in `Proxy.proxy(real = coldkey, Registration, …)` by a proxy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterCall {
    /// Netuid.
    pub netuid: u16,
    /// Hotkey to register.
    pub hotkey: AccountId,
    /// Price limit in rao.
    pub limit_rao: u64,
    /// When signed by a proxy: the coldkey that pays.
    pub real: Option<AccountId>,
    /// When signed by a proxy: the type of its proxy definition (`force_proxy_type`, which the
    /// chain matches exactly).
    #[serde(default)]
    pub proxy_type: ProxyType,
}

/// A signed transaction, ready to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedTx {
    /// Signer.
    pub signer: AccountId,
    /// Signer's nonce used.
    pub nonce: u64,
    /// Last block at which it can be included.
    pub era_end: u64,
    /// Transaction hash (hex).
    pub hash: String,
    /// The call.
    pub call: RegisterCall,
    /// Signature over the payload (hex).
    pub signature: String,
}

/// What happened to a sent registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxOutcome {
    /// Block it was included in.
    pub block: u64,
    /// Transaction hash.
    pub hash: String,
    /// `Ok(uid, burn paid)` or the dispatch error.
    pub result: std::result::Result<(u16, u64), DispatchError>,
    /// The transaction fee the chain charged (`TransactionPayment.TransactionFeePaid`), in rao.
    #[serde(default)]
    pub fee: u64,
}

/// Why the chain refused a transaction: its dispatch error, by the names the runtime's metadata
/// gives (`Pallet.Error`). The errors the operator acts on are variants; the rest keep their
/// full name in [`DispatchError::Other`]. On the wire (the simulation's JSON) it is the
/// `Pallet.Error` string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum DispatchError {
    /// `SubtensorModule.RegistrationPriceLimitExceeded`: the burn is above the call's limit.
    RegistrationPriceLimitExceeded,
    /// `SubtensorModule.TooManyRegistrationsThisBlock`.
    TooManyRegistrationsThisBlock,
    /// `SubtensorModule.TooManyRegistrationsThisInterval`.
    TooManyRegistrationsThisInterval,
    /// `SubtensorModule.NoNeuronIdAvailable`: the subnet is full of immune neurons.
    NoNeuronIdAvailable,
    /// `SubtensorModule.NotEnoughBalanceToStake`: the coldkey cannot pay.
    NotEnoughBalanceToStake,
    /// `Balances.InsufficientBalance`.
    InsufficientBalance,
    /// `SubtensorModule.SubNetRegistrationDisabled`.
    SubNetRegistrationDisabled,
    /// `SubtensorModule.SubtokenDisabled`: the subnet has not started.
    SubtokenDisabled,
    /// `SubtensorModule.NonAssociatedColdKey`: the hotkey belongs to another coldkey.
    NonAssociatedColdKey,
    /// `SubtensorModule.HotKeyAlreadyRegisteredInSubNet`.
    HotKeyAlreadyRegisteredInSubNet,
    /// `SubtensorModule.RegistrationNotPermittedOnRootSubnet`.
    RegistrationNotPermittedOnRootSubnet,
    /// `SubtensorModule.SubnetNotExists`.
    SubnetNotExists,
    /// `Proxy.NotProxy`: the signer is not a proxy of the real account.
    NotProxy,
    /// `Proxy.Unproxyable`: the proxy type does not allow the call.
    Unproxyable,
    /// `DispatchError.BadOrigin`.
    BadOrigin,
    /// Any other error, as `Pallet.Error` (or however the chain named it).
    Other(String),
}

impl DispatchError {
    /// The known errors with their full names.
    const KNOWN: &'static [(&'static str, DispatchError)] = &[
        (
            "SubtensorModule.RegistrationPriceLimitExceeded",
            Self::RegistrationPriceLimitExceeded,
        ),
        (
            "SubtensorModule.TooManyRegistrationsThisBlock",
            Self::TooManyRegistrationsThisBlock,
        ),
        (
            "SubtensorModule.TooManyRegistrationsThisInterval",
            Self::TooManyRegistrationsThisInterval,
        ),
        (
            "SubtensorModule.NoNeuronIdAvailable",
            Self::NoNeuronIdAvailable,
        ),
        (
            "SubtensorModule.NotEnoughBalanceToStake",
            Self::NotEnoughBalanceToStake,
        ),
        ("Balances.InsufficientBalance", Self::InsufficientBalance),
        (
            "SubtensorModule.SubNetRegistrationDisabled",
            Self::SubNetRegistrationDisabled,
        ),
        ("SubtensorModule.SubtokenDisabled", Self::SubtokenDisabled),
        (
            "SubtensorModule.NonAssociatedColdKey",
            Self::NonAssociatedColdKey,
        ),
        (
            "SubtensorModule.HotKeyAlreadyRegisteredInSubNet",
            Self::HotKeyAlreadyRegisteredInSubNet,
        ),
        (
            "SubtensorModule.RegistrationNotPermittedOnRootSubnet",
            Self::RegistrationNotPermittedOnRootSubnet,
        ),
        ("SubtensorModule.SubnetNotExists", Self::SubnetNotExists),
        ("Proxy.NotProxy", Self::NotProxy),
        ("Proxy.Unproxyable", Self::Unproxyable),
        ("DispatchError.BadOrigin", Self::BadOrigin),
    ];

    /// The full name, `Pallet.Error`.
    pub fn full_name(&self) -> &str {
        match self {
            Self::Other(s) => s,
            known => Self::KNOWN
                .iter()
                .find(|(_, e)| e == known)
                .map(|(n, _)| *n)
                .unwrap_or_default(),
        }
    }

    /// The error's own name, without its pallet (a metric label).
    pub fn name(&self) -> &str {
        let full = self.full_name();
        full.rsplit('.').next().unwrap_or(full)
    }
}

impl From<String> for DispatchError {
    fn from(s: String) -> Self {
        Self::KNOWN
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, e)| e.clone())
            .unwrap_or(Self::Other(s))
    }
}

impl From<&str> for DispatchError {
    fn from(s: &str) -> Self {
        Self::from(s.to_string())
    }
}

impl From<DispatchError> for String {
    fn from(e: DispatchError) -> Self {
        e.full_name().to_string()
    }
}

impl std::fmt::Display for DispatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.full_name())
    }
}

/// A subnet hyperparameter a localnet scaffold sets (AdminUtils setters, CHAIN.md §1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Hyperparameter {
    /// `sudo_set_subnet_emission_enabled` (root only).
    EmissionEnabled(bool),
    /// `sudo_set_commit_reveal_weights_enabled`.
    CommitReveal(bool),
    /// `sudo_set_weights_set_rate_limit`.
    WeightsSetRateLimit(u64),
    /// `sudo_set_serving_rate_limit`.
    ServingRateLimit(u64),
    /// `sudo_set_min_burn` in rao (below 1 TAO).
    MinBurn(u64),
    /// `sudo_set_max_burn` in rao (above 0.1 TAO).
    MaxBurn(u64),
    /// `sudo_set_burn_half_life`.
    BurnHalfLife(u16),
    /// `sudo_set_immunity_period`.
    ImmunityPeriod(u16),
    /// `sudo_set_tempo` (root only).
    Tempo(u16),
    /// `sudo_set_max_allowed_uids`.
    MaxAllowedUids(u16),
    /// `sudo_set_max_allowed_validators` (root only).
    MaxAllowedValidators(u16),
    /// `sudo_set_target_registrations_per_interval` (root only). Runtimes with the adjustment
    /// price model (spec 218, 393) allow `3 ·` this many registrations per interval.
    TargetRegistrationsPerInterval(u16),
    /// `sudo_set_max_registrations_per_block` (root only; a cap on runtimes before spec 397).
    MaxRegistrationsPerBlock(u16),
}

/// A call of a localnet scaffold (CHAIN.md §4's bring-up order). `Sudo*` calls are wrapped in
/// `Sudo.sudo` and must be signed by the sudo key (`//Alice` on a localnet).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LocalnetCall {
    /// `Sudo(AdminUtils.sudo_set_admin_freeze_window(window))`.
    SudoSetAdminFreezeWindow(u16),
    /// `Balances.transfer_keep_alive(dest, value)`.
    Transfer {
        /// Receiver.
        dest: AccountId,
        /// Rao.
        rao: u64,
    },
    /// `SubtensorModule.register_network(hotkey)`, signed by the future owner coldkey.
    RegisterNetwork {
        /// The owner's hotkey (gets UID 0).
        hotkey: AccountId,
    },
    /// `SubtensorModule.start_call(netuid)`, signed by the owner.
    StartCall {
        /// Netuid.
        netuid: u16,
    },
    /// `Sudo(AdminUtils.sudo_set_…(netuid, value))`.
    SudoSetHyperparameter {
        /// Netuid.
        netuid: u16,
        /// What to set.
        param: Hyperparameter,
    },
    /// `Sudo(System.set_storage)` of a subnet's pool reserves (`SubnetTAO`, `SubnetAlphaIn`).
    /// Some runtimes seed a new subnet's pool with dust (spec 218: 1 rao of each, whatever the
    /// lock), so stake buys no alpha and no validator earns a permit by stake; a localnet gives
    /// its pool depth instead.
    SudoSetPool {
        /// Netuid.
        netuid: u16,
        /// TAO reserve, in rao.
        tao: u64,
        /// Alpha reserve, in rao.
        alpha: u64,
    },
    /// `SubtensorModule.add_stake(hotkey, netuid, amount)`, signed by the hotkey's coldkey.
    AddStake {
        /// Hotkey to stake to.
        hotkey: AccountId,
        /// Netuid.
        netuid: u16,
        /// Rao.
        rao: u64,
    },
}

/// What a localnet call did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalnetOutcome {
    /// Block it was included in.
    pub block: u64,
    /// `Ok(netuid created by register_network, if any)` or the dispatch error.
    pub result: std::result::Result<Option<u16>, DispatchError>,
}

/// A signed localnet call (the simulation's wire format).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignedLocalnetCall {
    /// Signer.
    pub signer: AccountId,
    /// Signer's nonce.
    pub nonce: u64,
    /// The call.
    pub call: LocalnetCall,
    /// Signature over [`localnet_payload`] (hex).
    pub signature: String,
}

/// Signing payload of a localnet call.
pub fn localnet_payload(signer: &AccountId, nonce: u64, call: &LocalnetCall) -> Vec<u8> {
    let mut p = b"subnet-operator/localnet/v1".to_vec();
    p.extend_from_slice(signer);
    p.extend_from_slice(&nonce.to_le_bytes());
    p.extend_from_slice(serde_json::to_string(call).unwrap_or_default().as_bytes());
    p
}

/// Signs a localnet call with the signer's next nonce `nonce`.
pub fn sign_localnet(
    signer: &crate::keys::signer::Signer,
    nonce: u64,
    call: LocalnetCall,
) -> SignedLocalnetCall {
    let who = signer.public();
    let payload = localnet_payload(&who, nonce, &call);
    SignedLocalnetCall {
        signer: who,
        nonce,
        signature: hex::encode(signer.sign(&payload)),
        call,
    }
}

/// The numbers of new best blocks as a node announces them; it ends when the subscription
/// does (the connection dropped).
pub type HeadStream = futures::stream::BoxStream<'static, u64>;

/// What the controllers need of a chain.
#[async_trait]
pub trait Chain: Send + Sync {
    /// Short description for logs and status (`memory`, `sim http://…`, an URL).
    fn describe(&self) -> String;
    /// The endpoint connected now (`None`: not connected, or not a network endpoint).
    fn endpoint(&self) -> Option<String> {
        None
    }
    /// The head.
    async fn head(&self) -> Result<ChainHead>;
    /// New best blocks as the chain announces them (a subscription: no request per poll), or
    /// `None` when this chain cannot push them and must be polled.
    async fn new_heads(&self) -> Result<Option<HeadStream>> {
        Ok(None)
    }
    /// A snapshot of a subnet (None if it does not exist).
    async fn subnet(&self, netuid: u16) -> Result<Option<SubnetSnapshot>>;
    /// An account's free balance and the nonce its next transaction must use, both at the best
    /// block (not the finalized one, which trails it: a nonce read there is stale right after a
    /// send).
    async fn account(&self, who: AccountId) -> Result<AccountInfo>;
    /// Whether `delegate` may register for `real`: the type of its proxy definition (which the
    /// call must name) and whether it has a delay.
    async fn registration_proxy(&self, real: AccountId, delegate: AccountId) -> Result<ProxyCheck>;
    /// Looks up the outcome of a transaction by hash, searching blocks `from..=to`.
    async fn find_tx(&self, hash: &str, from: u64, to: u64) -> Result<Option<TxOutcome>>;
    /// Signs a registration with `nonce`, valid until `era_end` (default: a few dozen blocks
    /// from now). Sends nothing.
    async fn prepare_register(
        &self,
        signer: &crate::keys::signer::Signer,
        call: RegisterCall,
        nonce: u64,
        era_end: Option<u64>,
    ) -> Result<PreparedTx>;
    /// Sends a prepared transaction and waits for its inclusion.
    async fn submit(&self, tx: &PreparedTx) -> Result<TxOutcome>;
    /// The subnets that exist, with their owners (to find a subnet a scaffold already made).
    async fn subnet_owners(&self) -> Result<Vec<(u16, Option<AccountId>)>>;
    /// Whether the chain's runtime has `call` (and every call it nests). An older or newer
    /// runtime may lack some scaffold calls (CHAIN.md §7).
    async fn supports(&self, call: &LocalnetCall) -> Result<bool> {
        let _ = call;
        Ok(true)
    }
    /// Signs a localnet scaffold call with the signer's next nonce, sends it and waits for its
    /// inclusion. A call the runtime does not have is [`ChainError::Unsupported`], and nothing
    /// is sent.
    async fn localnet_call(
        &self,
        signer: &crate::keys::signer::Signer,
        call: LocalnetCall,
    ) -> Result<LocalnetOutcome>;
}

/// A shared chain client.
pub type SharedChain = Arc<dyn Chain>;

/// Signing payload of a prepared registration (what the signature covers).
pub fn signing_payload(
    signer: &AccountId,
    nonce: u64,
    era_end: u64,
    call: &RegisterCall,
) -> Vec<u8> {
    let mut p = b"subnet-operator/register/v1".to_vec();
    p.extend_from_slice(signer);
    p.extend_from_slice(&nonce.to_le_bytes());
    p.extend_from_slice(&era_end.to_le_bytes());
    p.extend_from_slice(&call.netuid.to_le_bytes());
    p.extend_from_slice(&call.hotkey);
    p.extend_from_slice(&call.limit_rao.to_le_bytes());
    if let Some(r) = &call.real {
        p.extend_from_slice(r);
    }
    p
}

/// Hash of a signing payload (hex), as the transaction hash.
pub fn payload_hash(payload: &[u8]) -> String {
    use sha2::Digest;
    format!("0x{}", hex::encode(sha2::Sha256::digest(payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(genesis: &str, first: Option<&str>) -> ChainHead {
        ChainHead {
            best: 5,
            finalized: 5,
            genesis_hash: genesis.to_string(),
            first_block_hash: first.map(str::to_string),
            spec_version: 218,
        }
    }

    #[test]
    fn a_chain_started_again_from_the_same_spec_is_a_new_chain() {
        let run1 = head("0x45", Some("0xa1"));
        assert_eq!(run1.identity(), "0x45:0xa1");
        assert!(!run1.is_reset_from(&run1.identity()));
        // Same genesis hash (chopsticks, a localnet's fixed chain spec), another block 1.
        assert!(head("0x45", Some("0xb2")).is_reset_from(&run1.identity()));
        // Back before block 1.
        assert!(head("0x45", None).is_reset_from(&run1.identity()));
        // Another genesis.
        assert!(head("0x46", Some("0xa1")).is_reset_from(&run1.identity()));
        // A genesis hash alone (recorded at block 0, or by an older operator) compares by
        // genesis only: an upgrade is not a reset.
        assert!(!run1.is_reset_from("0x45"));
        assert!(run1.is_reset_from("0x46"));
    }

    #[test]
    fn dispatch_errors_are_named_as_the_chain_names_them_and_keep_the_rest() {
        for (name, e) in DispatchError::KNOWN {
            assert_eq!(DispatchError::from(*name), *e);
            assert_eq!(e.to_string(), *name);
            assert!(!matches!(e, DispatchError::Other(_)));
        }
        let e = DispatchError::from("SubtensorModule.HotKeyAlreadyRegisteredInSubNet");
        assert_eq!(e, DispatchError::HotKeyAlreadyRegisteredInSubNet);
        assert_eq!(e.name(), "HotKeyAlreadyRegisteredInSubNet");
        // Another pallet's error of the same name is not that error.
        let other = DispatchError::from("Other.HotKeyAlreadyRegisteredInSubNet");
        assert_eq!(
            other,
            DispatchError::Other("Other.HotKeyAlreadyRegisteredInSubNet".into())
        );
        assert_eq!(other.name(), "HotKeyAlreadyRegisteredInSubNet");
        // The wire format is the name, both ways.
        let json = serde_json::to_string(&DispatchError::NotProxy).unwrap_or_default();
        assert_eq!(json, "\"Proxy.NotProxy\"");
        let back: Result<DispatchError, _> = serde_json::from_str("\"Proxy.NotProxy\"");
        assert_eq!(back.ok(), Some(DispatchError::NotProxy));
        let back: Result<DispatchError, _> = serde_json::from_str("\"Drand.Whatever\"");
        assert_eq!(
            back.ok(),
            Some(DispatchError::Other("Drand.Whatever".into()))
        );
    }
}
