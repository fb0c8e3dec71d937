/* Example app: recursion, a loop, a global counter and printf. */
#include <stdio.h>

static long calls = 0;

long fib(long n) {
    calls++;
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

int main(void) {
    for (long i = 0; i <= 20; i += 5) {
        printf("fib(%ld) = %ld\n", i, fib(i));
    }
    printf("calls = %ld\n", calls);
    return 0;
}
