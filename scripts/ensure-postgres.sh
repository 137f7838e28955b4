#!/usr/bin/env bash
# Make sure the PostgreSQL server the tests use answers on 127.0.0.1:5432; start it if it is
# installed here but stopped. The tests create (and drop) their own database on it.
set -euo pipefail
ready() { python3 - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", 5432)); sys.exit(0)
except OSError:
    sys.exit(1)
PY
}
ready && exit 0
if [ "$(id -u)" -eq 0 ] && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 20); do ready && exit 0; sleep 0.5; done
fi
echo "PostgreSQL is not answering on 127.0.0.1:5432; the PostgreSQL half of the suite needs it." >&2
exit 1
