//! Rendering from fixture objects (YAML as the API server returns it).

use super::*;
use crate::cli::BlockTime;
use crate::fleet::Kind;
use subnet_operator::crd::{Miner, Subnet, Validator};

const T: &str = "lastTransitionTime: '2026-05-01T10:00:00Z'";

/// Miner `alice` in `sn1`: 3 replicas, one earning, one next to be pruned, one not registered.
fn miner() -> Fleet {
    let yaml = format!(
        r#"
apiVersion: subnet-operator.io/v1alpha1
kind: Miner
metadata: {{name: alice, namespace: sn1, generation: 2}}
spec:
  subnetRef: {{name: sn}}
  replicas: 3
  wallet: {{coldkeyPub: {{ss58: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY}}}}
  registration: {{mode: Burn, maxPriceTao: "0.5", budget: {{tao: "2", window: 24h}}}}
  template: {{image: "miner:1"}}
status:
  observedGeneration: 2
  replicas: 3
  readyReplicas: 2
  registeredReplicas: 2
  registrationPriceTao: "0.25"
  priceGuard: Chain
  spend: {{windowStart: "2026-05-01T10:00:00Z", spentRao: 450000000, spentTao: "0.45", totalSpentRao: 1450000000}}
  conditions:
    - {{type: Ready, status: "False", reason: ReplicasNotReady, message: "1 of 3 not ready", {T}}}
    - {{type: Registered, status: "False", reason: PriceAboveLimit, message: "waits", {T}}}
    - {{type: AtRisk, status: "True", reason: NextToBePruned, message: "1 replica(s) would be pruned within 3 registration(s): replica 1 (uid 7) by registration 1", {T}}}
    - {{type: Earning, status: "False", reason: NotRegistered, message: "1 NotRegistered, 1 NextToBePruned, 1 Earning", {T}}}
  replicaStatuses:
    - index: 1
      hotkey: 5HGjWAeFDfFCWPsjFQdVV2Msvz2XtMktvgocEZcCj68kUMaw
      pod: alice-1-0
      phase: Ready
      registered: true
      uid: 7
      immuneUntilBlock: 9100
      immuneBlocksLeft: 0
      incentive: 0.0
      emissionRao: 0
      stakeRao: 0
      pruneRank: 0
      registrationsUntilPruned: 1
      diagnosis: {{reason: NextToBePruned, message: "uid 7 is next out"}}
      lastRegistration: {{block: 4100, priceRao: 450000000, priceTao: "0.45", txHash: "0xabc"}}
    - index: 0
      hotkey: 5F3sa2TJAWMqDhXG6jhV4N8ko9SxwGy8TpaNS1repo5EYjQX
      pod: alice-0-0
      phase: Ready
      registered: true
      uid: 3
      immuneUntilBlock: 5100
      immuneBlocksLeft: 0
      incentive: 0.01234
      emissionRao: 1234567
      stakeRao: 2500000000
      trust: 0.5
      pruneRank: 5
      registrationsUntilPruned: 6
      axonOnChain: {{ip: 203.0.113.7, port: 30001}}
      axonExposed: {{ip: 203.0.113.7, port: 30001}}
      diagnosis: {{reason: Earning, message: "uid 3 earns"}}
    - index: 2
      hotkey: 5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy
      pod: alice-2-0
      phase: Pending
      registered: false
      diagnosis: {{reason: NotRegistered, message: "the hotkey holds no UID on the subnet"}}
"#
    );
    let m: Miner = serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    Fleet::from(m)
}

fn subnet(network: &str, localnet: &str) -> SubnetLookup {
    let yaml = format!(
        "apiVersion: subnet-operator.io/v1alpha1\nkind: Subnet\nmetadata: {{name: sn, namespace: sn1}}\nspec: {{network: {network}, {localnet}}}\nstatus: {{netuid: 7, tempo: 360, immunityPeriod: 5000, finalizedBlock: 10000, runtimeSpecVersion: 393}}\n"
    );
    let s: Subnet = serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    SubnetLookup::Found(Box::new(s))
}

fn finney() -> SubnetLookup {
    subnet("finney", "netuid: 7")
}

fn forbidden() -> SubnetLookup {
    SubnetLookup::Unreadable {
        reason: "no access: get on subnets.subnet-operator.io is not granted".into(),
    }
}

fn fleet_yaml(kind: Kind, ns: &str, name: &str, status: &str) -> Fleet {
    let yaml = format!(
        "apiVersion: subnet-operator.io/v1alpha1\nkind: {kind}\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  subnetRef: {{name: sn}}\n  replicas: 2\n  wallet: {{coldkeyPub: {{ss58: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY}}}}\n  template: {{image: \"x:1\"}}\n{status}"
    );
    match kind {
        Kind::Miner => Fleet::from(
            serde_yaml::from_str::<Miner>(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}")),
        ),
        Kind::Validator => Fleet::from(
            serde_yaml::from_str::<Validator>(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}")),
        ),
    }
}

/// A status whose replicas have these diagnosis reasons (`-` for none), with Earning and
/// AtRisk conditions.
fn diagnosed(reasons: &[&str]) -> String {
    let mut s = format!(
        "status:\n  conditions:\n    - {{type: AtRisk, status: \"False\", reason: Safe, message: m, {T}}}\n    - {{type: Earning, status: \"False\", reason: {}, message: m, {T}}}\n  replicaStatuses:\n",
        reasons.first().copied().unwrap_or("NoReplicas")
    );
    for (i, r) in reasons.iter().enumerate() {
        if *r == "-" {
            s.push_str(&format!("    - {{index: {i}}}\n"));
        } else {
            s.push_str(&format!(
                "    - {{index: {i}, diagnosis: {{reason: {r}, message: m}}}}\n"
            ));
        }
    }
    s
}

#[test]
fn status_on_finney_shows_emission_per_day() {
    let out = render_status(&miner(), &finney(), &StatusOptions::default());
    insta::assert_snapshot!(out);
}

#[test]
fn status_without_the_subnet_shows_raw_emission_and_says_why() {
    let out = render_status(&miner(), &forbidden(), &StatusOptions::default());
    insta::assert_snapshot!(out);
}

#[test]
fn status_on_an_unknown_endpoint_asks_for_the_block_time() {
    let sn = subnet("'wss://example.org:443'", "netuid: 7");
    let out = render_status(&miner(), &sn, &StatusOptions::default());
    assert!(out.contains("EMISSION (RAO/EPOCH)"), "{out}");
    assert!(
        out.contains(
            "the block time of network wss://example.org:443 is unknown: pass --block-time 12s"
        ),
        "{out}"
    );
    let opts = StatusOptions {
        block_time: Some(BlockTime::NORMAL),
    };
    let out = render_status(&miner(), &sn, &opts);
    assert!(out.contains("EMISSION/DAY"), "{out}");
    assert!(out.contains("7200 blocks a day (--block-time)"), "{out}");
}

#[test]
fn a_fast_localnet_has_48_times_the_blocks() {
    let v = status_view(
        &miner(),
        &subnet("local", "localnet: {}"),
        &StatusOptions::default(),
    );
    assert_eq!(v.emission.blocks_per_day, Some(345_600));
    assert_eq!(
        v.emission.block_time_source.as_deref(),
        Some("localnet fastBlocks")
    );
    let v = status_view(
        &miner(),
        &subnet("local", "localnet: {fastBlocks: false}"),
        &StatusOptions::default(),
    );
    assert_eq!(v.emission.blocks_per_day, Some(7200));
}

#[test]
fn status_json_has_full_hotkeys_and_exact_figures() -> Result<(), Error> {
    let v = status_view(&miner(), &finney(), &StatusOptions::default());
    let json = encode(&v, Output::Json)?.unwrap_or_default();
    let j: serde_json::Value = serde_json::from_str(&json).map_err(|e| Error::Encode {
        format: "json",
        detail: e.to_string(),
    })?;
    assert_eq!(j["kind"], "Miner");
    assert_eq!(j["subnet"]["tempo"], 360);
    assert_eq!(j["budget"]["leftTao"], "1.55");
    assert_eq!(j["emission"]["blocksPerEpoch"], 361);
    let r = &j["replicas"];
    assert_eq!(r.as_array().map(Vec::len), Some(3));
    // Sorted by index; the full SS58 address.
    assert_eq!(r[0]["index"], 0);
    assert_eq!(
        r[0]["hotkey"],
        "5F3sa2TJAWMqDhXG6jhV4N8ko9SxwGy8TpaNS1repo5EYjQX"
    );
    // 1,234,567 rao an epoch, an epoch every 361 blocks, 7200 blocks a day.
    assert_eq!(r[0]["emissionRaoPerEpoch"], 1_234_567);
    assert_eq!(r[0]["emissionRaoPerDay"], 1_234_567u64 * 7200 / 361);
    assert_eq!(r[0]["registeredAtBlock"], 100);
    assert_eq!(r[0]["axonOnChain"], "203.0.113.7:30001");
    assert_eq!(r[0]["diagnosis"]["reason"], "Earning");
    // Unknown values are null, not missing.
    assert!(r[2].get("uid").is_some_and(serde_json::Value::is_null));
    assert!(r[2]["registeredAtBlock"].is_null());
    let yaml = encode(&v, Output::Yaml)?.unwrap_or_default();
    let per_day = format!("emissionRaoPerDay: {}", 1_234_567u64 * 7200 / 361);
    assert!(yaml.contains(&per_day), "{yaml}");
    assert_eq!(encode(&v, Output::Table)?, None);
    Ok(())
}

#[test]
fn registered_at_falls_back_to_the_last_registration() {
    let v = status_view(&miner(), &forbidden(), &StatusOptions::default());
    let by_index = |i: u32| v.replicas.iter().find(|r| r.index == i);
    // No immunity period without the Subnet: replica 1 has its registration's block, replica
    // 0 (registered elsewhere) none.
    assert_eq!(by_index(1).and_then(|r| r.registered_at_block), Some(4100));
    assert_eq!(by_index(0).and_then(|r| r.registered_at_block), None);
    assert_eq!(by_index(0).and_then(|r| r.emission_rao_per_day), None);
}

#[test]
fn status_says_when_there_is_none_or_it_is_behind() {
    let f = fleet_yaml(Kind::Validator, "ns", "v", "");
    let out = render_status(&f, &forbidden(), &StatusOptions::default());
    assert!(out.starts_with("Validator"), "{out}");
    assert!(out.contains("No status yet"), "{out}");
    assert!(out.contains("No replicas in the status."), "{out}");
    let mut m = miner();
    m.generation = Some(3);
    let out = render_status(&m, &finney(), &StatusOptions::default());
    assert!(
        out.contains("The status describes generation 2; the spec is at generation 3"),
        "{out}"
    );
}

#[test]
fn diagnose_lists_the_worst_first_then_by_name() {
    let fleets = vec![
        fleet_yaml(
            Kind::Miner,
            "a",
            "zeta",
            &diagnosed(&["Earning", "Earning"]),
        ),
        fleet_yaml(Kind::Miner, "a", "idle", "status: {}\n"),
        fleet_yaml(
            Kind::Validator,
            "a",
            "val",
            &diagnosed(&["Immune", "AxonNotServed"]),
        ),
        fleet_yaml(
            Kind::Miner,
            "a",
            "beta",
            &diagnosed(&["Earning", "NotRegistered", "-"]),
        ),
        fleet_yaml(
            Kind::Miner,
            "a",
            "alpha",
            &diagnosed(&["Earning", "Earning"]),
        ),
    ];
    let v = diagnose_view(&fleets, &[], Some("a"));
    let names: Vec<&str> = v.fleets.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["beta", "val", "alpha", "zeta", "idle"]);
    assert_eq!(
        v.fleets[0].worst,
        Some(subnet_operator::crd::fleet::DiagnosisReason::NotRegistered)
    );
    assert_eq!(v.fleets[0].undiagnosed, 1);
    assert_eq!(v.fleets[4].worst, None);
    insta::assert_snapshot!(diagnose_table(&v));
}

#[test]
fn diagnose_across_namespaces_names_them_and_warns_of_unreadable_objects() {
    let fleets = vec![
        fleet_yaml(Kind::Miner, "b", "m", &diagnosed(&["Earning"])),
        fleet_yaml(Kind::Miner, "a", "m", &diagnosed(&["Earning"])),
    ];
    let bad = [Unreadable {
        kind: "Miner".into(),
        namespace: "c".into(),
        name: "broken".into(),
        error: "missing field `spec`".into(),
    }];
    let out = render_diagnose(&fleets, &bad, None);
    assert_eq!(
        out,
        "NAMESPACE  KIND   NAME  REPLICAS  WORST    REASONS    AT RISK       EARNING\n\
         a          Miner  m     2         Earning  1 Earning  False (Safe)  False (Earning)\n\
         b          Miner  m     2         Earning  1 Earning  False (Safe)  False (Earning)\n\
         Warning: Miner c/broken cannot be read: missing field `spec`\n"
    );
    assert_eq!(
        render_diagnose(&[], &[], Some("x")),
        "No Miners or Validators found in namespace x.\n"
    );
}

#[test]
fn diagnose_json_counts_replicas_per_reason() -> Result<(), Error> {
    let fleets = vec![fleet_yaml(
        Kind::Miner,
        "a",
        "m",
        &diagnosed(&["Earning", "NotRegistered", "Earning"]),
    )];
    let v = diagnose_view(&fleets, &[], Some("a"));
    let json = encode(&v, Output::Json)?.unwrap_or_default();
    assert!(json.contains("\"worst\": \"NotRegistered\""), "{json}");
    assert!(
        json.contains("\"reason\": \"NotRegistered\",\n          \"count\": 1"),
        "{json}"
    );
    assert!(
        json.contains("\"reason\": \"Earning\",\n          \"count\": 2"),
        "{json}"
    );
    assert!(json.contains("\"atRisk\": {"), "{json}");
    Ok(())
}

#[test]
fn plan_in_dry_run_compares_the_cost_with_the_budget_left() {
    let f = fleet_yaml(
        Kind::Miner,
        "ns",
        "m",
        "  registration: {mode: Burn, dryRun: true, maxPriceTao: \"0.5\", budget: {tao: \"1\", window: 24h}}\nstatus:\n  registrationPriceTao: \"0.3\"\n  priceGuard: Chain\n  spend: {spentRao: 100000000, spentTao: \"0.1\"}\n  plan: {wouldRegister: [0, 1], estimatedCostTao: \"0.6783\"}\n  replicaStatuses: [{index: 0}, {index: 1}]\n",
    );
    let v = plan_view(&f, &forbidden());
    assert_eq!(v.price_within_limit, Some(true));
    assert_eq!(v.within_budget, Some(true));
    assert_eq!(
        v.plan.as_ref().and_then(|p| p.estimated_cost_rao),
        Some(678_300_000)
    );
    insta::assert_snapshot!(plan_table(&v));
}

#[test]
fn plan_without_one_says_why() {
    let manual = fleet_yaml(
        Kind::Miner,
        "ns",
        "m",
        "status:\n  replicaStatuses: [{index: 0}, {index: 1, registered: true}]\n",
    );
    let out = render_plan(&manual, &forbidden());
    assert!(
        out.contains("none: registration.mode is Manual: the operator registers nothing"),
        "{out}"
    );
    assert!(out.contains("Unregistered  replica 0\n"), "{out}");
    let burn = fleet_yaml(
        Kind::Miner,
        "ns",
        "m",
        "  registration: {mode: Burn, maxPriceTao: \"0.1\", budget: {tao: \"1\", window: 24h}}\nstatus:\n  registrationPriceTao: \"0.3\"\n",
    );
    let v = plan_view(&burn, &forbidden());
    assert_eq!(v.price_within_limit, Some(false));
    assert_eq!(v.within_budget, None);
    let out = plan_table(&v);
    assert!(out.contains("registration.dryRun is false"), "{out}");
    assert!(
        out.contains("0.3 TAO, above the limit of 0.1 TAO: registrations wait"),
        "{out}"
    );
    let out = render_plan(
        &fleet_yaml(
            Kind::Miner,
            "ns",
            "m",
            "  registration: {mode: Burn, dryRun: true, maxPriceTao: \"0.1\"}\n",
        ),
        &forbidden(),
    );
    assert!(out.contains("has not written a plan yet"), "{out}");
}

#[test]
fn amounts_and_hotkeys_are_short_in_tables() {
    assert_eq!(units(0), "0");
    assert_eq!(units(1), "<0.0001");
    assert_eq!(units(50_000), "0.0001");
    assert_eq!(units(2_500_000_000), "2.5");
    assert_eq!(units(1_234_567_890), "1.2346");
    assert_eq!(units(u64::MAX), "18446744073.7096");
    assert_eq!(
        short_hotkey("5F3sa2TJAWMqDhXG6jhV4N8ko9SxwGy8TpaNS1repo5EYjQX"),
        "5F3s…YjQX"
    );
    assert_eq!(short_hotkey("5F3s"), "5F3s");
    assert_eq!(fraction(0.0), "0");
    assert_eq!(fraction(0.01236), "0.0124");
    assert_eq!(fraction(1.0), "1");
}

#[test]
fn the_price_now_is_the_subnets_when_it_can_be_read() {
    let s: Subnet = serde_yaml::from_str(
        "apiVersion: subnet-operator.io/v1alpha1\nkind: Subnet\nmetadata: {name: sn, namespace: sn1}\nspec: {network: finney, netuid: 7}\nstatus: {registrationPriceTao: '0.31', tempo: 360}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let sn = SubnetLookup::Found(Box::new(s));
    let v = status_view(&miner(), &sn, &StatusOptions::default());
    assert_eq!(v.registration.price_now_tao.as_deref(), Some("0.31"));
    let p = plan_view(&miner(), &sn);
    assert_eq!(p.price_now_tao.as_deref(), Some("0.31"));
    assert_eq!(p.price_within_limit, Some(true));
    // Without the Subnet, the fleet's own (which can trail).
    let v = status_view(&miner(), &forbidden(), &StatusOptions::default());
    assert_eq!(v.registration.price_now_tao.as_deref(), Some("0.25"));
}
