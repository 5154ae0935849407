//! `kubectl subnet`: a kubectl plugin that shows what the subnet-operator reports about its
//! Miners and Validators, modelled on CloudNativePG's `kubectl cnpg status`.
//!
//! It reads the custom resources' status only: no chain access and no Secrets, so a read-only
//! kubeconfig (get and list on `miners` and `validators` of `subnet-operator.io`, optionally
//! `subnets`) is enough.
//!
//! - [`cli`]: the command line and the `KIND/NAME` argument.
//! - [`fetch`]: the only place that talks to the API server.
//! - [`fleet`]: a Miner or a Validator, as one type.
//! - [`view`]: the machine output (`-o json|yaml`), built from fetched objects (pure).
//! - [`render`]: the tables (pure).
//! - [`error`]: what can go wrong, with an exit code each.

#![warn(missing_docs)]

pub mod cli;
pub mod error;
pub mod fetch;
pub mod fleet;
pub mod render;
pub mod view;

mod table;

pub use error::Error;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The API group of the operator's kinds (`subnet-operator.io`).
pub const GROUP: &str = subnet_operator::crd::GROUP;
