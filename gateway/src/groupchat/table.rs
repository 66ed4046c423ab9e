//! The SIP users in rooms (occupancies), by the INVITE's Call-ID and by the
//! occupant client's full JID (where the room's stanzas are addressed), and
//! the rooms-per-user limit a new join must fit in. Pure data: `mod.rs`
//! holds it behind a lock.

use std::collections::HashMap;

use tokio::sync::mpsc;

use parley_mapping::address::Jid;
use parley_sip::dialog::Dialog as PlainDialog;
use parley_sip::dialog::session::Session as Dialog;

use super::occupancy::Command;

/// One SIP user in one room.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The SIP user's bare JID in lower case (for the per-user limit).
    pub(crate) user: String,
    /// The occupant's client: the SIP user's JID with this session's
    /// resource (Example 30's `from`).
    pub(crate) me: Jid,
    /// The occupant JID `room/nick` (changes with the nickname).
    pub(crate) occupant: Jid,
    /// The INVITE's dialog: BYE, the conference NOTIFYs (RFC 7702 §6.2,
    /// Example 29 subscribes inside it).
    pub(crate) dialog: Dialog,
    /// To the occupancy's task.
    pub(crate) commands: mpsc::Sender<Command>,
    /// A conference subscription made outside the INVITE's dialog (RFC
    /// 6665: its own dialog), whose NOTIFYs go in it instead.
    pub(crate) subscription: Option<PlainDialog>,
    /// The SDP answer of the 200, repeated to a re-INVITE (`refresh.rs`).
    pub(crate) local_sdp: String,
    /// The phone's MSRP path (a re-INVITE that keeps it is a refresh).
    pub(crate) remote_path: Vec<parley_msrp::uri::Uri>,
    /// The phone takes private messages: `private-messages` in its offer
    /// (RFC 7701 §8) and text inside CPIM (RFC 4975 §8.6).
    pub(crate) takes_private: bool,
}

/// Every occupancy.
#[derive(Debug, Default)]
pub(crate) struct Table {
    by_call: HashMap<String, Entry>,
    by_me: HashMap<String, String>,
    /// The Call-ID of an out-of-dialog SUBSCRIBE → the occupancy's.
    by_subscription: HashMap<String, String>,
}

impl Table {
    /// Whether `user` may join one more room.
    pub(crate) fn admits(&self, user: &str, per_user: usize) -> bool {
        self.by_call.values().filter(|e| e.user == user).count() < per_user
    }

    pub(crate) fn insert(&mut self, call_id: String, entry: Entry) {
        self.by_me
            .insert(entry.me.to_string().to_lowercase(), call_id.clone());
        self.by_call.insert(call_id, entry);
    }

    pub(crate) fn remove(&mut self, call_id: &str) -> Option<Entry> {
        let entry = self.by_call.remove(call_id)?;
        self.by_me.remove(&entry.me.to_string().to_lowercase());
        if let Some(d) = &entry.subscription {
            self.by_subscription.remove(&d.id.call_id);
        }
        Some(entry)
    }

    /// The occupancy of `user` (bare JID, lower case) in `room` (bare JID).
    pub(crate) fn find(&self, user: &str, room: &str) -> Option<String> {
        self.by_call
            .iter()
            .find(|(_, e)| {
                e.user == user && e.occupant.bare().to_string().eq_ignore_ascii_case(room)
            })
            .map(|(call_id, _)| call_id.clone())
    }

    /// The nicknames `user`'s occupancies in `room` hold (RFC 7701 §7.1).
    pub(crate) fn nicknames_of(&self, user: &str, room: &Jid) -> Vec<String> {
        self.by_call
            .values()
            .filter(|e| {
                e.user == user
                    && e.occupant
                        .bare()
                        .to_string()
                        .eq_ignore_ascii_case(&room.bare().to_string())
            })
            .filter_map(|e| e.occupant.resource().map(str::to_owned))
            .collect()
    }

    /// The other occupancies of occupancy `call_id`'s SIP user in its room
    /// (RFC 7701 §6.2: "each MSRP session mapped to the recipient's URI"),
    /// each with whether its phone takes private messages.
    pub(crate) fn siblings(&self, call_id: &str) -> Vec<(mpsc::Sender<Command>, bool)> {
        let Some(entry) = self.by_call.get(call_id) else {
            return vec![];
        };
        let room = entry.occupant.bare().to_string();
        self.by_call
            .iter()
            .filter(|(other, e)| {
                other.as_str() != call_id
                    && e.user == entry.user
                    && e.occupant.bare().to_string().eq_ignore_ascii_case(&room)
            })
            .map(|(_, e)| (e.commands.clone(), e.takes_private))
            .collect()
    }

    /// Whether the occupant `occupant` (`room/nick`, any case) is one of
    /// Parley's own SIP users none of whose sessions in that room takes
    /// private messages (RFC 7701 §6.2: such a recipient "does not support
    /// private messages"). `false` for an occupant Parley does not hold:
    /// XMPP occupants take private messages.
    pub(crate) fn refuses_private(&self, occupant: &str) -> bool {
        let Some(holder) = self
            .by_call
            .values()
            .find(|e| e.occupant.to_string().eq_ignore_ascii_case(occupant))
        else {
            return false;
        };
        let room = holder.occupant.bare().to_string();
        !self.by_call.values().any(|e| {
            e.user == holder.user
                && e.takes_private
                && e.occupant.bare().to_string().eq_ignore_ascii_case(&room)
        })
    }

    /// Records `dialog` as the conference subscription of occupancy `call_id`.
    pub(crate) fn subscribe(&mut self, call_id: &str, dialog: PlainDialog) {
        let Some(entry) = self.by_call.get_mut(call_id) else {
            return;
        };
        if let Some(old) = entry.subscription.take() {
            self.by_subscription.remove(&old.id.call_id);
        }
        self.by_subscription
            .insert(dialog.id.call_id.clone(), call_id.to_owned());
        entry.subscription = Some(dialog);
    }

    /// The occupancy whose out-of-dialog subscription has Call-ID `call_id`.
    pub(crate) fn by_subscription(&self, call_id: &str) -> Option<String> {
        self.by_subscription.get(call_id).cloned()
    }

    pub(crate) fn get_mut(&mut self, call_id: &str) -> Option<&mut Entry> {
        self.by_call.get_mut(call_id)
    }

    pub(crate) fn get(&self, call_id: &str) -> Option<&Entry> {
        self.by_call.get(call_id)
    }

    pub(crate) fn contains(&self, call_id: &str) -> bool {
        self.by_call.contains_key(call_id)
    }

    /// The occupancy whose client is `me` (a full JID).
    pub(crate) fn by_me(&self, me: &str) -> Option<(&String, &Entry)> {
        let call_id = self.by_me.get(&me.to_lowercase())?;
        self.by_call.get_key_value(call_id)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_call.len()
    }

    pub(crate) fn call_ids(&self) -> Vec<String> {
        self.by_call.keys().cloned().collect()
    }
}
