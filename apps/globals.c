/* Example app whose globals change as it runs: every boot must start from
 * their initial values (a snapshot restores code, never a run's state). */
#include <stdio.h>
#include <string.h>

static long total = 7;
static int calls;
static char trail[32] = "start";
static const char *last = "none";

static void bump(long by) {
    total = total * 3 + by;
    total %= 1000003;
    calls++;
}

int main(void) {
    printf("before: total=%ld calls=%d trail=%s last=%s\n", total, calls, trail, last);
    for (long i = 0; i < 30000; i++) bump(i);
    strcpy(trail, "changed");
    last = trail;
    printf("after: total=%ld calls=%d trail=%s last=%s\n", total, calls, trail, last);
    return 0;
}
