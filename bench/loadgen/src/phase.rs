//! What a phase is: `DIR:RATE|max:COUNT[:flood=N][:window=N]`, as given on
//! the command line.

use anyhow::{Context, bail};

/// Which way a phase's messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// `s2x`: SIP MESSAGE → Parley → XMPP.
    SipToXmpp,
    /// `x2s`: XMPP `<message/>` → Parley → SIP.
    XmppToSip,
    /// `mix`: alternating, even numbers SIP → XMPP.
    Mix,
    /// `server`: the load tool's own raw component → the XMPP server → the
    /// c2s user; Parley is not on the path (the server's own ceiling).
    ServerOnly,
}

/// One phase.
#[derive(Debug, Clone)]
pub(crate) struct PhaseSpec {
    pub(crate) direction: Direction,
    /// `None`: max rate (a closed loop).
    pub(crate) rate: Option<u32>,
    pub(crate) count: usize,
    /// Hostile datagrams per second from the flood source during the phase.
    pub(crate) flood: Option<u32>,
    /// Messages in flight at max rate (default: `--window`).
    pub(crate) window: Option<usize>,
    pub(crate) text: String,
}

impl PhaseSpec {
    /// Whether the phase's messages are sent as SIP (and get SIP answers).
    pub(crate) fn sends_sip(&self) -> bool {
        matches!(self.direction, Direction::SipToXmpp | Direction::Mix)
    }

    /// How many of the first `n` messages went out as SIP.
    pub(crate) fn via_sip(&self, n: usize) -> usize {
        match self.direction {
            Direction::SipToXmpp => n,
            Direction::Mix => n.div_ceil(2),
            Direction::XmppToSip | Direction::ServerOnly => 0,
        }
    }
}

pub(crate) fn parse_phase(text: &str) -> anyhow::Result<PhaseSpec> {
    let parts: Vec<&str> = text.split(':').collect();
    let [dir, rate, count, rest @ ..] = parts.as_slice() else {
        bail!("phase {text:?}: want DIR:RATE:COUNT[:flood=N][:window=N]");
    };
    let direction = match *dir {
        "s2x" => Direction::SipToXmpp,
        "x2s" => Direction::XmppToSip,
        "mix" => Direction::Mix,
        "server" => Direction::ServerOnly,
        other => bail!("phase {text:?}: unknown direction {other:?}"),
    };
    let rate = match *rate {
        "max" => None,
        r => Some(r.parse().context("rate")?),
    };
    let mut flood = None;
    let mut window = None;
    for opt in rest {
        match opt.split_once('=') {
            Some(("flood", n)) => flood = Some(n.parse().context("flood rate")?),
            Some(("window", n)) => window = Some(n.parse().context("window")?),
            _ => bail!("phase {text:?}: unknown option {opt:?}"),
        }
    }
    Ok(PhaseSpec {
        direction,
        rate,
        count: count.parse().context("count")?,
        flood,
        window,
        text: text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_parse() {
        let p = parse_phase("s2x:max:1000:flood=5000").expect("phase");
        assert_eq!(p.direction, Direction::SipToXmpp);
        assert_eq!((p.rate, p.count, p.flood), (None, 1000, Some(5000)));
        let p = parse_phase("server:max:200000:window=1000").expect("phase");
        assert_eq!(p.direction, Direction::ServerOnly);
        assert_eq!((p.rate, p.window), (None, Some(1000)));
        assert!(parse_phase("x2s:100").is_err());
        assert!(parse_phase("up:1:1").is_err());
        assert!(parse_phase("s2x:1:1:burst=3").is_err());
    }

    #[test]
    fn mix_sends_every_other_message_as_sip() {
        let p = parse_phase("mix:10:5").expect("phase");
        assert_eq!(p.via_sip(5), 3);
        assert!(!parse_phase("server:1:1").expect("phase").sends_sip());
    }
}
