// SPDX-License-Identifier: Apache-2.0
//! Benchmark (prints figures, asserts no timing) of `multinicd run` against the real
//! kube-apiserver (`MULTINIC_E2E_KUBECONFIG`) in a real-NetworkManager lab:
//! - spec edit → `Configured` for the new generation, as seen by a separate watcher,
//!   over `BENCH_EDITS` edits (default 20);
//! - a configured NIC detached and attached again (same MAC) → `Configured`, over
//!   `BENCH_PLUGS` times (default 10);
//! - the daemon's RSS after `BENCH_STEADY_SECS` (default 600) of steady state, with
//!   its metrics on and scraped every 15 s, as a Prometheus would.
//!
//! Run through `tests/bench.sh cluster`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use multinic_lab::bench::{env_or, report};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use multinic_api::{InterfaceState, MultiNicNodeConfig, NodeState};
use multinic_lab::Manager;
use multinic_lab::nic;
use multinic_lab::node::{ApiPath, Node};
use tokio::sync::watch;

const MAC: &str = "02:00:00:00:04:01";

/// (generation observed, node state, state of multinic0) as a separate watcher sees them.
type Seen = (i64, Option<NodeState>, Option<InterfaceState>);

fn seen(cr: &MultiNicNodeConfig) -> Seen {
    let s = cr.status.as_ref();
    (
        s.and_then(|s| s.observed_generation).unwrap_or_default(),
        s.and_then(|s| s.state),
        s.and_then(|s| s.interface_statuses.get("multinic0")).map(|i| i.state),
    )
}

async fn wait_for(rx: &mut watch::Receiver<Seen>, pred: impl Fn(&Seen) -> bool) {
    tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|s| pred(s)))
        .await
        .expect("in time")
        .expect("watcher alive");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // BENCH_MANAGER=networkd for a systemd-networkd lab.
    let manager = match std::env::var("BENCH_MANAGER").as_deref() {
        Ok("networkd") => Manager::Networkd,
        _ => Manager::NetworkManager,
    };
    let node = Node::shaped("bench", manager, false, ApiPath::Loopback, &[("ens4", MAC)])
        .await
        .expect("the benchmark needs MULTINIC_E2E_KUBECONFIG and a lab");
    let config = std::fs::read_to_string(&node.config).unwrap();
    std::fs::write(&node.config, format!("{config}metrics: 127.0.0.1:9483\n")).unwrap();
    // Its Node, as the kubelet registers it: the daemon watches it for the condition.
    node.cluster.create_node(&node.name, "4c4c4544-0042-3510-8052-b4c04f384e32").await;
    let daemon = node.daemon();
    let spec = |mtu: u32| vec![nic(1, MAC, "198.51.100.4", "198.51.100.0/24", &format!(", mtu: {mtu}"))];
    let created = node.create(&spec(1500)).await;
    node.until_configured(created.metadata.generation.unwrap()).await;

    // A separate watcher, as an operator's `kubectl get -w` would be.
    let (tx, mut rx) = watch::channel::<Seen>((0, None, None));
    let stream = watcher(node.api.clone(), watcher::Config::default().fields(&format!("metadata.name={}", node.name)))
        .applied_objects();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(Ok(cr)) = stream.next().await {
            let _ = tx.send(seen(&cr));
        }
    });

    let mut edits = Vec::new();
    for i in 0..env_or("BENCH_EDITS", 20) {
        let start = Instant::now();
        node.set_interfaces(&spec(if i % 2 == 0 { 1400 } else { 1500 })).await;
        let generation = node.api.get(&node.name).await.unwrap().metadata.generation.unwrap();
        wait_for(&mut rx, |s| s.0 >= generation && s.1 == Some(NodeState::Configured)).await;
        edits.push(start.elapsed());
    }

    let mut plugs = Vec::new();
    for _ in 0..env_or("BENCH_PLUGS", 10) {
        node.lab.del_nic("multinic0");
        wait_for(&mut rx, |s| s.2 == Some(InterfaceState::NotFound)).await;
        let start = Instant::now();
        node.lab.add_nic("ens4", MAC, 1500);
        wait_for(&mut rx, |s| s.1 == Some(NodeState::Configured) && s.2 == Some(InterfaceState::Configured)).await;
        plugs.push(start.elapsed());
    }

    let pid = daemon.pid().expect("daemon running");
    let rss = |field: &str| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    let rss_start = rss("VmRSS:");
    let steady = Duration::from_secs(env_or("BENCH_STEADY_SECS", 600));
    let until = Instant::now() + steady;
    let mut scrapes = 0;
    while Instant::now() < until {
        let out = node.lab.run("curl", &["-sf", "--max-time", "5", "http://127.0.0.1:9483/metrics"]);
        assert!(out.status.success(), "metrics scraped");
        scrapes += 1;
        tokio::time::sleep(Duration::from_secs(15).min(until.saturating_duration_since(Instant::now()))).await;
    }

    println!(
        "multinicd run, real kube-apiserver + {} lab, 1 NIC ({})",
        manager.backend(),
        multinic_lab::multinicd_bin().display()
    );
    report("spec edit -> Configured (watcher)", edits);
    report("detached, attached again -> Configured (watcher)", plugs);
    println!(
        "RSS after {}s steady ({scrapes} metrics scrapes): {} KiB (at start of steady state {} KiB, peak {} KiB)",
        steady.as_secs(),
        rss("VmRSS:"),
        rss_start,
        rss("VmHWM:")
    );
    drop(daemon);
}
