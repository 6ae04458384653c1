// SPDX-License-Identifier: Apache-2.0
//! `kubectl multinic` end to end against the real kube-apiserver
//! (`MULTINIC_E2E_KUBECONFIG`), with the chart applied; the daemon's side is played
//! by a client with the node's identity.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use kube::Api;
use kube::api::{Patch, PatchParams};
use multinic_api::MultiNicNodeConfig;
use multinic_lab::cluster::{Cluster, client, kubectl_multinic};
use multinicd::source::cluster::FIELD_MANAGER;
use serde_json::json;

fn plugin(kubeconfig: &Path, args: &[&str]) -> Output {
    kubectl_multinic(kubeconfig, args, &[])
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

async fn setup(test: &str) -> Option<(Cluster, String, std::path::PathBuf)> {
    let cluster = Cluster::from_env().await?;
    let ns = format!("plugin-{test}-{}", std::process::id());
    cluster.install_chart(&ns).await;
    let admin = cluster.dir.join("admin.kubeconfig");
    Some((cluster, ns, admin))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_fills_instance_id_and_status_reflects_the_daemon() {
    let Some((cluster, ns, admin)) = setup("create").await else { return };
    let name = format!("pw-{}", std::process::id());
    cluster.create_node(&name, "4C4C4544-0042-3510-8052-B4C04F384E32").await;
    let nic = "mac=FA:16:3E:1C:1A:6E,address=11.11.11.37,cidr=11.11.11.0/24,mtu=1450";

    // Client dry run prints the object and stores nothing.
    let out = plugin(&admin, &["-n", &ns, "create", &name, "--nic", nic, "--dry-run=client", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["spec"]["interfaces"][0]["macAddress"], "fa:16:3e:1c:1a:6e");
    let api: Api<MultiNicNodeConfig> = Api::namespaced(cluster.admin.clone(), &ns);
    assert!(api.get_opt(&name).await.unwrap().is_none());
    // Server dry run goes through admission and stores nothing.
    let out = plugin(&admin, &["-n", &ns, "create", &name, "--nic", nic, "--dry-run=server"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(api.get_opt(&name).await.unwrap().is_none());

    let out = plugin(&admin, &["-n", &ns, "create", &name, "--nic", nic]);
    assert_eq!(out.status.code(), Some(0));
    let cr = api.get(&name).await.unwrap();
    assert_eq!(cr.spec.instance_id.as_deref(), Some("4C4C4544-0042-3510-8052-B4C04F384E32"));
    assert_eq!(cr.spec.interfaces[0].mtu, Some(1450));

    // No daemon yet: Pending, unhealthy.
    let out = plugin(&admin, &["-n", &ns, "status"]);
    assert_eq!(out.status.code(), Some(1));
    let (stdout, _) = text(&out);
    assert!(stdout.starts_with("NODE ") && stdout.contains("Pending"), "{stdout}");

    // The node's daemon reports Configured: healthy.
    let as_node: Api<MultiNicNodeConfig> = Api::namespaced(client(&cluster.node_kubeconfig(&name)).await, &ns);
    let status = json!({ "apiVersion": "multinic.io/v1alpha1", "kind": "MultiNicNodeConfig", "status": {
        "state": "Configured", "message": "1/1 interfaces configured", "observedGeneration": cr.metadata.generation, "backend": "networkd",
        "interfaceStatuses": { "multinic0": { "macAddress": "fa:16:3e:1c:1a:6e", "state": "Configured" } } } });
    multinic_lab::cluster::eventually(std::time::Duration::from_secs(30), "node may write its status", || async {
        as_node.patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&status)).await.ok()
    })
    .await;
    let out = plugin(&admin, &["-n", &ns, "status", &name, "-o", "wide"]);
    assert_eq!(out.status.code(), Some(0));
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("Configured")
            && stdout.contains("1/1")
            && stdout.contains("networkd")
            && stdout.contains("multinic0=Configured"),
        "{stdout}"
    );
    let out = plugin(&admin, &["status", "-A"]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.starts_with("NAMESPACE ")
            && stdout.lines().any(|l| l.starts_with(&format!("{ns} ")) && l.contains(&name)),
        "{stdout}"
    );
    let out = plugin(&admin, &["-n", &ns, "status", "-o", "name"]);
    assert_eq!(text(&out).0.trim(), format!("multinicnodeconfig.multinic.io/{name}"));

    // Creating it again is an error from the API server, said plainly.
    let out = plugin(&admin, &["-n", &ns, "create", &name, "--nic", nic]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("already exists"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_bad_input_and_unknown_nodes() {
    let Some((_cluster, ns, admin)) = setup("refuse").await else { return };
    let out = plugin(
        &admin,
        &["-n", &ns, "create", "no-such-node", "--nic", "mac=fa:16:3e:00:00:01,address=11.11.11.2,cidr=11.11.11.0/24"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("node no-such-node not found") && text(&out).1.contains("--no-node-check"));

    let out = plugin(
        &admin,
        &[
            "-n",
            &ns,
            "create",
            "x",
            "--no-node-check",
            "--nic",
            "mac=fa:16:3e:00:00:zz,address=11.11.99.2,cidr=11.11.11.0/24,mtu=20",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let (_, stderr) = text(&out);
    for field in ["spec.interfaces[0].macAddress", "spec.interfaces[0].address", "spec.interfaces[0].mtu"] {
        assert!(stderr.contains(field), "{field} not named: {stderr}");
    }
    let out = plugin(&admin, &["-n", &ns, "create", "x", "--nic", "mac=fa:16:3e:00:00:01,address=1.2.3.4"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("cidr= is required"));

    let out = plugin(
        &admin,
        &[
            "-n",
            &ns,
            "create",
            "lonely",
            "--no-node-check",
            "--nic",
            "mac=fa:16:3e:00:00:01,address=11.11.11.2,cidr=11.11.11.0/24",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_waits_for_the_finalizer_or_forces_it() {
    let Some((cluster, ns, admin)) = setup("cleanup").await else { return };
    let api: Api<MultiNicNodeConfig> = Api::namespaced(cluster.admin.clone(), &ns);
    for n in ["c1", "c2"] {
        let out = plugin(
            &admin,
            &[
                "-n",
                &ns,
                "create",
                n,
                "--no-node-check",
                "--nic",
                "mac=fa:16:3e:00:00:01,address=11.11.11.2,cidr=11.11.11.0/24",
            ],
        );
        assert_eq!(out.status.code(), Some(0));
        let patch = json!({ "metadata": { "finalizers": [multinic_api::FINALIZER] } });
        api.patch(n, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    }
    // No daemon removes the finalizer: waiting times out with advice.
    let out = plugin(&admin, &["-n", &ns, "cleanup", "c1", "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("timed out") && text(&out).1.contains("--force"));
    assert!(api.get_opt("c1").await.unwrap().is_some_and(|cr| cr.metadata.deletion_timestamp.is_some()));
    // The daemon (played here) finishes: cleanup completes.
    let patch = json!({ "metadata": { "finalizers": null } });
    api.patch("c1", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let out = plugin(&admin, &["-n", &ns, "cleanup", "c1"]);
    assert_eq!(out.status.code(), Some(0));
    // A node that is gone: --force.
    let out = plugin(&admin, &["-n", &ns, "cleanup", "c2", "--force"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).1.contains("nothing is cleaned on the host"));
    assert!(api.get_opt("c2").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_to_do() {
    let Some((cluster, ns, _admin)) = setup("errors").await else { return };
    // A user without multinic roles.
    let nobody = cluster.user_kubeconfig(&format!("nobody-{ns}"), &[]);
    let out = plugin(&nobody, &["-n", &ns, "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("multinic-view"), "{}", text(&out).1);
    // No cluster at all.
    let dead = cluster.dir.join("dead.kubeconfig");
    let kc = std::fs::read_to_string(cluster.dir.join("admin.kubeconfig"))
        .unwrap()
        .replace(&cluster.server, "https://127.0.0.1:1");
    std::fs::write(&dead, kc).unwrap();
    let out = plugin(&dead, &["-n", &ns, "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("cannot reach the cluster"), "{}", text(&out).1);
    // Every command's help has examples.
    let bin = multinic_lab::multinicd_bin().with_file_name("kubectl-multinic");
    for sub in
        [&[][..], &["create"], &["status"], &["describe"], &["cleanup"], &["add-nic"], &["remove-nic"], &["completion"]]
    {
        let out = Command::new(&bin).args(sub).arg("--help").output().unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Examples:"),
            "{sub:?} --help has no examples"
        );
    }
    // Completion scripts.
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(&bin).args(["completion", shell]).output().unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("cleanup"), "{shell}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_describe_wait_and_watch() {
    let Some((cluster, ns, admin)) = setup("edit").await else { return };
    let name = "ed1";
    let api: Api<MultiNicNodeConfig> = Api::namespaced(cluster.admin.clone(), &ns);
    let as_node: Api<MultiNicNodeConfig> = Api::namespaced(client(&cluster.node_kubeconfig(name)).await, &ns);
    let report = |generation: i64, state: &'static str| {
        json!({ "apiVersion": "multinic.io/v1alpha1", "kind": "MultiNicNodeConfig", "status": {
            "state": state, "message": format!("{state} by the test"), "observedGeneration": generation } })
    };

    // create --wait returns once the (played) daemon reports on this generation.
    let waiter = {
        let admin = admin.clone();
        let ns = ns.clone();
        tokio::task::spawn_blocking(move || {
            plugin(
                &admin,
                &[
                    "-n",
                    &ns,
                    "create",
                    name,
                    "--no-node-check",
                    "--wait",
                    "--timeout",
                    "30",
                    "--nic",
                    "mac=fa:16:3e:00:00:01,address=11.11.11.2,cidr=11.11.11.0/24",
                ],
            )
        })
    };
    let generation = multinic_lab::cluster::eventually(std::time::Duration::from_secs(30), "CR created", || async {
        api.get_opt(name).await.ok().flatten().and_then(|cr| cr.metadata.generation)
    })
    .await;
    multinic_lab::cluster::eventually(std::time::Duration::from_secs(30), "status written", || async {
        as_node
            .patch_status(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&report(generation, "Configured")),
            )
            .await
            .ok()
    })
    .await;
    let out = waiter.await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(text(&out).1.contains("Configured"));

    // add-nic / remove-nic, validated before sending.
    let out = plugin(
        &admin,
        &["-n", &ns, "add-nic", name, "--nic", "mac=fa:16:3e:00:00:02,address=11.11.11.3,cidr=11.11.11.0/24,mtu=9000"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(api.get(name).await.unwrap().spec.interfaces.len(), 2);
    let out = plugin(
        &admin,
        &["-n", &ns, "add-nic", name, "--nic", "mac=FA:16:3E:00:00:02,address=11.11.11.4,cidr=11.11.11.0/24"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("spec.interfaces[2].macAddress"));
    let out = plugin(&admin, &["-n", &ns, "remove-nic", name, "--mac", "fa:16:3e:00:00:01"]);
    assert_eq!(out.status.code(), Some(0));
    let cr = api.get(name).await.unwrap();
    assert_eq!(cr.spec.interfaces.len(), 1);
    assert_eq!(cr.spec.interfaces[0].mac_address, "fa:16:3e:00:00:02");
    let out = plugin(&admin, &["-n", &ns, "remove-nic", name, "--mac", "fa:16:3e:00:00:09"]);
    assert_eq!(out.status.code(), Some(2));
    // The routing fields: accepted by the API server, checked before sending.
    let nic = "mac=fa:16:3e:00:00:03,address=11.11.11.5,cidr=11.11.11.0/24,gateway=11.11.11.1,sourceRouting=true";
    let out = plugin(&admin, &["-n", &ns, "add-nic", name, "--nic", nic]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let added = api.get(name).await.unwrap().spec.interfaces[1].clone();
    assert_eq!((added.gateway.as_deref(), added.source_routing), (Some("11.11.11.1"), true));
    let nic = "mac=fa:16:3e:00:00:04,address=11.11.11.6,cidr=11.11.11.0/24,gateway=11.11.12.1";
    let out = plugin(&admin, &["-n", &ns, "add-nic", name, "--nic", nic]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("spec.interfaces[2].gateway: 11.11.12.1 is outside cidr"), "{}", text(&out).1);
    // A trunk's subports: VLANs on the NIC, checked before sending.
    let nic = "mac=fa:16:3e:00:00:04,address=11.11.11.6,cidr=11.11.11.0/24,vlan=100:10.100.0.6/24:1400,vlan=100:10.101.0.6/24";
    let out = plugin(&admin, &["-n", &ns, "add-nic", name, "--nic", nic]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("spec.interfaces[2].vlans[1].id: VLAN 100 is listed twice"), "{}", text(&out).1);
    let nic = "mac=fa:16:3e:00:00:04,address=11.11.11.6,cidr=11.11.11.0/24,vlan=100:10.100.0.6/24:1400";
    let out = plugin(&admin, &["-n", &ns, "add-nic", name, "--nic", nic]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let vlans = api.get(name).await.unwrap().spec.interfaces[2].vlans.clone();
    assert_eq!(
        vlans.iter().map(|v| (v.id, v.address.as_str(), v.cidr.as_str(), v.mtu)).collect::<Vec<_>>(),
        [(100, "10.100.0.6", "10.100.0.0/24", Some(1400))]
    );

    // describe: spec against status, and the section headers a reader looks for.
    let out = plugin(&admin, &["-n", &ns, "describe", name]);
    assert_eq!(out.status.code(), Some(0));
    let (stdout, _) = text(&out);
    for part in [
        "Name:          ed1",
        "Interfaces:",
        "fa:16:3e:00:00:02",
        "11.11.11.3/24",
        "9000",
        "source, gw 11.11.11.1",
        "Discovered NICs",
        "Events:",
    ] {
        assert!(stdout.contains(part), "{part} missing:\n{stdout}");
    }

    // status --watch prints a row when the status changes.
    let bin = multinic_lab::multinicd_bin().with_file_name("kubectl-multinic");
    let mut watch = std::process::Command::new(bin)
        .args(["--kubeconfig", admin.to_str().unwrap(), "-n", &ns, "status", "--watch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = multinic_lab::stdout_lines(&mut watch);
    let generation = api.get(name).await.unwrap().metadata.generation.unwrap();
    as_node
        .patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&report(generation, "Failed")))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = false;
    while std::time::Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(std::time::Duration::from_millis(200))
            && line.starts_with("ed1 ")
            && line.contains("Failed by the test")
        {
            seen = true;
            break;
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(seen, "no watch row for the change");

    // kubectl's plugin completion: node names through kubectl_complete-multinic.
    let bin_dir = multinic_lab::multinicd_bin().parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let helper = multinic_lab::repo_root().join("packaging/kubectl_complete-multinic");
    let out = std::process::Command::new(helper)
        .args(["--kubeconfig", admin.to_str().unwrap(), "-n", &ns, "describe", "e"])
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ed1\n:4\n");
}
