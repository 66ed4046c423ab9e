//! The header fields of a REGISTER as the registrar reads them (RFC 3261
//! §10.3: Require, Expires, Contact with `expires`, `q`, `+sip.instance`)
//! and the `q` it writes back in the 200. Pure functions over text.

use parley_sip::IncomingRequest;
use parley_sip::register::split_contacts;
use parley_sip::wire::header::Address;

use super::bindings::{ContactUpdate, Update};

/// The option tags of a Require or Supported value.
pub(super) fn option_tags(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// RFC 3261 §8.2.2.3: the Require tags the registrar does not know, as the
/// 420's Unsupported lists them. Known: `gruu` (RFC 5627 §5.1).
pub(super) fn unsupported_requirements(require: &str) -> String {
    option_tags(require)
        .filter(|t| !t.eq_ignore_ascii_case("gruu"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// RFC 3261 §25.1 qvalue from thousandths: `1`, `0.5`, `0.125`.
pub(super) fn q_text(q: u16) -> String {
    if q >= 1000 {
        return "1".to_owned();
    }
    let text = format!("0.{q:03}");
    let trimmed = text.trim_end_matches('0');
    if trimmed == "0." {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// RFC 3261 §25.1: `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`,
/// as thousandths.
fn parse_q(text: &str) -> Option<u16> {
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Reads the Expires and Contact header fields of a REGISTER.
pub(super) fn read_update(request: &IncomingRequest, aor: String) -> Result<Update, &'static str> {
    let view = request.view();
    let expires = match view.header("Expires") {
        None => None,
        Some(v) => Some(v.trim().parse::<u32>().map_err(|_| "Bad Expires")?),
    };
    let mut wildcard = false;
    let mut contacts = Vec::new();
    for value in view.header_values("Contact") {
        for part in split_contacts(&value) {
            if part == "*" {
                wildcard = true;
                continue;
            }
            let address = Address::parse(part).map_err(|_| "Bad Contact")?;
            let expires = match address.param("expires") {
                None => None,
                Some(v) => Some(v.trim().parse::<u32>().map_err(|_| "Bad Contact expires")?),
            };
            let q = match address.param("q") {
                None => None,
                Some(v) => Some(parse_q(v).ok_or("Bad Contact q")?),
            };
            // RFC 5627 §5.1: pub-gruu and temp-gruu in a REGISTER are ignored.
            let instance = address.param("+sip.instance").map(str::to_owned);
            contacts.push(ContactUpdate {
                uri: address.uri_text.as_str().to_owned(),
                expires,
                q,
                instance,
            });
        }
    }
    Ok(Update {
        aor,
        call_id: view.call_id().to_owned(),
        cseq: view.cseq(),
        expires,
        wildcard,
        contacts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_25_1_qvalue_parses_to_thousandths_and_back() {
        for (text, q) in [
            ("0", 0),
            ("0.5", 500),
            ("0.125", 125),
            ("1", 1000),
            ("1.000", 1000),
        ] {
            assert_eq!(parse_q(text), Some(q), "{text}");
        }
        for bad in ["1.5", "0.1234", "2", "", "0.x", "-0"] {
            assert_eq!(parse_q(bad), None, "{bad}");
        }
        assert_eq!(q_text(500), "0.5");
        assert_eq!(q_text(125), "0.125");
        assert_eq!(q_text(1000), "1");
        assert_eq!(q_text(0), "0");
    }

    #[test]
    fn rfc3261_8_2_2_3_unsupported_lists_only_unknown_tags() {
        assert_eq!(unsupported_requirements("gruu, foo,bar"), "foo, bar");
        assert_eq!(unsupported_requirements("GRUU"), "");
        assert_eq!(unsupported_requirements(""), "");
    }
}
