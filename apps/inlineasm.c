/* Example app: inline assembly (rdtsc, cpuid, and arithmetic in asm),
 * which the JIT compiles through LLVM's x86 assembly parser. Prints only
 * what is the same on every x86-64 machine. */
#include <stdint.h>
#include <stdio.h>

static uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static uint32_t cpuid_max_leaf(void) {
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    return a;
}

static uint64_t asm_add(uint64_t x, uint64_t y) {
    __asm__("addq %1, %0" : "+r"(x) : "r"(y));
    return x;
}

static uint64_t asm_rotate(uint64_t x) {
    __asm__("rolq $13, %0" : "+r"(x));
    return x;
}

int main(void) {
    uint64_t t0 = rdtsc();
    uint64_t sum = 0;
    for (uint64_t i = 1; i <= 1000; i++) {
        sum = asm_add(sum, asm_rotate(i));
    }
    uint64_t t1 = rdtsc();
    printf("sum of rotations = %llu\n", (unsigned long long)sum);
    printf("rdtsc advances: %s\n", t1 > t0 ? "yes" : "no");
    printf("cpuid has a basic leaf: %s\n", cpuid_max_leaf() >= 1 ? "yes" : "no");
    return 0;
}
