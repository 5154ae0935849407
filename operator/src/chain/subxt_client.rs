//! The real chain client: subxt 0.51's dynamic API over live metadata (no static codegen), so
//! runtime upgrades need no rebuild, and the client adapts to the runtime it finds (CHAIN.md §7):
//! `register_limit` or `burned_register`, both shapes of `get_neurons_lite`, both price models,
//! `register_network` with or without `mechid`, and scaffold calls a runtime lacks reported as
//! [`ChainError::Unsupported`].
//!
//! - **RPC methods:** only the legacy ones every node serves (`state_getStorage`,
//!   `state_queryStorageAt`, `state_getKeysPaged`, `state_call`, `chain_*`,
//!   `author_submitAndWatchExtrinsic`), through subxt's [`LegacyBackend`]: the new
//!   `archive_v1_*`/`transactionWatch_v1_*` methods are missing or broken on some nodes.
//! - **Connection:** a list of WebSocket endpoints (`ws://` allowed). On a transport error the
//!   client drops its connection and the next call connects to the next endpoint; when every
//!   endpoint failed in a row it backs off (0.5 s doubling to 30 s). An answer of the wrong
//!   shape is [`ChainError::Decode`] and keeps the connection: reconnecting cannot fix it.
//! - **Reads:** subnet snapshots at the finalized block (no reorgs under a snapshot), their
//!   storage items in one `state_queryStorageAt`; balances and nonces at the best block (a
//!   nonce read at the finalized block is stale right after a send: CHAIN.md §7), the nonce from
//!   `AccountNonceApi_account_nonce`.
//! - **Registrations** are signed offline with the caller's nonce and a 32-block mortal era, with
//!   a deterministic sr25519 signature: preparing the same registration again (same nonce and
//!   era end, as the controller does when it re-sends) yields the same bytes and hash. The
//!   signed bytes are kept in memory by hash, and [`Chain::submit`] sends exactly those. On a
//!   runtime without `register_limit` (price guard [`PriceGuard::Client`]) `submit` re-reads
//!   `Burn` at the best block and refuses to send above the limit.
//! - **What was paid** comes from the extrinsic's own events: the payer's balance events less
//!   the fee of `TransactionPayment.TransactionFeePaid`.
//! - **Config:** [`SubstrateConfig`] rather than `PolkadotConfig`: the encodings subtensor needs
//!   are identical (`MultiAddress::Id` encodes the same whatever the index type; same hasher and
//!   default extensions), it does not load Polkadot's historic type registry, and it lets tests
//!   set a genesis hash for offline signing.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parity_scale_codec::{Compact, Decode};
use scale_decode::DecodeAsType;
use scale_value::{Composite, Value, ValueDef};
use subxt::backend::LegacyBackend;
use subxt::client::{ClientAtBlock, OfflineClientAtBlockT, OnlineClientAtBlockImpl};
use subxt::config::substrate::SubstrateConfig;
use subxt::config::{DefaultExtrinsicParamsBuilder, Header as _};
use subxt::dynamic;
use subxt::ext::scale_encode::EncodeAsType as _;
use subxt::tx::TransactionStatus;
use subxt::utils::{AccountId32, H256, MultiSignature};
use subxt::{Metadata, OnlineClient};

use super::{
    AccountId, AccountInfo, Chain, ChainError, ChainHead, DispatchError, HeadStream,
    Hyperparameter, LocalnetCall, LocalnetOutcome, Neuron, PreparedTx, PriceGuard, PriceModel,
    ProxyCheck, ProxyType, RegisterCall, Result, SubnetSnapshot, TxOutcome,
    prune::{OwnerImmunity, PruneRule},
};
use crate::keys::signer::Signer;

/// The subxt configuration used for subtensor (see the module docs for why not `PolkadotConfig`).
pub type Cfg = SubstrateConfig;

/// Blocks a registration stays valid (mortal era period; a power of two).
pub const ERA_PERIOD: u64 = 32;

/// How long [`Chain::submit`] and localnet calls wait for inclusion.
const INCLUSION_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most prepared transactions kept in memory.
const PREPARED_CAP: usize = 1024;

/// Pallet names (CHAIN.md §1); everything else is resolved from metadata.
const SUBTENSOR: &str = "SubtensorModule";

type AtBlock = ClientAtBlock<Cfg, OnlineClientAtBlockImpl<Cfg>>;
type Rpc = subxt::rpcs::LegacyRpcMethods<subxt::config::RpcConfigFor<Cfg>>;

struct Conn {
    api: OnlineClient<Cfg>,
    rpc: Rpc,
    index: usize,
    /// The hash of block 1 once read (it never changes for a chain; a chain started again
    /// drops the connection, and the next one reads it anew).
    first_block: std::sync::OnceLock<String>,
    /// The client at the last finalized block read, by its hash: the head read and the
    /// snapshots of one block share its header and runtime version (two requests each).
    last_finalized: Mutex<Option<(H256, AtBlock)>>,
    /// The heads the node announced on this connection's subscriptions, while they run: with
    /// them a block's head costs no request.
    announced: Arc<Mutex<Announced>>,
    /// Per subnet, the neurons (uid, hotkey) of the last snapshot: their per-neuron storage is
    /// read in the same request as the subnet's items.
    neuron_keys: Mutex<HashMap<u16, Vec<NeuronKey>>>,
}

/// A neuron's uid and hotkey.
type NeuronKey = (u16, [u8; 32]);

/// Heads announced by the node (see [`Conn::announced`]).
#[derive(Debug, Default, Clone, Copy)]
struct Announced {
    best: Option<u64>,
    /// Hash and number of the last finalized block announced.
    finalized: Option<(H256, u64)>,
}

/// Clears what the subscriptions announced when their stream goes (ended or dropped): the head
/// is then read by request again.
struct AnnouncedGuard(Arc<Mutex<Announced>>);

impl Drop for AnnouncedGuard {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Announced::default();
    }
}

struct ConnState {
    conn: Option<Arc<Conn>>,
    /// Endpoint to try next.
    next: usize,
    /// Consecutive failed attempts (across endpoints).
    failures: u32,
    /// No attempt before this instant.
    not_before: Option<Instant>,
}

/// A signed transaction kept for sending, with what the client-side price guard needs.
#[derive(Clone)]
struct Kept {
    bytes: Vec<u8>,
    /// `Some((netuid, limit))` when the chain does not check the price itself.
    client_guard: Option<(u16, u64)>,
}

/// A subtensor client over a list of WebSocket endpoints.
pub struct SubxtChain {
    endpoints: Vec<String>,
    state: tokio::sync::Mutex<ConnState>,
    /// Signed extrinsics by hash ("0x…"), so a re-send sends the very same bytes.
    prepared: Mutex<HashMap<String, Kept>>,
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

/// Classifies an error of subxt: a transport failure (the connection broke, or the node
/// throttled us) is [`ChainError::Unreachable`], which drops the connection; an answer the node
/// gave but that cannot be used (the wrong shape, an error from the runtime) is
/// [`ChainError::Decode`], which keeps it.
pub fn classify<E: std::error::Error + 'static>(e: E) -> ChainError {
    let text = e.to_string();
    // A public endpoint that throttles us: back off (see [`SubxtChain::fail`]).
    if is_rate_limit(&text) || is_rate_limit(&format!("{e:?}")) {
        return ChainError::Unreachable(format!("{RATE_LIMITED}: {text}"));
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(x) = cur {
        if let Some(r) = x.downcast_ref::<subxt::rpcs::Error>() {
            return match r {
                subxt::rpcs::Error::Client(_)
                | subxt::rpcs::Error::DisconnectedWillReconnect(_) => ChainError::Unreachable(text),
                _ => ChainError::Decode(text),
            };
        }
        if let Some(
            subxt::error::RpcError::LimitReached | subxt::error::RpcError::SubscriptionDropped,
        ) = x.downcast_ref::<subxt::error::RpcError>()
        {
            return ChainError::Unreachable(text);
        }
        cur = x.source();
    }
    // Several of subxt's error types hold the backend's error in a field that `source()` does
    // not return (`CannotCallApi(BackendError)`, `CannotGetCurrentBlock { reason }`, …): their
    // debug form still names the transport variants.
    let debug = format!("{e:?}");
    let transport = [
        "ClientError(Client(",
        "ClientError(DisconnectedWillReconnect(",
        "Rpc(LimitReached)",
        "Rpc(SubscriptionDropped)",
    ];
    if transport.iter().any(|t| debug.contains(t)) {
        return ChainError::Unreachable(text);
    }
    ChainError::Decode(text)
}

/// How a rate-limited answer's error starts.
const RATE_LIMITED: &str = "rate limited by the endpoint";

/// Whether an error text is a node's (or its proxy's) rate-limit answer: HTTP 429 on the
/// WebSocket handshake, or a JSON-RPC error saying so (`-32029`, "Too many requests").
pub fn is_rate_limit(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("status code: 429")
        || t.contains("too many requests")
        || t.contains("rate limit")
        || t.contains("-32029")
}

fn transport(e: impl std::fmt::Display) -> ChainError {
    ChainError::Unreachable(e.to_string())
}

fn decode_err(e: impl std::fmt::Display) -> ChainError {
    ChainError::Decode(e.to_string())
}

impl SubxtChain {
    /// A client for `endpoints` (tried in order, with failover). Connects lazily.
    pub fn new(endpoints: Vec<String>) -> Result<Self> {
        let endpoints: Vec<String> = endpoints
            .into_iter()
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect();
        if endpoints.is_empty() {
            return Err(ChainError::Other("no chain endpoints given".into()));
        }
        Ok(Self {
            endpoints,
            state: tokio::sync::Mutex::new(ConnState {
                conn: None,
                next: 0,
                failures: 0,
                not_before: None,
            }),
            prepared: Mutex::new(HashMap::new()),
        })
    }

    /// The current connection, connecting (with failover and backoff) when there is none.
    async fn conn(&self) -> Result<Arc<Conn>> {
        let mut st = self.state.lock().await;
        if let Some(c) = &st.conn {
            return Ok(c.clone());
        }
        if let Some(t) = st.not_before
            && Instant::now() < t
        {
            return Err(ChainError::Unreachable(format!(
                "all chain endpoints failed; retrying in {:?}",
                t - Instant::now()
            )));
        }
        let mut last = String::new();
        for k in 0..self.endpoints.len() {
            let index = (st.next + k) % self.endpoints.len();
            let url = &self.endpoints[index];
            match tokio::time::timeout(CONNECT_TIMEOUT, connect(url)).await {
                Ok(Ok((api, rpc))) => {
                    tracing::info!(endpoint = %url, "connected to the chain");
                    let c = Arc::new(Conn {
                        api,
                        rpc,
                        index,
                        first_block: std::sync::OnceLock::new(),
                        last_finalized: Mutex::new(None),
                        announced: Arc::default(),
                        neuron_keys: Mutex::new(HashMap::new()),
                    });
                    st.conn = Some(c.clone());
                    st.next = index;
                    st.failures = 0;
                    st.not_before = None;
                    return Ok(c);
                }
                Ok(Err(e)) => {
                    tracing::warn!(endpoint = %url, error = %e, "chain endpoint failed");
                    last = format!("{url}: {e}");
                }
                Err(_) => {
                    tracing::warn!(endpoint = %url, "chain endpoint timed out");
                    last = format!("{url}: connection timed out");
                }
            }
        }
        st.failures = st.failures.saturating_add(1);
        let backoff = Duration::from_millis(500)
            .saturating_mul(1u32 << st.failures.min(6))
            .min(Duration::from_secs(30));
        st.not_before = Some(Instant::now() + backoff);
        Err(ChainError::Unreachable(format!(
            "no chain endpoint reachable (last: {last})"
        )))
    }

    /// Drops the connection `c` after a transport error: the next call connects to the next
    /// endpoint.
    async fn fail(&self, c: &Conn, e: &ChainError) {
        let ChainError::Unreachable(text) = e else {
            return;
        };
        let mut st = self.state.lock().await;
        if st.conn.as_ref().is_some_and(|x| x.index == c.index) {
            tracing::warn!(endpoint = %self.endpoints[c.index], error = %e, "dropping the chain connection");
            st.conn = None;
            st.next = (c.index + 1) % self.endpoints.len();
            // Throttled: no request to this chain for a while (doubling, up to 60 s), as after
            // a failed connect; a success resets it.
            if text.starts_with(RATE_LIMITED) {
                st.failures = st.failures.saturating_add(1);
                let backoff = Duration::from_secs(1)
                    .saturating_mul(1u32 << st.failures.min(6))
                    .min(Duration::from_secs(60));
                st.not_before = Some(Instant::now() + backoff);
            }
        }
    }

    /// Runs `f` on the connection, dropping the connection on transport errors.
    async fn with<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: FnOnce(Arc<Conn>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let c = self.conn().await?;
        let r = f(c.clone()).await;
        if let Err(e) = &r {
            self.fail(&c, e).await;
        }
        r
    }

    fn remember(&self, hash: &str, kept: Kept) {
        let mut m = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= PREPARED_CAP && !m.contains_key(hash) {
            m.clear();
        }
        m.insert(hash.to_string(), kept);
    }

    fn recall(&self, hash: &str) -> Option<Kept> {
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .cloned()
    }
}

async fn connect(url: &str) -> std::result::Result<(OnlineClient<Cfg>, Rpc), String> {
    let rpc = subxt::rpcs::RpcClient::from_insecure_url(url)
        .await
        .map_err(|e| e.to_string())?;
    let backend = LegacyBackend::<Cfg>::builder().build(rpc.clone());
    let api = OnlineClient::<Cfg>::from_backend_with_config(Cfg::new(), Arc::new(backend))
        .await
        .map_err(|e| e.to_string())?;
    Ok((api, Rpc::new(rpc)))
}

/// The hash of block 1 when the chain has one (read once per connection).
async fn first_block_hash(c: &Conn, best: u64) -> Result<Option<String>> {
    if let Some(h) = c.first_block.get() {
        return Ok(Some(h.clone()));
    }
    if best < 1 {
        return Ok(None);
    }
    let hash = c
        .rpc
        .chain_get_block_hash(Some(1u64.into()))
        .await
        .map_err(classify)?;
    Ok(hash.map(|h| c.first_block.get_or_init(|| hex0x(&h.0)).clone()))
}

fn announced(c: &Conn) -> Announced {
    *c.announced.lock().unwrap_or_else(|p| p.into_inner())
}

/// The finalized block: the one the node announced last, else asked for.
async fn finalized(c: &Conn) -> Result<AtBlock> {
    let announced = announced(c).finalized;
    let hash = match announced {
        Some((hash, _)) => hash,
        None => c.rpc.chain_get_finalized_head().await.map_err(classify)?,
    };
    let lock = || c.last_finalized.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((h, at)) = lock().as_ref()
        && *h == hash
    {
        return Ok(at.clone());
    }
    // An announced header gives the number too: only the runtime version is asked for.
    let at = match announced {
        Some((hash, number)) => c.api.at_block_hash_and_number(hash, number).await,
        None => c.api.at_block(hash).await,
    }
    .map_err(classify)?;
    *lock() = Some((hash, at.clone()));
    Ok(at)
}

/// The best block (what new transactions build on).
async fn best(c: &Conn) -> Result<AtBlock> {
    let hash = c
        .rpc
        .chain_get_block_hash(None)
        .await
        .map_err(classify)?
        .ok_or_else(|| ChainError::Decode("the node has no best block".into()))?;
    c.api.at_block(hash).await.map_err(classify)
}

// ---------------------------------------------------------------------------------------------
// Metadata queries

/// Whether `pallet.entry` exists in the metadata.
pub fn has_storage(md: &Metadata, pallet: &str, entry: &str) -> bool {
    md.pallet_by_name(pallet)
        .and_then(|p| p.storage())
        .and_then(|s| s.entry_by_name(entry))
        .is_some()
}

/// Whether `pallet.call` exists in the metadata.
pub fn has_call(md: &Metadata, pallet: &str, call: &str) -> bool {
    md.pallet_by_name(pallet)
        .and_then(|p| p.call_variant_by_name(call))
        .is_some()
}

/// The names of the fields of `pallet.call`, in order.
pub fn call_fields(md: &Metadata, pallet: &str, call: &str) -> Option<Vec<String>> {
    md.pallet_by_name(pallet)
        .and_then(|p| p.call_variant_by_name(call))
        .map(|v| {
            v.fields
                .iter()
                .map(|f| f.name.clone().unwrap_or_default())
                .collect()
        })
}

/// Whether type `ty` is `Vec<u8>` (an opaque SCALE blob).
fn is_byte_vec(md: &Metadata, ty: u32) -> bool {
    use scale_info::{TypeDef, TypeDefPrimitive};
    let Some(t) = md.types().resolve(ty) else {
        return false;
    };
    match &t.type_def {
        TypeDef::Sequence(s) => md
            .types()
            .resolve(s.type_param.id)
            .is_some_and(|p| matches!(p.type_def, TypeDef::Primitive(TypeDefPrimitive::U8))),
        _ => false,
    }
}

/// How `NeuronInfoRuntimeApi.get_neurons_lite` answers on this runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeuronsShape {
    /// `Vec<NeuronInfoLite>`, typed in metadata (spec 233 and later).
    Typed,
    /// `Vec<u8>` holding the SCALE bytes of `Vec<NeuronInfoLite>` (before spec 233).
    Opaque,
}

/// The shape of `get_neurons_lite` on the runtime of `md`, or `None` if it has none.
pub fn neurons_shape(md: &Metadata) -> Option<NeuronsShape> {
    let m = md
        .runtime_api_trait_by_name("NeuronInfoRuntimeApi")?
        .method_by_name("get_neurons_lite")?;
    Some(if is_byte_vec(md, m.output_ty()) {
        NeuronsShape::Opaque
    } else {
        NeuronsShape::Typed
    })
}

/// Who keeps the price limit on the runtime of `md`.
pub fn price_guard(md: &Metadata) -> PriceGuard {
    if has_call(md, SUBTENSOR, "register_limit") {
        PriceGuard::Chain
    } else {
        PriceGuard::Client
    }
}

// ---------------------------------------------------------------------------------------------
// Storage reads in one request

/// Storage items to read together at one block, with one `state_queryStorageAt`.
struct Batch {
    keys: Vec<Vec<u8>>,
    /// Per key: its value type and default bytes (ValueQuery).
    types: Vec<(u32, Option<Vec<u8>>)>,
}

/// A slot of a [`Batch`]: `None` when the runtime has no such entry.
type Slot = Option<usize>;

impl Batch {
    fn new() -> Self {
        Self {
            keys: Vec::new(),
            types: Vec::new(),
        }
    }

    /// Adds `pallet.entry(parts)`; `None` when the runtime lacks the entry.
    fn add(
        &mut self,
        md: &Metadata,
        pallet: &str,
        entry: &str,
        parts: Vec<Value<()>>,
    ) -> Result<Slot> {
        let Some(e) = md
            .pallet_by_name(pallet)
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name(entry))
        else {
            return Ok(None);
        };
        let key = storage_key(md, pallet, entry, parts)?;
        self.keys.push(key);
        self.types
            .push((e.value_ty(), e.default_value().map(<[u8]>::to_vec)));
        Ok(Some(self.keys.len() - 1))
    }

    /// Reads every key at `at`.
    async fn fetch(self, c: &Conn, at: &AtBlock) -> Result<Fetched> {
        let mut values = vec![None; self.keys.len()];
        if !self.keys.is_empty() {
            let sets = c
                .rpc
                .state_query_storage_at(self.keys.iter().map(Vec::as_slice), Some(at.block_hash()))
                .await
                .map_err(classify)?;
            let index: HashMap<&[u8], usize> = self
                .keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.as_slice(), i))
                .collect();
            for set in sets {
                for (k, v) in set.changes {
                    if let (Some(&i), Some(v)) = (index.get(k.0.as_slice()), v) {
                        values[i] = Some(v.0);
                    }
                }
            }
        }
        Ok(Fetched {
            md: at.metadata(),
            types: self.types,
            values,
        })
    }
}

/// The storage key of `pallet.entry(parts)`, with the hashers of the metadata.
pub fn storage_key(
    md: &Metadata,
    pallet: &str,
    entry: &str,
    parts: Vec<Value<()>>,
) -> Result<Vec<u8>> {
    subxt::ext::frame_decode::storage::encode_storage_key(pallet, entry, parts, md, md.types())
        .map_err(|e| ChainError::Decode(format!("storage key of {pallet}.{entry}: {e}")))
}

/// What a [`Batch`] read.
struct Fetched {
    md: subxt::metadata::ArcMetadata,
    types: Vec<(u32, Option<Vec<u8>>)>,
    values: Vec<Option<Vec<u8>>>,
}

impl Fetched {
    /// The value in `slot` (the entry's default when unset), or `None` when the runtime has no
    /// such entry or it is unset with no default.
    fn get<V: DecodeAsType>(&self, slot: Slot) -> Result<Option<V>> {
        let Some(i) = slot else {
            return Ok(None);
        };
        let (ty, default) = &self.types[i];
        let Some(bytes) = self.values[i].as_ref().or(default.as_ref()) else {
            return Ok(None);
        };
        V::decode_as_type(&mut bytes.as_slice(), *ty, self.md.types())
            .map(Some)
            .map_err(decode_err)
    }
}

// ---------------------------------------------------------------------------------------------
// Types the client decodes

/// `AxonInfo` as the runtime API returns it.
#[derive(DecodeAsType, Debug, Clone, Default)]
#[decode_as_type(crate_path = "scale_decode")]
struct AxonInfoRaw {
    ip: u128,
    port: u16,
    ip_type: u8,
}

/// `NeuronInfoLite` (CHAIN.md §2); fields not listed are ignored, `Compact`s decode as numbers.
#[derive(DecodeAsType, Debug, Clone)]
#[decode_as_type(crate_path = "scale_decode")]
struct NeuronInfoLiteRaw {
    hotkey: AccountId32,
    coldkey: AccountId32,
    uid: u16,
    axon_info: AxonInfoRaw,
    stake: Vec<(AccountId32, u64)>,
    emission: u64,
    incentive: u16,
    trust: u16,
    validator_trust: u16,
    dividends: u16,
    last_update: u64,
    validator_permit: bool,
    pruning_score: u16,
}

/// `AxonInfo` inside the opaque `Vec<u8>` of runtimes before spec 233 (no type in metadata:
/// this is the pallet's own struct, `rpc_info/neuron_info.rs` of that time).
#[derive(Decode, Debug, Clone)]
struct OpaqueAxonInfo {
    _block: u64,
    _version: u32,
    ip: u128,
    port: u16,
    ip_type: u8,
    _protocol: u8,
    _placeholder1: u8,
    _placeholder2: u8,
}

/// `PrometheusInfo` of those runtimes.
#[derive(Decode, Debug, Clone)]
struct OpaquePrometheusInfo {
    _block: u64,
    _version: u32,
    _ip: u128,
    _port: u16,
    _ip_type: u8,
}

/// `NeuronInfoLite` of those runtimes, field for field.
#[derive(Decode, Debug, Clone)]
struct OpaqueNeuronInfoLite {
    hotkey: [u8; 32],
    coldkey: [u8; 32],
    uid: Compact<u16>,
    _netuid: Compact<u16>,
    _active: bool,
    axon_info: OpaqueAxonInfo,
    _prometheus_info: OpaquePrometheusInfo,
    stake: Vec<([u8; 32], Compact<u64>)>,
    _rank: Compact<u16>,
    emission: Compact<u64>,
    incentive: Compact<u16>,
    _consensus: Compact<u16>,
    trust: Compact<u16>,
    validator_trust: Compact<u16>,
    dividends: Compact<u16>,
    last_update: Compact<u64>,
    validator_permit: bool,
    pruning_score: Compact<u16>,
}

impl From<OpaqueNeuronInfoLite> for NeuronInfoLiteRaw {
    fn from(n: OpaqueNeuronInfoLite) -> Self {
        Self {
            hotkey: AccountId32(n.hotkey),
            coldkey: AccountId32(n.coldkey),
            uid: n.uid.0,
            axon_info: AxonInfoRaw {
                ip: n.axon_info.ip,
                port: n.axon_info.port,
                ip_type: n.axon_info.ip_type,
            },
            stake: n
                .stake
                .into_iter()
                .map(|(a, s)| (AccountId32(a), s.0))
                .collect(),
            emission: n.emission.0,
            incentive: n.incentive.0,
            trust: n.trust.0,
            validator_trust: n.validator_trust.0,
            dividends: n.dividends.0,
            last_update: n.last_update.0,
            validator_permit: n.validator_permit,
            pruning_score: n.pruning_score.0,
        }
    }
}

/// Decodes the opaque answer of `get_neurons_lite` (the SCALE bytes of `Vec<NeuronInfoLite>`).
fn decode_opaque_neurons(bytes: &[u8]) -> Result<Vec<NeuronInfoLiteRaw>> {
    let mut input = bytes;
    let v = Vec::<OpaqueNeuronInfoLite>::decode(&mut input)
        .map_err(|e| ChainError::Decode(format!("get_neurons_lite (opaque): {e}")))?;
    if !input.is_empty() {
        return Err(ChainError::Decode(format!(
            "get_neurons_lite (opaque): {} bytes left over",
            input.len()
        )));
    }
    Ok(v.into_iter().map(Into::into).collect())
}

/// `System.Account`'s value (only what the operator needs).
#[derive(DecodeAsType, Debug, Clone)]
#[decode_as_type(crate_path = "scale_decode")]
struct AccountRaw {
    data: AccountDataRaw,
}

#[derive(DecodeAsType, Debug, Clone)]
#[decode_as_type(crate_path = "scale_decode")]
struct AccountDataRaw {
    free: u128,
}

/// A `Proxy.Proxies` entry.
#[derive(DecodeAsType, Debug, Clone)]
#[decode_as_type(crate_path = "scale_decode")]
struct ProxyDefRaw {
    delegate: AccountId32,
    proxy_type: Value<()>,
    delay: u64,
}

/// An axon's address as text: `None` when not served (ip 0) or of an unknown type.
pub fn axon_ip(ip: u128, ip_type: u8) -> Option<String> {
    if ip == 0 {
        return None;
    }
    match ip_type {
        4 => u32::try_from(ip)
            .ok()
            .map(|v| Ipv4Addr::from(v).to_string()),
        6 => Some(Ipv6Addr::from(ip).to_string()),
        _ => None,
    }
}

fn ratio(v: u16) -> f64 {
    f64::from(v) / 65535.0
}

fn neuron(raw: NeuronInfoLiteRaw, registered_at: u64) -> Neuron {
    Neuron {
        uid: raw.uid,
        hotkey: raw.hotkey.0,
        coldkey: raw.coldkey.0,
        registered_at,
        incentive: ratio(raw.incentive),
        emission: raw.emission,
        trust: ratio(raw.trust),
        stake: raw
            .stake
            .iter()
            .fold(0u64, |a, (_, s)| a.saturating_add(*s)),
        validator_permit: raw.validator_permit,
        validator_trust: ratio(raw.validator_trust),
        dividends: ratio(raw.dividends),
        last_update: raw.last_update,
        axon: axon_ip(raw.axon_info.ip, raw.axon_info.ip_type).map(|ip| super::Axon {
            ip,
            port: raw.axon_info.port,
        }),
        pruning_score: raw.pruning_score,
    }
}

/// How the runtime of `md` (spec `spec_version`) prunes (`get_neuron_to_prune`): the emission
/// rule where `MinNonImmuneUids` exists, else the pruning-score rule, whose owner immunity
/// follows `ImmuneOwnerUidsLimit` where it exists and the spec version before that (nothing in
/// the metadata tells spec 218, which skips no owner, from the runtimes that skip its hotkey).
/// `min_non_immune` and `owner_limit` are the subnet's values, where the runtime has them.
pub fn prune_rule(
    md: &Metadata,
    spec_version: u32,
    min_non_immune: Option<u16>,
    owner_limit: Option<u16>,
) -> PruneRule {
    let limit = owner_limit.unwrap_or(1);
    if has_storage(md, SUBTENSOR, "MinNonImmuneUids") {
        return PruneRule::Emission {
            min_non_immune: min_non_immune.unwrap_or(super::prune::DEFAULT_MIN_NON_IMMUNE_UIDS),
            owner_uids_limit: limit,
        };
    }
    let owners = if has_storage(md, SUBTENSOR, "ImmuneOwnerUidsLimit") {
        OwnerImmunity::Owned { limit }
    } else if spec_version >= super::prune::OWNER_HOTKEY_IMMUNE_FROM_SPEC {
        OwnerImmunity::OwnerHotkey
    } else {
        OwnerImmunity::None
    };
    PruneRule::PruningScore { owners }
}

/// The proxy types that may register, from a `ProxyType` value.
fn registering_type(v: &Value<()>) -> Option<ProxyType> {
    match variant_name(v) {
        Some("Registration") => Some(ProxyType::Registration),
        Some("Any") => Some(ProxyType::Any),
        _ => None,
    }
}

/// What the proxy definitions of `real` allow `delegate`: the best usable one (a `Registration`
/// proxy before `Any`), else a delayed one.
fn check_proxies(defs: &[ProxyDefRaw], delegate: &AccountId) -> ProxyCheck {
    let mut found: Vec<(ProxyType, u64)> = defs
        .iter()
        .filter(|d| &d.delegate.0 == delegate)
        .filter_map(|d| registering_type(&d.proxy_type).map(|t| (t, d.delay)))
        .collect();
    found.sort_by_key(|(t, delay)| (*delay > 0, *t != ProxyType::Registration));
    match found.first() {
        Some((t, 0)) => ProxyCheck::Usable(*t),
        Some((t, delay)) => ProxyCheck::Delayed {
            proxy_type: *t,
            delay: u32::try_from(*delay).unwrap_or(u32::MAX),
        },
        None => ProxyCheck::Missing,
    }
}

/// A fixed-point `U64F64` (`{bits: u128}`) as a float.
fn u64f64(v: &Value<()>) -> Option<f64> {
    as_u128(v).map(|bits| bits as f64 / 18_446_744_073_709_551_616.0)
}

// ---------------------------------------------------------------------------------------------
// Values

/// The name of a variant value (through single-field wrappers).
pub fn variant_name<C>(v: &Value<C>) -> Option<&str> {
    match &v.value {
        ValueDef::Variant(x) => Some(&x.name),
        ValueDef::Composite(c) if c.len() == 1 => c.values().next().and_then(variant_name),
        _ => None,
    }
}

/// A number (through single-field wrappers such as `NetUid(u16)`).
pub fn as_u128<C>(v: &Value<C>) -> Option<u128> {
    match &v.value {
        ValueDef::Primitive(p) => p.as_u128(),
        ValueDef::Composite(c) if c.len() == 1 => c.values().next().and_then(as_u128),
        _ => None,
    }
}

/// A 32-byte account (a composite of 32 bytes, possibly wrapped, or `MultiAddress::Id` of one).
pub fn as_account<C>(v: &Value<C>) -> Option<AccountId> {
    if let ValueDef::Variant(x) = &v.value {
        return match x.values.len() {
            1 => x.values.values().next().and_then(as_account),
            _ => None,
        };
    }
    fn collect<C>(v: &Value<C>, out: &mut Vec<u8>) -> bool {
        match &v.value {
            ValueDef::Primitive(p) => match p.as_u128().and_then(|b| u8::try_from(b).ok()) {
                Some(b) => {
                    out.push(b);
                    true
                }
                None => false,
            },
            ValueDef::Composite(c) => c.values().all(|x| collect(x, out)),
            _ => false,
        }
    }
    let mut out = Vec::with_capacity(32);
    if collect(v, &mut out) {
        out.try_into().ok()
    } else {
        None
    }
}

/// The values of a composite or variant.
fn fields<C>(v: &Value<C>) -> Vec<&Value<C>> {
    match &v.value {
        ValueDef::Composite(c) => c.values().collect(),
        ValueDef::Variant(x) => x.values.values().collect(),
        _ => Vec::new(),
    }
}

/// A named field of a composite or variant, else the `i`th one.
fn field<'a, C>(v: &'a Value<C>, name: &str, i: usize) -> Option<&'a Value<C>> {
    let c = match &v.value {
        ValueDef::Composite(c) => c,
        ValueDef::Variant(x) => &x.values,
        _ => return None,
    };
    match c {
        Composite::Named(f) => f
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .or_else(|| f.get(i).map(|(_, v)| v)),
        Composite::Unnamed(f) => f.get(i),
    }
}

/// `AccountId32` as a value (a composite of 32 bytes).
fn account_value(a: &AccountId) -> Value<()> {
    Value::from_bytes(a)
}

/// The name of a `DispatchError` value: `Pallet.Error` for module errors, else the variant
/// (`BadOrigin`, `Token.FundsUnavailable`).
pub fn dispatch_error_name<C>(md: &Metadata, e: &Value<C>) -> String {
    let Some(name) = variant_name(e) else {
        return "UnknownDispatchError".to_string();
    };
    let inner = match &e.value {
        ValueDef::Variant(x) => x.values.values().next(),
        _ => None,
    };
    if name == "Module" {
        let m = inner;
        let index = m.and_then(|m| field(m, "index", 0)).and_then(as_u128);
        let error = m.and_then(|m| field(m, "error", 1)).and_then(|e| {
            fields(e)
                .first()
                .copied()
                .and_then(as_u128)
                .or_else(|| as_u128(e))
        });
        if let (Some(i), Some(err)) = (index, error) {
            let found = u8::try_from(i).ok().and_then(|i| {
                let p = md.pallet_by_error_index(i)?;
                let v = p.error_variant_by_index(u8::try_from(err & 0xff).ok()?)?;
                Some(format!("{}.{}", p.name(), v.name))
            });
            return found.unwrap_or_else(|| format!("Module({i},{err})"));
        }
        return "Module".to_string();
    }
    match inner.and_then(variant_name) {
        Some(sub) => format!("{name}.{sub}"),
        None => name.to_string(),
    }
}

/// What a transaction's events say.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventSummary {
    /// The dispatch error (`Pallet.Error`), from `System.ExtrinsicFailed` or from the inner call
    /// of `Proxy.proxy` (`ProxyExecuted`) or `Sudo.sudo` (`Sudid`).
    pub error: Option<String>,
    /// The uid of `SubtensorModule.NeuronRegistered`.
    pub registered_uid: Option<u16>,
    /// The netuid of `SubtensorModule.NeuronRegistered`.
    pub registered_netuid: Option<u16>,
    /// The netuid of `SubtensorModule.NetworkAdded`.
    pub network_added: Option<u16>,
    /// The fee charged (`TransactionPayment.TransactionFeePaid.actual_fee`), and who paid it.
    pub fee: Option<(AccountId, u64)>,
    /// Net balance outflow per account from `Balances` events (`Withdraw`, `Transfer` out, less
    /// `Deposit` and `Transfer` in).
    pub outflow: Vec<(AccountId, i128)>,
}

impl EventSummary {
    /// What `payer` paid besides the fee: the burn of a registration.
    pub fn paid_besides_fee(&self, payer: &AccountId) -> u64 {
        let out: i128 = self
            .outflow
            .iter()
            .filter(|(a, _)| a == payer)
            .map(|(_, v)| *v)
            .sum();
        let fee = self
            .fee
            .filter(|(who, _)| who == payer)
            .map_or(0, |(_, f)| i128::from(f));
        u64::try_from((out - fee).max(0)).unwrap_or(u64::MAX)
    }

    fn flow(&mut self, who: Option<AccountId>, amount: Option<u128>, sign: i128) {
        let (Some(who), Some(amount)) = (who, amount) else {
            return;
        };
        let amount = i128::try_from(amount).unwrap_or(i128::MAX) * sign;
        match self.outflow.iter_mut().find(|(a, _)| *a == who) {
            Some((_, v)) => *v = v.saturating_add(amount),
            None => self.outflow.push((who, amount)),
        }
    }
}

/// Summarizes a transaction's events, each as (pallet, event, fields).
pub fn summarize_events<C>(md: &Metadata, events: &[(String, String, Value<C>)]) -> EventSummary {
    let mut s = EventSummary::default();
    let u16_of = |v: Option<&Value<C>>| v.and_then(as_u128).and_then(|u| u16::try_from(u).ok());
    for (pallet, name, v) in events {
        match (pallet.as_str(), name.as_str()) {
            ("System", "ExtrinsicFailed") => {
                if let Some(e) = field(v, "dispatch_error", 0) {
                    s.error = Some(dispatch_error_name(md, e));
                }
            }
            ("Proxy", "ProxyExecuted") | ("Sudo", "Sudid") | ("Sudo", "SudoAsDone") => {
                let r = field(v, "result", 0).or_else(|| field(v, "sudo_result", 0));
                if let Some(r) = r
                    && variant_name(r) == Some("Err")
                    && let Some(e) = fields(r).first()
                {
                    s.error.get_or_insert_with(|| dispatch_error_name(md, e));
                }
            }
            (SUBTENSOR, "NeuronRegistered") => {
                s.registered_netuid = u16_of(field(v, "netuid", 0));
                s.registered_uid = u16_of(field(v, "uid", 1));
            }
            (SUBTENSOR, "NetworkAdded") => {
                s.network_added = u16_of(field(v, "netuid", 0));
            }
            ("TransactionPayment", "TransactionFeePaid") => {
                let who = field(v, "who", 0).and_then(as_account);
                let fee = field(v, "actual_fee", 1)
                    .and_then(as_u128)
                    .and_then(|f| u64::try_from(f).ok());
                if let (Some(who), Some(fee)) = (who, fee) {
                    s.fee = Some((who, fee));
                }
            }
            ("Balances", "Withdraw") => {
                let who = field(v, "who", 0).and_then(as_account);
                s.flow(who, field(v, "amount", 1).and_then(as_u128), 1);
            }
            ("Balances", "Deposit") => {
                let who = field(v, "who", 0).and_then(as_account);
                s.flow(who, field(v, "amount", 1).and_then(as_u128), -1);
            }
            ("Balances", "Transfer") => {
                let from = field(v, "from", 0).and_then(as_account);
                let to = field(v, "to", 1).and_then(as_account);
                let amount = field(v, "amount", 2).and_then(as_u128);
                s.flow(from, amount, 1);
                s.flow(to, amount, -1);
            }
            _ => {}
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Call construction (pure over metadata, unit-tested against real metadata)

/// A call as (pallet, call, positional arguments).
#[derive(Debug, Clone, PartialEq)]
pub struct CallSpec {
    /// Pallet name.
    pub pallet: &'static str,
    /// Call name.
    pub call: &'static str,
    /// Arguments, in the call's order.
    pub args: Vec<Value<()>>,
}

impl CallSpec {
    fn new(pallet: &'static str, call: &'static str, args: Vec<Value<()>>) -> Self {
        Self { pallet, call, args }
    }

    /// The dynamic payload.
    pub fn payload(&self) -> subxt::tx::DynamicPayload<Composite<()>> {
        dynamic::tx(
            self.pallet,
            self.call,
            Composite::unnamed(self.args.clone()),
        )
    }

    /// This call as a `RuntimeCall` value, to nest in `Proxy.proxy` or `Sudo.sudo`.
    pub fn into_value(self) -> Value<()> {
        Value::unnamed_variant(self.pallet, [Value::unnamed_variant(self.call, self.args)])
    }

    /// Whether the runtime of `md` has this call and every call nested in it (an argument that
    /// is a `RuntimeCall` value: a variant named after a pallet of the runtime).
    pub fn supported_by(&self, md: &Metadata) -> std::result::Result<(), String> {
        if !has_call(md, self.pallet, self.call) {
            return Err(format!("{}.{}", self.pallet, self.call));
        }
        for a in &self.args {
            if let Some((p, c)) = nested_call(a)
                && md.pallet_by_name(&p).is_some()
                && !has_call(md, &p, &c)
            {
                return Err(format!("{p}.{c}"));
            }
        }
        Ok(())
    }
}

/// The (pallet, call) of a nested `RuntimeCall` value.
fn nested_call(v: &Value<()>) -> Option<(String, String)> {
    let ValueDef::Variant(p) = &v.value else {
        return None;
    };
    let inner = p.values.values().next()?;
    let ValueDef::Variant(c) = &inner.value else {
        return None;
    };
    Some((p.name.clone(), c.name.clone()))
}

/// The registration call for `call`: `register_limit(netuid, hotkey, limit)` when the runtime
/// has it, else `burned_register(netuid, hotkey)`; inside
/// `Proxy.proxy(real, Some(proxy_type), …)` when `call.real` is set.
pub fn register_call(md: &Metadata, call: &RegisterCall) -> CallSpec {
    let netuid = Value::u128(u128::from(call.netuid));
    let inner = match price_guard(md) {
        PriceGuard::Chain => CallSpec::new(
            SUBTENSOR,
            "register_limit",
            vec![
                netuid,
                account_value(&call.hotkey),
                Value::u128(u128::from(call.limit_rao)),
            ],
        ),
        PriceGuard::Client => CallSpec::new(
            SUBTENSOR,
            "burned_register",
            vec![netuid, account_value(&call.hotkey)],
        ),
    };
    match &call.real {
        Some(real) => CallSpec::new(
            "Proxy",
            "proxy",
            vec![
                Value::unnamed_variant("Id", [account_value(real)]),
                Value::unnamed_variant(
                    "Some",
                    [Value::unnamed_variant(call.proxy_type.as_str(), [])],
                ),
                inner.into_value(),
            ],
        ),
        None => inner,
    }
}

fn hyperparameter_call(netuid: u16, p: &Hyperparameter) -> CallSpec {
    let n = Value::u128(u128::from(netuid));
    let (name, v) = match p {
        Hyperparameter::EmissionEnabled(b) => ("sudo_set_subnet_emission_enabled", Value::bool(*b)),
        Hyperparameter::CommitReveal(b) => {
            ("sudo_set_commit_reveal_weights_enabled", Value::bool(*b))
        }
        Hyperparameter::WeightsSetRateLimit(x) => (
            "sudo_set_weights_set_rate_limit",
            Value::u128(u128::from(*x)),
        ),
        Hyperparameter::ServingRateLimit(x) => {
            ("sudo_set_serving_rate_limit", Value::u128(u128::from(*x)))
        }
        Hyperparameter::MinBurn(x) => ("sudo_set_min_burn", Value::u128(u128::from(*x))),
        Hyperparameter::MaxBurn(x) => ("sudo_set_max_burn", Value::u128(u128::from(*x))),
        Hyperparameter::BurnHalfLife(x) => ("sudo_set_burn_half_life", Value::u128(u128::from(*x))),
        Hyperparameter::ImmunityPeriod(x) => {
            ("sudo_set_immunity_period", Value::u128(u128::from(*x)))
        }
        Hyperparameter::Tempo(x) => ("sudo_set_tempo", Value::u128(u128::from(*x))),
        Hyperparameter::MaxAllowedUids(x) => {
            ("sudo_set_max_allowed_uids", Value::u128(u128::from(*x)))
        }
        Hyperparameter::MaxAllowedValidators(x) => (
            "sudo_set_max_allowed_validators",
            Value::u128(u128::from(*x)),
        ),
        Hyperparameter::TargetRegistrationsPerInterval(x) => (
            "sudo_set_target_registrations_per_interval",
            Value::u128(u128::from(*x)),
        ),
        Hyperparameter::MaxRegistrationsPerBlock(x) => (
            "sudo_set_max_registrations_per_block",
            Value::u128(u128::from(*x)),
        ),
    };
    CallSpec::new("AdminUtils", name, vec![n, v])
}

fn sudo(inner: CallSpec) -> CallSpec {
    CallSpec::new("Sudo", "sudo", vec![inner.into_value()])
}

/// The mechanism `register_network` creates on runtimes whose call takes a `mechid` (spec
/// 218: only the dynamic mechanism, 1, exists).
pub const DYNAMIC_MECHANISM: u16 = 1;

/// `Sudo.sudo(System.set_storage(items))`: raw storage writes, as the sudo key's call.
pub fn sudo_set_storage_call(items: Vec<(Vec<u8>, Vec<u8>)>) -> CallSpec {
    sudo(set_storage_call(items))
}

/// `System.set_storage(items)`: raw storage writes (a root call: wrap it in [`sudo`]).
fn set_storage_call(items: Vec<(Vec<u8>, Vec<u8>)>) -> CallSpec {
    let items = Value::unnamed_composite(
        items
            .into_iter()
            .map(|(k, v)| Value::unnamed_composite([Value::from_bytes(k), Value::from_bytes(v)])),
    );
    CallSpec::new("System", "set_storage", vec![items])
}

/// The key and value bytes of `SubtensorModule.<entry>(parts) = value`, encoded with the
/// entry's own hashers and value type from `md` (a `u64` on spec 218, `TaoCurrency` later).
/// `Unsupported` when the runtime has no such entry.
fn subtensor_item(
    md: &Metadata,
    entry: &str,
    parts: Vec<Value<()>>,
    value: u64,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let ty = md
        .pallet_by_name(SUBTENSOR)
        .and_then(|p| p.storage())
        .and_then(|s| s.entry_by_name(entry))
        .map(|e| e.value_ty())
        .ok_or_else(|| ChainError::Unsupported(format!("{SUBTENSOR}.{entry} (storage)")))?;
    let key = storage_key(md, SUBTENSOR, entry, parts)?;
    let bytes = Value::u128(u128::from(value))
        .encode_as_type(ty, md.types())
        .map_err(|e| ChainError::Decode(format!("a value of {SUBTENSOR}.{entry}: {e}")))?;
    Ok((key, bytes))
}

/// The extrinsic for a localnet scaffold call on the runtime of `md` (`Sudo*` ones wrapped in
/// `Sudo.sudo`; `register_network` with a `mechid` where the runtime's call takes one; storage
/// writes keyed and encoded from the runtime's own storage types). `Unsupported` when a storage
/// item the call writes is missing; a missing call is [`CallSpec::supported_by`]'s to say.
pub fn localnet_call_spec(md: &Metadata, call: &LocalnetCall) -> Result<CallSpec> {
    Ok(match call {
        LocalnetCall::SudoSetPool { netuid, tao, alpha } => {
            let n = || vec![Value::u128(u128::from(*netuid))];
            sudo_set_storage_call(vec![
                subtensor_item(md, "SubnetTAO", n(), *tao)?,
                subtensor_item(md, "SubnetAlphaIn", n(), *alpha)?,
            ])
        }
        LocalnetCall::SudoSetAdminFreezeWindow(w) => sudo(CallSpec::new(
            "AdminUtils",
            "sudo_set_admin_freeze_window",
            vec![Value::u128(u128::from(*w))],
        )),
        LocalnetCall::Transfer { dest, rao } => CallSpec::new(
            "Balances",
            "transfer_keep_alive",
            vec![
                Value::unnamed_variant("Id", [account_value(dest)]),
                Value::u128(u128::from(*rao)),
            ],
        ),
        LocalnetCall::RegisterNetwork { hotkey } => {
            let mut args = vec![account_value(hotkey)];
            let takes_mechid = call_fields(md, SUBTENSOR, "register_network")
                .is_some_and(|f| f.iter().any(|n| n == "mechid"));
            if takes_mechid {
                args.push(Value::u128(u128::from(DYNAMIC_MECHANISM)));
            }
            CallSpec::new(SUBTENSOR, "register_network", args)
        }
        LocalnetCall::StartCall { netuid } => CallSpec::new(
            SUBTENSOR,
            "start_call",
            vec![Value::u128(u128::from(*netuid))],
        ),
        LocalnetCall::SudoSetHyperparameter { netuid, param } => {
            sudo(hyperparameter_call(*netuid, param))
        }
        LocalnetCall::AddStake {
            hotkey,
            netuid,
            rao,
        } => CallSpec::new(
            SUBTENSOR,
            "add_stake",
            vec![
                account_value(hotkey),
                Value::u128(u128::from(*netuid)),
                Value::u128(u128::from(*rao)),
            ],
        ),
    })
}

/// The block an era ending at `era_end` starts at, and the era end actually used: eras are
/// [`ERA_PERIOD`] blocks, valid from their birth block to `birth + ERA_PERIOD - 1`.
pub fn era_birth(era_end: u64) -> (u64, u64) {
    let birth = era_end.saturating_sub(ERA_PERIOD - 1);
    (birth, birth + ERA_PERIOD - 1)
}

/// A signed extrinsic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Its bytes.
    pub encoded: Vec<u8>,
    /// Its hash (blake2-256 of the bytes).
    pub hash: [u8; 32],
    /// The signature.
    pub signature: [u8; 64],
}

/// Signs `call` offline at the metadata, versions and genesis of `at`, with `nonce`, a mortal era
/// born at block `birth` (hash `birth_hash`) and a zero tip. Deterministic: same inputs, same
/// bytes.
pub fn sign_offline<C: OfflineClientAtBlockT<Cfg>>(
    at: &ClientAtBlock<Cfg, C>,
    call: &CallSpec,
    signer: &Signer,
    nonce: u64,
    birth: u64,
    birth_hash: H256,
) -> Result<Signed> {
    let params = DefaultExtrinsicParamsBuilder::<Cfg>::new()
        .nonce(nonce)
        .tip(0)
        .mortal_from_unchecked(ERA_PERIOD, birth, birth_hash);
    let payload = call.payload();
    let mut tx = at
        .transactions()
        .create_signable_offline(&payload, params.build())
        .map_err(|e| {
            ChainError::Decode(format!("cannot build {}.{}: {e}", call.pallet, call.call))
        })?;
    let to_sign = tx.signer_payload().map_err(decode_err)?;
    let signature = signer.sign_deterministic(&to_sign);
    let signed = tx
        .sign_with_account_and_signature(
            &AccountId32(signer.public()),
            &MultiSignature::Sr25519(signature),
        )
        .map_err(decode_err)?;
    Ok(Signed {
        hash: signed.hash().0,
        encoded: signed.into_encoded(),
        signature,
    })
}

/// Maps a submission error: pool rejections (`1010 Invalid Transaction`, `1012`–`1014`) are
/// [`ChainError::Invalid`], the rest go through [`classify`].
fn submit_error<E: std::error::Error + 'static>(e: E) -> ChainError {
    let s = e.to_string();
    let pool = [
        "Invalid Transaction",
        "1010",
        "1011",
        "1012",
        "1013",
        "1014",
        "Priority is too low",
        "Transaction Already Imported",
        "outdated",
        "Stale",
        "AncientBirthBlock",
        "BadProof",
        "Custom error",
    ];
    if pool.iter().any(|p| s.contains(p)) {
        ChainError::Invalid(s)
    } else {
        classify(e)
    }
}

// ---------------------------------------------------------------------------------------------
// Online helpers

async fn events_of(at: &AtBlock, ext_index: usize) -> Result<Vec<(String, String, Value<()>)>> {
    let events = at.events().fetch().await.map_err(classify)?;
    let mut out = Vec::new();
    for ev in events.iter() {
        let ev = ev.map_err(decode_err)?;
        let mine = matches!(ev.phase(), subxt::events::Phase::ApplyExtrinsic(i) if i as usize == ext_index);
        if !mine {
            continue;
        }
        let v = ev.decode_as::<Value<()>>().map_err(decode_err)?;
        // RuntimeEvent::Pallet(Event::Name { fields }): keep the innermost variant.
        let inner = fields(&v).first().map(|x| (*x).clone()).unwrap_or(v);
        out.push((
            ev.pallet_name().to_string(),
            ev.event_name().to_string(),
            inner,
        ));
    }
    Ok(out)
}

/// An extrinsic found in a block: its index and who pays a registration in it (the signer, or
/// the `real` account of `Proxy.proxy`).
struct Found {
    index: usize,
    payer: Option<AccountId>,
}

/// Finds extrinsic `hash` in block `at`.
async fn find_in_block(at: &AtBlock, hash: &[u8; 32]) -> Result<Option<Found>> {
    let exts = at.extrinsics().fetch().await.map_err(classify)?;
    for e in exts.iter() {
        let e = e.map_err(decode_err)?;
        if e.hash().0 != *hash {
            continue;
        }
        // MultiAddress::Id: variant 0 and 32 bytes.
        let signer = e
            .address_bytes()
            .filter(|a| a.len() == 33 && a[0] == 0)
            .and_then(|a| <[u8; 32]>::try_from(&a[1..]).ok());
        let real = if e.pallet_name() == "Proxy" && e.call_name() == "proxy" {
            e.iter_call_data_fields()
                .next()
                .and_then(|f| f.decode_as::<Value<()>>().ok())
                .and_then(|v| as_account(&v))
        } else {
            None
        };
        return Ok(Some(Found {
            index: e.index(),
            payer: real.or(signer),
        }));
    }
    Ok(None)
}

fn parse_hash(hash: &str) -> Result<[u8; 32]> {
    hex::decode(hash.trim_start_matches("0x"))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ChainError::Other(format!("not a 32-byte hex hash: {hash}")))
}

/// The outcome of the registration `found` in block `at`: the uid from `NeuronRegistered`, the
/// burn from the payer's balance events, the fee from `TransactionFeePaid`.
async fn register_outcome(at: &AtBlock, found: &Found, hash: &str) -> Result<TxOutcome> {
    let evs = events_of(at, found.index).await?;
    let s = summarize_events(at.metadata_ref(), &evs);
    let burn = found.payer.map_or(0, |p| s.paid_besides_fee(&p));
    let result = match (&s.error, s.registered_uid) {
        (Some(e), _) => Err(DispatchError::from(e.as_str())),
        (None, Some(uid)) => Ok((uid, burn)),
        (None, None) => Err(DispatchError::from("NoNeuronRegisteredEvent")),
    };
    Ok(TxOutcome {
        block: at.block_number(),
        hash: hash.to_string(),
        result,
        fee: s.fee.map_or(0, |(_, f)| f),
    })
}

/// Submits `bytes` and waits for inclusion in a best block; returns that block and the
/// extrinsic found in it.
async fn submit_bytes(c: &Conn, bytes: Vec<u8>) -> Result<(AtBlock, Found)> {
    let at = best(c).await?;
    let tx = at.transactions().from_bytes(bytes);
    let hash = tx.hash().0;
    let mut progress = tx.submit_and_watch().await.map_err(submit_error)?;
    let from = at.block_number();
    // The status stream says when the transaction is in a block; where it says nothing useful
    // (some nodes, chopsticks among them, do not report blocks built on demand, or send updates
    // the client cannot read) the blocks themselves are searched, whichever answers first.
    let poll = poll_inclusion(c, &hash, from);
    tokio::pin!(poll);
    let stream = async {
        while let Some(status) = progress.next().await {
            let status = match status.map_err(classify) {
                Ok(s) => s,
                Err(ChainError::Decode(e)) => {
                    tracing::debug!(error = %e, "unreadable transaction status; polling blocks for inclusion");
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            match status {
                TransactionStatus::InBestBlock(b) | TransactionStatus::InFinalizedBlock(b) => {
                    let at = c.api.at_block(b.block_hash()).await.map_err(classify)?;
                    let found = find_in_block(&at, &hash).await?.ok_or_else(|| {
                        transport("the node reported inclusion, but the block lacks it")
                    })?;
                    return Ok(Some((at, found)));
                }
                TransactionStatus::Invalid { message } | TransactionStatus::Dropped { message } => {
                    return Err(ChainError::Invalid(message));
                }
                TransactionStatus::Error { message } => return Err(transport(message)),
                _ => {}
            }
        }
        Ok(None)
    };
    let wait = async {
        tokio::select! {
            r = &mut poll => r,
            r = stream => match r {
                Ok(Some(found)) => Ok(found),
                Err(e @ ChainError::Invalid(_)) => Err(e),
                Ok(None) | Err(_) => poll.await,
            },
        }
    };
    tokio::time::timeout(INCLUSION_TIMEOUT, wait)
        .await
        .map_err(|_| transport("timed out waiting for inclusion"))?
}

/// Looks for extrinsic `hash` in the best blocks from `from` on, until it is found (or the
/// caller's timeout ends the wait).
async fn poll_inclusion(c: &Conn, hash: &[u8; 32], from: u64) -> Result<(AtBlock, Found)> {
    let mut next = from;
    loop {
        let best = c
            .rpc
            .chain_get_header(None)
            .await
            .map_err(classify)?
            .map(|h| h.number())
            .unwrap_or(next);
        while next <= best {
            let at = c.api.at_block(next).await.map_err(classify)?;
            if let Some(found) = find_in_block(&at, hash).await? {
                return Ok((at, found));
            }
            next += 1;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The next nonce of `who` at block `at` (`AccountNonceApi_account_nonce`, served by every
/// node, unlike `system_accountNextIndex`).
async fn nonce_at(at: &AtBlock, who: AccountId) -> Result<u64> {
    at.runtime_apis()
        .call(dynamic::runtime_api_call::<_, u64>(
            "AccountNonceApi",
            "account_nonce",
            (AccountId32(who),),
        ))
        .await
        .map_err(classify)
}

/// `Burn` of `netuid` at block `at`.
async fn burn_at(c: &Conn, at: &AtBlock, netuid: u16) -> Result<u64> {
    let key = vec![Value::u128(u128::from(netuid))];
    Ok(read_one::<u64>(c, at, SUBTENSOR, "Burn", key)
        .await?
        .unwrap_or(0))
}

/// One storage value `pallet.entry(key)` at block `at` (its default when unset; `None` when
/// the runtime has no such entry).
async fn read_one<V: DecodeAsType>(
    c: &Conn,
    at: &AtBlock,
    pallet: &str,
    entry: &str,
    key: Vec<Value<()>>,
) -> Result<Option<V>> {
    let mut b = Batch::new();
    let slot = b.add(at.metadata_ref(), pallet, entry, key)?;
    b.fetch(c, at).await?.get::<V>(slot)
}

/// What the runtime API does not give per neuron (or gives wrong), read in one request.
#[derive(Debug, Default)]
struct PerNeuron {
    /// `BlockAtRegistration` by uid.
    registered_at: HashMap<u16, u64>,
    /// `TotalHotkeyAlpha(hotkey, netuid)` by uid, on runtimes whose `get_neurons_lite` stake
    /// is not it (see [`stake_from_storage`]).
    alpha: HashMap<u16, u64>,
}

/// Whether a neuron's stake must be read from `TotalHotkeyAlpha` rather than taken from
/// `get_neurons_lite`: on the runtimes whose API answers the opaque pre-233 form, that answer's
/// stake is the pre-dTAO `Stake` map, which `add_stake` no longer writes (on spec 218, 100 TAO
/// staked shows 0 there while `TotalHotkeyAlpha` holds ~93 alpha:
/// e2e/tests/chain_validators.rs). Typed runtimes (233+) report `TotalHotkeyAlpha` themselves.
pub fn stake_from_storage(md: &Metadata) -> bool {
    neurons_shape(md) == Some(NeuronsShape::Opaque)
        && md
            .pallet_by_name(SUBTENSOR)
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name("TotalHotkeyAlpha"))
            .is_some()
}

/// Per-neuron slots of a [`Batch`]: uid, hotkey, `BlockAtRegistration`, alpha.
type NeuronSlots = Vec<(u16, [u8; 32], Slot, Slot)>;

/// Adds to `b` the registration block of each of `neurons` (uid, hotkey) on `netuid`
/// (`BlockAtRegistration`) and, where [`stake_from_storage`], its alpha.
fn add_per_neuron(
    b: &mut Batch,
    md: &Metadata,
    netuid: u16,
    neurons: &[NeuronKey],
) -> Result<NeuronSlots> {
    let alpha = stake_from_storage(md);
    let net = || Value::u128(u128::from(netuid));
    let mut slots = Vec::with_capacity(neurons.len());
    for (uid, hotkey) in neurons {
        let registered = b.add(
            md,
            SUBTENSOR,
            "BlockAtRegistration",
            vec![net(), Value::u128(u128::from(*uid))],
        )?;
        let stake = if alpha {
            b.add(
                md,
                SUBTENSOR,
                "TotalHotkeyAlpha",
                vec![account_value(hotkey), net()],
            )?
        } else {
            None
        };
        slots.push((*uid, *hotkey, registered, stake));
    }
    Ok(slots)
}

/// Reads the per-neuron values of `slots` from `f` into `out`.
fn read_per_neuron(f: &Fetched, slots: &NeuronSlots, out: &mut PerNeuron) -> Result<()> {
    for (uid, _, registered, stake) in slots {
        if let Some(v) = f.get::<u64>(*registered)? {
            out.registered_at.insert(*uid, v);
        }
        if let Some(v) = f.get::<u64>(*stake)? {
            out.alpha.insert(*uid, v);
        }
    }
    Ok(())
}

/// The per-neuron values of `neurons` on `netuid` that `known` (read with the subnet's items,
/// for the neurons of the last snapshot) does not hold: one more request, only when the
/// neurons changed (a registration, a deregistration).
async fn per_neuron(
    c: &Conn,
    at: &AtBlock,
    netuid: u16,
    neurons: &[NeuronInfoLiteRaw],
    known: (&Fetched, &NeuronSlots),
) -> Result<PerNeuron> {
    let mut out = PerNeuron::default();
    let (f, slots) = known;
    let had: std::collections::HashSet<NeuronKey> =
        slots.iter().map(|(u, h, _, _)| (*u, *h)).collect();
    let now: Vec<NeuronKey> = neurons.iter().map(|n| (n.uid, n.hotkey.0)).collect();
    read_per_neuron(f, slots, &mut out)?;
    let new: Vec<NeuronKey> = now.iter().filter(|k| !had.contains(k)).copied().collect();
    if !new.is_empty() {
        let mut b = Batch::new();
        let more = add_per_neuron(&mut b, at.metadata_ref(), netuid, &new)?;
        let g = b.fetch(c, at).await?;
        read_per_neuron(&g, &more, &mut out)?;
    }
    // Next block, these are read with the subnet's items.
    c.neuron_keys
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(netuid, now);
    Ok(out)
}

/// The neurons of `netuid` at `at`, from `get_neurons_lite` in whichever shape the runtime has.
async fn neurons_at(at: &AtBlock, netuid: u16) -> Result<Vec<NeuronInfoLiteRaw>> {
    async fn call<T: DecodeAsType>(at: &AtBlock, netuid: u16) -> Result<T> {
        at.runtime_apis()
            .call(dynamic::runtime_api_call::<_, T>(
                "NeuronInfoRuntimeApi",
                "get_neurons_lite",
                (netuid,),
            ))
            .await
            .map_err(classify)
    }
    match neurons_shape(at.metadata_ref()) {
        Some(NeuronsShape::Typed) => call::<Vec<NeuronInfoLiteRaw>>(at, netuid).await,
        Some(NeuronsShape::Opaque) => decode_opaque_neurons(&call::<Vec<u8>>(at, netuid).await?),
        None => Err(ChainError::Unsupported(
            "NeuronInfoRuntimeApi.get_neurons_lite".into(),
        )),
    }
}

#[async_trait]
impl Chain for SubxtChain {
    async fn new_heads(&self) -> Result<Option<HeadStream>> {
        use futures::StreamExt as _;
        use subxt::config::Hasher as _;
        self.with(|c| async move {
            let best = c.rpc.chain_subscribe_new_heads().await.map_err(classify)?;
            let finalized = c
                .rpc
                .chain_subscribe_finalized_heads()
                .await
                .map_err(classify)?;
            let announced = c.announced.clone();
            let guard = Arc::new(AnnouncedGuard(announced.clone()));
            let note = move |f: &dyn Fn(&mut Announced)| {
                f(&mut announced.lock().unwrap_or_else(|p| p.into_inner()));
            };
            // Best heads are noted; finalized ones (what snapshots read) wake the follower.
            let note_best = note.clone();
            let best = best.filter_map(move |h| {
                if let Ok(h) = &h {
                    note_best(&|a| a.best = Some(a.best.unwrap_or(0).max(h.number())));
                }
                std::future::ready(h.err().map(Err))
            });
            let finalized = finalized.map(move |h| {
                h.map(|h| {
                    let hash = subxt::config::substrate::BlakeTwo256
                        .hash(&parity_scale_codec::Encode::encode(&h));
                    let number = h.number();
                    note(&|a| {
                        a.finalized = Some((hash, number));
                        a.best = Some(a.best.unwrap_or(0).max(number));
                    });
                    number
                })
            });
            // An error in either stream ends it: the follower polls, then subscribes again.
            let numbers = futures::stream::select(best, finalized)
                .take_while(|h| std::future::ready(h.is_ok()))
                .filter_map(move |h| {
                    let _held = &guard;
                    std::future::ready(h.ok())
                });
            Ok(Some(numbers.boxed()))
        })
        .await
    }

    fn describe(&self) -> String {
        format!("subtensor at {}", self.endpoints.join(","))
    }

    fn endpoint(&self) -> Option<String> {
        let st = self.state.try_lock().ok()?;
        let c = st.conn.as_ref()?;
        self.endpoints.get(c.index).cloned()
    }

    async fn head(&self) -> Result<ChainHead> {
        self.with(|c| async move {
            let at = finalized(&c).await?;
            let best = match announced(&c).best {
                Some(best) => best,
                None => c
                    .rpc
                    .chain_get_header(None)
                    .await
                    .map_err(classify)?
                    .map(|h| h.number())
                    .unwrap_or(at.block_number()),
            };
            let best = best.max(at.block_number());
            Ok(ChainHead {
                best,
                finalized: at.block_number(),
                genesis_hash: hex0x(&c.api.genesis_hash().0),
                first_block_hash: first_block_hash(&c, best).await?,
                spec_version: at.spec_version(),
            })
        })
        .await
    }

    async fn subnet(&self, netuid: u16) -> Result<Option<SubnetSnapshot>> {
        self.with(|c| async move {
            let at = finalized(&c).await?;
            let md = at.metadata_ref();
            let n = || vec![Value::u128(u128::from(netuid))];
            let mut b = Batch::new();
            let mut add = |entry: &str| b.add(md, SUBTENSOR, entry, n());
            let exists = add("NetworksAdded")?;
            let subtoken = add("SubtokenEnabled")?;
            let first_emission = add("FirstEmissionBlockNumber")?;
            let owner = add("SubnetOwner")?;
            let owner_hotkey = add("SubnetOwnerHotkey")?;
            let min_non_immune = add("MinNonImmuneUids")?;
            let owner_limit = add("ImmuneOwnerUidsLimit")?;
            let burn = add("Burn")?;
            let min_burn = add("MinBurn")?;
            let max_burn = add("MaxBurn")?;
            let half_life = add("BurnHalfLife")?;
            let mult = add("BurnIncreaseMult")?;
            let interval = add("AdjustmentInterval")?;
            let target = add("TargetRegistrationsPerInterval")?;
            let per_block = add("MaxRegistrationsPerBlock")?;
            let last_adjustment = add("LastAdjustmentBlock")?;
            let this_interval = add("RegistrationsThisInterval")?;
            let this_block = add("RegistrationsThisBlock")?;
            let tempo = add("Tempo")?;
            let max_uids = add("MaxAllowedUids")?;
            let immunity = add("ImmunityPeriod")?;
            let allowed = add("NetworkRegistrationAllowed")?;
            let commit_reveal = add("CommitRevealWeightsEnabled")?;
            let pool_tao = add("SubnetTAO")?;
            let pool_alpha = add("SubnetAlphaIn")?;
            // The neurons of the last snapshot: their storage comes in the same request.
            let last = c
                .neuron_keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&netuid)
                .cloned()
                .unwrap_or_default();
            let known = add_per_neuron(&mut b, md, netuid, &last)?;
            let f = b.fetch(&c, &at).await?;
            if f.get::<bool>(exists)? != Some(true) {
                return Ok(None);
            }
            let started = match f.get::<bool>(subtoken)? {
                Some(b) => b,
                None => match f.get::<Option<u64>>(first_emission)? {
                    Some(first) => first.is_some(),
                    // A runtime without start_call: subnets run from creation.
                    None => true,
                },
            };
            let price = match f.get::<u16>(half_life)? {
                Some(h) => PriceModel::Decay {
                    half_life: h,
                    increase_mult: f
                        .get::<Value<()>>(mult)?
                        .as_ref()
                        .and_then(u64f64)
                        .unwrap_or(super::DEFAULT_BURN_INCREASE_MULT),
                },
                None => PriceModel::Adjustment {
                    interval: f.get(interval)?.unwrap_or(100),
                    target: f.get(target)?.unwrap_or(1),
                    max_per_block: f.get(per_block)?.unwrap_or(1),
                    last_adjustment: f.get(last_adjustment)?.unwrap_or(0),
                    this_interval: f.get(this_interval)?.unwrap_or(0),
                    this_block: f.get(this_block)?.unwrap_or(0),
                },
            };
            let raw = neurons_at(&at, netuid).await?;
            let extra = per_neuron(&c, &at, netuid, &raw, (&f, &known)).await?;
            let mut neurons: Vec<Neuron> = raw
                .into_iter()
                .map(|n| {
                    let uid = n.uid;
                    let b = extra.registered_at.get(&uid).copied().unwrap_or(0);
                    let mut neuron = neuron(n, b);
                    if let Some(&alpha) = extra.alpha.get(&uid) {
                        neuron.stake = alpha;
                    }
                    neuron
                })
                .collect();
            neurons.sort_by_key(|n| n.uid);
            Ok(Some(SubnetSnapshot {
                netuid,
                block: at.block_number(),
                burn: f.get(burn)?.unwrap_or(0),
                min_burn: f.get(min_burn)?.unwrap_or(0),
                max_burn: f.get(max_burn)?.unwrap_or(u64::MAX),
                price,
                price_guard: price_guard(md),
                tempo: f.get(tempo)?.unwrap_or(0),
                max_uids: f.get(max_uids)?.unwrap_or(0),
                immunity_period: f.get(immunity)?.unwrap_or(0),
                registration_allowed: f.get(allowed)?.unwrap_or(true),
                started,
                owner: f
                    .get::<AccountId32>(owner)?
                    .map(|a| a.0)
                    .filter(|a| a != &[0u8; 32]),
                owner_hotkey: f
                    .get::<AccountId32>(owner_hotkey)?
                    .map(|a| a.0)
                    .filter(|a| a != &[0u8; 32]),
                prune_rule: prune_rule(
                    md,
                    at.spec_version(),
                    f.get(min_non_immune)?,
                    f.get(owner_limit)?,
                ),
                commit_reveal: f.get(commit_reveal)?.unwrap_or(false),
                pool: match (f.get::<u64>(pool_tao)?, f.get::<u64>(pool_alpha)?) {
                    (Some(tao), Some(alpha)) => Some(super::Pool { tao, alpha }),
                    _ => None,
                },
                neurons,
            }))
        })
        .await
    }

    async fn account(&self, who: AccountId) -> Result<AccountInfo> {
        self.with(|c| async move {
            let at = best(&c).await?;
            let key = vec![account_value(&who)];
            let free = read_one::<AccountRaw>(&c, &at, "System", "Account", key)
                .await?
                .map_or(0, |a| u64::try_from(a.data.free).unwrap_or(u64::MAX));
            let nonce = nonce_at(&at, who).await?;
            Ok(AccountInfo { free, nonce })
        })
        .await
    }

    async fn registration_proxy(&self, real: AccountId, delegate: AccountId) -> Result<ProxyCheck> {
        self.with(|c| async move {
            let at = best(&c).await?;
            let key = vec![account_value(&real)];
            let defs = read_one::<(Vec<ProxyDefRaw>, u128)>(&c, &at, "Proxy", "Proxies", key)
                .await?
                .map(|(d, _)| d)
                .unwrap_or_default();
            Ok(check_proxies(&defs, &delegate))
        })
        .await
    }

    async fn find_tx(&self, hash: &str, from: u64, to: u64) -> Result<Option<TxOutcome>> {
        let want = parse_hash(hash)?;
        let hash = hash.to_string();
        self.with(|c| async move {
            let best = c
                .rpc
                .chain_get_header(None)
                .await
                .map_err(classify)?
                .map(|h| h.number())
                .unwrap_or(0);
            for n in from..=to.min(best) {
                let at = c.api.at_block(n).await.map_err(classify)?;
                if let Some(found) = find_in_block(&at, &want).await? {
                    return register_outcome(&at, &found, &hash).await.map(Some);
                }
            }
            Ok(None)
        })
        .await
    }

    async fn prepare_register(
        &self,
        signer: &Signer,
        call: RegisterCall,
        nonce: u64,
        era_end: Option<u64>,
    ) -> Result<PreparedTx> {
        self.with(|c| async move {
            let at = best(&c).await?;
            let (birth, era_end) = era_birth(era_end.unwrap_or(at.block_number() + ERA_PERIOD - 1));
            let birth_hash = if birth == at.block_number() {
                at.block_hash()
            } else {
                c.api
                    .at_block(birth)
                    .await
                    .map_err(|e| {
                        ChainError::Invalid(format!("era start block {birth} not available: {e}"))
                    })?
                    .block_hash()
            };
            let md = at.metadata_ref();
            let spec = register_call(md, &call);
            let s = sign_offline(&at, &spec, signer, nonce, birth, birth_hash)?;
            let hash = hex0x(&s.hash);
            tracing::debug!(call = %format!("{}.{}", spec.pallet, spec.call), nonce, era_end, hash = %hash, "prepared a registration");
            let client_guard =
                (price_guard(md) == PriceGuard::Client).then_some((call.netuid, call.limit_rao));
            self.remember(
                &hash,
                Kept {
                    bytes: s.encoded,
                    client_guard,
                },
            );
            Ok(PreparedTx {
                signer: signer.public(),
                nonce,
                era_end,
                hash,
                call,
                signature: hex::encode(s.signature),
            })
        })
        .await
    }

    async fn submit(&self, tx: &PreparedTx) -> Result<TxOutcome> {
        let kept = self.recall(&tx.hash).ok_or_else(|| {
            ChainError::Other(format!(
                "transaction {} was not prepared by this process; prepare it again",
                tx.hash
            ))
        })?;
        let hash = tx.hash.clone();
        self.with(|c| async move {
            if let Some((netuid, limit)) = kept.client_guard {
                // The chain will charge the burn at inclusion, whatever it is: look at the best
                // block once more, the last moment before sending.
                let at = best(&c).await?;
                let burn = burn_at(&c, &at, netuid).await?;
                if burn > limit {
                    return Err(ChainError::PriceAboveLimit { burn, limit });
                }
            }
            let (at, found) = submit_bytes(&c, kept.bytes).await?;
            register_outcome(&at, &found, &hash).await
        })
        .await
    }

    async fn subnet_owners(&self) -> Result<Vec<(u16, Option<AccountId>)>> {
        self.with(|c| async move {
            let at = finalized(&c).await?;
            let mut out = Vec::new();
            let mut it = at
                .storage()
                .iter(
                    dynamic::storage::<(u16,), AccountId32>(SUBTENSOR, "SubnetOwner"),
                    (),
                )
                .await
                .map_err(classify)?;
            while let Some(kv) = it.next().await {
                let kv = kv.map_err(classify)?;
                let netuid = kv
                    .key()
                    .ok()
                    .and_then(|k| k.part(0))
                    .and_then(|p| p.decode_as::<u16>().ok().flatten());
                if let Some(n) = netuid {
                    let owner = kv
                        .value()
                        .decode_as::<AccountId32>()
                        .ok()
                        .map(|a| a.0)
                        .filter(|a| a != &[0u8; 32]);
                    out.push((n, owner));
                }
            }
            out.sort_by_key(|(n, _)| *n);
            Ok(out)
        })
        .await
    }

    async fn supports(&self, call: &LocalnetCall) -> Result<bool> {
        self.with(|c| async move {
            let at = best(&c).await?;
            let md = at.metadata_ref();
            Ok(match localnet_call_spec(md, call) {
                Ok(spec) => spec.supported_by(md).is_ok(),
                Err(ChainError::Unsupported(_)) => false,
                Err(e) => return Err(e),
            })
        })
        .await
    }

    async fn localnet_call(&self, signer: &Signer, call: LocalnetCall) -> Result<LocalnetOutcome> {
        self.with(|c| async move {
            let at = best(&c).await?;
            let md = at.metadata_ref();
            let spec = localnet_call_spec(md, &call)?;
            spec.supported_by(md).map_err(ChainError::Unsupported)?;
            let nonce = nonce_at(&at, signer.public()).await?;
            let s = sign_offline(&at, &spec, signer, nonce, at.block_number(), at.block_hash())?;
            tracing::info!(call = %format!("{}.{}", spec.pallet, spec.call), signer = %signer.ss58(), "sending a localnet call");
            let (at, found) = submit_bytes(&c, s.encoded).await?;
            let evs = events_of(&at, found.index).await?;
            let sum = summarize_events(at.metadata_ref(), &evs);
            Ok(LocalnetOutcome {
                block: at.block_number(),
                result: match sum.error {
                    Some(e) => Err(DispatchError::from(e)),
                    None => Ok(sum.network_added),
                },
            })
        })
        .await
    }
}

#[cfg(test)]
#[path = "subxt_client_tests.rs"]
mod tests;
