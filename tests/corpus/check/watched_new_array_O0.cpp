/* watched_new_array.cpp built at -O0.
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4
   expect-error: Invalid read of size 4
   build: -O0 */
#include "watched_new_array.cpp"
