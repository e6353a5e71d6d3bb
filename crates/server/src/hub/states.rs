//! A session's lifecycle as the hub carries it out: the changes the engine's
//! `SessionLifecycle` allows, persisted as `session_state` events, the timers they start, and
//! starting, closing and ending runtimes.

use super::{Extras, Hub, SessionEntry};
use crate::{registry::lock, runtime_handle::RuntimeHandle};
use sessionwire_core::{
    engine::session::{self, Expiry, StateChange, Step, Timer, TimerKind},
    lifecycle::{self, reason},
    protocol::SessionStateChange,
    EventKind, SessionState,
};
use std::sync::Arc;

impl Hub {
    /// Moves a session to `to` if the table allows it, persisting and emitting the change.
    /// A refused transition is logged and changes nothing.
    pub fn transition(
        self: &Arc<Self>,
        entry: &Arc<SessionEntry>,
        to: SessionState,
        why: &str,
    ) -> bool {
        let mut inner = lock(&entry.inner);
        match inner.lifecycle.transition(to) {
            Ok(change) => {
                self.persist_change(entry, change, why);
                drop(inner);
                if let Some(timer) = change.timer {
                    self.schedule_timer(entry, timer);
                }
                true
            }
            Err(refused) => {
                tracing::warn!(session = %entry.id, %refused, reason = why, "transition refused");
                false
            }
        }
    }

    /// Moves a session along several steps, each with its reason, if the whole path is valid.
    pub fn walk(
        self: &Arc<Self>,
        entry: &Arc<SessionEntry>,
        steps: &[(SessionState, &str)],
    ) -> bool {
        let states: Vec<SessionState> = steps.iter().map(|(state, _)| *state).collect();
        if let Err(refused) = lifecycle::path(entry.state(), &states) {
            tracing::warn!(session = %entry.id, %refused, "transition path refused");
            return false;
        }
        steps
            .iter()
            .all(|(to, why)| self.transition(entry, *to, why))
    }

    /// The one transition outside the table: start-up recovery.
    pub fn force_state(&self, entry: &SessionEntry, to: SessionState, why: &str) {
        let mut inner = lock(&entry.inner);
        let change = inner.lifecycle.force(to);
        self.persist_change(entry, change, why);
    }

    /// Submits a change's `session_state` event (under the entry's lock, so changes are stored
    /// in the order they were made).
    fn persist_change(&self, entry: &SessionEntry, change: StateChange, why: &str) {
        let kind = EventKind::SessionState(SessionStateChange {
            state: change.to,
            previous: Some(change.from),
            reason: why.to_owned(),
        });
        self.submit_append(entry, kind, Extras::state(change.to), None);
        tracing::debug!(session = %entry.id, from = %change.from, to = %change.to, reason = why, "session state");
    }

    /// Starts the timer a state change started (the detach TTL, the suspend grace); what it does
    /// when it goes off, and whether it is stale by then, is the engine's.
    fn schedule_timer(self: &Arc<Self>, entry: &Arc<SessionEntry>, timer: Timer) {
        let delay = match timer.kind {
            TimerKind::DetachTtl => self.config.detach_ttl,
            TimerKind::SuspendGrace => self.config.suspend_grace,
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (hub, entry) = (self.clone(), entry.clone());
        let mut shutdown = self.shutdown_signal();
        runtime.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = shutdown.wait_for(|down| *down) => return,
            }
            let route = entry.lock_route().await;
            let expiry = lock(&entry.inner).lifecycle.expire(timer);
            match expiry {
                None => {}
                Some(Expiry::Close(why)) => {
                    let aborted = hub.close_locked(&entry, why);
                    drop(route);
                    if let Some(runtime) = aborted {
                        runtime.exited().await;
                    }
                }
                Some(Expiry::Transition(to, why)) => {
                    hub.transition(&entry, to, why);
                }
            }
        });
    }

    /// Carries out the engine's steps in their order, for the runtime they are about (the live
    /// one, the one that exited, or none until `StartRuntime` starts one), which it returns. A
    /// refused state change is logged and stops the steps.
    fn carry_out(
        self: &Arc<Self>,
        entry: &Arc<SessionEntry>,
        steps: Vec<Step>,
        mut runtime: Option<RuntimeHandle>,
    ) -> Option<RuntimeHandle> {
        for step in steps {
            match (step, &runtime) {
                (Step::Go(to, why), _) => {
                    if !self.transition(entry, to, why) {
                        break;
                    }
                }
                (Step::StartRuntime, _) => {
                    let generation = self.runtimes.next_generation();
                    let started = (self.start_runtime)(self.clone(), entry.clone(), generation);
                    self.runtimes.insert(entry.id.clone(), started.clone());
                    runtime = Some(started);
                }
                (Step::CloseRuntime, Some(live)) => live.close(),
                (Step::AbortRuntime(why), Some(live)) => live.abort(why),
                (Step::ForgetRuntime, Some(exited)) => {
                    self.runtimes.remove(&entry.id, exited.generation);
                }
                (Step::CloseRuntime | Step::AbortRuntime(_) | Step::ForgetRuntime, None) => {}
            }
        }
        runtime
    }

    /// Brings a session without a live runtime to ACTIVE with a new one, along the engine's
    /// steps. The caller holds the session's route lock.
    pub fn start_runtime(self: &Arc<Self>, entry: &Arc<SessionEntry>) -> Option<RuntimeHandle> {
        let state = entry.state();
        let steps = session::start_steps(state);
        if matches!(steps.first(), Some(Step::Go(SessionState::Ended, _))) {
            tracing::warn!(session = %entry.id, %state, "session had no runtime; ending it before resuming");
        }
        let runtime = self.carry_out(entry, steps, None);
        if runtime.is_none() || entry.state() != SessionState::Active {
            tracing::error!(session = %entry.id, state = %entry.state(), "cannot start a runtime");
        }
        runtime
    }

    /// Aborts a runtime by signal and waits for its clean-up (its session is then ENDED).
    pub async fn abort_runtime(&self, runtime: &RuntimeHandle, why: &'static str) {
        runtime.abort(why);
        runtime.exited().await;
    }

    /// Called by a runtime task as it ends: the engine's exit steps (its session ENDED, then
    /// its registry entry removed, if it is still this generation's).
    pub fn runtime_exited(
        self: &Arc<Self>,
        entry: &Arc<SessionEntry>,
        generation: u64,
        why: &'static str,
    ) {
        let exited = self
            .runtimes
            .get(&entry.id)
            .filter(|runtime| runtime.generation == generation);
        self.carry_out(entry, session::exit_steps(entry.state(), why), exited);
        tracing::debug!(session = %entry.id, generation, reason = why, "runtime exited");
    }

    /// `close_session` (and the detach TTL), along the engine's close steps. The caller holds
    /// the route lock; a runtime this aborts is returned, for the caller to await its exit once
    /// it let go.
    #[must_use]
    pub fn close_locked(
        self: &Arc<Self>,
        entry: &Arc<SessionEntry>,
        why: &'static str,
    ) -> Option<RuntimeHandle> {
        let runtime = self.runtimes.get(&entry.id);
        let steps = session::close_steps(entry.state(), runtime.is_some(), why);
        let aborts = steps
            .iter()
            .any(|step| matches!(step, Step::AbortRuntime(_)));
        let runtime = self.carry_out(entry, steps, runtime);
        runtime.filter(|_| aborts)
    }

    /// A watcher joined a session with a live runtime: DETACHED or SUSPENDED becomes ACTIVE.
    pub fn reattach(self: &Arc<Self>, entry: &Arc<SessionEntry>, to: Option<SessionState>) {
        if let Some(to) = to {
            self.transition(entry, to, reason::WATCHER_JOINED);
        }
    }
}
