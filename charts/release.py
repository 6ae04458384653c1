#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Install, upgrade or uninstall charts/multinic on a cluster with Helm's own Go SDK
(helm-python-sdk), as `helm install/upgrade/uninstall` would.

usage: release.py KUBECONFIG install|upgrade|uninstall [--chart DIR] [--namespace NS]
The release is `multinic`, stored in the `default` namespace; NS is the chart's
`namespace` value (where the CRs live). Prints the release's status; exits 1 on error.
"""
import argparse
import pathlib
import sys

import helm_python as helm

CHART = pathlib.Path(__file__).resolve().parent / "multinic"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("kubeconfig")
    p.add_argument("action", choices=["install", "upgrade", "uninstall"])
    p.add_argument("--chart", default=str(CHART))
    p.add_argument("--namespace", default="multinic-system")
    a = p.parse_args()
    cfg = helm.Config(kubeconfig_path=a.kubeconfig, namespace="default")
    try:
        if a.action == "uninstall":
            release = cfg.uninstall("multinic", timeout=120)
        else:
            chart = helm.Chart.load(a.chart)
            values = {"namespace": a.namespace}
            run = cfg.install if a.action == "install" else cfg.upgrade
            release = run(chart, "multinic", values, namespace="default", timeout=120)
    except helm.HelmError as e:
        print(f"helm {a.action}: {e}", file=sys.stderr)
        return 1
    print(f"helm {a.action}: {release}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
