/* Uses C library functions the app host does not export (bsearch and
 * getenv): refused before it runs, with the missing names listed. */
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int main(void) {
    int v[3] = {1, 2, 3}, key = 2;
    int *at = bsearch(&key, v, 3, sizeof v[0], cmp);
    printf("%ld %s %d\n", at ? (long)(at - v) : -1L, getenv("HOME") ? "home" : "none", abs(-4));
    return 0;
}
