#!/usr/bin/env bash
# A Ray cluster of one head and N worker nodes on this machine, for trying --address and node failures.
#
#   cluster/local.sh start 2          # head + 2 workers, 1 CPU each; prints the address to use
#   python -m pipeline.sweep search_spaces/ring8.yaml --address 127.0.0.1:6390
#   cluster/local.sh stop             # stops every Ray process on this machine
#
# Environment: RAY_PORT (6390), CPUS_PER_NODE (1).
# Token authentication is off for this loopback-only test cluster: Ray 2.59+ turns it on for a head
# started by `ray start --head`, but nodes and drivers joining by address do not use it by default.
set -euo pipefail
export RAY_AUTH_MODE=disabled
port="${RAY_PORT:-6390}"
cpus="${CPUS_PER_NODE:-1}"

case "${1:-}" in
  start)
    workers="${2:-1}"
    ray start --head --node-ip-address 127.0.0.1 --port "$port" --num-cpus "$cpus" --include-dashboard false \
      --disable-usage-stats
    for _ in $(seq "$workers"); do
      ray start --address "127.0.0.1:$port" --node-ip-address 127.0.0.1 --num-cpus "$cpus" --disable-usage-stats
    done
    echo "Ray cluster up: 1 head + $workers workers. Use --address 127.0.0.1:$port"
    ;;
  stop)
    ray stop --force
    ;;
  *)
    echo "usage: cluster/local.sh start [WORKERS] | stop" >&2
    exit 2
    ;;
esac
