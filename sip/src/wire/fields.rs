//! RFC 3261 §7.3: the header fields of a received message, in the order they
//! came, each value a slice of the received bytes (nothing copied).
//!
//! Names come from ezk's `Line` (compact forms resolved, §7.3.3) and match
//! case-insensitively (§7.3.1). What this does not do: merge the fields of
//! one name, type a value, or undo folding (the readers in `message.rs` do).

use bytesstr::BytesStr;
use ezk_sip_types::Name;

/// The header fields of one message, in received order.
#[derive(Debug, Clone, Default)]
pub struct HeaderFields {
    fields: Vec<(Name, BytesStr)>,
}

impl HeaderFields {
    /// Every value of the fields called `name`, in received order.
    pub fn get_raw<'a, 'n>(
        &'a self,
        name: &'n Name,
    ) -> impl Iterator<Item = &'a BytesStr> + use<'a, 'n> {
        let wanted = name.as_print_str();
        self.fields
            .iter()
            .filter(move |(n, _)| n.as_print_str().eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value)
    }

    /// Every field, name and raw value, in received order.
    pub fn iter(&self) -> impl Iterator<Item = (&Name, &BytesStr)> {
        self.fields.iter().map(|(n, v)| (n, v))
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            fields: Vec::with_capacity(capacity),
        }
    }

    pub(crate) fn push(&mut self, name: Name, value: BytesStr) {
        self.fields.push((name, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names are compared by their printed form: ezk resolves every
    /// spelling of a name it knows (any case, the compact form) to that name,
    /// and prints it one way, so two names are ezk-equal exactly when their
    /// printed forms are equal ignoring case (checked here for the ones
    /// Parley reads, each against all the others, and an extension name).
    #[test]
    fn printed_names_match_exactly_when_ezk_names_do() {
        let spellings = [
            "Via",
            "v",
            "VIA",
            "From",
            "f",
            "To",
            "t",
            "Call-ID",
            "i",
            "call-id",
            "CSeq",
            "Contact",
            "m",
            "Content-Length",
            "l",
            "Content-Type",
            "c",
            "Content-Encoding",
            "e",
            "Content-Language",
            "Subject",
            "s",
            "Max-Forwards",
            "Date",
            "Record-Route",
            "Route",
            "Expires",
            "Event",
            "o",
            "Subscription-State",
            "Supported",
            "k",
            "WWW-Authenticate",
            "Proxy-Authenticate",
            "Require",
            "Retry-After",
            "X-Ext",
            "x-ext",
            "X-Other",
        ];
        for a in spellings {
            for b in spellings {
                let (a, b) = (Name::from(a), Name::from(b));
                assert_eq!(
                    a.as_print_str().eq_ignore_ascii_case(b.as_print_str()),
                    a == b,
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    /// RFC 3261 §7.3.1 and §7.3.3: names match case-insensitively and in
    /// their compact forms; values of one name come in the order received.
    #[test]
    fn values_of_a_name_come_in_received_order_whatever_its_spelling() {
        let mut fields = HeaderFields::default();
        fields.push(Name::from("v"), BytesStr::from("first"));
        fields.push(Name::from("To"), BytesStr::from("to"));
        fields.push(Name::from("VIA"), BytesStr::from("second"));
        fields.push(Name::from("X-Extension"), BytesStr::from("x"));
        let vias: Vec<&str> = fields.get_raw(&Name::VIA).map(|v| v.as_str()).collect();
        assert_eq!(vias, ["first", "second"]);
        let x = Name::from("x-extension");
        assert_eq!(fields.get_raw(&x).count(), 1);
        assert_eq!(fields.len(), 4);
    }
}
