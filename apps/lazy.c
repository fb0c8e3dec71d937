/* Example app for lazy first calls: `never_called` runs only with more than
 * five arguments, so the JIT should never be asked for it. */
#include <stdio.h>

static int used(int x) { return x * 3 + 1; }

static int never_called(int x) { return x - 1; }

int main(int argc, char **argv) {
    (void)argv;
    int total = 0;
    for (int i = 0; i < 10; i++) total += used(i);
    if (argc > 5) total += never_called(total);
    printf("total = %d\n", total);
    return 0;
}
