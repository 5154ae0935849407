//! Which chain a Subnet talks to, decided from its spec alone (pure): the network it names,
//! the endpoints to try, and the genesis the chain must answer with.
//!
//! - `finney` and `test` use their public entrypoints, or the endpoints the operator is given for
//!   that network (`--finney-endpoints`, `--test-endpoints`: the user's own lite node), or the
//!   Subnet's own `spec.endpoints`; their genesis hashes are known, and a chain that answers with
//!   another is the wrong network.
//! - A `ws://` / `wss://` URL is used as given, then `spec.endpoints`; its genesis is the one the
//!   Subnet first saw (recorded in status).
//! - `local`: a localnet Subnet's own in-cluster Service (`<name>-localnet.<namespace>.svc`),
//!   unless `spec.endpoints` names another address (a test reaching a localnet from outside the
//!   cluster). Its genesis changes when the localnet restarts: that is a chain reset.

use crate::crd::SubnetSpec;

/// Finney's genesis hash (also hard-coded in subtensor's own migrations).
pub const FINNEY_GENESIS: &str =
    "0x2f0555cc76fc2840a25a6ea3b9637146806f1f44b090c175ffde2a7e5ab36c03";
/// The testnet's (test.finney) genesis hash.
pub const TEST_GENESIS: &str = "0x8f9cf856bf558a14440e75569c9e58594757048d7b3a84b5d25f6bd978263105";
/// Finney's public entrypoint.
pub const FINNEY_ENDPOINT: &str = "wss://entrypoint-finney.opentensor.ai:443";
/// The testnet's public entrypoint.
pub const TEST_ENDPOINT: &str = "wss://test.finney.opentensor.ai:443";
/// The RPC port of a localnet's Service.
pub const LOCALNET_RPC_PORT: u16 = 9944;

/// Name of a localnet Subnet's StatefulSet and Service.
pub fn localnet_name(subnet: &str) -> String {
    format!("{subnet}-localnet")
}

/// The in-cluster WebSocket endpoint of a Subnet's localnet.
pub fn localnet_endpoint(subnet: &str, namespace: &str) -> String {
    format!(
        "ws://{}.{namespace}.svc:{LOCALNET_RPC_PORT}",
        localnet_name(subnet)
    )
}

/// The network a Subnet names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Network {
    /// The main network.
    Finney,
    /// The testnet.
    Test,
    /// A localnet.
    Local,
    /// A node at this URL.
    Url(String),
}

impl Network {
    /// The network `spec.network` names.
    pub fn parse(network: &str) -> Self {
        match network {
            "finney" => Self::Finney,
            "test" => Self::Test,
            "local" => Self::Local,
            url => Self::Url(url.to_string()),
        }
    }

    /// The genesis hash every node of this network answers with, when it is known.
    pub fn known_genesis(&self) -> Option<&'static str> {
        match self {
            Self::Finney => Some(FINNEY_GENESIS),
            Self::Test => Some(TEST_GENESIS),
            Self::Local | Self::Url(_) => None,
        }
    }
}

/// Endpoints the operator is given for the named networks (empty: the public entrypoint).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkEndpoints {
    /// For `network: finney`.
    pub finney: Vec<String>,
    /// For `network: test`.
    pub test: Vec<String>,
}

impl NetworkEndpoints {
    /// Splits comma-separated lists (`--finney-endpoints`, `--test-endpoints`).
    pub fn parse(finney: &str, test: &str) -> Self {
        Self {
            finney: split(finney),
            test: split(test),
        }
    }
}

/// Splits a comma-separated endpoint list, dropping blanks.
pub fn split(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Where a Subnet's chain is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChainTarget {
    /// The network the Subnet names.
    pub network: Network,
    /// Endpoints of that chain, tried in order with failover.
    pub endpoints: Vec<String>,
}

impl ChainTarget {
    /// The genesis hash the chain must answer with, when the network's is known.
    pub fn pinned_genesis(&self) -> Option<&'static str> {
        self.network.known_genesis()
    }

    /// The chain's name in metrics (`chain` label): the named network, else the host (and port)
    /// of the first endpoint. One value per open chain: the series of a chain are removed when
    /// it closes.
    pub fn label(&self) -> String {
        match &self.network {
            Network::Finney => "finney".to_string(),
            Network::Test => "test".to_string(),
            Network::Local | Network::Url(_) => {
                let first = self.endpoints.first().map(String::as_str).unwrap_or("");
                let rest = first.split_once("://").map_or(first, |(_, r)| r);
                let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
                let host: String = host
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'))
                    .take(64)
                    .collect();
                match self.network {
                    Network::Local => format!("local:{host}"),
                    _ => host,
                }
            }
        }
    }
}

/// The chain of the Subnet `name` in `namespace` with `spec`.
pub fn resolve(
    spec: &SubnetSpec,
    name: &str,
    namespace: &str,
    given: &NetworkEndpoints,
) -> ChainTarget {
    let network = Network::parse(&spec.network);
    let own = || spec.endpoints.clone();
    let endpoints = match &network {
        Network::Finney | Network::Test if !spec.endpoints.is_empty() => own(),
        Network::Finney if !given.finney.is_empty() => given.finney.clone(),
        Network::Test if !given.test.is_empty() => given.test.clone(),
        Network::Finney => vec![FINNEY_ENDPOINT.to_string()],
        Network::Test => vec![TEST_ENDPOINT.to_string()],
        Network::Local if !spec.endpoints.is_empty() => own(),
        Network::Local => vec![localnet_endpoint(name, namespace)],
        Network::Url(url) => std::iter::once(url.clone()).chain(own()).collect(),
    };
    let mut unique: Vec<String> = Vec::with_capacity(endpoints.len());
    for e in endpoints {
        if !unique.contains(&e) {
            unique.push(e);
        }
    }
    ChainTarget {
        network,
        endpoints: unique,
    }
}

/// What the genesis a chain answers with says about a Subnet's network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenesisCheck {
    /// The chain is the Subnet's.
    Matches,
    /// A URL network's first genesis: to be recorded in status, then it matches.
    First,
    /// A localnet's chain was reset (another genesis): the new one is recorded.
    Reset,
    /// A named network whose endpoint is another chain: nothing is read or sent for it.
    WrongNetwork {
        /// The network's genesis hash.
        expected: String,
        /// What the endpoint answered.
        got: String,
    },
    /// A URL network whose chain is not the one first seen there.
    Changed {
        /// The genesis recorded in status.
        recorded: String,
        /// What the endpoint answers now.
        got: String,
    },
}

impl GenesisCheck {
    /// Whether registrations and stakes may go to this chain for the Subnet.
    pub fn allows_writes(&self) -> bool {
        matches!(self, Self::Matches | Self::Reset)
    }

    /// The condition reason and message of a chain that is not the Subnet's.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        match self {
            Self::WrongNetwork { expected, got } => Some((
                "WrongNetwork",
                format!(
                    "the endpoint answers with genesis {got}, not this network's {expected}: nothing is read, registered or staked on it"
                ),
            )),
            Self::Changed { recorded, got } => Some((
                "GenesisChanged",
                format!(
                    "the endpoint answers with genesis {got}, but this Subnet first saw {recorded}: another chain is behind the URL; nothing is registered or staked until the Subnet is created again"
                ),
            )),
            _ => None,
        }
    }
}

/// Checks the genesis `got` a chain answers with against the Subnet's `network` and the genesis
/// its status `recorded`.
pub fn check_genesis(network: &Network, recorded: Option<&str>, got: &str) -> GenesisCheck {
    if let Some(expected) = network.known_genesis() {
        return if got.eq_ignore_ascii_case(expected) {
            GenesisCheck::Matches
        } else {
            GenesisCheck::WrongNetwork {
                expected: expected.to_string(),
                got: got.to_string(),
            }
        };
    }
    match recorded {
        None => GenesisCheck::First,
        Some(r) if r.eq_ignore_ascii_case(got) => GenesisCheck::Matches,
        Some(_) if *network == Network::Local => GenesisCheck::Reset,
        Some(r) => GenesisCheck::Changed {
            recorded: r.to_string(),
            got: got.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> SubnetSpec {
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn each_network_resolves_to_its_own_endpoints() {
        let none = NetworkEndpoints::default();
        let mine = NetworkEndpoints::parse("ws://lite-0:9944, ws://lite-1:9944", "");
        let finney = spec("{network: finney, netuid: 7}");
        assert_eq!(
            resolve(&finney, "sn", "ns", &none).endpoints,
            [FINNEY_ENDPOINT]
        );
        assert_eq!(
            resolve(&finney, "sn", "ns", &mine).endpoints,
            ["ws://lite-0:9944", "ws://lite-1:9944"]
        );
        // The operator's finney endpoints are not the testnet's.
        let test = spec("{network: test, netuid: 7}");
        assert_eq!(resolve(&test, "sn", "ns", &mine).endpoints, [TEST_ENDPOINT]);
        // A Subnet's own endpoints come first.
        let own = spec("{network: test, netuid: 7, endpoints: ['ws://mine:9944']}");
        assert_eq!(
            resolve(&own, "sn", "ns", &mine).endpoints,
            ["ws://mine:9944"]
        );
        let url = spec(
            "{network: 'wss://a.example:443', netuid: 3, endpoints: ['wss://b.example:443', 'wss://a.example:443']}",
        );
        let t = resolve(&url, "sn", "ns", &mine);
        assert_eq!(t.endpoints, ["wss://a.example:443", "wss://b.example:443"]);
        assert_eq!(t.label(), "a.example:443");
        let local = spec("{network: local, localnet: {}}");
        let t = resolve(&local, "dev", "miners", &mine);
        assert_eq!(t.endpoints, ["ws://dev-localnet.miners.svc:9944"]);
        assert_eq!(t.label(), "local:dev-localnet.miners.svc:9944");
        let reached = spec("{network: local, localnet: {}, endpoints: ['ws://127.0.0.1:4000']}");
        assert_eq!(
            resolve(&reached, "dev", "miners", &mine).endpoints,
            ["ws://127.0.0.1:4000"]
        );
        assert_eq!(resolve(&finney, "x", "y", &mine).label(), "finney");
    }

    #[test]
    fn a_chain_with_another_genesis_is_the_wrong_network_or_a_reset() {
        let other = "0x1234";
        assert_eq!(
            check_genesis(&Network::Finney, None, FINNEY_GENESIS),
            GenesisCheck::Matches
        );
        let wrong = check_genesis(&Network::Test, Some(other), other);
        assert_eq!(
            wrong,
            GenesisCheck::WrongNetwork {
                expected: TEST_GENESIS.into(),
                got: other.into()
            }
        );
        assert!(!wrong.allows_writes());
        assert_eq!(wrong.problem().map(|p| p.0), Some("WrongNetwork"));
        let url = Network::Url("ws://x:1".into());
        assert_eq!(check_genesis(&url, None, other), GenesisCheck::First);
        assert!(!GenesisCheck::First.allows_writes());
        assert_eq!(
            check_genesis(&url, Some(other), other),
            GenesisCheck::Matches
        );
        let changed = check_genesis(&url, Some("0xabcd"), other);
        assert_eq!(changed.problem().map(|p| p.0), Some("GenesisChanged"));
        assert_eq!(
            check_genesis(&Network::Local, Some("0xabcd"), other),
            GenesisCheck::Reset
        );
        assert!(GenesisCheck::Reset.allows_writes());
    }
}
