//! The loop driven by scripted wakes; the driver writes down each effect, so a test checks
//! their order.

use super::*;
use std::collections::{BTreeSet, VecDeque};
use std::future::Future;

fn ready<F: Future>(future: F) -> F::Output {
    crate::engine::run_ready(future).expect("the scripted driver is always ready")
}

type Command = RuntimeCommand<&'static str, &'static str>;

#[derive(Default)]
struct Scripted {
    wakes: VecDeque<Wake<&'static str, &'static str>>,
    stored: BTreeSet<&'static str>,
    /// The durable turn queue the runtime finds at its start.
    loaded: Vec<&'static str>,
    log: Vec<String>,
}

impl Scripted {
    fn new(wakes: Vec<Wake<&'static str, &'static str>>) -> Self {
        Self {
            wakes: wakes.into(),
            ..Self::default()
        }
    }
}

impl RuntimeDriver for Scripted {
    type Turn = &'static str;
    type Running = &'static str;
    type Handover = &'static str;

    fn message_id<'t>(&self, turn: &'t &'static str) -> &'t str {
        turn
    }
    async fn load_queue(&mut self) -> Vec<&'static str> {
        let loaded = std::mem::take(&mut self.loaded);
        self.stored.extend(loaded.iter().copied());
        loaded
    }
    fn stored(&self, turn: &&'static str) -> Stored {
        if self.stored.contains(turn) {
            Stored::Stored
        } else {
            Stored::Pending
        }
    }
    async fn wake(
        &mut self,
        head: Option<&&'static str>,
        running: Option<&mut &'static str>,
    ) -> Wake<&'static str, &'static str> {
        let wake = self.wakes.pop_front().expect("a wake left in the script");
        if let Wake::HeadAnswered = wake {
            self.stored.insert(head.copied().expect("a head waits"));
        }
        if let Wake::TurnDone(_) = wake {
            assert!(running.is_some(), "a turn runs");
        }
        wake
    }
    fn start_turn(&mut self, turn: &'static str) -> &'static str {
        self.log.push(format!("start {turn}"));
        turn
    }
    async fn cancel(&mut self, running: &mut &'static str) {
        self.log.push(format!("cancel {running}"));
    }
    fn resolve_permissions(&mut self, outcome: PermissionOutcome) {
        self.log.push(format!("resolve {}", outcome.as_str()));
    }
    fn end_turn(&mut self, running: &'static str, end: TurnEndNote) {
        self.log
            .push(format!("end {running} {:?} {:?}", end.reason, end.error));
    }
    fn forget(&mut self, turns: Vec<&'static str>, dropped: bool) {
        if !turns.is_empty() {
            self.log.push(format!("forget {turns:?} dropped={dropped}"));
        }
    }
    fn handed_over(&mut self, done: &'static str) {
        self.log.push(format!("answer {done}"));
    }
}

fn deliver(turn: &'static str) -> Wake<&'static str, &'static str> {
    Wake::Command(Some(Command::Deliver(turn)))
}

fn completed() -> Wake<&'static str, &'static str> {
    Wake::TurnDone(TurnFinish::Answered {
        interrupted: false,
        stop_reason: None,
    })
}

#[test]
fn a_turn_starts_once_its_message_is_stored_and_ends_after_its_questions_are_closed() {
    let mut driver = Scripted::new(vec![
        deliver("m1"),
        Wake::HeadAnswered,
        completed(),
        Wake::Command(Some(Command::Abort { reason: "stopped" })),
    ]);
    assert_eq!(ready(run(&mut driver)), "stopped");
    assert_eq!(
        driver.log,
        ["start m1", "resolve cancelled", "end m1 Completed None"]
    );
}

#[test]
fn an_interrupt_cuts_the_turn_then_answers_then_runs_its_message_first() {
    let mut driver = Scripted::new(vec![
        deliver("m1"),
        Wake::HeadAnswered,
        deliver("m2"),
        Wake::Command(Some(Command::Interrupt {
            next: Some("m3"),
            done: "cut",
        })),
        Wake::HeadAnswered,
        Wake::Command(None),
    ]);
    assert_eq!(ready(run(&mut driver)), reason::RUNTIME_EXITED);
    assert_eq!(
        driver.log,
        [
            "start m1",
            "cancel m1",
            "resolve cancelled",
            "end m1 Interrupted None",
            "answer cut",
            "start m3",
            // The handle went away (a shutdown of the task): the queue stays stored.
            "forget [\"m2\"] dropped=false",
            "cancel m3",
            "resolve expired",
            "end m3 Interrupted None",
        ]
    );
}

#[test]
fn a_stop_records_the_dropped_queue_before_the_cut_turns_end() {
    let mut driver = Scripted::new(vec![
        deliver("m1"),
        Wake::HeadAnswered,
        deliver("m2"),
        Wake::Command(Some(Command::Abort {
            reason: reason::STOPPED,
        })),
    ]);
    assert_eq!(ready(run(&mut driver)), reason::STOPPED);
    assert_eq!(
        driver.log,
        [
            "start m1",
            "forget [\"m2\"] dropped=true",
            "cancel m1",
            "resolve cancelled",
            "end m1 Interrupted None",
        ]
    );
}

#[test]
fn a_shutdown_keeps_the_queue_stored_and_its_questions_expire() {
    let mut driver = Scripted::new(vec![
        deliver("m1"),
        Wake::HeadAnswered,
        deliver("m2"),
        Wake::Command(Some(Command::Abort {
            reason: reason::SERVER_SHUTDOWN,
        })),
    ]);
    ready(run(&mut driver));
    assert_eq!(driver.log[1], "forget [\"m2\"] dropped=false");
    assert_eq!(driver.log[3], "resolve expired");
}

#[test]
fn a_lost_agent_ends_its_turn_with_the_error_and_the_runtime_with_it() {
    let mut driver = Scripted::new(vec![
        deliver("m1"),
        Wake::HeadAnswered,
        deliver("m2"),
        Wake::TurnDone(TurnFinish::Failed {
            message: "agent exited".into(),
            agent_lost: true,
        }),
    ]);
    assert_eq!(ready(run(&mut driver)), reason::RUNTIME_EXITED);
    assert_eq!(
        driver.log,
        [
            "start m1",
            "resolve cancelled",
            "end m1 Error Some(\"agent exited\")",
            "forget [\"m2\"] dropped=false",
        ]
    );
}

#[test]
fn a_close_drops_the_queue_lets_the_turn_finish_and_exits() {
    let mut driver = Scripted::new(vec![
        deliver("m1"),
        Wake::HeadAnswered,
        deliver("m2"),
        Wake::Command(Some(Command::Close)),
        deliver("m3"),
        completed(),
    ]);
    assert_eq!(ready(run(&mut driver)), reason::CLOSED);
    assert_eq!(
        driver.log,
        [
            "start m1",
            "resolve cancelled",
            "forget [\"m2\"] dropped=true",
            // A closing runtime refuses what comes after.
            "forget [\"m3\"] dropped=true",
            "resolve cancelled",
            "end m1 Completed None",
        ]
    );
}

#[test]
fn the_stored_queue_runs_first_and_a_handed_over_copy_of_it_runs_once() {
    let mut driver = Scripted::new(vec![
        // m2 was stored before the queue was read, and is handed over as well.
        deliver("m2"),
        deliver("m3"),
        completed(),
        completed(),
        Wake::HeadAnswered,
        completed(),
        Wake::Command(Some(Command::Abort {
            reason: reason::STOPPED,
        })),
    ]);
    driver.loaded = vec!["m1", "m2"];
    ready(run(&mut driver));
    assert_eq!(
        driver.log,
        [
            "start m1",
            "forget [\"m2\"] dropped=false",
            "resolve cancelled",
            "end m1 Completed None",
            "start m2",
            "resolve cancelled",
            "end m2 Completed None",
            "start m3",
            "resolve cancelled",
            "end m3 Completed None",
        ]
    );
}
