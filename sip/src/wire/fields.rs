//! RFC 3261 §7.3: the header fields of a received message, in the order they
//! came, each value a slice of the received bytes (nothing copied).
//!
//! Names come from ezk's `Line` (compact forms resolved, §7.3.3) and match
//! case-insensitively (§7.3.1). Each field also carries a [`Key`] resolved
//! once when it is pushed, for the names the message paths read (issue 24):
//! a lookup compares keys, not printed names. What this does not do: merge
//! the fields of one name, type a value, or undo folding (the readers in
//! `message.rs` do).

use bytes::Bytes;
use bytesstr::BytesStr;
use ezk_sip_types::Name;

use crate::framing::ContentLength;

/// The names the message paths read, resolved once per field; every other
/// name is [`Key::Other`] and matched by its printed form as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    ContentType,
    ContentLength,
    ContentEncoding,
    ContentLanguage,
    MaxForwards,
    Date,
    Subject,
    Expires,
    Event,
    RecordRoute,
    Route,
    Require,
    Supported,
    SessionExpires,
    SubscriptionState,
    Other,
}

/// Each key's name as ezk prints it (its long form).
#[cfg(test)]
const PRINTED: [(&str, Key); 21] = [
    ("Via", Key::Via),
    ("From", Key::From),
    ("To", Key::To),
    ("Call-ID", Key::CallId),
    ("CSeq", Key::CSeq),
    ("Contact", Key::Contact),
    ("Content-Type", Key::ContentType),
    ("Content-Length", Key::ContentLength),
    ("Content-Encoding", Key::ContentEncoding),
    ("Content-Language", Key::ContentLanguage),
    ("Max-Forwards", Key::MaxForwards),
    ("Date", Key::Date),
    ("Subject", Key::Subject),
    ("Expires", Key::Expires),
    ("Event", Key::Event),
    ("Record-Route", Key::RecordRoute),
    ("Route", Key::Route),
    ("Require", Key::Require),
    ("Supported", Key::Supported),
    ("Session-Expires", Key::SessionExpires),
    ("Subscription-State", Key::SubscriptionState),
];

/// Whether `printed` is `candidate` (lowercase letters and `-`) in any
/// ASCII case: `eq_ignore_ascii_case` without its two case mappings per
/// byte, and without an early exit, so it compiles to a few instructions a
/// byte (issue 24: ~90 instructions a header field). A letter matches its
/// two cases only (`| 0x20` maps just those onto it); `-` matches only
/// itself (`| 0x20` would also map CR onto it, so it is compared exactly).
fn same_name(printed: &[u8], candidate: &[u8]) -> bool {
    printed.len() == candidate.len()
        && printed.iter().zip(candidate).fold(0u8, |differ, (&p, &c)| {
            let fold = u8::from(c != b'-') << 5;
            differ | ((p | fold) ^ c)
        }) == 0
}

impl Key {
    /// Its bit in [`HeaderFields`]'s set of keys present.
    fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// The key of a name printed `printed` (any case): its length and
    /// first letter (and, where two names share those, one more letter)
    /// pick the one name it can be, which is then compared whole (issue
    /// 24: one comparison per field; a test checks every key is found).
    fn of_printed(printed: &str) -> Key {
        let b = printed.as_bytes();
        let lower = |i: usize| b.get(i).map_or(0, u8::to_ascii_lowercase);
        let (candidate, key) = match (b.len(), lower(0)) {
            (2, b't') => ("to", Key::To),
            (3, b'v') => ("via", Key::Via),
            (4, b'f') => ("from", Key::From),
            (4, b'c') => ("cseq", Key::CSeq),
            (4, b'd') => ("date", Key::Date),
            (5, b'e') => ("event", Key::Event),
            (5, b'r') => ("route", Key::Route),
            (7, b'c') if lower(1) == b'a' => ("call-id", Key::CallId),
            (7, b'c') => ("contact", Key::Contact),
            (7, b's') => ("subject", Key::Subject),
            (7, b'e') => ("expires", Key::Expires),
            (7, b'r') => ("require", Key::Require),
            (9, b's') => ("supported", Key::Supported),
            (12, b'c') => ("content-type", Key::ContentType),
            (12, b'm') => ("max-forwards", Key::MaxForwards),
            (12, b'r') => ("record-route", Key::RecordRoute),
            (14, b'c') => ("content-length", Key::ContentLength),
            (15, b's') => ("session-expires", Key::SessionExpires),
            (16, b'c') if lower(8) == b'e' => ("content-encoding", Key::ContentEncoding),
            (16, b'c') => ("content-language", Key::ContentLanguage),
            (18, b's') => ("subscription-state", Key::SubscriptionState),
            _ => return Key::Other,
        };
        if same_name(b, candidate.as_bytes()) {
            key
        } else {
            Key::Other
        }
    }

    /// The key of a name as a caller or a peer spells it: the long form or
    /// a compact one (RFC 3261 §7.3.3; `o` is RFC 6665 §8.2.1's Event, `x`
    /// RFC 4028's Session-Expires), any case. `Other` for the rest, which
    /// ezk's own spellings then decide.
    pub(crate) fn of_spelling(spelling: &str) -> Key {
        match spelling.as_bytes() {
            [c] => match c.to_ascii_lowercase() {
                b'v' => Key::Via,
                b'f' => Key::From,
                b't' => Key::To,
                b'i' => Key::CallId,
                b'm' => Key::Contact,
                b'c' => Key::ContentType,
                b'l' => Key::ContentLength,
                b'e' => Key::ContentEncoding,
                b's' => Key::Subject,
                b'o' => Key::Event,
                b'k' => Key::Supported,
                b'x' => Key::SessionExpires,
                _ => Key::Other,
            },
            _ => Key::of_printed(spelling),
        }
    }
}

impl Key {
    /// ezk's name of a key (`None` for `Other`): the `Name` that ezk
    /// resolves each spelling of the key to (RFC 3261 §7.3.3's compact
    /// forms included).
    fn name(self) -> Option<Name> {
        Some(match self {
            Key::Via => Name::VIA,
            Key::From => Name::FROM,
            Key::To => Name::TO,
            Key::CallId => Name::CALL_ID,
            Key::CSeq => Name::CSEQ,
            Key::Contact => Name::CONTACT,
            Key::ContentType => Name::CONTENT_TYPE,
            Key::ContentLength => Name::CONTENT_LENGTH,
            Key::ContentEncoding => Name::CONTENT_ENCODING,
            Key::ContentLanguage => Name::CONTENT_LANGUAGE,
            Key::MaxForwards => Name::MAX_FORWARDS,
            Key::Date => Name::DATE,
            Key::Subject => Name::SUBJECT,
            Key::Expires => Name::EXPIRES,
            Key::Event => Name::EVENT,
            Key::RecordRoute => Name::RECORD_ROUTE,
            Key::Route => Name::ROUTE,
            Key::Require => Name::REQUIRE,
            Key::Supported => Name::SUPPORTED,
            Key::SessionExpires => Name::SESSION_EXPIRES,
            Key::SubscriptionState => Name::SUBSCRIPTION_STATE,
            Key::Other => return None,
        })
    }
}

/// What a lookup is after: a key, or a name outside the keys.
#[derive(Clone, Copy)]
enum Wanted<'n> {
    Key(Key),
    /// A name's printed form, compared with other names' printed forms.
    Printed(&'n str),
    /// A name as a caller spells it, compared as ezk compares a name with
    /// a string (its printed form and its spellings, any case).
    Spelling(&'n str),
}

impl Wanted<'_> {
    fn matches(self, name: &Name, key: Key) -> bool {
        match self {
            Wanted::Key(wanted) => key == wanted,
            Wanted::Printed(printed) => {
                key == Key::Other && name.as_print_str().eq_ignore_ascii_case(printed)
            }
            Wanted::Spelling(spelling) => key == Key::Other && *name == *spelling,
        }
    }
}

/// One field's value: its text, and the shared bytes it lies in (the
/// message's head, or a buffer of its own), to slice parts of it from
/// without copying (`FieldValue::slice_ref`).
#[derive(Debug, Clone, Copy)]
pub struct FieldValue<'a> {
    text: &'a str,
    src: &'a BytesStr,
}

impl<'a> FieldValue<'a> {
    /// All of `value`, which lies in itself.
    pub fn whole(value: &'a BytesStr) -> FieldValue<'a> {
        FieldValue {
            text: value.as_str(),
            src: value,
        }
    }

    /// The value as received (not trimmed, folding not undone).
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The shared bytes the value lies in: what a part of it is sliced
    /// from (every part of the value lies in them).
    pub fn src(&self) -> &'a BytesStr {
        self.src
    }

    /// `part` (a part of this value) as shared bytes, not copied.
    pub fn slice_ref(&self, part: &str) -> BytesStr {
        self.src.slice_ref(part)
    }

    /// The value as shared bytes of its own.
    pub fn to_shared(&self) -> BytesStr {
        self.src.slice_ref(self.text)
    }
}

impl std::ops::Deref for FieldValue<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        self.text
    }
}

/// One field: its key, its name when that is outside the keys (an index
/// into [`HeaderFields::extra`]), and where its value lies: in the head
/// (`at`, `len`) or, for a value that does not, in
/// [`HeaderFields::extra`] (`at`).
#[derive(Debug, Clone, Copy)]
struct Field {
    key: Key,
    apart: bool,
    name: u32,
    at: u32,
    len: u32,
}

/// A name outside the keys, or a value that does not lie in the head.
#[derive(Debug, Clone)]
enum Extra {
    Name(Name),
    Value(BytesStr),
}

/// The header fields of one message, in received order.
///
/// A value is where it lies in the message's head, not a shared slice of
/// its own (issue 24: a reference count taken and dropped per field, and
/// 72 bytes a field where this is 16); the head is shared once.
#[derive(Debug, Clone, Default)]
pub struct HeaderFields {
    /// The bytes the values lie in.
    head: BytesStr,
    fields: Vec<Field>,
    /// The names outside the keys, and the values that do not lie in
    /// `head` (pushed from elsewhere), in the order of their fields.
    extra: Vec<Extra>,
    /// Which keys have a field (bit [`Key::bit`]; [`Key::Other`]'s for any
    /// other name): a lookup of a name no field has ends without a scan
    /// (issue 24: most lookups of a MESSAGE — Subject, Content-Encoding,
    /// Content-Language — are of names it does not carry).
    present: u32,
    /// Whether no value holds a folded line (RFC 3261 §7.3.1), known
    /// while parsing (issue 24: readers then skip looking for CR/LF);
    /// `false` when not known.
    unfolded: bool,
}

impl HeaderFields {
    /// Every value of the fields called `name`, in received order.
    pub fn get_raw<'a, 'n>(
        &'a self,
        name: &'n Name,
    ) -> impl Iterator<Item = FieldValue<'a>> + use<'a, 'n> {
        let printed = name.as_print_str();
        let wanted = match Key::of_printed(printed) {
            Key::Other => Wanted::Printed(printed),
            key => Wanted::Key(key),
        };
        self.matching(wanted)
    }

    /// Every value of the fields called `name` as a caller spells it (long
    /// or compact form, any case), in received order: what
    /// `get_raw(&Name::from(name))` gives, without resolving the name.
    pub fn get_spelled<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = FieldValue<'a>> + use<'a, 'n> {
        let wanted = match Key::of_spelling(name) {
            Key::Other => Wanted::Spelling(name),
            key => Wanted::Key(key),
        };
        self.matching(wanted)
    }

    fn matching<'a, 'n>(
        &'a self,
        wanted: Wanted<'n>,
    ) -> impl Iterator<Item = FieldValue<'a>> + Clone + use<'a, 'n> {
        let key = match wanted {
            Wanted::Key(key) => key,
            Wanted::Printed(_) | Wanted::Spelling(_) => Key::Other,
        };
        let fields = if self.present & key.bit() == 0 {
            &[][..]
        } else {
            &self.fields[..]
        };
        fields
            .iter()
            .filter(move |field| match wanted {
                Wanted::Key(wanted) => field.key == wanted,
                _ => self
                    .other_name(field)
                    .is_some_and(|name| wanted.matches(name, field.key)),
            })
            .map(|field| self.value(field))
    }

    /// The name of a field outside the keys (`None` for a key's field).
    fn other_name(&self, field: &Field) -> Option<&Name> {
        match self.extra.get(field.name as usize) {
            Some(Extra::Name(name)) if field.key == Key::Other => Some(name),
            _ => None,
        }
    }

    /// A field's value.
    fn value(&self, field: &Field) -> FieldValue<'_> {
        if field.apart
            && let Some(Extra::Value(src)) = self.extra.get(field.at as usize)
        {
            return FieldValue {
                text: src.as_str(),
                src,
            };
        }
        let (at, len) = (field.at as usize, field.len as usize);
        FieldValue {
            text: self.head.get(at..at + len).unwrap_or_default(),
            src: &self.head,
        }
    }

    /// Every field's key and raw value, in received order.
    pub(crate) fn keyed(&self) -> impl Iterator<Item = (Key, FieldValue<'_>)> {
        self.fields.iter().map(|f| (f.key, self.value(f)))
    }

    /// Every field, name and raw value, in received order.
    pub fn iter(&self) -> impl Iterator<Item = (Name, FieldValue<'_>)> {
        self.fields.iter().map(|f| (self.name(f), self.value(f)))
    }

    /// A field's name, as ezk resolves it: its key's, or the one kept for
    /// a name outside the keys.
    fn name(&self, field: &Field) -> Name {
        field
            .key
            .name()
            .or_else(|| self.other_name(field).cloned())
            .unwrap_or_else(|| Name::from(""))
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Fields of a message whose head is `head`, room for `capacity`.
    pub(crate) fn in_head(head: BytesStr, capacity: usize) -> Self {
        Self {
            head,
            fields: Vec::with_capacity(capacity),
            extra: Vec::new(),
            present: 0,
            unfolded: false,
        }
    }

    /// Every value of the fields with `key` (not `Key::Other`), in
    /// received order: [`HeaderFields::get_raw`] of the key's name
    /// without resolving it.
    pub(crate) fn by_key(&self, key: Key) -> impl Iterator<Item = FieldValue<'_>> + Clone {
        self.matching(Wanted::Key(key))
    }

    /// Records that no value holds a folded line (the parser counted the
    /// line ends).
    pub(crate) fn set_unfolded(&mut self, unfolded: bool) {
        self.unfolded = unfolded;
    }

    /// Whether no value is known to hold a folded line: `false` means
    /// "look".
    pub(crate) fn unfolded(&self) -> bool {
        self.unfolded
    }

    /// RFC 3261 §20.14: the Content-Length these fields give, read as
    /// `framing::content_length` reads a head (every value, compact form
    /// too, all equal) — for fields each of one line, where the two agree
    /// (`wire::line_equivalence`).
    pub(crate) fn content_length(&self) -> ContentLength {
        self.by_key(Key::ContentLength)
            .fold(ContentLength::Absent, |found, value| {
                found.and(value.as_bytes().trim_ascii())
            })
    }

    /// Where `value` lies in the head, if it does: its bytes are the
    /// head's from `start` when its address is, and it ends within the
    /// head.
    fn span_in_head(&self, value: &str) -> Option<(u32, u32)> {
        let head = self.head.as_str();
        let start = (value.as_ptr() as usize).checked_sub(head.as_ptr() as usize)?;
        if start.checked_add(value.len())? > head.len() {
            return None;
        }
        Some((u32::try_from(start).ok()?, u32::try_from(value.len()).ok()?))
    }

    /// Adds a field with this key, name (kept only outside the keys) and
    /// value: where it lies in the head, or `apart()` when it does not.
    fn add(
        &mut self,
        key: Key,
        other: Option<Name>,
        value: &str,
        apart: impl FnOnce() -> BytesStr,
    ) {
        let name = match other {
            Some(name) if key == Key::Other => {
                self.extra.push(Extra::Name(name));
                u32::try_from(self.extra.len() - 1).unwrap_or(u32::MAX)
            }
            _ => u32::MAX,
        };
        let field = match self.span_in_head(value) {
            Some((at, len)) => Field {
                key,
                apart: false,
                name,
                at,
                len,
            },
            None => {
                self.extra.push(Extra::Value(apart()));
                Field {
                    key,
                    apart: true,
                    name,
                    at: u32::try_from(self.extra.len() - 1).unwrap_or(u32::MAX),
                    len: 0,
                }
            }
        };
        self.present |= key.bit();
        self.fields.push(field);
    }

    pub(crate) fn push(&mut self, name: Name, value: BytesStr) {
        let key = Key::of_printed(name.as_print_str());
        self.add(key, Some(name), value.as_str(), || value.clone());
    }

    /// Pushes a field named as received (`spelled`, a slice of the
    /// message): the key is resolved from those bytes once, and ezk's
    /// `Name` is looked up only for names outside the keys — the field is
    /// the one `push(Name::from(spelled), value)` makes
    /// (`wire::line_equivalence`).
    #[cfg(test)]
    pub(crate) fn push_spelled(&mut self, spelled: BytesStr, value: BytesStr) {
        let key = Key::of_spelling(&spelled);
        let name = key.name().unwrap_or_else(|| Name::from(spelled.clone()));
        self.add(key, Some(name), value.as_str(), || value.clone());
    }

    /// [`HeaderFields::push_spelled`] of a name and a value lying in `src`
    /// (the message's head, which these fields were made in): the name is
    /// sliced from `src` only when ezk's `Name` needs its text, for names
    /// outside the keys, and the value is where it lies (issue 24).
    pub(crate) fn push_spelled_in(&mut self, src: &Bytes, spelled: &str, value: &str) {
        let key = Key::of_spelling(spelled);
        let other = match key {
            Key::Other => Some(Name::from(BytesStr::from_parse(src, spelled))),
            _ => None,
        };
        self.add(key, other, value, || BytesStr::from_parse(src, value));
    }

    /// Every field, its name, value and key, for the equivalence tests.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> Vec<(Name, FieldValue<'_>, Key)> {
        self.fields
            .iter()
            .map(|f| (self.name(f), self.value(f), f.key))
            .collect()
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

    /// Every key is found from its name in any case (the by-length table
    /// misses none), and no other name finds one.
    #[test]
    fn every_key_is_found_from_its_printed_name() {
        for (printed, key) in PRINTED {
            for spelling in [
                printed.to_owned(),
                printed.to_ascii_lowercase(),
                printed.to_ascii_uppercase(),
            ] {
                assert_eq!(Key::of_printed(&spelling), key, "{spelling}");
                assert_eq!(Key::of_spelling(&spelling), key, "{spelling}");
            }
        }
        for other in [
            "",
            "X",
            "Vias",
            "Call-IDs",
            "Allow-Events",
            "Content-ID",
            "User-Agent",
            "Coll-ID",
            "Contect",
            "Content-Encodinx",
            "Content-Longuage",
            "Tp",
        ] {
            assert_eq!(Key::of_printed(other), Key::Other, "{other}");
        }
    }

    /// `same_name` answers as `eq_ignore_ascii_case` for every key's name
    /// with any one byte replaced by each of the 256 values, and in every
    /// case mix of its letters' first few.
    #[test]
    fn same_name_is_eq_ignore_ascii_case_for_the_keys_names() {
        for (printed, _) in PRINTED {
            let candidate = printed.to_ascii_lowercase();
            let candidate = candidate.as_bytes();
            for at in 0..candidate.len() {
                for b in 0..=u8::MAX {
                    let mut name = candidate.to_vec();
                    name[at] = b;
                    assert_eq!(
                        same_name(&name, candidate),
                        name.eq_ignore_ascii_case(candidate),
                        "{printed} with {b:#x} at {at}"
                    );
                }
            }
            for mix in 0..(1u32 << candidate.len().min(10)) {
                let name: Vec<u8> = candidate
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| {
                        if mix >> i & 1 == 1 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect();
                assert!(same_name(&name, candidate), "{printed}: {name:?}");
            }
            assert!(!same_name(&candidate[1..], candidate));
        }
    }

    /// A value lying in the head is kept as its place there (the head is
    /// shared once, nothing is taken per field); one that does not is
    /// kept apart. Both read back as pushed, in order, names outside the
    /// keys included, and a part of either is sliced from where it lies.
    #[test]
    fn values_in_the_head_are_places_and_others_are_kept_apart() {
        let head = BytesStr::from("Via: a\r\nX-Ext: bc\r\n");
        let src = AsRef::<Bytes>::as_ref(&head);
        let mut fields = HeaderFields::in_head(head.clone(), 4);
        fields.push_spelled_in(src, &head[0..3], &head[5..6]);
        fields.push_spelled_in(src, &head[8..13], &head[15..17]);
        fields.push(Name::from("To"), BytesStr::from("elsewhere"));
        let in_head = |v: &str| head.as_bytes().as_ptr_range().contains(&v.as_ptr());
        let read: Vec<(String, &str, bool)> = fields
            .iter()
            .map(|(n, v)| (n.as_print_str().to_owned(), v.as_str(), in_head(v.as_str())))
            .collect();
        assert_eq!(
            read,
            [
                ("Via".to_owned(), "a", true),
                ("X-Ext".to_owned(), "bc", true),
                ("To".to_owned(), "elsewhere", false),
            ]
        );
        let ext = fields.get_spelled("x-ext").next().expect("found");
        assert_eq!(ext.slice_ref(&ext[1..]), "c");
        assert!(in_head(&ext.slice_ref(&ext[1..])));
        let to = fields.by_key(Key::To).next().expect("found");
        assert_eq!(to.to_shared(), "elsewhere");
        assert_eq!(fields.by_key(Key::Via).count(), 1);
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

    /// The set of keys present never hides a field: for fields pushed
    /// both ways, some names present and some absent, every lookup by key,
    /// printed name and spelling finds what a scan of the fields finds.
    #[test]
    fn lookups_find_what_a_scan_finds_present_or_absent() {
        let mut fields = HeaderFields::default();
        let mut expected: Vec<(Key, &str)> = Vec::new();
        for (i, (printed, key)) in PRINTED.iter().enumerate() {
            // Every third key carries no field; the others one or two.
            match i % 3 {
                0 => continue,
                1 => fields.push(Name::from(*printed), BytesStr::from(*printed)),
                _ => {
                    fields.push_spelled(
                        BytesStr::from(printed.to_ascii_lowercase()),
                        BytesStr::from("a"),
                    );
                    fields.push_spelled(BytesStr::from(*printed), BytesStr::from("b"));
                }
            }
            expected.push((*key, printed));
        }
        fields.push_spelled(BytesStr::from("X-Extension"), BytesStr::from("x"));
        for (printed, key) in PRINTED {
            let scanned: Vec<&str> = fields
                .entries()
                .iter()
                .filter(|(_, _, k)| *k == key)
                .map(|(_, v, _)| v.as_str())
                .collect();
            assert_eq!(scanned.is_empty(), !expected.iter().any(|(k, _)| *k == key));
            let by_key: Vec<&str> = fields.by_key(key).map(|v| v.as_str()).collect();
            let spelled: Vec<&str> = fields.get_spelled(printed).map(|v| v.as_str()).collect();
            let raw: Vec<&str> = fields
                .get_raw(&Name::from(printed))
                .map(|v| v.as_str())
                .collect();
            assert_eq!(by_key, scanned, "{printed}");
            assert_eq!(spelled, scanned, "{printed}");
            assert_eq!(raw, scanned, "{printed}");
        }
        assert_eq!(fields.get_spelled("x-extension").count(), 1);
        assert_eq!(fields.get_raw(&Name::from("X-EXTENSION")).count(), 1);
        assert_eq!(fields.get_spelled("X-Absent").count(), 0);
        // Only known names: an unknown one is absent without a scan.
        let mut known = HeaderFields::default();
        known.push_spelled(BytesStr::from("To"), BytesStr::from("t"));
        assert_eq!(known.get_spelled("X-Extension").count(), 0);
        assert_eq!(known.get_spelled("t").count(), 1);
    }
}
