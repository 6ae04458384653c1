// SPDX-License-Identifier: Apache-2.0
//! `kubectl multinic import` against a real MariaDB server holding v2's
//! `multi_interface` table (tests/fixtures/v2-multi_interface.sql) and the real
//! kube-apiserver (`MULTINIC_E2E_KUBECONFIG`) with the chart applied.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use kube::Api;
use multinic_api::{MultiNicNodeConfig, RouteSpec};
use multinic_lab::cluster::{Cluster, kubectl_multinic};
use multinic_lab::mariadb::MariaDb;

const PASSWORD: &str = "v2-secret";

struct Setup {
    cluster: Cluster,
    db: MariaDb,
    ns: String,
    admin: PathBuf,
    /// Node-name prefix of this test (the kit is shared).
    p: String,
}

async fn setup(test: &str) -> Option<Setup> {
    let cluster = Cluster::from_env().await?;
    let db = MariaDb::start().await?;
    let p = format!("imp{}-{test}-", std::process::id());
    let fixture =
        std::fs::read_to_string(multinic_lab::repo_root().join("tests/fixtures/v2-multi_interface.sql")).unwrap();
    db.exec(&fixture.replace("NODE-", &p)).await;
    let ns = format!("import-{test}-{}", std::process::id());
    cluster.install_chart(&ns).await;
    let admin = cluster.dir.join("admin.kubeconfig");
    Some(Setup { cluster, db, ns, admin, p })
}

impl Setup {
    fn import(&self, args: &[&str]) -> Output {
        let url = self.db.url("v2reader", "multinic");
        let mut all = vec!["-n", &self.ns, "import", "--from-db", &url];
        all.extend_from_slice(args);
        kubectl_multinic(&self.admin, &all, &[("MULTINIC_DB_PASSWORD", PASSWORD)])
    }

    fn api(&self) -> Api<MultiNicNodeConfig> {
        Api::namespaced(self.cluster.admin.clone(), &self.ns)
    }

    fn node(&self, short: &str) -> String {
        format!("{}{short}", self.p)
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The plan line of a node: its words, split on runs of spaces.
fn line<'a>(text: &'a str, node: &str) -> Vec<&'a str> {
    text.lines()
        .find(|l| l.starts_with(&format!("{node} ")))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_then_apply_then_rerun_is_idempotent_and_updates_follow_the_database() {
    let Some(s) = setup("apply").await else { return };
    let (a, b, c) = (s.node("a"), s.node("b"), s.node("c"));
    s.cluster.create_node(&a, "UUID-A").await;
    s.cluster.create_node(&b, "UUID-B").await;
    for n in ["badmac", "badmask", "dup1", "dup2", "vlan", "vlanonly", "big"] {
        s.cluster.create_node(&s.node(n), "U").await;
    }

    // The plan writes nothing and says, per node, what would happen and why not.
    let out = s.import(&["--mtu", "1450"]);
    assert_eq!(out.status.code(), Some(1), "rows were skipped: exit 1");
    let plan = stdout(&out);
    assert_eq!(line(&plan, &a)[..3], [a.as_str(), "create", "3"]);
    assert_eq!(line(&plan, &b)[..3], [b.as_str(), "create", "1"]);
    assert!(line(&plan, &c).join(" ").contains("skipped - no Node"), "{plan}");
    assert!(plan.contains("row 6: mac_address: \"fa:16:3e:00:04:zz\" is not a MAC address"), "{plan}");
    assert!(plan.contains("row 7: subnet_mask: \"255.0.255.0\" is not a netmask"), "{plan}");
    assert!(plan.contains("row 8: attached_node_name: is empty"), "{plan}");
    assert!(
        plan.contains(&format!("row 9: mac_address: fa:16:3e:00:07:01 is also in row 10 (node {}dup2)", s.p)),
        "{plan}"
    );
    assert_eq!(line(&plan, &s.node("vlan"))[..3], [s.node("vlan").as_str(), "create", "1"], "{plan}");
    assert!(
        plan.contains("row 24: vlan: 200: VLAN 200 of NIC fa:16:3e:00:0a:01, which has no row with vlan 0"),
        "{plan}"
    );
    assert!(plan.contains("11 NIC rows") && plan.contains("at most 10"), "{plan}");
    assert!(
        plan.contains("Plan: 3 to create, 0 to update, 0 unchanged, 7 skipped, 1 row(s) without a node."),
        "{plan}"
    );
    assert!(s.api().list(&Default::default()).await.unwrap().items.is_empty(), "a plan writes nothing");

    // Someone who may only read: the plan works, the writes are refused per node,
    // named as such, and the run says so in its exit code.
    let viewer = format!("viewer-{}", s.ns);
    s.cluster.bind_role(&s.ns, &viewer, "multinic-view").await;
    let viewer_kc = s.cluster.user_kubeconfig(&viewer, &[]);
    let url = s.db.url("v2reader", "multinic");
    let args = ["-n", &s.ns, "import", "--from-db", &url, "--node", &a, "--no-node-check", "--apply"];
    let out = multinic_lab::cluster::eventually(std::time::Duration::from_secs(10), "the view binding", || async {
        let out = kubectl_multinic(&viewer_kc, &args, &[("MULTINIC_DB_PASSWORD", PASSWORD)]);
        (stdout(&out).contains(" failed ")).then_some(out)
    })
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(line(&stdout(&out), &a).join(" ").contains("failed - forbidden"), "{}", stdout(&out));
    assert!(s.api().get_opt(&a).await.unwrap().is_none());

    // --apply writes exactly the planned CRs; skipped nodes get nothing, not even their good rows.
    let out = s.import(&["--mtu", "1450", "--apply"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("3 created, 0 updated, 0 unchanged, 7 skipped"), "{}", stdout(&out));
    let names: Vec<String> = s
        .api()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    // The trunk: the VLAN row is an entry of its NIC's vlans.
    let trunk = s.api().get(&s.node("vlan")).await.unwrap();
    let nic = &trunk.spec.interfaces[0];
    assert_eq!((trunk.spec.interfaces.len(), nic.id, nic.address.as_str()), (1, Some(23), "10.10.8.20"));
    assert_eq!(
        nic.vlans.iter().map(|v| (v.id, v.address.as_str(), v.cidr.as_str())).collect::<Vec<_>>(),
        [(100, "10.10.1.20", "10.10.1.0/24")]
    );
    let cr = s.api().get(&a).await.unwrap();
    assert_eq!(cr.spec.node_name, a);
    assert_eq!(cr.spec.instance_id.as_deref(), Some("UUID-A"), "instanceId from the Node, as create does");
    let ifs = &cr.spec.interfaces;
    assert_eq!(ifs.iter().map(|i| i.id).collect::<Vec<_>>(), vec![Some(1), Some(2), Some(30)], "v2's id order");
    assert_eq!(ifs[0].mac_address, "fa:16:3e:00:01:01");
    assert_eq!((ifs[0].address.as_str(), ifs[0].cidr.as_str(), ifs[0].mtu), ("10.10.1.11", "10.10.1.0/24", Some(1450)));
    assert_eq!(
        ifs[0].routes,
        vec![RouteSpec { to: "0.0.0.0/0".into(), via: Some("10.10.1.1".into()), metric: Some(10000) }]
    );
    assert_eq!(ifs[0].dns, vec!["8.8.8.8", "1.1.1.1"]);
    assert_eq!((ifs[1].mac_address.as_str(), ifs[1].cidr.as_str()), ("fa:16:3e:00:01:02", "10.10.0.0/16"));
    assert!(ifs[1].routes.is_empty() && ifs[1].dns.is_empty(), "empty gateway/dns columns add nothing");
    assert!(s.api().get_opt(&s.node("badmac")).await.unwrap().is_none());

    // Re-running changes nothing; restricted to the importable nodes it exits 0.
    let rv = cr.metadata.resource_version.clone();
    let out = s.import(&["--mtu", "1450", "--apply", "--node", &a, "--node", &b]);
    assert_eq!(out.status.code(), Some(0), "everything selected is in the cluster");
    assert_eq!(line(&stdout(&out), &a)[..2], [a.as_str(), "unchanged"]);
    assert_eq!(s.api().get(&a).await.unwrap().metadata.resource_version, rv, "no write on a re-run");

    // The database moves on (and an operator named one NIC): the plan shows the
    // change per MAC, --apply replaces the spec, keeping instanceId and the name.
    s.db.exec("UPDATE multinic.multi_interface SET ip_address = '10.10.2.99' WHERE id = 2; DELETE FROM multinic.multi_interface WHERE id = 30").await;
    let mut named = s.api().get(&a).await.unwrap();
    named.spec.interfaces[0].name = Some("multinic5".into());
    s.api().replace(&a, &Default::default(), &named).await.unwrap();
    let out = s.import(&["--mtu", "1450", "--node", &a]);
    let l = line(&stdout(&out), &a).join(" ");
    assert!(l.contains("update 2 ~ fa:16:3e:00:01:02 (address), - fa:16:3e:00:01:03 (not in the database)"), "{l}");
    let out = s.import(&["--mtu", "1450", "--node", &a, "--apply"]);
    assert_eq!(out.status.code(), Some(0));
    let cr = s.api().get(&a).await.unwrap();
    assert_eq!(cr.spec.interfaces.len(), 2);
    assert_eq!(cr.spec.interfaces[1].address, "10.10.2.99");
    assert_eq!(cr.spec.interfaces[0].name.as_deref(), Some("multinic5"), "what v2 never had is kept");
    assert_eq!(cr.spec.instance_id.as_deref(), Some("UUID-A"));

    // A node without a Node object comes in with --no-node-check.
    let out = s.import(&["--node", &c, "--no-node-check", "--apply"]);
    assert_eq!(out.status.code(), Some(0));
    let cr = s.api().get(&c).await.unwrap();
    assert_eq!(
        (cr.spec.instance_id.clone(), cr.spec.interfaces[0].mtu),
        (None, None),
        "no Node, no UUID; no --mtu, no MTU"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaml_output_and_bad_urls_passwords_and_servers() {
    let Some(s) = setup("yaml").await else { return };

    // -o yaml: the importable CRs for GitOps, the rest on stderr; no cluster access.
    let nowhere = Path::new("/nonexistent/kubeconfig");
    let url = s.db.url("v2reader", "multinic");
    let args = ["-n", &s.ns, "import", "--from-db", &url, "-o", "yaml", "--mtu", "9000"];
    let out = kubectl_multinic(nowhere, &args, &[("MULTINIC_DB_PASSWORD", PASSWORD)]);
    assert_eq!(out.status.code(), Some(1), "some rows skipped");
    let docs: Vec<MultiNicNodeConfig> = serde_yaml::Deserializer::from_slice(&out.stdout)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let names: Vec<&str> = docs.iter().map(|d| d.metadata.name.as_deref().unwrap()).collect();
    assert_eq!(names, vec![s.node("a"), s.node("b"), s.node("c"), s.node("vlan")]);
    assert!(docs.iter().all(|d| d.metadata.namespace.as_deref() == Some(s.ns.as_str())));
    assert!(docs.iter().all(|d| multinic_api::validate(d).errors.is_empty()), "every printed CR is valid");
    assert_eq!(docs[0].spec.interfaces[2].mtu, Some(9000));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("skipped {}badmac: row 6: mac_address", s.p)), "{err}");
    // The printed CRs are accepted by the real API server (schema, CEL, admission).
    let out = s.cluster_apply(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // On a terminal the password is asked for (script(1) provides the terminal).
    let bin = multinic_lab::multinicd_bin().with_file_name("kubectl-multinic");
    let cmd = format!("{} --kubeconfig /nonexistent -n {} import --from-db {url} -o yaml", bin.display(), s.ns);
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("MULTINIC_DB_PASSWORD")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), format!("{PASSWORD}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(terminal.contains(&format!("Password for v2reader@127.0.0.1:{}/multinic:", s.db.port)), "{terminal}");
    assert!(terminal.contains("read 25 rows for 10 nodes"), "{terminal}");
    assert_eq!(out.status.code(), Some(1), "{terminal}");

    // A password in the URL is refused before anything is read.
    let with_pw = format!("mysql://v2reader:{PASSWORD}@127.0.0.1:{}/multinic", s.db.port);
    let out = kubectl_multinic(nowhere, &["import", "--from-db", &with_pw], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the URL carries a password"));
    // No password anywhere and no terminal to ask on.
    let out = kubectl_multinic(nowhere, &["import", "--from-db", &url], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set MULTINIC_DB_PASSWORD"));
    // A wrong password, a missing table, a closed port, a URL without a database.
    let out = kubectl_multinic(nowhere, &["import", "--from-db", &url], &[("MULTINIC_DB_PASSWORD", "wrong")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("check the user and the password"));
    s.db.exec("CREATE DATABASE empty; GRANT SELECT ON empty.* TO 'v2reader'@'127.0.0.1'").await;
    let out = kubectl_multinic(
        nowhere,
        &["import", "--from-db", &s.db.url("v2reader", "empty")],
        &[("MULTINIC_DB_PASSWORD", PASSWORD)],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is this the v2 database"));
    let closed = format!("mysql://v2reader@127.0.0.1:{}/multinic", free_port());
    let out = kubectl_multinic(nowhere, &["import", "--from-db", &closed], &[("MULTINIC_DB_PASSWORD", PASSWORD)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("check host and port"));
    let out = kubectl_multinic(nowhere, &["import", "--from-db", "mysql://v2reader@127.0.0.1:3306"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("name the database"));
}

impl Setup {
    /// `kubectl apply -f -` of a YAML stream, as the admin, through the plugin's own
    /// create (one object at a time, server dry run: nothing is stored).
    fn cluster_apply(&self, yaml: &[u8]) -> Output {
        let file = self.db.dir().join("import.yaml");
        let mut last = None;
        for (i, doc) in String::from_utf8_lossy(yaml).split("---\n").filter(|d| !d.trim().is_empty()).enumerate() {
            let path = file.with_extension(format!("{i}.yaml"));
            std::fs::write(&path, doc).unwrap();
            let out = kubectl_multinic(
                &self.admin,
                &["-n", &self.ns, "create", "-f", path.to_str().unwrap(), "--dry-run=server", "--no-node-check"],
                &[],
            );
            if !out.status.success() {
                return out;
            }
            last = Some(out);
        }
        last.expect("at least one CR")
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
