// SPDX-License-Identifier: Apache-2.0
//! A QMP client (QEMU Machine Protocol, JSON lines on a Unix socket): commands and
//! their replies, with the asynchronous events kept aside for [`Qmp::wait_event`].
//! Hand-written because the harness needs four commands; the `qapi` crate's
//! generated schema would cost more to build than these lines.
//! Protocol: <https://www.qemu.org/docs/master/interop/qmp-spec.html>

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A QMP connection in command mode.
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    events: Vec<Value>,
}

impl Qmp {
    /// Connect to QEMU's `-qmp unix:PATH,server=on` socket (retrying while QEMU
    /// starts) and leave capabilities negotiation.
    pub fn connect(path: &Path, timeout: Duration) -> Qmp {
        let stream = super::connect(path, timeout, "QMP socket");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
        let writer = stream.try_clone().expect("clone QMP socket");
        let mut qmp = Qmp { reader: BufReader::new(stream), writer, events: Vec::new() };
        let greeting = qmp.read().expect("QMP greeting");
        assert!(greeting.get("QMP").is_some(), "not a QMP greeting: {greeting}");
        qmp.execute("qmp_capabilities", json!({})).expect("qmp_capabilities");
        qmp
    }

    fn read(&mut self) -> std::io::Result<Value> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "QEMU closed the QMP socket"));
        }
        serde_json::from_str(&line).map_err(std::io::Error::other)
    }

    /// Run one command; `Err` carries QEMU's error description.
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, String> {
        let msg = json!({ "execute": command, "arguments": arguments });
        self.reader.get_ref().set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
        writeln!(self.writer, "{msg}").map_err(|e| format!("QMP {command}: {e}"))?;
        loop {
            let reply = self.read().map_err(|e| format!("QMP {command}: {e}"))?;
            if let Some(r) = reply.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = reply.get("error") {
                return Err(format!("QMP {command}: {}", e["desc"].as_str().unwrap_or("?")));
            }
            self.events.push(reply);
        }
    }

    /// Wait for an event named `name` whose `data` satisfies `pred` (events that
    /// arrived during earlier commands count too); it is consumed.
    pub fn wait_event(
        &mut self,
        name: &str,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.events.iter().position(|e| e["event"] == name && pred(&e["data"])) {
                return Ok(self.events.remove(i));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no QMP event {name} within {timeout:?}"));
            }
            self.reader.get_ref().set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
            match self.read() {
                Ok(v) => self.events.push(v),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => return Err(format!("waiting for {name}: {e}")),
            }
        }
    }
}
