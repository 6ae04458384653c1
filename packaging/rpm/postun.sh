# SPDX-License-Identifier: Apache-2.0
# multinicd %postun: forget the removed or replaced unit file.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
