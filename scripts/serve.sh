#!/usr/bin/env bash
# Install Roost into .venv and start a server on ./roost-data (127.0.0.1:7878).
# Extra arguments go to `roost serve` (e.g. --port 9000 --host 0.0.0.0).
# ROOST_NO_INSTALL=1 skips the install (to restart quickly once it is done).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -z "${ROOST_NO_INSTALL:-}" ]; then
  if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
  fi
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e .
fi
echo "Roost installed in $(pwd)/.venv; the client is .venv/bin/roost (or: source .venv/bin/activate)"

# The folder and address the server will use, to spell out the next steps.
data_dir=roost-data host=127.0.0.1 port=7878 tls=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --tls) tls=" --tls" ;;
    --data-dir=*) data_dir=${args[i]#*=} ;;
    --host=*) host=${args[i]#*=} ;;
    --port=*) port=${args[i]#*=} ;;
    --data-dir | --host | --port) [ $((i + 1)) -lt ${#args[@]} ] && {
      value=${args[i + 1]}
      case "${args[i]}" in
        --data-dir) data_dir=$value ;; --host) host=$value ;; --port) port=$value ;;
      esac
    } ;;
  esac
done
server_opt=""
if [ "$port" = 0 ]; then
  server_opt=" --server $host:PORT (the port it prints below)"
elif [ "$host:$port" != "127.0.0.1:7878" ]; then
  server_opt=" --server $host:$port"
fi
cat <<STEPS
Next, in another terminal (in $(pwd)), while this server runs:
  1. create an admin:  .venv/bin/roost user add root --admin --data-dir $data_dir
  2. open the chat:    .venv/bin/roost chat --user root$tls$server_opt
Starting the server (Ctrl+C stops it):
STEPS
exec .venv/bin/roost serve "$@"
