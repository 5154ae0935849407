//! The spec and status shared by Miners and Validators: replicas of one program on one subnet,
//! each replica one hotkey.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvFromSource, EnvVar, LocalObjectReference, PodSecurityContext, Probe,
    ResourceRequirements, SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::common::{
    DNS1123_SUBDOMAIN_PATTERN, DOT_SEGMENT_PATTERN, DURATION_PATTERN, LABEL_VALUE_PATTERN,
    LocalObjectRef, PATH_PATTERN, QUALIFIED_NAME_PATTERN, QUALIFIED_NAME_PREFIX_PATTERN,
    SYSTEM_PATH_PATTERN, SecretKeyRef, TAO_PATTERN, ZERO_DURATION_PATTERN, ZERO_TAO_PATTERN,
    conditions_schema,
};

/// Default path inside the pod under which the wallet directory is mounted.
pub const DEFAULT_WALLET_PATH: &str = "/var/run/bittensor/wallets";
/// Default axon port.
pub const DEFAULT_AXON_PORT: u16 = 8091;
/// Default GPU resource name.
pub const DEFAULT_GPU_RESOURCE: &str = "nvidia.com/gpu";

/// What Miners and Validators share: N replicas of one program on one subnet, each replica one
/// hotkey, one pod and optionally one volume.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.registration) || !has(self.registration.mode) || self.registration.mode != 'Burn' || has(self.wallet.registrationSigner) || (has(self.registration.dryRun) && self.registration.dryRun)").message("registration.mode Burn needs wallet.registrationSigner (a Registration proxy key or the coldkey), or registration.dryRun: true"))]
#[x_kube(validation = Rule::new("!has(self.storage) || !has(self.storage.mountPath) || !has(self.wallet.path) || (self.storage.mountPath != self.wallet.path && !self.storage.mountPath.startsWith(self.wallet.path + '/'))").message("storage.mountPath must not be wallet.path or a directory under it: the volume and the wallet mount would hide each other"))]
pub struct FleetSpec {
    /// The Subnet (same namespace) these replicas run on. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("subnetRef is immutable"))]
    pub subnet_ref: LocalObjectRef,

    /// Number of replicas (hotkeys). Scale with `kubectl scale`.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 4096))]
    pub replicas: i32,

    /// Replica indices to remove first when scaling in. Without it, scale-in removes the
    /// lowest-incentive replicas, then the highest indices. Their hotkey Secrets are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4096), inner(range(min = 0, max = 4095)))]
    pub remove_replicas: Vec<u32>,

    /// The wallet: the coldkey's public part, who signs registrations, and where hotkeys come
    /// from.
    pub wallet: WalletSpec,

    /// How replicas get registered on the subnet.
    #[serde(default)]
    pub registration: RegistrationSpec,

    /// What runs in each replica's pod.
    pub template: WorkloadTemplate,

    /// GPUs per replica and where they may be scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuSpec>,

    /// The axon: the port the program serves on and how it is exposed outside the cluster.
    #[serde(default)]
    pub axon: AxonSpec,

    /// An optional per-replica volume (for example a model cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,

    /// How template changes roll out.
    #[serde(default)]
    pub update_strategy: UpdateStrategy,
}

/// The wallet of a fleet. The coldkey's secret never enters a workload pod.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WalletSpec {
    /// Wallet name, as the miner program sees it (`BT_WALLET_NAME`). Defaults to the resource's
    /// name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9._-]{1,64}$')").message("wallet.name may only contain letters, digits, '.', '_' and '-' (at most 64)"))]
    #[x_kube(validation = Rule::new("self != '.' && self != '..'").message("wallet.name must not be '.' or '..': it names a directory under wallet.path"))]
    #[schemars(length(max = 64))]
    pub name: Option<String>,

    /// Directory inside the pod under which the wallet is mounted (`BT_WALLET_PATH`): an
    /// absolute path without `.` or `..` segments, not `/`, and not `/tmp`, `/proc`, `/sys`,
    /// `/dev`, `/etc` or under them.
    #[serde(default = "default_wallet_path")]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("wallet.path must be an absolute path such as /var/run/bittensor/wallets"))]
    #[x_kube(validation = Rule::new(format!("self.matches('{PATH_PATTERN}')")).message("wallet.path must be '/'-separated names of letters, digits, '.', '_' and '-': not '/' alone, no '//' and no trailing '/'"))]
    #[x_kube(validation = Rule::new(format!("!self.matches('{DOT_SEGMENT_PATTERN}')")).message("wallet.path must not contain '.' or '..' segments"))]
    #[x_kube(validation = Rule::new(format!("!self.matches('{SYSTEM_PATH_PATTERN}')")).message("wallet.path must not be /tmp, /proc, /sys, /dev or /etc or under them (/tmp is the pod's scratch mount, the others belong to the system)"))]
    #[schemars(length(min = 1, max = 512))]
    pub path: String,

    /// The coldkey's public part: the owner of every hotkey of this fleet.
    pub coldkey_pub: ColdkeyPub,

    /// Who signs registrations. Read only by the operator, never mounted into a pod. Required for
    /// `registration.mode: Burn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_signer: Option<RegistrationSigner>,

    /// Where hotkeys come from: generated by the operator (default), or imported per replica.
    #[serde(default)]
    pub hotkeys: HotkeysSpec,
}

/// The coldkey's public part: an ss58 address, or a Secret holding a btcli `coldkeypub.txt`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.ss58) != has(self.secretRef)").message("coldkeyPub needs exactly one of ss58 or secretRef"))]
pub struct ColdkeyPub {
    /// The coldkey's SS58 address (prefix 42, starts with 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^5[1-9A-HJ-NP-Za-km-z]{47}$')").message("coldkeyPub.ss58 must be an SS58 address (48 base58 characters starting with 5)"))]
    #[schemars(length(max = 48))]
    pub ss58: Option<String>,
    /// A Secret with a btcli `coldkeypub.txt` (key defaults to `coldkeypub.txt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
}

/// Who signs registrations. Exactly one of `proxy` or `coldkey`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.proxy) != has(self.coldkey)").message("registrationSigner needs exactly one of proxy or coldkey"))]
pub struct RegistrationSigner {
    /// Preferred: a key the coldkey has made its on-chain `Registration` proxy
    /// (`Proxy.add_proxy(delegate, Registration, 0)`). The burn is paid by the coldkey, which
    /// stays offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxySigner>,
    /// Allowed: the coldkey itself, as a btcli encrypted keyfile plus its password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coldkey: Option<ColdkeySigner>,
}

/// A Registration-proxy key.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProxySigner {
    /// Secret with the proxy key (key defaults to `mnemonic` for `Mnemonic`, `keyfile` for
    /// `Keyfile`).
    pub secret_ref: SecretKeyRef,
    /// How the key is stored.
    #[serde(default)]
    pub format: KeyFormat,
}

/// The coldkey as signer: an encrypted btcli keyfile and its password.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ColdkeySigner {
    /// Secret with the btcli `coldkey` file (`$NACL` encrypted; key defaults to `coldkey`).
    pub secret_ref: SecretKeyRef,
    /// Secret with the keyfile's password (key defaults to `password`).
    pub password_secret_ref: SecretKeyRef,
}

/// How a key is stored in a Secret.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum KeyFormat {
    /// A BIP39 mnemonic phrase.
    #[default]
    Mnemonic,
    /// A btcli/bittensor-wallet JSON keyfile (unencrypted).
    Keyfile,
}

/// Where hotkeys come from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.imports.all(a, self.imports.exists_one(b, b.index == a.index))").message("hotkeys.imports has two entries for the same index"))]
#[x_kube(validation = Rule::new("self.imports.all(a, self.imports.exists_one(b, b.secretRef.name == a.secretRef.name && (has(b.secretRef.key) ? b.secretRef.key : (has(b.format) && b.format == 'Keyfile' ? 'keyfile' : 'mnemonic')) == (has(a.secretRef.key) ? a.secretRef.key : (has(a.format) && a.format == 'Keyfile' ? 'keyfile' : 'mnemonic'))))").message("hotkeys.imports uses the same Secret name and key for two indices: one hotkey would run in two pods (each index needs its own hotkey)"))]
pub struct HotkeysSpec {
    /// Existing hotkeys to use for given replica indices (at most 192). Other indices get
    /// generated hotkeys.
    #[serde(default)]
    #[schemars(length(max = 192))]
    pub imports: Vec<HotkeyImport>,
}

/// A hotkey imported from an existing Secret for one replica index.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HotkeyImport {
    /// Replica index this hotkey is used for.
    #[schemars(range(max = 4095))]
    pub index: u32,
    /// Secret holding the hotkey (key defaults to `mnemonic` or `keyfile` by format).
    pub secret_ref: SecretKeyRef,
    /// How the hotkey is stored: a btcli hotkey file (`Keyfile`) or a BIP39 phrase (`Mnemonic`).
    #[serde(default)]
    pub format: KeyFormat,
}

/// Registration policy.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.mode != 'Burn' || has(self.maxPriceTao)").message("registration.mode Burn needs registration.maxPriceTao (the most TAO one registration may burn)"))]
pub struct RegistrationSpec {
    /// `Burn`: the operator registers each replica by burning TAO (`register_limit`).
    /// `Manual` (default): the operator only watches; you register the hotkeys yourself.
    #[serde(default)]
    pub mode: RegistrationMode,
    /// The most TAO one registration may burn, sent on chain as the limit price, e.g. `"0.5"`.
    /// A higher price waits for the price to decay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(format!("self.matches('{TAO_PATTERN}')")).message("registration.maxPriceTao must be a decimal TAO amount such as \"0.5\" (at most 8 integer digits and 9 decimals)"))]
    #[x_kube(validation = Rule::new(format!("!self.matches('{ZERO_TAO_PATTERN}')")).message("registration.maxPriceTao must be above 0: a zero price can never be met"))]
    #[schemars(length(max = 32))]
    pub max_price_tao: Option<String>,
    /// The most TAO all registrations of this resource may burn in a rolling window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// What to do when a registered hotkey is deregistered (pruned): `Never` re-register
    /// (default) or `Always`.
    #[serde(default)]
    pub re_register: ReRegister,
    /// Plan only: report in status what would be registered and spent, send nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The fleet is `AtRisk` while a replica would be pruned within this many registrations on
    /// the subnet (default 3; 1 means only the next one).
    #[serde(default = "default_risk_registrations")]
    #[schemars(range(min = 1, max = 65536))]
    pub risk_registrations: u32,
}

/// `registration.riskRegistrations` when unset.
pub const DEFAULT_RISK_REGISTRATIONS: u32 = 3;

fn default_risk_registrations() -> u32 {
    DEFAULT_RISK_REGISTRATIONS
}

impl Default for RegistrationSpec {
    fn default() -> Self {
        Self {
            mode: RegistrationMode::default(),
            max_price_tao: None,
            budget: None,
            re_register: ReRegister::Never,
            dry_run: false,
            risk_registrations: DEFAULT_RISK_REGISTRATIONS,
        }
    }
}

/// How hotkeys get registered. Unset (also in `registration: {}`): `Manual`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum RegistrationMode {
    /// Register by burning TAO, under the price limit and budget.
    Burn,
    /// Do not register; only observe (default).
    #[default]
    Manual,
}

/// Re-registration policy after a deregistration.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ReRegister {
    /// Report the deregistration and stop (default).
    #[default]
    Never,
    /// Register again under the same price limit and budget.
    Always,
}

/// A spending budget over a rolling window.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// TAO that may be burned in one window, e.g. `"10"`.
    #[x_kube(validation = Rule::new(format!("self.matches('{TAO_PATTERN}')")).message("budget.tao must be a decimal TAO amount such as \"10\" (at most 8 integer digits and 9 decimals)"))]
    #[schemars(length(max = 32))]
    pub tao: String,
    /// Window length, e.g. `24h`, `7d`, `1h30m`.
    #[serde(default = "default_budget_window")]
    #[x_kube(validation = Rule::new(format!("self.matches('{DURATION_PATTERN}')")).message("budget.window must be a duration such as 24h, 7d or 1h30m (at most 9 digits per number)"))]
    #[x_kube(validation = Rule::new(format!("!self.matches('{ZERO_DURATION_PATTERN}')")).message("budget.window must be longer than 0s: a zero-length window would cap nothing"))]
    #[schemars(length(max = 32))]
    pub window: String,
}

/// What runs in each replica's pod. The operator adds the wallet mount and these environment
/// variables (also usable as `$(VAR)` in `command` and `args`): `BT_WALLET_NAME`, `BT_WALLET`,
/// `BT_WALLET_HOTKEY`, `BT_WALLET_PATH`, `BT_NETUID`, `BT_SUBTENSOR_NETWORK`,
/// `BT_SUBTENSOR_CHAIN_ENDPOINT`, `BT_AXON_PORT`, `BT_AXON_EXTERNAL_IP`,
/// `BT_AXON_EXTERNAL_PORT`, `BT_REPLICA_INDEX`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadTemplate {
    /// Container image of the miner or validator program.
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new("!self.matches('[[:space:]]')").message("template.image must be an image reference without whitespace, e.g. ghcr.io/org/miner:1.0"))]
    pub image: String,
    /// Image pull policy: `Always`, `IfNotPresent` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self in ['Always', 'IfNotPresent', 'Never']").message("imagePullPolicy must be Always, IfNotPresent or Never"))]
    #[schemars(length(max = 16))]
    pub image_pull_policy: Option<String>,
    /// Secrets for pulling the image (at most 16).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// Entrypoint override (at most 64 entries of up to 4096 characters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 4096)))]
    pub command: Vec<String>,
    /// Arguments; `$(BT_...)` variables are expanded by Kubernetes (at most 256 entries of up to
    /// 32768 characters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 32768)))]
    pub args: Vec<String>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "list_of_objects")]
    pub env: Vec<EnvVar>,
    /// Environment from ConfigMaps or Secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "list_of_objects")]
    pub env_from: Vec<EnvFromSource>,
    /// Compute resources of the program's container. GPUs are set by `gpu`, not here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Liveness probe of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "object")]
    pub liveness_probe: Option<Probe>,
    /// Readiness probe of the container; a replica counts as ready when it passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "object")]
    pub readiness_probe: Option<Probe>,
    /// Startup probe of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "object")]
    pub startup_probe: Option<Probe>,
    /// Extra volumes of the pod (the wallet and `storage` volumes are added by the operator).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "list_of_objects")]
    pub volumes: Vec<Volume>,
    /// Extra volume mounts of the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "list_of_objects")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Container security context. Defaults to non-root, read-only root filesystem, no
    /// privilege escalation, all capabilities dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "object")]
    pub security_context: Option<SecurityContext>,
    /// Pod security context. Defaults to non-root with `fsGroup` so the wallet is readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "object")]
    pub pod_security_context: Option<PodSecurityContext>,
    /// ServiceAccount of the pod (its identity, e.g. for image pull secrets). Its Kubernetes API
    /// token is never mounted into workload pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new(format!("self.matches('{DNS1123_SUBDOMAIN_PATTERN}')")).message("template.serviceAccountName must be a ServiceAccount name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"))]
    pub service_account_name: Option<String>,
    /// Must be false or unset: workload pods never get a Kubernetes API token, whatever their
    /// ServiceAccount (a Miner's author could otherwise borrow that ServiceAccount's rights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!self").message("template.automountServiceAccountToken must be false or unset: workload pods never get a Kubernetes API token"))]
    pub automount_service_account_token: Option<bool>,
    /// Extra labels on each pod (at most 64). Keys under `app.kubernetes.io/` and
    /// `subnet-operator.io/` belong to the operator; use `queueName` for Kueue.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "label_map")]
    #[x_kube(validation = Rule::new(format!("self.all(k, k.matches('{QUALIFIED_NAME_PATTERN}') && k.matches('{QUALIFIED_NAME_PREFIX_PATTERN}'))")).message("template.labels keys must be qualified names: an optional DNS-subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"))]
    #[x_kube(validation = Rule::new(format!("self.all(k, self[k].matches('{LABEL_VALUE_PATTERN}'))")).message("template.labels values must be label values: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (or empty)"))]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('app.kubernetes.io/') && !k.startsWith('subnet-operator.io/') && !k.matches('^[^/]*[.]subnet-operator[.]io/') && k != 'kueue.x-k8s.io/queue-name')").message("template.labels must not set keys under app.kubernetes.io/ or subnet-operator.io/ (the operator's own), nor kueue.x-k8s.io/queue-name (use template.queueName)"))]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations on each pod (at most 64). Keys under `app.kubernetes.io/` and
    /// `subnet-operator.io/` belong to the operator.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "annotation_map")]
    #[x_kube(validation = Rule::new(format!("self.all(k, k.matches('{QUALIFIED_NAME_PATTERN}') && k.matches('{QUALIFIED_NAME_PREFIX_PATTERN}'))")).message("template.annotations keys must be qualified names: an optional DNS-subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"))]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('app.kubernetes.io/') && !k.startsWith('subnet-operator.io/') && !k.matches('^[^/]*[.]subnet-operator[.]io/'))").message("template.annotations must not set keys under app.kubernetes.io/ or subnet-operator.io/ (the operator's own)"))]
    pub annotations: BTreeMap<String, String>,
    /// Node selector, merged with the one `gpu` implies (at most 64 entries).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "label_map")]
    #[x_kube(validation = Rule::new(format!("self.all(k, k.matches('{QUALIFIED_NAME_PATTERN}') && k.matches('{QUALIFIED_NAME_PREFIX_PATTERN}'))")).message("template.nodeSelector keys must be label keys: an optional DNS-subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"))]
    #[x_kube(validation = Rule::new(format!("self.all(k, self[k].matches('{LABEL_VALUE_PATTERN}'))")).message("template.nodeSelector values must be label values: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (or empty)"))]
    pub node_selector: BTreeMap<String, String>,
    /// Affinity, merged with the node affinity `gpu` implies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "object")]
    pub affinity: Option<Affinity>,
    /// Tolerations, added to the NVIDIA toleration `gpu` implies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "list_of_objects")]
    pub tolerations: Vec<Toleration>,
    /// PriorityClass of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new(format!("self.matches('{DNS1123_SUBDOMAIN_PATTERN}')")).message("template.priorityClassName must be a PriorityClass name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"))]
    pub priority_class_name: Option<String>,
    /// Kueue LocalQueue name, set as the `kueue.x-k8s.io/queue-name` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new(format!("self.matches('{LABEL_VALUE_PATTERN}')")).message("template.queueName must be a LocalQueue name usable as a label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"))]
    pub queue_name: Option<String>,
    /// Seconds the program gets to stop before it is killed (at most one day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub termination_grace_period_seconds: Option<i64>,
}

/// GPUs per replica and their placement by GPU feature-discovery labels.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.count > 0 || ((!has(self.products) || size(self.products) == 0) && !has(self.minMemoryMib) && !has(self.minComputeMajor))").message("gpu.count 0 requests no GPU: gpu.products, gpu.minMemoryMib and gpu.minComputeMajor need gpu.count of at least 1 (they would be dropped)"))]
pub struct GpuSpec {
    /// GPUs per replica.
    #[schemars(range(min = 0, max = 64))]
    pub count: u32,
    /// Extended resource to request: `nvidia.com/gpu`, a MIG profile such as
    /// `nvidia.com/mig-3g.20gb`, or `nvidia.com/gpu.shared`.
    #[serde(default = "default_gpu_resource")]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9.-]+/[A-Za-z0-9._-]+$')").message("gpu.resourceName must be an extended resource name such as nvidia.com/gpu"))]
    #[schemars(length(max = 253))]
    pub resource_name: String,
    /// Acceptable GPU products (`nvidia.com/gpu.product` label values), e.g.
    /// `NVIDIA-H100-80GB-HBM3`. Empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 63)))]
    #[x_kube(validation = Rule::new(format!("self.all(p, p.matches('{LABEL_VALUE_PATTERN}'))")).message("gpu.products must be nvidia.com/gpu.product label values: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"))]
    pub products: Vec<String>,
    /// Minimum GPU memory in MiB (`nvidia.com/gpu.memory` label), at most 1048576 (1 TiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1048576))]
    pub min_memory_mib: Option<u64>,
    /// Minimum CUDA compute capability major version (`nvidia.com/gpu.compute.major` label),
    /// 1 to 99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 99))]
    pub min_compute_major: Option<u32>,
    /// Tolerate the usual `nvidia.com/gpu:NoSchedule` taint of GPU nodes (default true).
    #[serde(default = "default_true")]
    pub tolerate_gpu_taint: bool,
    /// RuntimeClass for the pods, e.g. `nvidia`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new(format!("self.matches('{DNS1123_SUBDOMAIN_PATTERN}')")).message("gpu.runtimeClassName must be a RuntimeClass name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"))]
    pub runtime_class_name: Option<String>,
}

/// The axon and its exposure.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.externalPort) || self.exposure == 'HostPort' || self.exposure == 'None'").message("axon.externalPort is only for HostPort or None exposure; NodePort and LoadBalancer ports are assigned by Kubernetes"))]
pub struct AxonSpec {
    /// Port the program serves its axon on, inside the pod.
    #[serde(default = "default_axon_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// How the axon is reachable from outside: `HostPort` (the node's address and `port`),
    /// `NodePort` (one NodePort Service per replica), `LoadBalancer` (one per replica) or `None`.
    #[serde(default)]
    pub exposure: AxonExposure,
    /// Explicit external IP to advertise (e.g. a NAT address). Default: discovered from the node
    /// (ExternalIP, else InternalIP) or the load balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isIP(self) && ip(self).isGlobalUnicast()").message("axon.externalIp must be an IP address other than loopback (127.x, ::1), unspecified (0.0.0.0, ::), link-local, multicast or broadcast: other neurons must be able to reach it"))]
    #[schemars(length(max = 64))]
    pub external_ip: Option<String>,
    /// Explicit external port to advertise (HostPort or None exposure only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub external_port: Option<u16>,
}

impl Default for AxonSpec {
    fn default() -> Self {
        Self {
            port: DEFAULT_AXON_PORT,
            exposure: AxonExposure::default(),
            external_ip: None,
            external_port: None,
        }
    }
}

/// Exposure of the axon.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum AxonExposure {
    /// Bind the axon port on the node.
    HostPort,
    /// One NodePort Service per replica (default).
    #[default]
    NodePort,
    /// One LoadBalancer Service per replica.
    LoadBalancer,
    /// Not exposed outside the cluster.
    None,
}

/// Where a replica's workload stands, as its status shows it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ReplicaPhase {
    /// No hotkey yet: the workload waits for it.
    WaitingForHotkey,
    /// The hotkey exists; the StatefulSet is being created.
    Creating,
    /// The pod is not running yet (unscheduled, pulling, starting), or there is no pod yet.
    #[default]
    Pending,
    /// The pod runs but is not ready.
    Running,
    /// The pod is ready on the desired template.
    Ready,
    /// The replica runs an outdated template and waits for its turn in the rollout.
    Outdated,
    /// The pod is being deleted (a restart or a scale-in); a new one follows.
    Terminating,
    /// The pod's containers exited successfully.
    Succeeded,
    /// The pod's containers failed.
    Failed,
    /// The kubelet reports no known phase.
    Unknown,
}

impl ReplicaPhase {
    /// The phase of a pod as the kubelet reports it (`status.phase`).
    pub fn of_pod_phase(phase: Option<&str>) -> Self {
        match phase {
            None | Some("Pending") => Self::Pending,
            Some("Running") => Self::Running,
            Some("Succeeded") => Self::Succeeded,
            Some("Failed") => Self::Failed,
            Some(_) => Self::Unknown,
        }
    }
}

impl std::fmt::Display for ReplicaPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// A per-replica volume.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Size of each replica's volume, e.g. `100Gi` (a positive quantity).
    #[x_kube(validation = Rule::new("isQuantity(string(self)) && quantity(string(self)).isGreaterThan(quantity('0'))").message("storage.size must be a positive quantity such as 100Gi"))]
    pub size: Quantity,
    /// StorageClass; default: the cluster's default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new(format!("self.matches('{DNS1123_SUBDOMAIN_PATTERN}')")).message("storage.storageClassName must be a StorageClass name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"))]
    pub storage_class_name: Option<String>,
    /// Where the volume is mounted in the container: an absolute path without `.` or `..`
    /// segments, not `/`, not `/tmp`, `/proc`, `/sys`, `/dev`, `/etc` or under them, and not
    /// `wallet.path` or under it.
    #[serde(default = "default_storage_mount")]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("storage.mountPath must be an absolute path such as /data"))]
    #[x_kube(validation = Rule::new(format!("self.matches('{PATH_PATTERN}')")).message("storage.mountPath must be '/'-separated names of letters, digits, '.', '_' and '-': not '/' alone, no '//' and no trailing '/'"))]
    #[x_kube(validation = Rule::new(format!("!self.matches('{DOT_SEGMENT_PATTERN}')")).message("storage.mountPath must not contain '.' or '..' segments"))]
    #[x_kube(validation = Rule::new(format!("!self.matches('{SYSTEM_PATH_PATTERN}')")).message("storage.mountPath must not be /tmp, /proc, /sys, /dev or /etc or under them (/tmp is the pod's scratch mount, the others belong to the system)"))]
    #[schemars(length(min = 1, max = 512))]
    pub mount_path: String,
    /// Keep or delete a replica's volume when it is scaled away (default `Retain`).
    #[serde(default)]
    pub when_scaled: RetentionPolicy,
    /// Keep or delete the volumes when the resource is deleted (default `Retain`).
    #[serde(default)]
    pub when_deleted: RetentionPolicy,
}

/// What happens to a volume.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum RetentionPolicy {
    /// Keep it.
    #[default]
    Retain,
    /// Delete it.
    Delete,
}

/// How template changes roll out.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStrategy {
    /// Canary: update one replica first and hold the others until promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanarySpec>,
}

/// Canary rollout.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CanarySpec {
    /// Replica index that is updated first (default 0; at most 4095). An index at or above
    /// `replicas` is reported in status, not refused, so that scaling in is never blocked.
    #[serde(default)]
    #[schemars(range(min = 0, max = 4095))]
    pub index: u32,
    /// Promote automatically after the canary has been ready this long, e.g. `30m`. Unset:
    /// wait for `promoted: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(format!("self.matches('{DURATION_PATTERN}')")).message("canary.autoPromoteAfter must be a duration such as 30m (at most 9 digits per number)"))]
    #[schemars(length(max = 32))]
    pub auto_promote_after: Option<String>,
    /// Set to true to roll the current template out to all replicas.
    #[serde(default)]
    pub promoted: bool,
}

/// What the operator observes of a fleet.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct FleetStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions: `Ready`, `Registered`, `Progressing`, `Degraded`, `BudgetExhausted`,
    /// `Deregistered` (and for Validators `Permitted`, `WeightsFresh`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Replicas that exist (the scale subresource reads this).
    #[serde(default)]
    pub replicas: i32,
    /// Replicas whose pod is ready.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Replicas registered on the subnet.
    #[serde(default)]
    pub registered_replicas: i32,
    /// Label selector of the replicas' pods (the scale subresource reads this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// GPUs requested by all replicas.
    #[serde(default)]
    pub gpus: i64,
    /// The subnet's registration price in TAO, for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_price_tao: Option<String>,
    /// Spend in the current budget window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<SpendStatus>,
    /// The account that signs registrations (public address only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_signer: Option<SignerStatus>,
    /// The coldkey's SS58 address (public): the owner of every hotkey of the fleet. A localnet
    /// scaffold funds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coldkey: Option<String>,
    /// The chain the registrations in this status were made on: its genesis hash, then `:` and
    /// the hash of its block 1. When it changes (a localnet restarted), they are forgotten and
    /// made again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_genesis: Option<String>,
    /// Validators: replicas holding a validator permit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permitted_replicas: Option<i32>,
    /// Validators: stake of all replicas on the subnet, in whole tokens of the subnet as the
    /// chain reports them (alpha on dynamic-TAO runtimes, TAO before; the name predates alpha).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_stake_tao: Option<String>,
    /// Validators: the oldest last-weights block among the replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_weights_block: Option<u64>,
    /// A canary rollout in progress: since when the canary has been ready on the new template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStatus>,
    /// Replica indices whose hotkey lost its UID (pruned) and is not registered again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deregistered: Vec<u32>,
    /// Dry-run plan: what would be registered and what it would cost now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanStatus>,
    /// Who keeps registrations under `maxPriceTao` on this chain's runtime: `Chain`
    /// (`register_limit` fails above the limit and burns nothing) or `Client` (the runtime has
    /// only `burned_register`, which charges the burn at inclusion; the operator re-reads the
    /// price at the best block just before sending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_guard: Option<String>,
    /// Per-replica state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replica_statuses: Vec<ReplicaStatus>,
}

/// A canary in progress.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    /// The canary's replica index.
    pub index: u32,
    /// Hash of the template it runs.
    pub template_hash: String,
    /// When it was first seen ready on that template (RFC 3339).
    pub ready_since: String,
}

/// The registration signer.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SignerStatus {
    /// `Proxy` (a Registration proxy of the coldkey) or `Coldkey`.
    pub kind: String,
    /// The signer's SS58 address.
    pub ss58: String,
}

/// Spend in a budget window.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SpendStatus {
    /// Start of the current window (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<String>,
    /// Rao burned in the window.
    pub spent_rao: u64,
    /// TAO burned in the window.
    pub spent_tao: String,
    /// Rao burned since the resource was created.
    #[serde(default)]
    pub total_spent_rao: u64,
}

/// A dry-run plan.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PlanStatus {
    /// Replica indices that would be registered now.
    #[serde(default)]
    pub would_register: Vec<u32>,
    /// TAO those registrations would cost at today's price and bump.
    pub estimated_cost_tao: String,
}

/// One replica: one hotkey, one pod.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaStatus {
    /// Replica index.
    pub index: u32,
    /// The hotkey's SS58 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hotkey: Option<String>,
    /// Name of the Secret holding the hotkey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Name of the replica's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Where the replica's workload stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ReplicaPhase>,
    /// Why the replica is not ready, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Whether the hotkey is registered on the subnet.
    #[serde(default)]
    pub registered: bool,
    /// UID on the subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u16>,
    /// Block the UID was registered at, as the chain records it (`BlockAtRegistration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_at_block: Option<u64>,
    /// Block until which the UID is immune to pruning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immune_until_block: Option<u64>,
    /// Blocks of immunity left at the block this status was written from. It is not rewritten
    /// every block (`immuneUntilBlock` is exact); 0 once immunity is over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immune_blocks_left: Option<u64>,
    /// Position in the chain's prune order: 0 is pruned first once the subnet is full. Unset
    /// while registered when the chain would not reach it (the owner's hotkeys, or kept by
    /// `MinNonImmuneUids`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune_rank: Option<u32>,
    /// How many registrations on the subnet it takes to prune this UID (the open slots fill
    /// first): 1 means the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registrations_until_pruned: Option<u32>,
    /// Why the replica earns, or why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
    /// Incentive (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incentive: Option<f64>,
    /// Emission per epoch, in 10⁻⁹ of the subnet's token as the chain reports it (alpha on
    /// dynamic-TAO runtimes, TAO before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emission_rao: Option<u64>,
    /// Trust (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<f64>,
    /// Stake on the subnet, in 10⁻⁹ of the subnet's token as the chain reports it (alpha on
    /// dynamic-TAO runtimes, TAO before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stake_rao: Option<u64>,
    /// The axon the chain has for this hotkey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axon_on_chain: Option<AxonAddress>,
    /// The axon address this replica is exposed at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axon_exposed: Option<AxonAddress>,
    /// True when the chain advertises another axon address than the one exposed (the miner
    /// should `serve_axon` again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axon_drift: Option<bool>,
    /// The last successful registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_registration: Option<RegistrationRecord>,
    /// A registration sent but not yet confirmed. Persisted before sending, so that after a
    /// crash the chain is read before anything is sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_registration: Option<RegistrationIntent>,
    /// After a failed registration: the block before which it is not tried again. Failures that
    /// cannot clear by themselves (a hotkey owned by another coldkey, a missing proxy) wait
    /// longest, since every attempt costs a fee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at_block: Option<u64>,
    /// Validators on a localnet: the block at which the operator staked `selfStakeTao` to this
    /// replica. It stakes once: on dTAO runtimes the chain reports stake in the subnet's alpha,
    /// which does not compare to a TAO amount (and may be 0 right after staking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_staked_at_block: Option<u64>,
    /// Validators: whether the hotkey holds a validator permit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator_permit: Option<bool>,
    /// Validators: validator trust (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator_trust: Option<f64>,
    /// Validators: dividends (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dividends: Option<f64>,
    /// Validators: block of the last weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_weights_block: Option<u64>,
    /// Validators: blocks since the last weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks_since_weights: Option<u64>,
    /// Validators: when the pod was restarted for stale weights (RFC 3339, within the window).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights_restarts: Vec<String>,
    /// Validators: the block of the last restart for stale weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_restart_block: Option<u64>,
}

/// Why a replica earns, or why not: one reason and a message for people.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    /// The reason.
    pub reason: DiagnosisReason,
    /// What it means and what to do.
    pub message: String,
}

/// The reasons a replica earns or does not, worst first.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
pub enum DiagnosisReason {
    /// The hotkey holds no UID on the subnet.
    NotRegistered,
    /// The next registration on the subnet prunes this UID.
    NextToBePruned,
    /// The pod is not ready.
    PodNotReady,
    /// The chain has no axon for the hotkey: the program has not called `serve_axon`.
    AxonNotServed,
    /// The chain's axon is not the address the pod was told to announce.
    AxonMismatch,
    /// Within its immunity period: earning is not expected yet.
    Immune,
    /// Registered, served, past immunity, and nothing earned (incentive, dividends and emission
    /// are 0): validators give it no weight.
    NoIncentive,
    /// It earns.
    Earning,
}

impl DiagnosisReason {
    /// Every reason, worst first (the order of the derive).
    pub const ALL: [Self; 8] = [
        Self::NotRegistered,
        Self::NextToBePruned,
        Self::PodNotReady,
        Self::AxonNotServed,
        Self::AxonMismatch,
        Self::Immune,
        Self::NoIncentive,
        Self::Earning,
    ];

    /// The name as it appears in status and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRegistered => "NotRegistered",
            Self::NextToBePruned => "NextToBePruned",
            Self::PodNotReady => "PodNotReady",
            Self::AxonNotServed => "AxonNotServed",
            Self::AxonMismatch => "AxonMismatch",
            Self::Immune => "Immune",
            Self::NoIncentive => "NoIncentive",
            Self::Earning => "Earning",
        }
    }
}

/// An axon address.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AxonAddress {
    /// IP address.
    pub ip: String,
    /// Port.
    pub port: u16,
}

/// A completed registration.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationRecord {
    /// Block the registration was included in.
    pub block: u64,
    /// Burn paid, in rao.
    pub price_rao: u64,
    /// Burn paid, in TAO.
    pub price_tao: String,
    /// Extrinsic hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<String>,
    /// Transaction fee the chain charged, in rao (from its `TransactionFeePaid` event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_rao: Option<u64>,
}

/// A registration about to be sent or in flight.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationIntent {
    /// Nonce of the signing account.
    pub nonce: u64,
    /// Last block at which the (mortal) transaction can be included.
    pub era_end_block: u64,
    /// Extrinsic hash.
    pub tx_hash: String,
    /// Price limit sent, in rao.
    pub limit_rao: u64,
    /// Block at which it was sent.
    pub submitted_at_block: u64,
    /// SS58 address of the account that signed it (its nonce is the one used). A resend happens
    /// only with the same signer; a different one waits for the chain to settle this intent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

/// Schema for embedded Kubernetes objects (probes, affinity, security contexts): the apiserver
/// validates them when the operator creates the pod; keeping their full schema here would push
/// the CRD past its size limit.
fn object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Schema for a map of label keys to label values (at most 64 entries).
fn label_map(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": 64,
        "additionalProperties": { "type": "string", "maxLength": 63 },
    })
}

/// Schema for a map of annotations (at most 64 entries, values up to 64 KiB).
fn annotation_map(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": 64,
        "additionalProperties": { "type": "string", "maxLength": 65536 },
    })
}

/// Schema for lists of embedded Kubernetes objects; see [`object`].
fn list_of_objects(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
    })
}

fn default_replicas() -> i32 {
    1
}
fn default_wallet_path() -> String {
    DEFAULT_WALLET_PATH.to_string()
}
fn default_budget_window() -> String {
    "24h".to_string()
}
fn default_gpu_resource() -> String {
    DEFAULT_GPU_RESOURCE.to_string()
}
fn default_true() -> bool {
    true
}
fn default_axon_port() -> u16 {
    DEFAULT_AXON_PORT
}
fn default_storage_mount() -> String {
    "/data".to_string()
}
