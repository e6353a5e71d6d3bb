//! The `sessionwire-server` binary (PROTOCOL.md §9) and static file serving.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_sessionwire-server");

#[tokio::test]
async fn the_binary_prints_its_address_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // `--db` is a file, or in the PostgreSQL pass a `postgres://` URL.
    let db = match database_in(&dir) {
        sessionwire_server::Database::Sqlite(path) => path.into_os_string(),
        sessionwire_server::Database::Postgres(url) => url.into(),
    };
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .arg("--www")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .expect(&line)
        .to_owned();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    let mut client = Client::connect(&format!("ws://{addr}/ws")).await;
    assert_eq!(ty(&client.hello(None).await), "welcome");
    let (_, frames) = client.create_session("m1", "cli").await;
    assert_eq!(assistant_text(&frames), "echo: cli");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn a_non_loopback_address_without_a_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["--listen", "0.0.0.0:0", "--db"])
        .arg(dir.path().join("cli.db"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--token"), "{stderr}");
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(GUARD, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn static_files_are_served_with_the_right_types() {
    let server = start().await;
    let www = www(&server.dir);
    std::fs::create_dir_all(www.join("pkg")).unwrap();
    std::fs::write(www.join("index.html"), "<h1>demo</h1>").unwrap();
    std::fs::write(www.join("pkg/sessionwire.js"), "export default 1;").unwrap();
    std::fs::write(www.join("pkg/sessionwire_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let (head, body) = get(server.addr, "/").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert_eq!(body, "<h1>demo</h1>");
    let (head, _) = get(server.addr, "/pkg/sessionwire.js").await;
    assert!(head.contains("content-type: text/javascript"), "{head}");
    let (head, _) = get(server.addr, "/pkg/sessionwire_bg.wasm").await;
    assert!(head.contains("content-type: application/wasm"), "{head}");
    let (head, _) = get(server.addr, "/missing.txt").await;
    assert!(head.starts_with("http/1.1 404"), "{head}");
    server.stop().await;
}

#[test]
fn a_blank_token_in_the_environment_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    for tokens in [" ", "alice, ", ""] {
        let output = Command::new(BIN)
            .args(["--listen", "0.0.0.0:0", "--db"])
            .arg(dir.path().join("cli.db"))
            .env("SESSIONWIRE_TOKENS", tokens)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{tokens:?} started a server");
        assert!(output.stdout.is_empty(), "{tokens:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("token"), "{tokens:?}: {stderr}");
    }
    // Spaces around a token are trimmed: " alice " is the token "alice".
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("trim.db"))
        .env("SESSIONWIRE_TOKENS", " alice ")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .expect(&line)
        .to_owned();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = Client::connect(&format!("ws://{addr}/ws")).await;
        assert_eq!(ty(&client.hello(Some("alice")).await), "welcome");
        let mut client = Client::connect(&format!("ws://{addr}/ws")).await;
        assert_eq!(client.hello(Some(" alice ")).await["code"], "unauthorized");
    });
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn the_acp_agent_flags_are_checked_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let cases: [(&[&str], &str); 4] = [
        (&["--agent", "acp"], "--agent acp needs --agent-cmd"),
        (
            &["--agent", "acp", "--agent-cmd", "  "],
            "--agent acp needs --agent-cmd",
        ),
        (
            &[
                "--agent",
                "acp",
                "--agent-cmd",
                "true",
                "--agent-cwd",
                missing.to_str().unwrap(),
            ],
            "no such directory",
        ),
        (
            &["--agent-cwd", dir.path().to_str().unwrap()],
            "--agent-cwd is for --agent acp",
        ),
    ];
    for (args, message) in cases {
        let output = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--db"])
            .arg(dir.path().join("cli.db"))
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} started a server");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
