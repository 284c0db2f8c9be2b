#!/usr/bin/env bash
# Builds the benchmark fixture: a throwaway PostgreSQL cluster with two databases of the
# same shape, `bench1g` (~1.1 GB) and `bench100m` (~110 MB).
#
#   bench/make-db.sh [CLUSTER_DIR]        (default: bench/out/cluster)
#   bench/make-db.sh stop [CLUSTER_DIR]   stop the cluster
#
# Each database holds the pgbench tables (`pgbench -i -s N`) plus a table
#   docs(id bigserial, title text, body text, meta jsonb, blob bytea)
# of varied text in several languages and scripts, jsonb objects of four different shapes,
# and, in about a quarter of the rows, 0.5-2 KiB of incompressible bytes (SHA-256 output),
# about 5% of the database. `docs` is filled in batches until the database reaches its
# target size (pg_database_size). The data is deterministic (setseed, sha256 of the row id).
#
# The cluster listens only on a Unix socket in CLUSTER_DIR (listen_addresses = ''), runs as
# the `postgres` user when started by root, and is tuned for loading speed (fsync = off,
# ...): it is a benchmark fixture, never a place for real data.
#
# Idempotent: a database that exists, carries this generator's version and has a size in
# range is left alone; otherwise it is dropped and rebuilt. Env: SCALE_1G (default 50),
# SCALE_100M (default 5).
set -euo pipefail

GENERATOR_VERSION=1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

action="make"
if [[ "${1:-}" == "stop" ]]; then action=stop; shift; fi
CLUSTER_DIR="${1:-$HERE/out/cluster}"
mkdir -p "$CLUSTER_DIR"
CLUSTER_DIR="$(cd "$CLUSTER_DIR" && pwd)"
DATA="$CLUSTER_DIR/data"
LOG="$CLUSTER_DIR/postgres.log"

PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [[ -z "$PGBIN" || ! -x "$PGBIN/initdb" ]]; then
    echo "make-db: no PostgreSQL server tools under /usr/lib/postgresql/*/bin (install postgresql)" >&2
    exit 1
fi

# Server-side tools run as `postgres` when we are root (initdb refuses root).
as_pg() {
    if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [[ "$action" == stop ]]; then
    if [[ -f "$DATA/postmaster.pid" ]]; then
        as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop
    else
        echo "make-db: no cluster running in $CLUSTER_DIR"
    fi
    exit 0
fi

if [[ "$(id -u)" == 0 ]]; then chown postgres:postgres "$CLUSTER_DIR"; fi

# --- cluster -----------------------------------------------------------------------------
if [[ ! -f "$DATA/PG_VERSION" ]]; then
    echo "make-db: initdb in $DATA"
    as_pg "$PGBIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$DATA/postgresql.conf" <<EOF

# --- Nightjar benchmark fixture (bench/make-db.sh): throwaway, tuned for loading speed ---
listen_addresses = ''
unix_socket_directories = '$CLUSTER_DIR'
port = 5432
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = 8GB
checkpoint_timeout = 30min
shared_buffers = 256MB
maintenance_work_mem = 512MB
work_mem = 64MB
autovacuum = off
max_parallel_workers_per_gather = 0
logging_collector = off
EOF
fi

if ! as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    echo "make-db: starting PostgreSQL ($("$PGBIN/postgres" --version)) on socket $CLUSTER_DIR"
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 120 start >/dev/null
fi

PSQL=("$PGBIN/psql" -h "$CLUSTER_DIR" -U postgres -X -q -v ON_ERROR_STOP=1)
q() { # q DB SQL: one value
    "${PSQL[@]}" -d "$1" -At -c "$2"
}

# Word lists: 8 languages x 24 words (a 2-D array needs equal lengths).
WORDS="$(cat <<'EOF'
ARRAY[
 ['the','backup','of','database','is','written','every','night','into','a','folder','that','syncs','with','the','cloud','and','keeps','thirty','days','restore','quickly','when','needed'],
 ['die','Sicherung','der','Datenbank','wird','jede','Nacht','in','einen','Ordner','geschrieben','und','bleibt','dreißig','Tage','erhalten','Prüfsumme','Größe','Übersicht','schnell','zurück','wenn','nötig','ist'],
 ['la','sauvegarde','de','base','données','est','écrite','chaque','nuit','dans','un','dossier','synchronisé','avec','le','nuage','et','gardée','trente','jours','restauration','rapide','très','fiable'],
 ['la','copia','de','seguridad','se','escribe','cada','noche','en','una','carpeta','sincronizada','con','la','nube','y','se','conserva','treinta','días','restauración','rápida','año','señal'],
 ['резервная','копия','базы','данных','записывается','каждую','ночь','в','папку','которая','синхронизируется','с','облаком','и','хранится','тридцать','дней','восстановление','быстро','когда','нужно','проверка','размер','журнал'],
 ['データベース','の','バックアップ','は','毎晩','フォルダ','に','書き込まれ','クラウド','と','同期','され','三十日間','保存','されます','復元','は','速く','確認','サイズ','履歴','圧縮','暗号','設定'],
 ['το','αντίγραφο','ασφαλείας','της','βάσης','δεδομένων','γράφεται','κάθε','νύχτα','σε','φάκελο','που','συγχρονίζεται','με','το','νέφος','και','κρατιέται','τριάντα','ημέρες','επαναφορά','γρήγορα','έλεγχος','μέγεθος'],
 ['kopia','zapasowa','bazy','danych','jest','zapisywana','każdej','nocy','do','folderu','który','synchronizuje','się','z','chmurą','i','przechowuje','trzydzieści','dni','przywracanie','szybko','gdy','trzeba','źródło']
]::text[]
EOF
)"

# --- one database --------------------------------------------------------------------------
# make_db NAME PGBENCH_SCALE TARGET_MB MIN_MB MAX_MB
make_db() {
    local db="$1" scale="$2" target_mb="$3" min_mb="$4" max_mb="$5"
    local exists size_mb version
    exists="$(q postgres "SELECT 1 FROM pg_database WHERE datname = '$db'")"
    if [[ "$exists" == 1 ]]; then
        version=""
        if [[ "$(q "$db" "SELECT to_regclass('public.bench_fixture') IS NOT NULL")" == t ]]; then
            version="$(q "$db" "SELECT max(version) FROM bench_fixture WHERE complete")"
        fi
        size_mb="$(q "$db" "SELECT pg_database_size(current_database()) / 1048576")"
        if [[ "$version" == "$GENERATOR_VERSION" ]] && ((size_mb >= min_mb && size_mb <= max_mb)); then
            echo "make-db: $db exists (${size_mb} MiB, generator v$version), kept"
            return 0
        fi
        echo "make-db: $db exists but is not this fixture (version '${version}', ${size_mb} MiB): rebuilding"
        q postgres "DROP DATABASE \"$db\" WITH (FORCE)"
    fi

    local t0=$SECONDS
    q postgres "CREATE DATABASE \"$db\""
    echo "make-db: $db: pgbench -i -s $scale"
    "$PGBIN/pgbench" -h "$CLUSTER_DIR" -U postgres -i -q -s "$scale" "$db" 2>&1 | grep -v '^[0-9]* of [0-9]* tuples' || true

    "${PSQL[@]}" -d "$db" <<'SQL'
CREATE TABLE bench_fixture (version int NOT NULL, complete bool NOT NULL DEFAULT false,
                            created timestamptz NOT NULL DEFAULT now());
CREATE TABLE docs (
    id    bigserial PRIMARY KEY,
    title text NOT NULL,
    body  text NOT NULL,
    meta  jsonb,
    blob  bytea
);
SQL

    local batch=$((scale * 1000)) start=1 size_bytes target_bytes=$((target_mb * 1048576))
    echo "make-db: $db: filling docs in batches of $batch rows up to ${target_mb} MiB"
    while :; do
        size_bytes="$(q "$db" "SELECT pg_database_size(current_database())")"
        ((size_bytes < target_bytes)) || break
        "${PSQL[@]}" -d "$db" <<SQL
SELECT setseed(($start % 100000) / 100000.0) \\g /dev/null
INSERT INTO docs (title, body, meta, blob)
SELECT
    -- title: 3 to 9 words of the row's language, capitalised
    -- (every aggregate argument names its own series, so the aggregate is the subquery's)
    initcap((SELECT string_agg(words[lang][1 + floor(random() * 24)::int + 0 * t], ' ')
             FROM generate_series(1, 3 + (g % 7)) t)),
    -- body: 10 to ~400 words, skewed towards short, with numbers, ids and punctuation
    (SELECT string_agg(
         CASE WHEN r < 0.04 THEN substr(md5(g::text || ':' || k::text), 1, 4 + (k % 9))
              WHEN r < 0.08 THEN (floor(random() * 100000))::text
              WHEN r < 0.12 THEN words[lang][1 + floor(random() * 24)::int] || '.'
              WHEN r < 0.14 THEN words[1 + (k % 8)][1 + floor(random() * 24)::int] || ','
              ELSE words[lang][1 + floor(random() * 24)::int] END, ' ')
     FROM (SELECT k, random() AS r
           FROM generate_series(1, 10 + floor(power(random(), 2) * 400)::int + 0 * g) k) s),
    -- meta: four different shapes
    CASE g % 4
      WHEN 0 THEN jsonb_build_object(
          'author', md5(g::text), 'lang', lang, 'views', floor(random() * 100000)::int,
          'tags', (SELECT jsonb_agg(words[lang][1 + floor(random() * 24)::int + 0 * t])
                   FROM generate_series(1, 1 + (g % 6)) t))
      WHEN 1 THEN jsonb_build_object(
          'rev', g % 17, 'published', random() < 0.7,
          'history', (SELECT jsonb_agg(jsonb_build_object(
                          'at', timestamp '2025-01-01' - random() * interval '900 days',
                          'by', substr(md5((g * 10 + i)::text), 1, 8),
                          'note', words[lang][1 + floor(random() * 24)::int]))
                      FROM generate_series(1, 1 + (g % 5)) i))
      WHEN 2 THEN jsonb_build_object(
          'geo', jsonb_build_object('lat', round((random() * 180 - 90)::numeric, 6),
                                    'lon', round((random() * 360 - 180)::numeric, 6)),
          'score', random(), 'flags', jsonb_build_array(random() < 0.5, random() < 0.1, null))
      ELSE jsonb_build_object('draft', true, 'n', g)
    END,
    -- blob: in ~25% of rows, 16 to 64 SHA-256 digests (0.5-2 KiB of incompressible bytes)
    CASE WHEN g % 4 = 1 THEN
        (SELECT string_agg(sha256(int8send(g * 100 + k)), ''::bytea)
         FROM generate_series(1, 16 + (g * 7) % 49) k)
    END
FROM generate_series($start, $((start + batch - 1))) g,
     LATERAL (SELECT 1 + (g % 8) AS lang) l,
     (SELECT $WORDS AS words) w;
SQL
        start=$((start + batch))
    done
    "${PSQL[@]}" -d "$db" -c "VACUUM (ANALYZE, FREEZE)" -c "CHECKPOINT" \
        -c "INSERT INTO bench_fixture (version, complete) VALUES ($GENERATOR_VERSION, true)"
    size_mb="$(q "$db" "SELECT pg_database_size(current_database()) / 1048576")"
    echo "make-db: $db built in $((SECONDS - t0)) s: ${size_mb} MiB ($(q "$db" "SELECT count(*) FROM docs") docs rows)"
    if ((size_mb < min_mb || size_mb > max_mb)); then
        echo "make-db: $db is ${size_mb} MiB, outside ${min_mb}-${max_mb} MiB" >&2
        exit 1
    fi
}

make_db bench100m "${SCALE_100M:-5}" 110 95 130
make_db bench1g "${SCALE_1G:-50}" 1100 1000 1250

echo "make-db: ready. Socket directory: $CLUSTER_DIR"
echo "make-db:   psql -h '$CLUSTER_DIR' -U postgres bench1g"
echo "make-db:   stop with: bench/make-db.sh stop '$CLUSTER_DIR'"
