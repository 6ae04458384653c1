// SPDX-License-Identifier: Apache-2.0
use super::*;
use crate::import::map::{Options, Row, map};

fn row(id: i64, node: &str, mac: &str, ip: &str) -> Row {
    Row {
        id,
        attached_node_name: Some(node.into()),
        mac_address: Some(mac.into()),
        ip_address: Some(ip.into()),
        subnet_mask: Some("255.255.255.0".into()),
        ..Row::default()
    }
}

const OPTIONS: Options = Options { mtu: Some(1450), gateway_metric: None };

fn existing(node: &str, rows: &[Row], options: Options) -> MultiNicNodeConfig {
    match map(rows, options).nodes.remove(node) {
        Some(Mapped::Ready(mut spec)) => {
            spec.instance_id = Some("UUID-OLD".into());
            MultiNicNodeConfig::new(node, spec)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn create_update_unchanged_skipped_and_orphans_render_exactly() {
    let rows = vec![
        row(1, "new", "fa:16:3e:00:00:01", "10.0.0.1"),
        row(2, "same", "fa:16:3e:00:00:02", "10.0.0.2"),
        row(3, "moved", "fa:16:3e:00:00:03", "10.0.0.99"),
        row(4, "moved", "fa:16:3e:00:00:04", "10.0.0.4"),
        row(5, "broken", "zz", "10.0.0.5"),
        row(6, "", "fa:16:3e:00:00:06", "10.0.0.6"),
        row(7, "nonode", "fa:16:3e:00:00:07", "10.0.0.7"),
    ];
    let old_moved = existing(
        "moved",
        &[row(3, "moved", "fa:16:3e:00:00:03", "10.0.0.3"), row(8, "moved", "fa:16:3e:00:00:08", "10.0.0.8")],
        OPTIONS,
    );
    let cluster = Cluster {
        configs: [("same".into(), existing("same", &rows[1..2], OPTIONS)), ("moved".into(), old_moved)].into(),
        nodes: Some(
            ["new", "same", "moved", "broken"].iter().map(|n| (n.to_string(), Some(format!("UUID-{n}")))).collect(),
        ),
    };
    let plan = plan(map(&rows, OPTIONS), &cluster, true);
    match &plan.nodes["new"] {
        Action::Create(spec) => assert_eq!(spec.instance_id.as_deref(), Some("UUID-new")),
        other => panic!("{other:?}"),
    }
    match &plan.nodes["moved"] {
        Action::Update { cr, .. } => assert_eq!(cr.spec.instance_id.as_deref(), Some("UUID-OLD"), "kept"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        plan.render(false),
        "\
NODE       ACTION     NICS  DETAIL
broken     skipped    -     row 5: mac_address: \"zz\" is not a MAC address; write it as fa:16:3e:1c:1a:6e
moved      update     2     ~ fa:16:3e:00:00:03 (address), + fa:16:3e:00:00:04, - fa:16:3e:00:00:08 (not in the database)
new        create     1
nonode     skipped    -     no Node nonode in the cluster (kubectl get nodes); import it anyway with --no-node-check
same       unchanged  -
(no node)  skipped    -     row 6: attached_node_name: is empty: the row belongs to no node; set it to the node's name or delete the row
Plan: 1 to create, 1 to update, 1 unchanged, 2 skipped, 1 row(s) without a node. Run again with --apply to write.
"
    );
    assert!(!plan.complete());
}

#[test]
fn without_mtu_flag_an_existing_mtu_name_and_port_id_are_kept() {
    let mut old = existing(
        "n",
        &[row(1, "n", "fa:16:3e:00:00:01", "10.0.0.1")],
        Options { mtu: Some(9000), gateway_metric: None },
    );
    old.spec.interfaces[0].name = Some("multinic3".into());
    old.spec.interfaces[0].port_id = Some("port-1".into());
    let cluster = Cluster { configs: [("n".into(), old)].into(), nodes: None };
    let rows = [row(1, "n", "FA:16:3E:00:00:01", "10.0.0.1")];
    let p = plan(map(&rows, Options { mtu: None, gateway_metric: None }), &cluster, false);
    assert!(matches!(p.nodes["n"], Action::Unchanged), "{:?}", p.nodes["n"]);
    assert!(p.complete());
    assert_eq!(
        p.render(true),
        "NODE  ACTION     NICS  DETAIL\nn     unchanged  -\n0 created, 0 updated, 1 unchanged, 0 skipped.\n"
    );
    // With --mtu the flag wins.
    let p = plan(map(&rows, Options { mtu: Some(1500), gateway_metric: None }), &cluster, true);
    match &p.nodes["n"] {
        Action::Update { cr, changes } => {
            assert_eq!(changes, &vec!["~ fa:16:3e:00:00:01 (mtu)".to_string()]);
            assert_eq!(cr.spec.interfaces[0].name.as_deref(), Some("multinic3"));
            assert_eq!(cr.spec.interfaces[0].port_id.as_deref(), Some("port-1"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_node_checks_every_node_is_created_without_uuid() {
    let cluster = Cluster { configs: BTreeMap::new(), nodes: None };
    let p = plan(map(&[row(1, "ghost", "fa:16:3e:00:00:01", "10.0.0.1")], OPTIONS), &cluster, true);
    match &p.nodes["ghost"] {
        Action::Create(spec) => assert_eq!(spec.instance_id, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_upper_case_mac_in_the_cluster_is_a_named_change_not_an_order_change() {
    let mut old = existing("n", &[row(1, "n", "fa:16:3e:00:00:01", "10.0.0.1")], OPTIONS);
    old.spec.interfaces[0].mac_address = "FA:16:3E:00:00:01".into();
    let cluster = Cluster { configs: [("n".into(), old)].into(), nodes: None };
    let p = plan(map(&[row(1, "n", "fa:16:3e:00:00:01", "10.0.0.1")], OPTIONS), &cluster, true);
    match &p.nodes["n"] {
        Action::Update { changes, .. } => assert_eq!(changes, &vec!["~ fa:16:3e:00:00:01 (macAddress)".to_string()]),
        other => panic!("{other:?}"),
    }
}
