// SPDX-License-Identifier: Apache-2.0
//! WIP (branch wip/vlans): the VLAN test's footing, without multinic. In a VM node,
//! two hot-attached NICs share a segment (a bridge on the host side); the second
//! NIC is moved into a guest namespace with VLAN 100 on it, the tagged peer. A
//! VLAN 100 on the first NIC reaches it; an untagged address does not. The real
//! test puts multinicd's `multinic0.100` where `a.100` is here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use multinic_lab::Manager;
use multinic_lab::vm::VmNode;

const A: &str = "02:00:00:00:0c:01";
const B: &str = "02:00:00:00:0c:02";

#[test]
fn tagged_traffic_crosses_a_shared_segment() {
    let Some(vm) = VmNode::boot(Manager::Networkd, "8b2f4e2a-1c3d-4e5f-9a0b-1c2d3e4f5a70", "vlanprobe") else {
        return;
    };
    vm.attach_nic(A);
    vm.attach_nic(B);
    vm.join_segments(&[A, B]);
    let name = |mac: &str| {
        vm.wait_for("the NIC's udev name", std::time::Duration::from_secs(60), |vm| {
            // After udev's rename: the kernel's ethN first.
            vm.link_by_mac(mac).map(|l| l["ifname"].as_str().unwrap().to_string()).filter(|n| !n.starts_with("eth"))
        })
    };
    let (a, b) = (name(A), name(B));
    vm.must(&format!(
        "modprobe 8021q && ip netns add peer && ip link set {b} netns peer && \
         ip -n peer link add link {b} name b.100 type vlan id 100 && ip -n peer addr add 10.100.0.2/24 dev b.100 && \
         ip -n peer link set {b} up && ip -n peer link set b.100 up && \
         ip link add link {a} name a.100 type vlan id 100 && ip addr add 10.100.0.1/24 dev a.100 && \
         ip link set {a} up && ip link set a.100 up"
    ));
    let (code, out) = vm.exec("ping -c 3 -W 2 10.100.0.2");
    assert_eq!(code, 0, "tagged: {out}");
    // Untagged, the peer's VLAN is not reached (arp_ignore: the peer answers ARP
    // only on the link that has the address).
    let (code, _) = vm.exec(&format!(
        "ip netns exec peer sysctl -qw net.ipv4.conf.all.arp_ignore=1 && ip addr add 10.101.0.1/24 dev {a} && \
         ip -n peer addr add 10.101.0.2/24 dev b.100 && ping -c 2 -W 1 10.101.0.2"
    ));
    assert_ne!(code, 0, "an untagged frame must not reach VLAN 100");
}
