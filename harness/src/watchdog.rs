//! The watchdog: process groups the harness started (the SP of a target's `[start]`,
//! ChromeDriver and its browsers) end when the harness ends, however it ends.
//!
//! The harness stops its children itself when it can (SIGTERM to the group, then SIGKILL).
//! When it cannot (it was killed with SIGKILL, or it crashed), a small `sh` process it starts
//! once, in a process group of its own, reads the harness's list of groups on a pipe; when the
//! pipe closes (the harness is gone: the kernel closes its end) it sends SIGTERM to every group
//! still listed, and SIGKILL two seconds later. Groups the harness stopped itself are taken off
//! the list first, so a reused group id is never signalled.

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};

/// What the watchdog runs: `+PGID` adds a group, `-PGID` removes it; at end of input, every
/// group left gets SIGTERM, then SIGKILL. It ignores the signals a terminal sends to the
/// harness's group, so that it outlives the harness.
const SCRIPT: &str = r#"trap '' INT TERM HUP QUIT
groups=" "
while read -r line; do
  case "$line" in
    +*) groups="$groups${line#+} " ;;
    -*) groups=$(printf '%s' "$groups" | sed "s/ ${line#-} / /") ;;
  esac
done
for g in $groups; do kill -TERM "-$g" 2>/dev/null; done
sleep 2
for g in $groups; do kill -KILL "-$g" 2>/dev/null; done
"#;

struct Watchdog {
    stdin: Mutex<Option<ChildStdin>>,
}

fn watchdog() -> Option<&'static Watchdog> {
    static WATCHDOG: OnceLock<Option<Watchdog>> = OnceLock::new();
    WATCHDOG
        .get_or_init(|| {
            let spawned = Command::new("sh")
                .args(["-c", SCRIPT])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn();
            match spawned {
                Ok(mut child) => {
                    let stdin = child.stdin.take();
                    // Reaped by nobody on purpose: it must outlive this process.
                    std::mem::forget(child);
                    Some(Watchdog {
                        stdin: Mutex::new(stdin),
                    })
                }
                Err(e) => {
                    tracing::warn!(error = %e, "failed to start the watchdog: processes the harness starts may outlive a killed harness");
                    None
                }
            }
        })
        .as_ref()
}

fn send(line: &str) {
    if let Some(w) = watchdog() {
        let mut stdin = w.stdin.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pipe) = stdin.as_mut()
            && writeln!(pipe, "{line}")
                .and_then(|()| pipe.flush())
                .is_err()
        {
            *stdin = None;
        }
    }
}

/// Starts the watchdog, if it is not running yet: call it before starting a process group
/// that [`guard`] will list. Started lazily by `guard` itself, the watchdog's own start (a fork
/// and exec of `sh`) would widen the window in which the group exists but nobody would end it
/// if the harness were killed (a loaded machine made that window tens of milliseconds).
pub(crate) fn arm() {
    let _ = watchdog();
}

/// Ends process group `pgid` if the harness dies without stopping it.
pub(crate) fn guard(pgid: u32) {
    send(&format!("+{pgid}"));
}

/// The harness stopped group `pgid` itself: forget it.
pub(crate) fn release(pgid: u32) {
    send(&format!("-{pgid}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a process exists (signal 0).
    fn alive(pid: u32) -> bool {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX)),
            None,
        )
        .is_ok()
    }

    #[test]
    fn the_script_ends_the_groups_left_when_its_input_closes() {
        let start_group = || {
            Command::new("sleep")
                .arg("300")
                .process_group(0)
                .spawn()
                .expect("sleep")
        };
        let (mut kept_child, mut released_child) = (start_group(), start_group());
        let (kept, released) = (kept_child.id(), released_child.id());
        let mut sh = Command::new("sh")
            .args(["-c", SCRIPT])
            .stdin(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("sh");
        {
            let mut stdin = sh.stdin.take().expect("stdin");
            writeln!(stdin, "+{kept}\n+{released}\n-{released}").expect("write");
        }
        sh.wait().expect("the watchdog ends after its input does");
        // Reap what was killed (a zombie still answers signal 0).
        let status = kept_child.wait().expect("reaped");
        assert!(!status.success(), "the listed group was ended: {status}");
        assert!(alive(released), "a released group is left alone");
        let _ = released_child.kill();
        let _ = released_child.wait();
    }
}
