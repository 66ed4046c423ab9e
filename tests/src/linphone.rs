//! linphonec (Debian's `linphone-cli`) as a phone for end-to-end tests: a
//! throwaway home with the test's `linphonerc`, commands typed on its
//! stdin, its log file read back; killed when dropped.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One linphonec process and its home directory.
#[derive(Debug)]
pub struct Linphone {
    child: Child,
    home: tempfile::TempDir,
}

impl Linphone {
    /// Starts linphonec with `linphonerc` as its configuration (the test
    /// writes the `[sip]`, `[proxy_0]`, … sections it needs), logging at
    /// level 5 to its home's `linphone.log`.
    pub fn start(linphonerc: &str) -> Linphone {
        let home = tempfile::tempdir().expect("linphone home");
        std::fs::create_dir_all(home.path().join(".local/share/linphone")).expect("db dir");
        let rc = home.path().join("linphonerc");
        std::fs::write(&rc, linphonerc).expect("write linphonerc");
        let child = Command::new("linphonec")
            .arg("-c")
            .arg(&rc)
            .args(["-d", "5", "-l"])
            .arg(home.path().join("linphone.log"))
            .env("HOME", home.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn linphonec (apt-get install linphone-cli)");
        Linphone { child, home }
    }

    /// Types a linphonec command.
    pub fn command(&mut self, line: &str) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.write_all(format!("{line}\n").as_bytes());
            let _ = stdin.flush();
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("linphone.log")).unwrap_or_default()
    }

    /// Asks it to quit, then kills it; what it printed.
    pub fn stop(mut self) -> String {
        self.command("quit");
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.child.kill();
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
        }
        let _ = self.child.wait();
        out
    }
}

impl Drop for Linphone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
