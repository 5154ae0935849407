//! The contract every [`Chain`] implementation keeps, as one suite that runs unchanged against
//! the in-memory model and against a real subtensor runtime through the subxt client — in CI the
//! spec-218 wasm under chopsticks that `e2e/run-tests.sh` starts (`e2e/chain.sh up`; by hand:
//! `SUBTENSOR_WS=ws://127.0.0.1:PORT cargo test -p subnet-operator contract -- --nocapture`).
//!
//! It needs a chain that starts like the official localnet (CHAIN.md §4): `//Alice` is sudo and
//! rich. It makes its own subnet, so it can run on a chain already in use. Calls a runtime lacks
//! (`sudo_set_admin_freeze_window`, `start_call` on spec 218) are skipped, and the price limit is
//! checked against whichever guard the runtime has (the chain's `register_limit`, or the client's
//! refusal to send `burned_register` above it).

use super::{Chain, ChainError, DispatchError, Hyperparameter, LocalnetCall, RegisterCall};
use crate::keys::Hotkey;
use crate::keys::signer::Signer;

/// What went wrong, with the step.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {message}")]
pub struct ContractError {
    /// The step that failed.
    pub step: &'static str,
    /// What was wrong.
    pub message: String,
}

fn fail(step: &'static str, message: impl std::fmt::Display) -> ContractError {
    ContractError {
        step,
        message: message.to_string(),
    }
}

async fn call(
    chain: &dyn Chain,
    step: &'static str,
    signer: &Signer,
    call: LocalnetCall,
) -> Result<Option<u16>, ContractError> {
    let o = chain
        .localnet_call(signer, call)
        .await
        .map_err(|e| fail(step, e))?;
    o.result.map_err(|e| fail(step, e))
}

/// A call a runtime may lack (CHAIN.md §7): `Ok(false)` when it does, and nothing was sent.
async fn optional_call(
    chain: &dyn Chain,
    step: &'static str,
    signer: &Signer,
    c: LocalnetCall,
) -> Result<bool, ContractError> {
    if !chain.supports(&c).await.map_err(|e| fail(step, e))? {
        match chain.localnet_call(signer, c).await {
            Err(ChainError::Unsupported(_)) => return Ok(false),
            other => return Err(fail(step, format!("unsupported, yet: {other:?}"))),
        }
    }
    call(chain, step, signer, c).await.map(|_| true)
}

/// Prepares `cold`'s registration of `hotkey` on `netuid` under `limit_rao`.
async fn prepare(
    chain: &dyn Chain,
    step: &'static str,
    cold: &Signer,
    (netuid, hotkey, limit_rao): (u16, [u8; 32], u64),
    nonce: u64,
    era_end: Option<u64>,
) -> Result<super::PreparedTx, ContractError> {
    let call = RegisterCall {
        netuid,
        hotkey,
        limit_rao,
        real: None,
        proxy_type: Default::default(),
    };
    chain
        .prepare_register(cold, call, nonce, era_end)
        .await
        .map_err(|e| fail(step, e))
}

/// Runs the contract: a subnet scaffolded from scratch, a registration prepared, persisted-style
/// (nonce, era, hash) and sent, found again by hash, sent again without paying twice, the price
/// limit and the already-registered error, and the snapshot showing the neuron.
pub async fn run(chain: &dyn Chain) -> Result<(), ContractError> {
    let head = chain.head().await.map_err(|e| fail("head", e))?;
    if head.best < head.finalized || !head.genesis_hash.starts_with("0x") {
        return Err(fail("head", format!("{head:?}")));
    }
    let alice = Signer::dev("Alice").map_err(|e| fail("keys", e))?;
    let owner = Signer::owned(Hotkey::generate().map_err(|e| fail("keys", e))?);
    let owner_hot = Hotkey::generate().map_err(|e| fail("keys", e))?;
    let cold = Signer::owned(Hotkey::generate().map_err(|e| fail("keys", e))?);
    let hotkey = Hotkey::generate().map_err(|e| fail("keys", e))?.public();

    optional_call(
        chain,
        "freeze window",
        &alice,
        LocalnetCall::SudoSetAdminFreezeWindow(0),
    )
    .await?;
    call(
        chain,
        "fund owner",
        &alice,
        LocalnetCall::Transfer {
            dest: owner.public(),
            rao: 1_100_000_000_000,
        },
    )
    .await?;
    let netuid = call(
        chain,
        "register_network",
        &owner,
        LocalnetCall::RegisterNetwork {
            hotkey: owner_hot.public(),
        },
    )
    .await?
    .ok_or_else(|| fail("register_network", "no NetworkAdded netuid"))?;
    let owners = chain.subnet_owners().await.map_err(|e| fail("owners", e))?;
    if !owners.contains(&(netuid, Some(owner.public()))) {
        return Err(fail(
            "owners",
            format!("netuid {netuid} not owned by the owner: {owners:?}"),
        ));
    }
    optional_call(
        chain,
        "start_call",
        &owner,
        LocalnetCall::StartCall { netuid },
    )
    .await?;
    call(
        chain,
        "commit-reveal off",
        &alice,
        LocalnetCall::SudoSetHyperparameter {
            netuid,
            param: Hyperparameter::CommitReveal(false),
        },
    )
    .await?;
    call(
        chain,
        "fund coldkey",
        &alice,
        LocalnetCall::Transfer {
            dest: cold.public(),
            rao: 100_000_000_000,
        },
    )
    .await?;

    let snap = chain
        .subnet(netuid)
        .await
        .map_err(|e| fail("snapshot", e))?
        .ok_or_else(|| fail("snapshot", "the new subnet is missing"))?;
    if !snap.started || snap.commit_reveal || snap.owner != Some(owner.public()) {
        return Err(fail("snapshot", format!("{snap:?}")));
    }

    // A limit below the price is refused by the chain, and costs no burn.
    let nonce = chain
        .account(cold.public())
        .await
        .map_err(|e| fail("account", e))?
        .nonce;
    let low = prepare(
        chain,
        "prepare (low limit)",
        &cold,
        (netuid, hotkey, snap.burn.saturating_sub(1)),
        nonce,
        None,
    )
    .await?;
    // The chain refuses it (register_limit), or, on a runtime without register_limit, the
    // client refuses to send it (and nothing is charged).
    match (snap.price_guard, chain.submit(&low).await) {
        (super::PriceGuard::Chain, Ok(o))
            if o.result == Err(DispatchError::RegistrationPriceLimitExceeded) => {}
        (super::PriceGuard::Client, Err(ChainError::PriceAboveLimit { burn, limit }))
            if burn == snap.burn && limit == snap.burn.saturating_sub(1) =>
        {
            let a = chain
                .account(cold.public())
                .await
                .map_err(|e| fail("account", e))?;
            if a.nonce != nonce {
                return Err(fail("price limit", "the refused registration was sent"));
            }
        }
        (guard, other) => return Err(fail("price limit", format!("{guard:?}: {other:?}"))),
    }

    // The registration: prepared with a nonce and an era, then sent.
    let before = chain
        .account(cold.public())
        .await
        .map_err(|e| fail("account", e))?;
    let tx = prepare(
        chain,
        "prepare",
        &cold,
        (netuid, hotkey, 10_000_000_000),
        before.nonce,
        None,
    )
    .await?;
    let again = prepare(
        chain,
        "prepare again",
        &cold,
        (netuid, hotkey, 10_000_000_000),
        tx.nonce,
        Some(tx.era_end),
    )
    .await?;
    if again.hash != tx.hash {
        return Err(fail(
            "prepare again",
            "the same intent gave another transaction",
        ));
    }
    let o = chain.submit(&tx).await.map_err(|e| fail("submit", e))?;
    let (uid, paid) = o.result.clone().map_err(|e| fail("submit", e))?;
    let after = chain
        .account(cold.public())
        .await
        .map_err(|e| fail("account", e))?;
    // The balance drops by exactly the burn and the fee the chain's events report.
    if paid == 0
        || after.free != before.free.saturating_sub(paid).saturating_sub(o.fee)
        || after.nonce != before.nonce + 1
    {
        return Err(fail(
            "payment",
            format!("{before:?} → {after:?}, paid {paid}, fee {}", o.fee),
        ));
    }
    // Found again by hash (what the controller does after a crash).
    let found = chain
        .find_tx(
            &tx.hash,
            tx.era_end.saturating_sub(super::memory::ERA_BLOCKS),
            o.block,
        )
        .await
        .map_err(|e| fail("find_tx", e))?
        .ok_or_else(|| fail("find_tx", "the included registration was not found"))?;
    if found.result != o.result {
        return Err(fail(
            "find_tx",
            format!("{:?} vs {:?}", found.result, o.result),
        ));
    }
    // Sent again: included at most once, never paid twice.
    match chain.submit(&tx).await {
        Ok(again) if again.hash == tx.hash => {}
        Ok(other) => return Err(fail("resend", format!("another outcome: {other:?}"))),
        Err(ChainError::Invalid(_)) => {}
        Err(e) => return Err(fail("resend", e)),
    }
    let resent = chain
        .account(cold.public())
        .await
        .map_err(|e| fail("account", e))?;
    if resent.free != after.free || resent.nonce != after.nonce {
        return Err(fail(
            "resend",
            format!("{after:?} → {resent:?}: paid twice"),
        ));
    }
    // Registering the same hotkey again (a new nonce) is the chain's "already registered".
    let dup = prepare(
        chain,
        "prepare (duplicate)",
        &cold,
        (netuid, hotkey, 10_000_000_000),
        resent.nonce,
        None,
    )
    .await?;
    let o = chain
        .submit(&dup)
        .await
        .map_err(|e| fail("submit (duplicate)", e))?;
    if o.result != Err(DispatchError::HotKeyAlreadyRegisteredInSubNet) {
        return Err(fail("duplicate", format!("{:?}", o.result)));
    }
    let snap = chain
        .subnet(netuid)
        .await
        .map_err(|e| fail("snapshot", e))?
        .ok_or_else(|| fail("snapshot", "the subnet is gone"))?;
    let neuron = snap
        .neuron(&hotkey)
        .ok_or_else(|| fail("snapshot", "the registered hotkey is not a neuron"))?;
    if neuron.uid != uid || neuron.coldkey != cold.public() {
        return Err(fail("snapshot", format!("{neuron:?}, uid {uid}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::memory::{Genesis, MemoryChain};

    #[tokio::test]
    async fn the_in_memory_chain_keeps_the_contract() {
        let chain = MemoryChain::new(&Genesis::localnet()).unwrap_or_else(|e| panic!("{e}"));
        run(&chain).await.unwrap_or_else(|e| panic!("{e}"));
    }

    /// The same suite against a real localnet: `SUBTENSOR_WS=ws://127.0.0.1:9944 cargo test -p
    /// subnet-operator contract -- --nocapture`.
    #[tokio::test]
    async fn a_real_localnet_keeps_the_contract() {
        let Ok(url) = std::env::var("SUBTENSOR_WS") else {
            let msg = "skipped: set SUBTENSOR_WS=ws://host:9944 (a real runtime: `e2e/chain.sh up` \
                       runs subtensor's spec-218 wasm under chopsticks) to run the contract against it";
            assert!(
                std::env::var("E2E_REQUIRED").as_deref() != Ok("1"),
                "{msg} (E2E_REQUIRED=1, so this is a failure)"
            );
            println!("{msg}");
            return;
        };
        let chain = crate::chain::subxt_client::SubxtChain::new(vec![url])
            .unwrap_or_else(|e| panic!("{e}"));
        run(&chain).await.unwrap_or_else(|e| panic!("{e}"));
    }
}
