/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The hook alternatives of the syscall programs, written once: each program
 * writes its body as functions and names them here. The loader tries the
 * alternatives in the order of the config's hook (tp_btf, raw_tp, then the
 * tracepoint; docs/kernels.md), so the program names below are what the
 * shipped YAML files list.
 *
 * Include after vmlinux.h, bpf_helpers.h, bpf_tracing.h and core_fixes.bpf.h.
 */
#ifndef BPFBRIDGE_SYSCALL_HOOKS_BPF_H
#define BPFBRIDGE_SYSCALL_HOOKS_BPF_H

/*
 * hook sys_exit: TP_PROTO(struct pt_regs *regs, long ret). EXIT(long nr,
 * long ret) runs once per syscall exit; nr is -1 when no syscall ran.
 */
#define BB_SYS_EXIT_PROGRAMS(EXIT)                                    \
	SEC("tp_btf/sys_exit")                                        \
	int BPF_PROG(tp_btf_sys_exit, struct pt_regs *regs, long ret) \
	{                                                             \
		return EXIT(bb_pt_regs_syscall_nr_btf(regs), ret);    \
	}                                                             \
                                                                      \
	SEC("raw_tp/sys_exit")                                        \
	int BPF_PROG(raw_tp_sys_exit, struct pt_regs *regs, long ret) \
	{                                                             \
		return EXIT(bb_pt_regs_syscall_nr(regs), ret);        \
	}                                                             \
                                                                      \
	SEC("tracepoint/raw_syscalls/sys_exit")                       \
	int tracepoint_sys_exit(struct trace_event_raw_sys_exit *ctx) \
	{                                                             \
		return EXIT(ctx->id, ctx->ret);                       \
	}

/*
 * hook sys_enter_exit: pairs of an entry and an exit program, loaded
 * together, so that an entry and its exit always share one store of start
 * times: ENTER_TASK(long nr) / EXIT_TASK(void) keep it in task-local storage
 * (tp_btf only, 5.11+), ENTER(long nr) / EXIT(void) in a hash by thread.
 */
#define BB_SYS_ENTER_EXIT_PROGRAMS(ENTER_TASK, EXIT_TASK, ENTER, EXIT)     \
	SEC("tp_btf/sys_enter")                                            \
	int BPF_PROG(tp_btf_sys_enter_task, struct pt_regs *regs, long id) \
	{                                                                  \
		return ENTER_TASK(id);                                     \
	}                                                                  \
                                                                           \
	SEC("tp_btf/sys_exit")                                             \
	int BPF_PROG(tp_btf_sys_exit_task)                                 \
	{                                                                  \
		return EXIT_TASK();                                        \
	}                                                                  \
                                                                           \
	SEC("tp_btf/sys_enter")                                            \
	int BPF_PROG(tp_btf_sys_enter, struct pt_regs *regs, long id)      \
	{                                                                  \
		return ENTER(id);                                          \
	}                                                                  \
                                                                           \
	SEC("tp_btf/sys_exit")                                             \
	int BPF_PROG(tp_btf_sys_exit)                                      \
	{                                                                  \
		return EXIT();                                             \
	}                                                                  \
                                                                           \
	SEC("raw_tp/sys_enter")                                            \
	int BPF_PROG(raw_tp_sys_enter, struct pt_regs *regs, long id)      \
	{                                                                  \
		return ENTER(id);                                          \
	}                                                                  \
                                                                           \
	SEC("raw_tp/sys_exit")                                             \
	int BPF_PROG(raw_tp_sys_exit)                                      \
	{                                                                  \
		return EXIT();                                             \
	}                                                                  \
                                                                           \
	SEC("tracepoint/raw_syscalls/sys_enter")                           \
	int tracepoint_sys_enter(struct trace_event_raw_sys_enter *ctx)    \
	{                                                                  \
		return ENTER(ctx->id);                                     \
	}                                                                  \
                                                                           \
	SEC("tracepoint/raw_syscalls/sys_exit")                            \
	int tracepoint_sys_exit(struct trace_event_raw_sys_exit *ctx)      \
	{                                                                  \
		return EXIT();                                             \
	}

#endif
