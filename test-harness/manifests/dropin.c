/* A program that needs a compiler flag (-DN=...), prints its argv[0],
 * writes to stderr, ends without a final newline and returns N: what
 * `cargo xtask run --app` must handle like a native run. */
#include <stdio.h>

#ifndef N
#error "compile with -DN=..."
#endif

int main(int argc, char **argv) {
    (void)argc;
    printf("argv[0] = %s\n", argv[0]);
    printf("N = %d\n", N);
    fflush(stdout);
    fprintf(stderr, "to stderr\n");
    printf("no final newline");
    return N;
}
