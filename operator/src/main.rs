//! The subnet-operator binary.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use futures::FutureExt;
use kube::api::{Api, ListParams};
use kube::{Client, CustomResourceExt};
use subnet_operator::config::{ChainBackend, Config};
use subnet_operator::controller::{self, Context};
use subnet_operator::crd::{Miner, Subnet, Validator};
use subnet_operator::http::{self, HttpState};
use subnet_operator::leader::Leadership;
use subnet_operator::metrics::Metrics;
use subnet_operator::{Error, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    if let Err(e) = telemetry::init(config.log_format, &config.log_filter) {
        eprintln!("subnet-operator: {e}");
        return std::process::ExitCode::FAILURE;
    }
    match run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "subnet-operator stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), Error> {
    if std::env::var_os("CHAIN_ENDPOINTS").is_some() {
        // One endpoint for every Subnet is what let a `network: test` Subnet burn on Finney.
        return Err(Error::Chain(
            "CHAIN_ENDPOINTS is no longer read: each Subnet names its chain (spec.network, spec.endpoints); give your own nodes for the named networks with FINNEY_ENDPOINTS / TEST_ENDPOINTS".into(),
        ));
    }
    tracing::info!(version = env!("CARGO_PKG_VERSION"), namespaces = ?config.namespaces(), "starting subnet-operator");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = stop_rx.map(|_| ()).shared();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        let _ = stop_tx.send(());
    });

    let metrics = Metrics::new();
    let ready = Arc::new(AtomicBool::new(false));
    let http = tokio::spawn(http::serve(
        config.metrics_addr,
        HttpState {
            metrics: metrics.clone(),
            ready: ready.clone(),
        },
        shutdown.clone(),
    ));

    let client = subnet_operator::apiclient::client(&metrics)
        .await
        .map_err(Error::KubeClient)?;
    for ns in config.namespaces() {
        check_crds(&client, ns.as_deref()).await?;
    }
    ready.store(true, Ordering::Relaxed);

    let mut leadership = if config.leader_election {
        let mut l = Leadership::start(client.clone(), &config).await?;
        tracing::info!(lease = %config.lease_name, namespace = %config.lease_namespace(), identity = %config.identity(), "waiting for the leader lease");
        tokio::select! {
            r = l.acquired() => r?,
            _ = shutdown.clone() => {
                l.release().await;
                return Ok(());
            }
        }
        tracing::info!("acquired the leader lease");
        Some(l)
    } else {
        tracing::warn!("leader election is off: run exactly one operator process");
        None
    };
    metrics.leader.set(1);

    let mut ctx = Context::new(
        client,
        metrics.clone(),
        &config.identity(),
        Duration::from_secs(config.resync_seconds.max(10)),
    );
    match config.chain_backend {
        ChainBackend::None => {
            tracing::warn!("no chain backend: Subnets report ChainNotConnected")
        }
        ChainBackend::Sim => {
            tracing::warn!(url = %config.sim_chain_url, "using a SIMULATED chain (in-memory model) for every network: nothing is registered on a real network")
        }
        ChainBackend::Subxt => tracing::info!(
            finney = %config.finney_endpoints,
            test = %config.test_endpoints,
            "each Subnet's chain is opened when a Subnet first uses it"
        ),
    }
    ctx.chains = config.chain_pool(metrics.clone());
    let ctx = Arc::new(ctx);
    // One set of controllers per watched namespace (or one for all), sharing the context: the
    // chain cache, the signers, the metrics and the back-off.
    let controllers =
        futures::future::join_all(config.namespaces().into_iter().map(|ns| {
            controller::run(ctx.clone(), ns, config.concurrency.max(1), shutdown.clone())
        }));
    let lost = async {
        match leadership.as_mut() {
            Some(l) => l.lost().await,
            None => futures::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        _ = controllers => Ok(()),
        _ = lost => Err(Error::LeadershipLost),
    };
    metrics.leader.set(0);
    if let Some(l) = leadership {
        l.release().await;
    }
    outcome?;
    match http.await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "HTTP server task ended abnormally");
            Ok(())
        }
    }
}

/// Exits early, with a clear message, when a CRD is not installed.
async fn check_crds(client: &Client, ns: Option<&str>) -> Result<(), Error> {
    async fn one<K>(client: &Client, ns: Option<&str>) -> Result<(), Error>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + CustomResourceExt
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned,
        K::DynamicType: Default,
    {
        // Metadata only: an object that fails to deserialize must not stop the operator.
        let api: Api<K> = controller::api(client, ns);
        api.list_metadata(&ListParams::default().limit(1))
            .await
            .map(|_| ())
            .map_err(|source| Error::CrdMissing {
                kind: K::crd_name(),
                source,
            })
    }
    one::<Subnet>(client, ns).await?;
    one::<Miner>(client, ns).await?;
    one::<Validator>(client, ns).await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => return,
                _ = tokio::signal::ctrl_c() => return,
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
