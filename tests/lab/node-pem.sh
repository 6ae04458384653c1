#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# node-pem.sh PKI NODE SECONDS OUT: a client certificate for system:node:NODE
# (group system:nodes) signed by PKI/ca.crt + ca.key, valid from an hour ago until
# SECONDS from now, and its key, in one PEM file OUT (as the kubelet's
# kubelet-client-current.pem), replaced atomically. `openssl ca` because it can
# end a certificate at a given second (x509 -req counts in days).
set -euo pipefail
[[ $# -eq 4 ]] || { echo "usage: node-pem.sh PKI NODE SECONDS OUT" >&2; exit 2; }
pki=$1 node=$2 secs=$3 out=$4
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
touch "$d/index.txt"
echo 01 >"$d/serial"
cat >"$d/ca.cnf" <<CNF
[ca]
default_ca = kit
[kit]
database = $d/index.txt
new_certs_dir = $d
serial = $d/serial
default_md = sha256
policy = any
x509_extensions = ext
unique_subject = no
[any]
commonName = supplied
organizationName = optional
[ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
CNF
openssl ecparam -name prime256v1 -genkey -noout -out "$d/key.pem" 2>/dev/null
openssl req -new -key "$d/key.pem" -subj "/CN=system:node:$node/O=system:nodes" -out "$d/req.csr"
openssl ca -batch -config "$d/ca.cnf" -cert "$pki/ca.crt" -keyfile "$pki/ca.key" -in "$d/req.csr" \
    -out "$d/crt.pem" -notext \
    -startdate "$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)" \
    -enddate "$(date -u -d "+$secs seconds" +%Y%m%d%H%M%SZ)" 2>"$d/ca.log" || { cat "$d/ca.log" >&2; exit 1; }
cat "$d/crt.pem" "$d/key.pem" >"$out.tmp"
mv "$out.tmp" "$out"
