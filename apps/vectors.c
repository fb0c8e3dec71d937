/* Example app for code for this CPU: loops over arrays that LLVM
 * vectorizes (four 32-bit lanes with SSE2, eight with AVX2). Integer and
 * exact float work only (no a * b + c that FMA would round differently),
 * so the output is the same whatever the vector width. */
#include <stdio.h>

#define N 4096

static int a[N], b[N], c[N];
static float x[N], y[N], z[N];

static void scale_add(int *out, const int *p, const int *q, int k) {
    for (int i = 0; i < N; i++) out[i] = p[i] * k + (q[i] >> 1);
}

static long long dot(const int *p, const int *q) {
    long long s = 0;
    for (int i = 0; i < N; i++) s += p[i] * q[i];
    return s;
}

static void multiply(float *out, const float *p, const float *q) {
    for (int i = 0; i < N; i++) out[i] = p[i] * q[i];
}

int main(void) {
    for (int i = 0; i < N; i++) {
        a[i] = (i * 7919) % 1000 - 500;
        b[i] = (i * 104729) % 777;
        x[i] = (float)(i % 64) * 0.5f;
        y[i] = (float)((i * 31) % 16) * 0.25f;
    }
    long long total = 0;
    for (int round = 0; round < 300; round++) {
        scale_add(c, a, b, round % 7 + 1);
        total += dot(c, a) % 1000003;
        multiply(z, x, y);
        x[round % N] = z[(round * 13) % N];
    }
    long long zsum = 0;
    for (int i = 0; i < N; i++) zsum += (long long)(z[i] * 4.0f);
    printf("total = %lld\nz = %lld\n", total, zsum);
    return 0;
}
