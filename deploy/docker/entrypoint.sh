#!/bin/sh
# Container entrypoint: `opencmq server` with options taken from the environment, so one image
# serves a single node, a compose set and a Kubernetes StatefulSet without a wrapper per platform.
#
#   OPENCMQ_CONFIG           JSON config file (--config); flags made from the variables below win
#   OPENCMQ_DATA_DIR         --data-dir        OPENCMQ_HOST / OPENCMQ_PORT        client API
#   OPENCMQ_ADMIN_HOST       --admin-host      OPENCMQ_ADMIN_PORT                 health, metrics
#   OPENCMQ_SQS_HOST         --sqs-host        OPENCMQ_SQS_PORT                   Amazon SQS API
#   OPENCMQ_NODE_ID          --node-id         OPENCMQ_RAFT_PORT                  peer listener
#   OPENCMQ_PEERS            every member as ID=HOST:PORT, comma or space separated; this node's
#                            own entry is dropped, so all members can share one list
#   OPENCMQ_KEYS_FILE        --keys-file
#   OPENCMQ_CLUSTER_SECRET_FILE  a file holding the cluster secret (compose/Kubernetes secrets)
#   (a file JOIN beside OPENCMQ_DATA_DIR while that directory is missing: --join, see below)
# The server itself reads OPENCMQ_SECRET_ID, OPENCMQ_SECRET_KEY and OPENCMQ_CLUSTER_SECRET.
# An empty variable adds no flag. Arguments after the image name are appended as further options;
# a first argument that is not an option runs that opencmq command instead (e.g. `wal verify DIR`).
set -eu

# The CLI's entry file; overridable so the option mapping can be tested outside the image.
OPENCMQ_MAIN=${OPENCMQ_MAIN:-/opt/opencmq/dist/src/cli/main.js}

case "${1:-}" in
  ''|-*) ;;
  *) exec node --initial-old-space-size=64 "$OPENCMQ_MAIN" "$@" ;;
esac

# Read a secret from a file rather than an environment entry visible in `docker inspect`.
if [ -n "${OPENCMQ_CLUSTER_SECRET_FILE:-}" ]; then
  OPENCMQ_CLUSTER_SECRET=$(cat "$OPENCMQ_CLUSTER_SECRET_FILE")
  export OPENCMQ_CLUSTER_SECRET
fi

# Options from the environment are appended after the caller's arguments, which are then rotated
# to the end, so that an option given explicitly (the last one counts) wins over the environment.
given=$#
flag() {
  # flag NAME VALUE: add "--NAME VALUE" unless VALUE is empty.
  if [ -n "$2" ]; then set_more="$set_more
--$1
$2"; fi
}
flag_on() {
  # flag_on NAME: add the switch "--NAME".
  set_more="$set_more
--$1"
}
set_more=""
flag config "${OPENCMQ_CONFIG:-}"
flag data-dir "${OPENCMQ_DATA_DIR:-}"
flag host "${OPENCMQ_HOST:-}"
flag port "${OPENCMQ_PORT:-}"
flag admin-host "${OPENCMQ_ADMIN_HOST:-}"
flag admin-port "${OPENCMQ_ADMIN_PORT:-}"
flag sqs-host "${OPENCMQ_SQS_HOST:-}"
flag sqs-port "${OPENCMQ_SQS_PORT:-}"
flag keys-file "${OPENCMQ_KEYS_FILE:-}"
if [ -n "${OPENCMQ_NODE_ID:-}" ]; then
  flag node-id "$OPENCMQ_NODE_ID"
  flag raft-port "${OPENCMQ_RAFT_PORT:-9700}"
  for p in $(printf '%s' "${OPENCMQ_PEERS:-}" | tr ',' ' '); do
    # Every member may be listed; the server refuses its own id as a peer.
    [ "${p%%=*}" = "$OPENCMQ_NODE_ID" ] || flag peer "$p"
  done
  # Wipe and rejoin: with a file JOIN next to the data directory, a member whose data directory
  # is gone waits to be added back (--join) instead of starting as a fresh voter that forgot its
  # vote. Harmless once the directory exists again.
  if [ -n "${OPENCMQ_DATA_DIR:-}" ] && [ -e "$(dirname "$OPENCMQ_DATA_DIR")/JOIN" ] && [ ! -e "$OPENCMQ_DATA_DIR" ]; then
    flag_on join
  fi
fi

# One value per line (paths may hold spaces, never newlines).
old_ifs=$IFS
IFS='
'
for word in $set_more; do set -- "$@" "$word"; done
IFS=$old_ifs
i=0
while [ "$i" -lt "$given" ]; do
  set -- "$@" "$1"
  shift
  i=$((i + 1))
done

exec node --initial-old-space-size=64 "$OPENCMQ_MAIN" server "$@"
