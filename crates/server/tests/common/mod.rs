//! Shared helpers for the integration tests: a server on port 0 with a temporary database, on
//! its own Tokio runtime (so a test can "crash" it by dropping that runtime), and a WebSocket
//! client that reads JSON frames with a timeout used only as a failure guard.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod postgres;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sessionwire_server::{hub::Hub, Config, Database, Server, WriterHandle};
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use tokio::net::TcpStream;
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

/// How long any single expected frame may take before the test fails.
pub const GUARD: Duration = Duration::from_secs(15);

/// Waits (bounded by [`GUARD`]) until `done` holds.
pub async fn until(what: &str, done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < GUARD, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: Arc<tempfile::TempDir>,
    pub config: Config,
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    writer: WriterHandle,
    hub: Option<Arc<Hub>>,
    /// More processes on the same database (PostgreSQL, `SESSIONWIRE_TEST_PROCESSES`): new
    /// clients connect to each in turn, this one first.
    pub others: Vec<TestServer>,
    next_client: std::sync::atomic::AtomicUsize,
}

/// How many server processes a test server is (`SESSIONWIRE_TEST_PROCESSES`, PostgreSQL only;
/// default 1): scripts/test-postgres.sh runs the suite once with 3, clients spread over them.
pub fn processes() -> usize {
    std::env::var("SESSIONWIRE_TEST_PROCESSES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// A configuration with the database and www directory in `dir` (the database is a fresh
/// PostgreSQL one instead when the tests run on PostgreSQL: see [`database_in`]).
pub fn config_in(dir: &tempfile::TempDir) -> Config {
    let mut config = Config::new(database_in(dir));
    config.www_dir = dir.path().join("www");
    config
}

/// The PostgreSQL cluster the tests run on, if they do: `SESSIONWIRE_TEST_POSTGRES` is a
/// `postgres://user@host:port` URL with no database (scripts/test-postgres.sh sets it).
pub fn postgres_cluster() -> Option<String> {
    std::env::var("SESSIONWIRE_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.is_empty())
}

/// The store of a test server: SQLite in `dir`, or a PostgreSQL database of its own on the
/// tests' cluster, made for `dir` the first time (so a server started again over the same
/// `dir` finds what the last one stored, as it finds its SQLite file).
pub fn database_in(dir: &tempfile::TempDir) -> Database {
    use std::{collections::HashMap, sync::Mutex};
    static DATABASES: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    let Some(cluster) = postgres_cluster() else {
        return Database::Sqlite(dir.path().join("test.db"));
    };
    let mut databases = DATABASES.lock().unwrap();
    let url = databases
        .get_or_insert_with(HashMap::new)
        .entry(dir.path().to_owned())
        .or_insert_with(|| fresh_postgres_database(&cluster));
    Database::Postgres(url.clone())
}

/// Creates a database on `cluster` and returns its URL. On a thread of its own: the blocking
/// client must not run on an async test's runtime thread.
pub fn fresh_postgres_database(cluster: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "sw_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = format!("{cluster}/postgres");
    let create = format!("CREATE DATABASE {name}");
    std::thread::spawn(move || {
        let mut client = ::postgres::Client::connect(&admin, ::postgres::NoTls)
            .unwrap_or_else(|error| panic!("connecting to the test cluster {admin}: {error}"));
        client.batch_execute(&create).unwrap();
    })
    .join()
    .unwrap();
    format!("{cluster}/{name}")
}

pub async fn start() -> TestServer {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let config = config_in(&dir);
    start_with(dir, config).await
}

pub async fn start_config(edit: impl FnOnce(&mut Config)) -> TestServer {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = config_in(&dir);
    edit(&mut config);
    start_with(dir, config).await
}

/// Starts a server over `dir` (reused by a restart after a crash): on PostgreSQL with
/// `SESSIONWIRE_TEST_PROCESSES=N`, N processes on its database.
pub async fn start_with(dir: Arc<tempfile::TempDir>, config: Config) -> TestServer {
    let mut server = start_one(dir.clone(), config.clone()).await;
    if matches!(config.db, Database::Postgres(_)) {
        for _ in 1..processes() {
            server
                .others
                .push(start_one(dir.clone(), config.clone()).await);
        }
    }
    server
}

/// One server process.
async fn start_one(dir: Arc<tempfile::TempDir>, config: Config) -> TestServer {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = runtime
        .spawn(Server::open(config.clone()))
        .await
        .unwrap()
        .unwrap();
    let writer = server.writer_handle();
    let hub = server.hub().clone();
    let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
    let task = runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        server
            .serve(listener, async move {
                let _ = signal.await;
            })
            .await
    });
    TestServer {
        addr,
        dir,
        config,
        runtime: Some(runtime),
        shutdown: Some(shutdown),
        task: Some(task),
        writer,
        hub: Some(hub),
        others: Vec::new(),
        next_client: std::sync::atomic::AtomicUsize::new(0),
    }
}

impl TestServer {
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// The server's shared state (tests use it to set up states a client cannot reach).
    pub fn hub(&self) -> Arc<Hub> {
        self.hub.clone().unwrap()
    }

    /// Where the next client connects: each process in turn.
    fn next_url(&self) -> String {
        let turn = self
            .next_client
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % (1 + self.others.len());
        match turn {
            0 => self.url(),
            n => self.others[n - 1].url(),
        }
    }

    pub async fn client(&self) -> Client {
        let mut client = Client::connect(&self.next_url()).await;
        let welcome = client.hello(None).await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        client
    }

    pub async fn client_with_token(&self, token: &str) -> Client {
        let mut client = Client::connect(&self.next_url()).await;
        let welcome = client.hello(Some(token)).await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        client
    }

    /// Graceful shutdown (of every process).
    pub async fn stop(mut self) {
        for other in std::mem::take(&mut self.others) {
            Box::pin(other.stop()).await;
        }
        self.hub.take();
        let _ = self.shutdown.take().unwrap().send(());
        tokio::time::timeout(GUARD, self.task.take().unwrap())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        self.runtime.take().unwrap().shutdown_background();
    }

    /// A crash: every task of the server is dropped without any shutdown, mid-whatever. Returns
    /// once the store's writer let go of the database, so it can be reopened.
    pub async fn crash(mut self) -> (Arc<tempfile::TempDir>, Config) {
        for other in std::mem::take(&mut self.others) {
            Box::pin(other.crash()).await;
        }
        // The instant of the crash: nothing is written after it, whatever the dropped tasks do.
        self.writer.sever();
        if let Some(cluster) = self.hub.as_ref().and_then(|hub| hub.cluster().cloned()) {
            // Its heartbeat stops and is dated back: the next process takes its users at once
            // (a real crash would make them wait out the lease timeout).
            tokio::task::spawn_blocking(move || cluster.die())
                .await
                .unwrap();
        }
        self.hub.take();
        self.shutdown.take();
        self.runtime.take().unwrap().shutdown_background();
        let writer = self.writer.clone();
        tokio::time::timeout(GUARD, tokio::task::spawn_blocking(move || writer.join()))
            .await
            .unwrap()
            .unwrap();
        (self.dir.clone(), self.config.clone())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

pub fn ty(frame: &Value) -> &str {
    frame["type"].as_str().unwrap_or("")
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio::time::timeout(GUARD, tokio_tungstenite::connect_async(url))
            .await
            .unwrap()
            .unwrap();
        Self { ws }
    }

    /// The raw socket (for frames the helpers do not make).
    pub fn ws_mut(&mut self) -> &mut WebSocketStream<MaybeTlsStream<TcpStream>> {
        &mut self.ws
    }

    pub async fn hello(&mut self, token: Option<&str>) -> Value {
        let mut hello = json!({"type": "hello", "protocol": 1});
        if let Some(token) = token {
            hello["token"] = json!(token);
        }
        self.send(hello).await;
        self.recv().await
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::Binary(bytes.into())).await.unwrap();
    }

    /// The next text frame as JSON; fails the test on close or after [`GUARD`].
    pub async fn recv(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(GUARD, self.ws.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("connection ended")
                .expect("websocket error");
            match message {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Close(frame) => panic!("connection closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Reads frames until the close frame; returns its code (text frames before it are returned
    /// too).
    pub async fn recv_close(&mut self) -> (Vec<Value>, Option<u16>) {
        let mut frames = Vec::new();
        loop {
            let message = tokio::time::timeout(GUARD, self.ws.next())
                .await
                .expect("timed out waiting for close");
            match message {
                Some(Ok(Message::Text(text))) => {
                    frames.push(serde_json::from_str(text.as_str()).unwrap())
                }
                Some(Ok(Message::Close(frame))) => {
                    return (frames, frame.map(|f| u16::from(f.code)))
                }
                Some(Ok(_)) => continue,
                Some(Err(error)) => {
                    eprintln!("recv_close: websocket error {error}");
                    return (frames, None);
                }
                None => return (frames, None),
            }
        }
    }

    /// Every frame up to and including the first one matching `done`.
    pub async fn recv_until(&mut self, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            let frame = self.recv().await;
            let stop = done(&frame);
            frames.push(frame);
            if stop {
                return frames;
            }
        }
    }

    /// `send` a message; `session` None creates a session.
    pub async fn send_message(&mut self, session: Option<&str>, client_msg_id: &str, text: &str) {
        self.send(json!({"type": "send", "sessionId": session, "clientMsgId": client_msg_id, "text": text})).await;
    }

    /// Creates a session with a first message and reads until that turn ends; returns the
    /// session id and the frames.
    pub async fn create_session(
        &mut self,
        client_msg_id: &str,
        text: &str,
    ) -> (String, Vec<Value>) {
        self.send_message(None, client_msg_id, text).await;
        let frames = self.recv_until(is_turn_end).await;
        let created = frames
            .iter()
            .find(|f| ty(f) == "session_created")
            .expect("session_created");
        (created["sessionId"].as_str().unwrap().to_owned(), frames)
    }

    /// Sends a `ping` and reads up to its `pong`: everything the server had queued for this
    /// connection before it handled the ping comes first.
    pub async fn sync(&mut self) -> Vec<Value> {
        let nonce = format!("sync-{}", rand_suffix());
        self.send(json!({"type": "ping", "nonce": nonce})).await;
        let mut frames = self
            .recv_until(|f| ty(f) == "pong" && f["nonce"] == nonce.as_str())
            .await;
        frames.pop();
        frames
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub fn is_turn_end(frame: &Value) -> bool {
    ty(frame) == "turn_end"
}

/// The events (frames with a seq, excluding acks) of one session, in order.
pub fn events_of<'a>(frames: &'a [Value], session: &str) -> Vec<&'a Value> {
    frames
        .iter()
        .filter(|f| f["seq"].is_u64() && ty(f) != "ack" && f["sessionId"] == session)
        .collect()
}

/// The text of the assistant's deltas among `frames`.
pub fn assistant_text(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| ty(f) == "block_delta")
        .map(|f| f["delta"].as_str().unwrap())
        .collect()
}

/// Asserts that the seqs are dense and increasing from `first`.
pub fn assert_dense(events: &[&Value], first: u64) {
    for (i, event) in events.iter().enumerate() {
        assert_eq!(
            event["seq"].as_u64().unwrap(),
            first + i as u64,
            "seq gap or duplicate at {event}"
        );
    }
}

pub fn www(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("www")
}
