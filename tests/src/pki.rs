//! A throwaway PKI made by `openssl` (Debian package `openssl`) at test time:
//! one CA, and server certificates it signs for the names a test asks for.
//! Nothing is kept: the files live in a temporary directory dropped with it.

use std::path::PathBuf;
use std::process::Command;

use tempfile::TempDir;

/// A CA and the certificates it signed, as PEM files.
#[derive(Debug)]
pub struct TestPki {
    dir: TempDir,
}

/// A server certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct ServerCert {
    /// The certificate (leaf only).
    pub cert: PathBuf,
    /// Its private key (unencrypted).
    pub key: PathBuf,
}

impl TestPki {
    /// A new CA, `CN=<cn>` (EC P-256, valid two days).
    pub fn new(cn: &str) -> TestPki {
        let dir = tempfile::Builder::new()
            .prefix("parley-pki-")
            .tempdir()
            .expect("temp dir for the test PKI");
        let pki = TestPki { dir };
        pki.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            &format!("/CN={cn}"),
        ]);
        pki
    }

    /// The CA certificate (PEM), what a client trusts.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A server certificate signed by this CA whose subjectAltName holds
    /// `dns_names` (and nothing else; a name that is an IP address goes in
    /// as one), saved as `<file>.pem` / `<file>.key`.
    pub fn server(&self, file: &str, dns_names: &[&str]) -> ServerCert {
        assert!(!dns_names.is_empty(), "a certificate needs a name");
        let cert = format!("{file}.pem");
        let key = format!("{file}.key");
        let csr = format!("{file}.csr");
        let ext = format!("{file}.ext");
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={}", dns_names[0]),
        ]);
        let san: Vec<String> = dns_names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(_) => format!("IP:{n}"),
                Err(_) => format!("DNS:{n}"),
            })
            .collect();
        std::fs::write(
            self.dir.path().join(&ext),
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
                san.join(",")
            ),
        )
        .expect("write the certificate extensions");
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
        ServerCert {
            cert: self.dir.path().join(cert),
            key: self.dir.path().join(key),
        }
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run openssl (is the openssl package installed?)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
