//! `send` and `interrupt`: a user message taken exactly once (PROTOCOL.md §4.1, §4.2), and
//! the `ack` of a retry that finds its original stored.
//!
//! Order: reserve the `clientMsgId`, look up its earlier use and the session, then under the
//! route lock decide, watch, hand the turn to the runtime and submit its `user_message` (so the
//! runtime gets turns in seq order and starts one only once it is stored); the lock is released
//! before the store's answer is awaited, and the ack goes right after its `user_message`.

use super::{Handled, Out, Refusal, Route, RouteDriver, TurnHandoff};
use crate::engine::listing;
use crate::lifecycle::triggers;
use crate::protocol::{Ack, InterruptFrame, SendFrame, SessionCreated};
use crate::routing::{
    decide_interrupt, decide_send, InterruptDecision, SendDecision, StoredMessage,
};
use crate::Reply;

/// Where a message goes in its runtime's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// After the current turn and anything queued.
    Queue,
    /// Interrupt the current turn and run first.
    Interrupt,
}

/// A `user_message` submitted to the store and handed to its runtime.
struct Submitted<D: RouteDriver> {
    /// The store's answer.
    stored: D::Write,
    /// An interrupt's hand-over: answered once the runtime has cut its turn.
    interrupted: Option<D::Handover>,
    /// `running` as the message was taken (what its ack says).
    running: bool,
}

/// What an interrupt took: a message (submitted, or not for want of a runtime), or only its
/// `clientMsgId` and the running turn's cut, if any (what its ack waits for).
enum Taken<D: RouteDriver> {
    Message(Attempt<D>),
    Textless(D::Write, Option<D::Handover>),
}

enum Attempt<D: RouteDriver> {
    Submitted(Submitted<D>),
    /// The runtime was gone before it took the turn; nothing was submitted.
    RuntimeGone(D::Runtime),
}

/// A user message: its id and text.
#[derive(Clone, Copy)]
struct Message<'a> {
    client_msg_id: &'a str,
    text: &'a str,
}

impl<D: RouteDriver> Route<'_, D> {
    pub(super) async fn send(&mut self, frame: SendFrame) -> Handled {
        // The clientMsgId is reserved until the store answers for it: a retry racing its
        // original waits here (holding nothing) and then finds it stored. Sends to other
        // sessions, or with other ids, do not wait.
        let reservation = self.driver.reserve(&frame.client_msg_id).await;
        let stored = self.driver.stored_client_msg(&frame.client_msg_id).await?;
        let mut session = match &frame.session_id {
            Some(id) => self.driver.owned_session(id).await?,
            None => None,
        };
        let message = Message {
            client_msg_id: &frame.client_msg_id,
            text: &frame.text,
        };
        // Decide and submit under the session's route lock; anything that must be awaited (an
        // aborted runtime's exit) is awaited without it, and the decision is then made again.
        let submitted = loop {
            let route = self.lock(&session).await;
            if stored.is_none() {
                self.refuse_if_fenced(session.as_ref())?;
            }
            let lookup = self.driver.lookup(session.as_ref());
            // A session this send created (then found its runtime gone) is decided as that one.
            let target = session
                .as_ref()
                .map(|session| self.driver.session_id(session));
            let decision = decide_send(
                target.as_deref().or(frame.session_id.as_deref()),
                lookup,
                stored.clone(),
            );
            let attempt = match decision {
                SendDecision::Duplicate {
                    original,
                    announce_session,
                } => {
                    drop(route);
                    drop(reservation);
                    return self
                        .duplicate(&frame.client_msg_id, original, announce_session)
                        .await;
                }
                SendDecision::NotFound => {
                    return Err(Refusal::not_found(
                        frame.session_id.as_deref().unwrap_or_default(),
                    ))
                }
                SendDecision::Create => {
                    // (No route lock is held: there was no session.)
                    let created = self
                        .driver
                        .create_session(listing::title_of(&frame.text))
                        .await?;
                    let _route = self.driver.lock_route(&created).await;
                    // Watch before the first event, so this connection sees seq 1 onwards.
                    self.start_watching(&created);
                    let id = self.driver.session_id(&created);
                    self.conn.set_current(Some(id.to_string()));
                    self.reply(Reply::SessionCreated(SessionCreated {
                        session_id: id.to_string(),
                        client_msg_id: frame.client_msg_id.clone(),
                    }));
                    self.driver.announce_created(&created);
                    let runtime = self.driver.start_runtime(&created);
                    let attempt = self.submit(&created, runtime, message, Delivery::Queue);
                    session = Some(created);
                    attempt
                }
                SendDecision::Deliver { reattach, .. } => {
                    let session = session
                        .as_ref()
                        .ok_or_else(|| Refusal::internal("session vanished"))?;
                    self.start_watching(session);
                    self.driver.reattach(session, reattach);
                    let runtime = self.driver.runtime(session);
                    self.submit(session, runtime, message, Delivery::Queue)
                }
                SendDecision::AbortZombieThenResume { .. } | SendDecision::Resume => {
                    let session = session
                        .as_ref()
                        .ok_or_else(|| Refusal::internal("session vanished"))?;
                    self.start_watching(session);
                    if let Some(zombie) = self.abort_zombie(session) {
                        drop(route);
                        self.driver.exited(zombie).await;
                        continue;
                    }
                    let runtime = self.driver.start_runtime(session);
                    self.submit(session, runtime, message, Delivery::Queue)
                }
            };
            drop(route);
            match attempt? {
                Attempt::Submitted(submitted) => break submitted,
                // The runtime ended between the lookup and the hand-over (nothing was
                // submitted): wait for its clean-up and decide again, as for a session
                // without a live runtime.
                Attempt::RuntimeGone(old) => self.driver.exited(old).await,
            }
        };
        let session = session.ok_or_else(|| Refusal::internal("session vanished"))?;
        self.acknowledge(&session, submitted, reservation, message)
            .await
    }

    pub(super) async fn interrupt(&mut self, frame: InterruptFrame) -> Handled {
        let mut reservation = self.driver.reserve(&frame.client_msg_id).await;
        let stored = self.driver.stored_client_msg(&frame.client_msg_id).await?;
        let session = self.driver.owned_session(&frame.session_id).await?;
        let submitted = loop {
            let route = self.lock(&session).await;
            if stored.is_none() {
                self.refuse_if_fenced(session.as_ref())?;
            }
            let lookup = self.driver.lookup(session.as_ref());
            let decision = decide_interrupt(frame.text.is_some(), lookup, stored.clone());
            if let InterruptDecision::Duplicate { original } = decision {
                drop(route);
                drop(reservation);
                return self.duplicate(&frame.client_msg_id, original, false).await;
            }
            let Some(session) = session
                .as_ref()
                .filter(|_| decision != InterruptDecision::NotFound)
            else {
                return Err(Refusal::not_found(&frame.session_id));
            };
            self.start_watching(session);
            let message = frame.text.as_deref().map(|text| Message {
                client_msg_id: &frame.client_msg_id,
                text,
            });
            let taken = match (decision, message) {
                (InterruptDecision::InterruptTurn { reattach, .. }, Some(message)) => {
                    self.driver.reattach(session, reattach);
                    let runtime = self.driver.runtime(session);
                    Taken::Message(self.submit(session, runtime, message, Delivery::Interrupt)?)
                }
                (InterruptDecision::InterruptTurn { reattach, .. }, None) => {
                    self.driver.reattach(session, reattach);
                    let runtime = self.driver.runtime(session);
                    let written = self.driver.submit_client_msg(session, &frame.client_msg_id);
                    // After the clientMsgId's write: the interrupt's turn_end comes after its seq.
                    let cut = runtime.and_then(|runtime| self.driver.interrupt(&runtime, None));
                    Taken::Textless(written, cut)
                }
                (InterruptDecision::AbortZombie { .. } | InterruptDecision::Resume, message) => {
                    if let Some(zombie) = self.abort_zombie(session) {
                        drop(route);
                        self.driver.exited(zombie).await;
                        continue;
                    }
                    match message {
                        Some(message) => {
                            let runtime = self.driver.start_runtime(session);
                            Taken::Message(self.submit(
                                session,
                                runtime,
                                message,
                                Delivery::Queue,
                            )?)
                        }
                        None => Taken::Textless(
                            self.driver.submit_client_msg(session, &frame.client_msg_id),
                            None,
                        ),
                    }
                }
                (_, _) => Taken::Textless(
                    self.driver.submit_client_msg(session, &frame.client_msg_id),
                    None,
                ),
            };
            drop(route);
            match taken {
                Taken::Message(Attempt::Submitted(submitted)) => break submitted,
                Taken::Message(Attempt::RuntimeGone(old)) => self.driver.exited(old).await,
                Taken::Textless(written, cut) => {
                    self.driver
                        .reservation_submitted(&mut reservation, &written);
                    let session = session.clone();
                    return self
                        .ack_without_text(&session, &frame.client_msg_id, written, cut, reservation)
                        .await;
                }
            }
        };
        let session = session.ok_or_else(|| Refusal::internal("session vanished"))?;
        let text = frame.text.as_deref().unwrap_or_default();
        let message = Message {
            client_msg_id: &frame.client_msg_id,
            text,
        };
        self.acknowledge(&session, submitted, reservation, message)
            .await
    }

    /// Under the route lock: hands the turn to the runtime and submits its `user_message` (with
    /// the `clientMsgId` and its place in the durable turn queue, atomically). The runtime gets
    /// turns in seq order and starts one only once its message is stored. Nothing is awaited.
    fn submit(
        &mut self,
        session: &D::Session,
        runtime: Option<D::Runtime>,
        message: Message<'_>,
        how: Delivery,
    ) -> Result<Attempt<D>, Refusal> {
        let Some(runtime) = runtime else {
            return Err(Refusal::internal("no runtime could start for the session"));
        };
        let (done, stored) = self.driver.write();
        let turn = TurnHandoff {
            message_id: message.client_msg_id,
            prompt: message.text,
            stored: &stored,
        };
        let interrupted = match how {
            Delivery::Queue => {
                if !self.driver.deliver(&runtime, turn) {
                    return Ok(Attempt::RuntimeGone(runtime));
                }
                None
            }
            Delivery::Interrupt => match self.driver.interrupt(&runtime, Some(turn)) {
                Some(handover) => Some(handover),
                None => return Ok(Attempt::RuntimeGone(runtime)),
            },
        };
        // Stored with its place in the turn queue, so that an acked message runs even if the
        // server dies before its turn starts.
        self.driver.submit_user_message(
            session,
            message.client_msg_id,
            message.text,
            how == Delivery::Interrupt,
            done,
        );
        Ok(Attempt::Submitted(Submitted {
            stored,
            interrupted,
            running: self.driver.running(session),
        }))
    }

    /// What `send` and `interrupt` do once their `user_message` is submitted: wait (holding
    /// nothing) for it to be stored, then schedule the ack right after its `user_message`. An
    /// interrupt the runtime never took (it exited first) goes to the session's next runtime,
    /// as for a session without a live one.
    async fn acknowledge(
        &mut self,
        session: &D::Session,
        submitted: Submitted<D>,
        mut reservation: D::Reservation,
        message: Message<'_>,
    ) -> Handled {
        self.driver
            .reservation_submitted(&mut reservation, &submitted.stored);
        let seq = self
            .driver
            .stored_seq(session, &submitted.stored, reservation)
            .await?;
        if let Some(handover) = submitted.interrupted {
            if !self.driver.handed_over(handover).await {
                let _route = self.driver.lock_route(session).await;
                let runtime = match self.driver.runtime(session) {
                    Some(runtime) => Some(runtime),
                    None => self.driver.start_runtime(session),
                };
                let turn = TurnHandoff {
                    message_id: message.client_msg_id,
                    prompt: message.text,
                    stored: &submitted.stored,
                };
                // (If no runtime takes it, it waits in the durable turn queue for the next.)
                if let Some(runtime) = runtime {
                    self.driver.deliver(&runtime, turn);
                }
            }
        }
        self.out.push(Out::AckAfter {
            seq,
            ack: Ack {
                session_id: self.driver.session_id(session).to_string(),
                client_msg_id: message.client_msg_id.to_owned(),
                seq,
                duplicate: false,
                running: submitted.running,
            },
        });
        Ok(())
    }

    /// An `interrupt` without text has no `user_message`. Its `clientMsgId` is stored durably
    /// all the same (so a retry is a duplicate), with seq = the session's last seq at the moment
    /// the interrupt was taken, and that is the seq its ack names. The interrupt's own
    /// `turn_end` comes after the ack. Called without the route lock, with the write submitted.
    async fn ack_without_text(
        &mut self,
        session: &D::Session,
        client_msg_id: &str,
        written: D::Write,
        cut: Option<D::Handover>,
        reservation: D::Reservation,
    ) -> Handled {
        let seq = self
            .driver
            .stored_seq(session, &written, reservation)
            .await?;
        if let Some(cut) = cut {
            self.driver.handed_over(cut).await;
        }
        self.reply(Reply::Ack(Ack {
            session_id: self.driver.session_id(session).to_string(),
            client_msg_id: client_msg_id.to_owned(),
            seq,
            duplicate: false,
            running: self.driver.running(session),
        }));
        Ok(())
    }

    /// A `clientMsgId` stored before: acked as the original was, with `duplicate: true`.
    pub(super) async fn duplicate(
        &mut self,
        client_msg_id: &str,
        original: StoredMessage,
        announce_session: bool,
    ) -> Handled {
        let session = self.driver.any_session(&original.session_id).await?;
        if announce_session {
            // A retried `send` with `sessionId: null`: announce the session made the first time
            // (no second one), make it current, and replay it, as the creating connection saw it.
            self.reply(Reply::SessionCreated(SessionCreated {
                session_id: original.session_id.clone(),
                client_msg_id: client_msg_id.to_owned(),
            }));
            if let Some(session) = &session {
                {
                    let _route = self.driver.lock_route(session).await;
                    self.start_watching(session);
                    self.conn
                        .set_current(Some(self.driver.session_id(session).to_string()));
                    if self.driver.runtime(session).is_some() {
                        let to = triggers::watcher_joined(self.driver.state(session));
                        self.driver.reattach(session, to);
                    }
                }
                let (replay, _) = self.replay_of(session, 0).await?;
                self.out.push(replay);
            }
        }
        let running = session
            .as_ref()
            .is_some_and(|session| self.driver.running(session));
        self.reply(Reply::Ack(Ack {
            session_id: original.session_id,
            client_msg_id: client_msg_id.to_owned(),
            seq: original.seq,
            duplicate: true,
            running,
        }));
        Ok(())
    }
}
