//! The open occupancies: found by the XMPP user and room (their stanzas)
//! and by the Call-IDs of their dialogs (the focus's requests).

use std::collections::HashMap;

use tokio::sync::mpsc;

use parley_mapping::address::Jid;

use super::occupancy::Command;

/// One XMPP user in one conference.
pub(super) struct Entry {
    /// The user, full JID: the join came from this resource.
    pub(super) user: Jid,
    /// The room, bare JID at the component.
    pub(super) room: Jid,
    /// The occupancy's task.
    pub(super) commands: mpsc::Sender<Command>,
    /// The INVITE's and the SUBSCRIBE's Call-IDs, as the task made them.
    pub(super) call_ids: Vec<String>,
}

/// Occupancies by id, by (user, room) and by Call-ID.
#[derive(Default)]
pub(super) struct Table {
    entries: HashMap<u64, Entry>,
    by_pair: HashMap<(String, String), u64>,
    by_call_id: HashMap<String, u64>,
    next: u64,
}

/// The key of a user and a room: JIDs compared without case in the bare part.
fn pair(user: &Jid, room: &Jid) -> (String, String) {
    let bare = user.bare().to_string().to_ascii_lowercase();
    let full = match user.resource() {
        Some(r) => format!("{bare}/{r}"),
        None => bare,
    };
    (full, room.bare().to_string().to_ascii_lowercase())
}

impl Table {
    /// How many occupancies there are.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many occupancies the bare JID of `user` has.
    pub(super) fn of_user(&self, user: &Jid) -> usize {
        let bare = user.bare().to_string().to_ascii_lowercase();
        self.entries
            .values()
            .filter(|e| e.user.bare().to_string().to_ascii_lowercase() == bare)
            .count()
    }

    /// Adds an occupancy; its id.
    pub(super) fn insert(&mut self, entry: Entry) -> u64 {
        self.next += 1;
        let id = self.next;
        self.by_pair.insert(pair(&entry.user, &entry.room), id);
        for c in &entry.call_ids {
            self.by_call_id.insert(c.clone(), id);
        }
        self.entries.insert(id, entry);
        id
    }

    /// The occupancy of `user` in `room`.
    pub(super) fn by_pair(&self, user: &Jid, room: &Jid) -> Option<&Entry> {
        let id = self.by_pair.get(&pair(user, room))?;
        self.entries.get(id)
    }

    /// Whether anyone is in `room` through Parley.
    pub(super) fn has_room(&self, room: &Jid) -> bool {
        let room = room.bare().to_string().to_ascii_lowercase();
        self.by_pair.keys().any(|(_, r)| *r == room)
    }

    /// The occupancy a dialog with `call_id` belongs to.
    pub(super) fn by_call_id(&self, call_id: &str) -> Option<&Entry> {
        let id = self.by_call_id.get(call_id)?;
        self.entries.get(id)
    }

    /// Routes the focus's requests with `call_id` to occupancy `id`.
    pub(super) fn add_call_id(&mut self, id: u64, call_id: &str) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.call_ids.push(call_id.to_owned());
            self.by_call_id.insert(call_id.to_owned(), id);
        }
    }

    /// Removes occupancy `id`.
    pub(super) fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        self.by_pair.remove(&pair(&entry.user, &entry.room));
        for c in &entry.call_ids {
            self.by_call_id.remove(c);
        }
        Some(entry)
    }

    /// Every occupancy's commands, for shutdown.
    pub(super) fn all(&self) -> Vec<mpsc::Sender<Command>> {
        self.entries.values().map(|e| e.commands.clone()).collect()
    }
}
