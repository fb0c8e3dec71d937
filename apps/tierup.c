/* Example app for tier-up while running: a long loop of small calls. */
#include <stdio.h>

static unsigned long step(unsigned long x) {
    return x * 6364136223846793005UL + 1442695040888963407UL;
}

static unsigned long mix(unsigned long x, int rounds) {
    for (int i = 0; i < rounds; i++) x = step(x) ^ (x >> 17);
    return x;
}

int main(void) {
    unsigned long acc = 0;
    /* Long enough that mix and step reach O3 (by the JIT's compiles,
     * seconds under TCG) about a second before the end: the ladder tests
     * read every step, and with 10,000 rounds the last came 0.2 s before
     * it. */
    for (int i = 0; i < 40000; i++) acc += mix((unsigned long)i, 20000);
    printf("acc = %lu\n", acc);
    return 0;
}
