/* Calls of every common shape between functions that may run at different
 * tiers (the tests pin some interpreted and some compiled, by name):
 * integers of every width, float and double, pointers, structs by value (in
 * registers and in memory), variadic functions, function pointers, and qsort
 * calling back. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pair { int a, b; };
struct vec2 { double x, y; };

signed char narrow(signed char c, short s, unsigned char u) { return (signed char)(c + s - u); }
long long wide(long long a, unsigned long long b, int c) { return a * 3 + (long long)(b >> 2) - c; }
float scale(float f, double d, int n) { return (float)(f * d) + (float)n * 0.5f; }
double mix9(double a, int b, double c, int d, double e, int f, double g, int h, double i, int j,
            double k, double l, double m, double n2, int o, int p) {
    return a + b + c + d + e + f + g + h + i + j + k + l + m + n2 + o + p;
}
struct pair swap(struct pair p) { struct pair q = { p.b, p.a }; return q; }
struct vec2 rotate(struct vec2 v) { struct vec2 r = { -v.y, v.x }; return r; }
char *shout(char *s) { for (char *p = s; *p; p++) if (*p >= 'a' && *p <= 'z') *p -= 32; return s; }

int sum_ints(int n, ...) {
    va_list ap;
    va_start(ap, n);
    int total = 0;
    for (int i = 0; i < n; i++) total += va_arg(ap, int);
    va_end(ap);
    return total;
}

double sum_mixed(int n, ...) {
    va_list ap, copy;
    va_start(ap, n);
    va_copy(copy, ap);
    double total = 0;
    for (int i = 0; i < n; i++) total += va_arg(ap, double) * va_arg(ap, int);
    /* the copy reads the same arguments again */
    total += va_arg(copy, double);
    va_end(copy);
    va_end(ap);
    return total;
}

int format(char *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsprintf(out, fmt, ap);
    va_end(ap);
    return n;
}

static int by_value(const void *a, const void *b) {
    const struct pair *x = a, *y = b;
    return (x->a * 100 + x->b) - (y->a * 100 + y->b);
}

/* Larger than 16 bytes: passed by value in memory (byval), returned
 * through a hidden pointer. */
struct big { long a[5]; double d; };
double sum_big(struct big b) { double s = b.d; for (int i = 0; i < 5; i++) s += b.a[i]; return s; }
struct big bump(struct big b, int k) {
    for (int i = 0; i < 5; i++) b.a[i] += k;
    b.d *= 2;
    printf("sum_big %.1f\n", sum_big(b));
    return b;
}

typedef double (*binop)(double, double);
double add(double a, double b) { return a + b; }
double mul(double a, double b) { return a * b; }
double apply(binop f, double a, double b) { return f(a, b); }

int main(void) {
    printf("narrow %d\n", narrow(-100, 300, 250));
    printf("wide %lld\n", wide(-12345678901LL, 0xFFFFFFFFFFULL, 77));
    printf("scale %.4f\n", scale(1.5f, 2.25, 7));
    printf("mix9 %.2f\n", mix9(1.5, 2, 3.5, 4, 5.5, 6, 7.5, 8, 9.5, 10, 11.5, 12.5, 13.5, 14.5, 15, 16));
    struct pair p = swap((struct pair){ 3, 4 });
    printf("swap %d %d\n", p.a, p.b);
    struct vec2 v = rotate((struct vec2){ 1.25, -2.5 });
    printf("rotate %.2f %.2f\n", v.x, v.y);
    char word[] = "mixed tiers";
    printf("shout %s\n", shout(word));
    printf("sum_ints %d\n", sum_ints(9, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    printf("sum_mixed %.3f\n", sum_mixed(5, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6));
    char buf[128];
    int n = format(buf, "%s-%d-%.1f-%c-%ld", "fmt", 42, 2.5, 'z', -9L);
    printf("format %d %s\n", n, buf);
    struct pair ps[6] = { { 3, 1 }, { 1, 9 }, { 2, 2 }, { 1, 1 }, { 3, 0 }, { 2, 7 } };
    qsort(ps, 6, sizeof ps[0], by_value);
    for (int i = 0; i < 6; i++) printf("%d:%d ", ps[i].a, ps[i].b);
    printf("\n");
    binop ops[2] = { add, mul };
    for (int i = 0; i < 2; i++) printf("apply %.2f\n", apply(ops[i], 6.5, 4.0));
    printf("same pointer %d\n", ops[0] == add && (void *)apply != (void *)add);
    struct big g = { { 1, 2, 3, 4, 5 }, 0.5 };
    struct big h = bump(g, 10);
    printf("bump %ld %ld %.1f (the caller's copy %ld)\n", h.a[0], h.a[4], h.d, g.a[0]);
    return 0;
}
