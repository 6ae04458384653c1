// SPDX-License-Identifier: Apache-2.0
//! Logging to the systemd journal with structured fields, so that
//! `journalctl -u multinicd MULTINIC_INTERFACE=multinic1` works: every event carries
//! `MULTINIC_NODE`, and the fields of the event and its spans as `MULTINIC_<NAME>`
//! (`interface`, `mac`, `backend`, `generation`, …). A `message_id` field becomes
//! the journal's `MESSAGE_ID`, and `priority = "crit"` raises an event to
//! priority 2. Entries go straight to the journal's socket (`sd_journal_send`'s
//! native protocol), without blocking.

use std::fmt::Write as _;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The journal's native socket.
pub const SOCKET: &str = "/run/systemd/journal/socket";

/// `MESSAGE_ID`s of the events operators look for (`journalctl MESSAGE_ID=…`).
pub mod ids {
    /// An interface was configured (created, updated or repaired).
    pub const CONFIGURED: &str = "6d756c74696e6963a1c0f1a9e1c0a001";
    /// Applying an interface failed and was rolled back.
    pub const ROLLED_BACK: &str = "6d756c74696e6963a1c0f1a9e1c0a002";
    /// An interface was refused by a safety rule.
    pub const BLOCKED: &str = "6d756c74696e6963a1c0f1a9e1c0a003";
    /// A drift was repaired.
    pub const DRIFT_REPAIRED: &str = "6d756c74696e6963a1c0f1a9e1c0a004";
    /// An interface could not be applied.
    pub const FAILED: &str = "6d756c74696e6963a1c0f1a9e1c0a005";
}

/// Whether stderr is the journal (systemd sets `JOURNAL_STREAM` to its device and
/// inode for a service).
pub fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else { return false };
    let Some((dev, ino)) = stream.split_once(':') else { return false };
    match std::fs::metadata("/proc/self/fd/2") {
        Ok(m) => dev.parse() == Ok(m.dev()) && ino.parse() == Ok(m.ino()),
        Err(_) => false,
    }
}

/// A tracing layer writing to the journal.
pub struct JournalLayer {
    socket: UnixDatagram,
    path: PathBuf,
    node: String,
}

impl JournalLayer {
    /// A layer sending to `path` (normally [`SOCKET`]); every entry names `node`.
    pub fn new(path: &Path, node: &str) -> io::Result<Self> {
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(JournalLayer { socket, path: path.to_path_buf(), node: node.to_string() })
    }
}

/// Fields recorded on a span, kept in its extensions.
struct SpanFields(Vec<(String, String)>);

#[derive(Default)]
struct Collect {
    message: Option<String>,
    fields: Vec<(String, String)>,
}

impl Visit for Collect {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

impl Collect {
    fn put(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = Some(value);
        } else {
            self.fields.retain(|(k, _)| k != field.name());
            self.fields.push((field.name().to_string(), value));
        }
    }
}

impl<S> Layer<S> for JournalLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut c = Collect::default();
        attrs.record(&mut c);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(c.fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(fields) = ext.get_mut::<SpanFields>() {
            let mut c = Collect { message: None, fields: std::mem::take(&mut fields.0) };
            values.record(&mut c);
            fields.0 = c.fields;
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields: Vec<(String, String)> = Vec::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<SpanFields>() {
                    fields.extend(f.0.iter().cloned());
                }
            }
        }
        let mut c = Collect::default();
        event.record(&mut c);
        let message = readable(c.message.as_deref().unwrap_or(""), &c.fields);
        fields.extend(c.fields);
        // A field set by an outer span and again closer to the event (backend on the
        // pass span and on the event) is one journal field: the innermost value.
        let mut seen = std::collections::HashSet::new();
        let mut fields: Vec<_> = fields.into_iter().rev().filter(|(k, _)| seen.insert(k.clone())).collect();
        fields.reverse();
        let payload = entry(*event.metadata().level(), &message, &self.node, &fields);
        // The journal being away or full must never stall or stop the daemon.
        let _ = self.socket.send_to(&payload, &self.path);
    }
}

/// `journalctl` shows MESSAGE alone, so an event about one NIC names it there too,
/// and an event with an error says it; the fields stay separate for queries.
fn readable(message: &str, event_fields: &[(String, String)]) -> String {
    let get = |name: &str| event_fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let message = match get("error") {
        Some(error) => format!("{message}: {error}"),
        None => message.to_string(),
    };
    match (get("interface"), get("mac")) {
        (Some(name), Some(mac)) => format!("{name} ({mac}): {message}"),
        (Some(one), None) | (None, Some(one)) => format!("{one}: {message}"),
        (None, None) => message,
    }
}

/// One journal entry in the native protocol.
pub fn entry(level: Level, message: &str, node: &str, fields: &[(String, String)]) -> Vec<u8> {
    let mut priority = match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    };
    let mut out = Vec::new();
    put(&mut out, "MESSAGE", message);
    put(&mut out, "SYSLOG_IDENTIFIER", "multinicd");
    put(&mut out, "MULTINIC_NODE", node);
    for (name, value) in fields {
        match name.as_str() {
            "priority" if value == "crit" => priority = 2,
            "priority" => {}
            "message_id" => put(&mut out, "MESSAGE_ID", value),
            _ => {
                let mut key = String::from("MULTINIC_");
                for c in name.chars() {
                    let _ = write!(key, "{}", if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' });
                }
                put(&mut out, &key, value);
            }
        }
    }
    put(&mut out, "PRIORITY", &priority.to_string());
    out
}

/// `KEY=value\n`, or the length-prefixed form for values with a line break.
fn put(out: &mut Vec<u8>, key: &str, value: &str) {
    out.extend_from_slice(key.as_bytes());
    if value.contains('\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn lines(payload: &[u8]) -> Vec<String> {
        String::from_utf8_lossy(payload).lines().map(str::to_string).collect()
    }

    #[test]
    fn events_carry_node_span_and_event_fields_message_id_and_priority() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let journal = UnixDatagram::bind(&path).unwrap();
        let layer = JournalLayer::new(&path, "worker-1").unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("pass", generation = 7, backend = "networkd");
            let _in = span.enter();
            tracing::error!(
                interface = "multinic0",
                mac = "fa:16:3e:00:00:01",
                priority = "crit",
                message_id = ids::BLOCKED,
                "BLOCKED: name taken"
            );
            tracing::info!(interface = "multinic1", backend = "networkd", "configured");
            tracing::warn!(interface = "multinic2", error = "restart systemd-networkd", "cannot start transaction");
        });
        let mut buf = [0u8; 4096];
        let n = journal.recv(&mut buf).unwrap();
        let first = lines(&buf[..n]);
        for want in [
            "MESSAGE=multinic0 (fa:16:3e:00:00:01): BLOCKED: name taken",
            "MULTINIC_NODE=worker-1",
            "MULTINIC_GENERATION=7",
            "MULTINIC_BACKEND=networkd",
            "MULTINIC_INTERFACE=multinic0",
            "MULTINIC_MAC=fa:16:3e:00:00:01",
            "MESSAGE_ID=6d756c74696e6963a1c0f1a9e1c0a003",
            "PRIORITY=2",
            "SYSLOG_IDENTIFIER=multinicd",
        ] {
            assert!(first.iter().any(|l| l == want), "{want} missing in {first:?}");
        }
        let n = journal.recv(&mut buf).unwrap();
        let second = lines(&buf[..n]);
        for want in ["MESSAGE=multinic1: configured", "PRIORITY=6", "MULTINIC_INTERFACE=multinic1"] {
            assert!(second.iter().any(|l| l == want), "{want} missing in {second:?}");
        }
        let n = journal.recv(&mut buf).unwrap();
        let third = lines(&buf[..n]);
        assert!(
            third.iter().any(|l| l == "MESSAGE=multinic2: cannot start transaction: restart systemd-networkd"),
            "the error belongs in MESSAGE: {third:?}"
        );
        let backends = second.iter().filter(|l| l.starts_with("MULTINIC_BACKEND=")).count();
        assert_eq!(backends, 1, "a field set by the span and the event is written once: {second:?}");
    }

    #[test]
    fn multi_line_values_are_length_prefixed() {
        let e = entry(Level::WARN, "a\nb", "n", &[]);
        assert!(e.starts_with(b"MESSAGE\n\x03\0\0\0\0\0\0\0a\nb\n"));
    }
}
