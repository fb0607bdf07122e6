# Shared by the tests/cli scripts: source it once `coffre` holds the binary's path. It makes a
# temporary directory $dir, whose local stack ($dir/s) is stopped and which is removed on exit,
# and defines the helpers below.
dir=$(mktemp -d)
cleanup() {
  "$coffre" down --dir "$dir/s" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# must_fail CODE PATTERN ARGS...: `coffre ARGS` exits with CODE and PATTERN (an extended
# regular expression) is on stderr.
must_fail() {
  local code=$1 pattern=$2 rc=0 err
  shift 2
  err=$("$coffre" "$@" 2>&1 >/dev/null) || rc=$?
  [ "$rc" = "$code" ] || fail "coffre $*: exit $rc, wanted $code: $err"
  grep -Eq -- "$pattern" <<<"$err" || fail "coffre $*: no '$pattern' in: $err"
}
# conn KEY: a top-level field of the stack's connection.json (one key per line; a string's
# quotes dropped). conn_pid NAME: the pid of one of its daemons ("hub", "vault").
conn() { sed -n "s/^  \"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$dir/s/connection.json"; }
conn_pid() { sed -n "s/^    \"$1\": \([0-9]*\),\{0,1\}$/\1/p" "$dir/s/connection.json"; }
# json_count: the number of items in a list body on stdin.
json_count() { node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).value.length)'; }
source "$(dirname "${BASH_SOURCE[0]}")/ports.sh"  # stack_port_base, free_port
