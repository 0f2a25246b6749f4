//! A program in a real terminal: a detached tmux session of a given size,
//! its screen read with `capture-pane`, keys sent with `send-keys`.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::{Deadline, DEADLINE};

/// A tmux server of the test's own (`-L socket`): tests run in parallel and
/// two `new-session`s racing to start one shared server can fail. Dropping
/// it kills the server and what runs in it.
pub struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    /// Runs the shell command `cmd` in a detached session `width` x
    /// `height` and waits until the screen shows `ready`; `None` (after
    /// [`crate::tool_missing`]) when tmux is not installed.
    ///
    /// # Panics
    ///
    /// When tmux cannot start the session or the screen never shows `ready`.
    pub fn start(name: &str, width: u16, height: u16, cmd: &str, ready: &str) -> Option<Tmux> {
        if Command::new("tmux")
            .arg("-V")
            .try_output_within(DEADLINE)
            .is_err()
        {
            crate::tool_missing("tmux is not installed");
            return None;
        }
        let session = format!("memdx-{name}-{}", std::process::id());
        let socket = session.clone();
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                cmd,
            ])
            .status_within(DEADLINE)
            .success();
        assert!(ok, "tmux new-session failed");
        let t = Tmux { socket, session };
        t.wait_for(ready);
        Some(t)
    }

    /// The visible screen, one line per row (trailing blanks trimmed).
    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "capture-pane",
                "-p",
                "-t",
                &self.session,
            ])
            .output_within(DEADLINE);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sends each key (tmux key names: `q`, `Down`, `Enter`, `C-c`).
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", "-t", &self.session, k])
                .status_within(DEADLINE);
        }
    }

    /// Waits up to 20 s until the screen contains `text`, and returns it.
    ///
    /// # Panics
    ///
    /// When the screen never shows `text`.
    pub fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "screen never showed {text:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .try_status_within(DEADLINE);
    }
}
