#!/usr/bin/env bash
# Writes OVERLAY/secrets.env, from which the overlay's secretGenerator makes the quota-secrets Secret:
#   deploy/k8s/new-secrets.sh deploy/k8s/overlays/production 'Host=db;Port=5432;Database=quota;Username=quota;Password=…'
# The connection string is the argument (or QUOTA_CONNECTION_STRING); the master key, pepper and admin token are
# generated. Keep the file somewhere safe: losing the master key loses the stored upstream secrets, a new pepper
# orphans every registered API key. An existing secrets.env is never overwritten.
set -euo pipefail
overlay=${1:?usage: new-secrets.sh OVERLAY_DIR [CONNECTION_STRING]}
connection=${2:-${QUOTA_CONNECTION_STRING:-}}
[ -n "$connection" ] || { echo "new-secrets.sh: give the PostgreSQL connection string (Host=…;Port=5432;Database=quota;Username=…;Password=…)" >&2; exit 2; }
[ -d "$overlay" ] || { echo "new-secrets.sh: $overlay is not a directory" >&2; exit 2; }
file="$overlay/secrets.env"
[ ! -e "$file" ] || { echo "new-secrets.sh: $file exists; remove it first to replace every secret in it" >&2; exit 2; }
case "$connection" in *$'\n'*) echo "new-secrets.sh: the connection string has a line break" >&2; exit 2;; esac
umask 077
{
  printf 'connection-string=%s\n' "$connection"
  printf 'master-key=%s\n' "$(openssl rand -base64 32)"
  printf 'pepper=%s\n' "$(openssl rand -base64 32)"
  printf 'admin-token=%s\n' "$(openssl rand -hex 32)"
} > "$file"
echo "wrote $file (connection-string, master-key, pepper, admin-token)"
