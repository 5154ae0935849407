//! The simulation: an in-memory chain model ([`memory`]) and the HTTP/JSON server and client
//! around it ([`sim`]). For what a real runtime cannot do on demand (faults, clock control,
//! finality lag); the controllers never import it (see `tests/layering.rs`).

pub mod memory;
pub mod sim;
