//! The command-line tools the tests drive, found once: the pinned builds of helm and promtool
//! (`e2e/tools/versions.env`), `kubectl` with input on stdin, and a command runner that fails
//! with the command's output.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};

use crate::{kubeconfig_path, repo_root};

/// Whether the environment must be there (`E2E_REQUIRED=1`, as in CI): then a missing tool or
/// cluster is a failure, not a skip.
pub fn required() -> bool {
    std::env::var("E2E_REQUIRED").as_deref() == Ok("1")
}

/// A pinned version from `e2e/tools/versions.env`.
pub fn pinned(key: &str) -> Result<String> {
    let env = std::fs::read_to_string(repo_root().join("e2e/tools/versions.env"))?;
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim().to_string())
        .with_context(|| format!("{key} missing from e2e/tools/versions.env"))
}

/// The first line `<tool> <args>` prints, when it runs.
fn version_line(tool: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(tool).args(args).output().ok()?;
    out.status.success().then(|| {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        text.lines().next().unwrap_or_default().trim().to_string()
    })
}

/// The pinned build of `name` (its version line contains `want`): on PATH, else (under
/// `E2E_REQUIRED=1`) from build-bins.sh; `None` after saying so loudly.
pub fn tool(name: &str, version_args: &[&str], want: &str) -> Option<PathBuf> {
    let matches = |p: &Path| version_line(p, version_args).is_some_and(|v| v.contains(want));
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if let Some(p) = on_path
        && matches(&p)
    {
        return Some(p);
    }
    if required() {
        // CI built (or cached) the binaries before the tests; this only finds them.
        let out = Command::new(repo_root().join("e2e/tools/build-bins.sh"))
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("running e2e/tools/build-bins.sh: {e}"));
        assert!(out.status.success(), "e2e/tools/build-bins.sh failed");
        let dir = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        let p = Path::new(&dir).join(name);
        assert!(matches(&p), "{} is not {name} {want}", p.display());
        return Some(p);
    }
    eprintln!(
        "SKIPPED: no {name} {want} on PATH. Run `make test`, or `e2e/tools/build-bins.sh` and \
         `eval \"$(e2e/cluster.sh env)\"` first."
    );
    None
}

/// The pinned helm, or `None` after saying so loudly (a failure under `E2E_REQUIRED=1`).
pub fn helm() -> Option<PathBuf> {
    let v = pinned("HELM_VERSION").unwrap_or_else(|e| panic!("{e:#}"));
    tool("helm", &["version", "--template", "{{ .Version }}"], &v)
}

/// Runs a command; returns stdout, or fails with its output.
pub fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// `kubectl <args>` with `input` on stdin, against the test cluster; returns stdout.
pub fn kubectl_stdin(args: &[&str], input: &str) -> Result<String> {
    let kubeconfig = kubeconfig_path().context("no test cluster")?;
    let mut child = Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting kubectl")?;
    child
        .stdin
        .take()
        .context("kubectl stdin")?
        .write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "kubectl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}
