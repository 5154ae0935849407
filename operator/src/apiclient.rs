//! The Kubernetes client, with every request it sends counted by verb
//! (`subnet_operator_kube_requests_total{verb}`): what the operator costs the API server, from
//! its own metrics.

use crate::metrics::Metrics;

/// The API server's verb of a request, as its own request info names it: `get`, `list`,
/// `watch`, `create`, `update`, `patch`, `delete`, `deletecollection` (`other` for what is not
/// a resource request, such as `/version`).
pub fn verb(method: &::http::Method, path: &str, query: Option<&str>) -> &'static str {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // /api/v1/... or /apis/<group>/<version>/...
    let rest = match segments.as_slice() {
        ["api", _, rest @ ..] => rest,
        ["apis", _, _, rest @ ..] => rest,
        _ => return "other",
    };
    // namespaces/<ns>/<resource>[/<name>...], or <resource>[/<name>...].
    let after_resource = match rest {
        ["namespaces", _, _, named @ ..] => named,
        [_, named @ ..] => named,
        [] => return "other",
    };
    let collection = after_resource.is_empty();
    let watching =
        query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    match *method {
        ::http::Method::GET if watching => "watch",
        ::http::Method::GET if collection => "list",
        ::http::Method::GET => "get",
        ::http::Method::POST => "create",
        ::http::Method::PUT => "update",
        ::http::Method::PATCH => "patch",
        ::http::Method::DELETE if collection => "deletecollection",
        ::http::Method::DELETE => "delete",
        _ => "other",
    }
}

/// A client from the environment (in-cluster, or `KUBECONFIG`) whose requests are counted in
/// `metrics`.
pub async fn client(metrics: &Metrics) -> Result<kube::Client, kube::Error> {
    let config = kube::Config::infer()
        .await
        .map_err(kube::Error::InferConfig)?;
    let metrics = metrics.clone();
    let count =
        tower::util::MapRequestLayer::new(move |req: ::http::Request<kube::client::Body>| {
            metrics.kube_request(verb(req.method(), req.uri().path(), req.uri().query()));
            req
        });
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&count)
        .build())
}

/// An API handle for `K` in `namespace`, or across all namespaces.
pub fn api<K>(client: &kube::Client, namespace: Option<&str>) -> kube::Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => kube::Api::namespaced(client.clone(), ns),
        None => kube::Api::all(client.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::http::Method;

    #[test]
    fn verbs_are_named_as_the_api_server_names_them() {
        let v = |m: Method, p: &str, q: Option<&str>| verb(&m, p, q);
        let pods = "/api/v1/namespaces/ns/pods";
        assert_eq!(v(Method::GET, pods, Some("labelSelector=a%3Db")), "list");
        assert_eq!(
            v(Method::GET, pods, Some("watch=true&resourceVersion=5")),
            "watch"
        );
        assert_eq!(
            v(Method::GET, "/api/v1/namespaces/ns/pods/p-0", None),
            "get"
        );
        assert_eq!(v(Method::POST, pods, None), "create");
        assert_eq!(v(Method::DELETE, pods, None), "deletecollection");
        assert_eq!(
            v(Method::DELETE, "/api/v1/namespaces/ns/pods/p-0", None),
            "delete"
        );
        let miner = "/apis/subnet-operator.io/v1alpha1/namespaces/ns/miners/m/status";
        assert_eq!(v(Method::PATCH, miner, Some("fieldManager=x")), "patch");
        assert_eq!(
            v(
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l",
                None
            ),
            "update"
        );
        assert_eq!(
            v(
                Method::GET,
                "/apis/subnet-operator.io/v1alpha1/miners",
                None
            ),
            "list"
        );
        assert_eq!(v(Method::GET, "/api/v1/namespaces/ns", None), "get");
        assert_eq!(v(Method::GET, "/api/v1/namespaces", None), "list");
        assert_eq!(v(Method::GET, "/version", None), "other");
    }
}
