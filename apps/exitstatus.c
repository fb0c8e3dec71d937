/* Example app: ends the way its argument says, to check that
 * `cargo xtask run --app` exits as the native program would:
 *   exit   -> exit(42)          status 42
 *   return -> main returns 3    status 3
 *   null   -> reads address 0   status 139 (SIGSEGV)
 *   abort  -> abort()           status 134 (SIGABRT)
 * Its line is flushed first, so a crash cannot lose it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "return";
    printf("ending by %s\n", how);
    fflush(stdout);
    if (strcmp(how, "exit") == 0) {
        exit(42);
    }
    if (strcmp(how, "null") == 0) {
        volatile int *p = NULL;
        return *p;
    }
    if (strcmp(how, "abort") == 0) {
        abort();
    }
    return 3;
}
