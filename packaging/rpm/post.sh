# multinicd %post ($1: 1 on install, 2 or more on upgrade). Enable on install;
# start only when the kubeconfig it would use exists; restart on upgrade.
if [ "$1" -eq 1 ]; then
    systemctl enable multinicd.service >/dev/null 2>&1 || true
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    # The daemon merges its config and drop-ins itself; an invalid config prints
    # its error here and the service is not started.
    kubeconfig=$(multinicd config --get kubeconfig) || kubeconfig=
    if [ -n "$kubeconfig" ] && [ -f "$kubeconfig" ]; then
        if [ "$1" -ge 2 ]; then
            systemctl try-restart multinicd.service >/dev/null 2>&1 || true
        fi
        systemctl start multinicd.service >/dev/null 2>&1 || true
    else
        echo "multinicd: enabled, not started: no kubeconfig at ${kubeconfig:-?} (set kubeconfig in /etc/multinic/multinicd.yaml, then: systemctl start multinicd)"
    fi
fi
exit 0
