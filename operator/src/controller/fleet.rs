//! The Miner and Validator controllers: one generic reconcile over [`FleetKind`].

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::status::{self, FleetObservation};
use super::validate::{self, Problem, SecretNeed};
use super::{Context, Error, Result, api};
use crate::crd::conditions::{find, types};
use crate::crd::fleet::{FleetSpec, FleetStatus};
use crate::crd::{Miner, Subnet, Validator};

/// What the fleet controller needs of a Miner or Validator.
pub trait FleetKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// Value of the `app.kubernetes.io/component` label of its pods.
    const COMPONENT: &'static str;
    /// The shared fleet spec.
    fn fleet(&self) -> &FleetSpec;
    /// The current status.
    fn fleet_status(&self) -> Option<&FleetStatus>;
}

impl FleetKind for Miner {
    const COMPONENT: &'static str = "miner";
    fn fleet(&self) -> &FleetSpec {
        &self.spec.fleet
    }
    fn fleet_status(&self) -> Option<&FleetStatus> {
        self.status.as_ref()
    }
}

impl FleetKind for Validator {
    const COMPONENT: &'static str = "validator";
    fn fleet(&self) -> &FleetSpec {
        &self.spec.fleet
    }
    fn fleet_status(&self) -> Option<&FleetStatus> {
        self.status.as_ref()
    }
}

/// Builds the controller for `K`: watches `K` through `DeserializeGuard`, and Subnets (a Subnet
/// appearing or changing reconciles the fleets that reference it).
pub fn controller<K: FleetKind>(
    client: &Client,
    namespace: Option<&str>,
    subnets: Api<Subnet>,
) -> Controller<DeserializeGuard<K>> {
    let ctl = Controller::new(
        api::<DeserializeGuard<K>>(client, namespace),
        watcher::Config::default(),
    );
    let store = ctl.store();
    ctl.watches(
        subnets,
        watcher::Config::default(),
        move |subnet: Subnet| {
            let ns = subnet.namespace();
            let name = subnet.name_any();
            store
                .state()
                .into_iter()
                .filter_map(|g| match &g.0 {
                    Ok(f) if f.namespace() == ns && f.fleet().subnet_ref.name == name => {
                        Some(ObjectRef::from_obj(g.as_ref()))
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
        },
    )
}

/// Reconciles one Miner or Validator.
pub async fn reconcile<K: FleetKind>(
    guard: Arc<DeserializeGuard<K>>,
    ctx: Arc<Context>,
) -> Result<Action> {
    let obj = match &guard.0 {
        Ok(obj) => obj,
        Err(invalid) => return Err(super::report_invalid::<K>(&ctx, invalid).await),
    };
    let started = Instant::now();
    let result = reconcile_fleet(obj, &ctx).await;
    super::finish(&ctx, obj, started, &result);
    result
}

#[tracing::instrument(skip_all, fields(kind = %K::kind(&()), name = %obj.name_any(), namespace = obj.namespace().unwrap_or_default()))]
async fn reconcile_fleet<K: FleetKind>(obj: &K, ctx: &Context) -> Result<Action> {
    let ns = obj.namespace().ok_or(Error::MissingNamespace)?;
    let spec = obj.fleet();
    let observed = observe(&ctx.client, &ns, spec).await?;

    let desired = status::fleet(
        obj.fleet_status(),
        spec,
        obj.meta().generation,
        status::fleet_selector(&obj.name_any(), K::COMPONENT),
        &observed,
        Timestamp::now(),
    );
    if obj.fleet_status() != Some(&desired) {
        ctx.apply_status(obj, &desired).await?;
    }
    announce_ready_change(
        ctx,
        obj,
        obj.fleet_status().map(|s| &s.conditions[..]),
        &desired.conditions,
    )
    .await;

    Ok(match observed.problem {
        // A missing reference may appear without any event on this object: poll for it.
        Some(Problem::SubnetNotFound(_))
        | Some(Problem::SecretNotFound { .. })
        | Some(Problem::SecretKeyMissing { .. })
        | Some(Problem::InvalidColdkeyPub { .. }) => {
            Action::requeue(std::time::Duration::from_secs(30))
        }
        Some(Problem::InvalidSpec(_)) => Action::await_change(),
        None => Action::requeue(ctx.resync),
    })
}

/// Reads what the fleet references and finds the first problem.
async fn observe(client: &Client, ns: &str, spec: &FleetSpec) -> Result<FleetObservation> {
    if let Err(p) = validate::fleet(spec) {
        return Ok(FleetObservation {
            problem: Some(p),
            subnet: None,
        });
    }
    let subnets: Api<Subnet> = Api::namespaced(client.clone(), ns);
    let subnet = subnets
        .get_opt(&spec.subnet_ref.name)
        .await
        .map_err(|source| Error::FetchSubnet {
            name: spec.subnet_ref.name.clone(),
            source,
        })?;
    let Some(subnet) = subnet else {
        return Ok(FleetObservation {
            problem: Some(Problem::SubnetNotFound(spec.subnet_ref.name.clone())),
            subnet: None,
        });
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let coldkey_key = spec
        .wallet
        .coldkey_pub
        .secret_ref
        .as_ref()
        .map(|r| (r.name.clone(), r.key_or("coldkeypub.txt").to_string()));
    for need in validate::secret_needs(spec) {
        let secret = secrets
            .get_opt(&need.name)
            .await
            .map_err(|source| Error::FetchSecret {
                name: need.name.clone(),
                source,
            })?;
        if let Some(problem) = check_secret(secret.as_ref(), &need, coldkey_key.as_ref()) {
            return Ok(FleetObservation {
                problem: Some(problem),
                subnet: subnet.status,
            });
        }
    }
    Ok(FleetObservation {
        problem: None,
        subnet: subnet.status,
    })
}

/// Checks one referenced Secret. Reads only what it must (the public coldkey file); never logs
/// content.
fn check_secret(
    secret: Option<&Secret>,
    need: &SecretNeed,
    coldkey_pub: Option<&(String, String)>,
) -> Option<Problem> {
    let Some(secret) = secret else {
        return Some(Problem::SecretNotFound {
            name: need.name.clone(),
            purpose: need.purpose.clone(),
        });
    };
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&need.key))
        .map(|b| b.0.as_slice());
    let Some(value) = value else {
        return Some(Problem::SecretKeyMissing {
            name: need.name.clone(),
            key: need.key.clone(),
            purpose: need.purpose.clone(),
        });
    };
    if coldkey_pub == Some(&(need.name.clone(), need.key.clone()))
        && let Err(reason) = validate::coldkeypub_ss58(value)
    {
        return Some(Problem::InvalidColdkeyPub {
            name: need.name.clone(),
            key: need.key.clone(),
            reason,
        });
    }
    None
}

/// Publishes an event when the `Ready` condition's reason changes.
pub(crate) async fn announce_ready_change<K>(
    ctx: &Context,
    obj: &K,
    before: Option<&[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]>,
    after: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) where
    K: Resource<DynamicType = ()>,
{
    let old = before.and_then(|c| find(c, types::READY));
    let Some(new) = find(after, types::READY) else {
        return;
    };
    if old.map(|c| (&c.status, &c.reason)) == Some((&new.status, &new.reason)) {
        return;
    }
    let problem = new.status != "True"
        && !matches!(
            new.reason.as_str(),
            status::REASON_NO_REPLICAS | "ChainNotConnected"
        );
    let type_ = if problem {
        EventType::Warning
    } else {
        EventType::Normal
    };
    ctx.publish(obj, type_, &new.reason, new.message.clone())
        .await;
}

/// Error policy of the fleet controllers.
pub fn error_policy<K: FleetKind>(
    guard: Arc<DeserializeGuard<K>>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    match &guard.0 {
        Ok(obj) => super::error_policy(obj, error, &ctx),
        Err(_) => Action::await_change(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn secret(data: &[(&str, &[u8])]) -> Secret {
        Secret {
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        }
    }

    fn need(name: &str, key: &str) -> SecretNeed {
        SecretNeed {
            name: name.into(),
            key: key.into(),
            purpose: "wallet.coldkeyPub".into(),
        }
    }

    #[test]
    fn secret_checks_name_the_problem() {
        let n = need("cold", "coldkeypub.txt");
        let ck = ("cold".to_string(), "coldkeypub.txt".to_string());
        assert_eq!(
            check_secret(None, &n, Some(&ck)).map(|p| p.reason()),
            Some("SecretNotFound")
        );
        assert_eq!(
            check_secret(Some(&secret(&[("other", b"x")])), &n, Some(&ck)).map(|p| p.reason()),
            Some("SecretKeyMissing")
        );
        assert_eq!(
            check_secret(Some(&secret(&[("coldkeypub.txt", b"{}")])), &n, Some(&ck))
                .map(|p| p.reason()),
            Some("InvalidColdkeyPub")
        );
        let good = br#"{"ss58Address":"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}"#;
        assert_eq!(
            check_secret(Some(&secret(&[("coldkeypub.txt", good)])), &n, Some(&ck)),
            None
        );
        // A non-coldkeypub Secret is only checked for its key, never parsed.
        let other = need("proxy", "mnemonic");
        assert_eq!(
            check_secret(Some(&secret(&[("mnemonic", b"words")])), &other, Some(&ck)),
            None
        );
    }
}
