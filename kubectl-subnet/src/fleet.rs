//! A Miner or a Validator as one type: both share the fleet spec and status.

use std::fmt;

use subnet_operator::crd::{FleetSpec, FleetStatus, Miner, Validator};

/// Which of the two fleet kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `Miner` (`miners.subnet-operator.io`).
    Miner,
    /// `Validator` (`validators.subnet-operator.io`).
    Validator,
}

impl Kind {
    /// Both kinds.
    pub const ALL: [Self; 2] = [Self::Miner, Self::Validator];

    /// The kind as the API names it: `Miner`, `Validator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Miner => "Miner",
            Self::Validator => "Validator",
        }
    }

    /// The lower-case singular, as kubectl users type it: `miner`, `validator`.
    pub fn singular(self) -> &'static str {
        match self {
            Self::Miner => "miner",
            Self::Validator => "validator",
        }
    }

    /// The plural resource name: `miners`, `validators`.
    pub fn plural(self) -> &'static str {
        match self {
            Self::Miner => "miners",
            Self::Validator => "validators",
        }
    }

    /// The resource with its group, as RBAC rules and API errors name it:
    /// `miners.subnet-operator.io`.
    pub fn resource(self) -> String {
        format!("{}.{}", self.plural(), crate::GROUP)
    }

    /// The kind a kubectl-style name stands for: the singular, the plural, the short name
    /// (`mnr`, `vali`), the kind itself, each optionally followed by `.subnet-operator.io`;
    /// case-insensitive.
    pub fn from_name(s: &str) -> Option<Self> {
        let lower = s.to_ascii_lowercase();
        let suffix = format!(".{}", crate::GROUP);
        let bare = lower.strip_suffix(&suffix).unwrap_or(&lower);
        match bare {
            "miner" | "miners" | "mnr" => Some(Self::Miner),
            "validator" | "validators" | "vali" => Some(Self::Validator),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fetched Miner or Validator: what the rendering needs of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Fleet {
    /// Miner or Validator.
    pub kind: Kind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The spec.
    pub spec: FleetSpec,
    /// The status, `None` while the operator has written none.
    pub status: Option<FleetStatus>,
}

impl Fleet {
    /// The status, or an empty one while the operator has written none.
    pub fn status_or_default(&self) -> FleetStatus {
        self.status.clone().unwrap_or_default()
    }

    /// `namespace/name`.
    pub fn qualified_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl From<Miner> for Fleet {
    fn from(m: Miner) -> Self {
        Self {
            kind: Kind::Miner,
            namespace: m.metadata.namespace.unwrap_or_default(),
            name: m.metadata.name.unwrap_or_default(),
            generation: m.metadata.generation,
            spec: m.spec.fleet,
            status: m.status,
        }
    }
}

impl From<Validator> for Fleet {
    fn from(v: Validator) -> Self {
        Self {
            kind: Kind::Validator,
            namespace: v.metadata.namespace.unwrap_or_default(),
            name: v.metadata.name.unwrap_or_default(),
            generation: v.metadata.generation,
            spec: v.spec.fleet,
            status: v.status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_found_by_every_name_kubectl_knows() {
        for s in [
            "miner",
            "miners",
            "mnr",
            "Miner",
            "MINERS",
            "miner.subnet-operator.io",
            "miners.subnet-operator.io",
        ] {
            assert_eq!(Kind::from_name(s), Some(Kind::Miner), "{s}");
        }
        for s in ["validator", "validators", "vali", "Validator"] {
            assert_eq!(Kind::from_name(s), Some(Kind::Validator), "{s}");
        }
        for s in ["", "foo", "subnet", "pod", "miner.example.com"] {
            assert_eq!(Kind::from_name(s), None, "{s}");
        }
        assert_eq!(Kind::Miner.resource(), "miners.subnet-operator.io");
    }
}
