#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the packages the way a user does, on a Debian root booted with real
# systemd (systemd-nspawn), and follows their whole life there:
#   .deb: apt install (old) -> service enabled, started, READY, Configured, in
#   `systemctl status`, structured entries in `journalctl -u multinicd
#   MULTINIC_INTERFACE=…`; change the conffile, apt install (new) -> kept, restarted;
#   `multinicd cleanup`; apt remove -> stopped; purge -> config gone.
#   kubectl-multinic .deb: `kubectl multinic status` in the container says Configured.
#   .rpm: rpm -i (old) -> enabled, started, Configured; change the config, rpm -U
#   (new) -> kept, restarted; rpm -e -> stopped, disabled, config saved as .rpmsave.
#
#   packaging/test-boot.sh OLD_DIR NEW_DIR   # each holds the four packages of one version
#
# The root is Debian bullseye: glibc 2.31 (the oldest the daemon promises) and
# systemd 247. It boots in a network namespace this script creates, holding a veth
# NIC with a chosen MAC; the API server is a ../shared/testenv kit on this host's
# loopback, relayed into the namespace through a unix socket. Nothing outside that
# namespace is changed, and everything started is stopped again, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
old_dir="$(cd "${1:?usage: test-boot.sh OLD_DIR NEW_DIR}" && pwd)"
new_dir="$(cd "${2:?usage: test-boot.sh OLD_DIR NEW_DIR}" && pwd)"
suite="${MULTINIC_BOOT_SUITE:-bullseye}"
kit="${MULTINIC_TESTENV:-$repo/../shared/testenv}"
node=pkgnode
mac=02:00:00:00:aa:01
address=198.51.100.7
configured_id=6d756c74696e6963a1c0f1a9e1c0a001 # journal.rs ids::CONFIGURED; a documented contract
kubectl=("$repo/.venv/bin/kubectl")

log() { echo "test-boot: $*" >&2; }
fail() { echo "test-boot: FAIL: $*" >&2; exit 1; }
for tool in systemd-nspawn debootstrap socat jq rpm; do
  command -v "$tool" >/dev/null || fail "$tool is missing (packaging/setup.sh installs it)"
done
[ -x "$kit/start.sh" ] || fail "no testenv kit at $kit"
[ -x "${kubectl[0]}" ] || fail "${kubectl[0]} is missing (packaging/setup.sh installs it)"

version_in() { # the version of the multinicd .deb in a directory
  local f; f="$(basename "$(ls "$1"/multinicd_*_amd64.deb)")"; f="${f#multinicd_}"; echo "${f%-1_amd64.deb}"
}
old="$(version_in "$old_dir")" new="$(version_in "$new_dir")"
[ "$old" != "$new" ] || fail "old and new packages have the same version ($old)"

# --- the Debian root, built once and cached ---
include=systemd,systemd-sysv,dbus,libpam-systemd,iproute2,rpm
cache="${MULTINIC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/multinic}"
tarball="$cache/$suite-$(echo "$include" | sha256sum | cut -c1-12).tar.gz"
if [ ! -f "$tarball" ]; then
  log "building a $suite root (debootstrap, once; cached as $tarball)"
  mkdir -p "$cache"
  build="$(mktemp -d)"
  debootstrap --variant=minbase --include="$include" "$suite" "$build/root" http://deb.debian.org/debian >"$build/log" 2>&1 ||
    { tail -n 20 "$build/log" >&2; rm -rf "$build"; fail "debootstrap $suite failed"; }
  rm -f "$build"/root/var/cache/apt/archives/*.deb
  tar -C "$build/root" -czf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf "$build"
fi

work="$(mktemp -d /tmp/multinic-boot.XXXXXX)"
machine="multinic-boot-$$"
netns="multinic-boot-$$"
nspawn_pid="" ct="" relay_pids=()
cleanup() {
  local rc=$?
  set +e # every step runs, whatever the one before did
  if [ "$rc" -ne 0 ] && [ -n "$ct" ]; then
    echo "test-boot: the container's multinicd journal:" >&2
    nsenter -t "$ct" -a journalctl -u multinicd -n 30 --no-pager >&2 || true
  fi
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid" 2>/dev/null || true # nspawn halts the container
    for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$nspawn_pid" 2>/dev/null || true
    # PID 1 of the container's PID namespace: killing it ends every process in it.
    [ -n "$ct" ] && kill -KILL "$ct" 2>/dev/null
  fi
  for pid in "${relay_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -d "$work/kit" ] && RESET=1 "$kit/stop.sh" "$work/kit" >/dev/null 2>&1
  ip netns del "$netns" 2>/dev/null || true
  for h in systemd unified; do
    [ -d "/sys/fs/cgroup/$h/$machine" ] && find "/sys/fs/cgroup/$h/$machine" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "/run/systemd/nspawn/propagate/$machine" "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the cluster: a real API server with the chart and this node's CR ---
log "starting the API server (testenv)"
admin_kc="$("$kit/start.sh" "$work/kit" 2>"$work/kit.log")" || { cat "$work/kit.log" >&2; fail "testenv did not start"; }
node_kc="$("$kit/node-kubeconfig.sh" "$work/kit" "$node" 2>/dev/null)"
server="$(sed -n 's/^TESTENV_SERVER=//p' "$work/kit/env")"
port="${server##*:}"
"$repo/.venv/bin/python" charts/render.py >"$work/chart.yaml"
"${kubectl[@]}" --kubeconfig "$admin_kc" apply --server-side -f "$work/chart.yaml" >/dev/null
cat >"$work/cr.yaml" <<EOF
apiVersion: multinic.io/v1alpha1
kind: MultiNicNodeConfig
metadata: {name: $node, namespace: multinic-system}
spec:
  nodeName: $node
  interfaces:
    - {id: 1, macAddress: "$mac", address: $address, cidr: 198.51.100.0/24, mtu: 1400}
EOF
for _ in $(seq 50); do # the CRD needs a moment to be served
  "${kubectl[@]}" --kubeconfig "$admin_kc" apply -f "$work/cr.yaml" >/dev/null 2>&1 && break
  sleep 0.2
done
"${kubectl[@]}" --kubeconfig "$admin_kc" get -n multinic-system multinicnodeconfig "$node" >/dev/null

# --- the network namespace: one hot-attached NIC, and the API server relayed in ---
ip netns add "$netns"
ip -n "$netns" link set lo up
ip -n "$netns" link add ens7 address "$mac" type veth peer name peer7
ip -n "$netns" link set peer7 up
socat "UNIX-LISTEN:$work/api.sock,fork" "TCP:127.0.0.1:$port" </dev/null >/dev/null 2>&1 &
relay_pids+=($!)
ip netns exec "$netns" socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$work/api.sock" </dev/null >/dev/null 2>&1 &
relay_pids+=($!)

# --- boot ---
root="$work/root"
mkdir "$root"
tar -C "$root" -xzf "$tarball"
echo "$node" >"$root/etc/hostname"
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
mkdir -p "$root/etc/kubernetes" "$root/root"
# No kubelet.conf yet: the node has not joined (it is placed after the install).
cp "$admin_kc" "$root/root/admin.kubeconfig"
for h in systemd unified; do mkdir -p "/sys/fs/cgroup/$h/$machine"; done
console_log="$work/console.log"
# Its own cgroup (LAB-FACTS): nspawn then sets up the container's below it.
# CAP_NET_ADMIN: networkd and multinicd need it; the netns is this script's own.
(
  echo "$BASHPID" >"/sys/fs/cgroup/systemd/$machine/cgroup.procs"
  echo "$BASHPID" >"/sys/fs/cgroup/unified/$machine/cgroup.procs"
  export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
  exec systemd-nspawn -D "$root" -b --machine="$machine" --register=no --keep-unit \
    --network-namespace-path="/run/netns/$netns" --capability=CAP_NET_ADMIN \
    --bind-ro="$old_dir:/packages/old" --bind-ro="$new_dir:/packages/new"
) </dev/null >"$console_log" 2>&1 &
nspawn_pid=$!
for _ in $(seq 100); do
  ct="$(pgrep -P "$nspawn_pid" | head -n 1 || true)"
  [ -n "$ct" ] && [ "$(readlink "/proc/$ct/exe" 2>/dev/null)" != "$(readlink /proc/$nspawn_pid/exe)" ] && break
  ct=""; sleep 0.1
done
[ -n "$ct" ] || { tail -n 20 "$console_log" >&2; fail "the container did not start"; }
in_ct() { nsenter -t "$ct" -a "$@"; }
state=""
for _ in $(seq 300); do # until its manager answers on its bus, then until boot is done
  state="$(in_ct timeout 60 systemctl is-system-running --wait 2>/dev/null || true)"
  [ -n "$state" ] && break
  sleep 0.2
done
[ "$state" = running ] || { in_ct systemctl --failed --no-pager >&2 || true; fail "container boot ended $state"; }
log "booted $suite: systemd $(in_ct systemctl --version | head -n 1 | cut -d' ' -f2), glibc $(in_ct ldd --version | head -n 1 | awk '{print $NF}')"

apt_ct() { in_ct env DEBIAN_FRONTEND=noninteractive apt-get -qq -y "$@" >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; fail "apt-get $*"; }; }
show() { in_ct systemctl show multinicd -p "$1" --value; }
# Waits until the service is active (for Type=notify: READY=1 was received) and says
# every interface is configured; prints its main PID.
service_configured() {
  for _ in $(seq 150); do
    if [ "$(show ActiveState)" = active ] && [[ "$(show StatusText)" == Configured:* ]]; then
      show MainPID
      return
    fi
    sleep 0.2
  done
  in_ct systemctl status multinicd --no-pager >&2 || true
  fail "multinicd not active and Configured (ActiveState=$(show ActiveState), Status=$(show StatusText))"
}
nic_configured() {
  local j
  j="$(ip -n "$netns" -j addr show dev multinic0 2>/dev/null)" || fail "no multinic0 in the container's namespace"
  [ "$(jq -r '.[0].address' <<<"$j")" = "$mac" ] || fail "multinic0 has MAC $(jq -r '.[0].address' <<<"$j")"
  [ "$(jq -r '.[0].mtu' <<<"$j")" = 1400 ] || fail "multinic0 MTU $(jq -r '.[0].mtu' <<<"$j")"
  jq -e --arg a "$address" '.[0].addr_info[] | select(.local == $a and .prefixlen == 24)' <<<"$j" >/dev/null ||
    fail "multinic0 lacks $address/24"
}

# --- .deb: install the old version ---
log "apt install multinicd $old"
apt_ct install "/packages/old/multinicd_${old}-1_amd64.deb"
[ "$(in_ct systemctl is-enabled multinicd)" = enabled ] || fail "not enabled after install"
# A node that has not joined yet: the service is up and says what it waits for,
# and stays up (no restarts into the start limit) until the kubeconfig appears.
waiting=""
for _ in $(seq 100); do
  waiting="$(show StatusText)"
  [[ "$waiting" == "waiting for /etc/kubernetes/kubelet.conf"* ]] && break
  sleep 0.2
done
[[ "$waiting" == "waiting for /etc/kubernetes/kubelet.conf"* ]] || fail "multinicd does not say it waits for the kubeconfig: $waiting"
sleep 12 # longer than RestartSec: a daemon that exited would have been restarted
[ "$(show ActiveState)" = active ] && [ "$(show NRestarts)" = 0 ] ||
  fail "without a kubeconfig: ActiveState=$(show ActiveState) NRestarts=$(show NRestarts)"
log "deb $old without a kubeconfig: active, $waiting"
cp "$node_kc" "$root/etc/kubernetes/kubelet.conf"
# networkd reads the package's networkd.conf.d drop-in only when it starts: until
# then multinicd configures nothing and says so (README); then it goes ahead.
refused=""
for _ in $(seq 100); do
  refused="$(show StatusText)"
  [[ "$refused" == *NetworkdSettings* ]] && break
  sleep 0.2
done
[[ "$refused" == *NetworkdSettings* ]] || fail "multinicd did not refuse before networkd's restart: $refused"
in_ct journalctl -u multinicd --no-pager | grep -q "systemd-networkd started before its configuration" ||
  fail "the journal does not say that systemd-networkd must be restarted"
in_ct systemctl restart systemd-networkd
pid_old="$(service_configured)"
nic_configured
status="$(in_ct systemctl status multinicd --no-pager || true)"
grep -q 'Active: active (running)' <<<"$status" || fail "systemctl status: $status"
grep -q 'Status: "Configured: 1/1' <<<"$status" || fail "systemctl status lacks the STATUS line: $status"
[ "$(show WatchdogUSec)" = 1min ] || fail "WatchdogUSec=$(show WatchdogUSec)"
entries="$(in_ct journalctl -u multinicd MULTINIC_INTERFACE=multinic0 -o json --no-pager)"
jq -e --arg mac "$mac" --arg id "$configured_id" --arg node "$node" 'select(
    .MESSAGE_ID == $id and .MULTINIC_MAC == $mac and .MULTINIC_NODE == $node and .PRIORITY == "6"
    and .MULTINIC_BACKEND == "networkd" and .MULTINIC_GENERATION == "1" and .MULTINIC_ADDRESS == "198.51.100.7/24"
    and .MESSAGE == "multinic0 (" + $mac + "): configured" and ._SYSTEMD_UNIT == "multinicd.service")' \
  <<<"$entries" >/dev/null || fail "journalctl -u multinicd MULTINIC_INTERFACE=multinic0 has no structured 'configured' entry:
$entries"
[ "$(in_ct journalctl -u multinicd MESSAGE_ID=$configured_id -o cat --no-pager | head -n 1)" = "multinic0 ($mac): configured" ] ||
  fail "journalctl MESSAGE_ID=$configured_id does not find the entry"
exposure="$(in_ct systemd-analyze security multinicd --no-pager 2>/dev/null | sed -n 's/.*Overall exposure level for multinicd.service: //p')"
log "deb $old: active, READY, Configured; journal entries structured; exposure on systemd 247: $exposure"

# --- the plugin, from its package, against the same cluster ---
apt_ct install "/packages/new/kubectl-multinic_${new}-1_amd64.deb"
out="$(in_ct kubectl-multinic status "$node" --kubeconfig /root/admin.kubeconfig --no-headers)" ||
  fail "kubectl multinic status exit $?: $out"
grep -Eq "^$node +Configured" <<<"$out" || fail "kubectl multinic status: $out"

# --- .deb: upgrade keeps a changed conffile and restarts ---
echo "resyncInterval: 2m   # changed by the operator" >>"$root/etc/multinic/multinicd.yaml"
log "apt install multinicd $new (upgrade)"
apt_ct install "/packages/new/multinicd_${new}-1_amd64.deb"
[ "$(in_ct dpkg-query -W -f='${Version}' multinicd)" = "$new-1" ] || fail "not upgraded"
grep -q 'changed by the operator' "$root/etc/multinic/multinicd.yaml" || fail "upgrade replaced the changed conffile"
[ "$(in_ct multinicd config --get resyncInterval)" = 2m ] || fail "the kept conffile is not in effect"
pid_new="$(service_configured)"
[ "$pid_new" != "$pid_old" ] || fail "upgrade did not restart multinicd (PID $pid_old)"
nic_configured

# --- .deb: the documented way out: stop, cleanup, remove, purge ---
in_ct systemctl stop multinicd
in_ct multinicd cleanup >"$work/cleanup.log" 2>&1 || { cat "$work/cleanup.log" >&2; fail "multinicd cleanup"; }
! ip -n "$netns" link show multinic0 >/dev/null 2>&1 || fail "multinic0 still there after cleanup"
apt_ct remove multinicd
[ "$(show ActiveState)" = inactive ] || fail "still $(show ActiveState) after remove"
[ -f "$root/etc/multinic/multinicd.yaml" ] || fail "remove deleted the configuration"
apt_ct purge multinicd
[ ! -e "$root/etc/multinic" ] || fail "purge left /etc/multinic"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/multinicd.service" ] || fail "purge left the unit enabled"
log "deb: upgrade kept the changed conffile and restarted; cleanup, remove, purge ok"

# --- .rpm: the same life through rpm's scriptlets ---
rpm_ct() { in_ct rpm --nodeps "$@" >"$work/rpm.log" 2>&1 || { cat "$work/rpm.log" >&2; fail "rpm $*"; }; }
log "rpm -i multinicd $old"
rpm_ct -i "/packages/old/multinicd-${old}-1.x86_64.rpm"
[ "$(in_ct systemctl is-enabled multinicd)" = enabled ] || fail "rpm: not enabled after install"
pid_old="$(service_configured)"
nic_configured
echo "resyncInterval: 3m   # changed by the operator" >>"$root/etc/multinic/multinicd.yaml"
rpm_ct -U "/packages/new/multinicd-${new}-1.x86_64.rpm"
[ "$(in_ct rpm -q --qf '%{VERSION}' multinicd)" = "$new" ] || fail "rpm: not upgraded"
grep -q 'resyncInterval: 3m' "$root/etc/multinic/multinicd.yaml" || fail "rpm -U replaced the changed config"
pid_new="$(service_configured)"
[ "$pid_new" != "$pid_old" ] || fail "rpm -U did not restart multinicd"
rpm_ct -e multinicd
[ "$(show ActiveState)" = inactive ] || fail "rpm -e left it $(show ActiveState)"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/multinicd.service" ] || fail "rpm -e left the unit enabled"
grep -q 'resyncInterval: 3m' "$root/etc/multinic/multinicd.yaml.rpmsave" || fail "rpm -e did not keep the changed config as .rpmsave"
log "rpm: install started it, upgrade kept the config and restarted, erase stopped and disabled it"
log "ok ($suite, glibc $(in_ct ldd --version | head -n 1 | awk '{print $NF}'))"
