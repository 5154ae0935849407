//! The only place that talks to the API server: get one fleet, list fleets, get a Subnet.
//! Everything it fetches is handed to the pure [`crate::view`] and [`crate::render`] code.

use std::path::Path;
use std::time::Duration;

use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::DeserializeGuard;
use kube::{Client, Config};
use subnet_operator::crd::{Miner, Subnet, Validator};

use crate::cli::FleetRef;
use crate::error::{Error, chain};
use crate::fleet::{Fleet, Kind};
use crate::view::{SubnetLookup, Unreadable};

/// A client of the cluster the kubeconfig names.
pub struct Kube {
    client: Client,
    /// The context's namespace, else `default`.
    pub default_namespace: String,
    /// The API server URL.
    pub server: String,
}

/// One request, for its error message.
struct Call<'a> {
    verb: &'static str,
    resource: String,
    namespace: Option<&'a str>,
    /// The kind and name of a get of one fleet (whose 404 means "not found").
    named: Option<(Kind, &'a str)>,
}

impl Kube {
    /// Loads the kubeconfig (`path`, else `$KUBECONFIG` / `~/.kube/config`, else the pod's
    /// ServiceAccount) with `context` (else its current one) and builds a client.
    pub async fn connect(path: Option<&Path>, context: Option<&str>) -> Result<Self, Error> {
        let opts = KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config_error = |detail: String| Error::Config { detail };
        let mut config = match path {
            Some(p) => {
                let kc = Kubeconfig::read_from(p)
                    .map_err(|e| config_error(format!("{}: {}", p.display(), chain(&e))))?;
                Config::from_custom_kubeconfig(kc, &opts)
                    .await
                    .map_err(|e| config_error(chain(&e)))?
            }
            None if context.is_some() => Config::from_kubeconfig(&opts)
                .await
                .map_err(|e| config_error(chain(&e)))?,
            None => Config::infer().await.map_err(|e| config_error(chain(&e)))?,
        };
        // A command line tool should give up on a dead server quickly.
        config.connect_timeout = Some(Duration::from_secs(10));
        config.read_timeout = Some(Duration::from_secs(30));
        let server = config.cluster_url.to_string();
        let default_namespace = config.default_namespace.clone();
        let client = Client::try_from(config).map_err(|e| config_error(chain(&e)))?;
        Ok(Self {
            client,
            default_namespace,
            server,
        })
    }

    /// Gets the Miner or Validator `r` in `namespace`.
    pub async fn fleet(&self, r: &FleetRef, namespace: &str) -> Result<Fleet, Error> {
        let call = Call {
            verb: "get",
            resource: r.kind.resource(),
            namespace: Some(namespace),
            named: Some((r.kind, &r.name)),
        };
        match r.kind {
            Kind::Miner => {
                let api: Api<Miner> = Api::namespaced(self.client.clone(), namespace);
                api.get(&r.name)
                    .await
                    .map(Fleet::from)
                    .map_err(|e| self.error(e, &call))
            }
            Kind::Validator => {
                let api: Api<Validator> = Api::namespaced(self.client.clone(), namespace);
                api.get(&r.name)
                    .await
                    .map(Fleet::from)
                    .map_err(|e| self.error(e, &call))
            }
        }
    }

    /// Lists the Miners and Validators of `namespace` (every namespace when `None`). Objects
    /// that cannot be read as this version of the API come back apart, with the reason.
    pub async fn fleets(
        &self,
        namespace: Option<&str>,
    ) -> Result<(Vec<Fleet>, Vec<Unreadable>), Error> {
        let mut fleets = vec![];
        let mut unreadable = vec![];
        for kind in Kind::ALL {
            let call = Call {
                verb: "list",
                resource: kind.resource(),
                namespace,
                named: None,
            };
            match kind {
                Kind::Miner => {
                    let items = self.list::<Miner>(namespace, &call).await?;
                    sort_guarded(kind, items, &mut fleets, &mut unreadable);
                }
                Kind::Validator => {
                    let items = self.list::<Validator>(namespace, &call).await?;
                    sort_guarded(kind, items, &mut fleets, &mut unreadable);
                }
            }
        }
        Ok((fleets, unreadable))
    }

    async fn list<K>(
        &self,
        namespace: Option<&str>,
        call: &Call<'_>,
    ) -> Result<Vec<DeserializeGuard<K>>, Error>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned,
    {
        let api: Api<DeserializeGuard<K>> = match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        api.list(&ListParams::default())
            .await
            .map(|l| l.items)
            .map_err(|e| self.error(e, call))
    }

    /// Gets Subnet `name` for its tempo and network. Never fails: a Subnet that cannot be
    /// read only leaves those unknown, and says why.
    pub async fn subnet(&self, namespace: &str, name: &str) -> SubnetLookup {
        let api: Api<Subnet> = Api::namespaced(self.client.clone(), namespace);
        match api.get(name).await {
            Ok(s) => SubnetLookup::Found(Box::new(s)),
            Err(kube::Error::Api(s)) if s.code == 403 => SubnetLookup::Unreadable {
                reason: format!("no access: get on subnets.{} is not granted", crate::GROUP),
            },
            Err(kube::Error::Api(s)) if s.code == 404 => SubnetLookup::Unreadable {
                reason: format!("Subnet {name} not found in namespace {namespace}"),
            },
            Err(e) => SubnetLookup::Unreadable {
                reason: format!("cannot read Subnet {name}: {}", chain(&e)),
            },
        }
    }

    fn error(&self, e: kube::Error, call: &Call<'_>) -> Error {
        classify(e, call, &self.server)
    }
}

/// Turns a client error into one of ours, naming the request (`server` is the API server's
/// URL).
fn classify(e: kube::Error, call: &Call<'_>, server: &str) -> Error {
    let scope = match call.namespace {
        Some(ns) => format!("in namespace {ns}"),
        None => "in any namespace (--all-namespaces)".to_string(),
    };
    match e {
        kube::Error::Api(s) => match s.code {
            401 => Error::Unauthorized {
                server: server.to_string(),
                message: s.message,
            },
            403 => Error::Forbidden {
                verb: call.verb,
                resource: call.resource.clone(),
                scope,
                message: s.message,
            },
            404 => match call.named {
                // A missing object names itself in the details; a missing resource (no CRD)
                // leaves them empty.
                Some((kind, name))
                    if s.details.as_ref().is_some_and(|d| d.name == name)
                        || s.message.contains(&format!("\"{name}\" not found")) =>
                {
                    Error::NotFound {
                        kind: kind.singular(),
                        name: name.to_string(),
                        namespace: call.namespace.unwrap_or_default().to_string(),
                    }
                }
                _ => Error::CrdMissing {
                    resource: call.resource.clone(),
                },
            },
            code => Error::Api {
                verb: call.verb,
                resource: call.resource.clone(),
                code,
                reason: s.reason,
                message: s.message,
            },
        },
        e @ (kube::Error::SerdeError(_) | kube::Error::FromUtf8(_)) => Error::Api {
            verb: call.verb,
            resource: call.resource.clone(),
            code: 200,
            reason: "Unreadable".to_string(),
            message: format!(
                "the answer cannot be read as this plugin's version of the API (are the CRDs and the plugin of the same release?): {}",
                chain(&e)
            ),
        },
        e @ kube::Error::Auth(_) => Error::Config { detail: chain(&e) },
        e => Error::Unreachable {
            server: server.to_string(),
            detail: chain(&e),
        },
    }
}

/// Files each listed object as a fleet, or as unreadable.
fn sort_guarded<K>(
    kind: Kind,
    items: Vec<DeserializeGuard<K>>,
    fleets: &mut Vec<Fleet>,
    unreadable: &mut Vec<Unreadable>,
) where
    Fleet: From<K>,
{
    for DeserializeGuard(item) in items {
        match item {
            Ok(k) => fleets.push(Fleet::from(k)),
            Err(bad) => unreadable.push(Unreadable {
                kind: kind.as_str().to_string(),
                namespace: bad.metadata.namespace.unwrap_or_default(),
                name: bad.metadata.name.unwrap_or_default(),
                error: bad.error,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16, reason: &str, message: &str, name: Option<&str>) -> kube::Error {
        let mut s = Status::failure(message, reason).with_code(code);
        if let Some(n) = name {
            s.details = Some(kube::core::response::StatusDetails {
                name: n.to_string(),
                group: "subnet-operator.io".into(),
                kind: "miners".into(),
                uid: String::new(),
                causes: vec![],
                retry_after_seconds: 0,
            });
        }
        kube::Error::Api(Box::new(s))
    }

    fn get_miner(name: &str) -> Call<'_> {
        Call {
            verb: "get",
            resource: Kind::Miner.resource(),
            namespace: Some("sn1"),
            named: Some((Kind::Miner, name)),
        }
    }

    #[test]
    fn api_answers_become_errors_that_say_what_to_do() {
        let server = "https://10.0.0.1:6443/";
        let e = classify(
            api(
                404,
                "NotFound",
                "miners.subnet-operator.io \"m\" not found",
                Some("m"),
            ),
            &get_miner("m"),
            server,
        );
        assert_eq!(e.to_string(), "miner m not found in namespace sn1");
        // No CRD: a 404 without the object's name.
        let e = classify(
            api(
                404,
                "NotFound",
                "the server could not find the requested resource",
                None,
            ),
            &get_miner("m"),
            server,
        );
        assert!(matches!(e, Error::CrdMissing { .. }), "{e}");
        assert_eq!(e.exit_code(), 3);
        let list = Call {
            verb: "list",
            resource: Kind::Validator.resource(),
            namespace: None,
            named: None,
        };
        let e = classify(api(403, "Forbidden", "no", None), &list, server);
        assert!(
            e.to_string().starts_with(
                "access denied: cannot list validators.subnet-operator.io in any namespace"
            ),
            "{e}"
        );
        let e = classify(api(401, "Unauthorized", "bad token", None), &list, server);
        assert!(
            e.to_string()
                .contains("refused the kubeconfig's credentials"),
            "{e}"
        );
        assert_eq!(e.exit_code(), 4);
        let e = classify(api(500, "InternalError", "boom", None), &list, server);
        assert_eq!(
            e.to_string(),
            "list validators.subnet-operator.io: the API server answered 500 InternalError: boom"
        );
        assert_eq!(e.exit_code(), 1);
    }
}
