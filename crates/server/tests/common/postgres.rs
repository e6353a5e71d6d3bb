//! A PostgreSQL cluster of a test's own (initdb + pg_ctl in a temporary directory, on a free
//! loopback port, as the `postgres` system user since PostgreSQL refuses root), for the tests
//! that stop and start the database or run several server processes on it.

use std::{
    path::PathBuf,
    process::{Command, Output},
};

pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

fn is_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("running id");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// Runs a PostgreSQL program as the `postgres` user (as ourselves when we are not root).
fn run_as_postgres(program: &PathBuf, args: &[&str]) -> Output {
    let output = if is_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(program)
            .args(args)
            .output()
    } else {
        Command::new(program).args(args).output()
    };
    output.unwrap_or_else(|error| panic!("running {}: {error}", program.display()))
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl PgCluster {
    /// A new cluster, started.
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries are missing: run scripts/setup.sh")
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("initdb").exists())
            .max()
            .expect("no /usr/lib/postgresql/*/bin/initdb: run scripts/setup.sh");
        let dir = tempfile::Builder::new()
            .prefix("sessionwire-pg-test")
            .tempdir()
            .unwrap();
        if is_root() {
            let status = Command::new("chown")
                .arg("postgres")
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = dir.path().join("data");
        let output = run_as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        assert!(output.status.success(), "initdb: {output:?}");
        let cluster = Self {
            dir,
            bin,
            port: free_port(),
        };
        cluster.resume();
        cluster
    }

    /// `postgres://postgres@127.0.0.1:PORT` (no database).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// A new database in the cluster; its URL.
    pub fn database(&self) -> String {
        super::fresh_postgres_database(&self.url())
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("server.log");
        let mut all = vec!["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap()];
        all.extend_from_slice(args);
        run_as_postgres(&self.bin.join("pg_ctl"), &all)
    }

    /// Stops the database (an outage: every connection to it breaks).
    pub fn stop(&self) {
        let output = self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
        assert!(output.status.success(), "pg_ctl stop: {output:?}");
    }

    /// Starts it (again), on the same port.
    pub fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let output = self.pg_ctl(&["-w", "-t", "60", "-o", &options, "start"]);
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        assert!(output.status.success(), "pg_ctl start: {output:?}\n{log}");
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
    }
}
