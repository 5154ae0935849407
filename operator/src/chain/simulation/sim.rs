//! The simulation server: the in-memory chain model ([`super::memory`]) behind a small HTTP/JSON
//! API, producing blocks on a timer, so that the operator (as a separate process that tests may
//! kill at any moment) and the tests (which drive the chain) share one chain. **A simulation**:
//! the operator logs that loudly when it uses one.
//!
//! [`SimChain`] is the operator's client for it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::memory::{ERA_BLOCKS, MemoryChain, prepare};
use crate::chain::{
    AccountId, AccountInfo, Chain, ChainError, ChainHead, LocalnetCall, LocalnetOutcome,
    PreparedTx, RegisterCall, Result, SignedLocalnetCall, SubnetSnapshot, TxOutcome,
};

/// An admin request: produce blocks.
#[derive(Serialize, Deserialize)]
pub struct Advance {
    /// Blocks to produce.
    pub blocks: u64,
}

/// An admin request: set a balance.
#[derive(Serialize, Deserialize)]
pub struct SetBalance {
    /// Account (hex public key).
    pub account: String,
    /// Free balance in rao.
    pub rao: u64,
}

/// An admin request: add a Registration proxy.
#[derive(Serialize, Deserialize)]
pub struct AddProxy {
    /// The paying account (hex).
    pub real: String,
    /// The proxy (hex).
    pub delegate: String,
}

/// An admin request: set a neuron's performance.
#[derive(Serialize, Deserialize)]
pub struct SetPerformance {
    /// Netuid.
    pub netuid: u16,
    /// Hotkey (hex).
    pub hotkey: String,
    /// Emission in rao.
    pub emission: u64,
    /// Incentive.
    pub incentive: f64,
}

/// An admin request about one neuron: set weights now, or add stake.
#[derive(Serialize, Deserialize)]
pub struct NeuronAction {
    /// Netuid.
    pub netuid: u16,
    /// Hotkey (hex).
    pub hotkey: String,
    /// Stake to add in rao (for `/admin/stake`).
    #[serde(default)]
    pub rao: u64,
}

/// An admin request: a neuron serves its axon.
#[derive(Serialize, Deserialize)]
pub struct ServeAxon {
    /// Netuid.
    pub netuid: u16,
    /// Hotkey (hex).
    pub hotkey: String,
    /// IP address.
    pub ip: String,
    /// Port.
    pub port: u16,
}

/// An admin request: someone else registers a hotkey.
#[derive(Serialize, Deserialize)]
pub struct RegisterOther {
    /// Netuid.
    pub netuid: u16,
    /// Hotkey (hex).
    pub hotkey: String,
    /// Paying coldkey (hex).
    pub coldkey: String,
}

fn account(s: &str) -> std::result::Result<AccountId, String> {
    hex::decode(s.trim_start_matches("0x"))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("not a 32-byte hex account: {s}"))
}

type Shared = Arc<MemoryChain>;
type ApiResult<T> = Json<std::result::Result<T, ChainError>>;

/// The server's routes over `chain`.
pub fn router(chain: Shared) -> Router {
    Router::new()
        .route("/chain/head", get(head))
        .route("/chain/subnet/{netuid}", get(subnet))
        .route("/chain/account/{who}", get(account_info))
        .route("/chain/proxy/{real}/{delegate}", get(proxy))
        .route("/chain/tx/{hash}", get(find_tx))
        .route("/chain/submit", post(submit))
        .route("/admin/advance", post(advance))
        .route("/admin/balance", post(set_balance))
        .route("/admin/proxy", post(add_proxy))
        .route("/admin/performance", post(set_performance))
        .route("/admin/register-other", post(register_other))
        .route("/admin/weights", post(set_weights))
        .route("/admin/axon", post(serve_axon))
        .route("/admin/stake", post(add_stake))
        .route("/admin/burns", get(burns))
        .route("/admin/txs", get(txs))
        .route("/chain/subnets", get(subnet_owners))
        .route("/chain/localnet", post(localnet))
        .route("/admin/reset", post(reset))
        .route("/admin/localnet-calls", get(localnet_calls))
        .with_state(chain)
}

async fn head(State(c): State<Shared>) -> ApiResult<ChainHead> {
    Json(c.head().await)
}
async fn subnet(
    State(c): State<Shared>,
    Path(netuid): Path<u16>,
) -> ApiResult<Option<SubnetSnapshot>> {
    Json(c.subnet(netuid).await)
}
async fn account_info(State(c): State<Shared>, Path(who): Path<String>) -> ApiResult<AccountInfo> {
    match account(&who) {
        Ok(a) => Json(c.account(a).await),
        Err(e) => Json(Err(ChainError::Other(e))),
    }
}
async fn proxy(
    State(c): State<Shared>,
    Path((real, delegate)): Path<(String, String)>,
) -> ApiResult<crate::chain::ProxyCheck> {
    match (account(&real), account(&delegate)) {
        (Ok(r), Ok(d)) => Json(c.registration_proxy(r, d).await),
        (Err(e), _) | (_, Err(e)) => Json(Err(ChainError::Other(e))),
    }
}
async fn find_tx(
    State(c): State<Shared>,
    Path(hash): Path<String>,
) -> ApiResult<Option<TxOutcome>> {
    Json(Ok(c.outcome(&hash)))
}
async fn submit(State(c): State<Shared>, Json(tx): Json<PreparedTx>) -> ApiResult<TxOutcome> {
    Json(c.apply(&tx))
}
async fn advance(State(c): State<Shared>, Json(a): Json<Advance>) -> ApiResult<()> {
    c.advance(a.blocks);
    Json(Ok(()))
}
async fn set_balance(State(c): State<Shared>, Json(b): Json<SetBalance>) -> ApiResult<()> {
    match account(&b.account) {
        Ok(a) => {
            c.set_balance(a, b.rao);
            Json(Ok(()))
        }
        Err(e) => Json(Err(ChainError::Other(e))),
    }
}
async fn add_proxy(State(c): State<Shared>, Json(p): Json<AddProxy>) -> ApiResult<()> {
    match (account(&p.real), account(&p.delegate)) {
        (Ok(r), Ok(d)) => {
            c.add_proxy(r, d);
            Json(Ok(()))
        }
        (Err(e), _) | (_, Err(e)) => Json(Err(ChainError::Other(e))),
    }
}
async fn set_performance(State(c): State<Shared>, Json(p): Json<SetPerformance>) -> ApiResult<()> {
    match account(&p.hotkey) {
        Ok(h) => {
            c.set_performance(p.netuid, h, p.emission, p.incentive);
            Json(Ok(()))
        }
        Err(e) => Json(Err(ChainError::Other(e))),
    }
}
async fn set_weights(State(c): State<Shared>, Json(a): Json<NeuronAction>) -> ApiResult<()> {
    match account(&a.hotkey) {
        Ok(h) => {
            c.set_weights(a.netuid, h);
            Json(Ok(()))
        }
        Err(e) => Json(Err(ChainError::Other(e))),
    }
}
async fn serve_axon(State(c): State<Shared>, Json(a): Json<ServeAxon>) -> ApiResult<()> {
    match account(&a.hotkey) {
        Ok(h) => {
            c.serve_axon(
                a.netuid,
                h,
                crate::chain::Axon {
                    ip: a.ip,
                    port: a.port,
                },
            );
            Json(Ok(()))
        }
        Err(e) => Json(Err(ChainError::Other(e))),
    }
}
async fn add_stake(State(c): State<Shared>, Json(a): Json<NeuronAction>) -> ApiResult<()> {
    match account(&a.hotkey) {
        Ok(h) => {
            c.add_stake(a.netuid, h, a.rao);
            Json(Ok(()))
        }
        Err(e) => Json(Err(ChainError::Other(e))),
    }
}
async fn register_other(
    State(c): State<Shared>,
    Json(r): Json<RegisterOther>,
) -> ApiResult<std::result::Result<(u16, u64), String>> {
    match (account(&r.hotkey), account(&r.coldkey)) {
        (Ok(h), Ok(k)) => Json(Ok(c.register_other(r.netuid, h, k))),
        (Err(e), _) | (_, Err(e)) => Json(Err(ChainError::Other(e))),
    }
}
async fn burns(State(c): State<Shared>) -> ApiResult<Vec<(String, u64)>> {
    Json(Ok(c
        .burns()
        .into_iter()
        .map(|(a, b)| (hex::encode(a), b))
        .collect()))
}

/// One transaction the chain received with a valid signature, as `/admin/txs` lists them
/// (accounts in hex).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct TxLogEntry {
    /// Block it was included in (for a refused one: the best block then).
    pub block: u64,
    /// Its hash.
    pub hash: String,
    /// Signer (hex).
    pub signer: String,
    /// The nonce it carried.
    pub nonce: u64,
    /// `register_limit`, `proxy(register_limit)` or a localnet call's name.
    pub call: String,
    /// The hotkey a registration names (hex).
    pub hotkey: Option<String>,
    /// Included (nonce used, fee paid); false: refused before inclusion.
    pub included: bool,
    /// The dispatch error, or why it was refused; `None` on success.
    pub error: Option<String>,
}
async fn txs(State(c): State<Shared>) -> ApiResult<Vec<TxLogEntry>> {
    Json(Ok(c
        .tx_log()
        .into_iter()
        .map(|t| TxLogEntry {
            block: t.block,
            hash: t.hash,
            signer: hex::encode(t.signer),
            nonce: t.nonce,
            call: t.call,
            hotkey: t.hotkey.map(hex::encode),
            included: t.included,
            error: t.error,
        })
        .collect()))
}

async fn subnet_owners(State(c): State<Shared>) -> ApiResult<Vec<(u16, Option<AccountId>)>> {
    Json(c.subnet_owners().await)
}
async fn localnet(
    State(c): State<Shared>,
    Json(tx): Json<SignedLocalnetCall>,
) -> ApiResult<LocalnetOutcome> {
    Json(c.apply_localnet(&tx))
}
async fn reset(State(c): State<Shared>) -> ApiResult<()> {
    tracing::warn!("SIMULATED chain reset to genesis (as when a localnet pod restarts)");
    Json(c.reset())
}
/// One dispatched localnet call, as `/admin/localnet-calls` lists them.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct LocalnetLogEntry {
    /// The call.
    pub call: LocalnetCall,
    /// Block it landed in.
    pub block: u64,
    /// `Ok(netuid created)` or the error name.
    pub result: std::result::Result<Option<u16>, String>,
}
async fn localnet_calls(State(c): State<Shared>) -> ApiResult<Vec<LocalnetLogEntry>> {
    Json(Ok(c
        .localnet_log()
        .into_iter()
        .map(|(call, block, result)| LocalnetLogEntry {
            call,
            block,
            result,
        })
        .collect()))
}

/// Serves `chain` on `addr`, producing a block every `block_time` (none when zero).
pub async fn serve(chain: Shared, addr: SocketAddr, block_time: Duration) -> std::io::Result<()> {
    if !block_time.is_zero() {
        let c = chain.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(block_time);
            loop {
                tick.tick().await;
                c.advance(1);
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::warn!(addr = %listener.local_addr()?, "SIMULATED chain serving (in-memory model, not a real chain)");
    axum::serve(listener, router(chain)).await
}

/// The operator's client for a simulation server.
pub struct SimChain {
    base: String,
    http: reqwest::Client,
}

impl SimChain {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:9955`).
    pub fn new(base: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ChainError::Other(e.to_string()))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| ChainError::Unreachable(e.to_string()))?;
        r.json::<std::result::Result<T, ChainError>>()
            .await
            .map_err(|e| ChainError::Unreachable(e.to_string()))?
    }

    async fn post<B: Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .map_err(|e| ChainError::Unreachable(e.to_string()))?;
        r.json::<std::result::Result<T, ChainError>>()
            .await
            .map_err(|e| ChainError::Unreachable(e.to_string()))?
    }

    /// Looks a transaction up by hash.
    pub async fn find_tx(&self, hash: &str) -> Result<Option<TxOutcome>> {
        self.get(&format!("/chain/tx/{hash}")).await
    }
}

#[async_trait]
impl Chain for SimChain {
    fn describe(&self) -> String {
        format!("simulation at {} (SIMULATION, not a real chain)", self.base)
    }
    async fn head(&self) -> Result<ChainHead> {
        self.get("/chain/head").await
    }
    async fn subnet(&self, netuid: u16) -> Result<Option<SubnetSnapshot>> {
        self.get(&format!("/chain/subnet/{netuid}")).await
    }
    async fn account(&self, who: AccountId) -> Result<AccountInfo> {
        self.get(&format!("/chain/account/{}", hex::encode(who)))
            .await
    }
    async fn registration_proxy(
        &self,
        real: AccountId,
        delegate: AccountId,
    ) -> Result<crate::chain::ProxyCheck> {
        self.get(&format!(
            "/chain/proxy/{}/{}",
            hex::encode(real),
            hex::encode(delegate)
        ))
        .await
    }
    async fn find_tx(&self, hash: &str, _from: u64, _to: u64) -> Result<Option<TxOutcome>> {
        SimChain::find_tx(self, hash).await
    }
    async fn prepare_register(
        &self,
        signer: &crate::keys::signer::Signer,
        call: RegisterCall,
        nonce: u64,
        era_end: Option<u64>,
    ) -> Result<PreparedTx> {
        let era_end = match era_end {
            Some(e) => e,
            None => self.head().await?.best + ERA_BLOCKS,
        };
        prepare(signer, call, nonce, era_end)
    }
    async fn submit(&self, tx: &PreparedTx) -> Result<TxOutcome> {
        self.post("/chain/submit", tx).await
    }
    async fn subnet_owners(&self) -> Result<Vec<(u16, Option<AccountId>)>> {
        self.get("/chain/subnets").await
    }
    async fn localnet_call(
        &self,
        signer: &crate::keys::signer::Signer,
        call: LocalnetCall,
    ) -> Result<LocalnetOutcome> {
        let nonce = self.account(signer.public()).await?.nonce;
        self.post(
            "/chain/localnet",
            &crate::chain::sign_localnet(signer, nonce, call),
        )
        .await
    }
}
