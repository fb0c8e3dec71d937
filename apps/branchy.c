/* Example app for profile-guided optimization: branch-heavy code whose
 * branches go one way far more often than the other, in ways the source
 * does not tell the compiler (no __builtin_expect):
 *   - a character classifier whose if-chain tests the common class last;
 *   - a small stack machine whose dispatch switch runs one opcode mostly;
 *   - a checked loop whose rare failure path calls a larger function;
 *   - inner loops that usually run zero to two times;
 *   - calls through a table of function pointers that mostly reach one.
 * Deterministic: it prints checksums. */
#include <stdio.h>
#include <string.h>

#define TEXT 200000
#define ROUNDS 6

static unsigned int seed = 12345;

static unsigned int next(void) {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) & 0x7fff;
}

static char text[TEXT];

/* Mostly lower-case letters; spaces now and then; digits, capitals and
 * punctuation rarely. */
static void make_text(void) {
    for (int i = 0; i < TEXT; i++) {
        unsigned int r = next() % 1000;
        if (r < 8)
            text[i] = (char)('0' + r);
        else if (r < 14)
            text[i] = (char)('A' + r);
        else if (r < 20)
            text[i] = ".,;:!?"[r - 14];
        else if (r < 150)
            text[i] = ' ';
        else
            text[i] = (char)('a' + r % 26);
    }
}

struct counts {
    long digits, upper, punct, spaces, lower, words, vowels;
};

static void classify(const char *s, int n, struct counts *c) {
    int in_word = 0;
    for (int i = 0; i < n; i++) {
        char ch = s[i];
        if (ch >= '0' && ch <= '9') {
            c->digits++;
            in_word = 0;
        } else if (ch >= 'A' && ch <= 'Z') {
            c->upper++;
            if (!in_word) c->words++;
            in_word = 1;
        } else if (ch == '.' || ch == ',' || ch == ';' || ch == ':' || ch == '!' || ch == '?') {
            c->punct++;
            in_word = 0;
        } else if (ch == ' ') {
            c->spaces++;
            in_word = 0;
        } else {
            c->lower++;
            if (ch == 'a' || ch == 'e' || ch == 'i' || ch == 'o' || ch == 'u') c->vowels++;
            if (!in_word) c->words++;
            in_word = 1;
        }
    }
}

/* A stack machine: ADD dominates the program, the other opcodes are rare. */
enum { PUSH, ADD, SUB, MUL, DUP, SWAP, DROP, XOR, HALT };

static unsigned long run_machine(const unsigned char *code, int len, unsigned long start) {
    unsigned long stack[64];
    int sp = 0;
    stack[sp++] = start;
    for (int pc = 0; pc < len; pc++) {
        if (sp < 2) stack[sp++] = pc; /* every opcode finds two operands */
        switch (code[pc]) {
        case PUSH: stack[sp++] = code[++pc]; break;
        case ADD: stack[sp - 2] += stack[sp - 1]; stack[sp - 1] = stack[sp - 2] & 255; break;
        case SUB: stack[sp - 2] -= stack[sp - 1]; sp--; break;
        case MUL: stack[sp - 2] *= stack[sp - 1]; sp--; break;
        case DUP: stack[sp] = stack[sp - 1]; sp++; break;
        case SWAP: { unsigned long t = stack[sp - 1]; stack[sp - 1] = stack[sp - 2]; stack[sp - 2] = t; } break;
        case DROP: sp--; break;
        case XOR: stack[sp - 2] ^= stack[sp - 1]; sp--; break;
        case HALT: return stack[sp - 1];
        default: return 0;
        }
        if (sp > 60) sp = 60;
    }
    return stack[sp - 1];
}

static int make_program(unsigned char *code, int room) {
    int n = 0;
    code[n++] = PUSH;
    code[n++] = 3;
    while (n < room - 3) {
        unsigned int r = next() % 100;
        if (r < 85) code[n++] = ADD;
        else if (r < 88) code[n++] = SUB;
        else if (r < 91) code[n++] = MUL;
        else if (r < 94) code[n++] = XOR;
        else if (r < 97) code[n++] = SWAP;
        else { code[n++] = PUSH; code[n++] = (unsigned char)(r & 7); }
    }
    code[n++] = HALT;
    return n;
}

/* The rare path: a record that fails its check is repaired, at length. */
static long repair(long *v, int i) {
    long sum = 0;
    for (int k = 0; k < 16; k++) {
        v[i] = (v[i] * 31 + k) % 1000003;
        sum += v[i] & 0xff;
        if (v[i] % 7 == 0) sum ^= k;
    }
    return sum;
}

static long checked_sum(long *v, int n) {
    long total = 0;
    for (int i = 0; i < n; i++) {
        if (v[i] < 0 || v[i] % 97 == 0)
            total += repair(v, i);
        else
            total += v[i];
    }
    return total;
}

/* Inner loops that usually run zero to two times. */
static long short_loops(int n) {
    long acc = 0;
    for (int i = 0; i < n; i++) {
        unsigned int r = next() % 16;
        int trips = r < 12 ? (int)(r % 3) : (int)r;
        for (int k = 0; k < trips; k++) acc += (i ^ k) & 15;
    }
    return acc;
}

/* Calls through pointers: the table's first entry gets most calls. */
typedef long (*combine_fn)(long, long);

static long combine_add(long a, long b) { return a + b; }
static long combine_xor(long a, long b) { return (a ^ b) + 1; }
static long combine_mul(long a, long b) { return a * 3 + b; }

static long fold(combine_fn *table, const unsigned char *which, int n) {
    long acc = 1;
    for (int i = 0; i < n; i++) acc = table[which[i]](acc, i) & 0xffffff;
    return acc;
}

int main(void) {
    static unsigned char code[4096];
    static long values[50000];
    static unsigned char which[50000];
    combine_fn table[3] = {combine_add, combine_xor, combine_mul};
    for (int i = 0; i < 50000; i++) {
        unsigned int r = next() % 100;
        which[i] = r < 90 ? 0 : r < 95 ? 1 : 2;
    }
    make_text();
    struct counts c;
    memset(&c, 0, sizeof c);
    unsigned long machine = 0;
    long checked = 0, loops = 0, folded = 0;
    for (int round = 0; round < ROUNDS; round++) {
        classify(text, TEXT, &c);
        int len = make_program(code, (int)sizeof code);
        for (int k = 0; k < 40; k++) machine += run_machine(code, len, (unsigned long)k);
        for (int i = 0; i < 50000; i++) values[i] = (long)next() * 33 + round;
        checked += checked_sum(values, 50000);
        loops += short_loops(50000);
        folded += fold(table, which, 50000);
    }
    printf("text: %ld digits %ld upper %ld punct %ld spaces %ld lower %ld words %ld vowels\n",
           c.digits, c.upper, c.punct, c.spaces, c.lower, c.words, c.vowels);
    printf("machine %lu checked %ld loops %ld folded %ld\n", machine, checked, loops, folded);
    return 0;
}
