#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the release packages: multinicd and kubectl-multinic as .deb (cargo-deb)
# and .rpm (cargo-generate-rpm), from binaries linked against glibc 2.28 symbols
# (cargo-zigbuild, zig from the ziglang PyPI package) so they run on EL8, Ubuntu
# 20.04, Debian 10 and newer. Prints the four package paths.
#
#   packaging/build.sh [--version V] [--out DIR]
#
# --version packages the same binaries under another version (the upgrade test
# builds an "older" package this way); default: the workspace version.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
target=x86_64-unknown-linux-gnu
glibc=2.28
version=""
out="$root/target/packages"
while (($#)); do
  case "$1" in
    --version) version="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "packaging/build.sh: unknown argument $1 (use --version V, --out DIR)" >&2; exit 2 ;;
  esac
done

# The packaging tools, at the versions these scripts were written against.
need_tool() {
  command -v "$1" >/dev/null || { echo "packaging/build.sh: installing $1 $2" >&2; cargo install --locked --quiet "$1@$2"; }
}
need_tool cargo-zigbuild 0.24.1
need_tool cargo-deb 3.8.0
need_tool cargo-generate-rpm 0.21.1
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -c 'import ziglang' 2>/dev/null || .venv/bin/pip install -q --disable-pip-version-check "ziglang==0.17.1"
# cargo-zigbuild runs `python3 -m ziglang` when there is no zig on PATH.
export PATH="$root/.venv/bin:$PATH"

cargo zigbuild --release --locked -p multinicd -p kubectl-multinic --target "$target.$glibc" >&2
for bin in multinicd kubectl-multinic; do
  newest="$(objdump -T "target/$target/release/$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)"
  if [ "$(printf '%s\n%s\n' "$newest" "$glibc" | sort -V | tail -n 1)" != "$glibc" ]; then
    echo "packaging/build.sh: $bin needs GLIBC_$newest, above the $glibc floor" >&2
    exit 1
  fi
done

# Manual pages from the binaries' own clap definitions (the hidden `man DIR`),
# compressed as Debian policy wants them (gzip -9n: no name, no timestamp).
rm -rf target/man
"target/$target/release/multinicd" man target/man/multinicd
"target/$target/release/kubectl-multinic" man target/man/kubectl-multinic
gzip -9n target/man/*/*

mkdir -p "$out"
for pkg in multinicd:daemon kubectl-multinic:kubectl-plugin; do
  name="${pkg%%:*}" dir="${pkg##*:}"
  deb_args=() rpm_args=()
  if [ -n "$version" ]; then
    deb_args=(--deb-version "$version-1")
    rpm_args=(--set-metadata "version = \"$version\"")
  fi
  deb="$(cargo deb -p "$name" --no-build --target "$target" --locked "${deb_args[@]}" 2>/dev/null | tail -n 1)"
  cp "$deb" "$out/"
  cargo generate-rpm -p "$dir" --target "$target" --payload-compress xz -o "$out/" "${rpm_args[@]}" >&2
done
ls "$out"/*.deb "$out"/*.rpm | grep -F -- "${version:-$(cargo metadata --no-deps --format-version 1 | jq -r '.packages[] | select(.name=="multinicd") | .version')}"
