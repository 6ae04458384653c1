// SPDX-License-Identifier: Apache-2.0
//! Which netlink events warrant a pass of `multinicd run`: those about the NICs of
//! the spec and of what multinic owns, and only when the links then differ from how
//! the last pass left them. A pass renames, sets links down and up and changes
//! addresses (also when it rolls back); its own events must not start the next pass,
//! or a failing interface would be retried at once, over and over.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use multinic_api::MacAddr;
use tokio::sync::mpsc;

use crate::observe::Kernel;
use crate::observe::netlink::{Event, NetlinkError};
use crate::observe::{Host, Link};

/// How long the watched links must be quiet before they are compared: a hot-plug
/// is a burst of events (the link, its rename, its carrier).
const QUIET: Duration = Duration::from_millis(50);

/// The longest a burst, or udev, may put the comparison off.
const SETTLE_MAX: Duration = Duration::from_secs(1);

/// The links a pass cares about, and how the last pass left them.
#[derive(Default)]
pub struct Watch {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    macs: HashSet<MacAddr>,
    indices: HashSet<u32>,
    /// The watched links after the last pass, by index.
    left: Vec<Link>,
}

impl Watch {
    /// Watch these MACs and link indices (the spec's, the owned ones, the planned).
    pub fn set(&self, macs: impl IntoIterator<Item = MacAddr>, indices: impl IntoIterator<Item = u32>) {
        let mut w = self.inner.lock().expect("not poisoned");
        w.macs = macs.into_iter().collect();
        w.indices = indices.into_iter().collect();
    }

    /// Forget everything (the CR was deleted).
    pub fn clear(&self) {
        *self.inner.lock().expect("not poisoned") = Inner::default();
    }

    /// Record how a pass left the watched links.
    pub fn left(&self, host: &Host) {
        let mut w = self.inner.lock().expect("not poisoned");
        w.left = watched(&w, &host.links);
    }

    fn concerns(&self, e: &Event) -> bool {
        let w = self.inner.lock().expect("not poisoned");
        match e {
            Event::Link { index, mac, .. } => w.indices.contains(index) || mac.is_some_and(|m| w.macs.contains(&m)),
            Event::Address { index } => w.indices.contains(index),
            Event::Overrun => true,
        }
    }

    fn changed(&self, links: &[Link]) -> bool {
        let w = self.inner.lock().expect("not poisoned");
        watched(&w, links) != w.left
    }

    fn unsettled(&self, udev: &Udev, links: &[Link]) -> bool {
        let w = self.inner.lock().expect("not poisoned");
        udev.pending(&watched(&w, links))
    }
}

/// udev's database: whether udev is done with a link (has renamed it and applied
/// its `.link`). NetworkManager leaves a link alone until then, and a pass before
/// it would race udev's rename.
pub struct Udev {
    run: PathBuf,
}

impl Udev {
    /// The host's udev, under `/run/udev`.
    pub fn system() -> Self {
        Udev { run: PathBuf::from("/run/udev") }
    }

    /// Whether udev has yet to process one of these links. Without udev running (no
    /// control socket: a container, the namespace lab) nothing waits for it.
    fn pending(&self, links: &[Link]) -> bool {
        self.run.join("control").exists()
            && links.iter().any(|l| !self.run.join("data").join(format!("n{}", l.index)).exists())
    }
}

fn watched(w: &Inner, links: &[Link]) -> Vec<Link> {
    let mut out: Vec<Link> = links
        .iter()
        .filter(|l| w.indices.contains(&l.index) || l.hw_mac().is_some_and(|m| w.macs.contains(&m)))
        .cloned()
        .collect();
    out.sort_by_key(|l| l.index);
    out
}

/// A stream that yields when the watched links changed since the last pass. The
/// links are compared once their events paused for [`QUIET`] and udev is done with
/// them (or [`SETTLE_MAX`] passed), and only once no pass runs (`busy`), since what
/// a running pass changes is its own doing. Lost events (an overrun) and a
/// subscription that ended always yield: anything may have changed.
pub fn triggers<K: Kernel>(
    watch: std::sync::Arc<Watch>,
    net: K,
    udev: Udev,
    busy: impl Fn() -> bool + Send + 'static,
) -> Result<impl futures::Stream<Item = ()> + Send + 'static, NetlinkError> {
    let mut events = net.subscribe()?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Some(e) = events.recv().await else {
                tracing::warn!("the netlink event subscription ended: subscribing again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                match net.subscribe() {
                    Ok(again) => events = again,
                    Err(e) => tracing::warn!(error = %e, "cannot subscribe to netlink events"),
                }
                if tx.send(()).is_err() {
                    return;
                }
                continue;
            };
            if !watch.concerns(&e) {
                continue;
            }
            let began = tokio::time::Instant::now();
            let mut lost = e == Event::Overrun;
            let links = loop {
                tokio::time::sleep(QUIET).await;
                let mut quiet = true;
                while let Some(e) = events.try_recv() {
                    lost |= e == Event::Overrun;
                    quiet &= !watch.concerns(&e);
                }
                let late = began.elapsed() >= SETTLE_MAX;
                if busy() || !(quiet || late) {
                    continue;
                }
                let links = net.links().await;
                match &links {
                    Ok(l) if !late && watch.unsettled(&udev, l) => continue,
                    _ => break links,
                }
            };
            // When the links cannot be read, let a pass find out.
            let changed = lost || links.map(|links| watch.changed(&links)).unwrap_or(true);
            if changed && tx.send(()).is_err() {
                return;
            }
        }
    });
    Ok(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32) -> Link {
        crate::plan::tests::link(index, "ens4", crate::plan::tests::mac(1))
    }

    #[test]
    fn udev_is_waited_for_only_while_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        let udev = Udev { run: dir.path().to_path_buf() };
        assert!(!udev.pending(&[link(7)]), "no udev, nothing to wait for");

        std::fs::write(dir.path().join("control"), "").unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        assert!(udev.pending(&[link(7)]), "udev runs and has not seen link 7");
        std::fs::write(dir.path().join("data/n7"), "").unwrap();
        assert!(!udev.pending(&[link(7)]));
        assert!(udev.pending(&[link(7), link(8)]), "link 8 is still udev's");
        assert!(!udev.pending(&[]));
    }
}
