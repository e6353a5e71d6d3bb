//! Starting and stopping the real server binary.

use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `sessionwire-server` process.
#[derive(Debug)]
pub struct ServerProcess {
    pub child: Child,
    /// `127.0.0.1:PORT`, as the server printed it.
    pub address: String,
}

impl ServerProcess {
    /// Starts the binary on `db` (an SQLite file or a `postgres://` URL) and waits for its
    /// `listening on http://ADDR` line.
    pub async fn start(
        binary: &Path,
        db: impl AsRef<std::ffi::OsStr>,
        listen: &str,
        extra: &[&str],
    ) -> Result<Self> {
        let mut child = Command::new(binary)
            .args(["--listen", listen, "--db"])
            .arg(db)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let address = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("listening on http://") {
                    return Ok(url.trim().to_owned());
                }
            }
            bail!("the server exited before listening")
        })
        .await
        .context("the server did not print its listening line in 20 s")??;
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, address })
    }

    /// The process id (for RSS readings and signals).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no flush. What is durable must survive this.
    pub async fn kill(mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// The resident set size of the process, in KiB, from /proc.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid()?)
    }
}

/// The resident set size of process `pid`, in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        line.strip_prefix("VmRSS:")?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}

/// The server binary next to this tool's own binary (both are built into the same target dir),
/// unless `SESSIONWIRE_SERVER` names one.
pub fn default_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SESSIONWIRE_SERVER") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("sessionwire-server")
}
