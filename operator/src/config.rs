//! Operator configuration: every flag is also an environment variable.

use std::net::SocketAddr;

use clap::{Parser, ValueEnum};

/// subnet-operator: runs Bittensor Subnets, Miners and Validators on Kubernetes.
#[derive(Parser, Debug, Clone)]
#[command(name = "subnet-operator", version, about)]
pub struct Config {
    /// Namespaces to watch, comma-separated (e.g. `miners,validators`); empty watches all
    /// namespaces. With a list, the operator needs rights in those namespaces only.
    #[arg(long, env = "WATCH_NAMESPACE", default_value = "")]
    pub watch_namespace: String,

    /// Address for `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "RUST_LOG", default_value = "info,kube=warn")]
    pub log_filter: String,

    /// Take a Lease before acting, so only one replica writes to Kubernetes and the chain.
    /// Disable only when exactly one operator process runs.
    #[arg(long, env = "LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,

    /// Name of the leader election Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "subnet-operator-leader")]
    pub lease_name: String,

    /// Namespace of the leader election Lease (default: the operator's own namespace, from
    /// `POD_NAMESPACE`, else `default`).
    #[arg(long, env = "LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,

    /// Seconds a Lease is valid without renewal.
    #[arg(long, env = "LEASE_DURATION_SECONDS", default_value_t = 15)]
    pub lease_duration_seconds: u64,

    /// This replica's identity in the Lease (default: `POD_NAME`, else the host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// Namespace the operator runs in.
    #[arg(long, env = "POD_NAMESPACE")]
    pub pod_namespace: Option<String>,

    /// Seconds between periodic re-reconciles of an unchanged resource (drift safety net).
    #[arg(long, env = "RESYNC_SECONDS", default_value_t = 300)]
    pub resync_seconds: u64,

    /// Which chain client to use: `subxt` (real subtensor nodes over WebSocket: each Subnet's own
    /// chain, from its `spec.network`), `none` (no chain: Subnets report `ChainNotConnected`), or
    /// `sim` (the in-memory chain model behind `subnet-operator-simchain` stands in for every
    /// network; a SIMULATION, for tests and demos).
    #[arg(long, env = "CHAIN_BACKEND", value_enum, default_value_t = ChainBackend::Subxt)]
    pub chain_backend: ChainBackend,

    /// URL of the simulation server for `--chain-backend sim`.
    #[arg(long, env = "SIM_CHAIN_URL", default_value = "http://127.0.0.1:9955")]
    pub sim_chain_url: String,

    /// Endpoints for Subnets with `network: finney`, comma-separated and tried in order with
    /// failover (e.g. your own lite node: `ws://subtensor-lite.chain:9944`). Empty: the public
    /// entrypoint. A Subnet's own `spec.endpoints` come before these; whatever answers must have
    /// Finney's genesis, or the Subnet is `WrongNetwork`.
    #[arg(long, env = "FINNEY_ENDPOINTS", default_value = "")]
    pub finney_endpoints: String,

    /// Endpoints for Subnets with `network: test`, as for `--finney-endpoints` (the testnet's
    /// genesis is checked the same way).
    #[arg(long, env = "TEST_ENDPOINTS", default_value = "")]
    pub test_endpoints: String,

    /// Milliseconds between reads of the chain head where the chain cannot announce new blocks
    /// (with a head subscription the head is read once per block instead).
    #[arg(long, env = "CHAIN_POLL_MS", default_value_t = 500)]
    pub chain_poll_ms: u64,

    /// Reconciles run in parallel per kind.
    #[arg(long, env = "CONCURRENCY", default_value_t = 8)]
    pub concurrency: u16,
}

/// Chain client.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainBackend {
    /// No chain.
    None,
    /// The simulation server (in-memory model) for every network.
    Sim,
    /// Real subtensor nodes (subxt, dynamic API), each Subnet's own.
    Subxt,
}

/// Log output format.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Config {
    /// The pool of chains this configuration opens.
    pub fn chain_pool(&self, metrics: crate::metrics::Metrics) -> crate::chain::pool::ChainPool {
        use crate::chain::pool::{Backend, ChainPool};
        let backend = match self.chain_backend {
            ChainBackend::None => Backend::None,
            ChainBackend::Sim => Backend::Sim(self.sim_chain_url.clone()),
            ChainBackend::Subxt => Backend::Subxt,
        };
        ChainPool::new(
            backend,
            crate::chain::network::NetworkEndpoints::parse(
                &self.finney_endpoints,
                &self.test_endpoints,
            ),
            metrics,
            std::time::Duration::from_millis(self.chain_poll_ms.max(50)),
        )
    }

    /// The namespace of the leader Lease.
    pub fn lease_namespace(&self) -> String {
        self.lease_namespace
            .clone()
            .or_else(|| self.pod_namespace.clone())
            .unwrap_or_else(|| "default".to_string())
    }

    /// This replica's identity for the Lease.
    pub fn identity(&self) -> String {
        self.identity.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| format!("subnet-operator-{}", std::process::id()))
        })
    }

    /// The watched namespaces, in the order given and without repeats; `[None]` for all.
    pub fn namespaces(&self) -> Vec<Option<String>> {
        let mut list: Vec<Option<String>> = Vec::new();
        for ns in self
            .watch_namespace
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            if !list.iter().any(|n| n.as_deref() == Some(ns)) {
                list.push(Some(ns.to_string()));
            }
        }
        if list.is_empty() {
            list.push(None);
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_default() {
        let c = Config::try_parse_from(["subnet-operator"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.namespaces(), vec![None]);
        assert!(c.leader_election);
        let c = Config::try_parse_from([
            "subnet-operator",
            "--watch-namespace=miners",
            "--leader-election=false",
            "--log-format=json",
            "--lease-namespace=ops",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.namespaces(), vec![Some("miners".to_string())]);
        assert!(!c.leader_election);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.lease_namespace(), "ops");
        let c = Config::try_parse_from(["subnet-operator", "--watch-namespace=a, b,,a"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.namespaces(),
            vec![Some("a".to_string()), Some("b".to_string())]
        );
        assert_eq!(
            c.chain_backend,
            ChainBackend::Subxt,
            "real chains by default"
        );
        let c = Config::try_parse_from([
            "subnet-operator",
            "--chain-backend=none",
            "--finney-endpoints=ws://a:9944, ws://b:9944",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.chain_backend, ChainBackend::None);
        assert_eq!(
            crate::chain::network::NetworkEndpoints::parse(&c.finney_endpoints, &c.test_endpoints)
                .finney,
            vec!["ws://a:9944".to_string(), "ws://b:9944".to_string()]
        );
    }
}
