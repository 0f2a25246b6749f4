/* uninit_cpp_new.cpp built at -O0.
   expect-error: Syscall param write(buf) points to uninitialised byte(s)
   build: -O0 */
#include "uninit_cpp_new.cpp"
