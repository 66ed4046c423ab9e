//! A real PostgreSQL (Debian package `postgresql`) on loopback, for the shared
//! store's tests.
//!
//! `initdb` makes a fresh cluster in a temporary directory (trust
//! authentication, which `pg_hba.conf` limits to the local socket and
//! loopback), `pg_ctl start -w` runs it on a free port of 127.0.0.1 with its
//! socket in the same directory, and `createdb` makes the database `parley`.
//! PostgreSQL refuses to run as root: under root (CI) every command runs as
//! the `postgres` user that the package creates, and the directory is handed
//! to it; otherwise as the current user. Stopped with `pg_ctl stop -m
//! immediate` on drop (the data is thrown away anyway).

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::port::free_tcp_port;

/// Where Debian installs the server's binaries, one directory per major version.
const BIN_ROOT: &str = "/usr/lib/postgresql";

/// A running PostgreSQL cluster with one database, `parley`.
#[derive(Debug)]
pub struct Postgres {
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    bin: PathBuf,
    dir: TempDir,
    user: Option<(u32, u32)>,
    running: bool,
}

/// The superuser `initdb` makes; the tests connect as it.
const USER: &str = "parley";

impl Postgres {
    /// Start a fresh cluster and create the database `parley`. Panics, naming
    /// what is missing, if the `postgresql` package is not installed.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("parley-postgres-")
            .tempdir()
            .expect("create a temp dir for PostgreSQL");
        let user = unprivileged_user();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("hand the temp dir to the postgres user");
        }
        let mut pg = Postgres {
            port: free_tcp_port(),
            bin,
            dir,
            user,
            running: false,
        };
        let data = pg.data_dir();
        pg.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                USER,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        );
        pg.serve();
        pg.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port.to_string(),
                "-U",
                USER,
                "parley",
            ],
        );
        pg
    }

    /// `postgres://parley@127.0.0.1:<port>/parley`.
    pub fn url(&self) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/parley", self.port)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// The rows `sql` returns, as `psql -At` prints them (one per line,
    /// columns separated by `|`): for a test that waits until an instance
    /// wrote what it holds. Panics when the query fails.
    pub fn query(&self, sql: &str) -> String {
        let port = self.port.to_string();
        let output = self.run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                USER,
                "-d",
                "parley",
                "-At",
                "-c",
                sql,
            ],
        );
        String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_owned()
    }

    /// Stop the server but keep its data (`pg_ctl stop -m fast`: clients are
    /// cut off, and the test cluster's unsynced commits are written first),
    /// for [`Postgres::start_again`].
    pub fn pause(&mut self) {
        if self.running {
            self.running = false;
            let data = self.data_dir().display().to_string();
            self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
        }
    }

    /// Start the server stopped by [`Postgres::pause`] again, on the same
    /// port and data: what a database that was out of reach for a while
    /// looks like to its clients.
    pub fn start_again(&mut self) {
        if !self.running {
            self.serve();
        }
    }

    /// `pg_ctl start` on the cluster, waiting until it accepts connections.
    fn serve(&mut self) {
        let data = self.data_dir();
        // Loopback only; fsync off: a test cluster is thrown away.
        let options = format!(
            "-k {} -h 127.0.0.1 -p {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.dir.path().display(),
            self.port
        );
        let log = self.dir.path().join("postgres.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-o",
                &options,
                "-l",
                &log.display().to_string(),
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        self.running = true;
    }

    /// Stop the server at once (`pg_ctl stop -m immediate`).
    pub fn stop(&mut self) {
        if self.running {
            self.running = false;
            let data = self.data_dir().display().to_string();
            let _ = self
                .command("pg_ctl")
                .args(["-D", &data, "-m", "immediate", "-w", "stop"])
                .output();
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command.current_dir(self.dir.path());
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        command
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed ({}):\n{}{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        output
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The newest installed server's `bin` directory.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(BIN_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "no PostgreSQL server in {BIN_ROOT}/*/bin: install the Debian package `postgresql` (check.sh does)"
        ),
    }
}

/// As root, the `postgres` user's uid and gid (PostgreSQL refuses root);
/// otherwise `None`: run as ourselves.
fn unprivileged_user() -> Option<(u32, u32)> {
    let me = Command::new("id").arg("-u").output().expect("run id -u");
    if String::from_utf8_lossy(&me.stdout).trim() != "0" {
        return None;
    }
    let passwd = fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let entry = passwd
        .lines()
        .find(|line| line.starts_with("postgres:"))
        .unwrap_or_else(|| {
            panic!("running as root, and there is no `postgres` user to run PostgreSQL as: install the Debian package `postgresql`")
        });
    let fields: Vec<&str> = entry.split(':').collect();
    let id = |i: usize| -> u32 {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .unwrap_or_else(|| panic!("malformed /etc/passwd entry: {entry}"))
    };
    Some((id(2), id(3)))
}
