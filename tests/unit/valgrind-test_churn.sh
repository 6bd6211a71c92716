#!/bin/sh
# The churn test under valgrind: 10k reads with keys added and removed on every
# read, no leak and no invalid access anywhere in the read path. valgrind does
# not know BPF_MAP_LOOKUP_BATCH and warns on every call: those lines are left out.
if ! command -v valgrind >/dev/null 2>&1; then
	echo "1..0 # SKIP valgrind not installed (apt-get install valgrind)"
	exit 0
fi
log=$(mktemp)
valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
	--suppressions="$(dirname "$0")/valgrind.supp" --error-exitcode=9 ./test_churn 2>"$log"
rc=$?
grep -v "unhandled eBPF command" "$log" >&2
rm -f "$log"
exit $rc
