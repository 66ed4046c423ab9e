//! RFC 4145 §4, RFC 6135 §4.2: `a=setup`, and who opens the MSRP connection.
//!
//! Without `a=setup` RFC 4975 §5.4 decides: "the initiating endpoint MUST
//! act as the "active" endpoint". RFC 6135 §4.2.1: a received "holdconn" is
//! processed "as if it did not contain an a=setup attribute".

use crate::sdp::error::{AnswerError, MediaError};

/// `role = "active" / "passive" / "actpass" / "holdconn"` (RFC 4145 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// "The endpoint will initiate an outgoing connection."
    Active,
    /// "The endpoint will accept an incoming connection."
    Passive,
    /// "The endpoint is willing to accept an incoming connection or to
    /// initiate an outgoing connection."
    ActPass,
    /// "The endpoint does not want the connection to be established for
    /// the time being." An MSRP UA MUST NOT send it (RFC 6135 §4.2.1).
    HoldConn,
}

impl Setup {
    /// Parses an `a=setup` value.
    pub fn parse(value: &str) -> Result<Self, MediaError> {
        match value.trim() {
            "active" => Ok(Self::Active),
            "passive" => Ok(Self::Passive),
            "actpass" => Ok(Self::ActPass),
            "holdconn" => Ok(Self::HoldConn),
            _ => Err(MediaError::InvalidSetup),
        }
    }

    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Passive => "passive",
            Self::ActPass => "actpass",
            Self::HoldConn => "holdconn",
        }
    }

    /// RFC 6135 §4.2.1: holdconn counts as no attribute.
    fn effective(setup: Option<Self>) -> Option<Self> {
        setup.filter(|s| *s != Self::HoldConn)
    }
}

/// Which side opens the transport connection (and is the TLS client,
/// RFC 6135 §6) and sends the first SEND (RFC 4975 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// This side connects to the peer's adjacent hop.
    Active,
    /// This side waits for the peer to connect.
    Passive,
}

/// The `a=setup` of an offer. RFC 6135 §4.2.2: "If an MSRP UA can provide a
/// globally reachable IP address ... the UA MUST use the a=setup "actpass"
/// attribute value in SDP offers. ... If an MSRP UA cannot provide the
/// actual transport address, the UA MUST use the a=setup "active" attribute
/// value." and "The UA MUST NOT use the a=setup "passive" attribute value in
/// an SDP offer."
pub fn offer_setup(reachable: bool) -> Setup {
    if reachable {
        Setup::ActPass
    } else {
        Setup::Active
    }
}

/// The answerer's `a=setup` given the offer's, by the RFC 4145 §4.1 table
/// (never holdconn: RFC 6135 §4.2.1 forbids sending it).
pub fn answer_setup(offered: Option<Setup>, reachable: bool) -> Setup {
    match Setup::effective(offered) {
        // RFC 4145 §4.1: active -> passive.
        Some(Setup::Active) => Setup::Passive,
        // RFC 4145 §4.1: passive -> active (RFC 6135 §4.2.2 forbids such
        // an offer, but answering it costs nothing).
        Some(Setup::Passive) => Setup::Active,
        // RFC 6135 §4.2.2: "the SDP answerer MAY include an a=setup "active"
        // attribute value in the SDP answer, but SHOULD include an a=setup
        // "passive" attribute value if it knows that it is not located
        // behind a NAT."
        Some(Setup::ActPass) => {
            if reachable {
                Setup::Passive
            } else {
                Setup::Active
            }
        }
        // No attribute (or holdconn): RFC 4975 §5.4, the offerer is active,
        // so the answer says passive explicitly (RFC 6135 §4.2.1: "MUST
        // always include an explicit a=setup attribute").
        Some(Setup::HoldConn) | None => Setup::Passive,
    }
}

/// The role that follows from this side's own `a=setup` (active or passive).
pub fn own_role(setup: Setup) -> Role {
    match setup {
        Setup::Active => Role::Active,
        _ => Role::Passive,
    }
}

/// The offerer's role once the answer is in.
pub fn offerer_role(offered: Setup, answered: Option<Setup>) -> Result<Role, AnswerError> {
    match (offered, Setup::effective(answered)) {
        // RFC 4975 §5.4 default when the answerer does not use COMEDIA.
        (_, None) => Ok(Role::Active),
        (Setup::ActPass | Setup::Passive, Some(Setup::Active)) => Ok(Role::Passive),
        (Setup::ActPass | Setup::Active, Some(Setup::Passive)) => Ok(Role::Active),
        // RFC 4145 §4.1: the answer to active is passive, to passive active;
        // actpass is never an answer.
        _ => Err(AnswerError::SetupConflict),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// RFC 4145 §4.1 table with RFC 6135 §4.2 and RFC 4975 §5.4, from the
    /// answerer's side: (offer, answerer reachable, answer, answerer role).
    #[test]
    fn answerer_setup_table() {
        use Setup::*;
        let table = [
            (Some(ActPass), true, Passive, Role::Passive),
            (Some(ActPass), false, Active, Role::Active),
            (Some(Active), true, Passive, Role::Passive),
            (Some(Active), false, Passive, Role::Passive),
            (Some(Passive), true, Active, Role::Active),
            (Some(Passive), false, Active, Role::Active),
            (Some(HoldConn), true, Passive, Role::Passive),
            (None, true, Passive, Role::Passive),
            (None, false, Passive, Role::Passive),
        ];
        for (offered, reachable, answer, role) in table {
            let got = answer_setup(offered, reachable);
            assert_eq!(got, answer, "{offered:?} reachable={reachable}");
            assert_eq!(own_role(got), role, "{offered:?} reachable={reachable}");
        }
    }

    /// The same table from the offerer's side: (offer, answer, offerer role).
    #[test]
    fn offerer_role_table() {
        use Setup::*;
        let table = [
            (ActPass, Some(Passive), Ok(Role::Active)),
            (ActPass, Some(Active), Ok(Role::Passive)),
            (ActPass, None, Ok(Role::Active)),
            (ActPass, Some(HoldConn), Ok(Role::Active)),
            (Active, Some(Passive), Ok(Role::Active)),
            (Active, None, Ok(Role::Active)),
            (Active, Some(Active), Err(AnswerError::SetupConflict)),
            (ActPass, Some(ActPass), Err(AnswerError::SetupConflict)),
            (Passive, Some(Passive), Err(AnswerError::SetupConflict)),
        ];
        for (offered, answered, role) in table {
            assert_eq!(
                offerer_role(offered, answered),
                role,
                "{offered:?} {answered:?}"
            );
        }
    }

    #[test]
    fn offer_never_says_passive() {
        assert_eq!(offer_setup(true), Setup::ActPass);
        assert_eq!(offer_setup(false), Setup::Active);
    }

    #[test]
    fn unknown_setup_value_is_refused() {
        assert_eq!(Setup::parse("sometimes"), Err(MediaError::InvalidSetup));
        assert_eq!(Setup::parse("actpass"), Ok(Setup::ActPass));
    }
}
