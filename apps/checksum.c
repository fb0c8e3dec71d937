/* Example app: FNV-1a and a rolling checksum over generated data. */
#include <stdio.h>
#include <stdint.h>

static uint8_t buffer[1 << 16];

static uint64_t fnv1a(const uint8_t *p, int n) {
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

int main(void) {
    uint32_t x = 12345;
    for (int i = 0; i < (int)sizeof buffer; i++) {
        x = x * 1103515245u + 12345u;
        buffer[i] = (uint8_t)(x >> 16);
    }
    uint32_t a = 1, b = 0;
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < (int)sizeof buffer; i++) {
            a = (a + buffer[i]) % 65521;
            b = (b + a) % 65521;
        }
    }
    printf("fnv1a = %016llx\n", (unsigned long long)fnv1a(buffer, sizeof buffer));
    printf("adler = %08x\n", (b << 16) | a);
    return 0;
}
