//! RFC 4975 §7.1.3, §7.1.4: received messages whose REPORT the application
//! decides, kept until it does, within a bound.
//!
//! Why the application: RFC 7573 §7, "A Success-Report header field with a
//! value of "yes" in an MSRP SEND request is to be mapped to an XMPP
//! Message Receipts element of <request xmlns='urn:xmpp:receipts'/>", and
//! "<received xmlns='urn:xmpp:receipts'/> is to be mapped to an MSRP
//! REPORT request": a gateway's success REPORT says the recipient on the
//! other network got the message, which only the gateway learns.
//! §7.1.4 allows the same wait for failures: "such as when the endpoint is
//! a gateway that waits for a downstream network to indicate an error. In
//! this situation, it MAY send a 200 OK response to the request, and then
//! send a failure REPORT request when the error is detected."
//!
//! Kept: what a REPORT needs ([`ReportSubject`]) and what the sender asked
//! for, for every message that could be owed one (Success-Report `yes`, or
//! a Failure-Report other than `no`). Past the limit the oldest is
//! forgotten; forgetting one that was owed a success REPORT is returned, so
//! the session can tell (§7.1.3: the endpoint "MUST send a success report").

use std::collections::{HashMap, VecDeque};

use crate::session::ReportSubject;
use crate::wire::{FailureReport, MessageId, SuccessReport};

/// What a REPORT on one received message needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Awaiting {
    /// Its addressing and byte range.
    pub(crate) subject: ReportSubject,
    /// The SEND's Success-Report.
    pub(crate) success_report: SuccessReport,
    /// The SEND's Failure-Report.
    pub(crate) failure_report: FailureReport,
}

/// Received messages awaiting the application's report, oldest first.
#[derive(Debug)]
pub(crate) struct AwaitingReports {
    limit: usize,
    by_id: HashMap<MessageId, Awaiting>,
    order: VecDeque<MessageId>,
}

impl AwaitingReports {
    /// An empty store holding at most `limit` messages.
    pub(crate) fn new(limit: usize) -> AwaitingReports {
        AwaitingReports {
            limit,
            by_id: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Keeps `awaiting` unless no REPORT can be owed on it (Success-Report
    /// `no` and Failure-Report `no`). Returns the Message-ID of a message
    /// that was owed a success REPORT and is forgotten to make room (or
    /// `awaiting`'s own, with a limit of zero).
    pub(crate) fn insert(&mut self, awaiting: Awaiting) -> Option<MessageId> {
        let owes_success = awaiting.success_report == SuccessReport::Yes;
        if !owes_success && awaiting.failure_report == FailureReport::No {
            return None;
        }
        let id = awaiting.subject.message_id.clone();
        if self.limit == 0 {
            return owes_success.then_some(id);
        }
        // The same Message-ID again (a resent message) replaces the first.
        if self.by_id.remove(&id).is_some() {
            self.order.retain(|m| *m != id);
        }
        let mut forgotten = None;
        while self.order.len() >= self.limit {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(old) = self.by_id.remove(&oldest)
                && old.success_report == SuccessReport::Yes
            {
                forgotten = Some(oldest);
            }
        }
        self.order.push_back(id.clone());
        self.by_id.insert(id, awaiting);
        forgotten
    }

    /// Removes and returns what a REPORT on `id` needs.
    pub(crate) fn take(&mut self, id: &MessageId) -> Option<Awaiting> {
        let awaiting = self.by_id.remove(id)?;
        self.order.retain(|m| m != id);
        Some(awaiting)
    }

    /// How many messages await a report.
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::Uri;
    use crate::wire::ByteRange;

    fn awaiting(id: &str, success: SuccessReport, failure: FailureReport) -> Awaiting {
        Awaiting {
            subject: ReportSubject {
                message_id: MessageId::new(id).expect("ident"),
                from_path: vec![
                    Uri::parse("msrp://alicepc.example.com:7777/iau39soe2843z;tcp").expect("uri"),
                ],
                byte_range: ByteRange::whole(2),
            },
            success_report: success,
            failure_report: failure,
        }
    }

    fn id(text: &str) -> MessageId {
        MessageId::new(text).expect("ident")
    }

    #[test]
    fn message_that_can_be_owed_no_report_is_not_kept() {
        let mut store = AwaitingReports::new(4);
        assert_eq!(
            store.insert(awaiting("m1", SuccessReport::No, FailureReport::No)),
            None
        );
        assert_eq!(store.len(), 0);
        store.insert(awaiting("m2", SuccessReport::No, FailureReport::Partial));
        store.insert(awaiting("m3", SuccessReport::Yes, FailureReport::No));
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn oldest_is_forgotten_past_the_limit_and_named_when_a_success_report_was_owed() {
        let mut store = AwaitingReports::new(2);
        store.insert(awaiting("m1", SuccessReport::Yes, FailureReport::Yes));
        store.insert(awaiting("m2", SuccessReport::No, FailureReport::Yes));
        let forgotten = store.insert(awaiting("m3", SuccessReport::Yes, FailureReport::Yes));
        assert_eq!(forgotten, Some(id("m1")));
        // m2 owed no success REPORT: forgetting it is not news.
        let forgotten = store.insert(awaiting("m4", SuccessReport::Yes, FailureReport::Yes));
        assert_eq!(forgotten, None);
        assert_eq!(store.len(), 2);
        assert!(store.take(&id("m1")).is_none());
        assert!(store.take(&id("m2")).is_none());
        assert!(store.take(&id("m3")).is_some());
        assert!(store.take(&id("m4")).is_some());
    }

    #[test]
    fn taken_message_is_forgotten() {
        let mut store = AwaitingReports::new(2);
        store.insert(awaiting("m1", SuccessReport::Yes, FailureReport::Yes));
        assert!(store.take(&id("m1")).is_some());
        assert!(store.take(&id("m1")).is_none());
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn same_message_id_again_replaces_the_first_without_forgetting_another() {
        let mut store = AwaitingReports::new(2);
        store.insert(awaiting("m1", SuccessReport::Yes, FailureReport::Yes));
        store.insert(awaiting("m2", SuccessReport::Yes, FailureReport::Yes));
        let again = awaiting("m2", SuccessReport::Yes, FailureReport::No);
        assert_eq!(store.insert(again.clone()), None);
        assert_eq!(store.len(), 2);
        assert_eq!(store.take(&id("m2")), Some(again));
    }

    #[test]
    fn limit_of_zero_keeps_nothing_and_names_what_was_owed() {
        let mut store = AwaitingReports::new(0);
        assert_eq!(
            store.insert(awaiting("m1", SuccessReport::Yes, FailureReport::Yes)),
            Some(id("m1"))
        );
        assert_eq!(
            store.insert(awaiting("m2", SuccessReport::No, FailureReport::Yes)),
            None
        );
        assert_eq!(store.len(), 0);
    }
}
