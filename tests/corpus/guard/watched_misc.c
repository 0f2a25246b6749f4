/* Small structs in the heap that the kernel reads or fills: nanosleep,
   clock_gettime (a clock the vDSO leaves to the kernel), getrlimit,
   uname, sigaction, sigprocmask, ioctl(FIONREAD), a raw syscall(), and a
   stream buffer given to setvbuf that the C library reads into; they
   must work as natively. No error.
   memdx-options: --watch-blocks=yes
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "common.h"
int main(void) {
    struct timespec *ts = calloc(1, sizeof *ts), *cpu = calloc(1, sizeof *cpu);
    struct rlimit *rl = calloc(1, sizeof *rl);
    struct utsname *un = calloc(1, sizeof *un);
    struct sigaction *sa = calloc(1, sizeof *sa), *old = calloc(1, sizeof *old);
    sigset_t *set = calloc(1, sizeof *set);
    int *avail = calloc(1, sizeof *avail);
    long *word = calloc(1, sizeof *word);
    char *sbuf = calloc(1, 64), *line = calloc(1, 32);
    int fds[2];
    ESCAPE(ts); ESCAPE(cpu); ESCAPE(rl); ESCAPE(un); ESCAPE(sa); ESCAPE(old);
    ESCAPE(set); ESCAPE(avail); ESCAPE(word); ESCAPE(sbuf); ESCAPE(line);
    ts->tv_nsec = 1000;
    if (nanosleep(ts, NULL) != 0) return 2;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, cpu) != 0) return 3;
    if (getrlimit(RLIMIT_NOFILE, rl) != 0 || rl->rlim_cur == 0) return 4;
    if (uname(un) != 0 || un->sysname[0] == 0) return 5;
    sa->sa_handler = SIG_IGN;
    if (sigaction(SIGUSR1, sa, old) != 0) return 6;
    sigaddset(set, SIGUSR2);
    if (sigprocmask(SIG_BLOCK, set, NULL) != 0) return 7;
    if (pipe(fds) != 0 || write(fds[1], "abc\n", 4) != 4) return 8;
    if (ioctl(fds[0], FIONREAD, avail) != 0 || *avail != 4) return 9;
    if (syscall(SYS_getrandom, word, sizeof *word, 0) != sizeof *word) return 10;
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    if (!f || setvbuf(f, sbuf, _IOFBF, 64) != 0) return 11;
    if (!fgets(line, 32, f) || strcmp(line, "abc\n") != 0) return 12;
    fclose(f);
    puts("misc ok");
    free(ts); free(cpu); free(rl); free(un); free(sa); free(old); free(set);
    free(avail); free(word); free(sbuf); free(line);
    return 0;
}
