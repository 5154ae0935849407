//! The tables people read, and the JSON and YAML scripts read: pure functions of the fetched
//! objects (or of their [`crate::view`]s).

use serde::Serialize;
use subnet_operator::crd::fleet::RegistrationMode;

use crate::Error;
use crate::cli::Output;
use crate::fleet::Fleet;
use crate::table::{Table, fields};
use crate::view::{
    BudgetView, ConditionView, DiagnoseView, PlanView, StatusOptions, StatusView, SubnetLookup,
    Unreadable, diagnose_view, plan_view, status_view,
};

/// `kubectl subnet status`, as a table.
pub fn render_status(fleet: &Fleet, subnet: &SubnetLookup, opts: &StatusOptions) -> String {
    status_table(&status_view(fleet, subnet, opts))
}

/// `kubectl subnet diagnose`, as a table (`namespace` is `None` for all namespaces).
pub fn render_diagnose(
    fleets: &[Fleet],
    unreadable: &[Unreadable],
    namespace: Option<&str>,
) -> String {
    diagnose_table(&diagnose_view(fleets, unreadable, namespace))
}

/// `kubectl subnet plan`, as a table.
pub fn render_plan(fleet: &Fleet, subnet: &SubnetLookup) -> String {
    plan_table(&plan_view(fleet, subnet))
}

/// A view as JSON (pretty, with a final newline) or YAML; `None` for [`Output::Table`].
pub fn encode<T: Serialize>(view: &T, output: Output) -> Result<Option<String>, Error> {
    match output {
        Output::Table => Ok(None),
        Output::Json => serde_json::to_string_pretty(view)
            .map(|s| Some(s + "\n"))
            .map_err(|e| Error::Encode {
                format: "json",
                detail: e.to_string(),
            }),
        Output::Yaml => serde_yaml::to_string(view)
            .map(Some)
            .map_err(|e| Error::Encode {
                format: "yaml",
                detail: e.to_string(),
            }),
    }
}

/// The status table of a [`StatusView`].
pub fn status_table(v: &StatusView) -> String {
    let mut head: Vec<(&str, String)> =
        vec![(v.kind.as_str(), format!("{}/{}", v.namespace, v.name))];
    head.push(("Subnet", subnet_line(v)));
    head.push((
        "Replicas",
        format!(
            "{} desired, {} existing, {} ready, {} registered",
            v.desired_replicas, v.existing_replicas, v.ready_replicas, v.registered_replicas
        ),
    ));
    let r = &v.registration;
    let mode = match (r.mode, r.dry_run) {
        (RegistrationMode::Burn, true) => {
            "Burn, dry run (plans only: see `kubectl subnet plan`)".to_string()
        }
        (RegistrationMode::Burn, false) => "Burn".to_string(),
        (RegistrationMode::Manual, _) => "Manual (the operator registers nothing)".to_string(),
    };
    let limit = match &r.max_price_tao {
        Some(max) => format!(", at most {max} TAO each"),
        None => String::new(),
    };
    let guard = match &r.price_guard {
        Some(g) => format!(", price guard {g}"),
        None => String::new(),
    };
    head.push(("Registration", format!("{mode}{limit}{guard}")));
    head.push(("Price now", tao(r.price_now_tao.as_deref())));
    head.push(("Spend", spend_line(v)));
    head.push(("Budget", budget_line(v.budget.as_ref())));
    for (label, t) in [("At risk", "AtRisk"), ("Earning", "Earning")] {
        head.push((label, condition_line(find(&v.conditions, t))));
    }
    let others: Vec<String> = v
        .conditions
        .iter()
        .filter(|c| c.type_ != "AtRisk" && c.type_ != "Earning")
        .map(|c| format!("{}={} ({})", c.type_, c.status, c.reason))
        .collect();
    head.push((
        "Conditions",
        if others.is_empty() {
            "-".to_string()
        } else {
            others.join(", ")
        },
    ));
    head.push(("Emission", emission_line(v)));
    let mut out = fields(&head);
    if !v.has_status {
        out.push_str("\nNo status yet: is the operator running and watching this namespace?\n");
    } else if let (Some(g), Some(o)) = (v.generation, v.observed_generation)
        && o < g
    {
        out.push_str(&format!(
            "\nThe status describes generation {o}; the spec is at generation {g} (the operator has not caught up yet).\n"
        ));
    }
    if v.replicas.is_empty() {
        out.push_str("\nNo replicas in the status.\n");
        return out;
    }
    let per_day = v.emission.per_day_known();
    let mut t = Table::new([
        "INDEX",
        "HOTKEY",
        "UID",
        "REGISTERED AT",
        "IMMUNE LEFT",
        "INCENTIVE",
        if per_day {
            "EMISSION/DAY"
        } else {
            "EMISSION (RAO/EPOCH)"
        },
        "STAKE",
        "AXON",
        "DIAGNOSIS",
        "PRUNE RANK",
    ]);
    for r in &v.replicas {
        let emission = if per_day {
            r.emission_rao_per_day.map(units).unwrap_or_default()
        } else {
            opt(r.emission_rao_per_epoch)
        };
        t.row(vec![
            r.index.to_string(),
            r.hotkey.as_deref().map(short_hotkey).unwrap_or_default(),
            opt(r.uid),
            opt(r.registered_at_block),
            opt(r.immune_blocks_left),
            r.incentive.map(fraction).unwrap_or_default(),
            emission,
            r.stake_rao.map(units).unwrap_or_default(),
            r.axon_on_chain.clone().unwrap_or_default(),
            r.diagnosis
                .as_ref()
                .map(|d| d.reason.as_str().to_string())
                .unwrap_or_default(),
            opt(r.prune_rank),
        ]);
    }
    out.push('\n');
    out.push_str(&t.render());
    out.push_str(
        "\nStake and emission are in the subnet's token as the chain reports them (alpha on dynamic-TAO runtimes, TAO before).\n",
    );
    out
}

fn subnet_line(v: &StatusView) -> String {
    let s = &v.subnet;
    if !s.readable {
        return format!(
            "{} ({})",
            s.name,
            s.unreadable_reason.as_deref().unwrap_or("not readable")
        );
    }
    let mut parts = vec![];
    if let Some(n) = s.netuid {
        parts.push(format!("netuid {n}"));
    }
    if let Some(t) = s.tempo {
        parts.push(format!("tempo {t}"));
    }
    if let Some(n) = &s.network {
        parts.push(format!("network {n}"));
    }
    if let Some(b) = s.finalized_block {
        parts.push(format!("finalized block {b}"));
    }
    if parts.is_empty() {
        s.name.clone()
    } else {
        format!("{} ({})", s.name, parts.join(", "))
    }
}

fn spend_line(v: &StatusView) -> String {
    match &v.spend {
        None => "nothing spent".to_string(),
        Some(s) => {
            let since = match &s.window_start {
                Some(w) => format!(" in the window since {w}"),
                None => " in the window".to_string(),
            };
            format!(
                "{} TAO{since} ({} TAO since creation)",
                s.spent_tao,
                subnet_operator::crd::common::rao_to_tao(s.total_spent_rao)
            )
        }
    }
}

fn budget_line(b: Option<&BudgetView>) -> String {
    match b {
        None => "none (only the price limit applies)".to_string(),
        Some(b) => format!(
            "{} TAO per {}, {} left",
            b.tao,
            b.window,
            tao(b.left_tao.as_deref())
        ),
    }
}

fn emission_line(v: &StatusView) -> String {
    let e = &v.emission;
    match (e.blocks_per_epoch, e.blocks_per_day) {
        (Some(epoch), Some(day)) => format!(
            "per day = emission per epoch × {day} blocks a day ({}) ÷ {epoch} blocks an epoch (tempo {})",
            e.block_time_source.as_deref().unwrap_or("?"),
            epoch - 1
        ),
        (Some(epoch), None) => format!(
            "rao per epoch (an epoch is {epoch} blocks, tempo {}); the block time of network {} is unknown: pass --block-time 12s for emission per day",
            epoch - 1,
            v.subnet.network.as_deref().unwrap_or("?")
        ),
        (None, _) if !v.subnet.readable => {
            "rao per epoch; no per-day figure: the tempo is unknown without the Subnet".to_string()
        }
        (None, _) => format!(
            "rao per epoch; no per-day figure: Subnet {} has no tempo in its status yet",
            v.subnet.name
        ),
    }
}

fn find<'a>(conditions: &'a [ConditionView], t: &str) -> Option<&'a ConditionView> {
    conditions.iter().find(|c| c.type_ == t)
}

fn condition_line(c: Option<&ConditionView>) -> String {
    match c {
        None => "-".to_string(),
        Some(c) if c.message.is_empty() => format!("{} ({})", c.status, c.reason),
        Some(c) => format!("{} ({}): {}", c.status, c.reason, c.message),
    }
}

fn condition_cell(c: Option<&ConditionView>) -> String {
    c.map(|c| format!("{} ({})", c.status, c.reason))
        .unwrap_or_default()
}

/// The diagnose table of a [`DiagnoseView`].
pub fn diagnose_table(v: &DiagnoseView) -> String {
    let mut out = String::new();
    if v.fleets.is_empty() {
        out.push_str(&match &v.namespace {
            Some(ns) => format!("No Miners or Validators found in namespace {ns}.\n"),
            None => "No Miners or Validators found in any namespace.\n".to_string(),
        });
    } else {
        let all = v.namespace.is_none();
        let mut header = vec![];
        if all {
            header.push("NAMESPACE");
        }
        header.extend([
            "KIND", "NAME", "REPLICAS", "WORST", "REASONS", "AT RISK", "EARNING",
        ]);
        let mut t = Table::new(header);
        for f in &v.fleets {
            let mut reasons: Vec<String> = f
                .reasons
                .iter()
                .map(|r| format!("{} {}", r.count, r.reason.as_str()))
                .collect();
            if f.undiagnosed > 0 {
                reasons.push(format!("{} undiagnosed", f.undiagnosed));
            }
            let mut row = vec![];
            if all {
                row.push(f.namespace.clone());
            }
            row.extend([
                f.kind.clone(),
                f.name.clone(),
                f.desired_replicas.to_string(),
                f.worst.map(|w| w.as_str().to_string()).unwrap_or_default(),
                reasons.join(", "),
                condition_cell(f.at_risk.as_ref()),
                condition_cell(f.earning.as_ref()),
            ]);
            t.row(row);
        }
        out.push_str(&t.render());
    }
    for u in &v.unreadable {
        out.push_str(&format!(
            "Warning: {} {}/{} cannot be read: {}\n",
            u.kind, u.namespace, u.name, u.error
        ));
    }
    out
}

/// The plan table of a [`PlanView`].
pub fn plan_table(v: &PlanView) -> String {
    let mut head: Vec<(&str, String)> =
        vec![(v.kind.as_str(), format!("{}/{}", v.namespace, v.name))];
    head.push((
        "Mode",
        match (v.mode, v.dry_run) {
            (RegistrationMode::Burn, true) => {
                "Burn, dry run (the operator sends nothing)".to_string()
            }
            (RegistrationMode::Burn, false) => "Burn".to_string(),
            (RegistrationMode::Manual, _) => "Manual".to_string(),
        },
    ));
    match &v.plan {
        Some(p) => {
            head.push((
                "Would register",
                if p.would_register.is_empty() {
                    "nothing (every replica is registered)".to_string()
                } else {
                    format!(
                        "{} ({} registration{})",
                        indices(&p.would_register),
                        p.would_register.len(),
                        if p.would_register.len() == 1 { "" } else { "s" }
                    )
                },
            ));
            head.push((
                "Estimated cost",
                format!(
                    "{} TAO at the current price, each registration raising it",
                    p.estimated_cost_tao
                ),
            ));
        }
        None => {
            head.push((
                "Plan",
                format!("none: {}", v.no_plan_reason.as_deref().unwrap_or("-")),
            ));
            head.push((
                "Unregistered",
                if v.unregistered.is_empty() {
                    "none".to_string()
                } else {
                    indices(&v.unregistered)
                },
            ));
        }
    }
    let price = match (&v.price_now_tao, &v.max_price_tao, v.price_within_limit) {
        (Some(now), Some(max), Some(true)) => {
            format!("{now} TAO, at or under the limit of {max} TAO")
        }
        (Some(now), Some(max), _) => format!(
            "{now} TAO, above the limit of {max} TAO: registrations wait for the price to decay"
        ),
        (Some(now), None, _) => format!("{now} TAO (no limit set)"),
        (None, _, _) => "unknown (no price in the status yet)".to_string(),
    };
    head.push(("Price now", price));
    if let Some(g) = &v.price_guard {
        head.push(("Price guard", g.clone()));
    }
    let budget = match (&v.budget, v.within_budget) {
        (None, _) => "none (only the price limit applies)".to_string(),
        (Some(b), fits) => {
            let verdict = match fits {
                Some(true) => ": the plan fits",
                Some(false) => ": the plan does not fit, registration stops at the budget",
                None => "",
            };
            format!(
                "{} TAO per {}, {} TAO spent, {} left{verdict}",
                b.tao,
                b.window,
                v.spent_tao.as_deref().unwrap_or("0"),
                tao(b.left_tao.as_deref())
            )
        }
    };
    head.push(("Budget", budget));
    fields(&head)
}

/// `5F3sa2TJ…` as `5F3s…k9Qa` (short addresses stay as they are).
pub fn short_hotkey(ss58: &str) -> String {
    let chars: Vec<char> = ss58.chars().collect();
    if chars.len() <= 10 {
        return ss58.to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Rao as whole tokens with at most 4 decimals (`<0.0001` for less that is not 0).
pub fn units(rao: u64) -> String {
    if rao == 0 {
        return "0".to_string();
    }
    let tenths_of_milli = (u128::from(rao) + 50_000) / 100_000;
    if tenths_of_milli == 0 {
        return "<0.0001".to_string();
    }
    trim(format!(
        "{}.{:04}",
        tenths_of_milli / 10_000,
        tenths_of_milli % 10_000
    ))
}

/// A 0–1 figure with at most 4 decimals.
fn fraction(x: f64) -> String {
    trim(format!("{x:.4}"))
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn tao(t: Option<&str>) -> String {
    t.map(|t| format!("{t} TAO"))
        .unwrap_or_else(|| "-".to_string())
}

fn opt<T: ToString>(x: Option<T>) -> String {
    x.map(|x| x.to_string()).unwrap_or_default()
}

fn indices(i: &[u32]) -> String {
    let list: Vec<String> = i.iter().map(u32::to_string).collect();
    format!(
        "replica{} {}",
        if i.len() == 1 { "" } else { "s" },
        list.join(", ")
    )
}

#[cfg(test)]
mod tests;
