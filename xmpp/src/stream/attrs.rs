//! Issue 24: the attributes of a tag as a stanza usually carries them,
//! read in one pass over the tag's bytes.
//!
//! A tag is plain when every attribute is `name='value'` or
//! `name="value"` with nothing around the `=`, the name made of ASCII
//! letters, digits and `_ - . :`, and the value free of control
//! characters, `&`, quotes and the byte `EF`, with at most [`MAX`] of them.
//! For such a tag what quick-xml's iterator, `normalized_value` and the
//! XML 1.0 §2.2 check answer is known without running them: the pairs as
//! written, each value unchanged by normalisation (no entity, no tab, CR or
//! LF) and every character a `Char` (no C0 control, and without `EF` no
//! U+FFFE or U+FFFF). Any other tag is read by quick-xml as before.

/// The most attributes a plain tag has; a stanza carries 3 to 6.
const MAX: usize = 8;

/// Where a plain tag's attributes are in its bytes: for each, where its
/// name starts, where the `=` after it is (its value starts two bytes on)
/// and where its value ends.
#[derive(Debug)]
pub(super) struct Plain {
    pairs: [[u32; 3]; MAX],
    len: usize,
}

impl Plain {
    /// Each attribute's name and value, in document order.
    pub(super) fn iter<'r>(&self, raw: &'r str) -> impl Iterator<Item = (&'r str, &'r str)> {
        self.pairs[..self.len].iter().map(move |&[key, eq, end]| {
            let [key, eq, end] = [key, eq, end].map(|at| at as usize);
            (&raw[key..eq], &raw[eq + 2..end])
        })
    }
}

/// [`CLASS`] bits: XML 1.0 §2.3 `S` as quick-xml takes it between
/// attributes; a byte of a plain name (ASCII letters, digits, `_ - . :`);
/// a byte a plain value may hold: not a C0 control (tab, CR and LF
/// included: normalisation would turn them into spaces), not the start of
/// a reference, not `EF` (the lead byte of U+FFFE and U+FFFF), and not a
/// quote (a value holding the other quote is left to quick-xml).
const SPACE: u8 = 1;
const NAME: u8 = 2;
const VALUE: u8 = 4;

/// Each byte's class, one lookup a byte.
static CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            class[b] |= SPACE;
        }
        if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':') {
            class[b] |= NAME;
        }
        if c >= 0x20 && !matches!(c, b'&' | b'\'' | b'"' | 0xef) {
            class[b] |= VALUE;
        }
        b += 1;
    }
    class
};

/// How many bytes from `at` on are of `class`.
fn run(bytes: &[u8], at: usize, class: u8) -> usize {
    bytes[at..]
        .iter()
        .position(|&b| CLASS[usize::from(b)] & class == 0)
        .unwrap_or(bytes.len() - at)
}

/// `raw` (what follows the element name in the tag) as plain attributes,
/// or `None` when quick-xml must read them.
pub(super) fn plain(raw: &str) -> Option<Plain> {
    let bytes = raw.as_bytes();
    u32::try_from(bytes.len()).ok()?;
    let mut out = Plain {
        pairs: [[0; 3]; MAX],
        len: 0,
    };
    let mut at = 0;
    loop {
        at += run(bytes, at, SPACE);
        if at == bytes.len() {
            return Some(out);
        }
        let key = at;
        at += run(bytes, at, NAME);
        let quote = *bytes.get(at + 1)?;
        if at == key || bytes[at] != b'=' || (quote != b'\'' && quote != b'"') {
            return None;
        }
        let end = at + 2 + run(bytes, at + 2, VALUE);
        if bytes.get(end) != Some(&quote) {
            return None;
        }
        // The length fits in a u32, checked above.
        *out.pairs.get_mut(out.len)? = [key, at, end].map(|i| i as u32);
        out.len += 1;
        at = end + 1;
    }
}
