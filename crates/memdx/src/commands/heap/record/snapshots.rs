//! Named snapshots while recording: `memdx heap snapshot PID [NAME]`
//! through a control socket beside the events', and SIGUSR1 to memdx
//! (`snapshot-N`; the handler only counts and notes the time).

use super::*;

/// SIGUSR1 to memdx: the handler's count and time of the last one.
static USR1_COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static USR1_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub(super) extern "C" fn on_usr1(_: libc::c_int) {
    USR1_NANOS.store(monotonic_ns(), Ordering::Relaxed);
    USR1_COUNT.fetch_add(1, Ordering::Release);
}

/// The socket `memdx heap snapshot PID` connects to, beside the events'.
pub fn control_socket(events_sock: &std::path::Path) -> PathBuf {
    events_sock.with_file_name("control.sock")
}

/// Answers `memdx heap snapshot`: one line in (the name, may be empty),
/// one line out.
pub(super) fn control(listener: &UnixListener, tx: &mpsc::SyncSender<Msg>, done: &AtomicBool) {
    use std::io::{BufRead, Write};
    for conn in listener.incoming() {
        if done.load(Ordering::Acquire) {
            return;
        }
        let Ok(conn) = conn else { continue };
        let nanos = monotonic_ns();
        let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        let mut line = String::new();
        let mut reader = std::io::BufReader::new(&conn);
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        let name = line.trim_end_matches('\n').to_string();
        let (reply_tx, reply_rx) = mpsc::channel();
        let msg = Msg::Mark {
            name: (!name.is_empty()).then_some(name),
            nanos,
            reply: Some(reply_tx),
        };
        if tx.send(msg).is_err() {
            return;
        }
        let answer = reply_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap_or_else(|_| "error: the recorder did not answer".to_string());
        let mut conn = &conn;
        let _ = writeln!(conn, "{answer}");
    }
}

/// Turns SIGUSR1s to memdx into snapshots (polled: the handler only
/// counts and notes the time).
pub(super) fn watch_usr1(tx: &mpsc::SyncSender<Msg>, done: &AtomicBool) {
    let mut seen = USR1_COUNT.load(Ordering::Acquire);
    while !done.load(Ordering::Acquire) {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let now = USR1_COUNT.load(Ordering::Acquire);
        if now != seen {
            seen = now;
            let nanos = USR1_NANOS.load(Ordering::Relaxed);
            if tx
                .send(Msg::Mark {
                    name: None,
                    nanos,
                    reply: None,
                })
                .is_err()
            {
                return;
            }
        }
    }
}
