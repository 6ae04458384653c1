// SPDX-License-Identifier: Apache-2.0
//! The daemon's Prometheus metrics, scraped over HTTP inside the lab (`metrics:` in
//! its config), against what the daemon's log and the CR say happened.

use multinic_api::{InterfaceState, NodeState};
use multinic_lab::cluster::eventually;
use multinic_lab::node::{Node, WAIT};

use super::{A, B, one};

const URL: &str = "http://127.0.0.1:9483/metrics";

/// `curl` inside the lab: (HTTP code, body).
fn get(node: &Node, args: &[&str]) -> (String, String) {
    let mut all = vec!["-sS", "--max-time", "5", "-w", "\n%{http_code}"];
    all.extend_from_slice(args);
    let out = node.lab.run("curl", &all);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    (code.to_string(), body.to_string())
}

/// The sum of a metric's samples (over its labels), from the exposition text.
fn value(text: &str, metric: &str) -> f64 {
    text.lines()
        .filter(|l| l.strip_prefix(metric).is_some_and(|rest| rest.starts_with([' ', '{'])))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A NIC without carrier is rolled back and put on a backoff, another one is
/// configured: the metrics count both as the CR and the log say, and once its
/// carrier is back and it is configured too, the states follow and the rollbacks
/// stay counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_happened() {
    let Some(node) = Node::new("metrics", &[("ens4", A)]).await else { return };
    node.lab.add_nic_without_carrier("ens5", B);
    let config = std::fs::read_to_string(&node.config).unwrap();
    std::fs::write(&node.config, format!("{config}metrics: 127.0.0.1:9483\n")).unwrap();
    let daemon = node.daemon();
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();

    let text = eventually(WAIT, "metrics served", || async {
        let (code, body) = get(&node, &[URL]);
        (code == "200").then_some(body)
    })
    .await;
    assert!(text.contains("multinic_build_info{version=\""), "{text}");
    assert_eq!(value(&text, "multinic_rollbacks_total"), 0.0, "{text}");
    assert_eq!(get(&node, &["http://127.0.0.1:9483/"]).0, "404");
    assert_eq!(get(&node, &["-X", "POST", URL]).0, "405");

    node.create(&[one(A, "198.51.100.4", ""), one(B, "198.51.100.5", "")]).await;
    node.until("B failed, retrying", |cr| {
        cr.status.as_ref().is_some_and(|s| s.interface_statuses.values().any(|i| i.message.contains("retrying in")))
    })
    .await;
    let text = get(&node, &[URL]).1;
    let rolled_back = daemon.log().lines().filter(|l| l.contains("rolled back") && l.contains(B)).count();
    assert!(rolled_back >= 1);
    // Another attempt may end between the scrape and the log read: at most one.
    let counted = value(&text, "multinic_rollbacks_total{reason=\"VerifyFailed\"}") as usize;
    assert!(counted == rolled_back || counted + 1 == rolled_back, "{counted} counted, {rolled_back} logged:\n{text}");
    assert!(value(&text, "multinic_retries_total") >= 1.0, "{text}");
    assert_eq!(value(&text, "multinic_interfaces{state=\"Configured\"}"), 1.0, "{text}");
    assert_eq!(value(&text, "multinic_interfaces{state=\"Failed\"}"), 1.0, "{text}");
    assert!(value(&text, "multinic_pass_duration_seconds_count") >= 1.0, "{text}");
    assert!(value(&text, "multinic_last_pass_timestamp_seconds") >= started, "{text}");

    node.lab.carrier("ens5", true);
    node.until("both configured", |cr| cr.status.as_ref().is_some_and(|s| s.state == Some(NodeState::Configured)))
        .await;
    let text = eventually(WAIT, "the metrics follow", || async {
        let text = get(&node, &[URL]).1;
        (value(&text, "multinic_interfaces{state=\"Configured\"}") == 2.0).then_some(text)
    })
    .await;
    let rolled_back = daemon.log().lines().filter(|l| l.contains("rolled back") && l.contains(B)).count();
    assert_eq!(value(&text, "multinic_rollbacks_total") as usize, rolled_back, "{text}");
    for state in InterfaceState::ALL.iter().filter(|s| **s != InterfaceState::Configured) {
        assert_eq!(value(&text, &format!("multinic_interfaces{{state=\"{state}\"}}")), 0.0, "{text}");
    }

    // Deleted and cleaned up: no interfaces left to count.
    node.api.delete(&node.name, &Default::default()).await.unwrap();
    eventually(WAIT, "no interfaces once cleaned up", || async {
        let text = get(&node, &[URL]).1;
        (value(&text, "multinic_interfaces{state=\"Configured\"}") == 0.0).then_some(())
    })
    .await;
    drop(daemon);
}
