//! An in-memory model of subtensor's registration rules, for tests and the simulation server.
//! **It is a simulation**, not a chain: the operator says so loudly when it runs against it.
//!
//! What it models (from subtensor's `registration.rs`, `uids.rs`, the proxy filter): the burn
//! decaying every block (halving every `BurnHalfLife` blocks) and bumped by 1.26 per
//! registration, clamped to `[MinBurn, MaxBurn]`; `register_limit`'s price limit; balances,
//! fees and the existential deposit; UID slots, immunity and pruning of the lowest-emission UID;
//! `Registration` proxies paying from the real account; nonces (one inclusion per nonce, a
//! re-sent transaction returns its first outcome) and mortal eras; sr25519 signatures; the
//! error names of CHAIN.md §2.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{
    AccountId, AccountInfo, Chain, ChainError, ChainHead, Neuron, PreparedTx, RegisterCall, Result,
    SubnetSnapshot, TxOutcome, payload_hash, signing_payload,
};
use crate::crd::common::tao_to_rao;
use crate::keys::{ss58_decode, verify};

/// Existential deposit in rao.
pub const EXISTENTIAL_DEPOSIT: u64 = 500;
/// Blocks a prepared transaction stays valid.
pub const ERA_BLOCKS: u64 = 32;
/// Non-immune UIDs a subnet keeps before it prunes immune ones.
pub const MIN_NON_IMMUNE_UIDS: usize = 10;

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
}

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
}

/// The in-memory chain.
pub struct MemoryChain {
    state: Mutex<State>,
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
        let mut accounts = BTreeMap::new();
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
        let mut subnets = BTreeMap::new();
        for s in &genesis.subnets {
            subnets.insert(
                s.netuid,
                SubnetState {
                    snapshot: SubnetSnapshot {
                        netuid: s.netuid,
                        block: 0,
                        burn: parse_tao(&s.burn_tao, "burnTao")?,
                        min_burn: parse_tao(&s.min_burn_tao, "minBurnTao")?,
                        max_burn: parse_tao(&s.max_burn_tao, "maxBurnTao")?,
                        burn_half_life: s.burn_half_life.max(1),
                        tempo: s.tempo,
                        max_uids: s.max_uids,
                        immunity_period: s.immunity_period,
                        registration_allowed: s.registration_allowed,
                        started: s.started,
                        owner: None,
                        neurons: vec![],
                    },
                },
            );
        }
        let seed = serde_json::to_vec(&(&accounts, &proxies, &subnets.keys().collect::<Vec<_>>()))
            .unwrap_or_default();
        Ok(Self {
            state: Mutex::new(State {
                block: 0,
                genesis_hash: payload_hash(&seed),
                fee: genesis.fee_rao,
                accounts,
                proxies,
                subnets,
                txs: BTreeMap::new(),
                burns: vec![],
            }),
        })
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

    /// Sets a neuron's emission and incentive (what an epoch would do).
    pub fn set_performance(&self, netuid: u16, hotkey: AccountId, emission: u64, incentive: f64) {
        let mut s = self.lock();
        if let Some(n) = s
            .subnets
            .get_mut(&netuid)
            .and_then(|sub| sub.snapshot.neurons.iter_mut().find(|n| n.hotkey == hotkey))
        {
            n.emission = emission;
            n.incentive = incentive;
        }
    }

    /// The neuron of `hotkey` sets weights now (`LastUpdate` becomes this block), in a new block.
    pub fn set_weights(&self, netuid: u16, hotkey: AccountId) {
        let mut s = self.lock();
        let block = s.block;
        if let Some(n) = s
            .subnets
            .get_mut(&netuid)
            .and_then(|sub| sub.snapshot.neurons.iter_mut().find(|n| n.hotkey == hotkey))
        {
            n.last_update = block;
        }
        produce_block(&mut s);
    }

    /// Adds stake to `hotkey` on `netuid` (`add_stake`), in a new block. Permits follow at the
    /// next epoch.
    pub fn add_stake(&self, netuid: u16, hotkey: AccountId, rao: u64) {
        let mut s = self.lock();
        if let Some(n) = s
            .subnets
            .get_mut(&netuid)
            .and_then(|sub| sub.snapshot.neurons.iter_mut().find(|n| n.hotkey == hotkey))
        {
            n.stake = n.stake.saturating_add(rao);
        }
        produce_block(&mut s);
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

    /// Burns paid so far, per payer.
    pub fn burns(&self) -> Vec<(AccountId, u64)> {
        self.lock().burns.clone()
    }

    /// The whole state (for the simulation server's persistence).
    pub fn export(&self) -> State {
        self.lock().clone()
    }

    /// A chain from an exported state.
    pub fn import(state: State) -> Self {
        Self {
            state: Mutex::new(state),
        }
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
        let sig: [u8; 64] = hex::decode(&tx.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| ChainError::Invalid("BadProof".into()))?;
        if !verify(&tx.signer, &payload, &sig) {
            return Err(ChainError::Invalid("BadProof: bad signature".into()));
        }
        if s.block > tx.era_end {
            return Err(ChainError::Invalid("Outdated: the era has ended".into()));
        }
        let fee = s.fee;
        let signer_key = key(&tx.signer);
        let acct = s.accounts.get(&signer_key).copied().unwrap_or_default();
        if tx.nonce < acct.nonce {
            return Err(ChainError::Invalid("Stale: nonce already used".into()));
        }
        if tx.nonce > acct.nonce {
            return Err(ChainError::Invalid("Future: nonce not yet valid".into()));
        }
        if acct.free < fee + EXISTENTIAL_DEPOSIT {
            return Err(ChainError::Invalid("Payment: cannot pay the fee".into()));
        }
        {
            let a = s.accounts.entry(signer_key).or_default();
            a.nonce += 1;
            a.free -= fee;
        }
        let payer = match tx.call.real {
            Some(real) => {
                if !s.proxies.contains(&(real, tx.signer)) {
                    produce_block(&mut s);
                    let outcome = TxOutcome {
                        block: s.block,
                        hash: tx.hash.clone(),
                        result: Err("Proxy.NotProxy".into()),
                    };
                    s.txs.insert(tx.hash.clone(), outcome.clone());
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
        let outcome = TxOutcome {
            block: s.block,
            hash: tx.hash.clone(),
            result,
        };
        s.txs.insert(tx.hash.clone(), outcome.clone());
        Ok(outcome)
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
        let factor = 0.5f64.powf(1.0 / f64::from(snap.burn_half_life));
        let decayed = (snap.burn as f64 * factor).round() as u64;
        snap.burn = decayed.clamp(snap.min_burn, snap.max_burn);
        snap.block = block;
    }
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
    let block = s.block;
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
    snap.neurons.push(Neuron {
        uid,
        hotkey,
        coldkey: payer,
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
    });
    snap.neurons.sort_by_key(|n| n.uid);
    snap.burn = ((burn as f64) * 1.26)
        .round()
        .clamp(snap.min_burn as f64, snap.max_burn as f64) as u64;
    Ok((uid, burn))
}

/// The UID a full subnet prunes: the lowest emission among non-immune UIDs when more than
/// [`MIN_NON_IMMUNE_UIDS`] are non-immune, else among the immune ones; ties go to the older
/// registration, then the lower UID.
fn prune_candidate(snap: &SubnetSnapshot, block: u64) -> Option<u16> {
    let immune =
        |n: &Neuron| block.saturating_sub(n.registered_at) < u64::from(snap.immunity_period);
    let (non_immune, immune_ones): (Vec<&Neuron>, Vec<&Neuron>) =
        snap.neurons.iter().partition(|n| !immune(n));
    let pool = if non_immune.len() > MIN_NON_IMMUNE_UIDS {
        non_immune
    } else {
        immune_ones
    };
    pool.into_iter()
        .min_by(|a, b| {
            a.emission
                .cmp(&b.emission)
                .then(a.registered_at.cmp(&b.registered_at))
                .then(a.uid.cmp(&b.uid))
        })
        .map(|n| n.uid)
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
            finalized: s.block,
            genesis_hash: s.genesis_hash.clone(),
            spec_version: 0,
        })
    }

    async fn subnet(&self, netuid: u16) -> Result<Option<SubnetSnapshot>> {
        let s = self.lock();
        Ok(s.subnets.get(&netuid).map(|x| {
            let mut snap = x.snapshot.clone();
            snap.block = s.block;
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

    async fn is_registration_proxy(&self, real: AccountId, delegate: AccountId) -> Result<bool> {
        Ok(self.lock().proxies.contains(&(real, delegate)))
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
            },
            nonce,
            era,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        c.apply(&tx).unwrap_or_else(|e| panic!("{e}"))
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
}
