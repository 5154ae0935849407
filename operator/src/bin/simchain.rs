//! `subnet-operator-simchain`: serves the in-memory chain model over HTTP for tests and demos.
//! A SIMULATION of subtensor's registration rules, not a chain.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use subnet_operator::chain::memory::{Genesis, MemoryChain};

/// Serves a simulated subtensor chain (in-memory model) over HTTP.
#[derive(Parser)]
#[command(name = "subnet-operator-simchain", version)]
struct Args {
    /// Genesis file (YAML): balances, proxies, subnets.
    #[arg(long, env = "SIMCHAIN_GENESIS")]
    genesis: PathBuf,
    /// Listen address.
    #[arg(long, env = "SIMCHAIN_LISTEN", default_value = "127.0.0.1:9955")]
    listen: SocketAddr,
    /// Milliseconds per block; 0 produces blocks only when asked (`POST /admin/advance`).
    #[arg(long, env = "SIMCHAIN_BLOCK_MS", default_value_t = 250)]
    block_ms: u64,
    /// Blocks the finalized block trails the best one; overrides the genesis' `finalityLag`.
    #[arg(long, env = "SIMCHAIN_FINALITY_LAG")]
    finality_lag: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let _ = tracing_subscriber::fmt().with_target(false).try_init();
    let mut genesis: Genesis = match std::fs::read_to_string(&args.genesis)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_yaml::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(g) => g,
        Err(e) => {
            eprintln!("simchain: {}: {e}", args.genesis.display());
            return ExitCode::FAILURE;
        }
    };
    if let Some(lag) = args.finality_lag {
        genesis.finality_lag = lag;
    }
    tracing::info!(
        finality_lag = genesis.finality_lag,
        "SIMULATED finality: the finalized block trails the best by {} block(s)",
        genesis.finality_lag
    );
    let chain = match MemoryChain::new(&genesis) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("simchain: {e}");
            return ExitCode::FAILURE;
        }
    };
    match subnet_operator::chain::sim::serve(
        chain,
        args.listen,
        Duration::from_millis(args.block_ms),
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simchain: {e}");
            ExitCode::FAILURE
        }
    }
}
