/* Calls two functions of a library the app host does not provide (zlib's
 * zlibVersion and compressBound): refused before it runs, with both names
 * listed. They are declared weak so that the native reference build links
 * without zlib (and prints "no zlib"). */
#include <stdio.h>

extern const char *zlibVersion(void) __attribute__((weak));
extern unsigned long compressBound(unsigned long) __attribute__((weak));

int main(void) {
    if (zlibVersion && compressBound) {
        printf("zlib %s, bound %lu\n", zlibVersion(), compressBound(100));
    } else {
        printf("no zlib\n");
    }
    return 0;
}
