/* cpp_repeat_use_after_free.cpp built at -O0.
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4
   build: -O0 */
#include "cpp_repeat_use_after_free.cpp"
