#!/usr/bin/env bash
# Throwaway RabbitMQ (and, when asked, PostgreSQL) on loopback for the tests,
# without systemd. Adapted from the workplace's services recipe.
#   scripts/services.sh install          apt-get the packages (root)
#   scripts/services.sh start-rabbitmq   start RabbitMQ, print RISKFLOW_TEST_AMQP_URL=…
#   scripts/services.sh stop-rabbitmq
# PostgreSQL needs no script: the tests start a private cluster from the
# system's initdb/pg_ctl (or use RISKFLOW_TEST_DATABASE_URL).
set -euo pipefail
STATE=${SERVICES_STATE:-/tmp/riskflow-services}
AMQP_PORT=${AMQP_PORT:-5672}

install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql rabbitmq-server >/dev/null
}

start-rabbitmq() {
  mkdir -p "$STATE"
  cat > /etc/rabbitmq/rabbitmq-env.conf <<CONF
NODENAME=rabbit@localhost
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=$AMQP_PORT
CONF
  ERL_EPMD_ADDRESS=127.0.0.1 setsid nohup rabbitmq-server >"$STATE/rabbitmq.out" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    rabbitmq-diagnostics -n rabbit@localhost -q ping >/dev/null 2>&1 && break
    sleep 1
  done
  rabbitmqctl -n rabbit@localhost await_startup >/dev/null
  echo "RISKFLOW_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f"
}

stop-rabbitmq() {
  rabbitmqctl -n rabbit@localhost stop >/dev/null 2>&1 || true
  epmd -kill >/dev/null 2>&1 || true
}

"$@"
