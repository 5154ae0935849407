//! The real chain client: subxt 0.51's dynamic API over live metadata (no static codegen), so
//! runtime upgrades need no rebuild and older runtimes without newer calls still work
//! (`register_limit` falls back to `burned_register`).
//!
//! - **Connection:** a list of WebSocket endpoints (`ws://` allowed). On a transport error the
//!   client drops its connection and the next call connects to the next endpoint; when every
//!   endpoint failed in a row it backs off (0.5 s doubling to 30 s).
//! - **Reads** are made at the finalized block (no reorgs under a snapshot); the best block
//!   number comes from `chain_getHeader`.
//! - **Registrations** are signed offline with the caller's nonce and a 32-block mortal era, with
//!   a deterministic sr25519 signature: preparing the same registration again (same nonce and
//!   era end, as the controller does when it re-sends) yields the same bytes and hash. The
//!   signed bytes are also kept in memory by hash, and [`Chain::submit`] sends exactly those.
//! - **Config:** [`SubstrateConfig`] rather than `PolkadotConfig`: the encodings subtensor needs
//!   are identical (`MultiAddress::Id` encodes the same whatever the index type; same hasher and
//!   default extensions), it does not load Polkadot's historic type registry, and it lets tests
//!   set a genesis hash for offline signing.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use scale_decode::DecodeAsType;
use scale_value::{Composite, Value, ValueDef};
use subxt::client::{ClientAtBlock, OfflineClientAtBlockT, OnlineClientAtBlockImpl};
use subxt::config::substrate::SubstrateConfig;
use subxt::config::{DefaultExtrinsicParamsBuilder, Header as _};
use subxt::dynamic;
use subxt::tx::TransactionStatus;
use subxt::utils::{AccountId32, H256, MultiSignature};
use subxt::{Metadata, OnlineClient};

use super::{
    AccountId, AccountInfo, Chain, ChainError, ChainHead, Hyperparameter, LocalnetCall,
    LocalnetOutcome, Neuron, PreparedTx, RegisterCall, Result, SubnetSnapshot, TxOutcome,
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

/// Pallet and call names (CHAIN.md §1); everything else is resolved from metadata.
const SUBTENSOR: &str = "SubtensorModule";
/// The custom fee extension subxt does not know; it carries a `Compact<u64>` tip.
const FEE_WRAPPER: &str = "ChargeTransactionPaymentWrapper";

type AtBlock = ClientAtBlock<Cfg, OnlineClientAtBlockImpl<Cfg>>;
type Rpc = subxt::rpcs::LegacyRpcMethods<subxt::config::RpcConfigFor<Cfg>>;

struct Conn {
    api: OnlineClient<Cfg>,
    rpc: Rpc,
    index: usize,
}

struct ConnState {
    conn: Option<std::sync::Arc<Conn>>,
    /// Endpoint to try next.
    next: usize,
    /// Consecutive failed attempts (across endpoints).
    failures: u32,
    /// No attempt before this instant.
    not_before: Option<Instant>,
}

/// A subtensor client over a list of WebSocket endpoints.
pub struct SubxtChain {
    endpoints: Vec<String>,
    state: tokio::sync::Mutex<ConnState>,
    /// Signed extrinsics by hash ("0x…"), so a re-send sends the very same bytes.
    prepared: Mutex<HashMap<String, Vec<u8>>>,
}

fn unreachable(e: impl std::fmt::Display) -> ChainError {
    ChainError::Unreachable(e.to_string())
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
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

    /// Parses a comma-separated endpoint list (`ws://a:9944,ws://b:9944`).
    pub fn parse_endpoints(list: &str) -> Vec<String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The current connection, connecting (with failover and backoff) when there is none.
    async fn conn(&self) -> Result<std::sync::Arc<Conn>> {
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
                    let c = std::sync::Arc::new(Conn { api, rpc, index });
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
        if !matches!(e, ChainError::Unreachable(_)) {
            return;
        }
        let mut st = self.state.lock().await;
        if st.conn.as_ref().is_some_and(|x| x.index == c.index) {
            tracing::warn!(endpoint = %self.endpoints[c.index], error = %e, "dropping the chain connection");
            st.conn = None;
            st.next = (c.index + 1) % self.endpoints.len();
        }
    }

    /// Runs `f` on the connection, dropping the connection on transport errors.
    async fn with<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: FnOnce(std::sync::Arc<Conn>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let c = self.conn().await?;
        let r = f(c.clone()).await;
        if let Err(e) = &r {
            self.fail(&c, e).await;
        }
        r
    }

    fn remember(&self, hash: &str, bytes: Vec<u8>) {
        let mut m = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= PREPARED_CAP && !m.contains_key(hash) {
            m.clear();
        }
        m.insert(hash.to_string(), bytes);
    }

    fn recall(&self, hash: &str) -> Option<Vec<u8>> {
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
    let api = OnlineClient::<Cfg>::from_rpc_client_with_config(Cfg::new(), rpc.clone())
        .await
        .map_err(|e| e.to_string())?;
    Ok((api, Rpc::new(rpc)))
}

// ---------------------------------------------------------------------------------------------
// Storage and runtime API reads

/// Whether `pallet.entry` exists in the metadata.
fn has_storage(md: &Metadata, pallet: &str, entry: &str) -> bool {
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

/// Reads a storage value (ValueQuery: the default when unset), or `None` when the runtime has
/// no such entry.
async fn read<K, V>(at: &AtBlock, pallet: &str, entry: &str, keys: K) -> Result<Option<V>>
where
    K: subxt::ext::frame_decode::storage::IntoEncodableValues
        + subxt::ext::frame_decode::storage::IntoDecodableValues,
    V: DecodeAsType,
{
    if !has_storage(at.metadata_ref(), pallet, entry) {
        return Ok(None);
    }
    let v = at
        .storage()
        .try_fetch(dynamic::storage::<K, V>(pallet, entry), keys)
        .await
        .map_err(unreachable)?;
    match v {
        Some(v) => v.decode_as::<V>().map(Some).map_err(unreachable),
        None => {
            // Unset: the entry's default (ValueQuery), if it has one.
            let e = at
                .storage()
                .entry(dynamic::storage::<K, V>(pallet, entry))
                .map_err(unreachable)?;
            match e.default_value() {
                Some(d) => d.decode_as::<V>().map(Some).map_err(unreachable),
                None => Ok(None),
            }
        }
    }
}

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
}

/// `System.Account`'s value (only what the operator needs).
#[derive(DecodeAsType, Debug, Clone)]
#[decode_as_type(crate_path = "scale_decode")]
struct AccountRaw {
    nonce: u64,
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
    }
}

/// Whether a proxy type value (a `ProxyType` variant) allows registering.
fn allows_registration(v: &Value<()>) -> bool {
    matches!(variant_name(v), Some("Registration" | "Any"))
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
    /// The netuid of `SubtensorModule.NetworkAdded`.
    pub network_added: Option<u16>,
}

/// Summarizes a transaction's events, each as (pallet, event, fields).
pub fn summarize_events<C>(md: &Metadata, events: &[(String, String, Value<C>)]) -> EventSummary {
    let mut s = EventSummary::default();
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
                s.registered_uid = field(v, "uid", 1)
                    .and_then(as_u128)
                    .and_then(|u| u16::try_from(u).ok());
            }
            (SUBTENSOR, "NetworkAdded") => {
                s.network_added = field(v, "netuid", 0)
                    .and_then(as_u128)
                    .and_then(|u| u16::try_from(u).ok());
            }
            _ => {}
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Call construction (pure over metadata, unit-tested)

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
}

/// The registration call for `call`: `register_limit(netuid, hotkey, limit)` when the runtime
/// has it, else `burned_register(netuid, hotkey)`; inside
/// `Proxy.proxy(real, Some(Registration), …)` when `call.real` is set.
pub fn register_call(md: &Metadata, call: &RegisterCall) -> CallSpec {
    let netuid = Value::u128(u128::from(call.netuid));
    let inner = if has_call(md, SUBTENSOR, "register_limit") {
        CallSpec::new(
            SUBTENSOR,
            "register_limit",
            vec![
                netuid,
                account_value(&call.hotkey),
                Value::u128(u128::from(call.limit_rao)),
            ],
        )
    } else {
        CallSpec::new(
            SUBTENSOR,
            "burned_register",
            vec![netuid, account_value(&call.hotkey)],
        )
    };
    match &call.real {
        Some(real) => CallSpec::new(
            "Proxy",
            "proxy",
            vec![
                Value::unnamed_variant("Id", [account_value(real)]),
                Value::unnamed_variant("Some", [Value::unnamed_variant("Registration", [])]),
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
    };
    CallSpec::new("AdminUtils", name, vec![n, v])
}

fn sudo(inner: CallSpec) -> CallSpec {
    CallSpec::new("Sudo", "sudo", vec![inner.into_value()])
}

/// The extrinsic for a localnet scaffold call (`Sudo*` ones wrapped in `Sudo.sudo`).
pub fn localnet_call_spec(call: &LocalnetCall) -> CallSpec {
    match call {
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
            CallSpec::new(SUBTENSOR, "register_network", vec![account_value(hotkey)])
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
    }
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
/// born at block `birth` (hash `birth_hash`) and a zero tip (also in the subtensor fee
/// extension when the runtime lists it). Deterministic: same inputs, same bytes.
pub fn sign_offline<C: OfflineClientAtBlockT<Cfg>>(
    at: &ClientAtBlock<Cfg, C>,
    call: &CallSpec,
    signer: &Signer,
    nonce: u64,
    birth: u64,
    birth_hash: H256,
) -> Result<Signed> {
    let md = at.metadata_ref();
    let mut params = DefaultExtrinsicParamsBuilder::<Cfg>::new()
        .nonce(nonce)
        .tip(0)
        .mortal_from_unchecked(ERA_PERIOD, birth, birth_hash);
    if lists_extension(md, FEE_WRAPPER) {
        params = params.custom_extension(FEE_WRAPPER, Value::unnamed_composite([Value::u128(0)]));
    }
    let payload = call.payload();
    let mut tx = at
        .transactions()
        .create_signable_offline(&payload, params.build())
        .map_err(|e| {
            ChainError::Other(format!("cannot build {}.{}: {e}", call.pallet, call.call))
        })?;
    let to_sign = tx
        .signer_payload()
        .map_err(|e| ChainError::Other(e.to_string()))?;
    let signature = signer.sign_deterministic(&to_sign);
    let signed = tx
        .sign_with_account_and_signature(
            &AccountId32(signer.public()),
            &MultiSignature::Sr25519(signature),
        )
        .map_err(|e| ChainError::Other(e.to_string()))?;
    Ok(Signed {
        hash: signed.hash().0,
        encoded: signed.into_encoded(),
        signature,
    })
}

/// Whether the runtime's transaction extensions include `name`.
pub fn lists_extension(md: &Metadata, name: &str) -> bool {
    let ext = md.extrinsic();
    let newest = ext.transaction_extension_version_to_use_for_encoding();
    (0..=newest).any(|v| {
        ext.transaction_extensions_by_version(v)
            .is_some_and(|mut it| it.any(|e| e.identifier() == name))
    })
}

/// Maps a submission error: pool rejections (`1010 Invalid Transaction`, `1012`–`1014`) are
/// [`ChainError::Invalid`], the rest transport errors.
fn submit_error(e: impl std::fmt::Display) -> ChainError {
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
    ];
    if pool.iter().any(|p| s.contains(p)) {
        ChainError::Invalid(s)
    } else {
        ChainError::Unreachable(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Online helpers

async fn events_of(at: &AtBlock, ext_index: usize) -> Result<Vec<(String, String, Value<()>)>> {
    let events = at.events().fetch().await.map_err(unreachable)?;
    let mut out = Vec::new();
    for ev in events.iter() {
        let ev = ev.map_err(unreachable)?;
        let mine = matches!(ev.phase(), subxt::events::Phase::ApplyExtrinsic(i) if i as usize == ext_index);
        if !mine {
            continue;
        }
        let v = ev.decode_as::<Value<()>>().map_err(unreachable)?;
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

/// Finds extrinsic `hash` in block `at`; returns its index.
async fn find_in_block(at: &AtBlock, hash: &[u8; 32]) -> Result<Option<usize>> {
    let exts = at.extrinsics().fetch().await.map_err(unreachable)?;
    for e in exts.iter() {
        let e = e.map_err(unreachable)?;
        if e.hash().0 == *hash {
            return Ok(Some(e.index()));
        }
    }
    Ok(None)
}

fn parse_hash(hash: &str) -> Result<[u8; 32]> {
    hex::decode(hash.trim_start_matches("0x"))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ChainError::Other(format!("not a 32-byte hex hash: {hash}")))
}

impl SubxtChain {
    /// The outcome of the registration at index `idx` of block `at`, with the burn read at the
    /// parent block (an approximation: the block's own decay step is not applied).
    async fn register_outcome(
        &self,
        c: &Conn,
        at: &AtBlock,
        idx: usize,
        hash: &str,
        netuid: u16,
    ) -> Result<TxOutcome> {
        let evs = events_of(at, idx).await?;
        let s = summarize_events(at.metadata_ref(), &evs);
        let block = at.block_number();
        let result = match (s.error, s.registered_uid) {
            (Some(e), _) => Err(e),
            (None, Some(uid)) => {
                let parent = c
                    .api
                    .at_block(block.saturating_sub(1))
                    .await
                    .map_err(unreachable)?;
                let burn = read::<_, u64>(&parent, SUBTENSOR, "Burn", (netuid,))
                    .await?
                    .unwrap_or(0);
                Ok((uid, burn))
            }
            (None, None) => Err("NoNeuronRegisteredEvent".to_string()),
        };
        Ok(TxOutcome {
            block,
            hash: hash.to_string(),
            result,
        })
    }

    /// Submits `bytes` and waits for inclusion; returns the including block and the
    /// extrinsic's index in it.
    async fn submit_bytes(&self, c: &Conn, bytes: Vec<u8>) -> Result<(AtBlock, usize)> {
        let at = c.api.at_current_block().await.map_err(unreachable)?;
        let tx = at.transactions().from_bytes(bytes);
        let hash = tx.hash().0;
        let mut progress = tx.submit_and_watch().await.map_err(submit_error)?;
        let wait = async {
            while let Some(status) = progress.next().await {
                match status.map_err(unreachable)? {
                    TransactionStatus::InBestBlock(b) | TransactionStatus::InFinalizedBlock(b) => {
                        let at = c.api.at_block(b.block_hash()).await.map_err(unreachable)?;
                        let idx = find_in_block(&at, &hash).await?.ok_or_else(|| {
                            unreachable("the node reported inclusion, but the block lacks it")
                        })?;
                        return Ok((at, idx));
                    }
                    TransactionStatus::Invalid { message }
                    | TransactionStatus::Dropped { message } => {
                        return Err(ChainError::Invalid(message));
                    }
                    TransactionStatus::Error { message } => return Err(unreachable(message)),
                    _ => {}
                }
            }
            Err(unreachable("the transaction status stream ended"))
        };
        tokio::time::timeout(INCLUSION_TIMEOUT, wait)
            .await
            .map_err(|_| unreachable("timed out waiting for inclusion"))?
    }
}

#[async_trait]
impl Chain for SubxtChain {
    fn describe(&self) -> String {
        format!("subtensor at {}", self.endpoints.join(","))
    }

    async fn head(&self) -> Result<ChainHead> {
        self.with(|c| async move {
            let at = c.api.at_current_block().await.map_err(unreachable)?;
            let best = c
                .rpc
                .chain_get_header(None)
                .await
                .map_err(unreachable)?
                .map(|h| h.number())
                .unwrap_or(at.block_number());
            Ok(ChainHead {
                best: best.max(at.block_number()),
                finalized: at.block_number(),
                genesis_hash: hex0x(&c.api.genesis_hash().0),
                spec_version: at.spec_version(),
            })
        })
        .await
    }

    async fn subnet(&self, netuid: u16) -> Result<Option<SubnetSnapshot>> {
        self.with(|c| async move {
            let at = c.api.at_current_block().await.map_err(unreachable)?;
            let k = (netuid,);
            let exists = read::<_, bool>(&at, SUBTENSOR, "NetworksAdded", k).await?;
            if exists != Some(true) {
                return Ok(None);
            }
            let u64_of = |e: &'static str| {
                let at = &at;
                async move { read::<_, u64>(at, SUBTENSOR, e, k).await }
            };
            let u16_of = |e: &'static str| {
                let at = &at;
                async move { read::<_, u16>(at, SUBTENSOR, e, k).await }
            };
            let bool_of = |e: &'static str| {
                let at = &at;
                async move { read::<_, bool>(at, SUBTENSOR, e, k).await }
            };
            let started = match bool_of("SubtokenEnabled").await? {
                Some(b) => b,
                None => match read::<_, Option<u64>>(&at, SUBTENSOR, "FirstEmissionBlockNumber", k)
                    .await?
                {
                    Some(first) => first.is_some(),
                    // A runtime without start_call: subnets run from creation.
                    None => true,
                },
            };
            let owner = read::<_, AccountId32>(&at, SUBTENSOR, "SubnetOwner", k)
                .await?
                .map(|a| a.0)
                .filter(|a| a != &[0u8; 32]);
            // Registration blocks of the whole subnet in one prefix iteration.
            let mut registered_at = HashMap::new();
            if has_storage(at.metadata_ref(), SUBTENSOR, "BlockAtRegistration") {
                let mut it = at
                    .storage()
                    .iter(
                        dynamic::storage::<(u16, u16), u64>(SUBTENSOR, "BlockAtRegistration"),
                        (netuid,),
                    )
                    .await
                    .map_err(unreachable)?;
                while let Some(kv) = it.next().await {
                    let kv = kv.map_err(unreachable)?;
                    let uid = kv
                        .key()
                        .ok()
                        .and_then(|k| k.part(1))
                        .and_then(|p| p.decode_as::<u16>().ok().flatten());
                    if let (Some(uid), Ok(b)) = (uid, kv.value().decode_as::<u64>()) {
                        registered_at.insert(uid, b);
                    }
                }
            }
            let raw: Vec<NeuronInfoLiteRaw> = at
                .runtime_apis()
                .call(dynamic::runtime_api_call::<_, Vec<NeuronInfoLiteRaw>>(
                    "NeuronInfoRuntimeApi",
                    "get_neurons_lite",
                    (netuid,),
                ))
                .await
                .map_err(unreachable)?;
            let mut neurons: Vec<Neuron> = raw
                .into_iter()
                .map(|n| {
                    let b = registered_at.get(&n.uid).copied().unwrap_or(0);
                    neuron(n, b)
                })
                .collect();
            neurons.sort_by_key(|n| n.uid);
            Ok(Some(SubnetSnapshot {
                netuid,
                block: at.block_number(),
                burn: u64_of("Burn").await?.unwrap_or(0),
                min_burn: u64_of("MinBurn").await?.unwrap_or(0),
                max_burn: u64_of("MaxBurn").await?.unwrap_or(u64::MAX),
                burn_half_life: u16_of("BurnHalfLife").await?.unwrap_or(0),
                tempo: u16_of("Tempo").await?.unwrap_or(0),
                max_uids: u16_of("MaxAllowedUids").await?.unwrap_or(0),
                immunity_period: u16_of("ImmunityPeriod").await?.unwrap_or(0),
                registration_allowed: bool_of("NetworkRegistrationAllowed").await?.unwrap_or(true),
                started,
                owner,
                commit_reveal: bool_of("CommitRevealWeightsEnabled")
                    .await?
                    .unwrap_or(false),
                neurons,
            }))
        })
        .await
    }

    async fn account(&self, who: AccountId) -> Result<AccountInfo> {
        self.with(|c| async move {
            let at = c.api.at_current_block().await.map_err(unreachable)?;
            let a = read::<_, AccountRaw>(&at, "System", "Account", (AccountId32(who),)).await?;
            Ok(a.map(|a| AccountInfo {
                free: u64::try_from(a.data.free).unwrap_or(u64::MAX),
                nonce: a.nonce,
            })
            .unwrap_or_default())
        })
        .await
    }

    async fn is_registration_proxy(&self, real: AccountId, delegate: AccountId) -> Result<bool> {
        self.with(|c| async move {
            let at = c.api.at_current_block().await.map_err(unreachable)?;
            let p =
                read::<_, (Vec<ProxyDefRaw>, u128)>(&at, "Proxy", "Proxies", (AccountId32(real),))
                    .await?;
            Ok(p.is_some_and(|(defs, _)| {
                defs.iter()
                    .any(|d| d.delegate.0 == delegate && allows_registration(&d.proxy_type))
            }))
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
                .map_err(unreachable)?
                .map(|h| h.number())
                .unwrap_or(0);
            for n in from..=to.min(best) {
                let at = c.api.at_block(n).await.map_err(unreachable)?;
                if let Some(idx) = find_in_block(&at, &want).await? {
                    // Which subnet: decode netuid from the registration's events or call.
                    let evs = events_of(&at, idx).await?;
                    let netuid = evs
                        .iter()
                        .find(|(p, e, _)| p == SUBTENSOR && e == "NeuronRegistered")
                        .and_then(|(_, _, v)| field(v, "netuid", 0).and_then(as_u128))
                        .and_then(|u| u16::try_from(u).ok())
                        .unwrap_or(0);
                    return self
                        .register_outcome(&c, &at, idx, &hash, netuid)
                        .await
                        .map(Some);
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
            let at = c.api.at_current_block().await.map_err(unreachable)?;
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
            let spec = register_call(at.metadata_ref(), &call);
            let s = sign_offline(&at, &spec, signer, nonce, birth, birth_hash)?;
            let hash = hex0x(&s.hash);
            tracing::debug!(call = %format!("{}.{}", spec.pallet, spec.call), nonce, era_end, hash = %hash, "prepared a registration");
            self.remember(&hash, s.encoded);
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
        let bytes = self.recall(&tx.hash).ok_or_else(|| {
            ChainError::Other(format!(
                "transaction {} was not prepared by this process; prepare it again",
                tx.hash
            ))
        })?;
        let netuid = tx.call.netuid;
        let hash = tx.hash.clone();
        self.with(|c| async move {
            let (at, idx) = self.submit_bytes(&c, bytes).await?;
            self.register_outcome(&c, &at, idx, &hash, netuid).await
        })
        .await
    }

    async fn subnet_owners(&self) -> Result<Vec<(u16, Option<AccountId>)>> {
        self.with(|c| async move {
            let at = c.api.at_current_block().await.map_err(unreachable)?;
            let mut out = Vec::new();
            let mut it = at
                .storage()
                .iter(
                    dynamic::storage::<(u16,), AccountId32>(SUBTENSOR, "SubnetOwner"),
                    (),
                )
                .await
                .map_err(unreachable)?;
            while let Some(kv) = it.next().await {
                let kv = kv.map_err(unreachable)?;
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

    async fn localnet_call(&self, signer: &Signer, call: LocalnetCall) -> Result<LocalnetOutcome> {
        let nonce = self.account(signer.public()).await?.nonce;
        self.with(|c| async move {
            let at = c.api.at_current_block().await.map_err(unreachable)?;
            let spec = localnet_call_spec(&call);
            let s = sign_offline(&at, &spec, signer, nonce, at.block_number(), at.block_hash())?;
            tracing::info!(call = %format!("{}.{}", spec.pallet, spec.call), signer = %signer.ss58(), "sending a localnet call");
            let (at, idx) = self.submit_bytes(&c, s.encoded).await?;
            let evs = events_of(&at, idx).await?;
            let sum = summarize_events(at.metadata_ref(), &evs);
            Ok(LocalnetOutcome {
                block: at.block_number(),
                result: match sum.error {
                    Some(e) => Err(e),
                    None => Ok(sum.network_added),
                },
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(non_camel_case_types, dead_code)]

    use super::*;
    use frame_metadata::v15;
    use parity_scale_codec::{Compact, Encode};
    use scale_info::{TypeInfo, meta_type};
    use subxt::OfflineClient;
    use subxt::config::substrate::SpecVersionForRange;
    use subxt::utils::{Era, MultiAddress};

    const COLD: &str = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

    #[derive(TypeInfo)]
    enum ProxyType {
        Any,
        Owner,
        NonCritical,
        NonTransfer,
        Senate,
        NonFungible,
        Triumvirate,
        Governance,
        Staking,
        Registration,
        Transfer,
    }

    /// SubtensorModule calls of a runtime with `register_limit`.
    #[derive(TypeInfo)]
    enum SubtensorCall {
        #[codec(index = 2)]
        add_stake {
            hotkey: AccountId32,
            netuid: u16,
            amount_staked: u64,
        },
        #[codec(index = 7)]
        burned_register { netuid: u16, hotkey: AccountId32 },
        #[codec(index = 59)]
        register_network { hotkey: AccountId32 },
        #[codec(index = 92)]
        start_call { netuid: u16 },
        #[codec(index = 134)]
        register_limit {
            netuid: u16,
            hotkey: AccountId32,
            limit_price: u64,
        },
    }

    /// An older runtime: no `register_limit`.
    #[derive(TypeInfo)]
    enum OldSubtensorCall {
        #[codec(index = 7)]
        burned_register { netuid: u16, hotkey: AccountId32 },
    }

    #[derive(TypeInfo)]
    enum SubtensorError {
        #[codec(index = 21)]
        HotKeyAlreadyRegisteredInSubNet,
        #[codec(index = 136)]
        RegistrationPriceLimitExceeded,
    }

    #[derive(TypeInfo)]
    enum AdminUtilsCall {
        #[codec(index = 1)]
        sudo_set_tempo { netuid: u16, tempo: u16 },
        #[codec(index = 74)]
        sudo_set_admin_freeze_window { window: u16 },
        #[codec(index = 75)]
        sudo_set_commit_reveal_weights_enabled { netuid: u16, enabled: bool },
    }

    /// The runtime's call enums around a SubtensorModule call type `$s` (one module per
    /// runtime flavour: scale-info cannot resolve a recursive generic).
    macro_rules! runtime {
        ($m:ident, $s:ty) => {
            mod $m {
                #![allow(non_camel_case_types, dead_code)]
                use super::*;

                #[derive(TypeInfo)]
                pub enum BalancesCall {
                    #[codec(index = 3)]
                    transfer_keep_alive {
                        dest: MultiAddress<AccountId32, ()>,
                        #[codec(compact)]
                        value: u64,
                    },
                }

                #[derive(TypeInfo)]
                pub enum SudoCall {
                    #[codec(index = 0)]
                    sudo { call: Box<RuntimeCall> },
                }

                #[derive(TypeInfo)]
                pub enum ProxyCall {
                    #[codec(index = 0)]
                    proxy {
                        real: MultiAddress<AccountId32, ()>,
                        force_proxy_type: Option<ProxyType>,
                        call: Box<RuntimeCall>,
                    },
                }

                #[derive(TypeInfo)]
                pub enum RuntimeCall {
                    #[codec(index = 5)]
                    Balances(BalancesCall),
                    #[codec(index = 7)]
                    SubtensorModule($s),
                    #[codec(index = 12)]
                    Sudo(SudoCall),
                    #[codec(index = 16)]
                    Proxy(ProxyCall),
                    #[codec(index = 19)]
                    AdminUtils(AdminUtilsCall),
                }
            }
        };
    }
    runtime!(new_runtime, SubtensorCall);
    runtime!(old_runtime, OldSubtensorCall);

    /// A runtime flavour's types.
    trait Flavour {
        type Subtensor: TypeInfo + 'static;
        type Balances: TypeInfo + 'static;
        type Sudo: TypeInfo + 'static;
        type Proxy: TypeInfo + 'static;
        type Call: TypeInfo + 'static;
    }
    struct New;
    struct Old;
    impl Flavour for New {
        type Subtensor = SubtensorCall;
        type Balances = new_runtime::BalancesCall;
        type Sudo = new_runtime::SudoCall;
        type Proxy = new_runtime::ProxyCall;
        type Call = new_runtime::RuntimeCall;
    }
    impl Flavour for Old {
        type Subtensor = OldSubtensorCall;
        type Balances = old_runtime::BalancesCall;
        type Sudo = old_runtime::SudoCall;
        type Proxy = old_runtime::ProxyCall;
        type Call = old_runtime::RuntimeCall;
    }

    #[derive(TypeInfo)]
    enum RuntimeEvent {}
    #[derive(TypeInfo)]
    enum RuntimeError {}

    /// `ChargeTransactionPaymentWrapper(ChargeTransactionPayment(#[compact] tip))`.
    #[derive(TypeInfo)]
    struct ChargeTransactionPayment(#[codec(compact)] u64);
    #[derive(TypeInfo)]
    struct ChargeTransactionPaymentWrapper(ChargeTransactionPayment);

    fn pallet<C: TypeInfo + 'static>(name: &'static str, index: u8) -> v15::PalletMetadata {
        v15::PalletMetadata {
            name,
            storage: None,
            calls: Some(v15::PalletCallMetadata {
                ty: meta_type::<C>(),
            }),
            event: None,
            constants: vec![],
            error: None,
            index,
            docs: vec![],
        }
    }

    fn ext(
        id: &'static str,
        ty: scale_info::MetaType,
        add: scale_info::MetaType,
    ) -> v15::SignedExtensionMetadata {
        v15::SignedExtensionMetadata {
            identifier: id,
            ty,
            additional_signed: add,
        }
    }

    /// Synthetic V15 metadata mirroring subtensor's pallets, calls and extensions.
    fn metadata<F: Flavour>(wrapper: bool) -> std::sync::Arc<Metadata> {
        let mut subtensor = pallet::<F::Subtensor>(SUBTENSOR, 7);
        subtensor.error = Some(v15::PalletErrorMetadata {
            ty: meta_type::<SubtensorError>(),
        });
        let pallets = vec![
            pallet::<F::Balances>("Balances", 5),
            subtensor,
            pallet::<F::Sudo>("Sudo", 12),
            pallet::<F::Proxy>("Proxy", 16),
            pallet::<AdminUtilsCall>("AdminUtils", 19),
        ];
        let unit = meta_type::<()>;
        let mut exts = vec![
            ext("CheckNonZeroSender", unit(), unit()),
            ext("CheckSpecVersion", unit(), meta_type::<u32>()),
            ext("CheckTxVersion", unit(), meta_type::<u32>()),
            ext("CheckGenesis", unit(), meta_type::<H256>()),
            ext("CheckMortality", meta_type::<Era>(), meta_type::<H256>()),
            ext("CheckNonce", meta_type::<Compact<u32>>(), unit()),
            ext("CheckWeight", unit(), unit()),
        ];
        if wrapper {
            exts.push(ext(
                FEE_WRAPPER,
                meta_type::<ChargeTransactionPaymentWrapper>(),
                unit(),
            ));
        } else {
            exts.push(ext(
                "ChargeTransactionPayment",
                meta_type::<ChargeTransactionPayment>(),
                unit(),
            ));
        }
        exts.push(ext("SubtensorTransactionExtension", unit(), unit()));
        let extrinsic = v15::ExtrinsicMetadata {
            version: 4,
            address_ty: meta_type::<MultiAddress<AccountId32, ()>>(),
            call_ty: meta_type::<F::Call>(),
            signature_ty: meta_type::<MultiSignature>(),
            extra_ty: unit(),
            signed_extensions: exts,
        };
        let md = v15::RuntimeMetadataV15::new(
            pallets,
            extrinsic,
            unit(),
            vec![],
            v15::OuterEnums {
                call_enum_ty: meta_type::<F::Call>(),
                event_enum_ty: meta_type::<RuntimeEvent>(),
                error_enum_ty: meta_type::<RuntimeError>(),
            },
            v15::CustomMetadata {
                map: Default::default(),
            },
        );
        std::sync::Arc::new(Metadata::try_from(md).unwrap_or_else(|e| panic!("{e}")))
    }

    fn offline(
        md: std::sync::Arc<Metadata>,
    ) -> ClientAtBlock<Cfg, subxt::client::OfflineClientAtBlockImpl<Cfg>> {
        let cfg = Cfg::builder()
            .set_genesis_hash(H256([0x11; 32]))
            .set_metadata_for_spec_versions([(300, md)])
            .set_spec_version_for_block_ranges([SpecVersionForRange {
                block_range: 0..u64::MAX,
                spec_version: 300,
                transaction_version: 1,
            }])
            .build();
        OfflineClient::new_with_config(cfg)
            .at_block(40u64)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn call_bytes(md: std::sync::Arc<Metadata>, spec: &CallSpec) -> Vec<u8> {
        offline(md)
            .transactions()
            .call_data(&spec.payload())
            .unwrap_or_else(|e| panic!("{}.{}: {e}", spec.pallet, spec.call))
    }

    fn signer() -> Signer {
        Signer::coldkey(
            crate::keys::Hotkey::from_mnemonic(COLD)
                .unwrap_or_else(|e| panic!("{e}"))
                .keyfile_json()
                .as_bytes(),
            b"",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    const HK: AccountId = [0xaa; 32];
    const REAL: AccountId = [0xcc; 32];

    fn reg(real: Option<AccountId>) -> RegisterCall {
        RegisterCall {
            netuid: 3,
            hotkey: HK,
            limit_rao: 2_000_000_000,
            real,
        }
    }

    fn register_limit_bytes() -> Vec<u8> {
        let mut b = vec![7, 134];
        b.extend(3u16.encode());
        b.extend(HK);
        b.extend(2_000_000_000u64.encode());
        b
    }

    #[test]
    fn register_limit_encodes_exactly() {
        let md = metadata::<New>(true);
        let spec = register_call(&md, &reg(None));
        assert_eq!((spec.pallet, spec.call), (SUBTENSOR, "register_limit"));
        assert_eq!(call_bytes(md, &spec), register_limit_bytes());
    }

    #[test]
    fn falls_back_to_burned_register_without_register_limit() {
        let md = metadata::<Old>(true);
        let spec = register_call(&md, &reg(None));
        assert_eq!(spec.call, "burned_register");
        let mut want = vec![7, 7];
        want.extend(3u16.encode());
        want.extend(HK);
        assert_eq!(call_bytes(md, &spec), want);
    }

    #[test]
    fn proxy_wraps_the_registration() {
        let md = metadata::<New>(true);
        let spec = register_call(&md, &reg(Some(REAL)));
        assert_eq!((spec.pallet, spec.call), ("Proxy", "proxy"));
        // Proxy [16, 0], real = MultiAddress::Id, Some(Registration = 9), then the inner call.
        let mut want = vec![16, 0, 0];
        want.extend(REAL);
        want.extend([1, 9]);
        want.extend(register_limit_bytes());
        assert_eq!(call_bytes(md, &spec), want);
        // And for an old runtime, burned_register inside.
        let md = metadata::<Old>(true);
        let b = call_bytes(md.clone(), &register_call(&md, &reg(Some(REAL))));
        assert_eq!(&b[35..39], &[1, 9, 7, 7]);
    }

    #[test]
    fn localnet_calls_encode_exactly() {
        let md = || metadata::<New>(true);
        let cases: Vec<(LocalnetCall, Vec<u8>)> = vec![
            (
                LocalnetCall::SudoSetAdminFreezeWindow(0),
                vec![12, 0, 19, 74, 0, 0],
            ),
            (
                LocalnetCall::Transfer {
                    dest: REAL,
                    rao: 1_000_000_000_000,
                },
                [
                    vec![5, 3, 0],
                    REAL.to_vec(),
                    Compact(1_000_000_000_000u64).encode(),
                ]
                .concat(),
            ),
            (
                LocalnetCall::RegisterNetwork { hotkey: HK },
                [vec![7, 59], HK.to_vec()].concat(),
            ),
            (LocalnetCall::StartCall { netuid: 3 }, vec![7, 92, 3, 0]),
            (
                LocalnetCall::SudoSetHyperparameter {
                    netuid: 3,
                    param: Hyperparameter::Tempo(10),
                },
                vec![12, 0, 19, 1, 3, 0, 10, 0],
            ),
            (
                LocalnetCall::SudoSetHyperparameter {
                    netuid: 3,
                    param: Hyperparameter::CommitReveal(false),
                },
                vec![12, 0, 19, 75, 3, 0, 0],
            ),
            (
                LocalnetCall::AddStake {
                    hotkey: HK,
                    netuid: 3,
                    rao: 5,
                },
                [vec![7, 2], HK.to_vec(), 3u16.encode(), 5u64.encode()].concat(),
            ),
        ];
        for (call, want) in cases {
            assert_eq!(
                call_bytes(md(), &localnet_call_spec(&call)),
                want,
                "{call:?}"
            );
        }
    }

    #[test]
    fn signed_extrinsic_is_deterministic_valid_and_carries_the_fee_wrapper() {
        let md = metadata::<New>(true);
        assert!(lists_extension(&md, FEE_WRAPPER));
        let at = offline(md.clone());
        let s = signer();
        let spec = register_call(&md, &reg(Some(REAL)));
        let birth_hash = H256([0x22; 32]);
        let (birth, era_end) = era_birth(41);
        assert_eq!((birth, era_end), (10, 41));
        let a =
            sign_offline(&at, &spec, &s, 5, birth, birth_hash).unwrap_or_else(|e| panic!("{e}"));
        let b =
            sign_offline(&at, &spec, &s, 5, birth, birth_hash).unwrap_or_else(|e| panic!("{e}"));
        // Re-preparing the same registration gives the same bytes and hash.
        assert_eq!(a, b);
        let c =
            sign_offline(&at, &spec, &s, 6, birth, birth_hash).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(a.hash, c.hash);

        let call = call_bytes(md.clone(), &spec);
        // Extra: era mortal(32) born at 10 = 0x00a4, nonce Compact(5), wrapper tip Compact(0).
        let extra = vec![0xa4, 0x00, 0x14, 0x00];
        let mut body = vec![0x84, 0x00];
        body.extend(s.public());
        body.push(0x01);
        body.extend(a.signature);
        body.extend(&extra);
        body.extend(&call);
        let mut want = Compact(body.len() as u32).encode();
        want.extend(&body);
        assert_eq!(a.encoded, want);
        // The hash is blake2-256 of the bytes.
        use subxt::config::Hasher;
        let h = subxt::config::substrate::BlakeTwo256::new(&md).hash(&a.encoded);
        assert_eq!(h.0, a.hash);
        // The signature verifies over call ‖ extra ‖ spec ‖ tx version ‖ genesis ‖ era block.
        let mut payload = call.clone();
        payload.extend(&extra);
        payload.extend(300u32.encode());
        payload.extend(1u32.encode());
        payload.extend([0x11; 32]);
        payload.extend([0x22; 32]);
        let pk = schnorrkel::PublicKey::from_bytes(&s.public()).unwrap_or_else(|e| panic!("{e}"));
        let sig = schnorrkel::Signature::from_bytes(&a.signature).unwrap_or_else(|e| panic!("{e}"));
        assert!(pk.verify_simple(b"substrate", &payload, &sig).is_ok());
    }

    #[test]
    fn plain_fee_extension_without_the_wrapper() {
        let md = metadata::<New>(false);
        assert!(!lists_extension(&md, FEE_WRAPPER));
        let at = offline(md.clone());
        let spec = register_call(&md, &reg(None));
        let a = sign_offline(&at, &spec, &signer(), 0, 0, H256([0; 32]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(a.encoded.ends_with(&register_limit_bytes()));
    }

    #[test]
    fn events_give_uid_netuid_and_error_names() {
        let md = metadata::<New>(true);
        let ev = |p: &str, e: &str, v: Value<()>| (p.to_string(), e.to_string(), v);
        let module_err = |i: u8, e: u8| {
            Value::unnamed_variant(
                "Module",
                [Value::named_composite([
                    ("index", Value::u128(u128::from(i))),
                    (
                        "error",
                        Value::unnamed_composite([
                            Value::u128(u128::from(e)),
                            Value::u128(0),
                            Value::u128(0),
                            Value::u128(0),
                        ]),
                    ),
                ])],
            )
        };
        let ok = summarize_events(
            &md,
            &[
                ev(
                    SUBTENSOR,
                    "NeuronRegistered",
                    Value::unnamed_composite([
                        Value::u128(3),
                        Value::u128(17),
                        Value::from_bytes(HK),
                    ]),
                ),
                ev("System", "ExtrinsicSuccess", Value::unnamed_composite([])),
            ],
        );
        assert_eq!(ok.registered_uid, Some(17));
        assert_eq!(ok.error, None);
        let failed = summarize_events(
            &md,
            &[ev(
                "System",
                "ExtrinsicFailed",
                Value::named_composite([("dispatch_error", module_err(7, 136))]),
            )],
        );
        assert_eq!(
            failed.error.as_deref(),
            Some("SubtensorModule.RegistrationPriceLimitExceeded")
        );
        // The outer proxy call succeeds; the inner registration failed.
        let proxied = summarize_events(
            &md,
            &[ev(
                "Proxy",
                "ProxyExecuted",
                Value::named_composite([(
                    "result",
                    Value::unnamed_variant("Err", [module_err(7, 21)]),
                )]),
            )],
        );
        assert_eq!(
            proxied.error.as_deref(),
            Some("SubtensorModule.HotKeyAlreadyRegisteredInSubNet")
        );
        let sudo = summarize_events(
            &md,
            &[ev(
                "Sudo",
                "Sudid",
                Value::named_composite([(
                    "sudo_result",
                    Value::unnamed_variant("Err", [Value::unnamed_variant("BadOrigin", [])]),
                )]),
            )],
        );
        assert_eq!(sudo.error.as_deref(), Some("BadOrigin"));
        let added = summarize_events(
            &md,
            &[ev(
                SUBTENSOR,
                "NetworkAdded",
                Value::unnamed_composite([Value::u128(4), Value::u128(1)]),
            )],
        );
        assert_eq!(added.network_added, Some(4));
    }

    #[test]
    fn axon_ips_and_ratios() {
        assert_eq!(axon_ip(0, 4), None);
        assert_eq!(axon_ip(0x0a00_0001, 4).as_deref(), Some("10.0.0.1"));
        assert_eq!(axon_ip(1, 6).as_deref(), Some("::1"));
        assert_eq!(axon_ip(1, 5), None);
        assert_eq!(ratio(65535), 1.0);
        assert!(allows_registration(&Value::unnamed_variant(
            "Registration",
            []
        )));
        assert!(allows_registration(&Value::unnamed_variant("Any", [])));
        assert!(!allows_registration(&Value::unnamed_variant("Staking", [])));
    }

    #[tokio::test]
    async fn no_endpoints_is_an_error_and_dead_ones_are_unreachable() {
        assert!(SubxtChain::new(vec![" ".into()]).is_err());
        let c = SubxtChain::new(vec!["ws://127.0.0.1:1".into(), "ws://127.0.0.1:2".into()])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(c.head().await, Err(ChainError::Unreachable(_))));
        // Backing off now: fails fast without trying again.
        assert!(
            matches!(c.head().await, Err(ChainError::Unreachable(m)) if m.contains("retrying"))
        );
    }
}
