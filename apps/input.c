/* Example app: reads numbers from standard input and words from a file it
 * opens by name, then writes a file and reads it back. Run it with
 *   cargo xtask run --app apps/input.c --stdin NUMBERS --file input-words.txt
 * where NUMBERS holds whitespace-separated integers. */
#include <stdio.h>
#include <string.h>

int main(void) {
    long sum = 0, x;
    int n = 0;
    while (scanf("%ld", &x) == 1) {
        sum += x;
        n++;
    }
    printf("read %d numbers from stdin, sum %ld\n", n, sum);

    FILE *f = fopen("input-words.txt", "r");
    if (!f) {
        printf("cannot open input-words.txt\n");
        return 1;
    }
    char w[64];
    int words = 0;
    size_t longest = 0;
    while (fscanf(f, "%63s", w) == 1) {
        words++;
        if (strlen(w) > longest) {
            longest = strlen(w);
        }
    }
    fclose(f);
    printf("input-words.txt: %d words, longest %zu\n", words, longest);

    FILE *out = fopen("result.txt", "w");
    fprintf(out, "%ld\n", sum * 2);
    fclose(out);
    FILE *back = fopen("result.txt", "r");
    long twice = 0;
    if (!back || fscanf(back, "%ld", &twice) != 1) {
        printf("cannot read result.txt back\n");
        return 1;
    }
    fclose(back);
    printf("wrote and read back %ld\n", twice);

    FILE *upd = fopen("result.txt", "r+");
    char digit = 0;
    if (!upd || fread(&digit, 1, 1, upd) != 1) {
        printf("cannot open result.txt for update\n");
        return 1;
    }
    fclose(upd);
    printf("r+ reads the first digit: %c\n", digit);
    printf("a file nobody gave: %s\n", fopen("absent.txt", "r") ? "opened" : "not found");
    return 0;
}
