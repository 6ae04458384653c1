#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# lab.sh - throwaway NetworkManager / systemd-networkd lab in private Linux namespaces.
#
# A lab is a private net+mount+pid+uts+ipc namespace set with its own init (PID 1),
# its own D-Bus system bus and a real NetworkManager, plus veth NICs with chosen MACs.
# Must run as root. Never touches the host's network: every `ip` command runs inside
# a namespace created here.
#
# INTERFACE (stable; used by the Rust harness and the demo)
#
#   lab.sh up STATEDIR
#       Creates STATEDIR if needed, starts a lab in the background and waits until it is
#       ready: dbus-daemon up, NetworkManager running and `nm-online -s` done, eth0
#       configured by NM (192.0.2.10/24, `default via 192.0.2.1 dev eth0`).
#       stdout: exactly one line, the host PID of the lab's PID-1 init.  Exit 0.
#       On failure: error + tails of the logs on stderr, everything torn down, exit 1.
#       Files in STATEDIR: pid (= the printed PID), nm.log (NetworkManager --debug),
#       dbus.log, init.log (lab init), supervisor.log. Logs are kept after `down`.
#       Env:  LAB_MANAGER       networkmanager (default), networkd, both (NM configures
#                               eth0, networkd runs beside it) or none (bus only)
#             LAB_PRIMARY_MAC   MAC of eth0 (default 02:00:00:00:00:01)
#             LAB_NM_LOG_LEVEL  NM --log-level (default INFO; TRACE/DEBUG for diagnosis)
#             LAB_NM_STOCK      1: NetworkManager.conf without no-auto-default=*, as
#                               distributions ship it (a new NIC gets "Wired connection N"
#                               with DHCP)
#             LAB_UP_TIMEOUT    seconds to wait for readiness (default 30)
#             LAB_OWNER_PID     optional host PID; when it dies the lab tears itself down
#                               (polled once a second). The Rust harness should pass its
#                               own PID (std::process::id()).
#
#   lab.sh add-nic PID NAME MAC [MTU] [--no-carrier]
#       Hot-attaches a veth NIC NAME (MAC, MTU default 1500) to the lab. Its peer lives in
#       the lab-private netns "peers" and is set UP (lab side gets carrier), unless
#       --no-carrier (peer stays DOWN). The lab side is left DOWN and unconfigured
#       (NetworkManager brings managed NICs UP by itself, without an address).
#
#   lab.sh del-nic PID NAME
#       Deletes NIC NAME (and its peer).
#
#   lab.sh dhcp PID NAME PREFIX
#       A DHCP server on NIC NAME's segment, as an OpenStack subnet has: the peer end gets
#       PREFIX.1/24 and dnsmasq (in netns "peers") leases PREFIX.100-199 offering PREFIX.1
#       as router. It stops with the lab.
#
#   lab.sh segment PID NAME ADDRESS/PREFIX
#       The peer end of NIC NAME (in netns "peers") gets ADDRESS/PREFIX: a router on the
#       NIC's segment.
#
#   lab.sh ra PID NAME PREFIX
#       IPv6 router advertisements on NIC NAME's segment: the peer end gets PREFIX::1/64
#       and dnsmasq (in netns "peers") advertises PREFIX::/64 for SLAAC. It stops with
#       the lab.
#
#   lab.sh carrier PID NAME on|off
#       Sets the peer end of NIC NAME up or down: NAME gains or loses carrier.
#
#   lab.sh exec PID CMD [ARGS...]
#       Runs CMD inside all of the lab's namespaces (nsenter -t PID -a); stdin/stdout/
#       stderr and the exit code pass through. The working directory stays the caller's
#       (the lab sees the host's file system except its private /etc, /run, /sys and
#       /var/lib/NetworkManager).
#
#   lab.sh down PID [STATEDIR]
#       SIGTERMs the init (it stops NetworkManager and dbus-daemon and exits; the
#       namespaces and veths die with it), waits until PID is gone (SIGKILL after ~5 s).
#       Exit 0, also when the lab is already gone. With STATEDIR, removes STATEDIR/pid.
#
# Exit codes: 0 ok, 1 failure, 2 usage error / PID is not a lab init.
#
# Inside a lab: hostname "lab"; lo up; eth0 = veth with LAB_PRIMARY_MAC, keyfile profile
# "primary" (uuid 5ea1ab00-0000-4000-8000-000000000001, interface-name=eth0, static
# 192.0.2.10/24, gateway 192.0.2.1, ipv6 disabled); eth0's peer in netns "peers" holds
# 192.0.2.1/24. NetworkManager.conf: plugins=keyfile, no-auto-default=*, dns=none,
# rc-manager=unmanaged, hostname-mode=none, auth-polkit=root-only. /etc is an overlay
# (upper on tmpfs) with a fresh /etc/NetworkManager; /run and /var/lib/NetworkManager are
# tmpfs; /sys is a read-only sysfs (otherwise NM waits for udev forever).
#
# Host process tree of one lab:
#   bash lab.sh __lab_supervise__ DIR   (own session; watches LAB_OWNER_PID)
#     `- unshare ... --kill-child=SIGTERM  (pdeathsig KILL: dies with the supervisor)
#          `- bash lab.sh __lab_init__ DIR   <- the printed PID; PID 1 in the lab
#               |- dbus-daemon --system --nofork --nopidfile --nosyslog
#               |- NetworkManager --no-daemon --debug
#               `- sleep infinity
# Killing any of the three host-side processes brings the whole lab down.

set -u
SELF=$(readlink -f "${BASH_SOURCE[0]}")
INIT_TOKEN=__lab_init__
SUP_TOKEN=__lab_supervise__
PRIMARY_UUID=5ea1ab00-0000-4000-8000-000000000001

die()   { printf 'lab.sh: %s\n' "$*" >&2; exit 1; }
usage() {
    printf 'lab.sh: %s\n' "$*" >&2
    printf 'usage: lab.sh up STATEDIR | down PID [STATEDIR] | exec PID CMD... |\n' >&2
    printf '              add-nic PID NAME MAC [MTU] [--no-carrier] | del-nic PID NAME |\n' >&2
    printf '              carrier PID NAME on|off | dhcp PID NAME PREFIX\n' >&2
    printf '(see the header of %s)\n' "$SELF" >&2
    exit 2
}
now_ms() { local t=${EPOCHREALTIME/./}; echo $(( t / 1000 )); }

# --- helpers on host PIDs ----------------------------------------------------------
# state letter of a PID ("" if gone)
pid_state() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    s=${s##*) }; echo "${s%% *}"
}
alive() { local s; s=$(pid_state "$1"); [[ -n $s && $s != Z && $s != X ]]; }
ppid_of() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0; s=${s##*) }; s=${s#* }; echo "${s%% *}"; }
has_token() {  # PID TOKEN: is TOKEN one of PID's argv words?
    local a
    [[ -r /proc/$1/cmdline ]] || return 1
    while IFS= read -r -d '' a; do [[ $a == "$2" ]] && return 0; done <"/proc/$1/cmdline"
    return 1
}
is_lab_init() {
    [[ $1 =~ ^[0-9]+$ ]] && has_token "$1" "$INIT_TOKEN" || return 1
    # must live in namespaces other than ours (never act on the host's network)
    local a b
    a=$(readlink "/proc/$1/ns/net" 2>/dev/null) && b=$(readlink /proc/self/ns/net) || return 1
    [[ $a != "$b" ]] || return 1
    a=$(readlink "/proc/$1/ns/pid" 2>/dev/null) && b=$(readlink /proc/self/ns/pid) || return 1
    [[ $a != "$b" ]]
}
need_lab() {
    [[ ${1:-} =~ ^[0-9]+$ ]] || usage "PID expected, got '${1:-}'"
    is_lab_init "$1" || { printf 'lab.sh: %s is not a running lab init\n' "$1" >&2; exit 2; }
}
wait_gone() {  # PID TIMEOUT_MS
    local end=$(( $(now_ms) + $2 ))
    while alive "$1"; do
        (( $(now_ms) >= end )) && return 1
        sleep 0.01
    done
}

# --- down --------------------------------------------------------------------------
do_down() {  # PID
    local pid=$1 un sup
    if ! alive "$pid"; then return 0; fi
    if ! is_lab_init "$pid"; then
        printf 'lab.sh down: PID %s is not a lab init (lab already gone?); nothing done\n' "$pid" >&2
        return 0
    fi
    un=$(ppid_of "$pid"); sup=
    [[ -n $un ]] && sup=$(ppid_of "$un")
    [[ -n $sup ]] && ! has_token "$sup" "$SUP_TOKEN" && sup=
    kill -TERM "$pid" 2>/dev/null
    if ! wait_gone "$pid" 5000; then
        printf 'lab.sh down: init %s ignored SIGTERM for 5 s, sending SIGKILL\n' "$pid" >&2
        kill -KILL "$pid" 2>/dev/null
        wait_gone "$pid" 3000 || die "down: PID $pid survived SIGKILL"
    fi
    # unshare and the supervisor follow within milliseconds
    [[ -n $un ]] && wait_gone "$un" 1000
    [[ -n $sup ]] && { wait_gone "$sup" 1000 || kill -KILL "$sup" 2>/dev/null; }
    return 0
}

cmd_down() {
    local pid=${1:-} dir=${2:-}
    [[ $pid =~ ^[0-9]+$ ]] || usage "down PID [STATEDIR]"
    do_down "$pid"
    if [[ -n $dir && -f $dir/pid && $(cat "$dir/pid" 2>/dev/null) == "$pid" ]]; then
        rm -f "$dir/pid"
    fi
    return 0
}

# --- up ----------------------------------------------------------------------------
log_tails() {
    local dir=$1 f
    for f in nm.log init.log dbus.log supervisor.log; do
        [[ -s $dir/$f ]] || continue
        printf -- '--- last lines of %s ---\n' "$dir/$f" >&2
        tail -n "$([[ $f == nm.log ]] && echo 40 || echo 15)" "$dir/$f" >&2
    done
}

cmd_up() {
    [[ $# -eq 1 && -n $1 ]] || usage "up STATEDIR"
    (( EUID == 0 )) || die "up: must run as root"
    mkdir -p -- "$1" || die "up: cannot create $1"
    local dir old
    dir=$(readlink -f -- "$1")
    if [[ -f $dir/pid ]]; then
        old=$(cat "$dir/pid" 2>/dev/null)
        if [[ -n $old ]] && is_lab_init "$old"; then
            die "up: a lab (PID $old) is already running with state dir $dir"
        fi
    fi
    if [[ -n ${LAB_OWNER_PID:-} ]]; then
        [[ $LAB_OWNER_PID =~ ^[0-9]+$ ]] && alive "$LAB_OWNER_PID" ||
            die "up: LAB_OWNER_PID='$LAB_OWNER_PID' is not a running process"
    fi
    rm -f "$dir/pid"
    : >"$dir/nm.log"; : >"$dir/dbus.log"; : >"$dir/init.log"; : >"$dir/supervisor.log"

    local timeout=${LAB_UP_TIMEOUT:-30} rd sup init= line reason= t0
    t0=$(now_ms)
    # The supervisor reports "pid N"; the init reports "ready" or "fail REASON" on the pipe.
    exec {rd}< <(exec setsid bash "$SELF" "$SUP_TOKEN" "$dir" </dev/null 2>>"$dir/supervisor.log")
    sup=$!

    up_abort() {
        [[ -n $reason ]] || reason=$1
        printf 'lab.sh up: lab start failed: %s\n' "$reason" >&2
        if [[ -n $init ]]; then do_down "$init"
        else kill -TERM "$sup" 2>/dev/null; wait_gone "$sup" 5000 || kill -KILL "$sup" 2>/dev/null
        fi
        log_tails "$dir"
        exit 1
    }
    trap 'up_abort "interrupted"' INT TERM HUP

    local end=$(( t0 + timeout * 1000 )) left
    while :; do
        left=$(( end - $(now_ms) ))
        (( left > 0 )) || up_abort "not ready after ${timeout}s"
        local rc=0
        IFS= read -r -t "$(( left / 1000 )).$(printf '%03d' $(( left % 1000 )))" -u "$rd" line || rc=$?
        if (( rc > 128 )); then up_abort "not ready after ${timeout}s"
        elif (( rc != 0 )); then up_abort "lab init exited before it was ready"
        fi
        case $line in
            "pid "*) init=${line#pid } ;;
            ready)   break ;;
            "fail "*) reason=${line#fail }; up_abort "$reason" ;;
        esac
    done
    exec {rd}<&-
    [[ -n $init ]] && is_lab_init "$init" || up_abort "init PID unknown or not running"
    trap - INT TERM HUP
    echo "$init" >"$dir/pid"
    printf 'lab ready in %d ms: init %s, state %s\n' $(( $(now_ms) - t0 )) "$init" "$dir" >>"$dir/supervisor.log"
    echo "$init"
}

# --- supervisor (host side, own session) --------------------------------------------
# Close every fd > 2 inherited from the caller (except bash's own script fd), so the
# long-lived lab never holds the caller's pipes open (Command::output() would hang).
close_inherited_fds() {
    local f t fds=()
    for f in /proc/self/fd/*; do fds+=("${f##*/}"); done
    for f in "${fds[@]}"; do
        (( f > 2 )) || continue
        t=$(readlink "/proc/self/fd/$f" 2>/dev/null) || continue
        [[ $t == "$SELF" ]] && continue
        exec {f}>&-
    done
}

cmd_supervise() {
    local dir=$1 u init= i t= owner=${LAB_OWNER_PID:-}
    close_inherited_fds
    trap '' PIPE
    # pdeathsig: if this supervisor dies, unshare is killed and --kill-child TERMs init.
    setpriv --pdeathsig KILL \
        unshare --net --mount --pid --uts --ipc --fork --mount-proc --kill-child=SIGTERM \
        bash "$SELF" "$INIT_TOKEN" "$dir" &
    u=$!
    for ((i = 0; i < 1000; i++)); do
        read -r init _ <"/proc/$u/task/$u/children" 2>/dev/null
        [[ -n $init ]] && break
        alive "$u" || break
        sleep 0.005
    done
    if [[ -z $init ]]; then
        echo "fail could not determine the lab init PID (unshare failed? see supervisor.log)"
        wait "$u"; exit 1
    fi
    echo "pid $init" || { kill -TERM "$init"; }
    exec >/dev/null
    if [[ -n $owner ]]; then
        setpriv --pdeathsig KILL tail --pid="$owner" -f /dev/null </dev/null &
        t=$!
    fi
    wait -n "$u" ${t:+"$t"}
    if alive "$u"; then
        echo "supervisor: owner PID $owner is gone, stopping lab init $init" >&2
        kill -TERM "$init" 2>/dev/null
        wait_gone "$init" 5000 || kill -KILL "$init" 2>/dev/null
    fi
    [[ -n $t ]] && kill "$t" 2>/dev/null
    wait
    echo "supervisor: lab init $init has exited" >&2
}

# --- init: PID 1 inside the lab ------------------------------------------------------
cmd_init() {
    local dir=$1 mac=${LAB_PRIMARY_MAC:-02:00:00:00:00:01} timeout=${LAB_UP_TIMEOUT:-30}
    # fd 3: report pipe to `up`; open the logs before /run etc. are replaced
    exec 3>&1 1>>"$dir/init.log" 2>&1 </dev/null
    exec 4>>"$dir/nm.log" 5>>"$dir/dbus.log"
    NM_PID= NETWORKD_PID= DBUS_PID= SLEEP_PID=
    local t0; t0=$(now_ms)
    log() { printf '[init +%dms] %s\n' $(( $(now_ms) - t0 )) "$*"; }
    trap '' PIPE
    trap 'shutdown 0' TERM INT HUP
    shutdown() {
        trap '' TERM INT HUP
        log "shutting down"
        if [[ -n $NM_PID ]]; then
            kill -TERM "$NM_PID" 2>/dev/null
            wait_gone "$NM_PID" 3000 || kill -KILL "$NM_PID" 2>/dev/null
        fi
        if [[ -n $NETWORKD_PID ]]; then
            kill -TERM "$NETWORKD_PID" 2>/dev/null
            wait_gone "$NETWORKD_PID" 3000 || kill -KILL "$NETWORKD_PID" 2>/dev/null
        fi
        if [[ -n $DBUS_PID ]]; then
            kill -TERM "$DBUS_PID" 2>/dev/null
            wait_gone "$DBUS_PID" 1000
        fi
        log "bye"
        exit "$1"   # PID 1 exits: the kernel kills the rest, the namespaces die
    }
    fail() { log "FAIL: $*"; printf 'fail %s\n' "$*" >&3; shutdown 1; }
    run() { "$@" || fail "command failed: $*"; }

    local manager=${LAB_MANAGER:-networkmanager}
    case $manager in networkmanager | networkd | both | none) ;; *) fail "LAB_MANAGER=$manager: use networkmanager, networkd, both or none" ;; esac
    wait_primary() {
        local i
        for ((i = 0; i < 1000; i++)); do
            if [[ $(ip -4 -o addr show dev eth0) == *" 192.0.2.10/24 "* &&
                  $(ip route show default) == *"default via 192.0.2.1 dev eth0"* ]]; then
                return 0
            fi
            sleep 0.01
        done
        fail "eth0 not configured by $1 ($(ip -br addr show dev eth0); $(ip route show default))"
    }
    start_networkmanager() {
        NetworkManager --no-daemon --debug --log-level="${LAB_NM_LOG_LEVEL:-INFO}" \
            >&4 2>&4 3>&- 4>&- 5>&- &
        NM_PID=$!
        log "NetworkManager $NM_PID started"
        nm-online -s -q -t "$timeout" 3>&- 4>&- 5>&- &
        local online=$! done_pid= rc=0
        wait -n -p done_pid "$online" "$NM_PID" || rc=$?
        if [[ $done_pid != "$online" ]]; then
            kill "$online" 2>/dev/null
            fail "NetworkManager exited with status $rc during startup"
        fi
        (( rc == 0 )) || fail "nm-online -s failed with status $rc (NetworkManager startup not complete)"
        alive "$NM_PID" || fail "NetworkManager exited"
        log "nm-online -s done"
        wait_primary NetworkManager
        log "eth0 configured by NetworkManager"
    }
    start_networkd() {
        run mkdir -p /etc/systemd/network /run/systemd/netif
        # Start clearly after the drop-in was installed (multinicd tells the two apart
        # to about 20 ms).
        sleep 0.1
        run chown systemd-network:systemd-network /run/systemd/netif
        # the lab's primary, only when networkd is the one that configures it
        if [[ $manager == networkd ]]; then
            # metric 100, as NetworkManager gives it: a route of a secondary NIC may be better
            printf '%s\n' '# written by lab.sh' '[Match]' 'Name=eth0' '' '[Network]' 'Address=192.0.2.10/24' \
                'LinkLocalAddressing=no' 'IPv6AcceptRA=no' '' '[Route]' 'Gateway=192.0.2.1' 'Metric=100' \
                >/etc/systemd/network/10-lab-primary.network || fail "writing primary .network"
        fi
        /lib/systemd/systemd-networkd >>"$dir/networkd.log" 2>&1 3>&- 4>&- 5>&- &
        NETWORKD_PID=$!
        log "systemd-networkd $NETWORKD_PID started"
        local i
        for ((i = 0; i < 1000; i++)); do
            busctl --system --acquired list 2>/dev/null | grep -q '^org.freedesktop.network1 ' && break
            alive "$NETWORKD_PID" || fail "systemd-networkd exited (see networkd.log)"
            sleep 0.01
        done
        busctl --system --acquired list 2>/dev/null | grep -q '^org.freedesktop.network1 ' ||
            fail "systemd-networkd never appeared on the bus (see networkd.log)"
        if [[ $manager == networkd ]]; then wait_primary systemd-networkd; fi
        log "systemd-networkd on the bus"
    }

    cd / || fail "cd /"
    log "lab init (host state dir $dir)"
    run mount -n --make-rprivate /
    run mount -n -t sysfs -o ro,nosuid,nodev,noexec sysfs /sys
    run mount -n -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
    run mkdir -p /run/lab/etc.upper /run/lab/etc.work /run/dbus /run/NetworkManager /run/lock
    if ! mount -n -t overlay overlay \
            -o lowerdir=/etc,upperdir=/run/lab/etc.upper,workdir=/run/lab/etc.work /etc; then
        log "overlayfs failed, using a tmpfs copy of /etc"
        run mkdir -p /run/lab/etc
        run cp -a /etc/. /run/lab/etc/
        run mount -n --bind /run/lab/etc /etc
    fi
    run mount -n -t tmpfs -o mode=0700,nosuid,nodev tmpfs /var/lib/NetworkManager
    echo lab >/proc/sys/kernel/hostname || fail "cannot set hostname"

    # fresh NetworkManager config, no host profiles, no dispatcher scripts
    run rm -rf /etc/NetworkManager
    run mkdir -p /etc/NetworkManager/conf.d /etc/NetworkManager/system-connections \
        /etc/NetworkManager/dispatcher.d
    # stock NetworkManager: a profile of its own, with DHCP, on every new NIC
    local no_auto_default='no-auto-default=*'
    [[ ${LAB_NM_STOCK:-} == 1 ]] && no_auto_default='# no-auto-default: stock (LAB_NM_STOCK=1)'
    cat >/etc/NetworkManager/NetworkManager.conf <<EOF || fail "writing NetworkManager.conf"
# written by lab.sh
[main]
plugins=keyfile
${no_auto_default}
dns=none
rc-manager=unmanaged
hostname-mode=none
auth-polkit=root-only

[connectivity]
enabled=false
EOF
    (umask 077; cat >/etc/NetworkManager/system-connections/primary.nmconnection <<EOF
[connection]
id=primary
uuid=$PRIMARY_UUID
type=ethernet
interface-name=eth0
autoconnect=true

[ethernet]

[ipv4]
method=manual
address1=192.0.2.10/24
gateway=192.0.2.1

[ipv6]
method=disabled
EOF
    ) || fail "writing primary profile"

    # links: lo, peers netns, eth0 with its peer (192.0.2.1, the gateway) up
    run ip link set lo up
    run ip netns add peers
    run ip -n peers link set lo up
    run ip link add eth0 address "$mac" type veth peer name gw0 netns peers
    run ip -n peers addr add 192.0.2.1/24 dev gw0
    run ip -n peers link set gw0 up
    log "namespaces, mounts and eth0 ready"
    # What the multinicd package ships (the lab sees the host's /usr, not the
    # package), installed well before networkd starts: multinicd checks that
    # networkd started after its configuration last changed.
    run mkdir -p /etc/systemd/networkd.conf.d
    run cp "$(dirname "$SELF")/../../systemd/networkd.conf.d/multinic.conf" /etc/systemd/networkd.conf.d/

    dbus-daemon --system --nofork --nopidfile --nosyslog >&5 2>&5 3>&- 4>&- 5>&- &
    DBUS_PID=$!
    local i
    for ((i = 0; i < 1000; i++)); do
        [[ -S /run/dbus/system_bus_socket ]] && break
        alive "$DBUS_PID" || fail "dbus-daemon exited (see dbus.log)"
        sleep 0.005
    done
    [[ -S /run/dbus/system_bus_socket ]] || fail "dbus-daemon socket did not appear"
    log "dbus-daemon $DBUS_PID up"

    case $manager in
        networkmanager) start_networkmanager ;;
        networkd) start_networkd ;;
        both) start_networkmanager; start_networkd ;;
        none) ;;
    esac
    log "eth0 configured, ready"
    printf 'ready\n' >&3 || { log "nobody is waiting for us"; shutdown 1; }
    exec 3>&-

    while :; do
        sleep infinity 4>&- 5>&- &
        SLEEP_PID=$!
        wait "$SLEEP_PID"
    done
}

# --- NIC commands ----------------------------------------------------------------
cmd_add_nic() {
    local pid=${1:-} name=${2:-} mac=${3:-} mtu=1500 carrier=1 a
    [[ $# -ge 3 ]] || usage "add-nic PID NAME MAC [MTU] [--no-carrier]"
    shift 3
    for a in "$@"; do
        case $a in
            --no-carrier) carrier= ;;
            *[!0-9]* | '') usage "add-nic: bad argument '$a'" ;;
            *) mtu=$a ;;
        esac
    done
    need_lab "$pid"
    # the peer gets a random unique name (lab-side names may be renamed by the code under test)
    local peer
    peer=v$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
    nsenter -t "$pid" -a -- ip link add "$name" address "$mac" mtu "$mtu" type veth \
        peer name "$peer" mtu "$mtu" netns peers || die "add-nic: creating $name failed"
    if [[ -n $carrier ]]; then
        nsenter -t "$pid" -a -- ip -n peers link set dev "$peer" up ||
            die "add-nic: setting peer $peer of $name up failed"
    fi
}

cmd_del_nic() {
    [[ $# -eq 2 ]] || usage "del-nic PID NAME"
    need_lab "$1"
    nsenter -t "$1" -a -- ip link del dev "$2" || die "del-nic: deleting $2 failed"
}

# the peer end (in netns "peers") of lab NIC $2
peer_of() {
    local peer_index peer
    peer_index=$(nsenter -t "$1" -a -- ip -j link show dev "$2" | jq -r '.[0].link_index // empty') ||
        die "no NIC $2"
    peer=$(nsenter -t "$1" -a -- ip -n peers -j link show | jq -r --argjson i "$peer_index" '.[] | select(.ifindex == $i) | .ifname')
    [[ -n $peer ]] || die "the peer of $2 (index $peer_index) is not in netns peers"
    echo "$peer"
}

cmd_dhcp() {
    [[ $# -eq 3 && $3 =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || usage "dhcp PID NAME PREFIX (e.g. 10.80.0)"
    need_lab "$1"
    local peer p=$3
    peer=$(peer_of "$1" "$2") || exit 1
    nsenter -t "$1" -a -- ip -n peers addr add "$p.1/24" dev "$peer" || die "dhcp: address on $peer"
    nsenter -t "$1" -a -- ip -n peers link set dev "$peer" up || die "dhcp: $peer up"
    # dnsmasq forks into the lab's PID namespace and dies with it; no DNS (port 0).
    nsenter -t "$1" -a -- ip netns exec peers dnsmasq --conf-file=/dev/null --port=0 --no-resolv --no-hosts \
        --interface="$peer" --bind-interfaces --except-interface=lo --leasefile-ro \
        --pid-file="/run/lab/dnsmasq-$peer.pid" --dhcp-range="$p.100,$p.199,255.255.255.0,1h" \
        --dhcp-option="option:router,$p.1" || die "dhcp: dnsmasq on $peer failed"
}

cmd_segment() {
    [[ $# -eq 3 && $3 == */* ]] || usage "segment PID NAME ADDRESS/PREFIX (e.g. 10.60.0.1/24)"
    need_lab "$1"
    local peer
    peer=$(peer_of "$1" "$2") || exit 1
    nsenter -t "$1" -a -- ip -n peers addr add "$3" dev "$peer" || die "segment: address on $peer"
    nsenter -t "$1" -a -- ip -n peers link set dev "$peer" up || die "segment: $peer up"
}

cmd_ra() {
    [[ $# -eq 3 && $3 =~ ^[0-9a-f:]+$ ]] || usage "ra PID NAME PREFIX (e.g. 2001:db8:60:)"
    need_lab "$1"
    local peer p=$3
    peer=$(peer_of "$1" "$2") || exit 1
    nsenter -t "$1" -a -- ip -n peers addr add "$p:1/64" dev "$peer" nodad || die "ra: address on $peer"
    nsenter -t "$1" -a -- ip -n peers link set dev "$peer" up || die "ra: $peer up"
    nsenter -t "$1" -a -- ip netns exec peers dnsmasq --conf-file=/dev/null --port=0 --no-resolv --no-hosts \
        --interface="$peer" --bind-interfaces --except-interface=lo --leasefile-ro \
        --pid-file="/run/lab/dnsmasq-ra-$peer.pid" --enable-ra --ra-param="$peer,5" \
        --dhcp-range="$p:,ra-only,64,1h" || die "ra: dnsmasq on $peer failed"
}

cmd_carrier() {
    [[ $# -eq 3 && ( $3 == on || $3 == off ) ]] || usage "carrier PID NAME on|off"
    need_lab "$1"
    local peer
    peer=$(peer_of "$1" "$2") || exit 1
    nsenter -t "$1" -a -- ip -n peers link set dev "$peer" "$([[ $3 == on ]] && echo up || echo down)" ||
        die "carrier: setting $peer $3 failed"
}

cmd_exec() {
    [[ $# -ge 2 ]] || usage "exec PID CMD [ARGS...]"
    need_lab "$1"
    local pid=$1; shift
    exec nsenter -t "$pid" -a -- "$@"
}

# --- main -----------------------------------------------------------------------------
# One compound command ending in `exit`: bash parses it completely before running it, so
# long-running labs never read more of this file (safe to edit lab.sh while labs run).
{
cmd=${1:-}; shift || true
case $cmd in
    up)          cmd_up "$@" ;;
    down)        cmd_down "$@" ;;
    add-nic)     cmd_add_nic "$@" ;;
    del-nic)     cmd_del_nic "$@" ;;
    carrier)     cmd_carrier "$@" ;;
    dhcp)        cmd_dhcp "$@" ;;
    segment)     cmd_segment "$@" ;;
    ra)          cmd_ra "$@" ;;
    exec)        cmd_exec "$@" ;;
    "$SUP_TOKEN")  cmd_supervise "$@" ;;
    "$INIT_TOKEN") cmd_init "$@" ;;
    *)           usage "unknown command '${cmd}'" ;;
esac
exit
}
