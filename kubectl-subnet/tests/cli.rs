//! The binary without a cluster: bad arguments, no kubeconfig, an API server that does not
//! answer. Each fails with a clear message and its exit code. (Its runs against a real API
//! server are in `e2e/tests/kubectl_plugin.rs`.)

use std::path::PathBuf;
use std::process::{Command, Output};

fn plugin(args: &[&str], env: &[(&str, &str)]) -> std::io::Result<Output> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-subnet"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // No ~/.kube/config to fall back to.
        .env("HOME", "/nonexistent")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_bad_kind_is_refused_before_any_request() -> std::io::Result<()> {
    let o = plugin(&["status", "foo/bar"], &[])?;
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "error: bad argument \"foo/bar\": unknown kind \"foo\": use miner/NAME or validator/NAME"
        ),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
    let o = plugin(&["plan", "alice"], &[])?;
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("expected KIND/NAME"), "{}", stderr(&o));
    Ok(())
}

#[test]
fn clap_usage_errors_exit_2_and_help_exits_0() -> std::io::Result<()> {
    let o = plugin(&["status", "miner/a", "-o", "xml"], &[])?;
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = plugin(&["--help"], &[])?;
    assert_eq!(o.status.code(), Some(0));
    let help = String::from_utf8_lossy(&o.stdout);
    for word in ["status", "diagnose", "plan", "--namespace", "--output"] {
        assert!(help.contains(word), "{word} not in:\n{help}");
    }
    Ok(())
}

#[test]
fn no_kubeconfig_says_so() -> std::io::Result<()> {
    let o = plugin(
        &["status", "miner/a"],
        &[("KUBECONFIG", "/nonexistent/kubeconfig")],
    )?;
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("error: no usable Kubernetes configuration: "),
        "{}",
        stderr(&o)
    );
    Ok(())
}

#[test]
fn an_api_server_that_does_not_answer_is_named() -> std::io::Result<()> {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = std::env::temp_dir().join(format!("kubectl-subnet-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig: PathBuf = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u, namespace: ns1}}}}]\ncurrent-context: x\n"
        ),
    )?;
    let path = kubeconfig.to_string_lossy().into_owned();
    let o = plugin(&["diagnose", "--kubeconfig", &path], &[])?;
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with(&format!(
            "error: cannot reach the API server at http://127.0.0.1:{port}/"
        )),
        "{}",
        stderr(&o)
    );
    Ok(())
}
