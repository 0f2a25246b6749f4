/* cpp_deleted_string_strlen.cpp built at -O0.
   expect-error: Invalid read of size 1
   build: -fno-builtin -O0 */
#include "cpp_deleted_string_strlen.cpp"
