//! [`MessageIndex`]: where each message of a view is, by id, so an event finds its message in
//! O(1) however long the conversation.
//!
//! Why not a `HashMap<String, usize>`: the index is derived from the view's messages, so it
//! needs no keys of its own. This table holds only positions into `messages` (4 bytes each,
//! no id copies) and compares ids against the messages themselves. It is also small code: the
//! standard map's insert and rehash were 1.2 KB of the gzipped Wasm package.
//!
//! The table is open addressing with linear probing, at most half full, so a lookup reads one
//! or two slots. Adding a message places one slot, and moves the slots of the messages after
//! it (the user's unconfirmed ones, usually none). The rarer moves (a message confirmed into
//! log order, or leaving for another view; once per user message) rebuild the table in O(n).
//!
//! The hash is rustc's FxHash over 8-byte words: the ids come from the user's own server and a
//! view holds one conversation, so SipHash's resistance to chosen keys buys nothing here.

use super::state::Message;

/// An empty slot.
const EMPTY: u32 = u32::MAX;

/// The smallest table (a power of two).
const MIN_SLOTS: usize = 8;

/// Positions of a view's messages, by id. Two indexes are always equal: the index is derived
/// from the messages, and two views with the same messages are the same view whatever the
/// history that laid out their tables.
#[derive(Debug, Clone, Default)]
pub(crate) struct MessageIndex {
    slots: Vec<u32>,
}

impl PartialEq for MessageIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl MessageIndex {
    /// The position of the message `id` in `messages`.
    #[cfg_attr(sessionwire_size, optimize(speed))]
    pub(crate) fn find(&self, messages: &[Message], id: &str) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut slot = hash(id) & mask;
        loop {
            let position = *self.slots.get(slot)?;
            if position == EMPTY {
                return None;
            }
            let position = position as usize;
            if messages
                .get(position)
                .is_some_and(|m| crate::bytes::same(&m.id, id))
            {
                return Some(position);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Records the message just appended at the end of `messages`.
    pub(crate) fn appended(&mut self, messages: &[Message]) {
        self.inserted(messages, messages.len().saturating_sub(1));
    }

    /// Records the message just inserted at `at`; the messages after it moved up one. Costs
    /// O(1 + moved): a logged message goes before the user's few unconfirmed ones, and a
    /// replayed conversation must not rebuild the table per message.
    pub(crate) fn inserted(&mut self, messages: &[Message], at: usize) {
        if 2 * messages.len() > self.slots.len() {
            return self.rebuild(messages);
        }
        // From the last down, so that the old position looked for is held by one slot only:
        // the moved message's own, which lies on its id's probe sequence.
        for position in (at + 1..messages.len()).rev() {
            match self.slot_holding(&messages[position].id, position - 1) {
                Some(slot) => self.slots[slot] = position as u32,
                None => return self.rebuild(messages),
            }
        }
        if let Some(message) = messages.get(at) {
            self.place(&message.id, at);
        }
    }

    /// Records every message again, after messages moved.
    pub(crate) fn rebuild(&mut self, messages: &[Message]) {
        let size = (2 * messages.len()).next_power_of_two().max(MIN_SLOTS);
        self.slots.clear();
        self.slots.resize(size, EMPTY);
        for (position, message) in messages.iter().enumerate() {
            self.place(&message.id, position);
        }
    }

    /// The slot on `id`'s probe sequence that holds `position`.
    fn slot_holding(&self, id: &str, position: usize) -> Option<usize> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut slot = hash(id) & mask;
        loop {
            match *self.slots.get(slot)? {
                EMPTY => return None,
                held if held as usize == position => return Some(slot),
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    /// Puts `position` in the first free slot of `id`'s probe sequence (the table is never full).
    fn place(&mut self, id: &str, position: usize) {
        let mask = self.slots.len() - 1;
        let mut slot = hash(id) & mask;
        while self.slots[slot] != EMPTY {
            slot = (slot + 1) & mask;
        }
        self.slots[slot] = position as u32;
    }
}

/// rustc's FxHash of the id's bytes, read as little-endian words.
#[cfg_attr(sessionwire_size, optimize(speed))]
fn hash(id: &str) -> usize {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let add = |hash: u64, word: u64| (hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    let mut chunks = id.as_bytes().chunks_exact(8);
    let mut hash = 0;
    for chunk in &mut chunks {
        // A conversion, not a copy: one 8-byte load (a copy into a zeroed array compiled to a
        // `memcpy` call per word at opt-level "s").
        hash = add(
            hash,
            u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default()),
        );
    }
    let mut word = 0u64;
    for (shift, byte) in chunks.remainder().iter().enumerate() {
        word |= u64::from(*byte) << (8 * shift);
    }
    // The high bits are the best mixed; the table takes the low ones, so fold them down.
    let hash = add(hash, word);
    (hash ^ (hash >> 32)) as usize
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_macros)]
    use super::*;

    fn messages(ids: &[&str]) -> Vec<Message> {
        ids.iter()
            .map(|id| Message::assistant((*id).to_owned()))
            .collect()
    }

    #[test]
    fn finds_every_message_and_nothing_else() {
        let mut list = Vec::new();
        let mut index = MessageIndex::default();
        assert_eq!(index.find(&list, "a"), None);
        for n in 0..1000 {
            list.push(Message::assistant(format!("message-{n}")));
            index.appended(&list);
        }
        for n in 0..1000 {
            assert_eq!(index.find(&list, &format!("message-{n}")), Some(n));
        }
        assert_eq!(index.find(&list, "message-1000"), None);
        assert_eq!(index.find(&list, ""), None);
        // At most half full, so a miss always meets an empty slot.
        assert!(index.slots.len() >= 2 * list.len());
    }

    #[test]
    fn inserting_before_the_last_messages_moves_them() {
        let mut list = Vec::new();
        let mut index = MessageIndex::default();
        // Logged messages go in before two unconfirmed ones, many times, as in a replay.
        for id in ["pending-1", "pending-2"] {
            list.push(Message::assistant(id.to_owned()));
            index.appended(&list);
        }
        for n in 0..500 {
            let at = list.len() - 2;
            list.insert(at, Message::assistant(format!("logged-{n}")));
            index.inserted(&list, at);
        }
        for (position, message) in list.iter().enumerate() {
            assert_eq!(
                index.find(&list, &message.id),
                Some(position),
                "{}",
                message.id
            );
        }
        assert_eq!(list[500].id, "pending-1");
        assert_eq!(index.find(&list, "logged-500"), None);
    }

    #[test]
    fn rebuild_follows_moved_messages() {
        let mut list = messages(&["a", "b", "c", "d"]);
        let mut index = MessageIndex::default();
        index.rebuild(&list);
        let moved = list.remove(3);
        list.insert(1, moved);
        index.rebuild(&list);
        let found: Vec<_> = ["a", "d", "b", "c"]
            .iter()
            .map(|id| index.find(&list, id))
            .collect();
        assert_eq!(found, [Some(0), Some(1), Some(2), Some(3)]);
        list.remove(0);
        index.rebuild(&list);
        assert_eq!(index.find(&list, "a"), None);
        assert_eq!(index.find(&list, "c"), Some(2));
    }
}
