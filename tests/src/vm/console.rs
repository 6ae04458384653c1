// SPDX-License-Identifier: Apache-2.0
//! The guest's serial console (root autologin on ttyS0) as a command channel.
//!
//! Marker protocol: a command goes over as one line that decodes a base64 script
//! into /run/mn.sh, runs it with stdin closed and stdout/stderr in files, then
//! prints `<<MN <id> <status> <stdout base64> <stderr base64>>>` on one line. The
//! tty echoes what is typed, but the echo holds `$?` where the marker holds digits,
//! so it never matches; kernel or systemd lines around it are ignored. Unread input
//! must stay under the tty's 4095-byte buffer: long scripts go over in chunks.

use std::collections::HashMap;

use base64::Engine as _;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Base64 characters per console line (far below the tty's 4095-byte line limit).
const CHUNK: usize = 2000;

/// What one command gave back.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Exit status.
    pub status: i32,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

#[derive(Default)]
struct Replies {
    done: HashMap<u64, Reply>,
    closed: bool,
}

/// A connection to the console socket.
pub struct Console {
    writer: Mutex<UnixStream>,
    replies: Arc<(Mutex<Replies>, Condvar)>,
    next: std::sync::atomic::AtomicU64,
}

impl Console {
    /// Connect to QEMU's `-chardev socket,server=on` console (retrying while QEMU starts).
    pub fn connect(path: &Path, timeout: Duration) -> Console {
        let stream = super::connect(path, timeout, "console socket");
        let mut reader = stream.try_clone().expect("clone console socket");
        let replies = Arc::new((Mutex::new(Replies::default()), Condvar::new()));
        let shared = replies.clone();
        std::thread::spawn(move || {
            let mut line = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        eprintln!("console read failed: {e}");
                        break;
                    }
                };
                for &b in &buf[..n] {
                    if b != b'\n' {
                        line.push(b);
                        continue;
                    }
                    if let Some((id, reply)) = parse(&String::from_utf8_lossy(&line)) {
                        shared.0.lock().expect("not poisoned").done.insert(id, reply);
                        shared.1.notify_all();
                    }
                    line.clear();
                }
            }
            eprintln!("console closed by QEMU");
            shared.0.lock().expect("not poisoned").closed = true;
            shared.1.notify_all();
        });
        Console { writer: Mutex::new(stream), replies, next: 1.into() }
    }

    /// Type one line into the console, as it is.
    pub fn send_line(&self, line: &str) {
        let mut w = self.writer.lock().expect("not poisoned");
        w.write_all(line.as_bytes()).and_then(|()| w.write_all(b"\n")).expect("write to the console");
    }

    /// Send `script` (bash) and return the id whose reply will carry its result.
    /// A long script goes over in chunks, each acknowledged before the next is
    /// typed: the tty holds at most 4095 bytes of input that nobody has read yet.
    pub fn start(&self, script: &str) -> u64 {
        let b64 = base64::engine::general_purpose::STANDARD.encode(script);
        let run = "bash /run/mn.sh </dev/null >/run/mn.out 2>/run/mn.err; \
                   echo \"<<MN ID $? $(base64 -w0 </run/mn.out) $(base64 -w0 </run/mn.err)>>\"";
        if b64.len() <= CHUNK {
            let id = self.id();
            self.send_line(&format!("printf %s {b64} | base64 -d >/run/mn.sh; {}", run.replace("ID", &id.to_string())));
            return id;
        }
        self.send_line(": >/run/mn.b64");
        for chunk in b64.as_bytes().chunks(CHUNK) {
            let ack = self.id();
            self.send_line(&format!(
                "printf %s {} >>/run/mn.b64; echo \"<<MN {ack} 0  >>\"",
                String::from_utf8_lossy(chunk)
            ));
            self.wait(ack, Duration::from_secs(60)).expect("the console acknowledges each chunk");
        }
        let id = self.id();
        self.send_line(&format!("base64 -d /run/mn.b64 >/run/mn.sh; {}", run.replace("ID", &id.to_string())));
        id
    }

    fn id(&self) -> u64 {
        self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    /// Wait for the reply to `id`; `None` after `timeout` or when QEMU went away.
    pub fn wait(&self, id: u64, timeout: Duration) -> Option<Reply> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.replies;
        let mut r = lock.lock().expect("not poisoned");
        loop {
            if let Some(reply) = r.done.remove(&id) {
                return Some(reply);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || r.closed {
                return None;
            }
            r = cv.wait_timeout(r, left).expect("not poisoned").0;
        }
    }
}

fn parse(line: &str) -> Option<(u64, Reply)> {
    let start = line.find("<<MN ")?;
    let rest = &line[start + 5..];
    let rest = &rest[..rest.find(">>")?];
    let mut parts = rest.split(' ');
    let id = parts.next()?.parse().ok()?;
    let status = parts.next()?.parse().ok()?;
    let stdout = String::from_utf8_lossy(&unbase64(parts.next()?)?).into_owned();
    let stderr = String::from_utf8_lossy(&unbase64(parts.next()?)?).into_owned();
    Some((id, Reply { status, stdout, stderr }))
}

fn unbase64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_parse_and_echoes_do_not() {
        let (id, r) = parse("\r<<MN 7 3 aGkK ZXJyCg==>>\r").unwrap();
        assert_eq!((id, r.status, r.stdout.as_str(), r.stderr.as_str()), (7, 3, "hi\n", "err\n"));
        let (_, empty) = parse("<<MN 8 0  >>").unwrap();
        assert_eq!((empty.stdout.as_str(), empty.stderr.as_str()), ("", ""));
        assert!(parse("echo \"<<MN 9 $? $(base64 -w0 </run/mn.out) $(base64 -w0 </run/mn.err)>>\"").is_none());
    }
}
