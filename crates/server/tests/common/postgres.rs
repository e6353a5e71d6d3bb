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
    /// Whether its TCP port speaks only TLS (see [`PgCluster::start_tls`]).
    tls: bool,
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
        Self::start_as(false)
    }

    /// A new cluster whose TCP port takes only TLS connections, with a certificate for
    /// 127.0.0.1 signed by a CA of its own ([`PgCluster::ca`]); there, `postgres` needs no
    /// password and every other role its SCRAM password. Its Unix socket takes `postgres` as is.
    pub fn start_tls() -> Self {
        Self::start_as(true)
    }

    fn start_as(tls: bool) -> Self {
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
            tls,
        };
        if tls {
            cluster.make_certificates();
            let hba = "local all all trust\n\
                       hostssl all postgres 127.0.0.1/32 trust\n\
                       hostssl all all 127.0.0.1/32 scram-sha-256\n\
                       hostnossl all all 127.0.0.1/32 reject\n";
            std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        }
        cluster.resume();
        cluster
    }

    /// The PEM file of the CA that signed a TLS cluster's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// A CA, and a server certificate for 127.0.0.1 and localhost signed by it (openssl).
    fn make_certificates(&self) {
        let dir = self.dir.path();
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("running openssl (scripts/setup.sh installs it)");
            assert!(output.status.success(), "openssl {args:?}: {output:?}");
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &[
                    "req",
                    "-x509",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=sessionwire test CA",
                ][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.crt"],
                &["-addext", "basicConstraints=critical,CA:TRUE"],
                &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req", "-subj", "/CN=127.0.0.1"][..],
                &ec,
                &["-keyout", "server.key", "-out", "server.csr"],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.crt",
            "-extfile",
            "server.ext",
        ]);
        // PostgreSQL refuses a key that others may read, or that is not its own.
        let key = dir.join("server.key");
        let status = Command::new("chmod").arg("600").arg(&key).status().unwrap();
        assert!(status.success());
        if is_root() {
            let status = Command::new("chown")
                .arg("postgres")
                .arg(&key)
                .arg(dir.join("server.crt"))
                .status()
                .unwrap();
            assert!(status.success());
        }
    }

    /// A blocking client as `postgres` over the Unix socket (which a TLS cluster also serves
    /// without TLS). Call it off the async workers.
    pub fn admin(&self) -> ::postgres::Client {
        ::postgres::Config::new()
            .host_path(self.dir.path())
            .port(self.port)
            .user("postgres")
            .dbname("postgres")
            .connect(::postgres::NoTls)
            .expect("connecting to the cluster's socket")
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
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        if self.tls {
            let dir = self.dir.path().display();
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key"
            ));
        }
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
