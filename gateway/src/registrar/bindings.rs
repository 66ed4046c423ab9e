//! RFC 3261 §10.3 steps 6–8: the bindings of each address-of-record, their
//! expiry, and the Call-ID/CSeq rule that drops out-of-order REGISTERs.
//! Sans-IO: the clock is an argument.

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
}

/// The expiry policy of `[registrar]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Below this (and above 0, below an hour): 423 (step 7).
    pub(crate) min_expires: u32,
    /// Longer requests are shortened to this.
    pub(crate) max_expires: u32,
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
    /// Each Contact: its URI and its `expires` parameter.
    pub(crate) contacts: Vec<(String, Option<u32>)>,
}

/// How a REGISTER ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Step 8: 200 listing every current binding with its remaining seconds.
    Bound(Vec<(String, u32)>),
    /// Step 7: 423 with this Min-Expires.
    TooBrief(u32),
    /// Step 6: `*` with other contacts or a non-zero expiry: 400.
    BadWildcard,
    /// Steps 6 and 7: a Call-ID/CSeq not newer than the binding's: the
    /// request fails and nothing changes.
    OutOfOrder,
}

/// Every binding, by address-of-record.
#[derive(Debug, Default)]
pub(crate) struct Bindings {
    by_aor: HashMap<String, Vec<Binding>>,
}

/// RFC 3261 §10.3 step 7's default when neither the Contact nor the request
/// gives an expiry ("a locally-configured default value"): the §10.2.1.1
/// suggestion of one hour, within the policy.
const DEFAULT_EXPIRES: u32 = 3600;

impl Bindings {
    /// Applies one REGISTER atomically (§10.3: "either processed completely
    /// or not at all").
    pub(crate) fn apply(&mut self, update: &Update, policy: Policy, now: Instant) -> Outcome {
        let mut list: Vec<Binding> = self
            .by_aor
            .get(&update.aor)
            .map(|l| l.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default();
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
        for (contact, param) in &update.contacts {
            let requested = param.or(update.expires).unwrap_or(DEFAULT_EXPIRES);
            // Step 7: "greater than zero AND smaller than one hour AND less
            // than a registrar-configured minimum".
            if requested > 0 && requested < 3600 && requested < policy.min_expires {
                return Outcome::TooBrief(policy.min_expires);
            }
            let granted = requested.min(policy.max_expires);
            let existing = list
                .iter()
                .position(|b| parley_sip::register::same_uri(&b.contact, contact));
            if let Some(i) = existing {
                let b = &list[i];
                if b.call_id == update.call_id && update.cseq <= b.cseq {
                    return Outcome::OutOfOrder;
                }
                list.remove(i);
            }
            if granted > 0 {
                list.push(Binding {
                    contact: contact.clone(),
                    call_id: update.call_id.clone(),
                    cseq: update.cseq,
                    expires_at: now + Duration::from_secs(u64::from(granted)),
                });
            }
        }
        let current = remaining(&list, now);
        if list.is_empty() {
            self.by_aor.remove(&update.aor);
        } else {
            self.by_aor.insert(update.aor.clone(), list);
        }
        Outcome::Bound(current)
    }

    /// The contact to send to for `aor`: the most recently refreshed
    /// binding that has not expired.
    pub(crate) fn locate(&self, aor: &str, now: Instant) -> Option<String> {
        self.by_aor
            .get(aor)?
            .iter()
            .filter(|b| b.expires_at > now)
            .max_by_key(|b| b.expires_at)
            .map(|b| b.contact.clone())
    }

    /// Drops expired bindings; returns how many remain.
    pub(crate) fn reap(&mut self, now: Instant) -> usize {
        self.by_aor.retain(|_, list| {
            list.retain(|b| b.expires_at > now);
            !list.is_empty()
        });
        self.len()
    }

    /// How many bindings there are (expired ones until the next reap).
    pub(crate) fn len(&self) -> usize {
        self.by_aor.values().map(Vec::len).sum()
    }
}

fn remaining(list: &[Binding], now: Instant) -> Vec<(String, u32)> {
    list.iter()
        .map(|b| {
            let secs = b.expires_at.saturating_duration_since(now).as_secs();
            (b.contact.clone(), u32::try_from(secs).unwrap_or(u32::MAX))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        min_expires: 60,
        max_expires: 3600,
    };

    fn update(call_id: &str, cseq: u32, contacts: &[(&str, Option<u32>)]) -> Update {
        Update {
            aor: "alice@example.com".into(),
            call_id: call_id.into(),
            cseq,
            expires: None,
            wildcard: false,
            contacts: contacts
                .iter()
                .map(|(c, e)| ((*c).to_owned(), *e))
                .collect(),
        }
    }

    #[test]
    fn rfc3261_10_3_step_7_expiry_from_param_then_header_then_default_capped() {
        let now = Instant::now();
        let mut b = Bindings::default();
        let mut u = update(
            "c1",
            1,
            &[("sip:a@10.0.0.1", Some(120)), ("sip:a@10.0.0.2", None)],
        );
        u.expires = Some(7200);
        assert_eq!(
            b.apply(&u, POLICY, now),
            Outcome::Bound(vec![
                ("sip:a@10.0.0.1".into(), 120),
                ("sip:a@10.0.0.2".into(), 3600)
            ])
        );
        assert_eq!(b.len(), 2);
        assert_eq!(
            b.locate("alice@example.com", now).as_deref(),
            Some("sip:a@10.0.0.2")
        );
        assert_eq!(b.locate("bob@example.com", now), None);
    }

    #[test]
    fn rfc3261_10_3_step_7_brief_interval_gets_423_and_changes_nothing() {
        let now = Instant::now();
        let mut b = Bindings::default();
        assert_eq!(
            b.apply(&update("c1", 1, &[("sip:a@h", Some(30))]), POLICY, now),
            Outcome::TooBrief(60)
        );
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn rfc3261_10_3_step_7_same_call_id_needs_a_higher_cseq() {
        let now = Instant::now();
        let mut b = Bindings::default();
        assert!(matches!(
            b.apply(&update("c1", 5, &[("sip:a@h", None)]), POLICY, now),
            Outcome::Bound(_)
        ));
        assert_eq!(
            b.apply(&update("c1", 5, &[("sip:a@h", Some(0))]), POLICY, now),
            Outcome::OutOfOrder
        );
        assert_eq!(
            b.apply(&update("c1", 4, &[("sip:a@h", Some(0))]), POLICY, now),
            Outcome::OutOfOrder
        );
        assert_eq!(b.len(), 1, "the failed requests changed nothing");
        // Another Call-ID (the phone restarted) replaces it whatever its CSeq.
        assert!(matches!(
            b.apply(&update("c2", 1, &[("sip:a@h", None)]), POLICY, now),
            Outcome::Bound(_)
        ));
        assert_eq!(
            b.apply(&update("c2", 2, &[("sip:a@h", Some(0))]), POLICY, now),
            Outcome::Bound(vec![])
        );
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn rfc3261_10_3_step_6_wildcard_removes_all_only_with_expires_zero() {
        let now = Instant::now();
        let mut b = Bindings::default();
        let _ = b.apply(
            &update("c1", 1, &[("sip:a@h1", None), ("sip:a@h2", None)]),
            POLICY,
            now,
        );
        let mut star = update("c9", 1, &[]);
        star.wildcard = true;
        assert_eq!(b.apply(&star, POLICY, now), Outcome::BadWildcard);
        star.expires = Some(0);
        assert_eq!(b.apply(&star, POLICY, now), Outcome::Bound(vec![]));
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn expired_bindings_are_not_located_and_the_reaper_drops_them() {
        let now = Instant::now();
        let mut b = Bindings::default();
        let _ = b.apply(&update("c1", 1, &[("sip:a@h", Some(60))]), POLICY, now);
        let later = now + Duration::from_secs(61);
        assert_eq!(b.locate("alice@example.com", later), None);
        assert_eq!(b.len(), 1);
        assert_eq!(b.reap(later), 0);
    }
}
