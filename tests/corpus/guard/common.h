/* Keeps the optimizer from deleting allocations the program "does not use". */
#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")
#define CLOBBER() __asm__ volatile("" : : : "memory")
