//! Leader election on a `coordination.k8s.io/v1` Lease, so exactly one operator replica writes
//! to Kubernetes and to the chain.

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

use crate::config::Config;

/// Leadership state: `true` while this replica holds the Lease.
pub struct Leadership {
    /// Receives every change of the lock state.
    pub state: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<
        Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>,
    >,
}

impl Leadership {
    /// Starts competing for the Lease named in `config`.
    pub async fn start(client: Client, config: &Config) -> Result<Self, crate::Error> {
        let duration = config.lease_duration_seconds.max(3);
        let manager = LeaseManagerBuilder::new(client, &config.lease_name)
            .with_namespace(config.lease_namespace())
            .with_identity(config.identity())
            .with_duration(duration)
            .with_grace((duration / 3).max(1))
            .with_field_manager(format!("subnet-operator-lease-{}", config.identity()))
            .build()
            .await
            .map_err(crate::Error::Leader)?;
        let (state, task) = manager.watch().await;
        Ok(Self { state, task })
    }

    /// Waits until this replica is the leader.
    pub async fn acquired(&mut self) -> Result<(), crate::Error> {
        self.state
            .wait_for(|leader| *leader)
            .await
            .map(|_| ())
            .map_err(|_| crate::Error::LeadershipLost)
    }

    /// Resolves when leadership is lost after having been acquired.
    pub async fn lost(&mut self) {
        let _ = self.state.wait_for(|leader| !*leader).await;
    }

    /// Releases the Lease so a standby replica takes over at once.
    pub async fn release(self) {
        drop(self.state);
        match self.task.await {
            Ok(Ok(_)) => tracing::info!("released the leader lease"),
            Ok(Err(e)) => tracing::warn!(error = %e, "releasing the leader lease"),
            Err(e) => tracing::warn!(error = %e, "lease task ended abnormally"),
        }
    }
}
