/* The wide-character routines Valgrind 3.19 replaces, on heap blocks of 8
   elements (blocks 4 to 7 of one call site: ordinary blocks, not guarded
   ones): wcscpy of 11 elements and a NUL (3 invalid writes of size 4 from
   its copy loop and one from its store of the NUL: 2 contexts, "0 bytes
   after" and "12 bytes after a block of size 32"); wcsnlen(p, 9) of a block
   holding no NUL (reads element 8, just after the block); wcslen and
   wcschr from 4 bytes before a block (the first element read is outside,
   the rest inside up to a NUL); wcscmp of a block holding no NUL with a
   string that differs at element 8 (reads the element just after it).
   (Valgrind 3.19 names glibc's __wcslen_avx2 and __wcschr_avx2 in frame 0
   there, the routines it leaves alone on this glibc.)
   expect-error: Invalid write of size 4
   expect-error: Invalid write of size 4
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4
   build: -fno-builtin */
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>
#include "common.h"
__attribute__((noipa)) wchar_t *make(size_t n) { return malloc(n * sizeof(wchar_t)); }
wchar_t *keep[8];
int main(void) {
    /* Blocks 0 and 1 of the call site are guarded; 4 to 7 are ordinary. */
    for (int i = 0; i < 8; i++) {
        keep[i] = make(8);
        ESCAPE(keep[i]);
    }
    const wchar_t *volatile text = L"hello world";
    wcscpy(keep[4], text);
    ESCAPE(keep[4]);

    wchar_t *s = keep[5];
    wcscpy(s, L"abc");
    ESCAPE(s);
    size_t m = wcslen(s - 1);
    wchar_t *hit = wcschr(s - 1, L'z');
    ESCAPE(hit);

    wchar_t *full = keep[6];
    for (int i = 0; i < 8; i++)
        full[i] = L'a' + i;
    ESCAPE(full);
    /* 8 or 9, by the bytes after the block: not printed. */
    size_t n = wcsnlen(full, 9);
    ESCAPE((void *)n);

    wchar_t *other = keep[7];
    for (int i = 0; i < 8; i++)
        other[i] = L'a' + i;
    ESCAPE(other);
    const wchar_t *volatile longer = L"abcdefghX";
    /* Its sign depends on the bytes after the block: not printed. */
    int c = wcscmp(other, longer);
    ESCAPE((void *)(long)c);
    printf("%zu\n", wcslen(s));
    ESCAPE((void *)m);
    return 0;
}
