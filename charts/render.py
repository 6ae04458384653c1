#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Lint and render charts/multinic with Helm's own Go SDK (helm-python-sdk).

usage: render.py [--lint-only] [--namespace NS] [--set KEY=VALUE ...] [OUT.yaml]
Prints the rendered templates (the CRD is one of them) as one multi-document YAML
(what `helm template` gives), to OUT.yaml or stdout. Exits 1 on any
lint error or warning (strict) and on a render error.
"""
import pathlib
import sys

import helm_python as helm

CHART = pathlib.Path(__file__).resolve().parent / "multinic"


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--lint-only"]
    values = {}
    if "--namespace" in args:
        i = args.index("--namespace")
        values["namespace"] = args[i + 1]
        del args[i : i + 2]
    while "--set" in args:
        i = args.index("--set")
        key, _, value = args[i + 1].partition("=")
        values[key] = value
        del args[i : i + 2]
    report = helm.lint(str(CHART), values or None, strict=True, kube_version="v1.32.0")
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2] + [
        {"severity": 3, "path": "", "error": e} for e in report.get("errors", [])
    ]
    for m in problems:
        print(f"helm lint: {m.get('path', '')}: {m.get('error')}", file=sys.stderr)
    if problems:
        return 1
    if "--lint-only" in sys.argv:
        print(f"helm lint: {CHART.name}: ok", file=sys.stderr)
        return 0
    chart = helm.Chart.load(str(CHART))
    docs = [c["data"] if isinstance(c, dict) and "data" in c else str(c) for c in chart.crds]
    try:
        rendered = chart.render(values or None, name="multinic", namespace=values.get("namespace", "multinic-system"), is_install=True)
    except helm.errors.HelmRenderError as e:
        print(f"render.py: {e}", file=sys.stderr)
        return 1
    for path in sorted(rendered):
        if path.endswith(".yaml") and rendered[path].strip():
            docs.append(f"# Source: {path}\n{rendered[path]}")
    text = "\n---\n".join(d.strip() for d in docs) + "\n"
    if args:
        pathlib.Path(args[0]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
