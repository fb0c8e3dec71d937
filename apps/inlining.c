/* Example app for inlining across dispatch slots: main's loop calls a
 * small function (the JIT inlines it into main from O2 on) and a big one
 * (too big to carry into main's unit: it stays a call through its slot,
 * and can change tier while main runs), and could call a third, small
 * one, which a run never calls (with the run's call counts, the JIT
 * leaves it out of main's units). */
#include <stdio.h>

static unsigned small(unsigned x) {
    return (x * 2654435761u) ^ (x >> 13);
}

static unsigned rare(unsigned x) {
    return x * 7u + 1u;
}

static const unsigned table[16] = {3,  1,  4,  1,  5,  9,  2,  6,
                                   5,  3,  5,  8,  9,  7,  9,  3};

#define ROUND(k)                                                   \
    x = (x ^ (x >> 7)) * (2654435761u + (k));                      \
    x += table[(x + (k)) & 15] ^ (x << 3);
#define EIGHT(k)                                                   \
    ROUND(k) ROUND(k + 1) ROUND(k + 2) ROUND(k + 3) ROUND(k + 4)   \
        ROUND(k + 5) ROUND(k + 6) ROUND(k + 7)

static unsigned big(unsigned x) {
    EIGHT(0) EIGHT(8) EIGHT(16) EIGHT(24) EIGHT(32)
    return x;
}

int main(int argc, char **argv) {
    (void)argv;
    /* Long enough that main, hot by its loop, reaches O2 (100,000
     * back-edges, after the JIT's compiles of big) seconds before the run
     * ends: the ladder test reads main's O2 unit, and a run that ended
     * first (3,000,000 calls on a slower machine) had none. */
    const int calls = 8000000;
    unsigned acc = 0;
    for (int i = 0; i < calls; i++) {
        acc += small((unsigned)i) + big(acc ^ (unsigned)i);
        if (argc > i + 100) acc = rare(acc); /* never: argc is small */
    }
    printf("calls = %d\nacc = %u\n", calls, acc);
    return 0;
}
