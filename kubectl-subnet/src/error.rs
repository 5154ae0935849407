//! What can go wrong, each with a message for people and an exit code for scripts.

/// What a read-only kubeconfig needs, for the messages of access errors.
pub const READ_ONLY_RBAC: &str = "a read-only kubeconfig needs the verbs get and list on \
     miners.subnet-operator.io and validators.subnet-operator.io (and optionally on \
     subnets.subnet-operator.io, for the tempo and block time)";

/// Errors of the plugin.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line argument cannot be read (such as `foo/bar`).
    #[error("bad argument {arg:?}: {reason}")]
    BadArgument {
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No kubeconfig (or in-cluster configuration) could be loaded, or it cannot be used.
    #[error(
        "no usable Kubernetes configuration: {detail} (set KUBECONFIG or pass --kubeconfig; in a pod the ServiceAccount is used)"
    )]
    Config {
        /// What went wrong, with its causes.
        detail: String,
    },

    /// The API server did not answer (down, wrong address, TLS failure).
    #[error("cannot reach the API server at {server}: {detail}")]
    Unreachable {
        /// The server URL of the kubeconfig.
        server: String,
        /// What went wrong, with its causes.
        detail: String,
    },

    /// 401: the API server did not accept the credentials.
    #[error(
        "the API server at {server} refused the kubeconfig's credentials (401 Unauthorized: expired or wrong token or certificate): {message}"
    )]
    Unauthorized {
        /// The server URL of the kubeconfig.
        server: String,
        /// What the API server said.
        message: String,
    },

    /// 403: the credentials may not read what was asked.
    #[error(
        "access denied: cannot {verb} {resource} {scope} (403 Forbidden); {READ_ONLY_RBAC}. The API server said: {message}"
    )]
    Forbidden {
        /// `get` or `list`.
        verb: &'static str,
        /// The resource with its group, such as `miners.subnet-operator.io`.
        resource: String,
        /// `in namespace NS` or `in any namespace`.
        scope: String,
        /// What the API server said.
        message: String,
    },

    /// 404 for a named object: it does not exist.
    #[error("{kind} {name} not found in namespace {namespace}")]
    NotFound {
        /// `miner` or `validator`.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The namespace looked in.
        namespace: String,
    },

    /// 404 for the resource itself: the operator's CRDs are not installed.
    #[error(
        "the API server does not serve {resource}: the subnet-operator CRDs are not installed on this cluster (apply crds/ or install the Helm chart)"
    )]
    CrdMissing {
        /// The resource with its group.
        resource: String,
    },

    /// Any other answer of the API server.
    #[error("{verb} {resource}: the API server answered {code} {reason}: {message}")]
    Api {
        /// `get` or `list`.
        verb: &'static str,
        /// The resource with its group.
        resource: String,
        /// The HTTP status code.
        code: u16,
        /// The machine-readable reason.
        reason: String,
        /// What the API server said.
        message: String,
    },

    /// The result could not be written as JSON or YAML.
    #[error("cannot write {format}: {detail}")]
    Encode {
        /// `json` or `yaml`.
        format: &'static str,
        /// What went wrong.
        detail: String,
    },
}

impl Error {
    /// The process exit code: 2 for a bad argument, 3 for an object that does not exist, 4
    /// for refused credentials or access, 5 when there is no cluster to ask (no
    /// configuration, no answer), 1 for anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::BadArgument { .. } => 2,
            Self::NotFound { .. } | Self::CrdMissing { .. } => 3,
            Self::Unauthorized { .. } | Self::Forbidden { .. } => 4,
            Self::Config { .. } | Self::Unreachable { .. } => 5,
            Self::Api { .. } | Self::Encode { .. } => 1,
        }
    }
}

/// An error and its causes as one line: `a: b: c`, leaving out a cause its parent's message
/// already repeats.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_verb_resource_and_what_read_only_needs() {
        let e = Error::Forbidden {
            verb: "get",
            resource: "miners.subnet-operator.io".into(),
            scope: "in namespace sn1".into(),
            message: "nope".into(),
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with("access denied: cannot get miners.subnet-operator.io in namespace sn1"),
            "{msg}"
        );
        assert!(
            msg.contains(
                "get and list on miners.subnet-operator.io and validators.subnet-operator.io"
            ),
            "{msg}"
        );
        assert_eq!(e.exit_code(), 4);
        let e = Error::NotFound {
            kind: "miner",
            name: "m".into(),
            namespace: "ns".into(),
        };
        assert_eq!(e.to_string(), "miner m not found in namespace ns");
        assert_eq!(e.exit_code(), 3);
    }

    #[test]
    fn chains_skip_repeated_causes() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: {0}")]
        struct Outer(#[source] Inner);
        #[derive(Debug, thiserror::Error)]
        #[error("inner")]
        struct Inner(#[source] std::io::Error);
        let e = Outer(Inner(std::io::Error::other("refused")));
        assert_eq!(chain(&e), "outer: inner: refused");
    }
}
