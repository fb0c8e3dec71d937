/* Example app: sieve of Eratosthenes with malloc/free. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    const int n = 200000;
    char *composite = malloc(n + 1);
    memset(composite, 0, n + 1);
    int count = 0;
    long sum = 0;
    for (int i = 2; i <= n; i++) {
        if (composite[i]) continue;
        count++;
        sum += i;
        for (long j = (long)i * i; j <= n; j += i) composite[j] = 1;
    }
    free(composite);
    printf("primes below %d: %d, sum %ld\n", n, count, sum);
    return 0;
}
