//! Helpers for tests on a real subtensor runtime (chopsticks, [`crate::shared_chain_ws`]): a
//! subnet of the test's own, funded accounts, a proxy added on chain, and the chain's own record
//! of registrations (its `NeuronRegistered` events), read independently of the operator.

use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use scale_value::{Composite, Value};
use subnet_operator::chain::subxt_client::{CallSpec, Cfg, SubxtChain, as_account, as_u128};
use subnet_operator::chain::{AccountId, Chain, LocalnetCall};
use subnet_operator::keys::Hotkey;
use subnet_operator::keys::signer::Signer;
use subxt::OnlineClient;
use subxt::backend::LegacyBackend;

/// One TAO in rao.
pub const TAO: u64 = 1_000_000_000;

/// Alice signs every setup transfer; tests of one binary run in parallel and share her nonce.
static ALICE_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A subxt client over the legacy RPC methods (what chopsticks and every node serve).
pub async fn online(ws: &str) -> Result<OnlineClient<Cfg>> {
    let rpc = subxt::rpcs::RpcClient::from_insecure_url(ws).await?;
    let backend = LegacyBackend::<Cfg>::builder().build(rpc);
    Ok(OnlineClient::<Cfg>::from_backend_with_config(Cfg::new(), Arc::new(backend)).await?)
}

/// Sends `call` signed by `signer` (nonce at the best block) and waits for its success. A
/// transaction chopsticks lost (it drops one whose block build raced another change of the
/// head) is sent again while the signer's nonce shows it was not included.
async fn send(chain: &SubxtChain, signer: &Signer, call: LocalnetCall) -> Result<Option<u16>> {
    for _ in 0..3 {
        let nonce = chain.account(signer.public()).await?.nonce;
        match chain.localnet_call(signer, call.clone()).await {
            Ok(o) => {
                return o
                    .result
                    .map_err(|e| anyhow::anyhow!("{call:?} failed on chain: {e}"));
            }
            Err(subnet_operator::chain::ChainError::Unreachable(e))
                if chain.account(signer.public()).await?.nonce == nonce =>
            {
                eprintln!("{call:?} was not included ({e}); sending it again");
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("{call:?}"))),
        }
    }
    anyhow::bail!("{call:?} was not included after 3 sends")
}

/// `Sudo(AdminUtils.sudo_set_…(netuid, value))` signed by //Alice: a real transaction, so tests
/// sharing a chain never change its state behind a block being built (`dev_setStorage` can).
pub async fn sudo_set(
    chain: &SubxtChain,
    netuid: u16,
    params: &[subnet_operator::chain::Hyperparameter],
) -> Result<()> {
    let _turn = ALICE_TURN.lock().await;
    let alice = Signer::dev("Alice")?;
    for p in params {
        send(
            chain,
            &alice,
            LocalnetCall::SudoSetHyperparameter {
                netuid,
                param: p.clone(),
            },
        )
        .await?;
    }
    Ok(())
}

/// Moves `rao` from //Alice to `dest`.
pub async fn fund(chain: &SubxtChain, dest: AccountId, rao: u64) -> Result<()> {
    let _turn = ALICE_TURN.lock().await;
    let alice = Signer::dev("Alice")?;
    send(chain, &alice, LocalnetCall::Transfer { dest, rao }).await?;
    Ok(())
}

/// A subnet of the test's own on the shared chain: a fresh owner (funded by //Alice) registers
/// it, and the runtime's registration count caps (spec 218: `MaxRegistrationsPerBlock`,
/// `3 · TargetRegistrationsPerInterval`) are lifted by sudo so a test can register many
/// hotkeys. Returns the netuid.
pub async fn own_subnet(chain: &SubxtChain) -> Result<u16> {
    let owner = Signer::owned(Hotkey::generate()?);
    let owner_hot = Hotkey::generate()?;
    fund(chain, owner.public(), 1_100 * TAO).await?;
    let netuid = {
        // register_network locks a cost every registration doubles: one at a time.
        let _turn = ALICE_TURN.lock().await;
        send(
            chain,
            &owner,
            LocalnetCall::RegisterNetwork {
                hotkey: owner_hot.public(),
            },
        )
        .await?
        .context("register_network gave no NetworkAdded")?
    };
    sudo_set(
        chain,
        netuid,
        &[
            subnet_operator::chain::Hyperparameter::TargetRegistrationsPerInterval(1000),
            subnet_operator::chain::Hyperparameter::MaxRegistrationsPerBlock(1000),
        ],
    )
    .await?;
    Ok(netuid)
}

/// `Proxy.add_proxy(delegate, proxy_type, delay)` signed by `real` (the coldkey): the on-chain
/// setup of a Registration proxy (docs/security.md).
pub async fn add_proxy(
    chain: &SubxtChain,
    ws: &str,
    real: &Signer,
    delegate: AccountId,
    proxy_type: &str,
    delay: u32,
) -> Result<()> {
    let spec = CallSpec {
        pallet: "Proxy",
        call: "add_proxy",
        args: vec![
            Value::unnamed_variant("Id", [Value::from_bytes(delegate)]),
            Value::unnamed_variant(proxy_type.to_string(), []),
            Value::u128(u128::from(delay)),
        ],
    };
    let events = submit_finalized(chain, ws, real, &spec).await?;
    let added = events
        .iter()
        .filter_map(|e| e.ok())
        .any(|e| e.pallet_name() == "Proxy" && e.event_name() == "ProxyAdded");
    if !added {
        bail!("Proxy.add_proxy succeeded without ProxyAdded");
    }
    Ok(())
}

/// Signs `spec` as `signer` (nonce at the best block) and waits for it to be finalized with
/// success; returns its events.
async fn submit_finalized(
    chain: &SubxtChain,
    ws: &str,
    signer: &Signer,
    spec: &CallSpec,
) -> Result<subxt::extrinsics::ExtrinsicEvents<Cfg>> {
    let api = online(ws).await?;
    let at = api.at_current_block().await?;
    let nonce = chain.account(signer.public()).await?.nonce;
    let signed = subnet_operator::chain::subxt_client::sign_offline(
        &at,
        spec,
        signer,
        nonce,
        at.block_number(),
        at.block_hash(),
    )?;
    Ok(at
        .transactions()
        .from_bytes(signed.encoded)
        .submit_and_watch()
        .await?
        .wait_for_finalized_success()
        .await?)
}

/// A registration the chain recorded: `SubtensorModule.NeuronRegistered(netuid, uid, hotkey)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    /// Block.
    pub block: u64,
    /// Uid.
    pub uid: u16,
    /// Hotkey.
    pub hotkey: AccountId,
}

/// Every `NeuronRegistered` on `netuid` in blocks `from..=to`, read from the chain's events.
pub async fn registrations(ws: &str, netuid: u16, from: u64, to: u64) -> Result<Vec<Registered>> {
    let api = online(ws).await?;
    let mut out = Vec::new();
    for n in from..=to {
        let at = api.at_block(n).await?;
        let events = at.events().fetch().await?;
        for ev in events.iter() {
            let ev = ev?;
            if ev.pallet_name() != "SubtensorModule" || ev.event_name() != "NeuronRegistered" {
                continue;
            }
            let f: Composite<()> = ev.decode_fields_unchecked_as()?;
            let v: Vec<&Value<()>> = f.values().collect();
            let (Some(net), Some(uid), Some(hotkey)) = (
                v.first().and_then(|x| as_u128(x)),
                v.get(1).and_then(|x| as_u128(x)),
                v.get(2).and_then(|x| as_account(x)),
            ) else {
                bail!("NeuronRegistered of an unexpected shape at block {n}: {f:?}");
            };
            if net == u128::from(netuid) {
                out.push(Registered {
                    block: n,
                    uid: u16::try_from(uid)?,
                    hotkey,
                });
            }
        }
    }
    Ok(out)
}

/// The best block number.
pub async fn best(chain: &SubxtChain) -> Result<u64> {
    Ok(chain.head().await?.best)
}

/// Sends `call` signed by `signer` and waits for its success (see [`send`]); `Ok(netuid)` when
/// it created a subnet.
pub async fn call(chain: &SubxtChain, signer: &Signer, call: LocalnetCall) -> Result<Option<u16>> {
    send(chain, signer, call).await
}

/// The raw storage key of `SubtensorModule.<entry>(parts…)` on the runtime at `ws`.
pub async fn subtensor_key(ws: &str, entry: &str, parts: Vec<Value<()>>) -> Result<Vec<u8>> {
    let api = online(ws).await?;
    let at = api.at_current_block().await?;
    Ok(subnet_operator::chain::subxt_client::storage_key(
        &at.metadata(),
        "SubtensorModule",
        entry,
        parts,
    )?)
}

/// A `u64` item `SubtensorModule.<entry>(parts…)` at the best block (0 when unset).
pub async fn subtensor_u64(
    ws: &str,
    http: &str,
    entry: &str,
    parts: Vec<Value<()>>,
) -> Result<u64> {
    let key = subtensor_key(ws, entry, parts).await?;
    let v = crate::chain_rpc(
        http,
        "state_getStorage",
        serde_json::json!([format!("0x{}", hex::encode(key))]),
    )
    .await?;
    let Some(s) = v.as_str() else {
        return Ok(0);
    };
    let b = hex::decode(s.trim_start_matches("0x"))?;
    let mut le = [0u8; 8];
    le[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
    Ok(u64::from_le_bytes(le))
}

/// The alpha `hotkey` holds on `netuid` (`TotalHotkeyAlpha`, what dTAO staking changes). Spec
/// 218's `NeuronInfoRuntimeApi` reports a neuron's stake from the pre-dTAO `Stake` map, which
/// `add_stake` no longer writes (0 there after any stake): read this instead.
pub async fn hotkey_alpha(ws: &str, http: &str, hotkey: AccountId, netuid: u16) -> Result<u64> {
    let parts = vec![Value::from_bytes(hotkey), Value::u128(u128::from(netuid))];
    subtensor_u64(ws, http, "TotalHotkeyAlpha", parts).await
}

/// `Sudo(System.set_storage(items))` signed by //Alice: writes raw storage with a real
/// transaction (never behind a block being built, as `dev_setStorage` can).
pub async fn sudo_set_storage(
    chain: &SubxtChain,
    ws: &str,
    items: Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<()> {
    let _turn = ALICE_TURN.lock().await;
    let alice = Signer::dev("Alice")?;
    let spec = subnet_operator::chain::subxt_client::sudo_set_storage_call(items);
    let events = submit_finalized(chain, ws, &alice, &spec).await?;
    for ev in events.iter() {
        let ev = ev?;
        if ev.pallet_name() == "Sudo" && ev.event_name() == "Sudid" {
            let f: Composite<()> = ev.decode_fields_unchecked_as()?;
            let result = f.values().next().and_then(|v| {
                subnet_operator::chain::subxt_client::variant_name(v).map(str::to_string)
            });
            if result.as_deref() != Some("Ok") {
                bail!("Sudo(System.set_storage) failed: {f:?}");
            }
            return Ok(());
        }
    }
    bail!("Sudo(System.set_storage) gave no Sudid")
}

/// Every `SubtensorModule.StakeAdded` of `hotkey` in blocks `from..=to`, as `(tao, alpha)` in
/// rao (spec 218's shape: coldkey, hotkey, tao, alpha, netuid).
pub async fn stakes_added(
    ws: &str,
    hotkey: AccountId,
    from: u64,
    to: u64,
) -> Result<Vec<(u64, u64)>> {
    let api = online(ws).await?;
    let mut out = Vec::new();
    for n in from..=to {
        let at = api.at_block(n).await?;
        for ev in at.events().fetch().await?.iter() {
            let ev = ev?;
            if ev.pallet_name() != "SubtensorModule" || ev.event_name() != "StakeAdded" {
                continue;
            }
            let f: Composite<()> = ev.decode_fields_unchecked_as()?;
            let v: Vec<&Value<()>> = f.values().collect();
            let (Some(h), Some(tao), Some(alpha)) = (
                v.get(1).and_then(|x| as_account(x)),
                v.get(2).and_then(|x| as_u128(x)),
                v.get(3).and_then(|x| as_u128(x)),
            ) else {
                bail!("StakeAdded of an unexpected shape at block {n}: {f:?}");
            };
            if h == hotkey {
                out.push((u64::try_from(tao)?, u64::try_from(alpha)?));
            }
        }
    }
    Ok(out)
}
