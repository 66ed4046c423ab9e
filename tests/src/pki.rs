//! Test certificates made by `openssl` at run time: a CA and a leaf it
//! signs for the names given, as PEM files in a temporary directory (gone
//! when the [`Pki`] is dropped). For TLS between loopback peers in tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA and one leaf certificate with its key.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA and a leaf for `names` (`IP:127.0.0.1`, `DNS:localhost`, as in
    /// openssl's subjectAltName), P-256 keys, valid two days.
    pub fn new(names: &[&str]) -> Pki {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let run = |args: &str| {
            let out = Command::new("openssl")
                .args(args.split(' '))
                .current_dir(dir.path())
                .output()
                .expect("run openssl (Debian package openssl)");
            assert!(
                out.status.success(),
                "openssl {args}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        run(&format!(
            "req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=Parley-Test-CA"
        ));
        run(&format!(
            "req {ec} -keyout leaf.key -out leaf.csr -subj /CN=parley-test"
        ));
        std::fs::write(
            dir.path().join("ext.cnf"),
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\n\
                 extendedKeyUsage=serverAuth,clientAuth\n",
                names.join(",")
            ),
        )
        .expect("write the extensions file");
        run(
            "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
             -out leaf.pem -days 2 -extfile ext.cnf",
        );
        Pki { dir }
    }

    /// The CA certificate (PEM).
    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// The leaf certificate (PEM).
    pub fn cert(&self) -> PathBuf {
        self.path("leaf.pem")
    }

    /// The leaf's private key (PEM).
    pub fn key(&self) -> PathBuf {
        self.path("leaf.key")
    }

    fn path(&self, name: &str) -> PathBuf {
        Path::new(self.dir.path()).join(name)
    }
}
