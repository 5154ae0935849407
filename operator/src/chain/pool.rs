//! The chains the operator has open: one client, one cache and one follower per distinct chain
//! (its endpoints and the genesis it is pinned to), shared by every Subnet on it. A chain opens
//! when the first Subnet asks for it and closes when the last one stops using it (deleted, or
//! moved to another chain); its metric series go with it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::cache::ChainCache;
use super::network::{ChainTarget, NetworkEndpoints};
use super::{Result, SharedChain};
use crate::metrics::Metrics;

/// Which client the pool opens chains with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// No chain: Subnets report `ChainNotConnected`.
    None,
    /// The simulation server at this URL stands in for every network (a SIMULATION: nothing is
    /// pinned to a genesis).
    Sim(String),
    /// Real subtensor nodes, each Subnet's own.
    Subxt,
}

/// A Subnet, by namespace and name.
pub type SubnetKey = (String, String);

/// What tells two chains apart: where they are and the genesis they are pinned to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ChainKey {
    endpoints: Vec<String>,
    pin: Option<&'static str>,
}

/// One open chain.
struct Open {
    cache: Arc<ChainCache>,
    follower: tokio::task::JoinHandle<()>,
    label: String,
}

#[derive(Default)]
struct Inner {
    chains: HashMap<ChainKey, Open>,
    users: HashMap<SubnetKey, ChainKey>,
}

/// The operator's open chains.
pub struct ChainPool {
    backend: Backend,
    given: NetworkEndpoints,
    metrics: Metrics,
    poll: Duration,
    changes: tokio::sync::watch::Sender<u64>,
    inner: Mutex<Inner>,
}

impl ChainPool {
    /// A pool opening chains with `backend`; `given` are the operator's endpoints for the named
    /// networks, `poll` how often a chain that cannot announce blocks is polled.
    pub fn new(
        backend: Backend,
        given: NetworkEndpoints,
        metrics: Metrics,
        poll: Duration,
    ) -> Self {
        Self {
            backend,
            given,
            metrics,
            poll,
            changes: tokio::sync::watch::channel(0).0,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// A pool that opens no chain.
    pub fn disabled(metrics: Metrics) -> Self {
        Self::new(
            Backend::None,
            NetworkEndpoints::default(),
            metrics,
            Duration::from_secs(1),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether chains are pinned to their network's genesis (not on the simulation).
    pub fn pins(&self) -> bool {
        self.backend == Backend::Subxt
    }

    /// What the genesis `cache` answers with says of a Subnet on `network` whose status recorded
    /// `recorded` (`None`: nothing read yet, or chains are not pinned, on the simulation).
    pub fn check(
        &self,
        cache: &ChainCache,
        network: &super::network::Network,
        recorded: Option<&str>,
    ) -> Option<super::network::GenesisCheck> {
        let head = cache.head().ok().flatten()?;
        self.pins()
            .then(|| super::network::check_genesis(network, recorded, &head.genesis_hash))
    }

    /// The chain of the Subnet `name` in `namespace` with `spec`.
    pub fn target(
        &self,
        spec: &crate::crd::SubnetSpec,
        name: &str,
        namespace: &str,
    ) -> ChainTarget {
        super::network::resolve(spec, name, namespace, &self.given)
    }

    /// The chain `target` for `subnet`, opened if no Subnet uses it yet (`None`: the pool opens
    /// no chains). A Subnet that used another chain before stops using it.
    pub fn acquire(
        &self,
        subnet: &SubnetKey,
        target: &ChainTarget,
    ) -> Result<Option<Arc<ChainCache>>> {
        let key = match &self.backend {
            Backend::None => return Ok(None),
            Backend::Sim(url) => ChainKey {
                endpoints: vec![url.clone()],
                pin: None,
            },
            Backend::Subxt => ChainKey {
                endpoints: target.endpoints.clone(),
                pin: target.pinned_genesis(),
            },
        };
        let mut inner = self.lock();
        if let Some(open) = inner.chains.get(&key) {
            let cache = open.cache.clone();
            if inner.users.get(subnet) != Some(&key) {
                self.use_chain(&mut inner, subnet, key);
            }
            return Ok(Some(cache));
        }
        let label = match &self.backend {
            Backend::Sim(_) => "sim".to_string(),
            _ => unique_label(&inner, target.label()),
        };
        let chain: SharedChain = match &self.backend {
            Backend::Sim(url) => Arc::new(super::sim::SimChain::new(url)?),
            _ => Arc::new(super::subxt_client::SubxtChain::new(key.endpoints.clone())?),
        };
        tracing::info!(chain = %label, endpoints = ?key.endpoints, pinned = ?key.pin, "opening a chain");
        let cache = ChainCache::new(
            chain,
            self.metrics.clone(),
            &label,
            key.pin,
            self.changes.clone(),
        );
        let follower = cache.spawn_follower(self.poll);
        inner.chains.insert(
            key.clone(),
            Open {
                cache: cache.clone(),
                follower,
                label,
            },
        );
        self.use_chain(&mut inner, subnet, key);
        Ok(Some(cache))
    }

    /// Records that `subnet` uses `key`, leaving the chain it used before.
    fn use_chain(&self, inner: &mut Inner, subnet: &SubnetKey, key: ChainKey) {
        let before = inner.users.insert(subnet.clone(), key.clone());
        if let Some(before) = before {
            self.close_if_unused(inner, &before);
        }
        self.publish(inner, &key);
    }

    /// `subnet` uses no chain any more (it has a problem, or is gone).
    pub fn release(&self, subnet: &SubnetKey) {
        let mut inner = self.lock();
        if let Some(key) = inner.users.remove(subnet) {
            self.close_if_unused(&mut inner, &key);
        }
    }

    /// Releases every Subnet of `namespace` (all namespaces: `None`) that is not in `live`:
    /// deleted Subnets are never reconciled, so the controllers sweep them from their cache.
    pub fn retain(&self, namespace: Option<&str>, live: &BTreeSet<SubnetKey>) {
        let gone: Vec<SubnetKey> = {
            let inner = self.lock();
            inner
                .users
                .keys()
                .filter(|k| namespace.is_none_or(|ns| k.0 == ns) && !live.contains(*k))
                .cloned()
                .collect()
        };
        for subnet in gone {
            tracing::debug!(namespace = %subnet.0, name = %subnet.1, "a Subnet is gone; releasing its chain");
            self.release(&subnet);
        }
    }

    fn close_if_unused(&self, inner: &mut Inner, key: &ChainKey) {
        if inner.users.values().any(|k| k == key) {
            self.publish(inner, key);
            return;
        }
        if let Some(open) = inner.chains.remove(key) {
            tracing::info!(chain = %open.label, "no Subnet uses this chain any more; closing it");
            open.follower.abort();
            self.metrics.chain_closed(&open.label);
        }
    }

    fn publish(&self, inner: &Inner, key: &ChainKey) {
        if let Some(open) = inner.chains.get(key) {
            let users = inner.users.values().filter(|k| *k == key).count();
            self.metrics.chain_opened(&open.label, users);
        }
    }

    /// How many chains are open.
    pub fn open_chains(&self) -> usize {
        self.lock().chains.len()
    }

    /// A receiver that changes whenever registrations or deregistrations happen on a watched
    /// subnet of any open chain (the controllers reconcile their fleets on it).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

impl Drop for ChainPool {
    fn drop(&mut self) {
        for open in self.lock().chains.values() {
            open.follower.abort();
        }
    }
}

/// `label`, or `label#2`, `#3`, … when another open chain has it.
fn unique_label(inner: &Inner, label: String) -> String {
    let taken = |l: &str| inner.chains.values().any(|o| o.label == l);
    if !taken(&label) {
        return label;
    }
    (2..)
        .map(|n| format!("{label}#{n}"))
        .find(|l| !taken(l))
        .unwrap_or(label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::network::resolve;

    fn spec(yaml: &str) -> crate::crd::SubnetSpec {
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    fn key(name: &str) -> SubnetKey {
        ("ns".to_string(), name.to_string())
    }

    #[tokio::test]
    async fn one_chain_per_distinct_target_opened_on_first_use_and_closed_when_unused() {
        let metrics = Metrics::new();
        let pool = ChainPool::new(
            Backend::Subxt,
            NetworkEndpoints::default(),
            metrics.clone(),
            Duration::from_secs(60),
        );
        let given = NetworkEndpoints::default();
        // Nothing listens here: the chains open (lazily) and never connect.
        let a = resolve(
            &spec("{network: 'ws://127.0.0.1:1', netuid: 1}"),
            "a",
            "ns",
            &given,
        );
        let b = resolve(
            &spec("{network: 'ws://127.0.0.1:2', netuid: 1}"),
            "b",
            "ns",
            &given,
        );
        let ok = |r: Result<Option<Arc<ChainCache>>>| {
            r.unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("no chain"))
        };
        let first = ok(pool.acquire(&key("a1"), &a));
        let second = ok(pool.acquire(&key("a2"), &a));
        assert!(Arc::ptr_eq(&first, &second), "one chain, shared");
        ok(pool.acquire(&key("b"), &b));
        assert_eq!(pool.open_chains(), 2);
        let text = metrics.encode().unwrap_or_default();
        assert!(
            text.contains(r#"subnet_operator_chain_subnets{chain="127.0.0.1:1"} 2"#),
            "{text}"
        );
        // a1 moves to b: a stays open for a2.
        ok(pool.acquire(&key("a1"), &b));
        assert_eq!(pool.open_chains(), 2);
        // a2 is deleted: a closes, and its series go.
        pool.retain(Some("ns"), &BTreeSet::from([key("a1"), key("b")]));
        assert_eq!(pool.open_chains(), 1);
        let text = metrics.encode().unwrap_or_default();
        assert!(!text.contains(r#"chain="127.0.0.1:1""#), "{text}");
        assert!(
            text.contains(r#"subnet_operator_chain_open{chain="127.0.0.1:2"} 1"#),
            "{text}"
        );
        // Another namespace's sweep leaves these alone.
        pool.retain(Some("other"), &BTreeSet::new());
        assert_eq!(pool.open_chains(), 1);
        pool.release(&key("a1"));
        pool.release(&key("b"));
        assert_eq!(pool.open_chains(), 0);
        // The same endpoint pinned to a network's genesis is another chain.
        let test = resolve(
            &spec("{network: test, netuid: 1, endpoints: ['ws://127.0.0.1:1']}"),
            "t",
            "ns",
            &given,
        );
        let url = resolve(
            &spec("{network: 'ws://127.0.0.1:1', netuid: 1}"),
            "u",
            "ns",
            &given,
        );
        let t = ok(pool.acquire(&key("t"), &test));
        let u = ok(pool.acquire(&key("u"), &url));
        assert!(!Arc::ptr_eq(&t, &u));
        assert_eq!(t.pin(), Some(crate::chain::network::TEST_GENESIS));
        assert_eq!(u.pin(), None);
        let disabled = ChainPool::disabled(metrics);
        assert!(
            disabled
                .acquire(&key("x"), &test)
                .is_ok_and(|c| c.is_none())
        );
    }
}
