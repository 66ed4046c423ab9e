//! RFC 7702 §5.5 (Table 4), RFC 7701 §6.1–§6.2: messages between the XMPP
//! user and the switch. Addresses are `parley_mapping::groupchat::room_message`'s;
//! this file builds and reads the CPIM around them.

use bytes::Bytes;

use parley_mapping::address::{Jid, SipAddress};
use parley_mapping::cpim::{CpimAddress, CpimMessage};
use parley_mapping::groupchat::ConferenceInfo;
use parley_mapping::groupchat::room_address::occupant_jid;
use parley_mapping::groupchat::room_message::{RoomRecipient, cpim_to_for, origin_of_send};
use parley_msrp::session::NewMessage;
use parley_msrp::wire::{FailureReport, MessageId, SuccessReport};
use parley_xmpp::stanza::{Message, MessageType};

/// The user's message as a SEND (Example 13, Example 17): CPIM From the
/// user's address (RFC 7701 §6.1: "a proper identifier by which the user
/// is recognized in the chat room"), To the conference URI or the
/// recipient's entity from the roster (§6.2). `None` without a body.
pub(super) fn to_switch(
    me: &SipAddress,
    conference: &SipAddress,
    roster: Option<&ConferenceInfo>,
    recipient: &RoomRecipient,
    m: &Message,
) -> Option<NewMessage> {
    let body = m.body.as_deref()?;
    let from = CpimAddress {
        name: None,
        uri: me.to_string(),
    };
    let to = CpimAddress {
        name: None,
        uri: cpim_to_for(conference, roster, recipient),
    };
    let cpim = CpimMessage::new(
        &from,
        &to,
        None,
        "text/plain;charset=utf-8",
        body.as_bytes().to_vec(),
    );
    Some(NewMessage {
        message_id: fresh_message_id(),
        content_type: "message/cpim".into(),
        body: Bytes::from(cpim.to_bytes()),
        success_report: SuccessReport::No,
        failure_report: FailureReport::Yes,
    })
}

/// A SEND from the switch (Example 15 as the switch relays it, Example
/// 18) as the message to `user`: from `room/<sender's nickname>`, the
/// nickname the sender's conference-info entry has (the switch "MUST NOT
/// modify the content", RFC 7701 §6.1, so the CPIM From is the sender's
/// own URI); `chat` when the CPIM To is not the conference (§6.2).
/// `None` for a body that is not CPIM around text, or a sender with no
/// nickname. With it, the CPIM `DateTime` (RFC 3862 §4.4) as written, for
/// a `<delay/>` stamp (`history.rs`).
pub(super) fn from_switch(
    conference: &SipAddress,
    roster: Option<&ConferenceInfo>,
    room: &Jid,
    user: &Jid,
    content_type: &str,
    body: &[u8],
    id: String,
) -> Option<(Message, Option<String>)> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("message/cpim") {
        return None;
    }
    let cpim = CpimMessage::parse(body).ok()?;
    let inner = cpim.content_type().map(|t| {
        t.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    if inner.as_deref().is_some_and(|t| t != "text/plain") {
        return None;
    }
    let origin = origin_of_send(conference, roster, &cpim.from()?, &cpim.to())?;
    let date_time = cpim.date_time();
    let text = String::from_utf8(cpim.content).ok()?;
    let m = Message {
        from: Some(occupant_jid(room, &origin.nickname).ok()?.to_string()),
        to: Some(user.to_string()),
        id: Some(id),
        message_type: Some(if origin.private {
            MessageType::Chat
        } else {
            MessageType::Groupchat
        }),
        body: Some(text),
        ..Message::default()
    };
    Some((m, date_time))
}

/// RFC 4975 §7.1.1: a Message-ID unique within the session; 64 random bits.
fn fresh_message_id() -> MessageId {
    let text = format!("{:016x}", rand::random::<u64>());
    MessageId::new(&text).expect("16 hex digits are an ident")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn jid(s: &str) -> Jid {
        Jid::parse(s).unwrap()
    }

    /// RFC 7702 §5.5.1 Example 13: CPIM To the conference URI.
    #[test]
    fn rfc7702_5_5_1_groupchat_message_is_cpim_to_the_conference() {
        let m = Message {
            body: Some("Who knows where Romeo is?".into()),
            message_type: Some(MessageType::Groupchat),
            ..Message::default()
        };
        let me = SipAddress::parse("sip:juliet@example.com").unwrap();
        let conf = SipAddress::parse("sip:montague@chat.example.org").unwrap();
        let send = to_switch(&me, &conf, None, &RoomRecipient::Everyone, &m).unwrap();
        assert_eq!(
            std::str::from_utf8(&send.body).unwrap(),
            "From: <sip:juliet@example.com>\r\nTo: <sip:montague@chat.example.org>\r\n\r\n\
             Content-Type: text/plain;charset=utf-8\r\n\r\nWho knows where Romeo is?"
        );
    }

    /// RFC 7701 §6.1: the From is the sender's own URI; its nickname comes
    /// from the roster; a CPIM To other than the room is private.
    #[test]
    fn rfc7701_6_1_sender_nickname_comes_from_the_roster_entry() {
        let conf = SipAddress::parse("sip:montague@chat.example.org").unwrap();
        let doc = ConferenceInfo::parse(
            b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' \
              entity='sip:montague@chat.example.org' state='full' version='1'><users>\
              <user entity='sip:romeo@example.org'><display-text>Romeo</display-text></user>\
              </users></conference-info>",
        )
        .unwrap();
        let body = b"From: <sip:romeo@example.org>\r\nTo: <sip:juliet@example.com>\r\n\r\n\
            Content-Type: text/plain\r\n\r\nI am here";
        let m = from_switch(
            &conf,
            Some(&doc),
            &jid("montague@sip.example.net"),
            &jid("juliet@example.com/balcony"),
            "message/cpim",
            body,
            "id1".into(),
        )
        .unwrap()
        .0;
        assert_eq!(m.from.as_deref(), Some("montague@sip.example.net/Romeo"));
        assert_eq!(m.message_type, Some(MessageType::Chat));
        assert_eq!(m.body.as_deref(), Some("I am here"));
    }
}
