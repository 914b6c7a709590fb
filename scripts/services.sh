#!/usr/bin/env bash
# Makes PostgreSQL, Redis and RabbitMQ reachable on loopback for `make run`,
# `make test` and CI.
#
# A service that already answers on its port is left alone. For the others:
#   1. with a working Docker engine, `docker compose up -d` (compose.yaml);
#   2. otherwise Debian's packages, installed with apt-get when missing and
#      started directly (these machines have no systemd).
# Then it waits, with a deadline, until every port answers and RabbitMQ has
# finished booting, and makes sure the PostgreSQL database `test` exists and
# takes trust auth on 127.0.0.1.
#
# Environment:
#   SERVICES_TIMEOUT  seconds to wait for each service (default 60)
#   CALIPSO_SERVICES  which to handle (default "postgres redis rabbitmq")
set -euo pipefail

cd "$(dirname "$0")/.."

TIMEOUT="${SERVICES_TIMEOUT:-60}"
PG_DB=test
PG_USER=postgres

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi

log() { printf 'services: %s\n' "$*"; }

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# wait_for NAME DEADLINE_SECONDS COMMAND...: polls COMMAND until it succeeds
# or the deadline passes.
wait_for() {
	local name=$1 limit=$2
	shift 2
	local deadline=$((SECONDS + limit))
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "$name: not ready after ${limit}s"
			return 1
		fi
		sleep 0.5
	done
}

declare -A PORT=([postgres]=5432 [redis]=6379 [rabbitmq]=5672)
read -r -a ORDER <<<"${CALIPSO_SERVICES:-postgres redis rabbitmq}"
for svc in "${ORDER[@]}"; do
	if [ -z "${PORT[$svc]:-}" ]; then
		log "unknown service '$svc' in CALIPSO_SERVICES"
		exit 2
	fi
done

missing=()
for svc in "${ORDER[@]}"; do
	if port_open "${PORT[$svc]}"; then
		log "$svc: already answering on 127.0.0.1:${PORT[$svc]}, left alone"
	else
		missing+=("$svc")
	fi
done

started_rabbitmq_locally=false

if [ "${#missing[@]}" -gt 0 ]; then
	if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
		log "starting ${missing[*]} with docker compose"
		docker compose -f compose.yaml up -d "${missing[@]}"
	else
		log "no Docker engine; using Debian packages for ${missing[*]}"
		pkgs=()
		for svc in "${missing[@]}"; do
			case $svc in
			postgres) command -v pg_ctlcluster >/dev/null 2>&1 || pkgs+=(postgresql) ;;
			redis) command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server) ;;
			rabbitmq) command -v rabbitmq-server >/dev/null 2>&1 || pkgs+=(rabbitmq-server) ;;
			esac
		done
		if [ "${#pkgs[@]}" -gt 0 ]; then
			log "installing ${pkgs[*]} with apt-get"
			$SUDO apt-get update -qq
			$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}"
		fi
		for svc in "${missing[@]}"; do
			case $svc in
			postgres)
				version=$(ls /etc/postgresql | sort -V | tail -1)
				log "postgres: pg_ctlcluster $version main start"
				$SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
				;;
			redis)
				log "redis: redis-server --daemonize yes on 127.0.0.1:6379 (no persistence)"
				$SUDO redis-server --daemonize yes --bind 127.0.0.1 --port 6379 \
					--save "" --appendonly no --dir /tmp --logfile /tmp/calipso-redis.log
				;;
			rabbitmq)
				log "rabbitmq: rabbitmq-server -detached"
				$SUDO rabbitmq-server -detached
				started_rabbitmq_locally=true
				;;
			esac
		done
	fi
fi

# Every port must answer before anything else runs.
for svc in "${ORDER[@]}"; do
	wait_for "$svc" "$TIMEOUT" port_open "${PORT[$svc]}"
done

# RabbitMQ opens its port before it has finished booting; wait for the boot
# too when it is ours to ask.
if $started_rabbitmq_locally && command -v rabbitmqctl >/dev/null 2>&1; then
	log "rabbitmq: waiting for boot to finish"
	$SUDO timeout "$TIMEOUT" rabbitmqctl await_startup --timeout "$TIMEOUT" >/dev/null
fi

# --- PostgreSQL: trust auth on 127.0.0.1 and a database named test -------

if [[ " ${ORDER[*]} " != *" postgres "* ]]; then
	log "ready: ${ORDER[*]}"
	exit 0
fi

psql_tcp() {
	psql -h 127.0.0.1 -p 5432 -U "$PG_USER" -w -v ON_ERROR_STOP=1 -Atq "$@"
}

if command -v psql >/dev/null 2>&1; then
	if ! psql_tcp -d postgres -c 'select 1' >/dev/null 2>&1; then
		# Debian's default pg_hba asks for a password on TCP; a fresh local
		# cluster gets trust on loopback, as on the project's machines.
		hba=$(ls /etc/postgresql/*/main/pg_hba.conf 2>/dev/null | sort -V | tail -1 || true)
		if [ -n "$hba" ]; then
			log "postgres: enabling trust auth for 127.0.0.1 and ::1 in $hba"
			$SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
			version=$(basename "$(dirname "$(dirname "$hba")")")
			$SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload
			wait_for postgres-auth "$TIMEOUT" psql_tcp -d postgres -c 'select 1'
		else
			log "postgres: cannot log in as $PG_USER on 127.0.0.1 without a password, and no local cluster to fix"
			exit 1
		fi
	fi
	if [ "$(psql_tcp -d postgres -c "select 1 from pg_database where datname = '$PG_DB'")" != 1 ]; then
		log "postgres: creating database $PG_DB"
		psql_tcp -d postgres -c "create database $PG_DB"
	fi
	psql_tcp -d "$PG_DB" -c 'select 1' >/dev/null
	log "postgres: database $PG_DB reachable at postgres://$PG_USER@127.0.0.1:5432/$PG_DB (trust)"
elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
	# compose.yaml creates the database with trust auth; just check it.
	wait_for postgres-db "$TIMEOUT" docker compose -f compose.yaml exec -T postgres \
		psql -U "$PG_USER" -d "$PG_DB" -c 'select 1'
	log "postgres: database $PG_DB reachable (docker)"
else
	log "postgres: psql not installed; cannot check database $PG_DB"
	exit 1
fi

log "ready: postgres 127.0.0.1:5432, redis 127.0.0.1:6379, rabbitmq 127.0.0.1:5672"
