/* Dies of SIGSEGV on an unmapped address (<fatal_signal> with <event> and <siaddr>). */
int main(void) { volatile int *p = (int *)16; return *p; }
