/* A program built against old versions of C library functions that the
   runtime hooks (handoff.rs): realpath@GLIBC_2.2.5 (fails with EINVAL for
   a null buffer, where the default version allocates one),
   posix_spawn@GLIBC_2.2.5 (runs a script without #! through /bin/sh,
   where the default version returns ENOEXEC) and sched_getaffinity@GLIBC_2.3.3 (two arguments, no size).
   Under memdx each must behave as natively: the hook forwards to the
   version the program was linked against (symver.rs). Exit 1 to 3 name
   the one that did not (4: no script). Like every posix_spawn() under
   Valgrind, the spawn is a fork there, so its XML is not one document
   (check_xml does not compare it). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
__asm__(".symver realpath_old, realpath@GLIBC_2.2.5");
__asm__(".symver posix_spawn_old, posix_spawn@GLIBC_2.2.5");
__asm__(".symver sched_getaffinity_old, sched_getaffinity@GLIBC_2.3.3");
char *realpath_old(const char *, char *);
int posix_spawn_old(pid_t *, const char *, const posix_spawn_file_actions_t *,
                    const posix_spawnattr_t *, char *const[], char *const[]);
int sched_getaffinity_old(pid_t, cpu_set_t *);
extern char **environ;
int main(void) {
    errno = 0;
    char *r = realpath_old("/", NULL);
    if (r != NULL || errno != EINVAL) return 1;
    char path[] = "/tmp/memdx-old-spawn-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 4;
    const char script[] = "exit 7\n";
    if (write(fd, script, strlen(script)) != (ssize_t)strlen(script) || fchmod(fd, 0700) != 0) return 4;
    close(fd);
    pid_t pid;
    char *argv[] = {path, NULL};
    int rc = posix_spawn_old(&pid, path, NULL, NULL, argv, environ);
    int status = 0;
    if (rc == 0 && waitpid(pid, &status, 0) != pid) rc = -1;
    unlink(path);
    if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 7) return 2;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity_old(0, &set) != 0 || CPU_COUNT(&set) == 0) return 3;
    return 0;
}
