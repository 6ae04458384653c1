# SPDX-License-Identifier: Apache-2.0
# multinicd %post ($1: 1 on install, 2 or more on upgrade). Enable on install;
# start (without a kubeconfig yet, it waits for one); restart on upgrade.
if [ "$1" -eq 1 ]; then
    systemctl enable multinicd.service >/dev/null 2>&1 || true
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    # The daemon merges its config and drop-ins itself; an invalid config prints
    # its error here and the service is not started. Without a kubeconfig yet (the
    # node has not joined) it starts and waits for one.
    if kubeconfig=$(multinicd config --get kubeconfig); then
        if [ "$1" -ge 2 ]; then
            systemctl try-restart multinicd.service >/dev/null 2>&1 || true
        fi
        systemctl start multinicd.service >/dev/null 2>&1 || true
        if [ ! -f "$kubeconfig" ]; then
            echo "multinicd: started; it waits for the kubeconfig at $kubeconfig (written when the node joins)"
        fi
    else
        echo "multinicd: enabled, not started: fix /etc/multinic/multinicd.yaml, then: systemctl start multinicd"
    fi
fi
exit 0
