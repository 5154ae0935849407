//! What a fleet's `template` may put into a pod, and which Secrets a hotkey import may read.
//!
//! Whoever may create a Miner or Validator must not get, through the operator, a key they
//! could not read themselves (the operator is a confused deputy otherwise): a pod gets its own
//! hotkey and the coldkey's public file, mounted by the operator, and nothing else that holds a
//! secret or reaches the node. The rules (documented in `docs/security.md`, "What a template may
//! do"):
//!
//! - volumes: only `emptyDir`, `configMap`, `persistentVolumeClaim`, `ephemeral` (without a
//!   fixed `volumeName`), `downwardAPI` and `image`; the operator's volume names are reserved;
//! - volume mounts: only template volumes, never at or under `wallet.path`, `/tmp` or
//!   `storage.mountPath` (the operator's mounts), never over `/`;
//! - env: every entry named, none reading a Secret, none setting a variable the operator
//!   injects; envFrom: no `secretRef`;
//! - security contexts: merged over the hardened defaults (see
//!   [`crate::controller::build::pod::container_security_context`]); nothing that undoes them
//!   (privileged, privilege escalation, added capabilities, root UID or GID, unmasked `/proc`,
//!   unconfined seccomp or AppArmor, privileged SELinux types, Windows host processes, sysctls);
//! - no ServiceAccount token (`automountServiceAccountToken: true`), no legacy security-profile
//!   annotations;
//! - hotkey imports: never from a Secret the fleet names as its coldkeyPub or registration
//!   signer (the checks that need the Secret's content are in [`crate::controller::keys`]).
//!
//! Everything here is pure: [`check`] runs from [`crate::controller::validate::fleet`], before
//! the operator creates anything for the fleet.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    AppArmorProfile, SELinuxOptions, SeccompProfile, Volume, WindowsSecurityContextOptions,
};

use super::build::pod::{INJECTED_ENV, OPERATOR_VOLUMES, TMP_PATH};
use super::problem::Problem;
use crate::crd::fleet::FleetSpec;

/// One broken rule: where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The offending field, e.g. `template.volumes[1] (name "keys")`.
    pub field: String,
    /// What is wrong and why it is refused.
    pub reason: String,
}

/// Volume sources a template may use: none of them can carry a Secret or reach the node.
pub const ALLOWED_VOLUME_SOURCES: &[&str] = &[
    "emptyDir",
    "configMap",
    "persistentVolumeClaim",
    "ephemeral",
    "downwardAPI",
    "image",
];

/// SELinux types a template may ask for (those of the Pod Security Standards' baseline).
pub const ALLOWED_SELINUX_TYPES: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// Annotation prefixes that set security profiles outside the security context.
pub const LEGACY_PROFILE_ANNOTATIONS: &[&str] = &[
    "container.apparmor.security.beta.kubernetes.io/",
    "seccomp.security.alpha.kubernetes.io/",
    "container.seccomp.security.alpha.kubernetes.io/",
];

/// Where a fleet names Secrets that hold signing keys or the coldkey's public file, as JSON
/// pointers into a Miner or Validator object, with what they are.
pub const SIGNER_SECRET_FIELDS: &[(&str, &str)] = &[
    (
        "/spec/wallet/coldkeyPub/secretRef/name",
        "wallet.coldkeyPub.secretRef (the coldkey's public file)",
    ),
    (
        "/spec/wallet/registrationSigner/proxy/secretRef/name",
        "wallet.registrationSigner.proxy.secretRef (the registration proxy key)",
    ),
    (
        "/spec/wallet/registrationSigner/coldkey/secretRef/name",
        "wallet.registrationSigner.coldkey.secretRef (the coldkey keyfile)",
    ),
    (
        "/spec/wallet/registrationSigner/coldkey/passwordSecretRef/name",
        "wallet.registrationSigner.coldkey.passwordSecretRef (the coldkey's password)",
    ),
];

/// Checks `spec` against the policy; the first problem (hotkey imports first, then the
/// template, whose message also counts the other violations).
pub fn check(spec: &FleetSpec) -> Result<(), Problem> {
    if let Some(p) = import_problems(spec).into_iter().next() {
        return Err(p);
    }
    let all = violations(spec);
    let Some(first) = all.first() else {
        return Ok(());
    };
    let mut reason = first.reason.clone();
    if all.len() > 1 {
        let others: Vec<&str> = all[1..].iter().map(|v| v.field.as_str()).collect();
        reason.push_str(&format!(
            " (and {} more: {})",
            others.len(),
            others.join("; ")
        ));
    }
    Err(Problem::TemplatePolicy {
        field: first.field.clone(),
        reason,
    })
}

/// The Secrets `object` (a Miner or Validator as JSON) names as coldkeyPub or registration
/// signer, with what each is (see [`SIGNER_SECRET_FIELDS`]).
pub fn signer_secrets(object: &serde_json::Value) -> Vec<(String, &'static str)> {
    SIGNER_SECRET_FIELDS
        .iter()
        .filter_map(|(pointer, what)| {
            let name = object.pointer(pointer)?.as_str()?;
            Some((name.to_string(), *what))
        })
        .collect()
}

/// Hotkey imports that read a Secret the fleet itself names as coldkeyPub or registration
/// signer: importing it would copy the signer's key into a hotkey Secret and a pod.
pub fn import_problems(spec: &FleetSpec) -> Vec<Problem> {
    let mut signers: Vec<(&str, &str)> = vec![];
    let w = &spec.wallet;
    if let Some(r) = &w.coldkey_pub.secret_ref {
        signers.push((&r.name, SIGNER_SECRET_FIELDS[0].1));
    }
    if let Some(s) = &w.registration_signer {
        if let Some(p) = &s.proxy {
            signers.push((&p.secret_ref.name, SIGNER_SECRET_FIELDS[1].1));
        }
        if let Some(c) = &s.coldkey {
            signers.push((&c.secret_ref.name, SIGNER_SECRET_FIELDS[2].1));
            signers.push((&c.password_secret_ref.name, SIGNER_SECRET_FIELDS[3].1));
        }
    }
    w.hotkeys
        .imports
        .iter()
        .enumerate()
        .filter_map(|(pos, i)| {
            let (_, what) = signers.iter().find(|(n, _)| *n == i.secret_ref.name)?;
            Some(Problem::InvalidHotkeyImport {
                name: i.secret_ref.name.clone(),
                index: i.index,
                reason: format!(
                    "wallet.hotkeys.imports[{pos}].secretRef names the Secret of {what}; a hotkey \
                     import may not copy a signer's key into a hotkey Secret and a pod"
                ),
            })
        })
        .collect()
}

/// Every way `spec.template` breaks the policy, in field order.
pub fn violations(spec: &FleetSpec) -> Vec<Violation> {
    let mut out = vec![];
    let t = &spec.template;
    let mut v = |field: String, reason: String| out.push(Violation { field, reason });

    // Volumes.
    let mut names = BTreeSet::new();
    for (i, vol) in t.volumes.iter().enumerate() {
        let field = format!("template.volumes[{i}] (name {:?})", vol.name);
        if vol.name.is_empty() {
            v(field.clone(), "a volume needs a name".into());
        } else if OPERATOR_VOLUMES.contains(&vol.name.as_str()) {
            v(
                field.clone(),
                format!(
                    "the name {:?} is reserved for the operator's own volumes ({})",
                    vol.name,
                    OPERATOR_VOLUMES.join(", ")
                ),
            );
        } else if !names.insert(vol.name.as_str()) {
            v(
                field.clone(),
                format!("two template volumes are named {:?}", vol.name),
            );
        }
        for source in volume_sources(vol) {
            if !ALLOWED_VOLUME_SOURCES.contains(&source.as_str()) {
                v(field.clone(), refused_source(&source));
            }
        }
        if vol
            .ephemeral
            .as_ref()
            .and_then(|e| e.volume_claim_template.as_ref())
            .is_some_and(|c| c.spec.volume_name.is_some())
        {
            v(
                field.clone(),
                "ephemeral.volumeClaimTemplate.spec.volumeName is not allowed: it binds an \
                 existing PersistentVolume (which may be a hostPath volume); let the claim be \
                 provisioned"
                    .into(),
            );
        }
    }

    // Volume mounts.
    let wallet = lenient_components(&spec.wallet.path);
    let mut reserved: Vec<(Vec<&str>, String)> = vec![
        (
            wallet,
            format!(
                "wallet.path {:?}, where the operator mounts the wallet",
                spec.wallet.path
            ),
        ),
        (
            lenient_components(TMP_PATH),
            format!("{TMP_PATH}, where the operator mounts its scratch volume"),
        ),
    ];
    if let Some(s) = &spec.storage {
        reserved.push((
            lenient_components(&s.mount_path),
            format!(
                "storage.mountPath {:?}, where the operator mounts the replica's volume",
                s.mount_path
            ),
        ));
    }
    for (i, m) in t.volume_mounts.iter().enumerate() {
        let field = format!("template.volumeMounts[{i}] (name {:?})", m.name);
        if !t.volumes.iter().any(|vol| vol.name == m.name) {
            let reason = if OPERATOR_VOLUMES.contains(&m.name.as_str()) {
                format!(
                    "mounts the operator's volume {:?}; a template may mount only volumes of \
                     template.volumes",
                    m.name
                )
            } else {
                format!("names no volume of template.volumes ({:?})", m.name)
            };
            v(field.clone(), reason);
        }
        match strict_components(&m.mount_path) {
            Err(why) => v(field, format!("mountPath {:?} {why}", m.mount_path)),
            Ok(path) if path.is_empty() => v(
                field,
                "mountPath \"/\" would mount over the root filesystem".into(),
            ),
            Ok(path) => {
                for (base, what) in &reserved {
                    if path.starts_with(base) {
                        v(
                            field.clone(),
                            format!("mountPath {:?} is at or under {what}", m.mount_path),
                        );
                    }
                }
            }
        }
    }

    // Environment.
    for (i, e) in t.env.iter().enumerate() {
        let field = format!("template.env[{i}] (name {:?})", e.name);
        if e.name.is_empty() {
            v(field.clone(), "an environment variable needs a name".into());
        }
        if INJECTED_ENV.contains(&e.name.as_str()) {
            v(
                field.clone(),
                format!(
                    "{} is set by the operator and may not be overridden",
                    e.name
                ),
            );
        }
        if e.value_from
            .as_ref()
            .is_some_and(|f| f.secret_key_ref.is_some())
        {
            v(
                field,
                "valueFrom.secretKeyRef is not allowed: environment variables may not read \
                 Secrets (a pod gets only its own hotkey, which the operator mounts)"
                    .into(),
            );
        }
    }
    for (i, e) in t.env_from.iter().enumerate() {
        if e.secret_ref.is_some() {
            v(
                format!("template.envFrom[{i}]"),
                "secretRef is not allowed: environment variables may not read Secrets (a pod \
                 gets only its own hotkey, which the operator mounts)"
                    .into(),
            );
        }
    }

    // The ServiceAccount token and legacy profile annotations.
    if t.automount_service_account_token == Some(true) {
        v(
            "template.automountServiceAccountToken".into(),
            "true is not allowed: the ServiceAccount token is never mounted into a replica's \
             pod (with it the pod could read Secrets through the API)"
                .into(),
        );
    }
    for key in t.annotations.keys() {
        if LEGACY_PROFILE_ANNOTATIONS
            .iter()
            .any(|p| key.starts_with(p))
        {
            v(
                format!("template.annotations[{key:?}]"),
                "security profiles are set through securityContext, not annotations".into(),
            );
        }
    }

    // Security contexts.
    if let Some(sc) = &t.security_context {
        let f = |name: &str| format!("template.securityContext.{name}");
        if sc.privileged == Some(true) {
            v(
                f("privileged"),
                "true is not allowed: a privileged container reaches the node, and with it \
                 every Secret mounted there"
                    .into(),
            );
        }
        if sc.allow_privilege_escalation == Some(true) {
            v(
                f("allowPrivilegeEscalation"),
                "true is not allowed: the container stays without privilege escalation".into(),
            );
        }
        if sc
            .capabilities
            .as_ref()
            .and_then(|c| c.add.as_ref())
            .is_some_and(|a| !a.is_empty())
        {
            v(
                f("capabilities.add"),
                "adding capabilities is not allowed: every capability is dropped".into(),
            );
        }
        ids(
            &mut v,
            &f,
            sc.run_as_user,
            sc.run_as_group,
            sc.run_as_non_root,
        );
        if let Some(p) = sc.proc_mount.as_deref().filter(|p| *p != "Default") {
            v(
                f("procMount"),
                format!("{p:?} is not allowed: only Default (Unmasked exposes the node's /proc)"),
            );
        }
        profiles(
            &mut v,
            &f,
            sc.seccomp_profile.as_ref(),
            sc.app_armor_profile.as_ref(),
            sc.se_linux_options.as_ref(),
            sc.windows_options.as_ref(),
        );
    }
    if let Some(sc) = &t.pod_security_context {
        let f = |name: &str| format!("template.podSecurityContext.{name}");
        ids(
            &mut v,
            &f,
            sc.run_as_user,
            sc.run_as_group,
            sc.run_as_non_root,
        );
        if sc.fs_group == Some(0) {
            v(
                f("fsGroup"),
                "0 is not allowed: no root group (GID 0)".into(),
            );
        }
        if sc
            .supplemental_groups
            .as_ref()
            .is_some_and(|g| g.contains(&0))
        {
            v(
                f("supplementalGroups"),
                "0 is not allowed: no root group (GID 0)".into(),
            );
        }
        if sc.sysctls.as_ref().is_some_and(|s| !s.is_empty()) {
            v(
                f("sysctls"),
                "sysctls are not allowed: they change the node's kernel settings for the pod"
                    .into(),
            );
        }
        profiles(
            &mut v,
            &f,
            sc.seccomp_profile.as_ref(),
            sc.app_armor_profile.as_ref(),
            sc.se_linux_options.as_ref(),
            sc.windows_options.as_ref(),
        );
    }
    out
}

/// The user and group rules shared by the container and pod security contexts.
fn ids(
    v: &mut impl FnMut(String, String),
    f: &impl Fn(&str) -> String,
    user: Option<i64>,
    group: Option<i64>,
    non_root: Option<bool>,
) {
    if user == Some(0) {
        v(
            f("runAsUser"),
            "0 is not allowed: replicas never run as root".into(),
        );
    }
    if group == Some(0) {
        v(
            f("runAsGroup"),
            "0 is not allowed: no root group (GID 0)".into(),
        );
    }
    if non_root == Some(false) {
        v(
            f("runAsNonRoot"),
            "false is not allowed: replicas never run as root".into(),
        );
    }
}

/// The seccomp, AppArmor, SELinux and Windows rules shared by both security contexts.
fn profiles(
    v: &mut impl FnMut(String, String),
    f: &impl Fn(&str) -> String,
    seccomp: Option<&SeccompProfile>,
    apparmor: Option<&AppArmorProfile>,
    selinux: Option<&SELinuxOptions>,
    windows: Option<&WindowsSecurityContextOptions>,
) {
    if let Some(p) = seccomp.filter(|p| !matches!(p.type_.as_str(), "RuntimeDefault" | "Localhost"))
    {
        v(
            f("seccompProfile.type"),
            format!(
                "{:?} is not allowed: only RuntimeDefault or Localhost (Unconfined turns the \
                 syscall filter off)",
                p.type_
            ),
        );
    }
    if let Some(p) =
        apparmor.filter(|p| !matches!(p.type_.as_str(), "RuntimeDefault" | "Localhost"))
    {
        v(
            f("appArmorProfile.type"),
            format!(
                "{:?} is not allowed: only RuntimeDefault or Localhost",
                p.type_
            ),
        );
    }
    if let Some(s) = selinux {
        let t = s.type_.as_deref().unwrap_or_default();
        if !ALLOWED_SELINUX_TYPES.contains(&t) {
            v(
                f("seLinuxOptions.type"),
                format!(
                    "{t:?} is not allowed: only {} (others, such as spc_t, lift the container's \
                     confinement)",
                    ALLOWED_SELINUX_TYPES[1..].join(", ")
                ),
            );
        }
        if s.user.as_deref().is_some_and(|u| !u.is_empty())
            || s.role.as_deref().is_some_and(|r| !r.is_empty())
        {
            v(
                f("seLinuxOptions"),
                "user and role are not allowed: only type and level".into(),
            );
        }
    }
    if windows.and_then(|w| w.host_process) == Some(true) {
        v(
            f("windowsOptions.hostProcess"),
            "true is not allowed: a host process runs on the node itself".into(),
        );
    }
}

/// The sources a volume sets (its fields other than `name`, as the API spells them).
fn volume_sources(vol: &Volume) -> Vec<String> {
    match serde_json::to_value(vol) {
        Ok(serde_json::Value::Object(m)) => m.keys().filter(|k| *k != "name").cloned().collect(),
        _ => vec!["(unreadable)".to_string()],
    }
}

fn refused_source(source: &str) -> String {
    match source {
        "secret" => "secret volumes are not allowed: a pod gets only its own hotkey, which the \
                     operator mounts"
            .into(),
        "projected" => "projected volumes are not allowed: they can carry Secrets and \
                        ServiceAccount tokens"
            .into(),
        "hostPath" => "hostPath volumes are not allowed: they expose the node's filesystem, and \
                       with it the Secrets of other pods"
            .into(),
        "csi" => "csi volumes are not allowed: CSI drivers such as the Secrets Store driver \
                  mount secrets"
            .into(),
        other => format!(
            "{other} volumes are not allowed: a template volume may only be {}",
            ALLOWED_VOLUME_SOURCES.join(", ")
        ),
    }
}

/// The components of an absolute path, or why it is refused (relative, or with `..`).
fn strict_components(path: &str) -> Result<Vec<&str>, &'static str> {
    if !path.starts_with('/') {
        return Err("must be an absolute path");
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.contains(&"..") {
        return Err("may not contain \"..\"");
    }
    Ok(parts)
}

/// The components of a path the operator mounts at (`..` resolved).
fn lenient_components(path: &str) -> Vec<&str> {
    let mut out = vec![];
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::Miner;

    const BASE: &str = r#"
apiVersion: subnet-operator.io/v1alpha1
kind: Miner
metadata: {name: m, namespace: ns}
spec:
  subnetRef: {name: sn}
  replicas: 2
  wallet:
    coldkeyPub: {secretRef: {name: cold-pub}}
    registrationSigner:
      proxy: {secretRef: {name: reg-proxy}}
  registration: {mode: Manual}
  storage: {size: 1Gi, mountPath: /models}
  template:
    image: miner:1
"#;

    /// A Miner whose template gets `extra` (YAML lines indented by four spaces).
    fn spec(extra: &str) -> FleetSpec {
        let yaml = format!("{BASE}{extra}\n");
        let m: Miner =
            serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("fixture: {e}\n{yaml}"));
        m.spec.fleet
    }

    fn fields(extra: &str) -> Vec<String> {
        violations(&spec(extra))
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    /// `extra` is refused, with exactly this first field and a reason containing `reason`.
    #[track_caller]
    fn refused(extra: &str, field: &str, reason: &str) {
        match check(&spec(extra)) {
            Err(Problem::TemplatePolicy {
                field: f,
                reason: r,
            }) => {
                assert_eq!(f, field, "{extra}");
                assert!(r.contains(reason), "{r:?} lacks {reason:?}");
            }
            other => panic!("{extra}: expected TemplatePolicy, got {other:?}"),
        }
    }

    #[track_caller]
    fn accepted(extra: &str) {
        assert_eq!(check(&spec(extra)), Ok(()), "{extra}");
    }

    #[test]
    fn the_plain_template_is_accepted() {
        accepted("");
    }

    #[test]
    fn harmless_volume_sources_are_accepted() {
        accepted(
            r#"    volumes:
      - {name: scratch, emptyDir: {}}
      - {name: conf, configMap: {name: miner-conf}}
      - {name: cache, persistentVolumeClaim: {claimName: cache}}
      - {name: eph, ephemeral: {volumeClaimTemplate: {spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}}}}
      - {name: meta, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}
      - {name: model, image: {reference: "ghcr.io/example/model:1"}}
      - {name: bare}
    volumeMounts:
      - {name: scratch, mountPath: /scratch}
      - {name: conf, mountPath: /etc/miner, readOnly: true}
      - {name: cache, mountPath: /cache, subPath: a}
      - {name: eph, mountPath: /eph}
      - {name: meta, mountPath: /etc/podinfo}
      - {name: model, mountPath: /model}
      - {name: bare, mountPath: /var/run/bittensor}"#,
        );
    }

    #[test]
    fn secret_volumes_are_refused() {
        refused(
            "    volumes: [{name: scratch, emptyDir: {}}, {name: keys, secret: {secretName: reg-proxy}}]",
            r#"template.volumes[1] (name "keys")"#,
            "secret volumes are not allowed",
        );
    }

    #[test]
    fn projected_volumes_are_refused_whatever_they_project() {
        for source in [
            "{secret: {name: reg-proxy}}",
            "{serviceAccountToken: {path: token}}",
            "{configMap: {name: c}}",
        ] {
            refused(
                &format!("    volumes: [{{name: p, projected: {{sources: [{source}]}}}}]"),
                r#"template.volumes[0] (name "p")"#,
                "projected volumes are not allowed",
            );
        }
    }

    #[test]
    fn host_and_driver_volumes_are_refused() {
        refused(
            "    volumes: [{name: root, hostPath: {path: /}}]",
            r#"template.volumes[0] (name "root")"#,
            "hostPath volumes are not allowed",
        );
        refused(
            "    volumes: [{name: s, csi: {driver: secrets-store.csi.k8s.io}}]",
            r#"template.volumes[0] (name "s")"#,
            "csi volumes are not allowed",
        );
        for (source, name) in [
            ("nfs: {server: nas, path: /}", "nfs"),
            ("gitRepo: {repository: https://example.com/x}", "gitRepo"),
            ("flexVolume: {driver: x}", "flexVolume"),
            ("iscsi: {targetPortal: p, iqn: q, lun: 0}", "iscsi"),
        ] {
            refused(
                &format!("    volumes: [{{name: x, {source}}}]"),
                r#"template.volumes[0] (name "x")"#,
                &format!("{name} volumes are not allowed"),
            );
        }
    }

    #[test]
    fn ephemeral_claims_may_not_bind_a_fixed_volume() {
        refused(
            "    volumes: [{name: e, ephemeral: {volumeClaimTemplate: {spec: {volumeName: host-root, accessModes: [ReadWriteOnce]}}}}]",
            r#"template.volumes[0] (name "e")"#,
            "volumeName is not allowed",
        );
    }

    #[test]
    fn volume_names_are_checked() {
        for reserved in ["wallet", "tmp", "data"] {
            refused(
                &format!("    volumes: [{{name: {reserved}, emptyDir: {{}}}}]"),
                &format!("template.volumes[0] (name {reserved:?})"),
                "reserved for the operator",
            );
        }
        refused(
            "    volumes: [{name: a, emptyDir: {}}, {name: a, emptyDir: {}}]",
            r#"template.volumes[1] (name "a")"#,
            "two template volumes",
        );
        refused(
            "    volumes: [{name: '', emptyDir: {}}]",
            r#"template.volumes[0] (name "")"#,
            "needs a name",
        );
    }

    #[test]
    fn mounts_must_name_a_template_volume() {
        refused(
            "    volumeMounts: [{name: wallet, mountPath: /elsewhere}]",
            r#"template.volumeMounts[0] (name "wallet")"#,
            "mounts the operator's volume",
        );
        refused(
            "    volumeMounts: [{name: nothing, mountPath: /x}]",
            r#"template.volumeMounts[0] (name "nothing")"#,
            "names no volume",
        );
    }

    #[test]
    fn mounts_stay_off_the_operators_paths() {
        let vol = "    volumes: [{name: e, emptyDir: {}}]\n";
        for (path, what) in [
            ("/var/run/bittensor/wallets", "wallet.path"),
            ("/var/run/bittensor/wallets/m/hotkeys", "wallet.path"),
            ("/var/run/bittensor//wallets/", "wallet.path"),
            ("/var/run/./bittensor/wallets", "wallet.path"),
            ("/tmp", "/tmp"),
            ("/tmp/x", "/tmp"),
            ("/models", "storage.mountPath"),
            ("/models/cache", "storage.mountPath"),
        ] {
            refused(
                &format!("{vol}    volumeMounts: [{{name: e, mountPath: {path:?}}}]"),
                r#"template.volumeMounts[0] (name "e")"#,
                &format!("is at or under {what}"),
            );
        }
        for (path, why) in [
            ("/var/run/x/../bittensor/wallets", "\"..\""),
            ("relative", "absolute"),
            ("/", "root filesystem"),
        ] {
            refused(
                &format!("{vol}    volumeMounts: [{{name: e, mountPath: {path:?}}}]"),
                r#"template.volumeMounts[0] (name "e")"#,
                why,
            );
        }
        // Near misses are fine.
        accepted(&format!(
            "{vol}    volumeMounts: [{{name: e, mountPath: /tmpfs}}, {{name: e, mountPath: /var/run/bittensor/wallets2}}, {{name: e, mountPath: /model}}]"
        ));
    }

    #[test]
    fn a_custom_wallet_path_is_protected() {
        let mut s = spec(
            "    volumes: [{name: e, emptyDir: {}}]\n    volumeMounts: [{name: e, mountPath: /keys/w}]",
        );
        assert!(violations(&s).is_empty());
        s.wallet.path = "/keys".into();
        assert!(
            violations(&s)
                .iter()
                .any(|v| v.reason.contains("wallet.path \"/keys\""))
        );
    }

    #[test]
    fn env_may_not_read_secrets_or_override_the_operator() {
        accepted(
            r#"    env:
      - {name: EXTRA, value: "1"}
      - {name: FROM_CM, valueFrom: {configMapKeyRef: {name: c, key: k}}}
      - {name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
      - {name: BT_LOGGING_DEBUG, value: "1"}
    envFrom: [{configMapRef: {name: c}, prefix: CFG_}]"#,
        );
        refused(
            "    env: [{name: KEY, valueFrom: {secretKeyRef: {name: reg-proxy, key: mnemonic}}}]",
            r#"template.env[0] (name "KEY")"#,
            "valueFrom.secretKeyRef is not allowed",
        );
        refused(
            "    envFrom: [{configMapRef: {name: c}}, {secretRef: {name: reg-proxy}}]",
            "template.envFrom[1]",
            "secretRef is not allowed",
        );
        refused(
            "    env: [{name: '', value: x}]",
            r#"template.env[0] (name "")"#,
            "needs a name",
        );
        for name in INJECTED_ENV {
            refused(
                &format!("    env: [{{name: OK, value: x}}, {{name: {name}, value: x}}]"),
                &format!("template.env[1] (name {name:?})"),
                "set by the operator",
            );
        }
    }

    #[test]
    fn the_service_account_is_allowed_its_token_is_not() {
        accepted("    serviceAccountName: miner-sa\n    automountServiceAccountToken: false");
        refused(
            "    serviceAccountName: miner-sa\n    automountServiceAccountToken: true",
            "template.automountServiceAccountToken",
            "never mounted",
        );
    }

    #[test]
    fn legacy_profile_annotations_are_refused() {
        accepted("    annotations: {prometheus.io/scrape: 'true'}");
        refused(
            "    annotations: {container.apparmor.security.beta.kubernetes.io/main: unconfined}",
            r#"template.annotations["container.apparmor.security.beta.kubernetes.io/main"]"#,
            "securityContext",
        );
    }

    #[test]
    fn container_contexts_may_tighten_or_pick_ids() {
        accepted(
            r#"    securityContext:
      runAsUser: 1234
      runAsGroup: 1234
      runAsNonRoot: true
      readOnlyRootFilesystem: false
      allowPrivilegeEscalation: false
      privileged: false
      procMount: Default
      capabilities: {drop: [ALL, NET_RAW], add: []}
      seccompProfile: {type: Localhost, localhostProfile: miner.json}
      appArmorProfile: {type: RuntimeDefault}
      seLinuxOptions: {type: container_t, level: "s0:c1,c2"}
      windowsOptions: {hostProcess: false}"#,
        );
    }

    #[test]
    fn container_contexts_may_not_undo_the_hardening() {
        for (setting, field, reason) in [
            ("privileged: true", "privileged", "privileged container"),
            (
                "allowPrivilegeEscalation: true",
                "allowPrivilegeEscalation",
                "privilege escalation",
            ),
            (
                "capabilities: {add: [SYS_ADMIN]}",
                "capabilities.add",
                "adding capabilities",
            ),
            (
                "capabilities: {add: [NET_BIND_SERVICE]}",
                "capabilities.add",
                "adding capabilities",
            ),
            ("runAsUser: 0", "runAsUser", "root"),
            ("runAsGroup: 0", "runAsGroup", "root group"),
            ("runAsNonRoot: false", "runAsNonRoot", "root"),
            ("procMount: Unmasked", "procMount", "Unmasked"),
            (
                "seccompProfile: {type: Unconfined}",
                "seccompProfile.type",
                "Unconfined",
            ),
            (
                "appArmorProfile: {type: Unconfined}",
                "appArmorProfile.type",
                "only RuntimeDefault or Localhost",
            ),
            (
                "seLinuxOptions: {type: spc_t}",
                "seLinuxOptions.type",
                "spc_t",
            ),
            (
                "seLinuxOptions: {user: system_u}",
                "seLinuxOptions",
                "user and role",
            ),
            (
                "windowsOptions: {hostProcess: true}",
                "windowsOptions.hostProcess",
                "host process",
            ),
        ] {
            refused(
                &format!("    securityContext: {{{setting}}}"),
                &format!("template.securityContext.{field}"),
                reason,
            );
        }
    }

    #[test]
    fn pod_contexts_may_pick_ids_but_not_undo_the_hardening() {
        accepted(
            "    podSecurityContext: {runAsUser: 1234, runAsGroup: 1234, fsGroup: 2000, supplementalGroups: [3000], runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}",
        );
        for (setting, field, reason) in [
            ("runAsUser: 0", "runAsUser", "root"),
            ("runAsGroup: 0", "runAsGroup", "root group"),
            ("runAsNonRoot: false", "runAsNonRoot", "root"),
            ("fsGroup: 0", "fsGroup", "root group"),
            (
                "supplementalGroups: [5, 0]",
                "supplementalGroups",
                "root group",
            ),
            (
                "sysctls: [{name: kernel.shm_rmid_forced, value: '1'}]",
                "sysctls",
                "sysctls are not allowed",
            ),
            (
                "seccompProfile: {type: Unconfined}",
                "seccompProfile.type",
                "Unconfined",
            ),
            (
                "appArmorProfile: {type: Unconfined}",
                "appArmorProfile.type",
                "Unconfined",
            ),
            (
                "seLinuxOptions: {type: unconfined_t}",
                "seLinuxOptions.type",
                "unconfined_t",
            ),
            (
                "windowsOptions: {hostProcess: true}",
                "windowsOptions.hostProcess",
                "host process",
            ),
        ] {
            refused(
                &format!("    podSecurityContext: {{{setting}}}"),
                &format!("template.podSecurityContext.{field}"),
                reason,
            );
        }
    }

    #[test]
    fn every_violation_is_found_and_counted() {
        let extra = r#"    volumes: [{name: keys, secret: {secretName: x}}, {name: root, hostPath: {path: /}}]
    env: [{name: K, valueFrom: {secretKeyRef: {name: x, key: k}}}]
    securityContext: {privileged: true}"#;
        assert_eq!(
            fields(extra),
            vec![
                r#"template.volumes[0] (name "keys")"#,
                r#"template.volumes[1] (name "root")"#,
                r#"template.env[0] (name "K")"#,
                "template.securityContext.privileged",
            ]
        );
        match check(&spec(extra)) {
            Err(p @ Problem::TemplatePolicy { .. }) => {
                assert_eq!(p.reason(), "TemplatePolicy");
                let msg = p.to_string();
                assert!(
                    msg.starts_with(r#"template.volumes[0] (name "keys"): secret volumes"#),
                    "{msg}"
                );
                assert!(msg.contains("(and 3 more: "), "{msg}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn imports_may_not_read_the_signers_secrets() {
        let with_import = |wallet_extra: &str, name: &str| {
            let yaml = BASE.replace(
                "      proxy: {secretRef: {name: reg-proxy}}",
                &format!(
                    "{wallet_extra}\n    hotkeys:\n      imports: [{{index: 1, secretRef: {{name: {name}}}, format: Keyfile}}]"
                ),
            );
            let m: Miner = serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
            m.spec.fleet
        };
        let proxy = "      proxy: {secretRef: {name: reg-proxy}}";
        let coldkey =
            "      coldkey: {secretRef: {name: cold}, passwordSecretRef: {name: cold-pw}}";
        for (signer, name, what) in [
            (proxy, "reg-proxy", "registration proxy key"),
            (proxy, "cold-pub", "coldkey's public file"),
            (coldkey, "cold", "coldkey keyfile"),
            (coldkey, "cold-pw", "coldkey's password"),
        ] {
            let s = with_import(signer, name);
            match check(&s) {
                Err(Problem::InvalidHotkeyImport {
                    name: n,
                    index,
                    reason,
                }) => {
                    assert_eq!((n.as_str(), index), (name, 1));
                    assert!(
                        reason.contains("wallet.hotkeys.imports[0].secretRef"),
                        "{reason}"
                    );
                    assert!(reason.contains(what), "{reason}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        // Another Secret is fine here (its content is checked when it is read).
        assert_eq!(check(&with_import(proxy, "hk-1")), Ok(()));
    }

    #[test]
    fn signer_secrets_are_read_from_any_fleet_object() {
        let v = serde_json::json!({"spec": {"wallet": {
            "coldkeyPub": {"ss58": "5x"},
            "registrationSigner": {"coldkey": {
                "secretRef": {"name": "cold"}, "passwordSecretRef": {"name": "pw"}}}}}});
        let names: Vec<String> = signer_secrets(&v).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["cold", "pw"]);
        assert!(signer_secrets(&serde_json::json!({"spec": 3})).is_empty());
    }

    mod properties {
        use super::*;
        use crate::controller::build::fixtures::{input, replica};
        use crate::controller::build::pod::pod_template;
        use proptest::prelude::*;

        fn fragment() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("volumes: [{name: v, secret: {secretName: cold}}]"),
                Just("volumes: [{name: v, projected: {sources: [{secret: {name: cold}}]}}]"),
                Just(
                    "volumes: [{name: v, projected: {sources: [{serviceAccountToken: {path: t}}]}}]"
                ),
                Just("volumes: [{name: v, hostPath: {path: /}}]"),
                Just("volumes: [{name: v, csi: {driver: secrets-store.csi.k8s.io}}]"),
                Just("volumes: [{name: v, emptyDir: {}}]"),
                Just("volumes: [{name: v, configMap: {name: c}}]"),
                Just("volumes: [{name: wallet, emptyDir: {}}]"),
                Just("volumeMounts: [{name: v, mountPath: /var/run/bittensor/wallets}]"),
                Just("volumeMounts: [{name: v, mountPath: /work}]"),
                Just("volumeMounts: [{name: wallet, mountPath: /w}]"),
                Just("env: [{name: A, valueFrom: {secretKeyRef: {name: cold, key: coldkey}}}]"),
                Just("env: [{name: BT_WALLET_PATH, value: /x}]"),
                Just("env: [{name: A, value: b}]"),
                Just("envFrom: [{secretRef: {name: cold}}]"),
                Just("envFrom: [{configMapRef: {name: c}}]"),
                Just("serviceAccountName: sa"),
                Just("automountServiceAccountToken: true"),
                Just("securityContext: {privileged: true}"),
                Just("securityContext: {allowPrivilegeEscalation: true}"),
                Just("securityContext: {capabilities: {add: [SYS_ADMIN], drop: []}}"),
                Just("securityContext: {runAsUser: 0}"),
                Just("securityContext: {runAsUser: 1234, readOnlyRootFilesystem: false}"),
                Just("securityContext: {runAsNonRoot: false}"),
                Just("securityContext: {seccompProfile: {type: Unconfined}}"),
                Just("podSecurityContext: {runAsUser: 0}"),
                Just("podSecurityContext: {fsGroup: 2000}"),
                Just("podSecurityContext: {sysctls: [{name: a, value: b}]}"),
            ]
            .prop_map(str::to_string)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Whatever template fragments are combined, a template the policy accepts builds a
            /// pod that reaches no Secret but its own hotkey and the coldkey's public file, no
            /// ServiceAccount token, nothing of the node, and keeps the hardening.
            #[test]
            fn accepted_templates_build_only_safe_pods(frags in proptest::collection::btree_map(0usize..8, fragment(), 0..5)) {
                // One fragment per template key (YAML keys must be unique).
                let mut by_key = std::collections::BTreeMap::new();
                for f in frags.values() {
                    let key = f.split(':').next().unwrap_or_default().to_string();
                    by_key.insert(key, f.clone());
                }
                let extra: String = by_key.values().map(|f| format!("    {f}\n")).collect();
                let yaml = format!("{BASE}{extra}");
                let m: Miner = match serde_yaml::from_str(&yaml) {
                    Ok(m) => m,
                    Err(e) => return Err(TestCaseError::fail(format!("{e}\n{yaml}"))),
                };
                if check(&m.spec.fleet).is_err() {
                    return Ok(());
                }
                let pod = pod_template(&input(&m), &replica(0)).spec.unwrap_or_default();
                prop_assert_eq!(pod.automount_service_account_token, Some(false));
                let mut secrets = vec![];
                for v in pod.volumes.iter().flatten() {
                    prop_assert!(v.host_path.is_none() && v.csi.is_none(), "{:?}", v);
                    if let Some(s) = &v.secret {
                        secrets.push(s.secret_name.clone().unwrap_or_default());
                    }
                    for p in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
                        prop_assert!(p.service_account_token.is_none());
                        if let Some(s) = &p.secret {
                            secrets.push(s.name.clone());
                        }
                    }
                }
                prop_assert_eq!(secrets, vec!["m-hotkey-0".to_string(), "m-coldkeypub".to_string()]);
                let c = &pod.containers[0];
                for e in c.env.iter().flatten() {
                    prop_assert!(e.value_from.as_ref().is_none_or(|f| f.secret_key_ref.is_none()));
                }
                for e in c.env_from.iter().flatten() {
                    prop_assert!(e.secret_ref.is_none());
                }
                let wallet_mounts: Vec<_> = c.volume_mounts.iter().flatten()
                    .filter(|m| m.mount_path.starts_with("/var/run/bittensor/wallets"))
                    .map(|m| m.name.clone())
                    .collect();
                prop_assert_eq!(wallet_mounts, vec!["wallet".to_string()]);
                let sc = c.security_context.clone().unwrap_or_default();
                prop_assert_eq!(sc.privileged, None);
                prop_assert_eq!(sc.allow_privilege_escalation, Some(false));
                prop_assert_eq!(sc.run_as_non_root, Some(true));
                prop_assert_ne!(sc.run_as_user, Some(0));
                let caps = sc.capabilities.unwrap_or_default();
                prop_assert!(caps.add.is_none());
                prop_assert!(caps.drop.unwrap_or_default().contains(&"ALL".to_string()));
                prop_assert_eq!(sc.seccomp_profile.map(|p| p.type_), Some("RuntimeDefault".to_string()));
                let psc = pod.security_context.unwrap_or_default();
                prop_assert_eq!(psc.run_as_non_root, Some(true));
                prop_assert_ne!(psc.run_as_user, Some(0));
                prop_assert!(psc.sysctls.is_none());
            }
        }
    }
}
