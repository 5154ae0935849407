//! The two halves of a chain as controllers see it: a [`ChainReader`] that can only read, and
//! the one [`ChainWriter`]. Both count every call and its outcome in the metrics, so no call
//! site does it by hand (and none is missed).
//!
//! Writing takes the signer's [`Turn`]: one transaction at a time per signing account, held
//! around reading the nonce, signing and submitting, whatever the transaction (a registration,
//! a self-stake, a scaffold call). Two transactions of one account built at once would take
//! the same nonce, and one of them would never land (a Validator's self-stake and a Miner's
//! registration signed by the same coldkey did exactly that on the real runtime). The write
//! methods exist only on a `Turn`, so a write without it does not compile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::{
    AccountId, AccountInfo, ChainHead, LocalnetCall, LocalnetOutcome, PreparedTx, ProxyCheck,
    RegisterCall, Result, SharedChain, SubnetSnapshot, TxOutcome,
};
use crate::keys::signer::Signer;
use crate::metrics::Metrics;

/// Counts every call to one chain (`chain` label) with its outcome and latency, so no call
/// site does it by hand.
#[derive(Clone)]
struct Meter {
    metrics: Metrics,
    chain: Arc<str>,
}

impl Meter {
    async fn count<T>(&self, method: &str, call: impl Future<Output = Result<T>>) -> Result<T> {
        let started = std::time::Instant::now();
        let r = call.await;
        self.metrics
            .chain_call(&self.chain, method, started.elapsed(), r.is_err());
        r
    }
}

/// Whether a chain may be written to. A chain whose network has a known genesis (`finney`,
/// `test`) is written only after its genesis was read and matched: a wrong endpoint must never
/// receive a burn.
#[derive(Debug)]
pub struct Gate {
    pinned: bool,
    verified: AtomicBool,
}

impl Gate {
    /// A gate for a chain that is pinned to a genesis (closed until verified) or not (open).
    pub fn new(pinned: bool) -> Self {
        Self {
            pinned,
            verified: AtomicBool::new(false),
        }
    }

    /// Records whether the chain answered with its network's genesis.
    pub fn verified(&self, ok: bool) {
        self.verified.store(ok, Ordering::Relaxed);
    }

    /// Whether writes may go to the chain.
    pub fn open(&self) -> bool {
        !self.pinned || self.verified.load(Ordering::Relaxed)
    }
}

/// The read half of a chain. Every read is counted (`chain_calls_total{chain,method}`).
#[derive(Clone)]
pub struct ChainReader {
    chain: SharedChain,
    meter: Meter,
}

impl ChainReader {
    /// A reader of `chain`, named `label` in metrics.
    pub fn new(chain: SharedChain, metrics: Metrics, label: &str) -> Self {
        Self {
            chain,
            meter: Meter {
                metrics,
                chain: label.into(),
            },
        }
    }

    /// Where the chain is (for status and logs).
    pub fn describe(&self) -> String {
        self.chain.describe()
    }

    /// The endpoint connected now, if any.
    pub fn endpoint(&self) -> Option<String> {
        self.chain.endpoint()
    }

    /// The head.
    pub async fn head(&self) -> Result<ChainHead> {
        self.meter.count("head", self.chain.head()).await
    }

    /// New best blocks as the chain announces them, or `None` when it must be polled.
    pub async fn new_heads(&self) -> Result<Option<super::HeadStream>> {
        self.meter.count("new_heads", self.chain.new_heads()).await
    }

    /// One subnet at the finalized block.
    pub async fn subnet(&self, netuid: u16) -> Result<Option<SubnetSnapshot>> {
        self.meter.count("subnet", self.chain.subnet(netuid)).await
    }

    /// An account's balance and nonce at the best block.
    pub async fn account(&self, who: AccountId) -> Result<AccountInfo> {
        self.meter.count("account", self.chain.account(who)).await
    }

    /// Whether `delegate` may register for `real`.
    pub async fn registration_proxy(
        &self,
        real: AccountId,
        delegate: AccountId,
    ) -> Result<ProxyCheck> {
        let call = self.chain.registration_proxy(real, delegate);
        self.meter.count("proxy", call).await
    }

    /// A transaction's outcome, if it was included in blocks `from..=to`.
    pub async fn find_tx(&self, hash: &str, from: u64, to: u64) -> Result<Option<TxOutcome>> {
        let call = self.chain.find_tx(hash, from, to);
        self.meter.count("find_tx", call).await
    }

    /// Every subnet and its owner.
    pub async fn subnet_owners(&self) -> Result<Vec<(u16, Option<AccountId>)>> {
        let call = self.chain.subnet_owners();
        self.meter.count("subnet_owners", call).await
    }

    /// Whether the runtime has what `call` needs.
    pub async fn supports(&self, call: &LocalnetCall) -> Result<bool> {
        self.meter
            .count("supports", self.chain.supports(call))
            .await
    }
}

/// The one writer of a chain: the signers' turns, and the only code that submits.
pub struct ChainWriter {
    chain: SharedChain,
    meter: Meter,
    gate: Arc<Gate>,
    turns: Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<()>>>>,
}

impl ChainWriter {
    /// The writer of `chain`, named `label` in metrics, sending only while `gate` is open.
    pub fn new(chain: SharedChain, metrics: Metrics, label: &str, gate: Arc<Gate>) -> Self {
        Self {
            chain,
            meter: Meter {
                metrics,
                chain: label.into(),
            },
            gate,
            turns: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for `signer`'s turn: until it is dropped, no other transaction of that account is
    /// built or sent through this writer.
    pub async fn turn<'a>(&'a self, signer: &'a Signer) -> Turn<'a> {
        let lock = {
            let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
            turns.entry(signer.public()).or_default().clone()
        };
        Turn {
            writer: self,
            signer,
            _held: lock.lock_owned().await,
        }
    }

    /// Refuses to send while the gate is closed (the chain is not known to be the network's).
    fn gated(&self) -> Result<()> {
        if self.gate.open() {
            Ok(())
        } else {
            Err(super::ChainError::WrongNetwork(
                "the chain has not answered with its network's genesis: nothing is sent".into(),
            ))
        }
    }
}

/// A signer's turn to write (see [`ChainWriter::turn`]).
pub struct Turn<'a> {
    writer: &'a ChainWriter,
    signer: &'a Signer,
    _held: tokio::sync::OwnedMutexGuard<()>,
}

/// The outcome label of a dispatch result: `ok`, or the error's last name (`TooManyRegistrations`
/// of `SubtensorModule.TooManyRegistrations`).
fn outcome_label(result: &std::result::Result<impl Sized, super::DispatchError>) -> String {
    match result {
        Ok(_) => "ok".to_string(),
        Err(e) => e.name().to_string(),
    }
}

impl Turn<'_> {
    /// Builds and signs a registration with `nonce` (and the era ending at `era_end`, to build
    /// a crash-resumed intent again byte for byte). Nothing is sent.
    pub async fn prepare_register(
        &self,
        call: RegisterCall,
        nonce: u64,
        era_end: Option<u64>,
    ) -> Result<PreparedTx> {
        let w = self.writer;
        w.gated()?;
        let r = w.chain.prepare_register(self.signer, call, nonce, era_end);
        w.meter.count("prepare", r).await
    }

    /// Submits a prepared registration and waits for its inclusion
    /// (`extrinsics_total{call="register_limit"}`, whichever call the runtime has).
    pub async fn submit(&self, tx: &PreparedTx) -> Result<TxOutcome> {
        let w = self.writer;
        w.gated()?;
        let r = w.meter.count("submit", w.chain.submit(tx)).await;
        w.meter.metrics.extrinsic(
            "register_limit",
            &match &r {
                Ok(o) => outcome_label(&o.result),
                Err(e) => e.name(),
            },
        );
        r
    }

    /// Signs, submits and waits for a localnet call (`extrinsics_total{call="add_stake"}` for
    /// a stake, `{call="localnet"}` for the scaffold's calls).
    pub async fn localnet_call(&self, call: LocalnetCall) -> Result<LocalnetOutcome> {
        let w = self.writer;
        let label = match call {
            LocalnetCall::AddStake { .. } => "add_stake",
            _ => "localnet",
        };
        w.gated()?;
        let r = w.chain.localnet_call(self.signer, call);
        let r = w.meter.count("localnet_call", r).await;
        w.meter.metrics.extrinsic(
            label,
            &match &r {
                Ok(o) => outcome_label(&o.result),
                Err(e) => e.name(),
            },
        );
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Chain;
    use crate::chain::memory::{Genesis, GenesisBalance, GenesisSubnet, MemoryChain};
    use crate::keys::Hotkey;

    /// The model, yielding to other tasks before each call as a remote chain does while a
    /// request is out: what lets two transactions of one account interleave.
    struct Yielding(Arc<MemoryChain>);

    #[async_trait::async_trait]
    impl Chain for Yielding {
        fn describe(&self) -> String {
            self.0.describe()
        }
        async fn head(&self) -> Result<ChainHead> {
            tokio::task::yield_now().await;
            self.0.head().await
        }
        async fn subnet(&self, netuid: u16) -> Result<Option<SubnetSnapshot>> {
            tokio::task::yield_now().await;
            self.0.subnet(netuid).await
        }
        async fn account(&self, who: AccountId) -> Result<AccountInfo> {
            tokio::task::yield_now().await;
            self.0.account(who).await
        }
        async fn registration_proxy(
            &self,
            real: AccountId,
            delegate: AccountId,
        ) -> Result<ProxyCheck> {
            self.0.registration_proxy(real, delegate).await
        }
        async fn find_tx(&self, hash: &str, from: u64, to: u64) -> Result<Option<TxOutcome>> {
            self.0.find_tx(hash, from, to).await
        }
        async fn prepare_register(
            &self,
            signer: &Signer,
            call: RegisterCall,
            nonce: u64,
            era_end: Option<u64>,
        ) -> Result<PreparedTx> {
            tokio::task::yield_now().await;
            self.0.prepare_register(signer, call, nonce, era_end).await
        }
        async fn submit(&self, tx: &PreparedTx) -> Result<TxOutcome> {
            tokio::task::yield_now().await;
            self.0.submit(tx).await
        }
        async fn subnet_owners(&self) -> Result<Vec<(u16, Option<AccountId>)>> {
            self.0.subnet_owners().await
        }
        async fn localnet_call(
            &self,
            signer: &Signer,
            call: LocalnetCall,
        ) -> Result<LocalnetOutcome> {
            tokio::task::yield_now().await;
            self.0.localnet_call(signer, call).await
        }
    }

    /// One coldkey stakes and registers at once, through one writer: each takes its turn, both
    /// land, and no nonce is used twice. Without the turn both read nonce 0.
    #[tokio::test]
    async fn a_stake_and_a_registration_of_one_coldkey_take_turns() {
        let cold = Arc::new(Signer::owned(
            Hotkey::generate().unwrap_or_else(|e| panic!("{e}")),
        ));
        let validator = Hotkey::generate().unwrap_or_else(|e| panic!("{e}"));
        let miner = Hotkey::generate().unwrap_or_else(|e| panic!("{e}"));
        let g = Genesis {
            balances: vec![GenesisBalance {
                account: cold.ss58(),
                tao: "1000".into(),
            }],
            subnets: vec![
                serde_yaml::from_str::<GenesisSubnet>("{netuid: 1, burnTao: '1'}")
                    .unwrap_or_else(|e| panic!("{e}")),
            ],
            // Best runs ahead of finalized: a nonce read at the finalized block would repeat.
            finality_lag: 3,
            ..Default::default()
        };
        let mem = Arc::new(MemoryChain::new(&g).unwrap_or_else(|e| panic!("{e}")));
        let chain: SharedChain = Arc::new(Yielding(mem.clone()));
        let metrics = Metrics::new();
        let gate = Arc::new(Gate::new(false));
        let writer = Arc::new(ChainWriter::new(chain.clone(), metrics.clone(), "m", gate));
        let reader = ChainReader::new(chain, metrics.clone(), "m");
        // The validator is registered first (its stake needs a UID).
        let register = |hotkey: AccountId| RegisterCall {
            netuid: 1,
            hotkey,
            limit_rao: 2_000_000_000,
            real: None,
            proxy_type: crate::chain::ProxyType::Registration,
        };
        {
            let turn = writer.turn(&cold).await;
            let nonce = reader.account(cold.public()).await.map(|a| a.nonce);
            let tx = turn
                .prepare_register(register(validator.public()), nonce.unwrap_or(0), None)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let o = turn.submit(&tx).await.unwrap_or_else(|e| panic!("{e}"));
            assert!(o.result.is_ok(), "{o:?}");
        }
        let stake = {
            let (writer, cold) = (writer.clone(), cold.clone());
            let hotkey = validator.public();
            tokio::spawn(async move {
                let turn = writer.turn(&cold).await;
                turn.localnet_call(LocalnetCall::AddStake {
                    hotkey,
                    netuid: 1,
                    rao: 10_000_000_000,
                })
                .await
            })
        };
        let registration = {
            let (writer, reader, cold) = (writer.clone(), reader.clone(), cold.clone());
            let call = register(miner.public());
            tokio::spawn(async move {
                let turn = writer.turn(&cold).await;
                let nonce = reader.account(cold.public()).await?.nonce;
                let tx = turn.prepare_register(call, nonce, None).await?;
                turn.submit(&tx).await
            })
        };
        let staked = stake.await.unwrap_or_else(|e| panic!("{e}"));
        let registered = registration.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(staked.is_ok_and(|o| o.result.is_ok()), "the stake landed");
        assert!(
            registered.is_ok_and(|o| o.result.is_ok()),
            "the registration landed"
        );
        let log = mem.tx_log();
        assert!(
            log.iter().all(|t| t.included && t.error.is_none()),
            "{log:?}"
        );
        let nonces: Vec<u64> = log.iter().map(|t| t.nonce).collect();
        assert_eq!(nonces, vec![0, 1, 2], "each nonce used once: {log:?}");
        let text = metrics.encode().unwrap_or_default();
        assert!(
            text.contains(r#"subnet_operator_extrinsics_total{call="add_stake",result="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"subnet_operator_extrinsics_total{call="register_limit",result="ok"} 2"#
            ),
            "{text}"
        );
    }
}
