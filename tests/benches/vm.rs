// SPDX-License-Identifier: Apache-2.0
//! Benchmark (prints figures, asserts no timing) of the VM node, per backend: boot
//! to a shell, and QMP `device_add` of a NIC whose MAC is in the spec → `Configured`
//! in the CR's status, over `BENCH_ATTACHES` attaches (default 10; each is detached
//! again and seen `NotFound` before the next). Needs `MULTINIC_E2E_KUBECONFIG` of a
//! testenv kit with `TESTENV_EXTRA_SANS=IP:10.0.2.100`; run through `tests/bench.sh vm`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use multinic_api::InterfaceState;
use multinic_lab::Manager;
use multinic_lab::bench::{env_or, report};
use multinic_lab::vm::cluster::ClusterNode;

const MAC: &str = "02:00:00:00:0c:01";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let attaches = env_or("BENCH_ATTACHES", 10);
    for (manager, tag) in [(Manager::NetworkManager, "nm"), (Manager::Networkd, "networkd")] {
        let started = Instant::now();
        let node = ClusterNode::new(&format!("bench-{tag}"), manager, "5f0c1b7e-9a8d-4c6b-8e2f-3a4b5c6d7e8f")
            .await
            .expect("the benchmark needs MULTINIC_E2E_KUBECONFIG, QEMU and the .deb");
        let boot = started.elapsed();
        let nic = format!("{{id: 1, macAddress: \"{MAC}\", address: \"198.51.100.9\", cidr: \"198.51.100.0/24\"}}");
        let generation = node.create(&[nic], None).await;
        tokio::task::block_in_place(|| node.start_daemon());
        node.until_nic(generation, MAC, InterfaceState::NotFound).await;
        let mut samples = Vec::new();
        for _ in 0..attaches {
            let t = Instant::now();
            tokio::task::block_in_place(|| node.vm.attach_nic(MAC));
            node.until_nic(generation, MAC, InterfaceState::Configured).await;
            samples.push(t.elapsed());
            tokio::task::block_in_place(|| node.vm.detach_nic(MAC));
            node.until_nic(generation, MAC, InterfaceState::NotFound).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        println!(
            "{:<36} {:.1} s (boot, .deb install, kubeconfig)",
            format!("vm {tag}: node ready"),
            boot.as_secs_f64()
        );
        report(&format!("vm {tag}: device_add -> Configured"), samples);
    }
}
