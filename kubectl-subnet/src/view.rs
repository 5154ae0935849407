//! The machine output of each command (`-o json|yaml`): structs of this plugin, with stable
//! camelCase field names, built from the fetched objects without I/O. Unknown values are
//! `null`, never left out, so every field is always there.
//!
//! Units: amounts are in rao (10⁻⁹ of a token) as integers, or as decimal strings in whole
//! tokens where the name ends in `Tao`. Stake and emission of a replica are what the chain
//! reports for the neuron: TAO on runtimes before dynamic TAO, the subnet's alpha since; the
//! status does not say which.

use serde::Serialize;
use subnet_operator::crd::Subnet;
use subnet_operator::crd::common::{rao_to_tao, tao_to_rao};
use subnet_operator::crd::fleet::{
    DiagnosisReason, FleetStatus, ReRegister, RegistrationMode, ReplicaPhase, ReplicaStatus,
    SpendStatus,
};

use crate::cli::BlockTime;
use crate::fleet::Fleet;

/// Condition types the views single out.
const AT_RISK: &str = subnet_operator::crd::conditions::types::AT_RISK;
const EARNING: &str = subnet_operator::crd::conditions::types::EARNING;

/// What was found of a fleet's Subnet. Reading it is optional: without it, the tempo (and so
/// emission per day) is unknown.
#[derive(Clone, Debug)]
pub enum SubnetLookup {
    /// The Subnet.
    Found(Box<Subnet>),
    /// It could not be read, and why (no access, not found).
    Unreadable {
        /// Why, for people.
        reason: String,
    },
}

/// An object a list returned that does not read as this version of the API.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Unreadable {
    /// `Miner` or `Validator`.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Why it cannot be read.
    pub error: String,
}

/// Options of `status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusOptions {
    /// `--block-time`: overrides the block time the Subnet implies.
    pub block_time: Option<BlockTime>,
}

/// `kubectl subnet status KIND/NAME -o json`.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    /// `Miner` or `Validator`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The generation the status describes (behind `generation` while the operator catches
    /// up; `null` before its first status).
    pub observed_generation: Option<i64>,
    /// Whether the operator has written a status at all.
    pub has_status: bool,
    /// The Subnet the fleet runs on.
    pub subnet: SubnetView,
    /// `spec.replicas`.
    pub desired_replicas: i32,
    /// Replicas that exist (`status.replicas`).
    pub existing_replicas: i32,
    /// Replicas whose pod is ready.
    pub ready_replicas: i32,
    /// Replicas registered on the subnet.
    pub registered_replicas: i32,
    /// Registration policy and price.
    pub registration: RegistrationView,
    /// Spend in the current budget window (`status.spend`).
    pub spend: Option<SpendView>,
    /// The budget and what is left of it in the window.
    pub budget: Option<BudgetView>,
    /// What emission per day is computed from, when it can be.
    pub emission: EmissionBasis,
    /// Every condition of the status.
    pub conditions: Vec<ConditionView>,
    /// One entry per replica, by index.
    pub replicas: Vec<ReplicaView>,
}

/// The fleet's Subnet, as far as it could be read.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SubnetView {
    /// The Subnet's name (`spec.subnetRef.name`).
    pub name: String,
    /// Whether it could be read.
    pub readable: bool,
    /// Why not, when it could not.
    pub unreadable_reason: Option<String>,
    /// `spec.network`.
    pub network: Option<String>,
    /// The netuid in use.
    pub netuid: Option<u16>,
    /// Blocks per epoch, as the operator last read it.
    pub tempo: Option<u16>,
    /// Blocks a new registration is immune to pruning.
    pub immunity_period: Option<u16>,
    /// The last finalized block the operator saw.
    pub finalized_block: Option<u64>,
    /// The chain's runtime spec version.
    pub runtime_spec_version: Option<u32>,
}

/// Registration policy and price.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationView {
    /// `Burn` or `Manual`.
    pub mode: RegistrationMode,
    /// Plan only (`spec.registration.dryRun`).
    pub dry_run: bool,
    /// `spec.registration.maxPriceTao`.
    pub max_price_tao: Option<String>,
    /// The subnet's registration price now, in TAO: the Subnet's `status.registrationPriceTao`
    /// when the Subnet can be read, else the fleet's.
    pub price_now_tao: Option<String>,
    /// Who keeps registrations under the limit: `Chain` or `Client`.
    pub price_guard: Option<String>,
    /// `Never` or `Always`.
    pub re_register: ReRegister,
    /// `Proxy` or `Coldkey`, when the signer is loaded.
    pub signer_kind: Option<String>,
    /// The signer's SS58 address (public).
    pub signer: Option<String>,
}

/// Spend in the current budget window.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SpendView {
    /// Start of the window (RFC 3339).
    pub window_start: Option<String>,
    /// Spent in the window, in TAO.
    pub spent_tao: String,
    /// Spent in the window, in rao.
    pub spent_rao: u64,
    /// Spent since the resource was created, in rao.
    pub total_spent_rao: u64,
}

/// The registration budget.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BudgetView {
    /// TAO per window (`spec.registration.budget.tao`).
    pub tao: String,
    /// The window, e.g. `24h`.
    pub window: String,
    /// Left in the current window, in TAO.
    pub left_tao: Option<String>,
    /// Left in the current window, in rao.
    pub left_rao: Option<u64>,
}

/// What emission per day is computed from: `emissionRaoPerEpoch × blocksPerDay ÷
/// blocksPerEpoch`, where an epoch runs every `tempo + 1` blocks.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EmissionBasis {
    /// Blocks from one epoch to the next (tempo + 1), when the tempo is known.
    pub blocks_per_epoch: Option<u64>,
    /// Milliseconds per block, when known.
    pub block_millis: Option<u64>,
    /// Where the block time comes from: `--block-time`, `network finney`, `network test`,
    /// `localnet` or `localnet fastBlocks`.
    pub block_time_source: Option<String>,
    /// Blocks in a day.
    pub blocks_per_day: Option<u64>,
}

impl EmissionBasis {
    /// Whether per-day figures can be given.
    pub fn per_day_known(&self) -> bool {
        self.blocks_per_epoch.is_some() && self.blocks_per_day.is_some()
    }

    /// `per_epoch` rao as rao per day, when the basis is known.
    pub fn per_day(&self, per_epoch: u64) -> Option<u64> {
        let epoch = self.blocks_per_epoch?;
        let day = self.blocks_per_day?;
        let v = u128::from(per_epoch) * u128::from(day) / u128::from(epoch.max(1));
        Some(u64::try_from(v).unwrap_or(u64::MAX))
    }
}

/// A condition of the status.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConditionView {
    /// `Ready`, `AtRisk`, `Earning`, …
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    pub reason: String,
    /// For people.
    pub message: String,
}

/// One replica.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaView {
    /// Replica index.
    pub index: u32,
    /// The hotkey's full SS58 address.
    pub hotkey: Option<String>,
    /// The pod's name.
    pub pod: Option<String>,
    /// Where the workload stands (`Ready`, `Pending`, …).
    pub phase: Option<ReplicaPhase>,
    /// Whether the hotkey holds a UID.
    pub registered: bool,
    /// UID on the subnet.
    pub uid: Option<u16>,
    /// Block at which the UID was registered: `immuneUntilBlock − immunityPeriod` when the
    /// Subnet is readable, else the operator's last registration's block.
    pub registered_at_block: Option<u64>,
    /// Block until which the UID is immune to pruning.
    pub immune_until_block: Option<u64>,
    /// Blocks of immunity left when the operator last wrote the status.
    pub immune_blocks_left: Option<u64>,
    /// Incentive (0–1).
    pub incentive: Option<f64>,
    /// Trust (0–1).
    pub trust: Option<f64>,
    /// Emission of the last epoch, in rao (see the module docs for the unit).
    pub emission_rao_per_epoch: Option<u64>,
    /// The same per day, when the tempo and block time are known ([`EmissionBasis`]).
    pub emission_rao_per_day: Option<u64>,
    /// Stake on the subnet, in rao (see the module docs for the unit).
    pub stake_rao: Option<u64>,
    /// The axon the chain has, `ip:port`.
    pub axon_on_chain: Option<String>,
    /// The address the replica is exposed at, `ip:port`.
    pub axon_exposed: Option<String>,
    /// True when the two differ.
    pub axon_drift: Option<bool>,
    /// Why it earns, or why not.
    pub diagnosis: Option<DiagnosisView>,
    /// Position in the prune order (0 goes first once the subnet is full).
    pub prune_rank: Option<u32>,
    /// Registrations on the subnet until this UID is pruned (1: the next one).
    pub registrations_until_pruned: Option<u32>,
    /// The operator's last registration of this hotkey.
    pub last_registration: Option<LastRegistrationView>,
    /// Validators: whether the hotkey holds a validator permit.
    pub validator_permit: Option<bool>,
    /// Validators: validator trust (0–1).
    pub validator_trust: Option<f64>,
    /// Validators: dividends (0–1).
    pub dividends: Option<f64>,
    /// Validators: block of the last weights.
    pub last_weights_block: Option<u64>,
}

/// A replica's diagnosis.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosisView {
    /// One of the operator's reasons, e.g. `AxonNotServed`.
    pub reason: DiagnosisReason,
    /// What it means and what to do.
    pub message: String,
}

/// A completed registration.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LastRegistrationView {
    /// Block it was included in.
    pub block: u64,
    /// Burn paid, in TAO.
    pub price_tao: String,
    /// Extrinsic hash.
    pub tx_hash: Option<String>,
}

/// The status view of `fleet` on `subnet` (pure).
pub fn status_view(fleet: &Fleet, subnet: &SubnetLookup, opts: &StatusOptions) -> StatusView {
    let status = fleet.status_or_default();
    let subnet_view = subnet_view(&fleet.spec.subnet_ref.name, subnet);
    let emission = emission_basis(subnet, opts);
    let mut replicas: Vec<ReplicaView> = status
        .replica_statuses
        .iter()
        .map(|r| replica_view(r, subnet_view.immunity_period, &emission))
        .collect();
    replicas.sort_by_key(|r| r.index);
    StatusView {
        kind: fleet.kind.as_str().to_string(),
        namespace: fleet.namespace.clone(),
        name: fleet.name.clone(),
        generation: fleet.generation,
        observed_generation: status.observed_generation,
        has_status: fleet.status.is_some(),
        subnet: subnet_view,
        desired_replicas: fleet.spec.replicas,
        existing_replicas: status.replicas,
        ready_replicas: status.ready_replicas,
        registered_replicas: status.registered_replicas,
        registration: registration_view(fleet, &status, subnet),
        spend: status.spend.as_ref().map(spend_view),
        budget: budget_view(fleet, status.spend.as_ref()),
        emission,
        conditions: status.conditions.iter().map(condition_view).collect(),
        replicas,
    }
}

fn subnet_view(name: &str, subnet: &SubnetLookup) -> SubnetView {
    match subnet {
        SubnetLookup::Found(s) => {
            let st = s.status.clone().unwrap_or_default();
            SubnetView {
                name: name.to_string(),
                readable: true,
                unreadable_reason: None,
                network: Some(s.spec.network.clone()),
                netuid: st.netuid.or(s.spec.netuid),
                tempo: st.tempo,
                immunity_period: st.immunity_period,
                finalized_block: st.finalized_block,
                runtime_spec_version: st.runtime_spec_version,
            }
        }
        SubnetLookup::Unreadable { reason } => SubnetView {
            name: name.to_string(),
            readable: false,
            unreadable_reason: Some(reason.clone()),
            network: None,
            netuid: None,
            tempo: None,
            immunity_period: None,
            finalized_block: None,
            runtime_spec_version: None,
        },
    }
}

/// The block time: `--block-time`, else what the Subnet's spec implies (finney and test run
/// 12 s blocks; a localnet 250 ms with `fastBlocks`, else 12 s); unknown for other endpoints.
fn emission_basis(subnet: &SubnetLookup, opts: &StatusOptions) -> EmissionBasis {
    let found = match subnet {
        SubnetLookup::Found(s) => Some(s),
        SubnetLookup::Unreadable { .. } => None,
    };
    let implied = found.and_then(|s| match (&s.spec.localnet, s.spec.network.as_str()) {
        (Some(l), _) if l.fast_blocks => Some((BlockTime::FAST, "localnet fastBlocks")),
        (Some(_), _) => Some((BlockTime::NORMAL, "localnet")),
        (None, "finney") => Some((BlockTime::NORMAL, "network finney")),
        (None, "test") => Some((BlockTime::NORMAL, "network test")),
        _ => None,
    });
    let block = match opts.block_time {
        Some(b) => Some((b, "--block-time")),
        None => implied,
    };
    let tempo = found.and_then(|s| s.status.as_ref()?.tempo);
    EmissionBasis {
        blocks_per_epoch: tempo.map(|t| u64::from(t) + 1),
        block_millis: block.map(|(b, _)| b.millis),
        block_time_source: block.map(|(_, s)| s.to_string()),
        blocks_per_day: block.map(|(b, _)| b.blocks_per_day()),
    }
}

fn replica_view(
    r: &ReplicaStatus,
    immunity_period: Option<u16>,
    emission: &EmissionBasis,
) -> ReplicaView {
    // Older operators did not record the block: derive it from the immunity's end.
    let registered_at_block = r.registered_at_block.or_else(|| {
        if !r.registered {
            return None;
        }
        match (r.immune_until_block, immunity_period) {
            (Some(until), Some(period)) => until.checked_sub(u64::from(period)),
            _ => r.last_registration.as_ref().map(|l| l.block),
        }
    });
    let addr = |a: &subnet_operator::crd::fleet::AxonAddress| format!("{}:{}", a.ip, a.port);
    ReplicaView {
        index: r.index,
        hotkey: r.hotkey.clone(),
        pod: r.pod.clone(),
        phase: r.phase,
        registered: r.registered,
        uid: r.uid,
        registered_at_block,
        immune_until_block: r.immune_until_block,
        immune_blocks_left: r.immune_blocks_left,
        incentive: r.incentive,
        trust: r.trust,
        emission_rao_per_epoch: r.emission_rao,
        emission_rao_per_day: r.emission_rao.and_then(|e| emission.per_day(e)),
        stake_rao: r.stake_rao,
        axon_on_chain: r.axon_on_chain.as_ref().map(addr),
        axon_exposed: r.axon_exposed.as_ref().map(addr),
        axon_drift: r.axon_drift,
        diagnosis: r.diagnosis.as_ref().map(|d| DiagnosisView {
            reason: d.reason,
            message: d.message.clone(),
        }),
        prune_rank: r.prune_rank,
        registrations_until_pruned: r.registrations_until_pruned,
        last_registration: r.last_registration.as_ref().map(|l| LastRegistrationView {
            block: l.block,
            price_tao: l.price_tao.clone(),
            tx_hash: l.tx_hash.clone(),
        }),
        validator_permit: r.validator_permit,
        validator_trust: r.validator_trust,
        dividends: r.dividends,
        last_weights_block: r.last_weights_block,
    }
}

/// The registration price now: the Subnet's (it follows every block the operator reads) when
/// it can be read, else the one in the fleet's status (written with the fleet's own status, so
/// it can trail).
fn price_now(status: &FleetStatus, subnet: &SubnetLookup) -> Option<String> {
    let from_subnet = match subnet {
        SubnetLookup::Found(s) => s
            .status
            .as_ref()
            .and_then(|st| st.registration_price_tao.clone()),
        SubnetLookup::Unreadable { .. } => None,
    };
    from_subnet.or_else(|| status.registration_price_tao.clone())
}

fn registration_view(
    fleet: &Fleet,
    status: &FleetStatus,
    subnet: &SubnetLookup,
) -> RegistrationView {
    let reg = &fleet.spec.registration;
    RegistrationView {
        mode: reg.mode,
        dry_run: reg.dry_run,
        max_price_tao: reg.max_price_tao.clone(),
        price_now_tao: price_now(status, subnet),
        price_guard: status.price_guard.clone(),
        re_register: reg.re_register,
        signer_kind: status.registration_signer.as_ref().map(|s| s.kind.clone()),
        signer: status.registration_signer.as_ref().map(|s| s.ss58.clone()),
    }
}

fn spend_view(s: &SpendStatus) -> SpendView {
    SpendView {
        window_start: s.window_start.clone(),
        spent_tao: s.spent_tao.clone(),
        spent_rao: s.spent_rao,
        total_spent_rao: s.total_spent_rao,
    }
}

fn budget_view(fleet: &Fleet, spend: Option<&SpendStatus>) -> Option<BudgetView> {
    let b = fleet.spec.registration.budget.as_ref()?;
    let left_rao = tao_to_rao(&b.tao).map(|t| t.saturating_sub(spend.map_or(0, |s| s.spent_rao)));
    Some(BudgetView {
        tao: b.tao.clone(),
        window: b.window.clone(),
        left_tao: left_rao.map(rao_to_tao),
        left_rao,
    })
}

fn condition_view(c: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition) -> ConditionView {
    ConditionView {
        type_: c.type_.clone(),
        status: c.status.clone(),
        reason: c.reason.clone(),
        message: c.message.clone(),
    }
}

/// `kubectl subnet diagnose -o json`.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DiagnoseView {
    /// The namespace listed; `null` with `--all-namespaces`.
    pub namespace: Option<String>,
    /// Fleets, worst first.
    pub fleets: Vec<FleetDiagnosis>,
    /// Objects that could not be read as this version of the API.
    pub unreadable: Vec<Unreadable>,
}

/// One fleet in `diagnose`.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FleetDiagnosis {
    /// `Miner` or `Validator`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.replicas`.
    pub desired_replicas: i32,
    /// The worst reason among the replicas (the operator's order: `NotRegistered` first,
    /// `Earning` last); `null` when no replica has a diagnosis.
    pub worst: Option<DiagnosisReason>,
    /// Replicas per reason, worst first (reasons no replica has are left out).
    pub reasons: Vec<ReasonCount>,
    /// Replicas in the status without a diagnosis yet.
    pub undiagnosed: usize,
    /// The `AtRisk` condition.
    pub at_risk: Option<ConditionView>,
    /// The `Earning` condition.
    pub earning: Option<ConditionView>,
}

/// How many replicas have one reason.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReasonCount {
    /// The reason.
    pub reason: DiagnosisReason,
    /// Replicas with it.
    pub count: usize,
}

/// The diagnose view of `fleets` (pure): worst first (by the worst replica reason; fleets
/// without any diagnosis last), then by name, namespace and kind.
pub fn diagnose_view(
    fleets: &[Fleet],
    unreadable: &[Unreadable],
    namespace: Option<&str>,
) -> DiagnoseView {
    let mut out: Vec<FleetDiagnosis> = fleets.iter().map(fleet_diagnosis).collect();
    out.sort_by(|a, b| {
        let key = |d: &FleetDiagnosis| (d.worst.is_none(), d.worst);
        key(a)
            .cmp(&key(b))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.namespace.cmp(&b.namespace))
            .then_with(|| a.kind.cmp(&b.kind))
    });
    DiagnoseView {
        namespace: namespace.map(str::to_string),
        fleets: out,
        unreadable: unreadable.to_vec(),
    }
}

fn fleet_diagnosis(f: &Fleet) -> FleetDiagnosis {
    let status = f.status_or_default();
    let reasons: Vec<DiagnosisReason> = status
        .replica_statuses
        .iter()
        .filter_map(|r| r.diagnosis.as_ref().map(|d| d.reason))
        .collect();
    let worst = reasons.iter().min().copied();
    let condition = |t: &str| {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == t)
            .map(condition_view)
    };
    FleetDiagnosis {
        kind: f.kind.as_str().to_string(),
        namespace: f.namespace.clone(),
        name: f.name.clone(),
        desired_replicas: f.spec.replicas,
        worst,
        reasons: DiagnosisReason::ALL
            .iter()
            .filter_map(|k| {
                let count = reasons.iter().filter(|r| *r == k).count();
                (count > 0).then_some(ReasonCount { reason: *k, count })
            })
            .collect(),
        undiagnosed: status.replica_statuses.len() - reasons.len(),
        at_risk: condition(AT_RISK),
        earning: condition(EARNING),
    }
}

/// `kubectl subnet plan KIND/NAME -o json`.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlanView {
    /// `Miner` or `Validator`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `Burn` or `Manual`.
    pub mode: RegistrationMode,
    /// `spec.registration.dryRun`.
    pub dry_run: bool,
    /// The operator's plan (`status.plan`), written only in dry-run mode.
    pub plan: Option<PlanDetail>,
    /// Why there is no plan, when there is none.
    pub no_plan_reason: Option<String>,
    /// Replica indices not registered now.
    pub unregistered: Vec<u32>,
    /// The subnet's registration price now, in TAO (the Subnet's when it can be read, else the
    /// fleet's).
    pub price_now_tao: Option<String>,
    /// `spec.registration.maxPriceTao`.
    pub max_price_tao: Option<String>,
    /// Whether the price now is at or under the limit (`null` when either is unknown).
    pub price_within_limit: Option<bool>,
    /// Who keeps registrations under the limit: `Chain` or `Client`.
    pub price_guard: Option<String>,
    /// Spent in the current budget window, in TAO.
    pub spent_tao: Option<String>,
    /// The budget and what is left of it.
    pub budget: Option<BudgetView>,
    /// Whether the plan's cost fits in the budget left (`null` without a plan or a budget).
    pub within_budget: Option<bool>,
}

/// What registering now would do.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlanDetail {
    /// Replica indices that would be registered.
    pub would_register: Vec<u32>,
    /// What they would cost at today's price, each registration raising it, in TAO.
    pub estimated_cost_tao: String,
    /// The same in rao.
    pub estimated_cost_rao: Option<u64>,
}

/// The plan view of `fleet` on `subnet` (pure; the Subnet only gives the price now).
pub fn plan_view(fleet: &Fleet, subnet: &SubnetLookup) -> PlanView {
    let status = fleet.status_or_default();
    let reg = &fleet.spec.registration;
    let plan = status.plan.as_ref().map(|p| PlanDetail {
        would_register: p.would_register.clone(),
        estimated_cost_tao: p.estimated_cost_tao.clone(),
        estimated_cost_rao: tao_to_rao(&p.estimated_cost_tao),
    });
    let no_plan_reason = match (&plan, reg.mode, reg.dry_run) {
        (Some(_), _, _) => None,
        (None, RegistrationMode::Manual, _) => Some(
            "registration.mode is Manual: the operator registers nothing, so it plans nothing \
             (register the hotkeys yourself)"
                .to_string(),
        ),
        (None, RegistrationMode::Burn, false) => Some(
            "registration.dryRun is false: the operator registers instead of planning (see \
             `kubectl subnet status`); set registration.dryRun: true to see what it would \
             spend first"
                .to_string(),
        ),
        (None, RegistrationMode::Burn, true) => Some(
            "the operator has not written a plan yet: it needs the subnet's price from the \
             chain (is the Subnet Ready and the operator running?)"
                .to_string(),
        ),
    };
    let budget = budget_view(fleet, status.spend.as_ref());
    let price_now_tao = price_now(&status, subnet);
    let price_within_limit = match (
        price_now_tao.as_deref().and_then(tao_to_rao),
        reg.max_price_tao.as_deref().and_then(tao_to_rao),
    ) {
        (Some(now), Some(max)) => Some(now <= max),
        _ => None,
    };
    let within_budget = match (
        plan.as_ref().and_then(|p| p.estimated_cost_rao),
        budget.as_ref().and_then(|b| b.left_rao),
    ) {
        (Some(cost), Some(left)) => Some(cost <= left),
        _ => None,
    };
    let mut unregistered: Vec<u32> = status
        .replica_statuses
        .iter()
        .filter(|r| !r.registered)
        .map(|r| r.index)
        .collect();
    unregistered.sort_unstable();
    PlanView {
        kind: fleet.kind.as_str().to_string(),
        namespace: fleet.namespace.clone(),
        name: fleet.name.clone(),
        mode: reg.mode,
        dry_run: reg.dry_run,
        plan,
        no_plan_reason,
        unregistered,
        price_now_tao,
        max_price_tao: reg.max_price_tao.clone(),
        price_within_limit,
        price_guard: status.price_guard.clone(),
        spent_tao: status.spend.as_ref().map(|s| s.spent_tao.clone()),
        budget,
        within_budget,
    }
}
