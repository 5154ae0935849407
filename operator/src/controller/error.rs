//! The reconcile [`Error`]: named after the step that failed, with one-line summaries for
//! conditions and events, and which errors are permanent.

/// Errors of a reconcile, named after the step that failed. The variant name is the metric
/// label and the event reason.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the referenced Subnet failed (other than not found).
    #[error("reading Subnet {name}: {source}")]
    FetchSubnet {
        /// Subnet name.
        name: String,
        /// API error.
        #[source]
        source: kube::Error,
    },
    /// Reading a referenced Secret failed (other than not found).
    #[error("reading Secret {name}: {source}")]
    FetchSecret {
        /// Secret name.
        name: String,
        /// API error.
        #[source]
        source: kube::Error,
    },
    /// Creating or updating a Secret failed.
    #[error("writing Secret {name}: {source}")]
    ApplySecret {
        /// Secret name.
        name: String,
        /// API error.
        #[source]
        source: kube::Error,
    },
    /// Listing a kind of child object failed.
    #[error("listing {kind}s: {source}")]
    ListChildren {
        /// Kind.
        kind: String,
        /// API error.
        #[source]
        source: kube::Error,
    },
    /// Applying a child object failed.
    #[error("applying {kind} {name}: {source}")]
    ApplyChild {
        /// Kind.
        kind: String,
        /// Name.
        name: String,
        /// API error.
        #[source]
        source: kube::Error,
    },
    /// Deleting a child object failed.
    #[error("deleting {kind} {name}: {source}")]
    DeleteChild {
        /// Kind.
        kind: String,
        /// Name.
        name: String,
        /// API error.
        #[source]
        source: kube::Error,
    },
    /// Writing status failed.
    #[error("writing status: {0}")]
    PatchStatus(#[source] kube::Error),
    /// The object could not be read as this operator's type (schema drift or a bad object that
    /// bypassed admission).
    #[error("invalid object: {0}")]
    InvalidObject(String),
    /// The object has no namespace (all kinds are namespaced).
    #[error("object has no namespace")]
    MissingNamespace,
    /// A child cache has not completed its first list.
    #[error(transparent)]
    CacheNotReady(#[from] super::children::CacheNotReady),
    /// No child cache watches the object's namespace.
    #[error(transparent)]
    NotWatched(#[from] super::children::NotWatched),
    /// Serializing a value for the API failed.
    #[error("serializing: {0}")]
    Serialize(#[source] serde_json::Error),
}

impl Error {
    /// Every [`Error::metric_label`].
    pub const LABELS: &'static [&'static str] = &[
        "FetchSubnet",
        "FetchSecret",
        "ApplySecret",
        "ListChildren",
        "ApplyChild",
        "DeleteChild",
        "PatchStatus",
        "InvalidObject",
        "MissingNamespace",
        "CacheNotReady",
        "NotWatched",
        "Serialize",
    ];

    /// Stable name of the variant, used as the metric label and event reason.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::FetchSubnet { .. } => "FetchSubnet",
            Error::FetchSecret { .. } => "FetchSecret",
            Error::ApplySecret { .. } => "ApplySecret",
            Error::ListChildren { .. } => "ListChildren",
            Error::ApplyChild { .. } => "ApplyChild",
            Error::DeleteChild { .. } => "DeleteChild",
            Error::PatchStatus(_) => "PatchStatus",
            Error::InvalidObject(_) => "InvalidObject",
            Error::MissingNamespace => "MissingNamespace",
            Error::CacheNotReady(_) => "CacheNotReady",
            Error::NotWatched(_) => "NotWatched",
            Error::Serialize(_) => "Serialize",
        }
    }

    /// A one-line message for a condition or an event: the step, and the API server's own
    /// message when it answered (not the debug dump of its whole response).
    pub fn summary(&self) -> String {
        let api = |e: &kube::Error| match e {
            kube::Error::Api(status) => status.message.clone(),
            other => other.to_string(),
        };
        match self {
            Error::FetchSubnet { name, source } => {
                format!("reading Subnet {name}: {}", api(source))
            }
            Error::FetchSecret { name, source } => {
                format!("reading Secret {name}: {}", api(source))
            }
            Error::ApplySecret { name, source } => {
                format!("writing Secret {name}: {}", api(source))
            }
            Error::ListChildren { kind, source } => format!("listing {kind}s: {}", api(source)),
            Error::ApplyChild { kind, name, source } => {
                format!("applying {kind} {name}: {}", api(source))
            }
            Error::DeleteChild { kind, name, source } => {
                format!("deleting {kind} {name}: {}", api(source))
            }
            Error::PatchStatus(source) => format!("writing status: {}", api(source)),
            other => other.to_string(),
        }
    }

    /// Permanent errors are not retried until the object changes.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Error::InvalidObject(_) | Error::MissingNamespace | Error::Serialize(_)
        )
    }
}

/// Result of a reconcile.
pub type Result<T, E = Error> = std::result::Result<T, E>;
