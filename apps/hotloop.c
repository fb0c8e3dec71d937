/* Example app: all of its work is one loop in main, which is called once,
 * so call counts alone would leave it interpreted for good. Under
 * `--tier auto` the loop's back-edges make main hot, and the running frame
 * moves to compiled code at the loop's header (on-stack replacement),
 * carrying the values it had already changed. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    const int n = 4000000;
    char *composite = calloc(n + 1, 1);
    if (!composite) return 1;
    /* Changed before the loop: the compiled loop must carry these on. */
    unsigned long mix = 0x9e3779b97f4a7c15UL;
    int count = 0;
    long sum = 0;
    for (int i = 2; i <= n; i++) {
        if (composite[i]) {
            mix ^= (unsigned long)i * 0xbf58476d1ce4e5b9UL;
            continue;
        }
        count++;
        sum += i;
        mix = (mix << 7 | mix >> 57) + (unsigned long)i;
        for (long j = (long)i * i; j <= n; j += i) composite[j] = 1;
    }
    free(composite);
    printf("primes up to %d: %d, sum %ld, mix %016lx\n", n, count, sum, mix);
    return 0;
}
