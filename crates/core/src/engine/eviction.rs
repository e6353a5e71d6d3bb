//! Which sessions' in-memory entries a server forgets, and when (PROTOCOL.md §1.2: memory stays
//! bounded for a user with many old sessions; a forgotten entry is reloaded from the store on
//! its next use).
//!
//! Invariants, for each entry a sweep ([`sweep`]) forgets:
//! - it was idle ([`idle`]): no runtime, no watcher, nothing but the driver's table of entries
//!   holding it (no route or task in the middle of using it);
//! - everything submitted for it was committed before it is forgotten, or a reload would read a
//!   stale last seq;
//! - it did not change while that commit was awaited (the same last seq and version) and is
//!   still idle ([`unchanged_and_idle`]); the driver checks that and removes it as one step,
//!   with nothing able to take the entry in between.

/// What a driver knows of one loaded entry's use, at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryUse {
    /// Something besides the table of entries and the sweep holds the entry.
    pub held: bool,
    /// A runtime runs for the session.
    pub runtime: bool,
    /// How many connections watch the session.
    pub watchers: usize,
    /// Its last seq and lifecycle version: a change of either means it was used.
    pub last_seq: u64,
    pub version: u64,
}

/// Whether an entry nobody uses: it may be forgotten once its writes are committed.
pub fn idle(entry: &EntryUse) -> bool {
    !entry.held && !entry.runtime && entry.watchers == 0
}

/// Whether an entry found idle (`found`) may be forgotten now (`now`, its use as the driver
/// removes it): unchanged since, and still idle.
pub fn unchanged_and_idle(found: &EntryUse, now: &EntryUse) -> bool {
    (found.last_seq, found.version) == (now.last_seq, now.version) && idle(now)
}

/// The effects a sweep asks of its driver.
#[allow(async_fn_in_trait)] // The server's futures are `Send` through its concrete driver.
pub trait EvictionDriver {
    /// A loaded entry, as the driver holds it.
    type Entry;

    /// Every loaded entry, with its use now.
    fn loaded(&mut self) -> Vec<(Self::Entry, EntryUse)>;
    /// Waits until everything submitted to the store so far is committed; false if that
    /// failed (nothing is forgotten then).
    async fn committed(&mut self) -> bool;
    /// Forgets each of `found` (entries with their use when found) for which `forget(found,
    /// now)` holds, `now` being its use at that moment, checked and removed under one lock of
    /// the table; returns how many it forgot.
    fn forget_where(
        &mut self,
        found: Vec<(Self::Entry, EntryUse)>,
        forget: fn(&EntryUse, &EntryUse) -> bool,
    ) -> usize;
}

/// One sweep: the idle entries, once their writes are committed, forgotten if still idle and
/// unchanged. Returns how many were forgotten.
pub async fn sweep<D: EvictionDriver>(driver: &mut D) -> usize {
    let mut found = driver.loaded();
    found.retain(|(_, entry)| idle(entry));
    if found.is_empty() || !driver.committed().await {
        return 0;
    }
    driver.forget_where(found, unchanged_and_idle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::engine::run_ready;

    const IDLE: EntryUse = EntryUse {
        held: false,
        runtime: false,
        watchers: 0,
        last_seq: 7,
        version: 2,
    };

    /// A table of entries by name, whose uses the test changes while the commit is awaited.
    struct Table {
        entries: Vec<(&'static str, EntryUse)>,
        /// Applied to the table while `committed` is awaited (someone used an entry meanwhile).
        meanwhile: Vec<(&'static str, EntryUse)>,
        commit_fails: bool,
        commits: usize,
    }

    impl EvictionDriver for Table {
        type Entry = &'static str;

        fn loaded(&mut self) -> Vec<(&'static str, EntryUse)> {
            self.entries.clone()
        }

        async fn committed(&mut self) -> bool {
            self.commits += 1;
            for (name, now) in std::mem::take(&mut self.meanwhile) {
                self.entries.iter_mut().find(|(n, _)| *n == name).unwrap().1 = now;
            }
            !self.commit_fails
        }

        fn forget_where(
            &mut self,
            found: Vec<(&'static str, EntryUse)>,
            forget: fn(&EntryUse, &EntryUse) -> bool,
        ) -> usize {
            let before = self.entries.len();
            self.entries.retain(|(name, now)| {
                !found
                    .iter()
                    .any(|(f, use_found)| f == name && forget(use_found, now))
            });
            before - self.entries.len()
        }
    }

    fn table(entries: Vec<(&'static str, EntryUse)>) -> Table {
        Table {
            entries,
            meanwhile: Vec::new(),
            commit_fails: false,
            commits: 0,
        }
    }

    #[test]
    fn only_an_entry_nobody_uses_is_idle() {
        assert!(idle(&IDLE));
        assert!(!idle(&EntryUse { held: true, ..IDLE }));
        assert!(!idle(&EntryUse {
            runtime: true,
            ..IDLE
        }));
        assert!(!idle(&EntryUse {
            watchers: 1,
            ..IDLE
        }));
    }

    #[test]
    fn a_sweep_forgets_the_idle_entries_once_committed() {
        let mut t = table(vec![
            ("idle", IDLE),
            (
                "watched",
                EntryUse {
                    watchers: 2,
                    ..IDLE
                },
            ),
            (
                "running",
                EntryUse {
                    runtime: true,
                    ..IDLE
                },
            ),
            ("held", EntryUse { held: true, ..IDLE }),
        ]);
        assert_eq!(run_ready(sweep(&mut t)), Some(1));
        let left: Vec<_> = t.entries.iter().map(|(n, _)| *n).collect();
        assert_eq!(left, ["watched", "running", "held"]);
        assert_eq!(t.commits, 1);
    }

    #[test]
    fn nothing_to_forget_waits_for_no_commit() {
        let mut t = table(vec![(
            "watched",
            EntryUse {
                watchers: 1,
                ..IDLE
            },
        )]);
        assert_eq!(run_ready(sweep(&mut t)), Some(0));
        assert_eq!(t.commits, 0);
    }

    #[test]
    fn a_failed_commit_forgets_nothing() {
        let mut t = table(vec![("idle", IDLE)]);
        t.commit_fails = true;
        assert_eq!(run_ready(sweep(&mut t)), Some(0));
        assert_eq!(t.entries.len(), 1);
    }

    #[test]
    fn an_entry_used_while_the_commit_was_awaited_is_kept() {
        let mut t = table(vec![("a", IDLE), ("b", IDLE), ("c", IDLE), ("d", IDLE)]);
        t.meanwhile = vec![
            // An event appended, the lifecycle moved, a watcher came: each keeps its entry.
            (
                "a",
                EntryUse {
                    last_seq: 8,
                    ..IDLE
                },
            ),
            ("b", EntryUse { version: 3, ..IDLE }),
            (
                "c",
                EntryUse {
                    watchers: 1,
                    ..IDLE
                },
            ),
        ];
        assert_eq!(run_ready(sweep(&mut t)), Some(1));
        let left: Vec<_> = t.entries.iter().map(|(n, _)| *n).collect();
        assert_eq!(left, ["a", "b", "c"]);
    }
}
