#!/bin/sh
# The in-process table tests once more, under valgrind: any leak or invalid
# access in the tables, the index maps or their net-snmp registrations fails.
if ! command -v valgrind >/dev/null 2>&1; then
	echo "1..0 # SKIP valgrind not installed (apt-get install valgrind)"
	exit 0
fi
exec valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
	--error-exitcode=9 ./test_snmp_tables
