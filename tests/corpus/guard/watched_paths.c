/* Paths built in the heap and buffers the kernel fills, given to the C
   library's file calls: open, stat, lstat, fstat, access, fopen, opendir,
   readlink, getcwd, mkdir/rmdir, statvfs. A watched block's closed page
   made each fail with EFAULT ("Can't open /dev/null: Bad address" from
   perl); they must work as natively. No error.
   memdx-options: --watch-blocks=yes
*/
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "common.h"
int main(void) {
    char *path = malloc(16), *dir = malloc(8), *self = malloc(24);
    char *link = malloc(64), *cwd = malloc(512), *tmp = malloc(64);
    struct stat *st = malloc(sizeof *st);
    struct statvfs *vfs = malloc(sizeof *vfs);
    ESCAPE(path); ESCAPE(dir); ESCAPE(self); ESCAPE(link); ESCAPE(cwd);
    ESCAPE(tmp); ESCAPE(st); ESCAPE(vfs);
    strcpy(path, "/dev/null");
    strcpy(dir, "/");
    strcpy(self, "/proc/self/cwd");
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 2;
    if (fstat(fd, st) != 0 || !S_ISCHR(st->st_mode)) return 3;
    close(fd);
    if (stat(path, st) != 0 || lstat(path, st) != 0) return 4;
    if (access(path, R_OK) != 0) return 5;
    FILE *f = fopen(path, "r");
    if (!f) return 6;
    fclose(f);
    DIR *d = opendir(dir);
    if (!d) return 7;
    closedir(d);
    if (!getcwd(cwd, 512)) return 8;
    ssize_t n = readlink(self, link, 63);
    if (n <= 0) return 9;
    link[n] = 0;
    if (strcmp(link, cwd) != 0) return 10;
    if (statvfs(dir, vfs) != 0) return 11;
    snprintf(tmp, 64, "/tmp/memdx-watched-%d", (int)getpid());
    if (mkdir(tmp, 0700) != 0 || rmdir(tmp) != 0) return 12;
    puts("paths ok");
    free(path); free(dir); free(self); free(link); free(cwd); free(tmp);
    free(st); free(vfs);
    return 0;
}
