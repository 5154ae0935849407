//! The CRDs: drift against `crds/`, size, and the admission samples against their CEL rules.

use kube::core::cel::Validator;
use serde_json::Value;
use subnet_operator::crd::samples::{self, Check, Sample};
use subnet_operator::crd::{Miner, Subnet, Validator as ValidatorKind, all_crds, crd_yaml};

fn schema_of(kind: &str) -> Value {
    let crd = all_crds()
        .into_iter()
        .map(|(_, c)| c)
        .find(|c| c.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for kind {kind}"));
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .unwrap_or_else(|| panic!("{kind} CRD has no schema"));
    serde_json::to_value(schema).unwrap_or_else(|e| panic!("{e}"))
}

fn cel_errors(s: &Sample) -> Vec<String> {
    let schema = schema_of(s.kind());
    match Validator::new().validate(&schema, &s.object(), s.old_object().as_ref()) {
        Ok(()) => vec![],
        Err(errs) => errs.as_slice().iter().map(|e| e.message.clone()).collect(),
    }
}

#[test]
fn crds_are_up_to_date() {
    for (file, crd) in all_crds() {
        let want = crd_yaml(&crd).unwrap_or_else(|e| panic!("{e}"));
        let path = format!("{}/../crds/{file}", env!("CARGO_MANIFEST_DIR"));
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(have == want, "crds/{file} is stale: run `make generate`");
        assert!(
            want.len() < 256 * 1024,
            "crds/{file} is {} bytes: too big for a plain kubectl apply",
            want.len()
        );
    }
}

#[test]
fn crds_have_the_advertised_shape() {
    for (_, crd) in all_crds() {
        let names = &crd.spec.names;
        assert_eq!(crd.spec.group, "subnet-operator.io");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            names.categories.as_deref(),
            Some(&["bittensor".to_string()][..])
        );
        assert!(names.short_names.as_ref().is_some_and(|s| !s.is_empty()));
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        let sub = v
            .subresources
            .as_ref()
            .unwrap_or_else(|| panic!("no subresources"));
        assert!(
            sub.status.is_some(),
            "{} lacks the status subresource",
            names.kind
        );
        if names.kind != "Subnet" {
            let scale = sub
                .scale
                .as_ref()
                .unwrap_or_else(|| panic!("{} lacks scale", names.kind));
            assert_eq!(scale.spec_replicas_path, ".spec.replicas");
            assert_eq!(scale.status_replicas_path, ".status.replicas");
            assert_eq!(
                scale.label_selector_path.as_deref(),
                Some(".status.selector")
            );
            let cols: Vec<_> = v
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|c| c.name.as_str())
                .collect();
            for c in ["Ready", "Registered", "Price", "GPUs", "Age"] {
                assert!(cols.contains(&c), "{} lacks printer column {c}", names.kind);
            }
        }
    }
}

#[test]
fn every_field_has_a_description() {
    fn walk(path: &str, v: &Value, missing: &mut Vec<String>) {
        if let Some(props) = v.get("properties").and_then(Value::as_object) {
            for (k, p) in props {
                let here = format!("{path}.{k}");
                // Embedded Kubernetes types carry their own docs; ours must have one.
                if p.get("description").is_none()
                    && !["apiVersion", "kind", "metadata"].contains(&k.as_str())
                {
                    missing.push(here.clone());
                }
                walk(&here, p, missing);
            }
        }
        if let Some(items) = v.get("items") {
            walk(&format!("{path}[]"), items, missing);
        }
    }
    for kind in ["Subnet", "Miner", "Validator"] {
        let mut missing = vec![];
        let schema = schema_of(kind);
        for part in ["spec", "status"] {
            if let Some(p) = schema.pointer(&format!("/properties/{part}")) {
                walk(part, p, &mut missing);
            }
        }
        // Fields inside embedded k8s-openapi types (e.g. resources.limits) are documented by
        // Kubernetes; only our own struct fields are required here.
        missing.retain(|m| !m.contains(".resources.") && !m.contains(".conditions[]"));
        assert!(
            missing.is_empty(),
            "{kind}: fields without description: {missing:?}"
        );
    }
}

#[test]
fn there_are_at_least_twenty_invalid_samples() {
    let invalid = samples::parse(samples::INVALID).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        invalid.len() >= 20,
        "only {} invalid samples",
        invalid.len()
    );
    for s in &invalid {
        assert!(
            s.expect.is_some() && s.check.is_some(),
            "{}: needs expect and check",
            s.name
        );
    }
}

#[test]
fn invalid_samples_break_their_cel_rule() {
    let invalid = samples::parse(samples::INVALID).unwrap_or_else(|e| panic!("{e}"));
    let mut skipped = vec![];
    for s in &invalid {
        let expect = s.expect.as_deref().unwrap_or_default();
        if s.check == Some(Check::Schema) {
            // OpenAPI constraints are enforced by the apiserver only; e2e/tests/admission.rs
            // checks these against a real one.
            skipped.push(s.name.as_str());
            continue;
        }
        let errors = cel_errors(s);
        assert!(
            errors.iter().any(|e| e.contains(expect)),
            "{}: expected an error containing {expect:?}, got {errors:?}",
            s.name
        );
    }
    eprintln!("schema-only samples, checked by e2e against the apiserver: {skipped:?}");
}

#[test]
fn valid_samples_pass_cel_and_deserialize() {
    let valid = samples::parse(samples::VALID).unwrap_or_else(|e| panic!("{e}"));
    assert!(valid.len() >= 5);
    for s in &valid {
        let errors = cel_errors(s);
        assert!(errors.is_empty(), "{}: {errors:?}", s.name);
        let o = s.object();
        let typed = match s.kind() {
            "Subnet" => serde_json::from_value::<Subnet>(o).map(|_| ()),
            "Miner" => serde_json::from_value::<Miner>(o).map(|_| ()),
            "Validator" => serde_json::from_value::<ValidatorKind>(o).map(|_| ()),
            k => panic!("unknown kind {k}"),
        };
        assert!(typed.is_ok(), "{}: {typed:?}", s.name);
    }
}

#[test]
fn manifest_samples_pass_cel_and_deserialize() {
    let dir = format!("{}/../manifests/samples", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: Value =
                serde::Deserialize::deserialize(doc).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            let kind = v
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if !["Subnet", "Miner", "Validator"].contains(&kind.as_str()) {
                continue;
            }
            seen += 1;
            let errors = match Validator::new().validate(&schema_of(&kind), &v, None) {
                Ok(()) => vec![],
                Err(e) => e.as_slice().iter().map(|e| e.message.clone()).collect(),
            };
            assert!(errors.is_empty(), "{path:?}: {errors:?}");
            let typed = match kind.as_str() {
                "Subnet" => serde_json::from_value::<Subnet>(v).map(|_| ()),
                "Miner" => serde_json::from_value::<Miner>(v).map(|_| ()),
                _ => serde_json::from_value::<ValidatorKind>(v).map(|_| ()),
            };
            assert!(typed.is_ok(), "{path:?}: {typed:?}");
        }
    }
    assert!(seen >= 3, "only {seen} samples in {dir}");
}
