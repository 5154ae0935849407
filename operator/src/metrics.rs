//! Prometheus metrics (prometheus-client), served at `/metrics`.
//!
//! Label cardinality is bounded: `kind` has three values, `error` one per
//! [`crate::controller::Error`] variant, `object` one per Kubernetes write kind.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels with only the resource kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `Subnet`, `Miner` or `Validator`.
    pub kind: String,
}

/// Labels of a failed reconcile.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// `Subnet`, `Miner` or `Validator`.
    pub kind: String,
    /// The error variant, e.g. `PatchStatus`.
    pub error: String,
}

/// Labels of a write to the Kubernetes API.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    /// Kind of the reconciled resource.
    pub kind: String,
    /// What was written, e.g. `status`, `event`.
    pub object: String,
}

/// Labels of a chain call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// The call, e.g. `head`, `subnet`, `submit`.
    pub method: String,
}

/// Labels of an extrinsic.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExtrinsicLabels {
    /// The call, e.g. `register_limit`.
    pub call: String,
    /// `ok` or the chain's error name.
    pub result: String,
}

/// All metrics of the operator.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Reconciles run.
    pub reconciles: Family<KindLabels, Counter>,
    /// Reconciles that failed, by error.
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    /// Reconcile duration.
    pub reconcile_duration: Family<KindLabels, Histogram>,
    /// Writes sent to the Kubernetes API by reconciles (a steady state sends none).
    pub kube_writes: Family<WriteLabels, Counter>,
    /// 1 while this replica holds the leader Lease.
    pub leader: Gauge,
    /// Chain reads and writes, by method.
    pub chain_calls: Family<MethodLabels, Counter>,
    /// Failed chain calls, by method.
    pub chain_errors: Family<MethodLabels, Counter>,
    /// Extrinsics sent, by call and result.
    pub extrinsics: Family<ExtrinsicLabels, Counter>,
    /// Pods restarted because their validator's weights went stale.
    pub stale_restarts: Family<KindLabels, Counter>,
}

/// Every metric name the operator exports (as scraped, with suffixes), for docs and tests.
pub const METRIC_NAMES: &[&str] = &[
    "subnet_operator_reconciles_total",
    "subnet_operator_reconcile_errors_total",
    "subnet_operator_reconcile_duration_seconds",
    "subnet_operator_kube_writes_total",
    "subnet_operator_leader",
    "subnet_operator_chain_calls_total",
    "subnet_operator_chain_errors_total",
    "subnet_operator_extrinsics_total",
    "subnet_operator_stale_weight_restarts_total",
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the metrics and registers them under the `subnet_operator` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("subnet_operator");
        let reconciles = Family::<KindLabels, Counter>::default();
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let reconcile_duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 12))
        });
        let kube_writes = Family::<WriteLabels, Counter>::default();
        let leader = Gauge::default();
        let chain_calls = Family::<MethodLabels, Counter>::default();
        let chain_errors = Family::<MethodLabels, Counter>::default();
        let extrinsics = Family::<ExtrinsicLabels, Counter>::default();
        let stale_restarts = Family::<KindLabels, Counter>::default();
        registry.register(
            "stale_weight_restarts",
            "Pods restarted because their weights went stale",
            stale_restarts.clone(),
        );
        registry.register("chain_calls", "Chain calls, by method", chain_calls.clone());
        registry.register(
            "chain_errors",
            "Failed chain calls, by method",
            chain_errors.clone(),
        );
        registry.register(
            "extrinsics",
            "Extrinsics sent, by call and result",
            extrinsics.clone(),
        );
        registry.register("reconciles", "Reconciles run", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by error",
            reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration in seconds",
            reconcile_duration.clone(),
        );
        registry.register(
            "kube_writes",
            "Writes sent to the Kubernetes API by reconciles",
            kube_writes.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease",
            leader.clone(),
        );
        Self {
            registry: Arc::new(registry),
            reconciles,
            reconcile_errors,
            reconcile_duration,
            kube_writes,
            leader,
            chain_calls,
            chain_errors,
            extrinsics,
            stale_restarts,
        }
    }

    /// Counts one reconcile of `kind` that took `took`.
    pub fn reconciled(&self, kind: &str, took: Duration) {
        let labels = KindLabels {
            kind: kind.to_string(),
        };
        self.reconciles.get_or_create(&labels).inc();
        self.reconcile_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Counts a failed reconcile.
    pub fn failed(&self, kind: &str, error: &str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels {
                kind: kind.to_string(),
                error: error.to_string(),
            })
            .inc();
    }

    /// Counts a write to the Kubernetes API.
    pub fn wrote(&self, kind: &str, object: &str) {
        self.kube_writes
            .get_or_create(&WriteLabels {
                kind: kind.to_string(),
                object: object.to_string(),
            })
            .inc();
    }

    /// Counts a chain call.
    pub fn chain_call(&self, method: &str) {
        self.chain_calls
            .get_or_create(&MethodLabels {
                method: method.to_string(),
            })
            .inc();
    }

    /// Counts a failed chain call.
    pub fn chain_error(&self, method: &str) {
        self.chain_errors
            .get_or_create(&MethodLabels {
                method: method.to_string(),
            })
            .inc();
    }

    /// Counts an extrinsic and its result.
    pub fn extrinsic(&self, call: &str, result: &str) {
        self.extrinsics
            .get_or_create(&ExtrinsicLabels {
                call: call.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    /// Counts a restart for stale weights.
    pub fn stale_restart(&self, kind: &str) {
        self.stale_restarts
            .get_or_create(&KindLabels {
                kind: kind.to_string(),
            })
            .inc();
    }

    /// Renders the registry in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_metric_is_exported() {
        let m = Metrics::new();
        m.reconciled("Miner", Duration::from_millis(3));
        m.failed("Miner", "SubnetNotFound");
        m.wrote("Miner", "status");
        m.leader.set(1);
        m.chain_call("head");
        m.chain_error("head");
        m.extrinsic("register_limit", "ok");
        m.stale_restart("Validator");
        let text = m.encode().unwrap_or_default();
        for name in METRIC_NAMES {
            assert!(
                text.lines().any(|l| l.starts_with(name)),
                "{name} missing from:\n{text}"
            );
        }
        assert!(text.contains(
            r#"subnet_operator_reconcile_errors_total{kind="Miner",error="SubnetNotFound"} 1"#
        ));
    }
}
