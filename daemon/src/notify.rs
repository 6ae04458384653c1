// SPDX-License-Identifier: Apache-2.0
//! The systemd notify protocol (`sd_notify(3)`): READY, STATUS, WATCHDOG, STOPPING
//! as datagrams to `$NOTIFY_SOCKET`. Sent without blocking: a notify socket nobody
//! reads must never stall the daemon, and a failure to notify is logged, not fatal.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Send `KEY=value` lines to the service manager, if there is one.
pub fn notify(lines: &[&str]) {
    if let Err(e) = send(&lines.join("\n")) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

fn send(message: &str) -> io::Result<()> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(path) => send_to(&path.to_string_lossy(), message),
        None => Ok(()),
    }
}

fn send_to(path: &str, message: &str) -> io::Result<()> {
    let addr = match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())?
        }
        None => SocketAddr::from_pathname(path)?,
    };
    let socket = UnixDatagram::unbound()?;
    socket.set_nonblocking(true)?;
    socket.send_to_addr(message.as_bytes(), &addr)?;
    Ok(())
}

/// The watchdog interval systemd asks for (`WATCHDOG_USEC`, for this process).
pub fn watchdog_interval() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_datagrams_and_never_blocks_on_a_full_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let path = path.to_str().unwrap();
        let receiver = UnixDatagram::bind(path).unwrap();
        send_to(path, "READY=1\nSTATUS=ok").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=ok");
        // Nobody reads: the queue fills and sends fail fast instead of blocking.
        let full = (0..100_000).map(|_| send_to(path, "WATCHDOG=1")).find_map(Result::err);
        assert_eq!(full.map(|e| e.kind()), Some(io::ErrorKind::WouldBlock));
    }
}
