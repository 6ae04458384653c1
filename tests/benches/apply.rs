// SPDX-License-Identifier: Apache-2.0
//! Benchmark (prints figures, asserts no timing): in a lab with a real
//! NetworkManager, then one with a real systemd-networkd, and 10 NICs, the wall time of `multinicd apply` from scratch and of
//! an idempotent re-apply, as whole processes, over `BENCH_RUNS` runs (default 20);
//! plus the D-Bus writes of a re-apply. In the networkd lab, beside it, what
//! Debian's netplan takes for the same 10 NICs: `netplan generate` + networkd's
//! `Reload`, from no files. Run through `tests/bench.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use multinic_lab::bench::{env_or, report};
use std::time::Instant;

use multinic_lab::{Lab, Manager, NM_WRITE_METHODS, nic, spec};

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let runs: usize = env_or("BENCH_RUNS", 20) as usize;
    for manager in [Manager::NetworkManager, Manager::Networkd] {
        bench(manager, runs);
    }
}

fn bench(manager: Manager, runs: usize) {
    let lab = Lab::start_with(manager)
        .expect("the benchmark needs a lab (root, NetworkManager, networkd): run tests/setup.sh");
    let mut interfaces = Vec::new();
    let mut netplan = String::from("network:\n  version: 2\n  renderer: networkd\n  ethernets:\n");
    for i in 0..10u32 {
        let mac = format!("02:00:00:00:03:{i:02x}");
        lab.add_nic(&format!("ens{}", 10 + i), &mac, 1500);
        interfaces.push(nic(i + 1, &mac, &format!("198.51.100.{}", 10 + i), "198.51.100.0/24", ", mtu: 9000"));
        netplan.push_str(&format!(
            "    nic{i}:\n      match: {{macaddress: \"{mac}\"}}\n      addresses: [198.51.100.{}/24]\n      mtu: 9000\n",
            10 + i
        ));
    }
    let file = lab.write("ten.yaml", &spec(&interfaces));
    let bin = multinic_lab::multinicd_bin();
    let run = |args: &[&str]| {
        let start = Instant::now();
        let out = lab.command(bin.to_str().unwrap()).args(args).env("MULTINIC_LOG", "warn").output().unwrap();
        let took = start.elapsed();
        assert!(out.status.success(), "multinicd {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        took
    };
    let (mut fresh, mut again) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        run(&["cleanup"]);
        fresh.push(run(&["apply", "--file", &file, "-o", "json"]));
        again.push(run(&["apply", "--file", &file, "-o", "json"]));
    }
    let monitor = lab.monitor_calls();
    run(&["apply", "--file", &file, "-o", "json"]);
    let calls = monitor.stop();
    let writes = calls.iter().filter(|m| NM_WRITE_METHODS.contains(&m.as_str())).count();
    println!(
        "multinicd {} ({}), {} lab, 10 NICs",
        bin.display(),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        manager.backend()
    );
    let fresh_p50 = p50(&fresh);
    report("apply 10 NICs from scratch", fresh);
    report("idempotent re-apply", again);
    println!("idempotent re-apply: {} D-Bus calls to the manager, {writes} of them writes", calls.len());
    if manager == Manager::Networkd {
        run(&["cleanup"]);
        let yaml = lab.write("netplan.yaml", &netplan);
        let sh = |script: &str| {
            let start = Instant::now();
            let out = lab.command("sh").args(["-c", script]).output().unwrap();
            assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
            start.elapsed()
        };
        sh(&format!("mkdir -p /etc/netplan && install -m 600 {yaml} /etc/netplan/50-bench.yaml"));
        let reload =
            "busctl call org.freedesktop.network1 /org/freedesktop/network1 org.freedesktop.network1.Manager Reload";
        let netplan: Vec<_> = (0..runs)
            .map(|_| {
                sh(&format!("rm -f /run/systemd/network/10-netplan-* && {reload}"));
                sh(&format!("netplan generate && {reload}"))
            })
            .collect();
        sh(&format!("rm -f /etc/netplan/50-bench.yaml /run/systemd/network/10-netplan-* && {reload}"));
        let ratio = fresh_p50.as_secs_f64() / p50(&netplan).as_secs_f64();
        report("netplan generate + Reload, 10 NICs", netplan);
        println!("apply from scratch / netplan generate + Reload (p50): {ratio:.2}x");
    }
}

fn p50(samples: &[std::time::Duration]) -> std::time::Duration {
    let mut s = samples.to_vec();
    s.sort();
    s[s.len() / 2]
}
