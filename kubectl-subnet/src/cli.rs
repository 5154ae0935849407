//! The command line: `kubectl subnet status|diagnose|plan`, and the `KIND/NAME` argument.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::Error;
use crate::fleet::Kind;

/// Shows what the subnet-operator reports about Miners and Validators. Reads their status
/// only (no chain, no Secrets): a read-only kubeconfig with get and list on
/// miners.subnet-operator.io and validators.subnet-operator.io (optionally
/// subnets.subnet-operator.io) is enough.
#[derive(Parser, Debug, Clone, PartialEq)]
#[command(
    name = "kubectl-subnet",
    bin_name = "kubectl subnet",
    version,
    after_help = "Exit codes: 0 done, 1 another API error, 2 bad argument, 3 not found (or CRDs not installed), 4 credentials or access refused, 5 no kubeconfig or no answer from the API server."
)]
pub struct Cli {
    /// Namespace (default: the kubeconfig context's namespace, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,

    /// Output format: a table for people, or JSON or YAML for scripts (stable field names).
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,

    /// Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else the
    /// pod's ServiceAccount).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context to use (default: its current context).
    #[arg(long, global = true)]
    pub context: Option<String>,

    /// What to show.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Command {
    /// One fleet: subnet, replicas, price, spend and budget, then one row per replica (hotkey,
    /// UID, immunity, incentive, emission, stake, axon, diagnosis, prune rank).
    Status {
        /// `miner/NAME` or `validator/NAME` (or `miner NAME`).
        #[arg(value_name = "KIND/NAME")]
        target: String,
        /// The name, when the kind is given on its own (`miner NAME`).
        #[arg(value_name = "NAME")]
        name: Option<String>,
        /// The chain's block time, for emission per day, e.g. `12s` or `250ms` (default: 12 s
        /// on finney and test, the localnet's own; unknown for other endpoints).
        #[arg(long, value_name = "DURATION", value_parser = parse_block_time)]
        block_time: Option<BlockTime>,
    },
    /// Every Miner and Validator of the namespace, worst first: the worst replica diagnosis,
    /// replicas per reason, and the AtRisk and Earning conditions.
    Diagnose {
        /// Every namespace instead of one.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
    /// What registering now would cost (`status.plan`, written in dry-run mode), against the
    /// price limit and the budget left.
    Plan {
        /// `miner/NAME` or `validator/NAME` (or `miner NAME`).
        #[arg(value_name = "KIND/NAME")]
        target: String,
        /// The name, when the kind is given on its own (`miner NAME`).
        #[arg(value_name = "NAME")]
        name: Option<String>,
    },
}

/// How results are printed.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    /// Aligned text for people.
    #[default]
    Table,
    /// JSON (pretty-printed).
    Json,
    /// YAML.
    Yaml,
}

/// A chain's block time, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockTime {
    /// Milliseconds per block (above 0).
    pub millis: u64,
}

impl BlockTime {
    /// Subtensor's block time: 12 s.
    pub const NORMAL: Self = Self { millis: 12_000 };
    /// A fast-blocks localnet's: 250 ms.
    pub const FAST: Self = Self { millis: 250 };

    /// Blocks in a day (7200 at 12 s).
    pub fn blocks_per_day(self) -> u64 {
        86_400_000 / self.millis.max(1)
    }
}

/// Parses `12s`, `250ms` or `1m` into a [`BlockTime`].
pub fn parse_block_time(s: &str) -> Result<BlockTime, String> {
    let t = s.trim();
    let (num, factor) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1_000)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60_000)
    } else {
        return Err(format!(
            "{s:?} is not a block time: write it with a unit, e.g. 12s or 250ms"
        ));
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a block time: write e.g. 12s or 250ms"))?;
    match n.checked_mul(factor) {
        Some(millis) if millis > 0 && millis <= 86_400_000 => Ok(BlockTime { millis }),
        _ => Err(format!(
            "{s:?} is not a block time: it must be above 0 and at most a day"
        )),
    }
}

/// A Miner or Validator named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetRef {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
}

impl FleetRef {
    /// Reads `KIND/NAME`, or `KIND` followed by `NAME` as a second argument, as kubectl does
    /// (`miner/alice`, `miners/alice`, `mnr/alice`, `validator alice`).
    pub fn parse(target: &str, name: Option<&str>) -> Result<Self, Error> {
        let bad = |reason: String| Error::BadArgument {
            arg: match name {
                Some(n) => format!("{target} {n}"),
                None => target.to_string(),
            },
            reason,
        };
        let (kind, name) = match (target.split_once('/'), name) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "give either KIND/NAME or KIND NAME, not both".to_string()
                ));
            }
            (Some((k, n)), None) => (k, n),
            (None, Some(n)) => (target, n),
            (None, None) => {
                return Err(bad(
                    "expected KIND/NAME, e.g. miner/alice or validator/bob".to_string()
                ));
            }
        };
        let kind = Kind::from_name(kind).ok_or_else(|| {
            bad(format!(
                "unknown kind {kind:?}: use miner/NAME or validator/NAME"
            ))
        })?;
        if !is_object_name(name) {
            return Err(bad(format!(
                "{name:?} is not a {} name (lowercase letters, digits, '-' and '.', at most 253)",
                kind.singular()
            )));
        }
        Ok(Self {
            kind,
            name: name.to_string(),
        })
    }
}

/// Whether `s` can name a Kubernetes object (a DNS-1123 subdomain).
fn is_object_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kubectl-subnet").chain(args.iter().copied()))
    }

    #[test]
    fn status_takes_kind_slash_name_and_global_flags_anywhere() -> Result<(), clap::Error> {
        let c = cli(&["status", "miner/alice", "-n", "sn1", "-o", "json"])?;
        assert_eq!(c.namespace.as_deref(), Some("sn1"));
        assert_eq!(c.output, Output::Json);
        assert_eq!(
            c.command,
            Command::Status {
                target: "miner/alice".into(),
                name: None,
                block_time: None
            }
        );
        let c = cli(&[
            "-n",
            "x",
            "--output=yaml",
            "status",
            "validator",
            "v",
            "--block-time",
            "250ms",
        ])?;
        assert_eq!(c.output, Output::Yaml);
        assert_eq!(
            c.command,
            Command::Status {
                target: "validator".into(),
                name: Some("v".into()),
                block_time: Some(BlockTime { millis: 250 })
            }
        );
        let c = cli(&["status", "mnr/a"])?;
        assert_eq!(c.output, Output::Table);
        assert_eq!(c.namespace, None);
        Ok(())
    }

    #[test]
    fn diagnose_and_plan_parse() -> Result<(), clap::Error> {
        let c = cli(&["diagnose", "-A"])?;
        assert_eq!(
            c.command,
            Command::Diagnose {
                all_namespaces: true
            }
        );
        let c = cli(&["diagnose"])?;
        assert_eq!(
            c.command,
            Command::Diagnose {
                all_namespaces: false
            }
        );
        let c = cli(&[
            "plan",
            "miner/m",
            "--kubeconfig",
            "/tmp/kc",
            "--context",
            "ro",
        ])?;
        assert_eq!(c.kubeconfig, Some(PathBuf::from("/tmp/kc")));
        assert_eq!(c.context.as_deref(), Some("ro"));
        Ok(())
    }

    #[test]
    fn clap_refuses_what_it_cannot_read() {
        for args in [
            &["status"][..],
            &["status", "miner/a", "-o", "xml"],
            &["status", "miner/a", "--block-time", "12"],
            &["frobnicate"],
            &[],
        ] {
            assert!(cli(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn fleet_refs_parse_like_kubectl() -> Result<(), Error> {
        let r = FleetRef::parse("miner/alice", None)?;
        assert_eq!((r.kind, r.name.as_str()), (Kind::Miner, "alice"));
        let r = FleetRef::parse("validators.subnet-operator.io/v-1", None)?;
        assert_eq!((r.kind, r.name.as_str()), (Kind::Validator, "v-1"));
        let r = FleetRef::parse("Miner", Some("m"))?;
        assert_eq!((r.kind, r.name.as_str()), (Kind::Miner, "m"));
        Ok(())
    }

    #[test]
    fn bad_fleet_refs_say_what_is_wrong() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            (
                "foo/bar",
                None,
                "unknown kind \"foo\": use miner/NAME or validator/NAME",
            ),
            ("alice", None, "expected KIND/NAME"),
            ("miner/", None, "\"\" is not a miner name"),
            ("miner/Alice", None, "\"Alice\" is not a miner name"),
            ("miner/a/b", None, "\"a/b\" is not a miner name"),
            ("miner/a", Some("b"), "not both"),
            ("pod", Some("x"), "unknown kind \"pod\""),
        ];
        for (target, name, want) in cases {
            match FleetRef::parse(target, *name) {
                Ok(r) => panic!("{target} {name:?} parsed as {r:?}"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{target} {name:?}: {msg}");
                    assert_eq!(e.exit_code(), 2, "{msg}");
                }
            }
        }
    }

    #[test]
    fn block_times_have_units() {
        assert_eq!(parse_block_time("12s"), Ok(BlockTime::NORMAL));
        assert_eq!(parse_block_time("250ms"), Ok(BlockTime::FAST));
        assert_eq!(parse_block_time("1m"), Ok(BlockTime { millis: 60_000 }));
        assert_eq!(BlockTime::NORMAL.blocks_per_day(), 7200);
        assert_eq!(BlockTime::FAST.blocks_per_day(), 345_600);
        for bad in ["12", "0s", "-1s", "s", "1.5s", "2d", "1441m"] {
            assert!(parse_block_time(bad).is_err(), "{bad}");
        }
    }
}
