#!/usr/bin/env bash
# Make sure a Docker engine answers. A no-op where one already runs (users' machines, CI with
# a daemon); on a bare Debian machine it installs docker.io and starts dockerd without systemd.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "hangar: no Docker engine found; installing docker.io from Debian packages" >&2
  if [ "$(id -u)" != 0 ]; then echo "hangar: installing Docker needs root (or install Docker yourself)" >&2; exit 1; fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >/dev/null
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
  # A dockerd killed with the last session leaves its pid file; the next start refuses to run.
  rm -f /var/run/docker.pid
  echo "hangar: starting dockerd (log: /var/log/dockerd.log)" >&2
  nohup dockerd >/var/log/dockerd.log 2>&1 &
fi
for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then exit 0; fi
  sleep 0.5
done
echo "hangar: dockerd did not come up within 60 s; last log lines:" >&2
tail -n 20 /var/log/dockerd.log >&2 || true
exit 1
