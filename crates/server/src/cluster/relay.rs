//! The relay: the frames between a client's connection on one process (the *proxy* end of a
//! link) and the process that serves the client's user (the *host* end), carried through the
//! database as PostgreSQL notifications on a channel of each process.
//!
//! Invariants:
//! - The messages one process sends another arrive in the order they were sent: each process
//!   sends through one connection, and PostgreSQL delivers notifications in commit order.
//! - A frame larger than a notification's payload (8,000 bytes) goes in chunks, joined again
//!   before it is handed on.
//! - Nothing is retried: a relay that loses its connection to the database has lost what was in
//!   flight, so it ends every link through it ([`Links::end_all`]); their clients reconnect and
//!   replay from their last seq, which loses nothing.

use super::Links;
use crate::store::postgres::Target;
use anyhow::{anyhow, Context};
use postgres::{fallible_iterator::FallibleIterator, Client};
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Weak,
    },
    time::Duration,
};
use tokio::sync::mpsc;

/// The payload bytes of one notification's data, under PostgreSQL's 8,000 with room for the
/// header.
const CHUNK: usize = 7_600;

/// Messages waiting for the sender thread, at most.
const OUTBOX: usize = 65_536;

/// At most this many messages go in one round trip.
const BATCH: usize = 512;

/// Sends a batch: one notification per (channel, payload), in the arrays' order.
const NOTIFY: &str = "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS t(c, p)";

/// A sender idle this long checks its connection before it sends.
const IDLE_PROBE: Duration = Duration::from_secs(1);

/// How long that check may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the listener waits for a notification before it checks whether it should stop.
const LISTEN_TICK: Duration = Duration::from_millis(500);

/// Which way a message goes, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Proxy → host: serve a connection of this user (`data` is the user).
    Open,
    /// Proxy → host: a client frame.
    ToHost,
    /// Proxy → host: the client left.
    EndHost,
    /// Proxy → host: the client took this many bytes of what the host sent (flow control).
    Credit,
    /// Host → proxy: the hosted connection is there (a proxy that does not hear this soon ends
    /// the link: the host may not have been listening when it was opened).
    Opened,
    /// Host → proxy: a server frame.
    ToProxy,
    /// Host → proxy: the hosted connection ended (`data` is `code reason`).
    EndProxy,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Self::Open => 'O',
            Self::ToHost => 'F',
            Self::EndHost => 'X',
            Self::Credit => 'c',
            Self::Opened => 'o',
            Self::ToProxy => 'f',
            Self::EndProxy => 'x',
        }
    }

    fn from_letter(letter: &str) -> Option<Self> {
        Some(match letter {
            "O" => Self::Open,
            "F" => Self::ToHost,
            "X" => Self::EndHost,
            "c" => Self::Credit,
            "o" => Self::Opened,
            "f" => Self::ToProxy,
            "x" => Self::EndProxy,
            _ => return None,
        })
    }
}

/// One whole message (its chunks joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    /// The sender's epoch.
    pub from: String,
    /// The link's id, chosen by its proxy end.
    pub link: u64,
    pub data: String,
}

/// The notification channel of a process.
pub fn channel_of(epoch: &str) -> String {
    format!("sw_{epoch}")
}

/// The notification payloads of one message: `kind \t from \t link \t n \t more \t data`, where
/// `n` numbers the sender's payloads (PostgreSQL folds identical payloads of one transaction
/// into one) and `more` is 1 when the data goes on in the next payload.
pub fn encode(message: &Message, counter: &AtomicU64) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut rest = message.data.as_str();
    loop {
        let mut cut = rest.len().min(CHUNK);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (chunk, tail) = rest.split_at(cut);
        let more = u8::from(!tail.is_empty());
        let n = counter.fetch_add(1, Ordering::Relaxed);
        payloads.push(format!(
            "{}\t{}\t{}\t{n}\t{more}\t{chunk}",
            message.kind.letter(),
            message.from,
            message.link
        ));
        if tail.is_empty() {
            return payloads;
        }
        rest = tail;
    }
}

/// Joins payloads back into messages, per sender and link.
#[derive(Debug, Default)]
pub struct Decoder {
    partial: HashMap<(String, u64, char), String>,
}

impl Decoder {
    /// The message this payload completes, if it does (a malformed payload is dropped).
    pub fn push(&mut self, payload: &str) -> Option<Message> {
        let mut fields = payload.splitn(6, '\t');
        let letter = fields.next()?;
        let kind = Kind::from_letter(letter)?;
        let from = fields.next()?.to_owned();
        let link: u64 = fields.next()?.parse().ok()?;
        let _n = fields.next()?;
        let more = fields.next()? == "1";
        let chunk = fields.next()?;
        let key = (from.clone(), link, kind.letter());
        let data = match self.partial.remove(&key) {
            Some(mut start) => {
                start.push_str(chunk);
                start
            }
            None => chunk.to_owned(),
        };
        if more {
            self.partial.insert(key, data);
            return None;
        }
        Some(Message {
            kind,
            from,
            link,
            data,
        })
    }
}

/// One process's relay: its sender and listener threads.
#[derive(Debug)]
pub struct Relay {
    epoch: Arc<str>,
    outbox: mpsc::Sender<(String, Vec<String>)>,
    counter: AtomicU64,
    stopped: Arc<AtomicBool>,
}

impl Relay {
    /// Connects the sender and the listener (which hands every message to `links`). Blocking.
    pub fn start(target: &Target, epoch: Arc<str>, links: Weak<Links>) -> anyhow::Result<Self> {
        let stopped = Arc::new(AtomicBool::new(false));
        let mut listener = target.connect().context("the relay's listener")?;
        listener.batch_execute(&format!("LISTEN \"{}\"", channel_of(&epoch)))?;
        let sender = target.connect().context("the relay's sender")?;
        let (outbox, inbox) = mpsc::channel(OUTBOX);
        // Bumped by the listener each time it loses the database: the sender's connection is
        // then as old as the outage, and is replaced before it sends.
        let outages = Arc::new(AtomicU64::new(0));
        let listen_outages = outages.clone();
        let listen_target = target.clone();
        let listen_epoch = epoch.clone();
        let listen_stopped = stopped.clone();
        let listen_links = links.clone();
        std::thread::Builder::new()
            .name("sessionwire-relay-in".into())
            .spawn(move || {
                listen(
                    listener,
                    &listen_target,
                    &listen_epoch,
                    &listen_links,
                    &listen_stopped,
                    &listen_outages,
                );
            })?;
        let send_target = target.clone();
        std::thread::Builder::new()
            .name("sessionwire-relay-out".into())
            .spawn(move || send_loop(sender, &send_target, inbox, &links, &outages))?;
        Ok(Self {
            epoch,
            outbox,
            counter: AtomicU64::new(0),
            stopped,
        })
    }

    /// Sends a message to the process `to`. Waits while the relay's queue is full.
    pub async fn send(&self, to: &str, kind: Kind, link: u64, data: String) -> anyhow::Result<()> {
        let message = Message {
            kind,
            from: self.epoch.to_string(),
            link,
            data,
        };
        let payloads = encode(&message, &self.counter);
        self.outbox
            .send((channel_of(to), payloads))
            .await
            .map_err(|_| anyhow!("the relay stopped"))
    }

    /// Stops the listener (the sender stops once every sender handle is gone).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }
}

/// The sender thread: sends what is queued, a batch per round trip, in order.
fn send_loop(
    mut client: Client,
    target: &Target,
    mut inbox: mpsc::Receiver<(String, Vec<String>)>,
    links: &Weak<Links>,
    outages: &AtomicU64,
) {
    let mut last_sent = std::time::Instant::now();
    let mut outages_seen = outages.load(Ordering::SeqCst);
    // The statement that sends a batch, prepared on the current connection.
    let mut notify: Option<postgres::Statement> = None;
    while let Some(first) = inbox.blocking_recv() {
        // A connection that broke meanwhile (the database restarted: the listener saw it and
        // ended the links then; or an idle one checked now) is replaced before it sends, so
        // nothing of this batch is lost and no link has to end for it.
        let outages_now = outages.load(Ordering::SeqCst);
        let outage = outages_now != outages_seen;
        outages_seen = outages_now;
        if outage
            || client.is_closed()
            || (last_sent.elapsed() > IDLE_PROBE && client.is_valid(PROBE_TIMEOUT).is_err())
        {
            match target.connect() {
                Ok(fresh) => {
                    client = fresh;
                    notify = None;
                }
                Err(error) => tracing::warn!(%error, "the relay cannot reconnect"),
            }
        }
        let mut channels = Vec::new();
        let mut payloads = Vec::new();
        let mut next = Some(first);
        while let Some((channel, parts)) = next.take() {
            for part in parts {
                channels.push(channel.clone());
                payloads.push(part);
            }
            if payloads.len() < BATCH {
                next = inbox.try_recv().ok();
            }
        }
        // Prepared once per connection: an unprepared statement costs a round trip more.
        if notify.is_none() {
            notify = client.prepare(NOTIFY).ok();
        }
        let sent = match &notify {
            Some(statement) => client.execute(statement, &[&channels, &payloads]),
            None => client.execute(NOTIFY, &[&channels, &payloads]),
        };
        last_sent = std::time::Instant::now();
        if let Err(error) = sent {
            // What was in flight is lost: every link through this process ends, and their
            // clients reconnect.
            tracing::warn!(%error, "the relay could not send; ending its links");
            if let Some(links) = links.upgrade() {
                links.end_all();
            }
            match target.connect() {
                Ok(fresh) => {
                    client = fresh;
                    notify = None;
                }
                Err(error) => {
                    tracing::error!(%error, "the relay cannot reconnect; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }
}

/// The listener thread: hands every message to the links; on a lost connection, ends them all
/// and listens again.
fn listen(
    mut client: Client,
    target: &Target,
    epoch: &str,
    links: &Weak<Links>,
    stopped: &AtomicBool,
    outages: &AtomicU64,
) {
    let mut decoder = Decoder::default();
    while !stopped.load(Ordering::SeqCst) {
        let mut failed = None;
        {
            let mut notifications = client.notifications();
            let mut iter = notifications.timeout_iter(LISTEN_TICK);
            loop {
                match iter.next() {
                    Ok(Some(notification)) => {
                        if let Some(message) = decoder.push(notification.payload()) {
                            match links.upgrade() {
                                Some(links) => links.receive(message),
                                None => return,
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        failed = Some(error);
                        break;
                    }
                }
            }
        }
        let Some(error) = failed else { continue };
        tracing::warn!(%error, "the relay's listener lost the database; ending its links");
        // The sender's connection went with it: it is replaced before the next send.
        outages.fetch_add(1, Ordering::SeqCst);
        decoder = Decoder::default();
        if let Some(links) = links.upgrade() {
            links.end_all();
        }
        let mut backoff = Duration::from_millis(50);
        loop {
            if stopped.load(Ordering::SeqCst) {
                return;
            }
            match target.connect().and_then(|mut fresh| {
                fresh.batch_execute(&format!("LISTEN \"{}\"", channel_of(epoch)))?;
                Ok(fresh)
            }) {
                Ok(fresh) => {
                    client = fresh;
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "the relay cannot listen again; retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_message_survives_its_chunks_and_payloads_are_unique() {
        let counter = AtomicU64::new(0);
        let big: String = "é\tx".repeat(10_000);
        let message = Message {
            kind: Kind::ToProxy,
            from: "epoch-b".into(),
            link: 7,
            data: big.clone(),
        };
        let payloads = encode(&message, &counter);
        assert!(payloads.len() > 3);
        assert!(payloads.iter().all(|p| p.len() < 8_000));
        let mut decoder = Decoder::default();
        let mut whole = None;
        for (index, payload) in payloads.iter().enumerate() {
            let got = decoder.push(payload);
            assert_eq!(got.is_some(), index == payloads.len() - 1);
            whole = got.or(whole);
        }
        assert_eq!(whole.unwrap(), message);
        let again = encode(&message, &counter);
        assert_ne!(
            again[0], payloads[0],
            "a second, equal message has its own payloads"
        );
        let empty = Message {
            kind: Kind::EndHost,
            from: "a".into(),
            link: 1,
            data: String::new(),
        };
        let payloads = encode(&empty, &counter);
        assert_eq!(payloads.len(), 1);
        assert_eq!(Decoder::default().push(&payloads[0]), Some(empty));
        assert_eq!(Decoder::default().push("garbage"), None);
    }
}
