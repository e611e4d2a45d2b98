#!/usr/bin/env bash
# Hibiki's whole test suite: the README's second command and what CI runs
# (`.ci/run` execs this file).
#
#   ./scripts/test.sh
#
# 1. Installs the tools the tests drive from Debian's packages when missing
#    (SIPp, sox, espeak-ng, baresip, Chromium, Firefox ESR, iproute2, and
#    clang, which the build uses for the kernel RTP forwarder; PostgreSQL in
#    CI), before anything is built.
# 2. Makes sure PostgreSQL answers on 127.0.0.1:5432 (starting the local
#    cluster if it is down). In CI (CI=true) PostgreSQL is required; on a
#    developer machine its half is skipped with a loud note when it is absent.
# 3. Builds the workspace once, then runs every test (SQLite is the default
#    database of the real-server tests).
# 4. Runs the database-dependent real-server tests again against PostgreSQL
#    (HIBIKI_TEST_DB=postgres).
# 5. As root: runs the bridging tests again with every server's bridged
#    audio relayed by the kernel (media.kernel_forwarding = "on", the eBPF
#    forwarder; HIBIKI_TEST_KERNEL_FORWARDING=on). Elsewhere it is skipped
#    with a note (it needs CAP_BPF and CAP_NET_ADMIN).
#
# Works as root with no terminal and no stdin. Exits non-zero on any failure,
# after a summary of every step.
#
# Environment:
#   CI=true                      PostgreSQL half is mandatory (and installed)
#   HIBIKI_TEST_POSTGRES=required|skip   override that decision
#   HIBIKI_TEST_POSTGRES_URL           admin URL the harness creates its databases
#                                with (default postgres://postgres@127.0.0.1:5432/postgres)
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export DEBIAN_FRONTEND=noninteractive

log() { printf '\n==> %s\n' "$*"; }
warn() { printf '\n!!! %s\n' "$*" >&2; }

# ---------------------------------------------------------------- tools ----
# One line per tool: "<command the tests or the build run> <Debian package that provides it>"
# (clang: build.rs compiles src/media/kernel/forward.bpf.c with it).
# (baresip: without recommends, the metapackage brings only baresip-core, which
# holds the binary and every module tests/common/baresip.rs loads.)
TOOLS=(
  "sipp sip-tester"
  "clang clang"
  "ip iproute2"
  "sox sox"
  "espeak-ng espeak-ng"
  "baresip baresip"
  "sha256sum coreutils"
  "date coreutils"
  "kill procps"
  "chromium chromium"
  "firefox-esr firefox-esr"
)

# The tools are installed above, so tests that need them must not skip
# quietly: a missing tool fails the run instead.
export HIBIKI_TEST_REQUIRE_TOOLS="${HIBIKI_TEST_REQUIRE_TOOLS:-1}"

# Which PostgreSQL half to run: required in CI, optional elsewhere.
if [[ -z "${HIBIKI_TEST_POSTGRES:-}" ]]; then
  if [[ "${CI:-}" == "true" ]]; then HIBIKI_TEST_POSTGRES=required; else HIBIKI_TEST_POSTGRES=optional; fi
fi
export HIBIKI_TEST_POSTGRES
if [[ "$HIBIKI_TEST_POSTGRES" == "required" ]]; then
  TOOLS+=("pg_isready postgresql-client" "pg_ctlcluster postgresql" "psql postgresql-client")
fi

SUDO=()
if [[ "$(id -u)" != "0" ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); fi
fi

install_missing_tools() {
  local missing=() entry cmd pkg
  for entry in "${TOOLS[@]}"; do
    cmd="${entry%% *}"
    pkg="${entry##* }"
    if ! command -v "$cmd" >/dev/null 2>&1; then missing+=("$pkg"); fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "all tools present: $(for e in "${TOOLS[@]}"; do printf '%s ' "${e%% *}"; done)"
    return 0
  fi
  # De-duplicate (psql and pg_isready share a package).
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [[ "$(id -u)" != "0" && ${#SUDO[@]} -eq 0 ]]; then
    warn "missing packages and neither root nor sudo: install them yourself: apt-get install ${missing[*]}"
    return 1
  fi
  log "installing from Debian's packages: ${missing[*]}"
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

# ----------------------------------------------------------- postgresql ----
pg_answers() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; }

# Runs psql as the database superuser over the local socket (root or sudo).
psql_as_postgres() {
  if [[ "$(id -u)" == "0" ]]; then
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@" </dev/null
  elif [[ ${#SUDO[@]} -gt 0 ]]; then
    sudo -n -u postgres psql -X -q -v ON_ERROR_STOP=1 "$@" </dev/null
  else
    return 1
  fi
}

ensure_postgres() {
  if ! pg_answers && command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
    local version
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    if [[ -n "$version" ]]; then
      log "starting PostgreSQL $version cluster 'main'"
      "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
      for _ in $(seq 1 30); do
        pg_answers && break
        sleep 1
      done
    fi
  fi
  pg_answers || return 1

  # The harness creates one database per test server with this admin URL.
  local url="${HIBIKI_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  if psql "$url" -X -q -c 'select 1' >/dev/null 2>&1 </dev/null; then
    export HIBIKI_TEST_POSTGRES_URL="$url"
    return 0
  fi
  # A fresh Debian cluster wants a password over TCP: use a dedicated test
  # role rather than touching the superuser's authentication.
  if [[ -z "${HIBIKI_TEST_POSTGRES_URL:-}" ]]; then
    log "creating PostgreSQL role hibiki_test (CREATEDB) for the tests"
    psql_as_postgres -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hibiki_test') THEN
          CREATE ROLE hibiki_test LOGIN CREATEDB PASSWORD 'hibiki_test';
        END IF; END \$\$;" || return 1
    url="postgres://hibiki_test:hibiki_test@127.0.0.1:5432/postgres"
    if psql "$url" -X -q -c 'select 1' >/dev/null 2>&1 </dev/null; then
      export HIBIKI_TEST_POSTGRES_URL="$url"
      return 0
    fi
  fi
  warn "PostgreSQL answers but $url does not accept us"
  return 1
}

# --------------------------------------------------------------- steps -----
declare -a SUMMARY=()
FAILED=0
step() {
  # step "<name>" command args...: runs it, records the outcome, never exits.
  local name="$1"
  shift
  log "$name"
  local start=$SECONDS
  if "$@"; then
    SUMMARY+=("PASS  $name ($((SECONDS - start)) s)")
  else
    SUMMARY+=("FAIL  $name ($((SECONDS - start)) s)")
    FAILED=1
  fi
}
skip() {
  SUMMARY+=("SKIP  $1")
}

run_tests() {
  # run_tests [extra nextest/cargo-test args]: the workspace's tests.
  if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast "$@"
  else
    cargo test --workspace --no-fail-fast "$@"
  fi
}

run_doc_tests() {
  # nextest does not run doc tests.
  if command -v cargo-nextest >/dev/null 2>&1; then
    cargo test --workspace --doc
  fi
}

# The test binaries that talk to a database through the real server; run a
# second time against PostgreSQL. One line per binary.
PG_TEST_BINARIES=(
  sip_calls
  sip_auth
  crash_recovery
  media_demo
  api_auth
  baresip_demo
  api_recording
  api_callbacks
  api_customers
  trunk_calls
  agent_queue
  agent_callback
)

# The test binaries whose calls bridge two legs (trunks, agents, IVR
# transfers, hold, consults, recordings): run again through the kernel
# forwarder.
KERNEL_TEST_BINARIES=(
  media_bridge
  media_dtmf
  media_late_offer
  trunk_calls
  ivr_transfer
  agent_queue
  agent_callback
  agent_softphone
  api_recording
  crash_recovery
)

# binary_args LIST NAME...: ARGS becomes `--test NAME` for each of them;
# fails, naming LIST, when one has no tests/NAME.rs.
binary_args() {
  local list="$1" t
  shift
  ARGS=()
  for t in "$@"; do
    if [[ -f "tests/$t.rs" ]]; then
      ARGS+=(--test "$t")
    else
      warn "$list names tests/$t.rs, which does not exist: update scripts/test.sh"
      return 1
    fi
  done
}

run_kernel_tests() {
  binary_args KERNEL_TEST_BINARIES "${KERNEL_TEST_BINARIES[@]}" || return 1
  HIBIKI_TEST_KERNEL_FORWARDING=on run_tests "${ARGS[@]}"
}

run_postgres_tests() {
  binary_args PG_TEST_BINARIES "${PG_TEST_BINARIES[@]}" || return 1
  HIBIKI_TEST_DB=postgres run_tests "${ARGS[@]}"
}

step "install missing tools" install_missing_tools

PG_OK=0
if ensure_postgres; then
  PG_OK=1
  echo "PostgreSQL answers on 127.0.0.1:5432 (admin URL user: $(sed -E 's#^postgres://([^:@]*).*#\1#' <<<"$HIBIKI_TEST_POSTGRES_URL"))"
elif [[ "$HIBIKI_TEST_POSTGRES" == "required" ]]; then
  SUMMARY+=("FAIL  PostgreSQL on 127.0.0.1:5432 (required here: CI=true or HIBIKI_TEST_POSTGRES=required)")
  FAILED=1
fi

step "build (cargo build --workspace --all-targets)" cargo build --workspace --all-targets
if [[ $FAILED -ne 0 && "${SUMMARY[-1]}" == FAIL* ]]; then
  skip "tests (the build failed)"
else
  step "tests on SQLite ($(command -v cargo-nextest >/dev/null 2>&1 && echo nextest || echo cargo test))" run_tests
  step "doc tests" run_doc_tests
  if [[ $PG_OK -eq 1 && "$HIBIKI_TEST_POSTGRES" != "skip" ]]; then
    step "real-server tests on PostgreSQL (${PG_TEST_BINARIES[*]})" run_postgres_tests
  else
    warn "PostgreSQL does not answer on 127.0.0.1:5432: SKIPPING the PostgreSQL half of the suite.
    Start it (pg_ctlcluster <version> main start) or run with CI=true to make it mandatory."
    skip "real-server tests on PostgreSQL: PostgreSQL not available"
  fi
  if [[ "$(id -u)" == "0" ]]; then
    step "bridging tests through the kernel forwarder (${KERNEL_TEST_BINARIES[*]})" run_kernel_tests
  else
    warn "not root: SKIPPING the bridging tests through the kernel forwarder (they need CAP_BPF and CAP_NET_ADMIN)"
    skip "bridging tests through the kernel forwarder: not root"
  fi
fi

printf '\n================ Hibiki test summary ================\n'
printf '%s\n' "${SUMMARY[@]}"
printf '=====================================================\n'
if [[ $FAILED -ne 0 ]]; then
  echo "RESULT: FAILED"
  exit 1
fi
echo "RESULT: all steps passed"
