//! Types shared by the three kinds: references, TAO amounts, conditions.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use schemars::{Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Regular expression for an amount of TAO written as a decimal string with at most 8 integer
/// digits and at most 9 decimals (1 TAO = 10^9 rao), e.g. `"0.5"` or `"1000"`. Strings avoid
/// floating point in the API; 8 digits cover the total supply (21M TAO) and keep every amount
/// within `u64` rao. The patterns below contain no `\` or `'`, so they can be pasted into CEL
/// string literals as they are.
pub const TAO_PATTERN: &str = r"^[0-9]{1,8}([.][0-9]{1,9})?$";

/// Regular expression for a TAO amount that is zero (`"0"`, `"0.0"`, `"000"`).
pub const ZERO_TAO_PATTERN: &str = r"^0+([.]0+)?$";

/// Regular expression for an SS58 address with the generic Substrate prefix 42 (starts with `5`).
pub const SS58_PATTERN: &str = r"^5[1-9A-HJ-NP-Za-km-z]{47}$";

/// Regular expression for a duration such as `30m`, `24h`, `7d` or `1h30m` (at most 9 digits
/// per number, so [`parse_duration_secs`] cannot overflow).
pub const DURATION_PATTERN: &str = r"^([0-9]{1,9}(s|m|h|d))+$";

/// Regular expression for a duration that is zero (`0s`, `0m0s`).
pub const ZERO_DURATION_PATTERN: &str = r"^(0+(s|m|h|d))+$";

/// Regular expression for a DNS-1123 subdomain (names of Secrets, ServiceAccounts, classes);
/// the length (at most 253) is bounded separately.
pub const DNS1123_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// Regular expression for a DNS-1035 label (Service names); the length is bounded separately.
pub const DNS1035_LABEL_PATTERN: &str = r"^[a-z]([-a-z0-9]*[a-z0-9])?$";

/// Regular expression for a label or annotation key: an optional DNS-subdomain prefix and `/`,
/// then a name of at most 63 characters. The prefix length is checked by
/// [`QUALIFIED_NAME_PREFIX_PATTERN`].
pub const QUALIFIED_NAME_PATTERN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";

/// A key without a prefix, or a prefix of at most 253 characters.
pub const QUALIFIED_NAME_PREFIX_PATTERN: &str = r"^([^/]*|[^/]{1,253}/.*)$";

/// Regular expression for a label value (at most 63 characters).
pub const LABEL_VALUE_PATTERN: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$";

/// Regular expression for an absolute path in a container: `/`-separated segments of letters,
/// digits, `.`, `_` and `-`; not `/` alone, no `//`, no trailing `/`.
pub const PATH_PATTERN: &str = r"^(/[A-Za-z0-9._-]+)+$";

/// A path with a `.` or `..` segment.
pub const DOT_SEGMENT_PATTERN: &str = r"(^|/)[.][.]?(/|$)";

/// A path that is or is under a directory the container needs for itself: `/tmp` (the pod's
/// scratch mount), `/proc`, `/sys`, `/dev` and `/etc`.
pub const SYSTEM_PATH_PATTERN: &str = r"^/(tmp|proc|sys|dev|etc)(/|$)";

/// Longest Miner or Validator name: children are named `<name>-<index>` (StatefulSets and
/// NodePort Services, DNS-1035 labels), and a StatefulSet's `controller-revision-hash` label
/// (`<statefulset>-<10 character hash>`, at most 63) overflows from about 48 characters.
pub const MAX_FLEET_NAME: usize = 40;

/// Rao per TAO.
pub const RAO_PER_TAO: u64 = 1_000_000_000;

/// A reference to an object of a known kind in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectRef {
    /// Name of the object, in the namespace of the referring resource.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new(format!("self.matches('{DNS1123_SUBDOMAIN_PATTERN}')")).message("subnetRef.name must be a Subnet name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"))]
    pub name: String,
}

/// A key of a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret, in the namespace of the referring resource.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new(format!("self.matches('{DNS1123_SUBDOMAIN_PATTERN}')")).message("a Secret name may only contain lowercase letters, digits, '-' and '.', and must start and end with a letter or digit"))]
    pub name: String,
    /// Key inside the Secret's `data`. Each kind documents its default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[-._a-zA-Z0-9]+$') && self != '.' && self != '..'").message("a Secret key may only contain letters, digits, '-', '_' and '.' (and is not '.' or '..')"))]
    pub key: Option<String>,
}

impl SecretKeyRef {
    /// The key to read, falling back to `default` when none is set.
    pub fn key_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.key.as_deref().unwrap_or(default)
    }
}

/// Converts a TAO amount string (validated by [`TAO_PATTERN`]) to rao without floating point.
///
/// Returns `None` for anything that is not a non-negative decimal with at most 9 decimals or
/// that overflows `u64`.
pub fn tao_to_rao(tao: &str) -> Option<u64> {
    let (whole, frac) = match tao.split_once('.') {
        Some((w, f)) => (w, f),
        None => (tao, ""),
    };
    if whole.is_empty()
        || frac.len() > 9
        || (tao.contains('.') && frac.is_empty())
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let frac_rao: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    whole.checked_mul(RAO_PER_TAO)?.checked_add(frac_rao)
}

/// Formats rao as a TAO decimal string with trailing zeros removed (`1500000000` → `"1.5"`).
pub fn rao_to_tao(rao: u64) -> String {
    let whole = rao / RAO_PER_TAO;
    let frac = rao % RAO_PER_TAO;
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:09}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// Parses a duration written as in [`DURATION_PATTERN`] (`30m`, `24h`, `7d`, `1h30m`) to seconds.
pub fn parse_duration_secs(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    if !num.is_empty() {
        return None;
    }
    Some(total)
}

/// Schema for `conditions`: a list of `meta/v1 Condition` keyed by `type`, so server-side apply
/// merges conditions by type.
pub fn conditions_schema(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<Condition>();
    json_schema!({
        "description": "Conditions of the resource, one per type (Kubernetes meta/v1 Condition).",
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": item,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tao_round_trips_through_rao() {
        assert_eq!(tao_to_rao("1"), Some(1_000_000_000));
        assert_eq!(tao_to_rao("0.5"), Some(500_000_000));
        assert_eq!(tao_to_rao("0.000000001"), Some(1));
        assert_eq!(tao_to_rao("12.345"), Some(12_345_000_000));
        assert_eq!(rao_to_tao(1_500_000_000), "1.5");
        assert_eq!(rao_to_tao(1), "0.000000001");
        assert_eq!(rao_to_tao(0), "0");
        for s in ["0.1", "1000", "3.14159", "0.000000123"] {
            assert_eq!(rao_to_tao(tao_to_rao(s).unwrap_or_default()), s);
        }
    }

    #[test]
    fn the_largest_admitted_tao_amount_fits_u64_rao() {
        // TAO_PATTERN admits at most 8 integer digits and 9 decimals.
        assert_eq!(
            tao_to_rao("99999999.999999999"),
            Some(99_999_999_999_999_999)
        );
        // At most 9 digits per number in DURATION_PATTERN, and 32 characters: no overflow.
        assert_eq!(
            parse_duration_secs("999999999d999999999h999999999m"),
            Some(999_999_999 * (86_400 + 3600 + 60))
        );
    }

    #[test]
    fn bad_tao_amounts_are_rejected() {
        for s in [
            "",
            ".5",
            "1.",
            "-1",
            "1e9",
            "0.0000000001",
            "abc",
            "1.2.3",
            "99999999999999999999",
        ] {
            assert_eq!(tao_to_rao(s), None, "{s:?}");
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration_secs("30m"), Some(1800));
        assert_eq!(parse_duration_secs("24h"), Some(86_400));
        assert_eq!(parse_duration_secs("7d"), Some(604_800));
        assert_eq!(parse_duration_secs("1h30m"), Some(5400));
        for bad in ["", "h", "10", "5w", "1.5h"] {
            assert_eq!(parse_duration_secs(bad), None, "{bad:?}");
        }
    }
}
