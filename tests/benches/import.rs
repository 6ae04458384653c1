// SPDX-License-Identifier: Apache-2.0
//! Benchmark (prints figures, asserts no timing): `kubectl multinic import` of a v2
//! database with 1000 nodes × 3 NICs (a real MariaDB, the real kube-apiserver of
//! `MULTINIC_E2E_KUBECONFIG`), whole process: the plan against an empty namespace,
//! the `--apply` that creates 1000 CRs (once), and the idempotent re-plan over
//! `BENCH_RUNS` runs (default 20). Run through `tests/bench.sh import`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use multinic_lab::bench::{env_or, report};
use multinic_lab::cluster::Cluster;
use multinic_lab::mariadb::MariaDb;

const NODES: usize = 1000;

fn import(admin: &str, ns: &str, url: &str, extra: &[&str]) -> Duration {
    let plugin = multinic_lab::multinicd_bin().with_file_name("kubectl-multinic");
    let start = Instant::now();
    let out = Command::new(plugin)
        .args(["--kubeconfig", admin, "-n", ns, "import", "--from-db", url, "--mtu", "1450", "--no-node-check"])
        .args(extra)
        .env("MULTINIC_DB_PASSWORD", "bench")
        .output()
        .unwrap();
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    took
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs = env_or("BENCH_RUNS", 20) as usize;
    let cluster = Cluster::from_env().await.expect("the benchmark needs MULTINIC_E2E_KUBECONFIG");
    let db = MariaDb::start().await.expect("the benchmark needs MariaDB (tests/setup.sh installs it)");
    let schema =
        std::fs::read_to_string(multinic_lab::repo_root().join("tests/fixtures/v2-multi_interface.sql")).unwrap();
    // The fixture's schema and user, without its rows.
    let schema: String = schema
        .lines()
        .filter(|l| !l.trim_start().starts_with('(') && !l.starts_with("INSERT"))
        .collect::<Vec<_>>()
        .join("\n");
    db.exec(&schema.replace("IDENTIFIED BY 'v2-secret'", "IDENTIFIED BY 'bench'")).await;
    let mut rows = Vec::new();
    for n in 0..NODES {
        for k in 0..3 {
            rows.push(format!(
                "('bench-{n:04}', 'fa:16:3e:{k:02x}:{:02x}:{:02x}', 1, '10.{k}.{}.{}', '255.255.0.0', NULL, NULL, 0)",
                n / 256,
                n % 256,
                n / 250,
                n % 250 + 1
            ));
        }
    }
    db.exec(&format!(
        "INSERT INTO multinic.multi_interface (attached_node_name, mac_address, netplan_success, ip_address, subnet_mask, gateway, dns, vlan) VALUES {}",
        rows.join(",")
    ))
    .await;
    let ns = format!("bench-import-{}", std::process::id());
    cluster.install_chart(&ns).await;
    let admin = cluster.dir.join("admin.kubeconfig");
    let admin = admin.to_str().unwrap();
    let url = db.url("v2reader", "multinic");

    println!("v2 database: {NODES} nodes x 3 NICs in MariaDB; real kube-apiserver");
    report("import, plan (1000 to create)", (0..runs).map(|_| import(admin, &ns, &url, &[])).collect());
    report("import --apply (creates 1000 CRs)", vec![import(admin, &ns, &url, &["--apply"])]);
    report("import, plan (1000 unchanged)", (0..runs).map(|_| import(admin, &ns, &url, &[])).collect());
    report("import --apply (nothing to write)", (0..runs).map(|_| import(admin, &ns, &url, &["--apply"])).collect());
}
