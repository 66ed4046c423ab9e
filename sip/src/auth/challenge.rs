//! RFC 3261 §25.1 `challenge`: reading a WWW-Authenticate / Proxy-Authenticate value.

use super::{AuthError, Hash};

/// One Digest challenge (RFC 7616 §3.3, RFC 3261 §25.1 `digest-cln`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Challenge {
    /// The protection space, shown to users and part of A1; unescaped.
    pub realm: String,
    /// The server nonce, unescaped.
    pub nonce: String,
    /// Returned unchanged in the answer when present.
    pub opaque: Option<String>,
    /// The hash algorithm; MD5 when the challenge names none (RFC 7616 §3.3).
    pub algorithm: Algorithm,
    /// The qop values offered, in the order received; empty for an RFC 2069
    /// style challenge.
    pub qop: Vec<Qop>,
    /// `stale=true`: the previous nonce expired, the credentials were right.
    pub stale: bool,
    /// The `domain` URIs of the protection space, split on spaces.
    pub domain: Vec<String>,
    /// `userhash=true`: the server would accept a hashed username. We send
    /// the plain one, which RFC 7616 §3.4.4 allows.
    pub userhash: bool,
    /// Any other `auth-param`s (e.g. `charset`), names lowercased, values unescaped.
    pub params: Vec<(String, String)>,
}

/// A digest algorithm (RFC 8760 §2.7 `algorithm`, RFC 7616 §6.1 registry).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `MD5`, the RFC 3261 default; NOT RECOMMENDED by RFC 8760 §3.
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// `SHA-512-256` (SHA-512/256 of FIPS 180-4, not truncated SHA-512).
    Sha512_256,
    /// `SHA-512-256-sess`.
    Sha512_256Sess,
    /// Any other token, as received; never answered.
    Other(String),
}

impl Algorithm {
    /// Reads an algorithm token, case-insensitively.
    pub fn parse(token: &str) -> Self {
        const KNOWN: [(&str, Algorithm); 6] = [
            ("MD5", Algorithm::Md5),
            ("MD5-sess", Algorithm::Md5Sess),
            ("SHA-256", Algorithm::Sha256),
            ("SHA-256-sess", Algorithm::Sha256Sess),
            ("SHA-512-256", Algorithm::Sha512_256),
            ("SHA-512-256-sess", Algorithm::Sha512_256Sess),
        ];
        KNOWN
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(token))
            .map_or_else(|| Self::Other(token.to_owned()), |(_, a)| a)
    }

    /// The token as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
            Self::Sha512_256 => "SHA-512-256",
            Self::Sha512_256Sess => "SHA-512-256-sess",
            Self::Other(s) => s,
        }
    }

    /// Whether we can compute responses for it.
    pub fn is_supported(&self) -> bool {
        self.hash().is_some()
    }

    /// A `-sess` variant: A1 also covers the nonce and cnonce (RFC 7616 §3.4.2).
    pub fn is_session(&self) -> bool {
        matches!(
            self,
            Self::Md5Sess | Self::Sha256Sess | Self::Sha512_256Sess
        )
    }

    pub(super) fn hash(&self) -> Option<Hash> {
        match self {
            Self::Md5 | Self::Md5Sess => Some(Hash::Md5),
            Self::Sha256 | Self::Sha256Sess => Some(Hash::Sha256),
            Self::Sha512_256 | Self::Sha512_256Sess => Some(Hash::Sha512_256),
            Self::Other(_) => None,
        }
    }

    /// Orders algorithms for [`super::choose_strongest`]: MD5 below the two
    /// 256-bit SHA-2 hashes, which rank equal; unknown ones lowest.
    pub(super) fn strength(&self) -> u8 {
        match self.hash() {
            None => 0,
            Some(Hash::Md5) => 1,
            Some(Hash::Sha256 | Hash::Sha512_256) => 2,
        }
    }
}

/// A quality of protection (RFC 7616 §3.3 `qop`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Qop {
    /// `auth`: authentication of the method and URI.
    Auth,
    /// `auth-int`: also the message body.
    AuthInt,
    /// Any other token, as received; never chosen.
    Other(String),
}

impl Qop {
    /// Reads a qop token, case-insensitively.
    pub fn parse(token: &str) -> Self {
        if token.eq_ignore_ascii_case("auth") {
            Self::Auth
        } else if token.eq_ignore_ascii_case("auth-int") {
            Self::AuthInt
        } else {
            Self::Other(token.to_owned())
        }
    }

    /// The token as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Auth => "auth",
            Self::AuthInt => "auth-int",
            Self::Other(s) => s,
        }
    }
}

impl Challenge {
    /// Parses the value of a WWW-Authenticate or Proxy-Authenticate header
    /// field: one challenge (RFC 3261 §25.1), scheme `Digest` (any case).
    ///
    /// Lenient where real servers are: LWS (with folding) around `=` and `,`,
    /// token values where the grammar wants quoted-strings (`realm=x`),
    /// unquoted `qop=auth`, empty list elements, unknown parameters (kept in
    /// [`Challenge::params`]). Strict where it matters: unbalanced quotes,
    /// control characters, repeated parameters, missing realm or nonce.
    pub fn parse(header_value: &str) -> Result<Challenge, AuthError> {
        let mut realm = None;
        let mut nonce = None;
        let mut opaque = None;
        let mut algorithm = None;
        let mut qop = None;
        let mut stale = None;
        let mut domain = None;
        let mut userhash = None;
        let mut params: Vec<(String, String)> = Vec::new();

        for (name, value) in digest_params(header_value)? {
            let slot = match name.as_str() {
                "realm" => &mut realm,
                "nonce" => &mut nonce,
                "opaque" => &mut opaque,
                "algorithm" => &mut algorithm,
                "qop" => &mut qop,
                "stale" => &mut stale,
                "domain" => &mut domain,
                "userhash" => &mut userhash,
                _ => {
                    params.push((name, value));
                    continue;
                }
            };
            *slot = Some(value);
        }

        Ok(Challenge {
            realm: realm.ok_or(AuthError::MissingParameter { name: "realm" })?,
            nonce: nonce.ok_or(AuthError::MissingParameter { name: "nonce" })?,
            opaque,
            algorithm: algorithm.map_or(Algorithm::Md5, |a| Algorithm::parse(&a)),
            // RFC 3261 §25.1: qop-value *("," qop-value) inside the quotes.
            qop: qop
                .map(|q| {
                    q.split(',')
                        .map(|t| t.trim_matches([' ', '\t']))
                        .filter(|t| !t.is_empty())
                        .map(Qop::parse)
                        .collect()
                })
                .unwrap_or_default(),
            // RFC 7616 §3.3: anything other than TRUE (case-insensitive) is false.
            stale: stale.is_some_and(|s| s.eq_ignore_ascii_case("true")),
            domain: domain
                .map(|d| {
                    d.split([' ', '\t'])
                        .filter(|u| !u.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            userhash: userhash.is_some_and(|s| s.eq_ignore_ascii_case("true")),
            params,
        })
    }

    /// Whether `auth::authorize` can answer it: a known algorithm, and a
    /// qop we implement when qop is offered (or none, for non-`-sess`).
    pub fn is_supported(&self) -> bool {
        self.algorithm.is_supported()
            && match self.preferred_qop() {
                Ok(Some(_)) => true,
                Ok(None) => !self.algorithm.is_session(),
                Err(_) => false,
            }
    }

    /// The qop we answer with: `auth` if offered, else `auth-int`, else none
    /// when none is offered (RFC 2069 form).
    pub(super) fn preferred_qop(&self) -> Result<Option<Qop>, AuthError> {
        if self.qop.is_empty() {
            Ok(None)
        } else if self.qop.contains(&Qop::Auth) {
            Ok(Some(Qop::Auth))
        } else if self.qop.contains(&Qop::AuthInt) {
            Ok(Some(Qop::AuthInt))
        } else {
            Err(AuthError::UnsupportedQop)
        }
    }
}

/// Reads `Digest` LWS param *("," param): the shape shared by a challenge
/// and by credentials (RFC 3261 §25.1 `digest-cln` and `dig-resp`). Names
/// come back lowercased, values unescaped, each name at most once
/// (RFC 7235 §2.1).
pub(super) fn digest_params(header_value: &str) -> Result<Vec<(String, String)>, AuthError> {
    let mut cur = Cursor {
        s: header_value,
        pos: 0,
    };
    cur.skip_lws();
    let scheme = cur.token("an authentication scheme")?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(AuthError::NotDigest {
            scheme: scheme.to_owned(),
        });
    }
    // RFC 3261 §25.1: "Digest" LWS digest-cln.
    if !cur.skip_lws() && !cur.at_end() {
        return Err(cur.error("whitespace after the scheme"));
    }
    let mut params: Vec<(String, String)> = Vec::new();
    loop {
        cur.skip_lws();
        if cur.at_end() {
            break;
        }
        if cur.eat(b',') {
            // An empty list element (`a=1, , b=2`): tolerated as in RFC 7230 §7.
            continue;
        }
        let name = cur.token("a parameter name")?.to_ascii_lowercase();
        cur.skip_lws();
        if !cur.eat(b'=') {
            return Err(cur.error("'=' after the parameter name"));
        }
        cur.skip_lws();
        let value = cur.value()?;
        cur.skip_lws();
        if !cur.at_end() && !cur.eat(b',') {
            return Err(cur.error("',' between parameters"));
        }
        if params.iter().any(|(n, _)| *n == name) {
            return Err(AuthError::DuplicateParameter { name });
        }
        params.push((name, value));
    }
    Ok(params)
}

/// RFC 3261 §25.1 `token` characters.
pub(super) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// A position in the header value being read.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn error(&self, what: &'static str) -> AuthError {
        AuthError::Malformed { at: self.pos, what }
    }

    /// Length of a line fold (`[CR] LF 1*WSP`, RFC 3261 §7.3.1) at `at`, or 0.
    fn fold_len(&self, at: usize) -> usize {
        let b = self.s.as_bytes();
        let mut i = at;
        if b.get(i) == Some(&b'\r') {
            i += 1;
        }
        if b.get(i) != Some(&b'\n') {
            return 0;
        }
        i += 1;
        if matches!(b.get(i), Some(b' ' | b'\t')) {
            i - at
        } else {
            0
        }
    }

    /// Skips LWS (spaces, tabs and line folds); says whether it skipped any.
    fn skip_lws(&mut self) -> bool {
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.pos += 1,
                Some(b'\r' | b'\n') => match self.fold_len(self.pos) {
                    0 => break,
                    n => self.pos += n,
                },
                _ => break,
            }
        }
        self.pos > start
    }

    fn token(&mut self, what: &'static str) -> Result<&'a str, AuthError> {
        let start = self.pos;
        while self.peek().is_some_and(is_token_byte) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error(what));
        }
        Ok(&self.s[start..self.pos])
    }

    /// A parameter value: a quoted-string, or a bare word. Bare words may hold
    /// more than `token` characters (`nonce=abc/def==` is common), up to LWS,
    /// a comma or a quote.
    fn value(&mut self) -> Result<String, AuthError> {
        if self.eat(b'"') {
            return self.quoted_rest();
        }
        let start = self.pos;
        while self.peek().is_some_and(|b| {
            !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b',' | b'"') && !b.is_ascii_control()
        }) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("a parameter value"));
        }
        Ok(self.s[start..self.pos].to_owned())
    }

    /// The rest of a quoted-string after its opening quote, unescaped
    /// (RFC 3261 §25.1 `qdtext` / `quoted-pair`); a line fold reads as one SP.
    fn quoted_rest(&mut self) -> Result<String, AuthError> {
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("a closing quote"));
            };
            match b {
                b'"' => {
                    out.push_str(&self.s[run..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.s[run..self.pos]);
                    self.pos += 1;
                    // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
                    match self.peek() {
                        Some(e) if e.is_ascii() && e != b'\r' && e != b'\n' => {
                            out.push(char::from(e));
                            self.pos += 1;
                        }
                        _ => return Err(self.error("an escaped ASCII character")),
                    }
                    run = self.pos;
                }
                b'\r' | b'\n' => match self.fold_len(self.pos) {
                    0 => return Err(self.error("no line break inside a quoted-string")),
                    n => {
                        out.push_str(&self.s[run..self.pos]);
                        out.push(' ');
                        self.pos += n;
                        while matches!(self.peek(), Some(b' ' | b'\t')) {
                            self.pos += 1;
                        }
                        run = self.pos;
                    }
                },
                b'\t' => self.pos += 1,
                _ if b.is_ascii_control() => {
                    return Err(self.error("no control character inside a quoted-string"));
                }
                // Multi-byte UTF-8 is UTF8-NONASCII; every byte of it is >= 0x80,
                // so stepping bytewise never stops inside a character.
                _ => self.pos += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    /// RFC 3261 §22.2: the example challenge, folded as on the wire.
    #[test]
    fn rfc3261_example_challenge_parses() {
        let ch = Challenge::parse(
            "Digest\r\n        realm=\"biloxi.com\",\r\n        qop=\"auth,auth-int\",\r\n        \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n        opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert_eq!(ch.realm, "biloxi.com");
        assert_eq!(ch.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
        assert_eq!(
            ch.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
        assert_eq!(ch.algorithm, Algorithm::Md5);
        assert_eq!(ch.qop, vec![Qop::Auth, Qop::AuthInt]);
        assert!(!ch.stale);
        assert!(ch.params.is_empty());
    }

    #[test]
    fn scheme_names_and_values_are_case_insensitive() {
        let ch = Challenge::parse(
            "dIgEsT REALM=\"r\", Nonce=\"n\", ALGORITHM=sha-256-SESS, QoP=\"AUTH\", Stale=True",
        )
        .unwrap();
        assert_eq!(ch.algorithm, Algorithm::Sha256Sess);
        assert_eq!(ch.qop, vec![Qop::Auth]);
        assert!(ch.stale);
    }

    #[test]
    fn odd_spacing_and_tokens_for_quoted_strings_are_tolerated() {
        let ch = Challenge::parse(
            "  Digest \t realm = biloxi.com ,nonce=abc/def+g== ,  qop = auth , , opaque=\"\"  ,algorithm=MD5 ",
        )
        .unwrap();
        assert_eq!(ch.realm, "biloxi.com");
        assert_eq!(ch.nonce, "abc/def+g==");
        assert_eq!(ch.qop, vec![Qop::Auth]);
        assert_eq!(ch.opaque.as_deref(), Some(""));
        assert_eq!(ch.algorithm, Algorithm::Md5);
    }

    /// RFC 3261 §7.3.1: a fold inside a quoted-string reads as one space.
    #[test]
    fn folds_inside_quoted_strings_become_one_space() {
        let ch = Challenge::parse("Digest realm=\"two\r\n   words\", nonce=\"n\", domain=\"sip:a.example\n\tsip:b.example\"").unwrap();
        assert_eq!(ch.realm, "two words");
        assert_eq!(ch.domain, vec!["sip:a.example", "sip:b.example"]);
    }

    #[test]
    fn escapes_in_quoted_strings_are_resolved() {
        let ch = Challenge::parse(r#"Digest realm="say \"hi\" \\o/", nonce="\n\o""#).unwrap();
        assert_eq!(ch.realm, r#"say "hi" \o/"#);
        assert_eq!(ch.nonce, "no");
    }

    #[test]
    fn utf8_in_quoted_strings_is_kept() {
        let ch = Challenge::parse("Digest realm=\"M\u{fc}nchen \u{1f4de}\", nonce=\"n\"").unwrap();
        assert_eq!(ch.realm, "M\u{fc}nchen \u{1f4de}");
    }

    #[test]
    fn unknown_parameters_are_kept_lowercased() {
        let ch = Challenge::parse(r#"Digest realm="r", Charset=UTF-8, nonce="n", x-vendor="a,b""#)
            .unwrap();
        assert_eq!(
            ch.params,
            vec![
                ("charset".into(), "UTF-8".into()),
                ("x-vendor".into(), "a,b".into())
            ]
        );
    }

    /// RFC 7616 §3.3: stale is true only for TRUE, whatever its case.
    #[test]
    fn stale_other_than_true_reads_false() {
        for (v, want) in [
            ("true", true),
            ("\"TRUE\"", true),
            ("false", false),
            ("yes", false),
        ] {
            let ch =
                Challenge::parse(&format!("Digest realm=\"r\", nonce=\"n\", stale={v}")).unwrap();
            assert_eq!(ch.stale, want, "{v}");
        }
    }

    /// RFC 3261 §22.4: SIP MUST NOT use Basic; RFC 8760 §2.4: ignore what we do not understand.
    #[test]
    fn basic_and_other_schemes_are_refused_by_name() {
        let err = Challenge::parse("Basic realm=\"r\"").unwrap_err();
        assert_eq!(
            err,
            AuthError::NotDigest {
                scheme: "Basic".into()
            }
        );
        assert_eq!(err.kind(), "not_digest");
        assert_eq!(
            Challenge::parse(r#"Digestrealm="r""#),
            Err(AuthError::NotDigest {
                scheme: "Digestrealm".into()
            })
        );
        assert!(matches!(
            Challenge::parse("Bearer realm=\"r\""),
            Err(AuthError::NotDigest { .. })
        ));
    }

    #[test]
    fn missing_realm_or_nonce_is_refused() {
        assert_eq!(
            Challenge::parse("Digest nonce=\"n\""),
            Err(AuthError::MissingParameter { name: "realm" })
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\""),
            Err(AuthError::MissingParameter { name: "nonce" })
        );
        assert_eq!(
            Challenge::parse("Digest"),
            Err(AuthError::MissingParameter { name: "realm" })
        );
    }

    #[test]
    fn repeated_parameters_are_refused() {
        for v in [
            r#"Digest realm="r", nonce="a", nonce="b""#,
            r#"Digest realm="r", nonce="a", Realm="s""#,
            r#"Digest realm="r", nonce="a", x=1, X=2"#,
        ] {
            assert!(
                matches!(
                    Challenge::parse(v),
                    Err(AuthError::DuplicateParameter { .. })
                ),
                "{v}"
            );
        }
    }

    #[test]
    fn broken_syntax_is_refused_with_its_position() {
        for (v, at) in [
            (r#"Digest realm="r, nonce="n""#, 24), // the quote closes early, then junk
            (r#"Digest realm="unterminated"#, 26), // no closing quote
            ("Digest realm=\"a\rb\", nonce=\"n\"", 15), // bare CR inside quotes
            ("Digest realm=\"a\u{0}\", nonce=\"n\"", 15), // NUL inside quotes
            (r#"Digest realm "r", nonce="n""#, 13), // no '='
            (r#"Digest realm=, nonce="n""#, 13),   // empty value
            (r#"Digest realm="r" nonce="n""#, 17), // no comma
            (r#"Digest realm="r", nonce="n\"#, 27), // a lone backslash at the end
        ] {
            match Challenge::parse(v) {
                Err(AuthError::Malformed { at: got_at, .. }) => assert_eq!(got_at, at, "{v}"),
                other => panic!("{v}: {other:?}"),
            }
        }
    }

    #[test]
    fn empty_value_is_refused() {
        assert!(matches!(
            Challenge::parse(""),
            Err(AuthError::Malformed { at: 0, .. })
        ));
        assert!(matches!(
            Challenge::parse("   "),
            Err(AuthError::Malformed { .. })
        ));
    }

    #[test]
    fn line_break_without_fold_is_refused() {
        assert!(matches!(
            Challenge::parse("Digest realm=\"r\",\r\nnonce=\"n\""),
            Err(AuthError::Malformed { .. })
        ));
    }

    proptest! {
        /// Parsers never panic (style.md): arbitrary text, and arbitrary
        /// parameter soup after a valid scheme.
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = Challenge::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_digest_soup(s in "[a-zA-Z=,\"\\\\ \t\r\n\u{0}\u{e9}-]{0,80}") {
            let _ = Challenge::parse(&format!("Digest {s}"));
        }

        /// Any realm and nonce survive a quote-escape round trip.
        #[test]
        fn quoted_values_round_trip(realm in "[ -~\u{a0}-\u{10ffff}]{0,40}", nonce in "[!-~]{1,40}") {
            let q = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
            let ch = Challenge::parse(&format!("Digest realm=\"{}\", nonce=\"{}\"", q(&realm), q(&nonce))).unwrap();
            prop_assert_eq!(ch.realm, realm);
            prop_assert_eq!(ch.nonce, nonce);
        }
    }
}
