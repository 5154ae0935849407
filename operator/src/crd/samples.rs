//! The admission samples of `operator/tests/samples/` (valid and invalid custom resources with
//! the message each invalid one must produce), shared by the unit tests and the e2e tests.

use serde::Deserialize;
use serde_json::Value;

/// How an invalid sample is caught at admission.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// A CEL rule (`x-kubernetes-validations`): checkable client-side too.
    Cel,
    /// An OpenAPI schema constraint: only the apiserver checks it.
    Schema,
}

/// One sample.
#[derive(Deserialize, Clone, Debug)]
pub struct Sample {
    /// Sample name, also the object's name.
    pub name: String,
    /// For invalid samples: how the error is caught.
    #[serde(default)]
    pub check: Option<Check>,
    /// For invalid samples: a fragment of the error message.
    #[serde(default)]
    pub expect: Option<String>,
    /// For update rules: the object before the update.
    #[serde(default)]
    pub old: Option<Value>,
    /// The object (its `apiVersion` and `metadata.name` are filled in by [`Sample::object`]).
    pub object: Value,
}

impl Sample {
    /// The full object, with `apiVersion` and `metadata.name` set.
    pub fn object(&self) -> Value {
        self.complete(&self.object)
    }

    /// The full old object, if any.
    pub fn old_object(&self) -> Option<Value> {
        self.old.as_ref().map(|o| self.complete(o))
    }

    /// The kind of the object.
    pub fn kind(&self) -> &str {
        self.object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    fn complete(&self, o: &Value) -> Value {
        let mut o = o.clone();
        if let Some(map) = o.as_object_mut() {
            map.insert(
                "apiVersion".into(),
                Value::String(format!("{}/v1alpha1", super::GROUP)),
            );
            let meta = map
                .entry("metadata")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(meta) = meta.as_object_mut() {
                meta.entry("name")
                    .or_insert_with(|| Value::String(self.name.clone()));
            }
        }
        o
    }
}

/// Parses a samples file.
pub fn parse(yaml: &str) -> Result<Vec<Sample>, serde_yaml::Error> {
    serde_yaml::from_str(yaml)
}

/// The invalid samples.
pub const INVALID: &str = include_str!("../../tests/samples/invalid.yaml");
/// The valid samples.
pub const VALID: &str = include_str!("../../tests/samples/valid.yaml");
