//! RFC 7701 §8: the SDP `chatroom` media attribute, a declaration of what a
//! chat room (or a participant) supports: nicknames (§7) and private
//! messages (§6.2).
//!
//! ```text
//! chatroom-attr     = chatroom-label [":" chat-token *(SP chat-token)]
//! chat-token        = (nicknames-token / private-msg-token / ext-token)
//! nicknames-token   = "nickname"
//! private-msg-token = "private-messages"
//! ```
//!
//! "This attribute is not a negotiation subject to the SDP offer/answer
//! model [RFC3264], but instead a declaration", so each side writes its own
//! and reads the peer's; nothing is intersected. Reading is lenient: a token
//! outside the `token` grammar is skipped, a repeated one read once (§8: "A
//! given 'chat-token' value MUST NOT appear more than once"), extension
//! tokens are kept up to a bound.

use std::fmt;

/// RFC 7701 §8: one `a=chatroom` attribute.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chatroom {
    /// `nickname`: "the MSRP switch supports and the chat room allows the
    /// use of the procedures specified in Section 7".
    pub nicknames: bool,
    /// `private-messages`: the same for §6.2's private messages.
    pub private_messages: bool,
    /// `ext-token`s, in order (`com.example.chat.foo`).
    pub extensions: Vec<String>,
}

/// Most extension tokens kept from one attribute.
const MAX_EXTENSIONS: usize = 8;

impl Chatroom {
    /// RFC 7702 §5.1 Example 2 and §6.1 Example 27:
    /// `a=chatroom:nickname private-messages`.
    pub fn nicknames_and_private_messages() -> Self {
        Self {
            nicknames: true,
            private_messages: true,
            extensions: Vec::new(),
        }
    }

    /// Reads the attribute's value (`None` or empty: the bare `a=chatroom`).
    pub fn parse(value: Option<&str>) -> Self {
        let mut room = Self::default();
        for token in value.unwrap_or_default().split_ascii_whitespace() {
            match token {
                "nickname" => room.nicknames = true,
                "private-messages" => room.private_messages = true,
                other => {
                    if is_token(other)
                        && !room.extensions.iter().any(|e| e == other)
                        && room.extensions.len() < MAX_EXTENSIONS
                    {
                        room.extensions.push(other.to_owned());
                    }
                }
            }
        }
        room
    }

    /// The value to write after `a=chatroom:`, `None` for the bare attribute
    /// (§8: "The 'chatroom' attribute without further modifiers").
    pub fn value(&self) -> Option<String> {
        let text = self.to_string();
        (!text.is_empty()).then_some(text)
    }
}

impl fmt::Display for Chatroom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tokens = [
            self.nicknames.then_some("nickname"),
            self.private_messages.then_some("private-messages"),
        ];
        let mut first = true;
        for token in tokens
            .into_iter()
            .flatten()
            .chain(self.extensions.iter().map(String::as_str))
        {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(token)?;
            first = false;
        }
        Ok(())
    }
}

/// RFC 3261 §25.1 `token` (`ext-token` is built from it).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7701 §8's three examples.
    #[test]
    fn rfc7701_8_examples_are_read_and_written_back() {
        let both = Chatroom::parse(Some("nickname private-messages"));
        assert_eq!(both, Chatroom::nicknames_and_private_messages());
        assert_eq!(both.value().as_deref(), Some("nickname private-messages"));
        let bare = Chatroom::parse(None);
        assert_eq!(bare, Chatroom::default());
        assert_eq!(bare.value(), None);
        let ext = Chatroom::parse(Some("nickname private-messages com.example.chat.foo"));
        assert_eq!(ext.extensions, ["com.example.chat.foo"]);
        assert_eq!(
            ext.value().as_deref(),
            Some("nickname private-messages com.example.chat.foo")
        );
    }

    #[test]
    fn repeated_invalid_and_too_many_tokens_are_bounded() {
        let many: String = (0..20).map(|i| format!("x{i} ")).collect();
        let room = Chatroom::parse(Some(&format!("nickname nickname a@b x0 {many}")));
        assert!(room.nicknames && !room.private_messages);
        assert_eq!(room.extensions.len(), MAX_EXTENSIONS);
        assert!(!room.extensions.iter().any(|e| e == "a@b"));
        assert_eq!(room.extensions.iter().filter(|e| *e == "x0").count(), 1);
    }
}
