//! design §2 "Binary and config": `parley --version`, `parley check-config FILE`
//! (exit 0 with the effective config, secrets masked; exit 2 naming the bad key).

use std::process::Command;

fn parley() -> Command {
    Command::new(env!("CARGO_BIN_EXE_parley"))
}

fn config_file(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("temp file");
    std::fs::write(f.path(), text).expect("write");
    f
}

const VALID: &str = r#"
[xmpp]
component_domain = "sip.example.net"
server = "127.0.0.1:5347"
secret = "top-secret-value"

[sip]
domain = "sip.example.net"
listen = ["udp:127.0.0.1:5060"]
"#;

#[test]
fn version_prints_the_crate_version() {
    let out = parley().arg("--version").output().expect("run parley");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}

#[test]
fn check_config_prints_effective_config_with_secret_masked() {
    let f = config_file(VALID);
    let out = parley()
        .arg("check-config")
        .arg(f.path())
        .output()
        .expect("run parley");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("top-secret-value"), "{text}");
    assert!(
        text.contains("delivery_window_ms = 2000"),
        "defaults shown: {text}"
    );
}

#[test]
fn check_config_names_the_bad_key_and_exits_2() {
    let f = config_file(&VALID.replace("udp:127.0.0.1:5060", "udp:nowhere"));
    let out = parley()
        .arg("check-config")
        .arg(f.path())
        .output()
        .expect("run parley");
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("sip.listen[0]"), "{text}");
}

#[test]
fn environment_overrides_reach_check_config() {
    let f = config_file(VALID);
    let out = parley()
        .arg("check-config")
        .arg(f.path())
        .env("PARLEY_MESSAGES__XMPP_TYPE", "chat")
        .output()
        .expect("run parley");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("xmpp_type = \"chat\""));
}

#[test]
fn unknown_key_stops_the_start_with_its_name() {
    let f = config_file(&format!(
        "{VALID}\n[metrics]\nlisten = \"127.0.0.1:0\"\nlisen = 1\n"
    ));
    let out = parley()
        .arg("--config")
        .arg(f.path())
        .output()
        .expect("run parley");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lisen"));
}

/// Issue 22 item 4: `parley user add` takes the file and realm from
/// `[registrar]`, the password from stdin, and writes hashes only; the
/// config then passes check-config.
#[test]
fn user_add_writes_hashes_from_the_configs_registrar() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users");
    let f = config_file(&format!(
        "{VALID}\n[registrar]\nusers_file = \"{}\"\n",
        users.display()
    ));
    let mut child = parley()
        .args(["--config"])
        .arg(f.path())
        .args(["user", "add", "alice"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run parley");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"wonderland\n")
        .expect("write password");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&users).expect("users file");
    assert!(text.starts_with("alice:sip.example.net:"), "{text}");
    assert!(!text.contains("wonderland"));
    assert_eq!(text.trim_end().split(':').count(), 4);
    let check = parley()
        .arg("check-config")
        .arg(f.path())
        .output()
        .expect("run");
    assert_eq!(check.status.code(), Some(0));
}

#[test]
fn user_add_without_a_file_or_with_an_empty_password_exits_2() {
    let out = parley()
        .args(["user", "add", "alice"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--file"));
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users");
    let out = parley()
        .args(["user", "add", "alice", "--realm", "example.com", "--file"])
        .arg(&users)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty password"));
    assert!(!users.exists());
}

/// Issue 22 item 4: with `registrar.users = "store"`, `parley user
/// add|list|remove` work on the configured store; the password is read
/// from stdin and appears nowhere, nor does a hash.
#[test]
fn user_commands_work_on_the_store_and_never_print_a_password() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let f = config_file(&format!(
        "{VALID}\n[store]\npath = \"{}\"\n\n[registrar]\nusers = \"store\"\n",
        dir.path().display()
    ));
    let run = |args: &[&str], stdin: &[u8]| {
        let mut child = parley()
            .args(["--config"])
            .arg(f.path())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run parley");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin)
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains("wonderland"), "{text}");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(run(&["user", "add", "alice"], b"wonderland\n").0, Some(0));
    assert_eq!(run(&["user", "add", "bob"], b"wonderland\n").0, Some(0));
    let (code, listed) = run(&["user", "list"], b"");
    assert_eq!(code, Some(0));
    assert_eq!(listed, "alice sip.example.net\nbob sip.example.net\n");
    assert_eq!(run(&["user", "remove", "alice"], b"").0, Some(0));
    assert_eq!(run(&["user", "remove", "alice"], b"").0, Some(1));
    assert_eq!(run(&["user", "list"], b"").1, "bob sip.example.net\n");
    let check = parley()
        .arg("check-config")
        .arg(f.path())
        .output()
        .expect("run");
    assert_eq!(check.status.code(), Some(0));
}

/// Starts parley with `[runtime]` `setting` (its XMPP server a closed port,
/// so that it runs, retrying it), waits up to 10 s for its start-up line
/// "async runtime started", runs `inspect` on the process while it runs,
/// stops it; gives the line and what `inspect` returned.
fn with_runtime_started<T>(setting: &str, inspect: impl FnOnce(u32) -> T) -> (String, T) {
    use std::io::{BufRead, BufReader};
    use std::sync::mpsc;
    use std::time::Duration;

    let store = tempfile::tempdir().expect("temp dir");
    let f = config_file(&format!(
        "{}\n[metrics]\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"{}\"\n[runtime]\n{setting}",
        VALID
            .replace("127.0.0.1:5347", "127.0.0.1:9")
            .replace("udp:127.0.0.1:5060", "udp:127.0.0.1:0"),
        store.path().display()
    ));
    let mut child = parley()
        .arg("--config")
        .arg(f.path())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start parley");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("async runtime started") {
                let _ = tx.send(line);
            }
        }
    });
    let started = rx.recv_timeout(Duration::from_secs(10));
    let inspected = started.is_ok().then(|| inspect(child.id()));
    let _ = child.kill();
    let _ = child.wait();
    let line = started.unwrap_or_else(|e| panic!("no start-up line with {setting:?}: {e}"));
    (line, inspected.expect("inspected while running"))
}

/// `runtime.transparent_huge_pages`: off by default, the running process
/// has transparent huge pages turned off (`THP_enabled: 0` in its
/// `/proc/<pid>/status`); `true` leaves the process as it started, with
/// what it inherited from this test.
#[cfg(target_os = "linux")]
#[test]
fn transparent_huge_pages_are_off_unless_allowed() {
    let thp_enabled = |pid: u32| -> String {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("THP_enabled:"))
            .unwrap_or_else(|| panic!("no THP_enabled in /proc/{pid}/status"))
            .trim()
            .to_string()
    };
    let inherited = thp_enabled(std::process::id());
    for (setting, expected) in [
        ("", "0"),
        ("transparent_huge_pages = true\n", inherited.as_str()),
    ] {
        let (_, got) = with_runtime_started(setting, thp_enabled);
        assert_eq!(got, expected, "setting {setting:?}");
    }
}

/// `runtime.worker_threads` sets how many runtime workers the running
/// process starts, as its start-up log line says (the runtime's own count):
/// absent it is 1, and 3 is 3.
#[test]
fn runtime_worker_threads_sets_the_workers_of_the_running_process() {
    for (setting, n) in [("", 1usize), ("worker_threads = 3\n", 3)] {
        let (line, ()) = with_runtime_started(setting, |_| ());
        assert!(
            line.trim_end().ends_with(&format!(" workers={n}")),
            "{line}"
        );
    }
}
