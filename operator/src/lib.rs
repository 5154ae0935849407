//! subnet-operator: a Kubernetes operator that runs Bittensor subnet fleets.
//!
//! - [`crd`]: the API (`subnet-operator.io/v1alpha1` Subnet, Miner, Validator).
//! - [`controller`]: one controller per kind sharing a [`controller::Context`].
//! - [`config`], [`telemetry`], [`metrics`], [`http`], [`leader`]: runtime plumbing.

pub mod apiclient;
pub mod chain;
pub mod config;
pub mod controller;
pub mod crd;
pub mod http;
pub mod keys;
pub mod labels;
pub mod leader;
pub mod metrics;
pub mod telemetry;

/// Errors that stop the operator process (reconcile errors are in [`controller::Error`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No Kubernetes client could be built from the environment.
    #[error("cannot build a Kubernetes client: {0}")]
    KubeClient(#[source] kube::Error),
    /// The CRDs are not installed.
    #[error("the {kind} CRD is not installed (apply crds/ or install the Helm chart): {source}")]
    CrdMissing {
        /// The kind whose CRD is missing.
        kind: &'static str,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The HTTP server (metrics, health) failed.
    #[error("HTTP server on {addr}: {source}")]
    Http {
        /// The listen address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Leader election failed.
    #[error("leader election: {0}")]
    Leader(#[source] kube_lease_manager::LeaseManagerError),
    /// Leadership was lost; the process exits so that it restarts as a standby.
    #[error("lost the leader lease")]
    LeadershipLost,
    /// The chain client could not be set up.
    #[error("chain: {0}")]
    Chain(String),
    /// Logging could not be set up.
    #[error("telemetry: {0}")]
    Telemetry(String),
}
