//! Test-time S/MIME: a CA and users' certificates made by `openssl`, objects
//! signed and encrypted by `openssl cms`, and verified or decrypted by it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{COMPONENT, XMPP_DOMAIN};

/// Run openssl with `args` in `dir`; panic with its stderr if it fails.
fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A CA and two users' keys and certificates, RFC 3923 §6.3: the subject
/// alternative names are the users' `im:` and `pres:` URIs.
pub(crate) struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Parley test CA",
            ],
        );
        for (user, address) in [
            ("juliet", format!("juliet@{XMPP_DOMAIN}")),
            ("bob", format!("bob@{COMPONENT}")),
        ] {
            openssl(
                d,
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{user}.key"),
                    "-out",
                    &format!("{user}.csr"),
                    "-subj",
                    &format!("/CN={user}"),
                ],
            );
            std::fs::write(
                d.join(format!("{user}.ext")),
                format!(
                    "subjectAltName=URI:im:{address},URI:pres:{address}\n\
                     keyUsage=digitalSignature,keyEncipherment\n\
                     extendedKeyUsage=emailProtection\n"
                ),
            )
            .expect("write ext");
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{user}.csr"),
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    &format!("{user}.ext"),
                    "-out",
                    &format!("{user}.pem"),
                ],
            );
        }
        Pki { dir }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// RFC 3923 §4.1 step 1: an application/pidf+xml object (RFC 3863)
    /// for `entity`, with the MIME header its signed part carries.
    pub(crate) fn pidf(&self, name: &str, entity: &str, note: &str) -> Vec<u8> {
        let pidf = format!(
            "Content-Type: application/pidf+xml\r\n\r\n\
             <?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
             <presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:{entity}\">\
             <tuple id=\"t1\"><status><basic>open</basic></status></tuple>\
             <note>{note}</note></presence>\r\n"
        );
        std::fs::write(self.path(name), &pidf).expect("write pidf");
        pidf.into_bytes()
    }

    /// RFC 3923 §3.1 step 1: a Message/CPIM object (RFC 3862) from `from` to `to`.
    pub(crate) fn cpim(&self, name: &str, from: &str, to: &str, text: &str) -> Vec<u8> {
        let cpim = format!(
            "Content-type: Message/CPIM\r\n\r\n\
             From: <im:{from}>\r\nTo: <im:{to}>\r\nDateTime: 2026-12-06T00:00:00.00Z\r\n\r\n\
             Content-type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        );
        std::fs::write(self.path(name), &cpim).expect("write cpim");
        cpim.into_bytes()
    }

    /// `openssl cms` with `args`, reading and writing files in the PKI's dir.
    pub(crate) fn cms(&self, args: &[&str]) -> Vec<u8> {
        let mut all = vec!["cms"];
        all.extend_from_slice(args);
        openssl(self.dir.path(), &all)
    }

    /// §3.1 step 2, signed (RFC 8551 §3.5.3 multipart/signed) by `signer`.
    pub(crate) fn sign(&self, input: &str, signer: &str, out: &str) -> Vec<u8> {
        self.cms(&[
            "-sign",
            "-in",
            input,
            "-signer",
            &format!("{signer}.pem"),
            "-inkey",
            &format!("{signer}.key"),
            "-md",
            "sha256",
            "-out",
            out,
        ]);
        std::fs::read(self.path(out)).expect("read signed")
    }

    /// §3.1 step 2, encrypted (CMS EnvelopedData, AES-128 as §6.10 requires) for `recipient`.
    pub(crate) fn encrypt(
        &self,
        input: &str,
        recipient: &str,
        out: &str,
        extra: &[&str],
    ) -> Vec<u8> {
        let mut args = vec!["-encrypt", "-aes128", "-in", input, "-out", out];
        args.extend_from_slice(extra);
        let cert = format!("{recipient}.pem");
        args.push(&cert);
        self.cms(&args);
        std::fs::read(self.path(out)).expect("read encrypted")
    }

    /// `openssl cms -verify` of S/MIME `object` against the CA; the signed content.
    pub(crate) fn verify(&self, object: &[u8]) -> Vec<u8> {
        std::fs::write(self.path("received.eml"), object).expect("write received");
        self.cms(&["-verify", "-in", "received.eml", "-CAfile", "ca.pem"])
    }

    /// `openssl cms -decrypt` of S/MIME `object` as `recipient`; the content.
    pub(crate) fn decrypt(&self, object: &[u8], recipient: &str) -> Vec<u8> {
        std::fs::write(self.path("received.eml"), object).expect("write received");
        self.cms(&[
            "-decrypt",
            "-in",
            "received.eml",
            "-recip",
            &format!("{recipient}.pem"),
            "-inkey",
            &format!("{recipient}.key"),
        ])
    }
}

/// A MIME entity split at its header block: (unfolded header fields, body).
pub(crate) fn split_entity(entity: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
    // The first blank line, CRLF or LF (openssl writes its MIME structure
    // with LF and the signed content canonical, with CRLF).
    let crlf = entity
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    let lf = entity
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    let at = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).expect("a header block"),
    };
    let head = String::from_utf8(entity[..at.0].to_vec()).expect("ascii head");
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            fields.last_mut().expect("a field").1.push_str(line);
        } else {
            let (n, v) = line.split_once(':').expect("a field");
            fields.push((n.to_owned(), v.trim().to_owned()));
        }
    }
    (fields, entity[at.1..].to_vec())
}

pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
