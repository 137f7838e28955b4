#!/usr/bin/env bash
# Make sure a Redis server answers on 127.0.0.1:6379 for the test that shares rate-limit counts
# between gunicorn workers (tests/test_rate_limit_redis.py); start it if it is installed here but
# stopped. The test keeps its keys under a prefix of its own and deletes them.
set -euo pipefail
ready() { python3 - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", 6379)); s.sendall(b"PING\r\n"); sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}
ready && exit 0
if [ "$(id -u)" -eq 0 ] && command -v redis-server >/dev/null 2>&1; then
  # Nothing kept on disk: the tests need counters, not data.
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/huifang-test-redis.log" || true
  for _ in $(seq 1 20); do ready && exit 0; sleep 0.5; done
fi
echo "Redis is not answering on 127.0.0.1:6379; tests/test_rate_limit_redis.py needs it" \
     "(install redis-server: scripts/system-deps.sh test)." >&2
exit 1
