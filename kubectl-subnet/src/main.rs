//! `kubectl-subnet`: run as `kubectl subnet status|diagnose|plan` (see `--help`).

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use kubectl_subnet::cli::{Cli, Command, FleetRef};
use kubectl_subnet::fetch::Kube;
use kubectl_subnet::view::{StatusOptions, diagnose_view, plan_view, status_view};
use kubectl_subnet::{Error, error, render};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not worth a panic.
            let _ = stdout.write_all(out.as_bytes());
            let _ = stdout.flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", error::chain(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

/// Checks the arguments, fetches, and renders: what the command prints. Arguments are checked
/// before any configuration is loaded or request sent.
async fn run(cli: Cli) -> Result<String, Error> {
    let connect = || Kube::connect(cli.kubeconfig.as_deref(), cli.context.as_deref());
    let namespace = |kube: &Kube| {
        cli.namespace
            .clone()
            .unwrap_or_else(|| kube.default_namespace.clone())
    };
    match &cli.command {
        Command::Status {
            target,
            name,
            block_time,
        } => {
            let target = FleetRef::parse(target, name.as_deref())?;
            let kube = connect().await?;
            let ns = namespace(&kube);
            let fleet = kube.fleet(&target, &ns).await?;
            let subnet = kube.subnet(&ns, &fleet.spec.subnet_ref.name).await;
            let opts = StatusOptions {
                block_time: *block_time,
            };
            let view = status_view(&fleet, &subnet, &opts);
            Ok(render::encode(&view, cli.output)?.unwrap_or_else(|| render::status_table(&view)))
        }
        Command::Plan { target, name } => {
            let target = FleetRef::parse(target, name.as_deref())?;
            let kube = connect().await?;
            let ns = namespace(&kube);
            let fleet = kube.fleet(&target, &ns).await?;
            let subnet = kube.subnet(&ns, &fleet.spec.subnet_ref.name).await;
            let view = plan_view(&fleet, &subnet);
            Ok(render::encode(&view, cli.output)?.unwrap_or_else(|| render::plan_table(&view)))
        }
        Command::Diagnose { all_namespaces } => {
            let kube = connect().await?;
            let ns = (!all_namespaces).then(|| namespace(&kube));
            let (fleets, unreadable) = kube.fleets(ns.as_deref()).await?;
            let view = diagnose_view(&fleets, &unreadable, ns.as_deref());
            Ok(render::encode(&view, cli.output)?.unwrap_or_else(|| render::diagnose_table(&view)))
        }
    }
}
