/* Example app: a small n-body simulation in doubles (sqrt from libm). */
#include <stdio.h>
#include <math.h>

#define N 5
static double pos[N][3] = {{0, 0, 0}, {4.84, -1.16, -0.10}, {8.34, 4.12, -0.40}, {12.89, -15.11, -0.22}, {15.37, -25.91, 0.17}};
static double vel[N][3] = {{0, 0, 0}, {0.606, 2.81, -0.02}, {-1.01, 1.82, 0.008}, {1.08, 0.868, -0.01}, {0.979, 0.594, -0.034}};
static double mass[N] = {39.47, 0.037, 0.011, 0.0017, 0.002};

static double energy(void) {
    double e = 0;
    for (int i = 0; i < N; i++) {
        e += 0.5 * mass[i] * (vel[i][0] * vel[i][0] + vel[i][1] * vel[i][1] + vel[i][2] * vel[i][2]);
        for (int j = i + 1; j < N; j++) {
            double d[3] = {pos[i][0] - pos[j][0], pos[i][1] - pos[j][1], pos[i][2] - pos[j][2]};
            e -= mass[i] * mass[j] / sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
        }
    }
    return e;
}

static void advance(double dt) {
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            double d[3] = {pos[i][0] - pos[j][0], pos[i][1] - pos[j][1], pos[i][2] - pos[j][2]};
            double d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
            double mag = dt / (d2 * sqrt(d2));
            for (int k = 0; k < 3; k++) {
                vel[i][k] -= d[k] * mass[j] * mag;
                vel[j][k] += d[k] * mass[i] * mag;
            }
        }
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 3; k++) pos[i][k] += dt * vel[i][k];
}

int main(void) {
    printf("energy before: %.9f\n", energy());
    for (int s = 0; s < 20000; s++) advance(0.01);
    printf("energy after:  %.9f\n", energy());
    return 0;
}
