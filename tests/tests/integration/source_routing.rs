// SPDX-License-Identifier: Apache-2.0
//! `sourceRouting` on the real managers: a client in a remote subnet, behind the
//! secondary segment's router, reaches the node's `multinic0` address. With
//! `rp_filter` on, the node drops that request unless the reply would leave by the
//! same NIC, which only source routing arranges.

use super::*;

/// The client's address, in a subnet the node has no route to but its default.
const REMOTE: &str = "198.18.0.5";
const ROUTER: &str = "10.60.0.1";
const NODE: &str = "10.60.0.10";

/// Three pings from the remote address; `ping` succeeds when any is answered (the
/// first reply may wait for the gateway's neighbour entry).
fn answers_the_remote_client(lab: &Lab) -> bool {
    let ping = ["netns", "exec", "peers", "ping", "-c", "3", "-i", "0.3", "-W", "1", "-I", REMOTE, NODE];
    lab.run("ip", &ping).status.success()
}

/// `ip rule` as `priority: from X lookup T` lines.
fn rules(lab: &Lab) -> Vec<String> {
    let v = lab.ip(&["-4", "rule", "show"]);
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let len = r.get("srclen").map(|l| format!("/{l}")).unwrap_or_default();
            format!(
                "{}: from {}{len} lookup {}",
                r["priority"],
                r["src"].as_str().unwrap(),
                r["table"].as_str().unwrap()
            )
        })
        .collect()
}

/// A table's routes as `dst [via gw] dev D` lines, sorted (metrics differ by manager).
fn table(lab: &Lab, table: &str) -> Vec<String> {
    let v = lab.ip(&["-4", "route", "show", "table", table]);
    let mut out: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let via = r.get("gateway").and_then(Value::as_str).map(|g| format!(" via {g}")).unwrap_or_default();
            format!("{}{via} dev {}", r["dst"].as_str().unwrap(), r["dev"].as_str().unwrap())
        })
        .collect();
    out.sort();
    out
}

/// Apply the one NIC with `extra` fields; returns its status message and the log.
fn apply_nic(lab: &Lab, extra: &str) -> (String, String) {
    let routes = ", gateway: 10.60.0.1, routes: [{to: 10.70.0.0/16, via: 10.60.0.1}]";
    let file = lab.write("node.yaml", &spec(&[nic(1, A, NODE, "10.60.0.0/24", &format!("{routes}{extra}"))]));
    let (code, status, log) = apply_logged(lab, &file);
    assert_eq!(code, 0, "{status:?}");
    assert_eq!(iface(&status, "multinic0").state, InterfaceState::Configured, "{status:?}");
    (iface(&status, "multinic0").message.clone(), log)
}

/// Off, the remote client gets no answer; on, it does, and `ip rule` and table
/// 100 show exactly what multinic added while main stays as it was. A rule deleted
/// by hand is put back by the next apply; turning it off, or removing the
/// interface, takes rule and table away.
pub(crate) fn replies_leave_by_the_nic_the_request_came_in(m: Manager) {
    let Some(lab) = lab_with(m, &[("ens4", A)]) else {
        return;
    };
    lab.segment("ens4", &format!("{ROUTER}/24"));
    must(&lab, &["-n", "peers", "addr", "add", &format!("{REMOTE}/32"), "dev", "lo"]);
    let rp = lab.run("sysctl", &["-qw", "net.ipv4.conf.all.rp_filter=1"]);
    assert!(rp.status.success(), "rp_filter: {}", String::from_utf8_lossy(&rp.stderr));
    let rules_before = rules(&lab);

    apply_nic(&lab, "");
    assert!(!answers_the_remote_client(&lab), "without sourceRouting the reply would leave by eth0: rp_filter drops");
    assert_eq!(rules(&lab), rules_before);
    let main = table(&lab, "main");
    assert!(main.contains(&"10.70.0.0/16 via 10.60.0.1 dev multinic0".to_string()), "{main:?}");

    let (message, _) = apply_nic(&lab, ", sourceRouting: true");
    assert_eq!(message, "up with 10.60.0.10/24, source routing table 100");
    assert!(answers_the_remote_client(&lab), "with sourceRouting the reply leaves by multinic0");
    let mut want_rules = rules_before.clone();
    want_rules.insert(1, format!("32000: from {NODE} lookup 100"));
    assert_eq!(rules(&lab), want_rules);
    assert_eq!(
        table(&lab, "100"),
        [
            "10.60.0.0/24 dev multinic0",
            "10.70.0.0/16 via 10.60.0.1 dev multinic0",
            "default via 10.60.0.1 dev multinic0"
        ]
    );
    assert_eq!(table(&lab, "main"), main, "the main table is as without source routing");

    must(&lab, &["rule", "del", "priority", "32000"]);
    let (_, log) = apply_nic(&lab, ", sourceRouting: true");
    assert!(log.contains("action=\"DriftRepaired\"") && log.contains("no rule"), "{log}");
    assert_eq!(rules(&lab), want_rules, "the rule is back");
    assert!(answers_the_remote_client(&lab));

    // Turned off: rule and table go, main is as it was.
    apply_nic(&lab, "");
    assert_eq!(rules(&lab), rules_before, "the rule goes with sourceRouting");
    assert!(table(&lab, "100").is_empty(), "and the table");
    assert_eq!(table(&lab, "main"), main);
    assert!(!answers_the_remote_client(&lab));

    apply_nic(&lab, ", sourceRouting: true");
    let (code, _) = apply(&lab, &lab.write("none.yaml", &spec(&[])));
    assert_eq!(code, 0);
    assert_eq!(rules(&lab), rules_before, "the rule goes with the interface");
    assert!(table(&lab, "100").is_empty(), "and the table");
}
