/* step: run a command under ptrace, one instruction at a time, and write every distinct
 * instruction address it executed, in the order first executed, one hex number per line.
 *
 *     step OUT command [args...]
 *
 * Used by scripts/symbol-order.py to learn which functions a cached compile's hit runs,
 * natively (the CPU's own ifunc choices, the vDSO set-up of static glibc), which a
 * simulator such as valgrind would not show. Only the command's own process is traced;
 * when it execs another program (a pass-through), tracing stops there. Slow by nature:
 * about 60 us per instruction in a VM, a minute for a hit's million instructions.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAP (1u << 22)
static uint64_t *seen;  /* open-addressing set of addresses, 0 = empty */
static uint64_t *order; /* the same addresses, in first-executed order */
static size_t count;

static void note(uint64_t rip) {
    size_t i = (size_t)((rip * 0x9E3779B97F4A7C15ull) >> 42);
    for (;; i++) {
        uint64_t *slot = &seen[i & (CAP - 1)];
        if (*slot == rip) return;
        if (!*slot) {
            if (count + 1 >= CAP / 2) {
                fprintf(stderr, "step: more than %u distinct addresses\n", CAP / 2);
                exit(1);
            }
            *slot = rip;
            order[count++] = rip;
            return;
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: step OUT command [args...]\n");
        return 2;
    }
    seen = calloc(CAP, sizeof *seen);
    order = calloc(CAP / 2, sizeof *order);
    if (!seen || !order) return 1;
    pid_t child = fork();
    if (child < 0) return 1;
    if (!child) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        execvp(argv[2], argv + 2);
        _exit(127);
    }
    int st;
    if (waitpid(child, &st, 0) < 0 || !WIFSTOPPED(st)) return 1; /* stopped at its exec */
    ptrace(PTRACE_SETOPTIONS, child, 0, PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL);
    int sig = 0, code = -1;
    unsigned long steps = 0;
    for (;;) {
        struct user_regs_struct regs;
        if (ptrace(PTRACE_GETREGS, child, 0, &regs) == 0) note(regs.rip);
        if (ptrace(PTRACE_SINGLESTEP, child, 0, sig) < 0) break;
        sig = 0;
        if (waitpid(child, &st, 0) < 0) break;
        steps++;
        if (WIFEXITED(st)) {
            code = WEXITSTATUS(st);
            break;
        }
        if (WIFSIGNALED(st)) break;
        if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXEC << 8))) {
            /* exec'd the real compiler: not ours to trace */
            ptrace(PTRACE_DETACH, child, 0, 0);
            waitpid(child, &st, 0);
            code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
        if (WSTOPSIG(st) != SIGTRAP) sig = WSTOPSIG(st); /* deliver it on the next step */
    }
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    for (size_t i = 0; i < count; i++) fprintf(out, "%lx\n", (unsigned long)order[i]);
    if (fclose(out)) return 1;
    fprintf(stderr, "step: %lu instructions, %zu distinct addresses, exit %d\n", steps,
            count, code);
    return code == 0 ? 0 : 1;
}
