# Kernel-matrix test script (tests/vm/run). Runs under busybox sh, inside a
# qemu guest (from /init) or natively on the host, and executes the plan the
# runner wrote to $BBVM_DIR/plan. It decides nothing: it runs bpfbridge and
# the workloads and prints everything to stdout in a line protocol that the
# runner parses:
#
#   BBVM begin <uname -r>
#   BBINFO <key> <value...>
#   BBDATA <label> <stream> begin
#   ...raw output...
#   BBDATA <label> <stream> end rc=<exit status>
#   BBVM end
#
# Environment: BBVM_DIR (holds bin/, plan and the config dirs), BBVM_DISK
# (block device the disk workload may overwrite; empty: none),
# BBVM_INTERVAL (dump interval, seconds: the workload must finish within it),
# BBVM_WAIT (seconds to wait for bpfbridge to become ready or to exit).

BB="$BBVM_DIR/bin/bpfbridge"
HELPER="$BBVM_DIR/bin/bbvm-helper"
INTERVAL=${BBVM_INTERVAL:-2}
MARKER_CALLS=${BBVM_MARKER_CALLS:-1000}
WAIT=${BBVM_WAIT:-60}
WORK=$(mktemp -d /tmp/bbvm.XXXXXX) || exit 1

emit() { # label stream rc file
	echo "BBDATA $1 $2 begin"
	[ -f "$4" ] && cat "$4"
	# a last line without newline must not swallow the end marker
	[ -s "$4" ] && [ "$(tail -c 1 "$4" | od -An -c | tr -d ' ')" != '\n' ] && echo
	echo "BBDATA $1 $2 end rc=$3"
}

info() {
	echo "BBINFO uname $(uname -r)"
	echo "BBINFO btf $([ -r /sys/kernel/btf/vmlinux ] && echo yes || echo no)"
	echo "BBINFO kprobe-pmu $([ -d /sys/bus/event_source/devices/kprobe ] && echo yes || echo no)"
	echo "BBINFO tracefs $([ -d /sys/kernel/tracing/events ] && echo yes || echo no)"
	echo "BBINFO disk ${BBVM_DISK:-none}"
	echo "BBINFO cgroup $(cgroup_kind)"
	echo "BBINFO preempt-rt $(uname -v | grep -q PREEMPT_RT && echo yes || echo no)"
	probe_targets
}

# alive PID: PID runs and is not a zombie waiting to be reaped (kill -0
# succeeds for those)
alive() {
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ]
}

# The kernel functions the kprobe and fentry programs want, as the kernel
# itself sees them: traceable by ftrace (what fentry needs) and accepted by
# tracefs' kprobe_events (what a kprobe needs). The probe is removed at once.
probe_targets() {
	[ -s "$BBVM_DIR/targets" ] || return 0
	tfs=/sys/kernel/tracing
	# one pass over the (long) list of traceable functions
	grep -E "^($(tr '\n' '|' <"$BBVM_DIR/targets" | sed 's/|$//'))( |\$)" \
		"$tfs/available_filter_functions" >"$WORK/traceable" 2>/dev/null
	aff=$?
	i=0
	while read -r fn; do
		ftrace=no
		kprobe=no
		if [ "$aff" -ge 2 ]; then
			ftrace=unreadable # e.g. lockdown
		elif grep -qE "^$fn( |\$)" "$WORK/traceable"; then
			ftrace=yes
		fi
		if [ -w "$tfs/kprobe_events" ] && echo "p:bbvm/t$i $fn" >>"$tfs/kprobe_events" 2>/dev/null; then
			kprobe=yes
			echo "-:bbvm/t$i" >>"$tfs/kprobe_events"
		fi
		echo "BBINFO symbol:$fn ftrace=$ftrace kprobe=$kprobe"
		i=$((i + 1))
	done <"$BBVM_DIR/targets"
}

# wait_file FILE PID: until FILE exists; 1 when PID died first or time ran out
wait_file() {
	t=0
	while [ ! -e "$1" ]; do
		alive "$2" || return 1
		[ "$t" -ge $((WAIT * 10)) ] && return 1
		sleep 0.1
		t=$((t + 1))
	done
	return 0
}

# wait_exit PID: wait for PID, SIGKILL it after WAIT seconds; its status in $rc
wait_exit() {
	t=0
	while alive "$1"; do
		if [ "$t" -ge $((WAIT * 10)) ]; then
			echo "BBINFO $label-hung pid $1 did not exit: killed"
			kill -KILL "$1"
			break
		fi
		sleep 0.1
		t=$((t + 1))
	done
	wait "$1"
	rc=$?
}

cgroup_kind() {
	if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
		echo v2
	elif [ -d /sys/fs/cgroup/memory ]; then
		echo v1
	else
		echo none
	fi
}

# Run the hog in a memory cgroup with a small limit, so the cgroup's OOM
# killer (oom_kill_process, like the global one) kills exactly it.
oom_workload() {
	cg=
	case $(cgroup_kind) in
	v2)
		grep -qw memory /sys/fs/cgroup/cgroup.subtree_control ||
			echo +memory >/sys/fs/cgroup/cgroup.subtree_control || return 1
		cg=/sys/fs/cgroup/bbvm-oom-$$
		mkdir "$cg" || return 1
		echo 32M >"$cg/memory.max" || return 1
		[ -f "$cg/memory.swap.max" ] && echo 0 >"$cg/memory.swap.max"
		;;
	v1)
		cg=/sys/fs/cgroup/memory/bbvm-oom-$$
		mkdir "$cg" || return 1
		echo 32M >"$cg/memory.limit_in_bytes" || return 1
		;;
	*)
		echo "no memory cgroup controller" >&2
		return 1
		;;
	esac
	sh -c "echo \$\$ >$cg/cgroup.procs && exec $HELPER hog"
	rc=$?
	# for the log: what the kernel says it did, and which kprobes were armed
	dmesg | grep -E "invoked oom-killer|Killed process|oom-kill:" | tail -3
	[ -r /sys/kernel/debug/kprobes/list ] && grep oom /sys/kernel/debug/kprobes/list
	rmdir "$cg" 2>/dev/null
	# 137: killed by SIGKILL, which is what the OOM killer sends
	[ "$rc" -eq 137 ] || {
		echo "hog exited with $rc, expected 137 (SIGKILL by the OOM killer)" >&2
		return 1
	}
	return 0
}

workload() { # name args...
	case "$1" in
	none) return 0 ;;
	marker) "$HELPER" marker "$2" ;;
	read)
		echo bpfbridge >"$WORK/readme" && "$HELPER" read "$WORK/readme" "$2"
		;;
	disk)
		[ -b "$BBVM_DISK" ] || {
			echo "no disk to write to" >&2
			return 1
		}
		dd if=/dev/zero of="$BBVM_DISK" bs=4096 count="$2" oflag=direct 2>&1
		;;
	oom) oom_workload ;;
	*)
		echo "unknown workload $1" >&2
		return 2
		;;
	esac
}

# session LABEL YAML WORKLOAD...: load YAML with a fresh set of maps, run the
# workload while `bpfbridge dump` waits its interval, keep the one snapshot it
# prints. Counters start at zero, so the snapshot holds what the workload did
# (plus whatever else the system did meanwhile). TCG's speed varies: a
# workload that outlasts the interval is run again with a longer one.
session() {
	label=$1
	yaml=$2
	shift 2
	interval=$INTERVAL
	for attempt in 1 2 3; do
		dump_once "$@" && break
		echo "BBINFO $label-retry $attempt: the workload outlasted the dump interval ($interval s)"
		interval=$((interval * 3))
	done
	emit "$label" dump "$rc" "$out"
	emit "$label" stderr "$rc" "$err"
	emit "$label" workload "$wrc" "$wout"
}

# one dump around the workload; 1 if the workload outlasted the interval
dump_once() {
	out=$WORK/$label.json
	err=$WORK/$label.err
	wout=$WORK/$label.workload
	ready=$WORK/$label.ready
	late=0
	rm -f "$ready"
	"$BB" dump --format json --interval "$interval" --ready-file "$ready" "$yaml" \
		>"$out" 2>"$err" &
	pid=$!
	wrc=-1
	if wait_file "$ready" "$pid"; then
		workload "$@" >"$wout" 2>&1
		wrc=$?
		# the snapshot is only meaningful if it was taken after the workload
		alive "$pid" || late=1
	else
		echo "not run: bpfbridge dump exited or never became ready" >"$wout"
	fi
	wait_exit "$pid"
	[ "$late" = 0 ] || [ "$rc" != 0 ]
}

check() { # LABEL YAML [OPTION]
	# shellcheck disable=SC2086 # $3 is an optional option: absent, not ""
	"$BB" check $3 "$2" >"$WORK/$1.check" 2>&1
	emit "$1" "check$3" $? "$WORK/$1.check"
}

# privs LABEL YAML CAPS: check YAML as uid 65534 holding exactly CAPS
# (bbvm-helper as-nobody), with the process's uid and capabilities first.
privs() {
	f=$WORK/$1.privs.$3
	echo "perf_event_paranoid $(cat /proc/sys/kernel/perf_event_paranoid)" >"$f"
	"$HELPER" as-nobody "$3" /bin/busybox grep -E '^(Uid|CapEff)' /proc/self/status >>"$f" 2>&1
	"$HELPER" as-nobody "$3" "$BB" check "$2" >>"$f" 2>&1
	emit "$1" "privs-$3" $? "$f"
}

# nobtf LABEL YAML: check YAML in a private mount namespace where an empty file
# hides the kernel's BTF, once as is and once with a copy of it given by --btf:
# what an operator sees on a kernel without CONFIG_DEBUG_INFO_BTF.
nobtf() {
	[ -s "$WORK/vmlinux.btf" ] || cp /sys/kernel/btf/vmlinux "$WORK/vmlinux.btf"
	: >"$WORK/empty"
	# shellcheck disable=SC2016 # expanded by the inner shell
	hide='mount --bind "$1" /sys/kernel/btf/vmlinux && shift && exec "$@"'
	unshare -m --propagation private sh -c "$hide" - "$WORK/empty" \
		"$BB" check "$2" >"$WORK/$1.nobtf" 2>&1
	emit "$1" check-nobtf $? "$WORK/$1.nobtf"
	unshare -m --propagation private sh -c "$hide" - "$WORK/empty" \
		"$BB" check --btf "$WORK/vmlinux.btf" "$2" >"$WORK/$1.btffile" 2>&1
	emit "$1" check-btf-file $? "$WORK/$1.btffile"
}

# collectd LABEL YAML: the real collectd with the ebpf plugin loading YAML,
# writing to csv; the marker runs once collectd is up, and the step waits
# (WAIT seconds at most) until the csv row of the marker syscall reaches
# $MARKER_CALLS, then stops collectd.
collectd_step() {
	label=$1
	d=$WORK/collectd-$1
	csv=$d/csv/bbvm/ebpf-$(basename "$2" .yaml)/syscalls_total-syscall=ioprio_get-
	mkdir -p "$d"
	cat >"$d/collectd.conf" <<-EOF
		Hostname "bbvm"
		FQDNLookup false
		Interval 1
		AutoLoadPlugin false
		TypesDB "$BBVM_DIR/collectd/types.db"
		PluginDir "$BBVM_DIR/collectd/plugins"
		BaseDir "$d"
		PIDFile "$d/collectd.pid"
		LoadPlugin logfile
		<Plugin logfile>
		  LogLevel info
		  File "$d/collectd.log"
		</Plugin>
		LoadPlugin csv
		<Plugin csv>
		  DataDir "$d/csv"
		  StoreRates false
		</Plugin>
		LoadPlugin ebpf
		<Plugin ebpf>
		  ConfigDir "$(dirname "$2")"
		  Config "$(basename "$2" .yaml)"
		</Plugin>
	EOF
	"$BBVM_DIR/collectd/collectd" -f -C "$d/collectd.conf" >"$d/collectd.out" 2>&1 &
	pid=$!
	t=0
	value=none
	until grep -q "Initialization complete" "$d/collectd.log" 2>/dev/null; do
		if ! alive "$pid" || [ "$t" -ge $((WAIT * 10)) ]; then
			break
		fi
		sleep 0.1
		t=$((t + 1))
	done
	if grep -q "Initialization complete" "$d/collectd.log" 2>/dev/null; then
		"$HELPER" marker "$MARKER_CALLS"
		t=0
		while alive "$pid" && [ "$t" -lt $((WAIT * 10)) ]; do
			# shellcheck disable=SC2086 # the csv plugin appends the date
			value=$(cat $csv* 2>/dev/null | tail -n 1 | cut -d, -f2)
			[ "${value%%.*}" -ge "$MARKER_CALLS" ] 2>/dev/null && break
			sleep 0.2
			t=$((t + 2))
		done
	fi
	kill -TERM "$pid" 2>/dev/null
	wait_exit "$pid"
	echo "ioprio_get $value" >"$d/value"
	emit "$1" collectd-value "$rc" "$d/value"
	cat "$d/collectd.out" >>"$d/collectd.log" 2>/dev/null
	emit "$1" collectd-log "$rc" "$d/collectd.log"
}

# hotplug LABEL YAML: a perf_event/ config follows CPU hotplug. Guest only (it
# takes CPU 1 offline; the host run skips it). /init keeps CPU 1 offline, and
# so does this step when it ends. bpfbridge watch reads every
# second; CPU 1 is offline when the config opens, then comes online and is
# kept busy; then it goes offline and online again right after a read, and is
# kept busy again; then it stays offline for two reads, comes back and is kept
# busy once more. BBPHASE lines appended to the watch output (both append)
# mark where each phase starts; the runner sums CPU 1's samples per phase.
hotplug() {
	cpu1=/sys/devices/system/cpu/cpu1/online
	if [ "$BBVM_GUEST" != 1 ] || [ ! -w "$cpu1" ]; then
		echo "BBINFO hotplug-unavailable guest=${BBVM_GUEST:-0} online=$(cat /sys/devices/system/cpu/online)"
		return
	fi
	out=$WORK/$1.watch
	: >"$out"
	echo "BBPHASE offline $(cat /sys/devices/system/cpu/online)" >>"$out"
	"$BB" watch --interval 1 "$2" >>"$out" 2>"$WORK/$1.err" </dev/null &
	pid=$!
	hp_frames 1 "$pid"
	echo 1 >"$cpu1"
	hp_frames 2 "$pid" # a read after the CPU came online
	echo "BBPHASE online $(cat /sys/devices/system/cpu/online)" >>"$out"
	taskset -c 1 timeout 3 sh -c 'while :; do :; done'
	hp_frames 2 "$pid" # the reads that cover the busy loop
	n=$(grep -c 'programs attached' "$out")
	hp_frames 1 "$pid" # a read just happened: the next is a second away
	echo 0 >"$cpu1"
	echo 1 >"$cpu1"
	echo "BBPHASE cycled $(cat /sys/devices/system/cpu/online) frames-during-cycle=$(($(grep -c 'programs attached' "$out") - n - 1))" >>"$out"
	hp_frames 1 "$pid"
	taskset -c 1 timeout 3 sh -c 'while :; do :; done'
	hp_frames 2 "$pid"
	echo 0 >"$cpu1"
	hp_frames 2 "$pid" # reads while CPU 1 is offline
	echo 1 >"$cpu1"
	echo "BBPHASE reonline $(cat /sys/devices/system/cpu/online)" >>"$out"
	hp_frames 2 "$pid"
	taskset -c 1 timeout 3 sh -c 'while :; do :; done'
	hp_frames 2 "$pid"
	echo "BBPHASE end" >>"$out"
	kill -INT "$pid" 2>/dev/null
	wait_exit "$pid"
	echo 0 >"$cpu1" # as /init left it: see there
	emit "$1" watch "$rc" "$out"
	emit "$1" watch-log "$rc" "$WORK/$1.err"
}

# hp_frames N PID: wait (WAIT seconds at most) until watch PID printed N more frames
hp_frames() {
	want=$(($(grep -c 'programs attached' "$out") + $1))
	t=0
	while alive "$2" && [ "$(grep -c 'programs attached' "$out")" -lt "$want" ] &&
		[ "$t" -lt $((WAIT * 10)) ]; do
		sleep 0.1
		t=$((t + 1))
	done
}

echo "BBVM begin $(uname -r)"
info
while read -r step label yaml rest <&3; do
	yaml=$BBVM_DIR/$yaml # plan paths are relative to BBVM_DIR
	case "$step" in
	'' | '#'*) ;;
	check) check "$label" "$yaml" </dev/null ;;
	strict) check "$label" "$yaml" --strict </dev/null ;;
	nobtf) nobtf "$label" "$yaml" </dev/null ;;
	privs) privs "$label" "$yaml" "$rest" </dev/null ;;
	collectd) collectd_step "$label" "$yaml" </dev/null ;;
	hotplug) hotplug "$label" "$yaml" </dev/null ;;
	session)
		# shellcheck disable=SC2086 # rest is the workload and its arguments
		session "$label" "$yaml" $rest </dev/null
		;;
	*) echo "BBINFO plan-error unknown step $step" ;;
	esac
done 3<"$BBVM_DIR/plan"
rm -rf "$WORK"
echo "BBVM end"
