//! RFC 3261 §10.3 steps 6–8: the bindings of each address-of-record, their
//! expiry, and the Call-ID/CSeq rule that drops out-of-order REGISTERs;
//! RFC 5627 §5: the instance each contact registers for and the epoch of
//! its temporary GRUUs. Sans-IO: the clock is an argument.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// One contact bound to an address-of-record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binding {
    /// The contact URI as sent, without `<>`.
    pub(crate) contact: String,
    /// Step 7: "Each binding record records the Call-ID and CSeq values".
    call_id: String,
    cseq: u32,
    expires_at: Instant,
    /// RFC 3261 §20.10 `q`, in thousandths.
    q: Option<u16>,
    /// When the contact was last registered: "newest" among equal q, and
    /// RFC 5627 §6.1's "most recently refreshed".
    refreshed_at: Instant,
    /// RFC 5627 §5.1: the `+sip.instance` value as sent, when it had one.
    instance: Option<String>,
}

/// The expiry policy of `[registrar]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Below this (and above 0, below an hour): 423 (step 7).
    pub(crate) min_expires: u32,
    /// Longer requests are shortened to this.
    pub(crate) max_expires: u32,
    /// Most contacts one AOR may have: with the users file's size, the
    /// bound on the whole table.
    pub(crate) max_contacts: usize,
}

/// One Contact of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContactUpdate {
    /// The URI, without `<>`.
    pub(crate) uri: String,
    /// Its `expires` parameter.
    pub(crate) expires: Option<u32>,
    /// Its `q`, in thousandths.
    pub(crate) q: Option<u16>,
    /// Its `+sip.instance`, as sent.
    pub(crate) instance: Option<String>,
}

impl ContactUpdate {
    /// A contact with only a URI and an `expires` (tests, simple phones).
    #[cfg(test)]
    pub(crate) fn plain(uri: &str, expires: Option<u32>) -> Self {
        Self {
            uri: uri.to_owned(),
            expires,
            q: None,
            instance: None,
        }
    }
}

/// What one REGISTER asks, read from its header fields.
#[derive(Debug, Clone)]
pub(crate) struct Update {
    /// The canonical address-of-record (`user@host`, host lowercased).
    pub(crate) aor: String,
    pub(crate) call_id: String,
    pub(crate) cseq: u32,
    /// The Expires header field, if any.
    pub(crate) expires: Option<u32>,
    /// `Contact: *` (step 6).
    pub(crate) wildcard: bool,
    /// Each Contact.
    pub(crate) contacts: Vec<ContactUpdate>,
}

/// One current binding as the 200 lists it (step 8, RFC 5627 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Current {
    pub(crate) contact: String,
    /// Seconds left.
    pub(crate) expires: u32,
    pub(crate) q: Option<u16>,
    /// `+sip.instance` as registered.
    pub(crate) instance: Option<String>,
    /// The epoch index of the instance's temporary GRUUs.
    pub(crate) epoch: Option<u64>,
}

/// How a REGISTER ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Step 8: 200 listing every current binding with its remaining seconds.
    Bound(Vec<Current>),
    /// Step 7: 423 with this Min-Expires.
    TooBrief(u32),
    /// Step 6: `*` with other contacts or a non-zero expiry: 400.
    BadWildcard,
    /// Steps 6 and 7: a Call-ID/CSeq not newer than the binding's: the
    /// request fails and nothing changes.
    OutOfOrder,
    /// The AOR would have more than `max_contacts` contacts: nothing changes.
    TooManyContacts(usize),
}

/// Where a request to an address-of-record or GRUU goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// This contact.
    Contact(String),
    /// A valid GRUU without a registered contact (RFC 5627 §5.3, §6.1: 480).
    NoContact,
    /// No such binding or GRUU.
    Nothing,
}

/// The temporary-GRUU epoch of one (AOR, instance): RFC 5627 Appendix A.2's
/// I_i, replaced when the instance registers under another Call-ID and
/// dropped when its last contact goes (§5.1, §5.3).
#[derive(Debug, Clone)]
struct Epoch {
    aor: String,
    /// The instance ID (without quotes and brackets).
    instance: String,
}

/// Every binding, by address-of-record.
#[derive(Debug, Default)]
pub(crate) struct Bindings {
    by_aor: HashMap<String, Vec<Binding>>,
    /// Epoch index → its AOR and instance: one entry per registered instance.
    epochs: HashMap<u64, Epoch>,
    /// (AOR, instance ID) → its current epoch index.
    epoch_of: HashMap<(String, String), u64>,
    next_epoch: u64,
}

/// RFC 3261 §10.3 step 7's default when neither the Contact nor the request
/// gives an expiry ("a locally-configured default value"): the §10.2.1.1
/// suggestion of one hour, within the policy.
const DEFAULT_EXPIRES: u32 = 3600;

/// A contact without `q` ranks as `q=1`: RFC 3261 gives no default, and a
/// phone that says nothing is taken as fully preferred.
const DEFAULT_Q: u16 = 1000;

impl Bindings {
    /// Applies one REGISTER atomically (§10.3: "either processed completely
    /// or not at all").
    pub(crate) fn apply(&mut self, update: &Update, policy: Policy, now: Instant) -> Outcome {
        let before: Vec<Binding> = self
            .by_aor
            .get(&update.aor)
            .map(|l| l.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default();
        let mut list = before.clone();
        if update.wildcard {
            // Step 6: one `*` and Expires: 0, nothing else.
            if !update.contacts.is_empty() || update.expires != Some(0) {
                return Outcome::BadWildcard;
            }
            for b in &list {
                if b.call_id == update.call_id && update.cseq <= b.cseq {
                    return Outcome::OutOfOrder;
                }
            }
            list.clear();
        }
        // RFC 5627 §5.1: the instances whose temporary GRUUs start a new
        // epoch: those whose most recently registered contact has another
        // Call-ID, or that have none.
        let mut renewed: Vec<String> = Vec::new();
        for c in &update.contacts {
            let requested = c.expires.or(update.expires).unwrap_or(DEFAULT_EXPIRES);
            // Step 7: "greater than zero AND smaller than one hour AND less
            // than a registrar-configured minimum".
            if requested > 0 && requested < 3600 && requested < policy.min_expires {
                return Outcome::TooBrief(policy.min_expires);
            }
            let granted = requested.min(policy.max_expires);
            let existing = list
                .iter()
                .position(|b| parley_sip::register::same_uri(&b.contact, &c.uri));
            if let Some(i) = existing {
                let b = &list[i];
                if b.call_id == update.call_id && update.cseq <= b.cseq {
                    return Outcome::OutOfOrder;
                }
                list.remove(i);
            }
            if granted == 0 {
                continue;
            }
            let instance = c.instance.as_deref().map(super::gruu::instance_id);
            if let Some(id) = &instance {
                let newest = before
                    .iter()
                    .filter(|b| same_instance(b, id))
                    .max_by_key(|b| b.refreshed_at);
                if newest.is_none_or(|b| b.call_id != update.call_id) && !renewed.contains(id) {
                    renewed.push(id.clone());
                }
            }
            list.push(Binding {
                contact: c.uri.clone(),
                call_id: update.call_id.clone(),
                cseq: update.cseq,
                expires_at: now + Duration::from_secs(u64::from(granted)),
                q: c.q,
                refreshed_at: now,
                instance: c.instance.clone(),
            });
        }
        if list.len() > policy.max_contacts {
            return Outcome::TooManyContacts(policy.max_contacts);
        }
        for id in renewed {
            self.new_epoch(&update.aor, &id);
        }
        if list.is_empty() {
            self.by_aor.remove(&update.aor);
        } else {
            self.by_aor.insert(update.aor.clone(), list);
        }
        self.drop_unbound_epochs(now);
        Outcome::Bound(self.current(&update.aor, now))
    }

    /// Every current binding of `aor`, best first.
    pub(crate) fn current(&self, aor: &str, now: Instant) -> Vec<Current> {
        let mut list: Vec<&Binding> = self
            .by_aor
            .get(aor)
            .map(|l| l.iter().filter(|b| b.expires_at > now).collect())
            .unwrap_or_default();
        list.sort_by_key(|b| std::cmp::Reverse(rank(b)));
        list.into_iter()
            .map(|b| {
                let secs = b.expires_at.saturating_duration_since(now).as_secs();
                let epoch = b.instance.as_deref().and_then(|i| {
                    self.epoch_of
                        .get(&(aor.to_owned(), super::gruu::instance_id(i)))
                        .copied()
                });
                Current {
                    contact: b.contact.clone(),
                    expires: u32::try_from(secs).unwrap_or(u32::MAX),
                    q: b.q,
                    instance: b.instance.clone(),
                    epoch,
                }
            })
            .collect()
    }

    /// The contact to send to for `aor`: the highest `q`, then the most
    /// recently refreshed (Parley does not fork: one contact gets it).
    pub(crate) fn locate(&self, aor: &str, now: Instant) -> Option<String> {
        self.by_aor
            .get(aor)?
            .iter()
            .filter(|b| b.expires_at > now)
            .max_by_key(|b| rank(b))
            .map(|b| b.contact.clone())
    }

    /// RFC 5627 §6.1: the contact of a public GRUU (`aor` and instance
    /// `id`): "the most recently refreshed contact" of that instance.
    pub(crate) fn locate_instance(&self, aor: &str, id: &str, now: Instant) -> Found {
        self.by_aor
            .get(aor)
            .and_then(|l| {
                l.iter()
                    .filter(|b| b.expires_at > now && same_instance(b, id))
                    .max_by_key(|b| b.refreshed_at)
            })
            .map_or(Found::NoContact, |b| Found::Contact(b.contact.clone()))
    }

    /// The contact of the temporary GRUU of epoch `index`; `Nothing` when the
    /// epoch has ended (§5.1, §5.3: 404 from then on).
    pub(crate) fn locate_epoch(&self, index: u64, now: Instant) -> Found {
        let Some(epoch) = self.epochs.get(&index) else {
            return Found::Nothing;
        };
        match self.locate_instance(&epoch.aor, &epoch.instance, now) {
            // Expired since the last reap: the epoch is over (§5.3).
            Found::NoContact => Found::Nothing,
            found => found,
        }
    }

    /// Drops expired bindings; returns how many remain.
    pub(crate) fn reap(&mut self, now: Instant) -> usize {
        self.by_aor.retain(|_, list| {
            list.retain(|b| b.expires_at > now);
            !list.is_empty()
        });
        self.drop_unbound_epochs(now);
        self.len()
    }

    /// How many bindings there are (expired ones until the next reap).
    pub(crate) fn len(&self) -> usize {
        self.by_aor.values().map(Vec::len).sum()
    }

    /// RFC 5627 §5.1: "invalidate all previously generated temporary GRUUs
    /// for the AOR and instance ID" by starting a new epoch.
    fn new_epoch(&mut self, aor: &str, id: &str) {
        let key = (aor.to_owned(), id.to_owned());
        if let Some(old) = self.epoch_of.remove(&key) {
            self.epochs.remove(&old);
        }
        let index = self.next_epoch;
        self.next_epoch = self.next_epoch.wrapping_add(1);
        self.epochs.insert(
            index,
            Epoch {
                aor: aor.to_owned(),
                instance: id.to_owned(),
            },
        );
        self.epoch_of.insert(key, index);
    }

    /// RFC 5627 §5.3: a temporary GRUU whose instance has no contact left
    /// "MUST be invalidated".
    fn drop_unbound_epochs(&mut self, now: Instant) {
        let by_aor = &self.by_aor;
        let mut gone = Vec::new();
        self.epoch_of.retain(|(aor, id), index| {
            let bound = by_aor
                .get(aor)
                .is_some_and(|l| l.iter().any(|b| b.expires_at > now && same_instance(b, id)));
            if !bound {
                gone.push(*index);
            }
            bound
        });
        for index in gone {
            self.epochs.remove(&index);
        }
    }
}

/// The order contacts are tried in: higher `q`, then newer.
fn rank(b: &Binding) -> (u16, Instant) {
    (b.q.unwrap_or(DEFAULT_Q), b.refreshed_at)
}

/// RFC 5627 §5.4: "a GRUU resolves only to those contacts whose instance
/// ID matches"; instance IDs are URNs, compared without case.
fn same_instance(b: &Binding, id: &str) -> bool {
    b.instance
        .as_deref()
        .is_some_and(|i| super::gruu::instance_id(i).eq_ignore_ascii_case(id))
}

#[cfg(test)]
#[path = "bindings_tests.rs"]
mod tests;
