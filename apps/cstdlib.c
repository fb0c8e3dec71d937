/* Example app: a broad sample of the C library that the app host's export
 * table (derived from glibc itself) must provide, including what headers
 * and the compiler turn calls into: sscanf (__isoc99_sscanf), isalpha
 * (__ctype_b_loc), errno (__errno_location), 128-bit division (__divti3),
 * complex multiplication (__muldc3), setjmp/longjmp, long double, and
 * atexit (which LLJIT also defines: the JIT renames the program's). */
#include <complex.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static jmp_buf env;

static void goodbye(void) { printf("atexit handler ran\n"); }

static void jump_back(int depth) {
    if (depth == 0) {
        longjmp(env, 7);
    }
    jump_back(depth - 1);
}

int main(void) {
    atexit(goodbye);
    int v[] = {9, 3, 7, 1, 5};
    qsort(v, 5, sizeof v[0], cmp_int);
    int key = 7;
    int *at = bsearch(&key, v, 5, sizeof v[0], cmp_int);
    printf("sorted %d %d %d %d %d, 7 at %ld\n", v[0], v[1], v[2], v[3], v[4], (long)(at - v));

    const char *text = "the quick brown fox";
    printf("strstr: %s, strspn: %zu, strpbrk: %s\n", strstr(text, "brown"),
           strspn(text, "eht "), strpbrk(text, "qx"));
    char copy[32];
    strncpy(copy, text, sizeof copy);
    char *save = NULL;
    int words = 0;
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        words++;
    }
    printf("words: %d, alpha: %d, upper: %c\n", words, isalpha('q') != 0, toupper('q'));

    int a, b;
    char name[16];
    int got = sscanf("12 34 widget", "%d %d %15s", &a, &b, name);
    printf("sscanf: %d -> %d %d %s\n", got, a, b, name);

    errno = 0;
    long big = strtol("99999999999999999999", NULL, 10);
    printf("strtol overflow: %ld, ERANGE: %d\n", big, errno == ERANGE);

    printf("sinf %.5f log1p %.6f cbrt %.4f hypot %.4f\n", sinf(0.5f), log1p(1e-3), cbrt(27.0),
           hypot(3.0, 4.0));
    long double ld = strtold("1.25", NULL);
    printf("long double: %.3Lf, sqrtl %.6Lf\n", ld * 4, sqrtl(2.0L));

    __int128 n = (__int128)1 << 100;
    __int128 q = n / 1000003;
    printf("int128: %llu %llu\n", (unsigned long long)(q >> 64), (unsigned long long)q);

    double complex z = (1.0 + 2.0 * I) * (3.0 - 1.0 * I);
    printf("complex: %.1f%+.1fi\n", creal(z), cimag(z));

    int back = setjmp(env);
    if (back == 0) {
        jump_back(5);
    }
    printf("longjmp returned %d\n", back);

    printf("getenv of an unset name: %s\n", getenv("JITOS_SURELY_UNSET") ? "set" : "null");
    char buf[64];
    snprintf(buf, sizeof buf, "%08.3f|%-5s|%x", 3.14159, "ab", 255);
    printf("snprintf: %s\n", buf);
    return 0;
}
