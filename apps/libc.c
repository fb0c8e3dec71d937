/* Example app for the C library the app host exports: strings, memory,
 * maths, sorting through a callback into JIT-compiled code, formatted
 * output to a buffer and to stderr, and exit(). At O1 and above LLVM turns
 * some of these calls into others (fwrite, bcmp, ...) that must be
 * exported too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void greet(char *out, size_t n, const char *who) {
    snprintf(out, n, "hello, %s", who);
}

static int by_value(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    char buf[64];
    greet(buf, sizeof buf, argc > 1 ? argv[1] : "jit");
    char copy[64];
    strcpy(copy, buf);
    strcat(copy, "!");
    memmove(copy + 1, copy, 5);
    printf("%s | %s | %zu | %d\n", buf, copy, strlen(copy), strncmp(buf, "hello", 5));
    printf("same prefix: %d, last l at %ld\n", memcmp(buf, "hello", 5) == 0,
           (long)(strrchr(buf, 'l') - buf));
    printf("%d %ld %d %.2f\n", abs(-7), labs(-9L), atoi("123") + (int)strtol("ff", 0, 16),
           atof("2.5") + strtod("0.25", 0));
    double x = argc + 0.5;
    printf("%.6f %.6f %.6f %.6f\n", pow(2.0, x), exp(x), log(x * 10), atan2(x, 1.0));
    printf("%.6f %.6f %.1f %.1f\n", sin(x), cos(x), floor(-x), fmod(x * 5, 2.0));
    int v[] = {5, -3, 9, 0, 7, -8, 2};
    qsort(v, sizeof v / sizeof v[0], sizeof v[0], by_value);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        printf("%d%c", v[i], i + 1 < sizeof v / sizeof v[0] ? ' ' : '\n');
    fprintf(stderr, "to stderr\n");
    fflush(stdout);
    exit(strchr(buf, ',') ? 3 : 4);
}
