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

/// Labels of a Kubernetes API request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabels {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`,
    /// `other`.
    pub verb: String,
}

/// Labels of a chain call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// The chain (`finney`, `test`, a localnet's or a URL's host): one value per open chain.
    pub chain: String,
    /// The call, e.g. `head`, `subnet`, `submit`.
    pub method: String,
}

/// Labels of an open chain.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChainLabels {
    /// The chain, as in [`MethodLabels::chain`].
    pub chain: String,
}

/// Every chain call counted (`method` label), to remove a closed chain's series.
pub const CHAIN_METHODS: &[&str] = &[
    "head",
    "new_heads",
    "subnet",
    "find_tx",
    "proxy",
    "account",
    "subnet_owners",
    "supports",
    "prepare",
    "submit",
    "localnet_call",
];

/// Labels of an extrinsic.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExtrinsicLabels {
    /// The call, e.g. `register_limit`.
    pub call: String,
    /// `ok` or the chain's error name.
    pub result: String,
}

/// Labels of a fleet (Miner or Validator).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FleetLabels {
    /// Namespace.
    pub namespace: String,
    /// `Miner` or `Validator`.
    pub kind: String,
    /// Resource name.
    pub name: String,
}

/// Labels of one replica: a fleet and the replica index (bounded by the fleet's replicas).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReplicaLabels {
    /// Namespace.
    pub namespace: String,
    /// `Miner` or `Validator`.
    pub kind: String,
    /// Resource name.
    pub name: String,
    /// Replica index.
    pub replica: String,
}

/// Labels of one replica's diagnosis: the replica and its reason (one of the eight
/// [`crate::crd::fleet::DiagnosisReason`]s; a replica has one series, that of its reason now).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DiagnosisLabels {
    /// Namespace.
    pub namespace: String,
    /// `Miner` or `Validator`.
    pub kind: String,
    /// Resource name.
    pub name: String,
    /// Replica index.
    pub replica: String,
    /// The diagnosis reason, e.g. `NoIncentive`.
    pub reason: String,
}

/// What was published of one fleet, to remove the series that went away.
#[derive(Clone, Debug, Default)]
struct Published {
    replicas: Vec<ReplicaLabels>,
    diagnoses: Vec<DiagnosisLabels>,
}

/// Per-replica gauges (one family per quantity).
#[derive(Clone, Default)]
pub struct ReplicaGauges {
    /// 1 when registered.
    pub registered: Family<ReplicaLabels, Gauge>,
    /// UID (-1 when not registered).
    pub uid: Family<ReplicaLabels, Gauge>,
    /// Incentive (0–1).
    pub incentive: Family<ReplicaLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Emission per epoch in rao.
    pub emission: Family<ReplicaLabels, Gauge>,
    /// Trust (0–1).
    pub trust: Family<ReplicaLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Stake in rao.
    pub stake: Family<ReplicaLabels, Gauge>,
    /// 1 with a validator permit.
    pub permit: Family<ReplicaLabels, Gauge>,
    /// Blocks since the last weights.
    pub blocks_since_weights: Family<ReplicaLabels, Gauge>,
    /// 1 when the chain's axon differs from the exposed one.
    pub axon_drift: Family<ReplicaLabels, Gauge>,
    /// Position in the subnet's prune order (0 = next out; -1 when not registered or never
    /// reached).
    pub prune_rank: Family<ReplicaLabels, Gauge>,
    /// Registrations on the subnet until this replica is pruned (-1 when not registered or
    /// never reached).
    pub registrations_until_pruned: Family<ReplicaLabels, Gauge>,
    /// 1 for the replica's diagnosis reason now.
    pub diagnosis: Family<DiagnosisLabels, Gauge>,
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
    /// Requests sent to the Kubernetes API, by verb (reads and watches too).
    pub kube_requests: Family<VerbLabels, Counter>,
    /// Chain reads and writes, by method.
    pub chain_calls: Family<MethodLabels, Counter>,
    /// Failed chain calls, by method.
    pub chain_errors: Family<MethodLabels, Counter>,
    /// How long chain calls take, by method.
    pub chain_latency: Family<MethodLabels, Histogram>,
    /// 1 for each chain the operator has open (a Subnet uses it).
    pub chain_open: Family<ChainLabels, Gauge>,
    /// Subnets using each open chain.
    pub chain_subnets: Family<ChainLabels, Gauge>,
    /// Extrinsics sent, by call and result.
    pub extrinsics: Family<ExtrinsicLabels, Counter>,
    /// Pods restarted because their validator's weights went stale.
    pub stale_restarts: Family<KindLabels, Counter>,
    /// Per-replica chain state.
    pub replica: ReplicaGauges,
    /// Registration price of each fleet's subnet, in rao.
    pub registration_price: Family<FleetLabels, Gauge>,
    /// Burn spent by each fleet since it was created, in rao.
    pub spent: Family<FleetLabels, Gauge>,
    /// Replica labels published per fleet, to remove those of replicas that went away.
    published: Arc<std::sync::Mutex<std::collections::HashMap<FleetLabels, Published>>>,
}

/// Every metric name the operator exports (as scraped, with suffixes), for docs and tests.
pub const METRIC_NAMES: &[&str] = &[
    "subnet_operator_reconciles_total",
    "subnet_operator_reconcile_errors_total",
    "subnet_operator_reconcile_duration_seconds",
    "subnet_operator_kube_writes_total",
    "subnet_operator_leader",
    "subnet_operator_kube_requests_total",
    "subnet_operator_chain_calls_total",
    "subnet_operator_chain_errors_total",
    "subnet_operator_chain_call_duration_seconds",
    "subnet_operator_chain_open",
    "subnet_operator_chain_subnets",
    "subnet_operator_extrinsics_total",
    "subnet_operator_stale_weight_restarts_total",
    "subnet_operator_replica_registered",
    "subnet_operator_replica_uid",
    "subnet_operator_replica_incentive",
    "subnet_operator_replica_emission_rao",
    "subnet_operator_replica_trust",
    "subnet_operator_replica_stake_rao",
    "subnet_operator_replica_validator_permit",
    "subnet_operator_replica_blocks_since_weights",
    "subnet_operator_replica_axon_drift",
    "subnet_operator_replica_prune_rank",
    "subnet_operator_replica_registrations_until_pruned",
    "subnet_operator_replica_diagnosis",
    "subnet_operator_registration_price_rao",
    "subnet_operator_spent_rao",
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
        let kube_requests = Family::<VerbLabels, Counter>::default();
        registry.register(
            "kube_requests",
            "Requests sent to the Kubernetes API, by verb",
            kube_requests.clone(),
        );
        let chain_calls = Family::<MethodLabels, Counter>::default();
        let chain_errors = Family::<MethodLabels, Counter>::default();
        let chain_latency = Family::<MethodLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 14))
        });
        let chain_open = Family::<ChainLabels, Gauge>::default();
        let chain_subnets = Family::<ChainLabels, Gauge>::default();
        let extrinsics = Family::<ExtrinsicLabels, Counter>::default();
        let stale_restarts = Family::<KindLabels, Counter>::default();
        registry.register(
            "stale_weight_restarts",
            "Pods restarted because their weights went stale",
            stale_restarts.clone(),
        );
        registry.register(
            "chain_calls",
            "Chain calls, by chain and method",
            chain_calls.clone(),
        );
        registry.register(
            "chain_errors",
            "Failed chain calls, by chain and method",
            chain_errors.clone(),
        );
        registry.register(
            "chain_call_duration_seconds",
            "How long chain calls take in seconds, by chain and method",
            chain_latency.clone(),
        );
        registry.register(
            "chain_open",
            "1 for each chain the operator has open (a Subnet uses it)",
            chain_open.clone(),
        );
        registry.register(
            "chain_subnets",
            "Subnets using each open chain",
            chain_subnets.clone(),
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
        let replica = ReplicaGauges::default();
        let r = &replica;
        registry.register(
            "replica_registered",
            "1 when the replica's hotkey is registered",
            r.registered.clone(),
        );
        registry.register(
            "replica_uid",
            "UID of the replica (-1 when not registered)",
            r.uid.clone(),
        );
        registry.register(
            "replica_incentive",
            "Incentive of the replica (0-1)",
            r.incentive.clone(),
        );
        registry.register(
            "replica_emission_rao",
            "Emission of the replica per epoch, in 1e-9 of the subnet token (alpha on dTAO runtimes)",
            r.emission.clone(),
        );
        registry.register(
            "replica_trust",
            "Trust of the replica (0-1)",
            r.trust.clone(),
        );
        registry.register(
            "replica_stake_rao",
            "Stake of the replica on the subnet, in 1e-9 of the subnet token (alpha on dTAO runtimes)",
            r.stake.clone(),
        );
        registry.register(
            "replica_validator_permit",
            "1 when the replica holds a validator permit",
            r.permit.clone(),
        );
        registry.register(
            "replica_blocks_since_weights",
            "Blocks since the replica last set weights",
            r.blocks_since_weights.clone(),
        );
        registry.register(
            "replica_axon_drift",
            "1 when the chain's axon differs from the exposed address",
            r.axon_drift.clone(),
        );
        registry.register(
            "replica_prune_rank",
            "Position of the replica in its subnet's prune order (0 = next out, -1 = not reached)",
            r.prune_rank.clone(),
        );
        registry.register(
            "replica_registrations_until_pruned",
            "Registrations on the subnet until the replica is pruned (-1 = not reached)",
            r.registrations_until_pruned.clone(),
        );
        registry.register(
            "replica_diagnosis",
            "1 for the replica's diagnosis reason (why it earns or does not)",
            r.diagnosis.clone(),
        );
        let registration_price = Family::<FleetLabels, Gauge>::default();
        let spent = Family::<FleetLabels, Gauge>::default();
        registry.register(
            "registration_price_rao",
            "Registration price of the fleet's subnet, in rao",
            registration_price.clone(),
        );
        registry.register(
            "spent_rao",
            "Burn spent by the fleet since it was created, in rao",
            spent.clone(),
        );
        Self {
            registry: Arc::new(registry),
            reconciles,
            reconcile_errors,
            reconcile_duration,
            kube_writes,
            leader,
            kube_requests,
            chain_calls,
            chain_errors,
            chain_latency,
            chain_open,
            chain_subnets,
            extrinsics,
            stale_restarts,
            replica,
            registration_price,
            spent,
            published: Default::default(),
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

    /// Counts a request to the Kubernetes API.
    pub fn kube_request(&self, verb: &str) {
        self.kube_requests
            .get_or_create(&VerbLabels {
                verb: verb.to_string(),
            })
            .inc();
    }

    /// Counts a call of `method` to `chain` that took `took`, and whether it failed.
    pub fn chain_call(&self, chain: &str, method: &str, took: Duration, failed: bool) {
        let labels = MethodLabels {
            chain: chain.to_string(),
            method: method.to_string(),
        };
        self.chain_calls.get_or_create(&labels).inc();
        self.chain_latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if failed {
            self.chain_errors.get_or_create(&labels).inc();
        }
    }

    /// Shows `chain` open, used by `subnets` Subnets.
    pub fn chain_opened(&self, chain: &str, subnets: usize) {
        let labels = ChainLabels {
            chain: chain.to_string(),
        };
        self.chain_open.get_or_create(&labels).set(1);
        self.chain_subnets
            .get_or_create(&labels)
            .set(i64::try_from(subnets).unwrap_or(i64::MAX));
    }

    /// Removes every series of a closed `chain`: the `chain` label has a value per open chain.
    pub fn chain_closed(&self, chain: &str) {
        let labels = ChainLabels {
            chain: chain.to_string(),
        };
        self.chain_open.remove(&labels);
        self.chain_subnets.remove(&labels);
        for method in CHAIN_METHODS {
            let labels = MethodLabels {
                chain: chain.to_string(),
                method: method.to_string(),
            };
            self.chain_calls.remove(&labels);
            self.chain_errors.remove(&labels);
            self.chain_latency.remove(&labels);
        }
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

    /// Publishes a fleet's per-replica gauges from its status, and removes those of replicas
    /// that are gone.
    pub fn publish_fleet(&self, fleet: &FleetLabels, status: &crate::crd::fleet::FleetStatus) {
        let g = &self.replica;
        let mut now = Published::default();
        for r in &status.replica_statuses {
            let l = ReplicaLabels {
                namespace: fleet.namespace.clone(),
                kind: fleet.kind.clone(),
                name: fleet.name.clone(),
                replica: r.index.to_string(),
            };
            let i = |v: Option<u64>| i64::try_from(v.unwrap_or(0)).unwrap_or(i64::MAX);
            g.registered.get_or_create(&l).set(i64::from(r.registered));
            g.uid.get_or_create(&l).set(r.uid.map_or(-1, i64::from));
            g.incentive
                .get_or_create(&l)
                .set(r.incentive.unwrap_or(0.0));
            g.emission.get_or_create(&l).set(i(r.emission_rao));
            g.trust.get_or_create(&l).set(r.trust.unwrap_or(0.0));
            g.stake.get_or_create(&l).set(i(r.stake_rao));
            g.permit
                .get_or_create(&l)
                .set(i64::from(r.validator_permit.unwrap_or(false)));
            g.blocks_since_weights
                .get_or_create(&l)
                .set(i(r.blocks_since_weights));
            g.axon_drift
                .get_or_create(&l)
                .set(i64::from(r.axon_drift.unwrap_or(false)));
            let rank = |v: Option<u32>| v.map_or(-1, i64::from);
            g.prune_rank.get_or_create(&l).set(rank(r.prune_rank));
            g.registrations_until_pruned
                .get_or_create(&l)
                .set(rank(r.registrations_until_pruned));
            if let Some(d) = &r.diagnosis {
                let dl = DiagnosisLabels {
                    namespace: l.namespace.clone(),
                    kind: l.kind.clone(),
                    name: l.name.clone(),
                    replica: l.replica.clone(),
                    reason: d.reason.as_str().to_string(),
                };
                g.diagnosis.get_or_create(&dl).set(1);
                now.diagnoses.push(dl);
            }
            now.replicas.push(l);
        }
        if let Some(p) = status
            .registration_price_tao
            .as_deref()
            .and_then(crate::crd::common::tao_to_rao)
        {
            self.registration_price
                .get_or_create(fleet)
                .set(i64::try_from(p).unwrap_or(i64::MAX));
        }
        let spent = status
            .spend
            .as_ref()
            .map(|s| s.total_spent_rao)
            .unwrap_or(0);
        self.spent
            .get_or_create(fleet)
            .set(i64::try_from(spent).unwrap_or(i64::MAX));
        let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
        let before = published
            .insert(fleet.clone(), now.clone())
            .unwrap_or_default();
        for gone in before
            .diagnoses
            .iter()
            .filter(|l| !now.diagnoses.contains(l))
        {
            g.diagnosis.remove(gone);
        }
        for gone in before.replicas.iter().filter(|l| !now.replicas.contains(l)) {
            g.registered.remove(gone);
            g.uid.remove(gone);
            g.incentive.remove(gone);
            g.emission.remove(gone);
            g.trust.remove(gone);
            g.stake.remove(gone);
            g.permit.remove(gone);
            g.blocks_since_weights.remove(gone);
            g.axon_drift.remove(gone);
            g.prune_rank.remove(gone);
            g.registrations_until_pruned.remove(gone);
        }
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
        m.kube_request("list");
        m.chain_call("finney", "head", Duration::from_millis(2), true);
        m.chain_opened("finney", 1);
        m.extrinsic("register_limit", "ok");
        m.stale_restart("Validator");
        let fleet = FleetLabels {
            namespace: "ns".into(),
            kind: "Miner".into(),
            name: "m".into(),
        };
        let status = crate::crd::fleet::FleetStatus {
            registration_price_tao: Some("0.5".into()),
            replica_statuses: vec![crate::crd::fleet::ReplicaStatus {
                index: 0,
                registered: true,
                uid: Some(7),
                incentive: Some(0.25),
                diagnosis: Some(crate::crd::fleet::Diagnosis {
                    reason: crate::crd::fleet::DiagnosisReason::Earning,
                    message: "uid 7 earns".into(),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        m.publish_fleet(&fleet, &status);
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
        assert!(
            text.contains(
                r#"subnet_operator_replica_uid{namespace="ns",kind="Miner",name="m",replica="0"} 7"#
            ),
            "{text}"
        );
        assert!(text.contains(
            r#"subnet_operator_registration_price_rao{namespace="ns",kind="Miner",name="m"} 500000000"#
        ));
    }

    #[test]
    fn a_closed_chain_loses_its_series() {
        let m = Metrics::new();
        m.chain_opened("a", 2);
        m.chain_opened("b", 1);
        m.chain_call("a", "subnet", Duration::from_millis(1), false);
        m.chain_call("b", "subnet", Duration::from_millis(1), false);
        m.chain_closed("a");
        let text = m.encode().unwrap_or_default();
        assert!(!text.contains(r#"chain="a""#), "{text}");
        assert!(
            text.contains(r#"subnet_operator_chain_open{chain="b"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"subnet_operator_chain_calls_total{chain="b",method="subnet"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn replicas_that_went_away_lose_their_series() {
        let m = Metrics::new();
        let fleet = FleetLabels {
            namespace: "ns".into(),
            kind: "Miner".into(),
            name: "m".into(),
        };
        let replica = |index| crate::crd::fleet::ReplicaStatus {
            index,
            ..Default::default()
        };
        let mut status = crate::crd::fleet::FleetStatus {
            replica_statuses: vec![replica(0), replica(1)],
            ..Default::default()
        };
        m.publish_fleet(&fleet, &status);
        assert!(m.encode().unwrap_or_default().contains(r#"replica="1""#));
        status.replica_statuses.pop();
        m.publish_fleet(&fleet, &status);
        let text = m.encode().unwrap_or_default();
        assert!(text.contains(r#"replica="0""#));
        assert!(!text.contains(r#"replica="1""#), "{text}");
    }

    #[test]
    fn a_replica_has_one_diagnosis_series_and_its_prune_rank() {
        use crate::crd::fleet::{Diagnosis, DiagnosisReason, ReplicaStatus};
        let m = Metrics::new();
        let fleet = FleetLabels {
            namespace: "ns".into(),
            kind: "Miner".into(),
            name: "m".into(),
        };
        let replica = |reason, rank: Option<u32>| ReplicaStatus {
            index: 0,
            registered: rank.is_some(),
            prune_rank: rank,
            registrations_until_pruned: rank.map(|r| r + 1),
            diagnosis: Some(Diagnosis {
                reason,
                message: String::new(),
            }),
            ..Default::default()
        };
        let mut status = crate::crd::fleet::FleetStatus {
            replica_statuses: vec![replica(DiagnosisReason::NextToBePruned, Some(0))],
            ..Default::default()
        };
        m.publish_fleet(&fleet, &status);
        let text = m.encode().unwrap_or_default();
        let l = r#"{namespace="ns",kind="Miner",name="m",replica="0""#;
        assert!(
            text.contains(&format!("subnet_operator_replica_prune_rank{l}}} 0")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "subnet_operator_replica_registrations_until_pruned{l}}} 1"
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "subnet_operator_replica_diagnosis{l},reason=\"NextToBePruned\"}} 1"
        )));
        status.replica_statuses = vec![replica(DiagnosisReason::NotRegistered, None)];
        m.publish_fleet(&fleet, &status);
        let text = m.encode().unwrap_or_default();
        assert!(!text.contains("NextToBePruned"), "{text}");
        assert!(text.contains(&format!(
            "subnet_operator_replica_diagnosis{l},reason=\"NotRegistered\"}} 1"
        )));
        assert!(text.contains(&format!("subnet_operator_replica_prune_rank{l}}} -1")));
        status.replica_statuses.clear();
        m.publish_fleet(&fleet, &status);
        let text = m.encode().unwrap_or_default();
        assert!(!text.contains("replica_diagnosis{"), "{text}");
        assert!(!text.contains("replica_prune_rank{"), "{text}");
    }
}
