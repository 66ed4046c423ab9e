//! What every server the harness starts needs: wait until it listens, and
//! stop it politely, then firmly.

use std::net::TcpStream;
use std::process::{Child, Command};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Waits until something accepts TCP on each of `ports` on 127.0.0.1, within
/// `timeout`; panics (with `log()`) if `child` exits first or time runs out.
pub fn wait_listening(
    name: &str,
    child: &mut Child,
    ports: &[u16],
    timeout: Duration,
    log: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    for &port in ports {
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited ({status}) before listening:\n{}", log());
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not listen on 127.0.0.1:{port} within {timeout:?}:\n{}",
                log()
            );
            sleep(Duration::from_millis(25));
        }
    }
}

/// SIGTERM, then SIGKILL if it has not exited after `grace`; reaps it.
pub fn terminate(mut child: Child, grace: Duration) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
