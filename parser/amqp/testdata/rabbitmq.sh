# Sourced: start_rabbitmq DIR PORT starts a RabbitMQ node of its own under DIR listening on
# 127.0.0.1:PORT (its epmd on PORT+2, its distribution port PORT+1), waiting at most 90 s;
# stop_rabbitmq stops it and its epmd by PID. RabbitMQ takes 20-30 s to boot here.
start_rabbitmq() {
  local dir=$1 port=$2
  mkdir -p "$dir" && chmod 777 "$dir"
  export RABBITMQ_NODENAME=netobserver-$port@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT=$port RABBITMQ_DIST_PORT=$((port + 1)) ERL_EPMD_PORT=$((port + 2)) \
    RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log RABBITMQ_ENABLED_PLUGINS_FILE=$dir/plugins \
    RABBITMQ_CONFIG_FILE=$dir/rabbitmq HOME=$dir ERL_EPMD_ADDRESS=127.0.0.1
  /usr/lib/rabbitmq/bin/rabbitmq-server >"$dir/server.log" 2>&1 &
  rabbitmq_pid=$!
  for _ in $(seq 900); do
    [ -n "$(ss -Hltn "sport = :$port")" ] && return 0
    kill -0 "$rabbitmq_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "rabbitmq did not listen on $port; log:" >&2
  tail -20 "$dir/server.log" >&2
  return 1
}

stop_rabbitmq() {
  [ -n "${rabbitmq_pid:-}" ] && pkill_tree "$rabbitmq_pid"
  local epmd
  epmd=$(ss -Hltnp "sport = :$ERL_EPMD_PORT" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
  [ -n "$epmd" ] && kill "$epmd" 2>/dev/null || true
}

# pkill_tree PID stops PID and its children (rabbitmq-server is a shell script around beam.smp).
pkill_tree() {
  local c
  for c in $(ps -o pid= --ppid "$1"); do pkill_tree "$c"; done
  kill "$1" 2>/dev/null || true
}
