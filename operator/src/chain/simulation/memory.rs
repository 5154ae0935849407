//! An in-memory model of subtensor's registration rules, for tests and the simulation server.
//! **It is a simulation**, not a chain: the operator says so loudly when it runs against it.
//!
//! What it models (from subtensor's `registration.rs`, `uids.rs`, the proxy filter): the burn
//! decaying every block (halving every `BurnHalfLife` blocks) and bumped by 1.26 per
//! registration, clamped to `[MinBurn, MaxBurn]`; `register_limit`'s price limit; balances,
//! fees and the existential deposit; UID slots, immunity and pruning of the lowest-emission UID;
//! `Registration` proxies paying from the real account; nonces (one inclusion per nonce, a
//! re-sent transaction returns its first outcome) and mortal eras; sr25519 signatures; the
//! error names of CHAIN.md §2; and finality (CHAIN.md §7): with a `finalityLag`, the finalized
//! block trails the best one by that many blocks, subnet reads answer at the finalized block,
//! while balances, nonces, transaction lookups and submissions work at the best block.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::chain::{
    AccountId, AccountInfo, Chain, ChainError, ChainHead, DispatchError, Hyperparameter,
    LocalnetCall, LocalnetOutcome, Neuron, PreparedTx, RegisterCall, Result, SignedLocalnetCall,
    SubnetSnapshot, TxOutcome, localnet_payload, payload_hash, signing_payload,
};
use crate::crd::common::tao_to_rao;
use crate::keys::{ss58_decode, verify};

pub use crate::chain::{EXISTENTIAL_DEPOSIT, NETWORK_LOCK_RAO};
/// Blocks a prepared transaction stays valid.
pub const ERA_BLOCKS: u64 = 32;

/// Genesis of a model chain (YAML or JSON).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Genesis {
    /// Transaction fee in rao.
    #[serde(default = "default_fee")]
    pub fee_rao: u64,
    /// Free balances.
    #[serde(default)]
    pub balances: Vec<GenesisBalance>,
    /// Registration proxies.
    #[serde(default)]
    pub proxies: Vec<GenesisProxy>,
    /// Subnets.
    #[serde(default)]
    pub subnets: Vec<GenesisSubnet>,
    /// Start like the official localnet (CHAIN.md §4): `//Alice` is sudo; Alice, Bob and
    /// Charlie hold 1,000,000 TAO, Dave, Eve and Ferdie 2,000; netuid 1 exists, owned by no
    /// one and never started; new subnets get tempo 10 (fast blocks).
    #[serde(default)]
    pub localnet: bool,
    /// Blocks the finalized block trails the best one (GRANDPA's lag on a real node; 0: every
    /// block is final at once). Subnet reads ([`Chain::subnet`], [`Chain::subnet_owners`])
    /// answer at the finalized block; everything else at the best block. What the admin
    /// calls change between blocks (performance, say) is finalized with the next block.
    #[serde(default)]
    pub finality_lag: u64,
}

impl Genesis {
    /// The official localnet's genesis, as the model knows it.
    pub fn localnet() -> Self {
        Self {
            fee_rao: default_fee(),
            localnet: true,
            ..Default::default()
        }
    }
}

/// A balance at genesis.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenesisBalance {
    /// SS58 address.
    pub account: String,
    /// TAO.
    pub tao: String,
}

/// A proxy at genesis.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenesisProxy {
    /// The proxied (paying) account.
    pub real: String,
    /// The proxy.
    pub delegate: String,
}

/// A subnet at genesis.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenesisSubnet {
    /// Netuid.
    pub netuid: u16,
    /// Initial burn in TAO.
    #[serde(default = "default_burn")]
    pub burn_tao: String,
    /// Lowest burn in TAO.
    #[serde(default = "default_min_burn")]
    pub min_burn_tao: String,
    /// Highest burn in TAO.
    #[serde(default = "default_max_burn")]
    pub max_burn_tao: String,
    /// Blocks to halve the burn.
    #[serde(default = "default_half_life")]
    pub burn_half_life: u16,
    /// Blocks per epoch.
    #[serde(default = "default_tempo")]
    pub tempo: u16,
    /// Maximum UIDs.
    #[serde(default = "default_max_uids")]
    pub max_uids: u16,
    /// Immunity period in blocks.
    #[serde(default = "default_immunity")]
    pub immunity_period: u16,
    /// Registration allowed.
    #[serde(default = "default_true")]
    pub registration_allowed: bool,
    /// Started.
    #[serde(default = "default_true")]
    pub started: bool,
}

fn default_fee() -> u64 {
    100_000
}
fn default_burn() -> String {
    "0.1".into()
}
fn default_min_burn() -> String {
    "0.0005".into()
}
fn default_max_burn() -> String {
    "100".into()
}
fn default_half_life() -> u16 {
    360
}
fn default_tempo() -> u16 {
    360
}
fn default_max_uids() -> u16 {
    256
}
fn default_immunity() -> u16 {
    5000
}
fn default_true() -> bool {
    true
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct SubnetState {
    snapshot: SubnetSnapshot,
    #[serde(default)]
    emission_enabled: bool,
    #[serde(default)]
    weights_set_rate_limit: u64,
    #[serde(default)]
    serving_rate_limit: u64,
    #[serde(default)]
    max_allowed_validators: u16,
}

impl SubnetState {
    fn new(snapshot: SubnetSnapshot) -> Self {
        Self {
            snapshot,
            emission_enabled: true,
            weights_set_rate_limit: 100,
            serving_rate_limit: 50,
            max_allowed_validators: u16::try_from(MAX_ALLOWED_VALIDATORS).unwrap_or(u16::MAX),
        }
    }
}

/// `AdminFreezeWindow`'s default: AdminUtils setters fail in the last blocks of an epoch.
pub const DEFAULT_ADMIN_FREEZE_WINDOW: u16 = 10;

/// The model's whole state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    block: u64,
    genesis_hash: String,
    fee: u64,
    accounts: BTreeMap<String, AccountInfo>,
    proxies: Vec<(AccountId, AccountId)>,
    subnets: BTreeMap<u16, SubnetState>,
    txs: BTreeMap<String, TxOutcome>,
    /// Burns paid per payer, for tests that add up spend.
    burns: Vec<(AccountId, u64)>,
    /// The sudo key.
    #[serde(default)]
    sudo: Option<AccountId>,
    /// `AdminFreezeWindow`.
    #[serde(default)]
    admin_freeze_window: u16,
    /// Tempo of subnets `register_network` creates.
    #[serde(default = "default_tempo")]
    new_subnet_tempo: u16,
    /// Localnet calls dispatched: (call, block, result), for tests that check a scaffold.
    #[serde(default)]
    localnet_log: Vec<(LocalnetCall, u64, std::result::Result<Option<u16>, String>)>,
    /// Blocks the finalized block trails the best one.
    #[serde(default)]
    finality_lag: u64,
    /// What a reader at the finalized block sees: the subnets as each of the last
    /// `finality_lag + 1` blocks left them, oldest first (empty when the lag is 0).
    #[serde(default)]
    history: VecDeque<(u64, BTreeMap<u16, SubnetState>)>,
    /// Every transaction received with a valid signature, included or refused, in order.
    #[serde(default)]
    tx_log: Vec<TxRecord>,
}

impl State {
    /// The finalized block and the subnets as a reader there sees them: the best state when the
    /// lag is 0; else the state the block `best - lag` left (genesis while `best < lag`).
    fn finalized(&self) -> (u64, &BTreeMap<u16, SubnetState>) {
        if self.finality_lag == 0 {
            return (self.block, &self.subnets);
        }
        let want = self.block.saturating_sub(self.finality_lag);
        if let Some((b, subnets)) = self.history.iter().find(|(b, _)| *b == want) {
            return (*b, subnets);
        }
        // Not kept (every produced block is, so only a hand-made state): the oldest one kept,
        // else the best.
        match self.history.front() {
            Some((b, subnets)) if *b <= self.block => (*b, subnets),
            _ => (self.block, &self.subnets),
        }
    }

    /// Keeps what block `self.block` left for readers at the finalized block: at most
    /// `finality_lag + 1` blocks.
    fn record_block(&mut self) {
        if self.finality_lag == 0 {
            self.history.clear();
            return;
        }
        self.history.push_back((self.block, self.subnets.clone()));
        let cap = usize::try_from(self.finality_lag.saturating_add(1)).unwrap_or(usize::MAX);
        while self.history.len() > cap {
            self.history.pop_front();
        }
    }

    fn log_tx(&mut self, record: TxRecord) {
        self.tx_log.push(record);
    }
}

/// A transaction the model received with a valid signature (the simulation's `/admin/txs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    /// Block it was included in; for a refused one, the best block when it was refused.
    pub block: u64,
    /// Its hash (a localnet call's: the hash of its signing payload).
    pub hash: String,
    /// Signer.
    pub signer: AccountId,
    /// The nonce it carried.
    pub nonce: u64,
    /// The call: `register_limit`, `proxy(register_limit)`, or a localnet call's name.
    pub call: String,
    /// The hotkey a registration names.
    pub hotkey: Option<AccountId>,
    /// Included in a block (its nonce used, its fee paid). False: refused before inclusion
    /// (`Stale`, `Future`, `Outdated`, `Payment`), nothing used or paid.
    pub included: bool,
    /// The dispatch error of an included one, or why it was refused; `None` when it succeeded.
    pub error: Option<String>,
}

/// The in-memory chain.
pub struct MemoryChain {
    state: Mutex<State>,
    genesis: Genesis,
    resets: std::sync::atomic::AtomicU64,
}

fn key(a: &AccountId) -> String {
    hex::encode(a)
}

fn parse_tao(s: &str, what: &str) -> Result<u64> {
    tao_to_rao(s).ok_or_else(|| ChainError::Other(format!("genesis: bad {what} {s:?}")))
}

fn parse_account(s: &str) -> Result<AccountId> {
    ss58_decode(s).map_err(|e| ChainError::Other(format!("genesis: {e}")))
}

impl MemoryChain {
    /// A chain at block 0 from `genesis`.
    pub fn new(genesis: &Genesis) -> Result<Self> {
        Ok(Self {
            state: Mutex::new(genesis_state(genesis, 0, genesis.finality_lag)?),
            genesis: genesis.clone(),
            resets: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Starts the chain again from its genesis, with a new genesis hash: what restarting the
    /// localnet container does (its chainspec is rebuilt at each start).
    pub fn reset(&self) -> Result<()> {
        let n = self
            .resets
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            .saturating_add(1);
        // The node restarts with the same finality (an imported chain keeps its own lag).
        let mut s = self.lock();
        *s = genesis_state(&self.genesis, n, s.finality_lag)?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Produces `n` blocks: the burn of every subnet decays each block.
    pub fn advance(&self, n: u64) {
        let mut s = self.lock();
        for _ in 0..n {
            produce_block(&mut s);
        }
    }

    /// Sets an account's free balance.
    pub fn set_balance(&self, who: AccountId, free: u64) {
        let mut s = self.lock();
        s.accounts.entry(key(&who)).or_default().free = free;
    }

    /// Adds a `Registration` proxy.
    pub fn add_proxy(&self, real: AccountId, delegate: AccountId) {
        self.lock().proxies.push((real, delegate));
    }

    /// Changes the neuron of `hotkey` on `netuid`, if there is one, with `f` (given the current
    /// block); then produces a block when `in_block` (an extrinsic's effect), else the change
    /// rides with the next block (an epoch's).
    fn update_neuron(
        &self,
        netuid: u16,
        hotkey: AccountId,
        in_block: bool,
        f: impl FnOnce(&mut Neuron, u64),
    ) {
        let mut s = self.lock();
        let block = s.block;
        if let Some(n) = s
            .subnets
            .get_mut(&netuid)
            .and_then(|sub| sub.snapshot.neurons.iter_mut().find(|n| n.hotkey == hotkey))
        {
            f(n, block);
        }
        if in_block {
            produce_block(&mut s);
        }
    }

    /// Sets a neuron's emission and incentive (what an epoch would do).
    pub fn set_performance(&self, netuid: u16, hotkey: AccountId, emission: u64, incentive: f64) {
        self.update_neuron(netuid, hotkey, false, |n, _| {
            n.emission = emission;
            n.incentive = incentive;
        });
    }

    /// The neuron of `hotkey` serves `axon` (`serve_axon`, signed by the hotkey), in a new block.
    pub fn serve_axon(&self, netuid: u16, hotkey: AccountId, axon: super::super::Axon) {
        self.update_neuron(netuid, hotkey, true, |n, _| n.axon = Some(axon));
    }

    /// The neuron of `hotkey` sets weights now (`LastUpdate` becomes this block), in a new block.
    pub fn set_weights(&self, netuid: u16, hotkey: AccountId) {
        self.update_neuron(netuid, hotkey, true, |n, block| n.last_update = block);
    }

    /// Adds stake to `hotkey` on `netuid` (`add_stake`), in a new block. Permits follow at the
    /// next epoch.
    pub fn add_stake(&self, netuid: u16, hotkey: AccountId, rao: u64) {
        self.update_neuron(netuid, hotkey, true, |n, _| {
            n.stake = n.stake.saturating_add(rao);
        });
    }

    /// Registers `hotkey` for `coldkey` as someone else would (paying the burn from `coldkey`,
    /// which must hold it). Returns the UID or the error name.
    pub fn register_other(
        &self,
        netuid: u16,
        hotkey: AccountId,
        coldkey: AccountId,
    ) -> std::result::Result<(u16, u64), String> {
        let mut s = self.lock();
        let r = dispatch_register(&mut s, coldkey, netuid, hotkey, u64::MAX);
        // Like any extrinsic, it lands in a block.
        produce_block(&mut s);
        r
    }

    /// The outcome of an included transaction.
    pub fn outcome(&self, hash: &str) -> Option<TxOutcome> {
        self.lock().txs.get(hash).cloned()
    }

    /// Localnet calls dispatched so far, in order: (call, block, result).
    pub fn localnet_log(
        &self,
    ) -> Vec<(LocalnetCall, u64, std::result::Result<Option<u16>, String>)> {
        self.lock().localnet_log.clone()
    }

    /// Burns paid so far, per payer.
    pub fn burns(&self) -> Vec<(AccountId, u64)> {
        self.lock().burns.clone()
    }

    /// Every transaction received with a valid signature so far, included or refused, in order.
    pub fn tx_log(&self) -> Vec<TxRecord> {
        self.lock().tx_log.clone()
    }

    /// Blocks the finalized block trails the best one.
    pub fn finality_lag(&self) -> u64 {
        self.lock().finality_lag
    }

    /// The whole state (for the simulation server's persistence).
    pub fn export(&self) -> State {
        self.lock().clone()
    }

    /// A chain from an exported state, with its finality lag and the finalized blocks it kept.
    /// (A reset of it starts from an empty genesis, with the same lag.)
    pub fn import(state: State) -> Self {
        Self {
            state: Mutex::new(state),
            genesis: Genesis::default(),
            resets: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Applies a signed localnet call (CHAIN.md §1 and §4) in a new block.
    pub fn apply_localnet(&self, tx: &SignedLocalnetCall) -> Result<LocalnetOutcome> {
        let mut s = self.lock();
        let payload = localnet_payload(&tx.signer, tx.nonce, &tx.call);
        check_signature(&tx.signer, &payload, &tx.signature)?;
        let record = |block: u64, included: bool, error: Option<String>| TxRecord {
            block,
            hash: payload_hash(&payload),
            signer: tx.signer,
            nonce: tx.nonce,
            call: localnet_call_name(&tx.call),
            hotkey: None,
            included,
            error,
        };
        if let Err(e) = charge(&mut s, &tx.signer, tx.nonce) {
            let block = s.block;
            s.log_tx(record(block, false, Some(e.to_string())));
            return Err(e);
        }
        let result = dispatch_localnet(&mut s, tx.signer, &tx.call);
        produce_block(&mut s);
        let block = s.block;
        s.log_tx(record(block, true, result.as_ref().err().cloned()));
        s.localnet_log
            .push((tx.call.clone(), block, result.clone()));
        Ok(LocalnetOutcome {
            block: s.block,
            result: result.map_err(DispatchError::from),
        })
    }

    /// Applies a prepared transaction (the model's transaction pool and block author in one).
    pub fn apply(&self, tx: &PreparedTx) -> Result<TxOutcome> {
        let mut s = self.lock();
        if let Some(done) = s.txs.get(&tx.hash) {
            // The same transaction again: it was included once, and only once.
            return Ok(done.clone());
        }
        let payload = signing_payload(&tx.signer, tx.nonce, tx.era_end, &tx.call);
        if payload_hash(&payload) != tx.hash {
            return Err(ChainError::Invalid("BadProof: hash does not match".into()));
        }
        check_signature(&tx.signer, &payload, &tx.signature)?;
        let record = |block: u64, included: bool, error: Option<String>| TxRecord {
            block,
            hash: tx.hash.clone(),
            signer: tx.signer,
            nonce: tx.nonce,
            call: if tx.call.real.is_some() {
                "proxy(register_limit)".into()
            } else {
                "register_limit".into()
            },
            hotkey: Some(tx.call.hotkey),
            included,
            error,
        };
        let admitted = if s.block > tx.era_end {
            Err(ChainError::Invalid("Outdated: the era has ended".into()))
        } else {
            charge(&mut s, &tx.signer, tx.nonce)
        };
        if let Err(e) = admitted {
            let block = s.block;
            s.log_tx(record(block, false, Some(e.to_string())));
            return Err(e);
        }
        let payer = match tx.call.real {
            Some(real) => {
                // The model's proxies are `Registration` proxies with no delay; the chain
                // matches `force_proxy_type` exactly.
                if !s.proxies.contains(&(real, tx.signer))
                    || tx.call.proxy_type != crate::chain::ProxyType::Registration
                {
                    produce_block(&mut s);
                    let outcome = TxOutcome {
                        block: s.block,
                        hash: tx.hash.clone(),
                        result: Err("Proxy.NotProxy".into()),
                        fee: s.fee,
                    };
                    s.txs.insert(tx.hash.clone(), outcome.clone());
                    let block = s.block;
                    s.log_tx(record(block, true, Some("Proxy.NotProxy".into())));
                    return Ok(outcome);
                }
                real
            }
            None => tx.signer,
        };
        let result = dispatch_register(
            &mut s,
            payer,
            tx.call.netuid,
            tx.call.hotkey,
            tx.call.limit_rao,
        );
        // The transaction lands in a new block.
        produce_block(&mut s);
        let block = s.block;
        s.log_tx(record(block, true, result.as_ref().err().cloned()));
        let outcome = TxOutcome {
            block,
            hash: tx.hash.clone(),
            result: result.map_err(DispatchError::from),
            fee: s.fee,
        };
        s.txs.insert(tx.hash.clone(), outcome.clone());
        Ok(outcome)
    }
}

/// A localnet call's name as its JSON form spells it (`transfer`, `registerNetwork`).
fn localnet_call_name(call: &LocalnetCall) -> String {
    match serde_json::to_value(call) {
        Ok(serde_json::Value::Object(m)) => m.keys().next().cloned().unwrap_or_default(),
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Checks an sr25519 signature (hex) over `payload` by `signer`: a bad one is `BadProof`.
fn check_signature(signer: &AccountId, payload: &[u8], signature: &str) -> Result<()> {
    let sig: [u8; 64] = hex::decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ChainError::Invalid("BadProof".into()))?;
    if !verify(signer, payload, &sig) {
        return Err(ChainError::Invalid("BadProof: bad signature".into()));
    }
    Ok(())
}

/// Takes the transaction's nonce and fee from `signer`: the nonce must be the account's next
/// (`Stale` below, `Future` above) and the fee payable above the existential deposit.
fn charge(s: &mut State, signer: &AccountId, nonce: u64) -> Result<()> {
    let fee = s.fee;
    let signer_key = key(signer);
    let acct = s.accounts.get(&signer_key).copied().unwrap_or_default();
    if nonce < acct.nonce {
        return Err(ChainError::Invalid("Stale: nonce already used".into()));
    }
    if nonce > acct.nonce {
        return Err(ChainError::Invalid("Future: nonce not yet valid".into()));
    }
    if acct.free < fee + EXISTENTIAL_DEPOSIT {
        return Err(ChainError::Invalid("Payment: cannot pay the fee".into()));
    }
    let a = s.accounts.entry(signer_key).or_default();
    a.nonce += 1;
    a.free -= fee;
    Ok(())
}

/// The state at block 0 of `genesis`, finalized `finality_lag` blocks behind the best; `salt`
/// tells resets apart (a new genesis hash).
fn genesis_state(genesis: &Genesis, salt: u64, finality_lag: u64) -> Result<State> {
    let mut accounts = BTreeMap::new();
    let mut sudo = None;
    let mut subnets = BTreeMap::new();
    if genesis.localnet {
        for (name, tao) in [
            ("Alice", 1_000_000u64),
            ("Bob", 1_000_000),
            ("Charlie", 1_000_000),
            ("Dave", 2_000),
            ("Eve", 2_000),
            ("Ferdie", 2_000),
        ] {
            let k = crate::keys::Hotkey::dev(name).map_err(|e| ChainError::Other(e.to_string()))?;
            accounts.insert(
                key(&k.public()),
                AccountInfo {
                    free: tao * 1_000_000_000,
                    nonce: 0,
                },
            );
            if name == "Alice" {
                sudo = Some(k.public());
            }
        }
        // Netuid 1: owned by the zero account, never started.
        let mut one = new_subnet_snapshot(1, 10, 0);
        one.owner = Some([0; 32]);
        subnets.insert(1, SubnetState::new(one));
    }
    for b in &genesis.balances {
        accounts.insert(
            key(&parse_account(&b.account)?),
            AccountInfo {
                free: parse_tao(&b.tao, "balance")?,
                nonce: 0,
            },
        );
    }
    let mut proxies = vec![];
    for p in &genesis.proxies {
        proxies.push((parse_account(&p.real)?, parse_account(&p.delegate)?));
    }
    for s in &genesis.subnets {
        subnets.insert(
            s.netuid,
            SubnetState::new(SubnetSnapshot {
                netuid: s.netuid,
                block: 0,
                burn: parse_tao(&s.burn_tao, "burnTao")?,
                min_burn: parse_tao(&s.min_burn_tao, "minBurnTao")?,
                max_burn: parse_tao(&s.max_burn_tao, "maxBurnTao")?,
                price: crate::chain::PriceModel::decay(s.burn_half_life.max(1)),
                price_guard: crate::chain::PriceGuard::Chain,
                tempo: s.tempo,
                max_uids: s.max_uids,
                immunity_period: s.immunity_period,
                registration_allowed: s.registration_allowed,
                started: s.started,
                owner: None,
                owner_hotkey: None,
                prune_rule: crate::chain::prune::PruneRule::default(),
                commit_reveal: false,
                pool: Some(crate::chain::Pool {
                    tao: NETWORK_LOCK_RAO,
                    alpha: NETWORK_LOCK_RAO,
                }),
                neurons: vec![],
            }),
        );
    }
    let seed = serde_json::to_vec(&(
        &accounts,
        &proxies,
        &subnets.keys().collect::<Vec<_>>(),
        salt,
    ))
    .unwrap_or_default();
    let mut state = State {
        block: 0,
        genesis_hash: payload_hash(&seed),
        fee: genesis.fee_rao,
        accounts,
        proxies,
        subnets,
        txs: BTreeMap::new(),
        burns: vec![],
        sudo,
        admin_freeze_window: DEFAULT_ADMIN_FREEZE_WINDOW,
        new_subnet_tempo: if genesis.localnet {
            10
        } else {
            default_tempo()
        },
        localnet_log: vec![],
        finality_lag,
        history: VecDeque::new(),
        tx_log: vec![],
    };
    // Genesis is the first block a reader at the finalized block sees.
    state.record_block();
    Ok(state)
}

/// A subnet as `register_network` creates it (`init_new_network`): burn 1 TAO, 256 UIDs,
/// immunity 5000, not started, commit-reveal on.
fn new_subnet_snapshot(netuid: u16, tempo: u16, block: u64) -> SubnetSnapshot {
    SubnetSnapshot {
        netuid,
        block,
        burn: 1_000_000_000,
        min_burn: 500_000,
        max_burn: 100_000_000_000,
        price: crate::chain::PriceModel::decay(360),
        price_guard: crate::chain::PriceGuard::Chain,
        tempo,
        max_uids: 256,
        immunity_period: 5000,
        registration_allowed: true,
        started: false,
        owner: None,
        owner_hotkey: None,
        prune_rule: crate::chain::prune::PruneRule::default(),
        commit_reveal: true,
        // Seeded with the lock, as `register_network` does from spec 233.
        pool: Some(crate::chain::Pool {
            tao: NETWORK_LOCK_RAO,
            alpha: NETWORK_LOCK_RAO,
        }),
        neurons: vec![],
    }
}

/// A localnet call as the runtime dispatches it.
fn dispatch_localnet(
    s: &mut State,
    signer: AccountId,
    call: &LocalnetCall,
) -> std::result::Result<Option<u16>, String> {
    let is_sudo = s.sudo == Some(signer);
    let block = s.block;
    let free = |s: &State, who: &AccountId| s.accounts.get(&key(who)).map(|a| a.free).unwrap_or(0);
    match call {
        LocalnetCall::SudoSetAdminFreezeWindow(w) => {
            if !is_sudo {
                return Err("DispatchError.BadOrigin".into());
            }
            s.admin_freeze_window = *w;
            Ok(None)
        }
        LocalnetCall::Transfer { dest, rao } => {
            if free(s, &signer) < rao.saturating_add(EXISTENTIAL_DEPOSIT) {
                return Err("Balances.FundsUnavailable".into());
            }
            if let Some(a) = s.accounts.get_mut(&key(&signer)) {
                a.free -= rao;
            }
            let d = s.accounts.entry(key(dest)).or_default();
            d.free = d.free.saturating_add(*rao);
            Ok(None)
        }
        LocalnetCall::RegisterNetwork { hotkey } => {
            if free(s, &signer) < NETWORK_LOCK_RAO.saturating_add(EXISTENTIAL_DEPOSIT) {
                return Err("SubtensorModule.NotEnoughBalanceToStake".into());
            }
            if let Some(a) = s.accounts.get_mut(&key(&signer)) {
                a.free -= NETWORK_LOCK_RAO;
            }
            let netuid = (1..=u16::MAX)
                .find(|n| !s.subnets.contains_key(n))
                .ok_or("SubtensorModule.SubnetLimitReached")?;
            let mut snap = new_subnet_snapshot(netuid, s.new_subnet_tempo, block);
            snap.owner = Some(signer);
            snap.owner_hotkey = Some(*hotkey);
            // The owner's hotkey takes UID 0.
            snap.neurons
                .push(Neuron::registered(0, *hotkey, signer, block));
            let mut state = SubnetState::new(snap);
            // New subnets start without emission (`SubnetEmissionEnabled=false`).
            state.emission_enabled = false;
            s.subnets.insert(netuid, state);
            Ok(Some(netuid))
        }
        LocalnetCall::StartCall { netuid } => {
            let sub = s
                .subnets
                .get_mut(netuid)
                .ok_or("SubtensorModule.SubnetNotExists")?;
            if sub.snapshot.owner != Some(signer) {
                return Err("SubtensorModule.NotSubnetOwner".into());
            }
            if sub.snapshot.started {
                return Err("SubtensorModule.FirstEmissionBlockNumberAlreadySet".into());
            }
            sub.snapshot.started = true;
            Ok(None)
        }
        LocalnetCall::SudoSetHyperparameter { netuid, param } => {
            if !is_sudo {
                return Err("DispatchError.BadOrigin".into());
            }
            let window = u64::from(s.admin_freeze_window);
            let sub = s
                .subnets
                .get_mut(netuid)
                .ok_or("SubtensorModule.SubnetNotExists")?;
            // `ensure_admin_window_open`: closed in the last `AdminFreezeWindow` blocks of an
            // epoch (with tempo 10 and the default window of 10, always).
            let tempo = u64::from(sub.snapshot.tempo.max(1));
            let to_epoch = tempo - (block % tempo);
            if window > 0 && to_epoch <= window {
                return Err("SubtensorModule.AdminActionProhibitedDuringWeightsWindow".into());
            }
            let snap = &mut sub.snapshot;
            match *param {
                Hyperparameter::EmissionEnabled(v) => sub.emission_enabled = v,
                Hyperparameter::CommitReveal(v) => snap.commit_reveal = v,
                Hyperparameter::WeightsSetRateLimit(v) => sub.weights_set_rate_limit = v,
                Hyperparameter::ServingRateLimit(v) => sub.serving_rate_limit = v,
                Hyperparameter::MinBurn(v) => {
                    if v >= 1_000_000_000 || v >= snap.max_burn {
                        return Err("AdminUtils.ValueNotInBounds".into());
                    }
                    snap.min_burn = v;
                    snap.burn = snap.burn.max(v);
                }
                Hyperparameter::MaxBurn(v) => {
                    if v <= 100_000_000 || v <= snap.min_burn {
                        return Err("AdminUtils.ValueNotInBounds".into());
                    }
                    snap.max_burn = v;
                    snap.burn = snap.burn.min(v);
                }
                Hyperparameter::BurnHalfLife(v) => {
                    if let crate::chain::PriceModel::Decay { half_life, .. } = &mut snap.price {
                        *half_life = v.max(1);
                    }
                }
                Hyperparameter::ImmunityPeriod(v) => snap.immunity_period = v,
                Hyperparameter::Tempo(v) => snap.tempo = v,
                Hyperparameter::MaxAllowedUids(v) => {
                    if usize::from(v) < snap.neurons.len() {
                        return Err("AdminUtils.MaxAllowedUIdsLessThanCurrentUIds".into());
                    }
                    snap.max_uids = v;
                }
                Hyperparameter::MaxAllowedValidators(v) => sub.max_allowed_validators = v,
                // The model's price decays per block, with no count caps: nothing to keep.
                Hyperparameter::TargetRegistrationsPerInterval(_)
                | Hyperparameter::MaxRegistrationsPerBlock(_) => {}
            }
            Ok(None)
        }
        LocalnetCall::SudoSetPool { netuid, tao, alpha } => {
            if !is_sudo {
                return Err("DispatchError.BadOrigin".into());
            }
            let sub = s
                .subnets
                .get_mut(netuid)
                .ok_or("SubtensorModule.SubnetNotExists")?;
            sub.snapshot.pool = Some(crate::chain::Pool {
                tao: *tao,
                alpha: *alpha,
            });
            Ok(None)
        }
        LocalnetCall::AddStake {
            hotkey,
            netuid,
            rao,
        } => {
            if free(s, &signer) < rao.saturating_add(EXISTENTIAL_DEPOSIT) {
                return Err("SubtensorModule.NotEnoughBalanceToStake".into());
            }
            let sub = s
                .subnets
                .get_mut(netuid)
                .ok_or("SubtensorModule.SubnetNotExists")?;
            let n = sub
                .snapshot
                .neurons
                .iter_mut()
                .find(|n| n.hotkey == *hotkey)
                .ok_or("SubtensorModule.HotKeyNotRegisteredInSubNet")?;
            if n.coldkey != signer {
                return Err("SubtensorModule.NonAssociatedColdKey".into());
            }
            n.stake = n.stake.saturating_add(*rao);
            if let Some(a) = s.accounts.get_mut(&key(&signer)) {
                a.free -= rao;
            }
            Ok(None)
        }
    }
}

/// Validator permits per subnet (`MaxAllowedValidators`' default).
pub const MAX_ALLOWED_VALIDATORS: usize = 64;

/// One block: the burn of every subnet decays; at each epoch (every `tempo` blocks) validator
/// permits go to the top stakes that are not zero.
fn produce_block(s: &mut State) {
    s.block += 1;
    let block = s.block;
    for sub in s.subnets.values_mut() {
        let snap = &mut sub.snapshot;
        if snap.tempo > 0 && block.is_multiple_of(u64::from(snap.tempo)) {
            let mut by_stake: Vec<(u64, u16)> = snap
                .neurons
                .iter()
                .filter(|n| n.stake > 0)
                .map(|n| (n.stake, n.uid))
                .collect();
            by_stake.sort_by(|a, b| b.cmp(a));
            let top: Vec<u16> = by_stake
                .into_iter()
                .take(MAX_ALLOWED_VALIDATORS)
                .map(|(_, uid)| uid)
                .collect();
            for n in &mut snap.neurons {
                n.validator_permit = top.contains(&n.uid);
            }
        }
        if let crate::chain::PriceModel::Decay { half_life, .. } = snap.price {
            let factor = 0.5f64.powf(1.0 / f64::from(half_life.max(1)));
            let decayed = (snap.burn as f64 * factor).round() as u64;
            snap.burn = decayed.clamp(snap.min_burn, snap.max_burn);
        }
        snap.block = block;
    }
    s.record_block();
}

/// `register_limit` as the runtime dispatches it.
fn dispatch_register(
    s: &mut State,
    payer: AccountId,
    netuid: u16,
    hotkey: AccountId,
    limit: u64,
) -> std::result::Result<(u16, u64), String> {
    let err = |e: &str| Err(format!("SubtensorModule.{e}"));
    if netuid == 0 {
        return err("RegistrationNotPermittedOnRootSubnet");
    }
    // Every extrinsic lands in the next block: the runtime runs it there, and records (and
    // judges immunity at) that block's number.
    let block = s.block + 1;
    let Some(sub) = s.subnets.get(&netuid) else {
        return err("SubnetNotExists");
    };
    let snap = &sub.snapshot;
    if !snap.registration_allowed {
        return err("SubNetRegistrationDisabled");
    }
    if !snap.started {
        return err("SubtokenDisabled");
    }
    if snap.neuron(&hotkey).is_some() {
        return err("HotKeyAlreadyRegisteredInSubNet");
    }
    // A hotkey belongs to the first coldkey that registered it, on any subnet.
    let owner = s
        .subnets
        .values()
        .flat_map(|x| x.snapshot.neurons.iter())
        .find(|n| n.hotkey == hotkey)
        .map(|n| n.coldkey);
    if owner.is_some_and(|o| o != payer) {
        return err("NonAssociatedColdKey");
    }
    let burn = snap.burn;
    if burn > limit {
        return err("RegistrationPriceLimitExceeded");
    }
    let free = s.accounts.get(&key(&payer)).map(|a| a.free).unwrap_or(0);
    if free < burn.saturating_add(EXISTENTIAL_DEPOSIT) {
        return err("NotEnoughBalanceToStake");
    }
    let full = snap.neurons.len() >= usize::from(snap.max_uids);
    let uid = if full {
        match prune_candidate(snap, block) {
            Some(uid) => uid,
            None => return err("NoNeuronIdAvailable"),
        }
    } else {
        u16::try_from(snap.neurons.len()).unwrap_or(u16::MAX)
    };
    if let Some(a) = s.accounts.get_mut(&key(&payer)) {
        a.free -= burn;
    }
    s.burns.push((payer, burn));
    let Some(sub) = s.subnets.get_mut(&netuid) else {
        return err("SubnetNotExists");
    };
    let snap = &mut sub.snapshot;
    snap.neurons.retain(|n| n.uid != uid);
    snap.neurons
        .push(Neuron::registered(uid, hotkey, payer, block));
    snap.neurons.sort_by_key(|n| n.uid);
    snap.burn = snap
        .price
        .after_registration(burn, snap.max_burn)
        .max(snap.min_burn);
    Ok((uid, burn))
}

/// The UID a full subnet prunes: the rule the snapshot declares ([`crate::chain::prune::next_to_prune`]; the
/// model's subnets follow the current one: lowest emission, the `MinNonImmuneUids` floor, the
/// owner's hotkeys kept).
fn prune_candidate(snap: &SubnetSnapshot, block: u64) -> Option<u16> {
    crate::chain::prune::next_to_prune(snap, block)
}

#[async_trait]
impl Chain for MemoryChain {
    fn describe(&self) -> String {
        "memory (SIMULATION)".to_string()
    }

    async fn head(&self) -> Result<ChainHead> {
        let s = self.lock();
        Ok(ChainHead {
            best: s.block,
            finalized: s.finalized().0,
            genesis_hash: s.genesis_hash.clone(),
            // The model's resets change the genesis hash itself.
            first_block_hash: None,
            spec_version: 0,
        })
    }

    /// At the finalized block.
    async fn subnet(&self, netuid: u16) -> Result<Option<SubnetSnapshot>> {
        let s = self.lock();
        let (block, subnets) = s.finalized();
        Ok(subnets.get(&netuid).map(|x| {
            let mut snap = x.snapshot.clone();
            snap.block = block;
            snap
        }))
    }

    async fn account(&self, who: AccountId) -> Result<AccountInfo> {
        Ok(self
            .lock()
            .accounts
            .get(&key(&who))
            .copied()
            .unwrap_or_default())
    }

    async fn registration_proxy(
        &self,
        real: AccountId,
        delegate: AccountId,
    ) -> Result<crate::chain::ProxyCheck> {
        Ok(if self.lock().proxies.contains(&(real, delegate)) {
            crate::chain::ProxyCheck::Usable(crate::chain::ProxyType::Registration)
        } else {
            crate::chain::ProxyCheck::Missing
        })
    }

    async fn find_tx(&self, hash: &str, _from: u64, _to: u64) -> Result<Option<TxOutcome>> {
        Ok(self.outcome(hash))
    }

    async fn prepare_register(
        &self,
        signer: &crate::keys::signer::Signer,
        call: RegisterCall,
        nonce: u64,
        era_end: Option<u64>,
    ) -> Result<PreparedTx> {
        let era_end = era_end.unwrap_or_else(|| self.lock().block + ERA_BLOCKS);
        prepare(signer, call, nonce, era_end)
    }

    async fn submit(&self, tx: &PreparedTx) -> Result<TxOutcome> {
        self.apply(tx)
    }

    /// At the finalized block.
    async fn subnet_owners(&self) -> Result<Vec<(u16, Option<AccountId>)>> {
        Ok(self
            .lock()
            .finalized()
            .1
            .iter()
            .map(|(n, s)| (*n, s.snapshot.owner))
            .collect())
    }

    async fn localnet_call(
        &self,
        signer: &crate::keys::signer::Signer,
        call: LocalnetCall,
    ) -> Result<LocalnetOutcome> {
        let nonce = self.account(signer.public()).await?.nonce;
        self.apply_localnet(&crate::chain::sign_localnet(signer, nonce, call))
    }
}

/// Signs a registration for the model.
pub fn prepare(
    signer: &crate::keys::signer::Signer,
    call: RegisterCall,
    nonce: u64,
    era_end: u64,
) -> Result<PreparedTx> {
    let who = signer.public();
    let payload = signing_payload(&who, nonce, era_end, &call);
    Ok(PreparedTx {
        signer: who,
        nonce,
        era_end,
        hash: payload_hash(&payload),
        signature: hex::encode(signer.sign(&payload)),
        call,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::fleet::KeyFormat;
    use crate::keys::Hotkey;
    use crate::keys::signer::Signer;

    const COLD: &str = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

    fn cold() -> Signer {
        Signer::coldkey(
            Hotkey::from_mnemonic(COLD)
                .unwrap_or_else(|e| panic!("{e}"))
                .keyfile_json()
                .as_bytes(),
            b"",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn chain(max_uids: u16) -> (MemoryChain, Signer) {
        let c = cold();
        let g = Genesis {
            fee_rao: 1_000,
            balances: vec![GenesisBalance {
                account: c.ss58(),
                tao: "100".into(),
            }],
            proxies: vec![],
            subnets: vec![GenesisSubnet {
                netuid: 1,
                burn_tao: "1".into(),
                min_burn_tao: "0.0005".into(),
                max_burn_tao: "100".into(),
                burn_half_life: 10,
                tempo: 10,
                max_uids,
                immunity_period: 5,
                registration_allowed: true,
                started: true,
            }],
            localnet: false,
            finality_lag: 0,
        };
        (MemoryChain::new(&g).unwrap_or_else(|e| panic!("{e}")), c)
    }

    fn hotkey() -> AccountId {
        Hotkey::generate()
            .unwrap_or_else(|e| panic!("{e}"))
            .public()
    }

    fn register(c: &MemoryChain, s: &Signer, hk: AccountId, limit: u64) -> TxOutcome {
        let nonce = c
            .lock()
            .accounts
            .get(&key(&s.public()))
            .map(|a| a.nonce)
            .unwrap_or(0);
        let era = c.lock().block + ERA_BLOCKS;
        let tx = prepare(
            s,
            RegisterCall {
                netuid: 1,
                hotkey: hk,
                limit_rao: limit,
                real: None,
                proxy_type: Default::default(),
            },
            nonce,
            era,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        c.apply(&tx).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_registration_is_recorded_at_the_block_that_includes_it() {
        let (c, s) = chain(256);
        let hk = hotkey();
        let o = register(&c, &s, hk, u64::MAX);
        let snap = c.lock().subnets[&1].snapshot.clone();
        // Like `BlockAtRegistration`: the number of the block the extrinsic ran in.
        assert_eq!(o.block, snap.block);
        assert_eq!(snap.neuron(&hk).map(|n| n.registered_at), Some(o.block));
    }

    #[test]
    fn burn_bumps_per_registration_and_decays_per_block() {
        let (c, s) = chain(256);
        let o = register(&c, &s, hotkey(), u64::MAX);
        assert_eq!(o.result, Ok((0, 1_000_000_000)));
        // Bumped by 1.26, then one block of decay (the registration's own block).
        let per_block = 0.5f64.powf(0.1);
        let snap = c.lock().subnets[&1].snapshot.clone();
        let want = (1_260_000_000f64 * per_block).round() as i64;
        assert!(
            (snap.burn as i64 - want).abs() < 2,
            "{} vs {want}",
            snap.burn
        );
        c.advance(10);
        let after = c.lock().subnets[&1].snapshot.burn;
        // Ten more blocks at half-life 10: half, within rounding.
        assert!((after as i64 - want / 2).abs() < 20, "{after}");
    }

    #[test]
    fn price_limit_balance_and_duplicates() {
        let (c, s) = chain(256);
        let hk = hotkey();
        assert_eq!(
            register(&c, &s, hk, 999_999_999).result,
            Err("SubtensorModule.RegistrationPriceLimitExceeded".into())
        );
        assert!(register(&c, &s, hk, u64::MAX).result.is_ok());
        assert_eq!(
            register(&c, &s, hk, u64::MAX).result,
            Err("SubtensorModule.HotKeyAlreadyRegisteredInSubNet".into())
        );
        c.set_balance(s.public(), 2_000_000);
        assert_eq!(
            register(&c, &s, hotkey(), u64::MAX).result,
            Err("SubtensorModule.NotEnoughBalanceToStake".into())
        );
    }

    #[test]
    fn a_nonce_is_included_once_and_resending_returns_the_first_outcome() {
        let (c, s) = chain(256);
        let tx = prepare(
            &s,
            RegisterCall {
                netuid: 1,
                hotkey: hotkey(),
                limit_rao: u64::MAX,
                real: None,
                proxy_type: Default::default(),
            },
            0,
            ERA_BLOCKS,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let first = c.apply(&tx).unwrap_or_else(|e| panic!("{e}"));
        let again = c.apply(&tx).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first, again);
        assert_eq!(c.burns().len(), 1, "paid once");
        // Another transaction with the same nonce is stale.
        let other = prepare(
            &s,
            RegisterCall {
                netuid: 1,
                hotkey: hotkey(),
                limit_rao: u64::MAX,
                real: None,
                proxy_type: Default::default(),
            },
            0,
            ERA_BLOCKS,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(c.apply(&other), Err(ChainError::Invalid(m)) if m.starts_with("Stale")));
        // An expired era is refused.
        c.advance(ERA_BLOCKS + 1);
        let late = prepare(
            &s,
            RegisterCall {
                netuid: 1,
                hotkey: hotkey(),
                limit_rao: u64::MAX,
                real: None,
                proxy_type: Default::default(),
            },
            1,
            ERA_BLOCKS,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(c.apply(&late), Err(ChainError::Invalid(m)) if m.starts_with("Outdated")));
    }

    #[test]
    fn proxies_sign_and_the_real_account_pays() {
        let (c, real) = chain(256);
        let proxy = Signer::proxy(
            KeyFormat::Mnemonic,
            Hotkey::generate()
                .unwrap_or_else(|e| panic!("{e}"))
                .mnemonic()
                .unwrap_or_default()
                .as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        c.set_balance(proxy.public(), 1_000_000);
        let call = |hk| RegisterCall {
            netuid: 1,
            hotkey: hk,
            limit_rao: u64::MAX,
            real: Some(real.public()),
            proxy_type: crate::chain::ProxyType::Registration,
        };
        let tx = prepare(&proxy, call(hotkey()), 0, ERA_BLOCKS).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.apply(&tx).unwrap_or_else(|e| panic!("{e}")).result,
            Err("Proxy.NotProxy".into())
        );
        c.add_proxy(real.public(), proxy.public());
        let before = c.lock().accounts[&key(&real.public())].free;
        let price = c.lock().subnets[&1].snapshot.burn;
        let tx = prepare(&proxy, call(hotkey()), 1, ERA_BLOCKS).unwrap_or_else(|e| panic!("{e}"));
        let o = c.apply(&tx).unwrap_or_else(|e| panic!("{e}"));
        assert!(o.result.is_ok());
        let after = c.lock().accounts[&key(&real.public())].free;
        assert_eq!(before - after, price, "the coldkey paid the burn");
        assert_eq!(c.burns()[0].0, real.public());
    }

    #[test]
    fn stake_earns_a_permit_at_the_next_epoch_and_weights_update_last_update() {
        let (c, s) = chain(256);
        let a = hotkey();
        let b = hotkey();
        assert!(register(&c, &s, a, u64::MAX).result.is_ok());
        assert!(register(&c, &s, b, u64::MAX).result.is_ok());
        c.add_stake(1, a, 1_000);
        let permit = |hk: AccountId| {
            c.lock().subnets[&1]
                .snapshot
                .neuron(&hk)
                .map(|n| n.validator_permit)
        };
        c.advance(10); // tempo 10: an epoch passes
        assert_eq!(permit(a), Some(true));
        assert_eq!(permit(b), Some(false), "no stake, no permit");
        c.advance(3);
        let before = c.lock().block;
        c.set_weights(1, a);
        let last = c.lock().subnets[&1]
            .snapshot
            .neuron(&a)
            .map(|n| n.last_update);
        assert_eq!(last, Some(before));
    }

    #[test]
    fn full_subnets_prune_the_lowest_emission_non_immune_uid() {
        let (c, s) = chain(12);
        let mut hks = vec![];
        for _ in 0..12 {
            let hk = hotkey();
            assert!(register(&c, &s, hk, u64::MAX).result.is_ok());
            hks.push(hk);
        }
        c.advance(6); // all past immunity (5 blocks)
        for (i, hk) in hks.iter().enumerate() {
            c.set_performance(1, *hk, 1000 + i as u64, 0.1);
        }
        c.set_performance(1, hks[7], 1, 0.0);
        let o = register(&c, &s, hotkey(), u64::MAX);
        assert_eq!(o.result.map(|(uid, _)| uid), Ok(7));
        let snap = c.lock().subnets[&1].snapshot.clone();
        assert!(snap.neuron(&hks[7]).is_none(), "uid 7's hotkey was pruned");
    }

    fn call(c: &MemoryChain, s: &Signer, call: LocalnetCall) -> LocalnetOutcome {
        let nonce = c
            .lock()
            .accounts
            .get(&key(&s.public()))
            .map(|a| a.nonce)
            .unwrap_or(0);
        c.apply_localnet(&crate::chain::sign_localnet(s, nonce, call))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_localnet_scaffold_in_the_bring_up_order_works_and_the_freeze_window_bites_first() {
        let c = MemoryChain::new(&Genesis::localnet()).unwrap_or_else(|e| panic!("{e}"));
        let alice = Signer::dev("Alice").unwrap_or_else(|e| panic!("{e}"));
        let bob = Signer::dev("Bob").unwrap_or_else(|e| panic!("{e}"));
        let owner = cold();
        // Netuid 1 exists, owned by the zero account and never started.
        let one = c.lock().subnets[&1].snapshot.clone();
        assert!(!one.started && one.owner == Some([0; 32]));
        // A poor owner cannot lock 1000 TAO.
        let owner_hk = hotkey();
        let o = call(
            &c,
            &alice,
            LocalnetCall::Transfer {
                dest: owner.public(),
                rao: 10_000_000_000,
            },
        );
        assert_eq!(o.result, Ok(None));
        let o = call(
            &c,
            &owner,
            LocalnetCall::RegisterNetwork { hotkey: owner_hk },
        );
        assert_eq!(
            o.result,
            Err("SubtensorModule.NotEnoughBalanceToStake".into())
        );
        call(
            &c,
            &alice,
            LocalnetCall::Transfer {
                dest: owner.public(),
                rao: NETWORK_LOCK_RAO + 10_000_000_000,
            },
        );
        let o = call(
            &c,
            &owner,
            LocalnetCall::RegisterNetwork { hotkey: owner_hk },
        );
        assert_eq!(o.result, Ok(Some(2)));
        let snap = c.lock().subnets[&2].snapshot.clone();
        assert_eq!(
            (snap.owner, snap.tempo, snap.started, snap.commit_reveal),
            (Some(owner.public()), 10, false, true)
        );
        assert_eq!(snap.neuron(&owner_hk).map(|n| n.uid), Some(0));
        // Hyperparameters: only sudo, and only once the admin freeze window is 0 (tempo 10
        // with the default window of 10 is always frozen).
        let off = LocalnetCall::SudoSetHyperparameter {
            netuid: 2,
            param: Hyperparameter::CommitReveal(false),
        };
        assert_eq!(
            call(&c, &bob, off.clone()).result,
            Err("DispatchError.BadOrigin".into())
        );
        assert_eq!(
            call(&c, &alice, off.clone()).result,
            Err("SubtensorModule.AdminActionProhibitedDuringWeightsWindow".into())
        );
        assert_eq!(
            call(&c, &bob, LocalnetCall::SudoSetAdminFreezeWindow(0)).result,
            Err("DispatchError.BadOrigin".into())
        );
        assert_eq!(
            call(&c, &alice, LocalnetCall::SudoSetAdminFreezeWindow(0)).result,
            Ok(None)
        );
        assert_eq!(call(&c, &alice, off).result, Ok(None));
        assert!(!c.lock().subnets[&2].snapshot.commit_reveal);
        let bad_min = LocalnetCall::SudoSetHyperparameter {
            netuid: 2,
            param: Hyperparameter::MinBurn(2_000_000_000),
        };
        assert_eq!(
            call(&c, &alice, bad_min).result,
            Err("AdminUtils.ValueNotInBounds".into())
        );
        // Only the owner starts it, once.
        assert_eq!(
            call(&c, &bob, LocalnetCall::StartCall { netuid: 2 }).result,
            Err("SubtensorModule.NotSubnetOwner".into())
        );
        assert_eq!(
            call(&c, &owner, LocalnetCall::StartCall { netuid: 2 }).result,
            Ok(None)
        );
        assert_eq!(
            call(&c, &owner, LocalnetCall::StartCall { netuid: 2 }).result,
            Err("SubtensorModule.FirstEmissionBlockNumberAlreadySet".into())
        );
        // Stake only from the hotkey's own coldkey.
        let stake = LocalnetCall::AddStake {
            hotkey: owner_hk,
            netuid: 2,
            rao: 1_000_000_000,
        };
        assert_eq!(
            call(&c, &bob, stake.clone()).result,
            Err("SubtensorModule.NonAssociatedColdKey".into())
        );
        assert_eq!(call(&c, &owner, stake).result, Ok(None));
        assert_eq!(
            c.lock().subnets[&2]
                .snapshot
                .neuron(&owner_hk)
                .map(|n| n.stake),
            Some(1_000_000_000)
        );
        assert_eq!(c.localnet_log().len(), 15);
        // A forged signature is refused before anything is charged.
        let mut forged =
            crate::chain::sign_localnet(&bob, 99, LocalnetCall::SudoSetAdminFreezeWindow(5));
        forged.signer = alice.public();
        assert!(c.apply_localnet(&forged).is_err());
    }

    #[test]
    fn a_reset_starts_again_from_genesis_with_a_new_genesis_hash() {
        let c = MemoryChain::new(&Genesis::localnet()).unwrap_or_else(|e| panic!("{e}"));
        let alice = Signer::dev("Alice").unwrap_or_else(|e| panic!("{e}"));
        let before = c.lock().genesis_hash.clone();
        call(
            &c,
            &alice,
            LocalnetCall::RegisterNetwork { hotkey: hotkey() },
        );
        assert!(c.lock().subnets.contains_key(&2));
        c.reset().unwrap_or_else(|e| panic!("{e}"));
        let s = c.lock();
        assert_ne!(s.genesis_hash, before);
        assert_eq!(s.block, 0);
        assert!(!s.subnets.contains_key(&2));
        assert!(s.localnet_log.is_empty());
    }

    fn lagged(lag: u64) -> (MemoryChain, Signer) {
        let (c, s) = chain(256);
        let mut g = c.genesis.clone();
        g.finality_lag = lag;
        (MemoryChain::new(&g).unwrap_or_else(|e| panic!("{e}")), s)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .block_on(f)
    }

    #[test]
    fn with_a_finality_lag_subnets_are_read_at_the_finalized_block_and_accounts_at_the_best() {
        let (c, s) = lagged(3);
        let head = block_on(c.head()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((head.best, head.finalized), (0, 0), "genesis is final");
        let before = block_on(c.account(s.public())).unwrap_or_else(|e| panic!("{e}"));
        let genesis_burn = c.lock().subnets[&1].snapshot.burn;
        let hk = hotkey();
        let o = register(&c, &s, hk, u64::MAX);
        let Ok((uid, paid)) = o.result else {
            panic!("{o:?}")
        };
        // The best block has it: nonce, balance, the transaction.
        let after = block_on(c.account(s.public())).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(after.nonce, before.nonce + 1);
        assert_eq!(after.free, before.free - paid - 1_000);
        assert_eq!(
            block_on(c.find_tx(&o.hash, 0, o.block)).unwrap_or_else(|e| panic!("{e}")),
            Some(o.clone())
        );
        // The finalized block does not, until three more blocks are produced.
        for extra in 0..3u64 {
            let head = block_on(c.head()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(head.best, o.block + extra);
            assert_eq!(head.finalized, head.best.saturating_sub(3));
            let snap = block_on(c.subnet(1))
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("no subnet 1"));
            assert_eq!(snap.block, head.finalized);
            assert!(snap.neuron(&hk).is_none(), "finalized too early at {extra}");
            assert!(snap.neurons.is_empty());
            if head.finalized == 0 {
                assert_eq!(snap.burn, genesis_burn);
            }
            c.advance(1);
        }
        let head = block_on(c.head()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((head.best, head.finalized), (o.block + 3, o.block));
        let snap = block_on(c.subnet(1))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no subnet 1"));
        assert_eq!(snap.block, o.block);
        assert_eq!(snap.neuron(&hk).map(|n| n.uid), Some(uid));
        // The burn there is the one the registration block left, not the best one.
        let best_burn = c.lock().subnets[&1].snapshot.burn;
        assert!(snap.burn > best_burn, "{} vs {best_burn}", snap.burn);
        // Memory stays bounded: the lag's blocks and the finalized one.
        c.advance(100);
        assert_eq!(c.lock().history.len(), 4);
        let head = block_on(c.head()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(head.finalized, head.best - 3);
        // The nonce at the best block is the one to use: a second registration goes in at once.
        assert!(register(&c, &s, hotkey(), u64::MAX).result.is_ok());
        let log = c.tx_log();
        assert_eq!(log.len(), 2);
        assert!(log.iter().all(|t| t.included && t.error.is_none()));
        assert_eq!(log.iter().map(|t| t.nonce).collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn with_a_finality_lag_a_new_subnet_is_listed_once_finalized_and_reset_and_export_keep_the_lag()
    {
        let mut g = Genesis::localnet();
        g.finality_lag = 2;
        let c = MemoryChain::new(&g).unwrap_or_else(|e| panic!("{e}"));
        let alice = Signer::dev("Alice").unwrap_or_else(|e| panic!("{e}"));
        let owners = |c: &MemoryChain| {
            block_on(c.subnet_owners())
                .unwrap_or_else(|e| panic!("{e}"))
                .into_iter()
                .map(|(n, _)| n)
                .collect::<Vec<_>>()
        };
        let o = call(
            &c,
            &alice,
            LocalnetCall::RegisterNetwork { hotkey: hotkey() },
        );
        assert_eq!(o.result, Ok(Some(2)));
        assert_eq!(owners(&c), vec![1], "not finalized yet");
        assert!(
            block_on(c.subnet(2))
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none()
        );
        c.advance(2);
        assert_eq!(owners(&c), vec![1, 2]);
        // Exported and imported: the same view, the same lag.
        let copy = MemoryChain::import(c.export());
        assert_eq!(copy.finality_lag(), 2);
        assert_eq!(
            block_on(copy.head()).unwrap_or_else(|e| panic!("{e}")),
            block_on(c.head()).unwrap_or_else(|e| panic!("{e}"))
        );
        assert_eq!(owners(&copy), vec![1, 2]);
        copy.advance(1);
        assert_eq!(
            block_on(copy.head())
                .unwrap_or_else(|e| panic!("{e}"))
                .finalized,
            2
        );
        // A reset forgets the kept blocks: genesis again, still lagging.
        c.reset().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.lock().history.len(), 1);
        assert_eq!(owners(&c), vec![1]);
        call(
            &c,
            &alice,
            LocalnetCall::RegisterNetwork { hotkey: hotkey() },
        );
        assert_eq!(owners(&c), vec![1]);
        assert_eq!(c.finality_lag(), 2);
        // A refused transaction is logged, not included.
        let stale =
            crate::chain::sign_localnet(&alice, 0, LocalnetCall::SudoSetAdminFreezeWindow(0));
        assert!(c.apply_localnet(&stale).is_err());
        let log = c.tx_log();
        let last = log.last().unwrap_or_else(|| panic!("empty log"));
        assert!(!last.included && last.error.as_deref().is_some_and(|e| e.contains("Stale")));
        assert_eq!(last.call, "sudoSetAdminFreezeWindow");
    }

    #[test]
    fn without_a_lag_the_finalized_block_is_the_best() {
        let (c, s) = chain(256);
        let hk = hotkey();
        let o = register(&c, &s, hk, u64::MAX);
        let head = block_on(c.head()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((head.best, head.finalized), (o.block, o.block));
        let snap = block_on(c.subnet(1))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no subnet 1"));
        assert_eq!(snap.block, o.block);
        assert!(snap.neuron(&hk).is_some());
        assert!(c.lock().history.is_empty());
        // An admin change between blocks is seen at once.
        c.set_performance(1, hk, 7, 0.5);
        let snap = block_on(c.subnet(1))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no subnet 1"));
        assert_eq!(snap.neuron(&hk).map(|n| n.emission), Some(7));
    }
}
