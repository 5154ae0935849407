//! One reader per chain: a follower waits for the chain to announce a new block (a head
//! subscription; it polls the head where the chain cannot push) and then reads the head and one
//! snapshot per watched subnet. Controllers read this cache (and, for what must be fresh, its
//! [`ChainReader`]), so chain reads grow with the number of subnets, not with replicas or
//! reconciles; they write only through its [`ChainWriter`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::writer::{ChainReader, ChainWriter, Gate};
use super::{ChainHead, SharedChain, SubnetSnapshot};
use crate::metrics::Metrics;

#[derive(Default)]
struct Inner {
    head: Option<ChainHead>,
    /// The first block seen and when, to estimate the block time.
    first_seen: Option<(u64, std::time::Instant)>,
    error: Option<String>,
    watched: BTreeSet<u16>,
    snapshots: BTreeMap<u16, Option<Arc<SubnetSnapshot>>>,
}

/// The cache of one chain, with its read half and its one writer: controllers read through
/// [`reader`](Self::reader) and write only through [`writer`](Self::writer).
pub struct ChainCache {
    reader: ChainReader,
    writer: ChainWriter,
    /// The genesis the chain must answer with (a named network's), if any.
    pin: Option<&'static str>,
    gate: Arc<Gate>,
    inner: Mutex<Inner>,
    /// Bumped whenever the set of (uid, hotkey) of a watched subnet changes.
    changes: tokio::sync::watch::Sender<u64>,
}

impl ChainCache {
    /// A cache over `chain`, named `label` in metrics, that reads and writes nothing but the
    /// head unless the chain answers with the genesis `pin` (when given); registrations and
    /// deregistrations bump `changes`.
    pub fn new(
        chain: SharedChain,
        metrics: Metrics,
        label: &str,
        pin: Option<&'static str>,
        changes: tokio::sync::watch::Sender<u64>,
    ) -> Arc<Self> {
        let gate = Arc::new(Gate::new(pin.is_some()));
        Arc::new(Self {
            reader: ChainReader::new(chain.clone(), metrics.clone(), label),
            writer: ChainWriter::new(chain, metrics, label, gate.clone()),
            pin,
            gate,
            inner: Mutex::new(Inner::default()),
            changes,
        })
    }

    /// The genesis this chain must answer with, if it is pinned to one.
    pub fn pin(&self) -> Option<&'static str> {
        self.pin
    }

    /// The chain's read half (direct reads, for what must not come from the cache).
    pub fn reader(&self) -> &ChainReader {
        &self.reader
    }

    /// The chain's one writer.
    pub fn writer(&self) -> &ChainWriter {
        &self.writer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the follower to read `netuid` every block.
    pub fn watch(&self, netuid: u16) {
        self.lock().watched.insert(netuid);
    }

    /// The last head read, or the last error.
    pub fn head(&self) -> Result<Option<ChainHead>, String> {
        let i = self.lock();
        match &i.error {
            Some(e) => Err(e.clone()),
            None => Ok(i.head.clone()),
        }
    }

    /// The observed time per block (12 s until two blocks have been seen).
    pub fn block_time(&self) -> Duration {
        let i = self.lock();
        match (i.first_seen, i.head.as_ref()) {
            (Some((b0, t0)), Some(h)) if h.best > b0 => {
                let per = t0.elapsed() / u32::try_from(h.best - b0).unwrap_or(u32::MAX);
                per.clamp(Duration::from_millis(10), Duration::from_secs(60))
            }
            _ => Duration::from_secs(12),
        }
    }

    /// The last snapshot of `netuid`: `None` when not read yet, `Some(None)` when the subnet
    /// does not exist.
    pub fn snapshot(&self, netuid: u16) -> Option<Option<Arc<SubnetSnapshot>>> {
        self.lock().snapshots.get(&netuid).cloned()
    }

    /// Reads the head and, if the finalized block moved (or a watched subnet was never read),
    /// every watched subnet. Returns whether a subnet was read or the finalized block moved.
    pub async fn refresh(&self) -> bool {
        let head = match self.reader.head().await {
            Ok(h) => h,
            Err(e) => {
                self.lock().error = Some(e.to_string());
                return false;
            }
        };
        // A chain pinned to another genesis: read nothing more of it, and send nothing.
        let genuine = self
            .pin
            .is_none_or(|g| g.eq_ignore_ascii_case(&head.genesis_hash));
        self.gate.verified(genuine);
        if !genuine {
            let mut i = self.lock();
            i.error = None;
            i.snapshots.clear();
            i.head = Some(head);
            return false;
        }
        let (moved, todo): (bool, Vec<u16>) = {
            let i = self.lock();
            // Snapshots are read at the finalized block: they move with it.
            let moved = i.head.as_ref().map(|h| h.finalized) != Some(head.finalized)
                || i.head.as_ref().map(ChainHead::identity) != Some(head.identity());
            let todo = i
                .watched
                .iter()
                .copied()
                .filter(|n| moved || !i.snapshots.contains_key(n))
                .collect();
            (moved, todo)
        };
        let mut read = BTreeMap::new();
        for netuid in &todo {
            match self.reader.subnet(*netuid).await {
                Ok(s) => {
                    read.insert(*netuid, s.map(Arc::new));
                }
                Err(e) => {
                    self.lock().error = Some(e.to_string());
                    return false;
                }
            }
        }
        let mut i = self.lock();
        let changed = read.iter().any(|(n, new)| {
            i.snapshots.get(n).map(|s| s.as_deref().map(Verdicts::of))
                != Some(new.as_deref().map(Verdicts::of))
        });
        if changed {
            self.changes.send_modify(|c| *c += 1);
        }
        i.error = None;
        match i.first_seen {
            Some((b, _)) if b <= head.best => {}
            _ => i.first_seen = Some((head.best, std::time::Instant::now())),
        }
        i.head = Some(head);
        i.snapshots.extend(read);
        moved || !todo.is_empty()
    }

    /// A receiver that changes whenever what a fleet's status says of a watched subnet changes:
    /// a registration or deregistration, a neuron's earnings, axon or pruning score, a neuron's
    /// immunity running out, the subnet's size or immunity period (the controllers reconcile
    /// their fleets on it). Blocks that change none of these wake nobody.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Follows the chain until the process ends: refreshes on each block the chain announces,
    /// and at least every [`QUIET_REFRESH`]; where the chain cannot announce blocks (or its
    /// subscription failed, then for [`RESUBSCRIBE_AFTER`]), every `every`.
    pub fn spawn_follower(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut heads: Option<super::HeadStream> = None;
            let mut subscribe_at = tokio::time::Instant::now();
            loop {
                me.refresh().await;
                if heads.is_none() && tokio::time::Instant::now() >= subscribe_at {
                    heads = match me.reader.new_heads().await {
                        Ok(h) => h,
                        Err(e) => {
                            tracing::debug!(error = %e, "no head subscription; polling");
                            None
                        }
                    };
                    if heads.is_none() {
                        subscribe_at = tokio::time::Instant::now() + RESUBSCRIBE_AFTER;
                    }
                }
                let Some(stream) = heads.as_mut() else {
                    tick.tick().await;
                    continue;
                };
                match next_head(stream, QUIET_REFRESH).await {
                    Wake::Block | Wake::Quiet => {}
                    Wake::Ended => heads = None,
                }
            }
        })
    }
}

/// With a head subscription, how long the follower waits for a block before it refreshes
/// anyway (to notice an error or a chain that stopped announcing).
pub const QUIET_REFRESH: Duration = Duration::from_secs(30);
/// After a failed subscription (or a chain that cannot push heads), how long the follower
/// polls before it tries to subscribe again.
pub const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(60);

/// Why the follower woke.
#[derive(Debug, PartialEq, Eq)]
enum Wake {
    /// The chain announced one or more blocks.
    Block,
    /// Nothing for `quiet`.
    Quiet,
    /// The subscription ended (the connection dropped).
    Ended,
}

/// Waits for the next announced block, then takes every announcement already queued (a burst
/// of blocks is one refresh, not one each).
async fn next_head(stream: &mut super::HeadStream, quiet: Duration) -> Wake {
    use futures::{FutureExt as _, StreamExt as _};
    match tokio::time::timeout(quiet, stream.next()).await {
        Err(_) => Wake::Quiet,
        Ok(None) => Wake::Ended,
        Ok(Some(_)) => {
            while let Some(next) = stream.next().now_or_never() {
                if next.is_none() {
                    return Wake::Ended;
                }
            }
            Wake::Block
        }
    }
}

/// What the fleets' status and diagnoses read of a snapshot, per neuron (uid, hotkey, when it
/// registered, emission, incentive and dividends as bits, axon, pruning score, immune at the
/// next block) and for the subnet (size and immunity period): two snapshots with equal verdicts
/// give every fleet the same status, but for the blocks counted down.
#[derive(PartialEq)]
struct Verdicts<'a> {
    subnet: (u16, u16),
    neurons: Vec<NeuronVerdict<'a>>,
}

type NeuronVerdict<'a> = (
    u16,
    &'a super::AccountId,
    u64,
    u64,
    (u64, u64),
    Option<&'a super::Axon>,
    u16,
    bool,
);

impl<'a> Verdicts<'a> {
    fn of(s: &'a SubnetSnapshot) -> Self {
        let next = s.block.saturating_add(1);
        Self {
            subnet: (s.max_uids, s.immunity_period),
            neurons: s
                .neurons
                .iter()
                .map(|n| {
                    (
                        n.uid,
                        &n.hotkey,
                        n.registered_at,
                        n.emission,
                        (n.incentive.to_bits(), n.dividends.to_bits()),
                        n.axon.as_ref(),
                        n.pruning_score,
                        super::prune::is_immune(n.registered_at, s.immunity_period, next),
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::memory::{Genesis, GenesisSubnet, MemoryChain};

    #[tokio::test]
    async fn a_burst_of_announced_blocks_is_one_wake_and_an_ended_subscription_says_so() {
        use futures::StreamExt as _;
        let mut burst: super::super::HeadStream = futures::stream::iter([5, 6, 7])
            .chain(futures::stream::pending())
            .boxed();
        assert_eq!(
            next_head(&mut burst, Duration::from_millis(50)).await,
            Wake::Block
        );
        // All three were taken: nothing more until the quiet timeout.
        assert_eq!(
            next_head(&mut burst, Duration::from_millis(50)).await,
            Wake::Quiet
        );
        let mut ended: super::super::HeadStream = futures::stream::iter([1]).boxed();
        assert_eq!(
            next_head(&mut ended, Duration::from_millis(50)).await,
            Wake::Ended
        );
        let mut empty: super::super::HeadStream = futures::stream::empty().boxed();
        assert_eq!(
            next_head(&mut empty, Duration::from_millis(50)).await,
            Wake::Ended
        );
    }

    /// An in-memory chain with `netuids`.
    fn memory(netuids: &[u16]) -> Arc<MemoryChain> {
        let g = Genesis {
            subnets: netuids
                .iter()
                .map(|n| {
                    serde_yaml::from_str::<GenesisSubnet>(&format!("{{netuid: {n}}}"))
                        .unwrap_or_else(|e| panic!("{e}"))
                })
                .collect(),
            ..Default::default()
        };
        Arc::new(MemoryChain::new(&g).unwrap_or_else(|e| panic!("{e}")))
    }

    /// A cache of `chain` named `label` in `metrics`, pinned to `pin`.
    fn cache_of(
        chain: Arc<MemoryChain>,
        metrics: &Metrics,
        label: &str,
        pin: Option<&'static str>,
    ) -> Arc<ChainCache> {
        let changes = tokio::sync::watch::channel(0).0;
        ChainCache::new(chain, metrics.clone(), label, pin, changes)
    }

    #[tokio::test]
    async fn fleets_are_woken_by_what_their_status_reads_not_by_every_block() {
        let g: Genesis =
            serde_yaml::from_str("{finalityLag: 0, subnets: [{netuid: 1, immunityPeriod: 10}]}")
                .unwrap_or_else(|e| panic!("{e}"));
        let mem = Arc::new(MemoryChain::new(&g).unwrap_or_else(|e| panic!("{e}")));
        let metrics = Metrics::new();
        let cache = cache_of(mem.clone(), &metrics, "chain", None);
        let wakes = cache.subscribe();
        let woken = || *wakes.borrow();
        cache.watch(1);
        assert!(cache.refresh().await);
        let first = woken();
        // A registration wakes the fleets.
        let hotkey = [7u8; 32];
        mem.set_balance([8u8; 32], 1_000_000_000_000);
        let registered = mem.register_other(1, hotkey, [8u8; 32]);
        assert!(registered.is_ok(), "{registered:?}");
        assert!(cache.refresh().await);
        assert_eq!(woken(), first + 1);
        // A block that changes nothing they show does not.
        mem.advance(1);
        assert!(cache.refresh().await);
        assert_eq!(woken(), first + 1);
        // New earnings do.
        mem.set_performance(1, hotkey, 1000, 0.5);
        mem.advance(1);
        assert!(cache.refresh().await);
        assert_eq!(woken(), first + 2);
        // So does the end of the neuron's immunity, once.
        mem.advance(10);
        assert!(cache.refresh().await);
        assert_eq!(woken(), first + 3);
        mem.advance(5);
        assert!(cache.refresh().await);
        assert_eq!(woken(), first + 3);
    }

    #[tokio::test]
    async fn reads_grow_with_subnets_not_readers() {
        let mem = memory(&[1, 2]);
        let metrics = Metrics::new();
        let cache = cache_of(mem.clone(), &metrics, "chain", None);
        cache.watch(1);
        cache.watch(2);
        cache.watch(1);
        assert!(cache.refresh().await);
        // A thousand readers read the cache, not the chain.
        for _ in 0..1000 {
            assert!(cache.snapshot(1).is_some_and(|s| s.is_some()));
        }
        // Same block: only the head is read.
        assert!(!cache.refresh().await);
        mem.advance(1);
        assert!(cache.refresh().await);
        let text = metrics.encode().unwrap_or_default();
        assert!(
            text.contains(r#"subnet_operator_chain_calls_total{chain="chain",method="subnet"} 4"#),
            "{text}"
        );
        assert!(
            text.contains(r#"subnet_operator_chain_calls_total{chain="chain",method="head"} 3"#),
            "{text}"
        );
        assert_eq!(cache.snapshot(3), None);
    }

    #[tokio::test]
    async fn a_chain_pinned_to_another_genesis_is_read_no_further_and_written_never() {
        let mem = memory(&[1]);
        let metrics = Metrics::new();
        let pin = Some(crate::chain::network::TEST_GENESIS);
        let cache = cache_of(mem.clone(), &metrics, "test", pin);
        cache.watch(1);
        assert!(!cache.refresh().await);
        mem.advance(1);
        assert!(!cache.refresh().await);
        // The head says which chain answered; no subnet was read.
        assert!(cache.head().is_ok_and(|h| h.is_some()));
        assert_eq!(cache.snapshot(1), None);
        let text = metrics.encode().unwrap_or_default();
        assert!(!text.contains(r#"method="subnet""#), "{text}");
        // The writer sends nothing to it.
        let alice = crate::keys::signer::Signer::dev("Alice").unwrap_or_else(|e| panic!("{e}"));
        let call = super::super::LocalnetCall::AddStake {
            hotkey: alice.public(),
            netuid: 1,
            rao: 1,
        };
        let sent = cache.writer().turn(&alice).await.localnet_call(call).await;
        assert!(
            matches!(sent, Err(super::super::ChainError::WrongNetwork(_))),
            "{sent:?}"
        );
        assert!(mem.tx_log().is_empty());
        // Unpinned, the same chain is read.
        let open = ChainCache::new(mem, metrics, "url", None, tokio::sync::watch::channel(0).0);
        open.watch(1);
        assert!(open.refresh().await);
        assert!(open.snapshot(1).is_some_and(|s| s.is_some()));
    }
}
