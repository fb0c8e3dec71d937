/* Uses C library functions the app host does not export: refused before
 * it runs, with the missing names listed. */
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int main(void) {
    int v[3] = {3, 1, 2};
    qsort(v, 3, sizeof v[0], cmp);
    printf("%d %d %d %d\n", v[0], v[1], v[2], abs(-4));
    return 0;
}
