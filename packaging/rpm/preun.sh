# SPDX-License-Identifier: Apache-2.0
# multinicd %preun ($1: 0 on erase, 1 on upgrade). Stop and disable on erase only.
# Its NIC configuration stays: run `multinicd cleanup` first to remove it.
if [ "$1" -eq 0 ]; then
    systemctl --no-reload disable --now multinicd.service >/dev/null 2>&1 || true
fi
exit 0
