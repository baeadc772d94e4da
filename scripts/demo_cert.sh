#!/usr/bin/env bash
# The demo's TLS certificate: a self-signed EC P-256 certificate for
# localhost and 127.0.0.1 in var/demo/tls/ (cert.pem, key.pem), made with
# `openssl req` if it is not there yet. conf/demo.yaml's HTTPS listener uses
# it; browsers warn about it (it is signed by nobody they trust): a real
# deployment names its own files in `tls: {certificates: ...}`.
#
#   scripts/demo_cert.sh      prints the certificate's path
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/var/demo/tls"
if [[ ! -s "$DIR/cert.pem" || ! -s "$DIR/key.pem" ]]; then
  mkdir -p "$DIR"
  # Written under temporary names and renamed: a concurrent run never reads half a file.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$DIR/key.pem.$$" -out "$DIR/cert.pem.$$" 2>/dev/null
  mv "$DIR/key.pem.$$" "$DIR/key.pem"
  mv "$DIR/cert.pem.$$" "$DIR/cert.pem"
fi
echo "$DIR/cert.pem"
