# Sourced by the black-box tests of a local stack: `coffre="$1"; source .../stack_test_lib.sh`.
# Gives $dir (a temp dir; the stack lives in $dir/s and is stopped and removed on exit), and
# fail, field NAME (the value on the "NAME  value" line of a details table on stdin: two spaces
# at least, so "STATUS REASON" is not "STATUS") and must_fail CODE PATTERN ARGS... (`coffre
# ARGS` exits with CODE and PATTERN is on stderr).
dir=$(mktemp -d)
cleanup() {
  "$coffre" down --dir "$dir/s" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
field() { sed -n "s/^$1   *//p"; }
must_fail() {
  local code=$1 pattern=$2 rc=0 err
  shift 2
  err=$("$coffre" "$@" 2>&1 >/dev/null) || rc=$?
  [ "$rc" = "$code" ] || fail "coffre $*: exit $rc, wanted $code: $err"
  grep -q -- "$pattern" <<<"$err" || fail "coffre $*: no '$pattern' in: $err"
}
