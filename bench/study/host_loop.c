/* host_loop.c -- the norm kernels' arithmetic as plain C loops on the host's
 * cores: how close to the copy bandwidth a CPU gets with DyT's tanh when the
 * code comes from an optimising C compiler instead of an OpenCL driver.
 * `dytcl bench norms` reports DyT's forward at a fraction of copy; this says
 * whether that fraction is the driver's or the machine's.
 *
 *   clang -O3 -march=native -fno-trapping-math -pthread bench/study/host_loop.c -lm -o host_loop
 *   ./host_loop [THREADS] [ROUNDS]        (default 2 threads, 15 rounds)
 *
 * clang is LLVM, as PoCL's and Mesa's compilers are; GCC (cc) builds it too
 * and gives other figures (its DyT loop is slower), which is the point of
 * building it with both.
 *
 * Every case streams x [4096, 4096] f32 to y (add also reads h), each thread
 * a block of rows (dyt/4rows: four rows per load of w and b; dyt/512 and
 * dyt/1024: column chunks of that width, each over the block's rows); the cases are timed interleaved, one of each per round,
 * and each reports its median time and the median per-round ratio of its
 * bandwidth to copy's (bytes: every array read or written once, w and b
 * not counted). The tanh is dy_tanh of cl/common.cl: the same clamp and
 * rational fit, written for the compiler to vectorise (-fno-trapping-math
 * lets GCC turn the clamp's selects into vector min and max). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ROWS 4096
#define C 4096

static float *X, *H, *Y, *W, *B;
static int nthreads;

static inline float tanh_fit(float x)
{
    /* the clamp as selects, as in the kernel: fminf/fmaxf keep C's NaN rules,
     * which stop GCC from vectorising the loop */
    const float lo = -8.01942158f < x ? x : -8.01942158f, z = 8.01942158f > lo ? lo : 8.01942158f, t = z * z;
    const float p = fmaf(fmaf(fmaf(fmaf(1.335629118e-08f, t, 2.061033047e-05f), t, 3.495667130e-03f), t,
                              1.338109374e-01f), t, 1.0f);
    const float q = fmaf(fmaf(fmaf(fmaf(7.777246083e-07f, t, 3.285761923e-04f), t, 2.587728575e-02f), t,
                              4.671441019e-01f), t, 1.0f);
    return z * p / q;
}

enum { COPY, ADD, AFFINE, TANH, DYT, DYT_ROWS4, DYT_CHUNK512, DYT_CHUNK1024, NCASES };
static const char *const names[NCASES] = {"copy", "add", "w*x+b", "tanh(a*x)", "dyt", "dyt/4rows", "dyt/512", "dyt/1024"};
static const int arrays[NCASES] = {2, 3, 2, 2, 2, 2, 2, 2}; /* activation arrays moved */

typedef struct {
    int which, t;
} job;

static void *run(void *arg)
{
    const job *j = arg;
    const long r0 = (long)ROWS * j->t / nthreads, r1 = (long)ROWS * (j->t + 1) / nthreads;
    const float a = 0.5f;
    if (j->which == DYT_ROWS4) {
        /* four rows per load of w and b, as the kernels' CPU shape */
        for (long r = r0; r + 4 <= r1; r += 4)
            for (int c = 0; c < C; c += 8) {
                float w8[8], b8[8];
                for (int i = 0; i < 8; i++) w8[i] = W[c + i], b8[i] = B[c + i];
                for (int k = 0; k < 4; k++) {
                    const float *restrict x = X + (r + k) * C + c;
                    float *restrict y = Y + (r + k) * C + c;
                    float v[8]; /* (stored through a local array, clang vectorises it) */
                    for (int i = 0; i < 8; i++) v[i] = fmaf(w8[i], tanh_fit(a * x[i]), b8[i]);
                    for (int i = 0; i < 8; i++) y[i] = v[i];
                }
            }
        return NULL;
    }
    if (j->which == DYT_CHUNK512 || j->which == DYT_CHUNK1024) {
        /* columns in chunks, each over every row of the block: w and b of a
         * chunk (4 or 8 KiB) stay in L1, the rows are walked with a stride */
        const int chunk = j->which == DYT_CHUNK512 ? 512 : 1024;
        for (int c0 = 0; c0 < C; c0 += chunk)
            for (long r = r0; r < r1; r++) {
                const float *restrict x = X + r * C;
                float *restrict y = Y + r * C;
                for (int c = c0; c < c0 + chunk; c++) y[c] = fmaf(W[c], tanh_fit(a * x[c]), B[c]);
            }
        return NULL;
    }
    for (long r = r0; r < r1; r++) {
        const float *restrict x = X + r * C, *restrict h = H + r * C;
        float *restrict y = Y + r * C;
        switch (j->which) {
        case COPY: for (int c = 0; c < C; c++) y[c] = x[c]; break;
        case ADD: for (int c = 0; c < C; c++) y[c] = x[c] + h[c]; break;
        case AFFINE: for (int c = 0; c < C; c++) y[c] = fmaf(W[c], a * x[c], B[c]); break;
        case TANH: for (int c = 0; c < C; c++) y[c] = tanh_fit(a * x[c]); break;
        case DYT: for (int c = 0; c < C; c++) y[c] = fmaf(W[c], tanh_fit(a * x[c]), B[c]); break;
        }
    }
    return NULL;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static double time_case(int which)
{
    pthread_t th[64];
    job jobs[64];
    const double t0 = now_ms();
    for (int t = 0; t < nthreads; t++) {
        jobs[t] = (job){which, t};
        if (pthread_create(&th[t], NULL, run, &jobs[t])) {
            perror("pthread_create");
            exit(1);
        }
    }
    for (int t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
    return now_ms() - t0;
}

static int cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    nthreads = argc > 1 ? atoi(argv[1]) : 2;
    const int rounds = argc > 2 ? atoi(argv[2]) : 15;
    if (nthreads < 1 || nthreads > 64 || ROWS % (4 * nthreads) || rounds < 1 || rounds > 1000) {
        fprintf(stderr, "usage: host_loop [THREADS: 1, 2, 4, ... 64] [ROUNDS 1-1000]\n");
        return 2;
    }
    const size_t n = (size_t)ROWS * C;
    X = malloc(n * sizeof *X), H = malloc(n * sizeof *H), Y = malloc(n * sizeof *Y);
    W = malloc(C * sizeof *W), B = malloc(C * sizeof *B);
    double *t = malloc(sizeof(double) * NCASES * (size_t)rounds), *f = malloc(sizeof(double) * (size_t)rounds);
    if (!X || !H || !Y || !W || !B || !t || !f) {
        fprintf(stderr, "host_loop: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) X[i] = (float)(i % 1000) * 0.008f - 4.0f, H[i] = 0.25f, Y[i] = 0.0f;
    for (int c = 0; c < C; c++) W[c] = 1.0f + (float)(c % 7) * 0.1f, B[c] = (float)(c % 5) * 0.01f;
    for (int k = 0; k < NCASES; k++) time_case(k); /* warm: touches every page */
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < NCASES; k++) t[k * rounds + r] = time_case(k);
    printf("host loops, %d threads, [%d, %d] f32, %d rounds\n", nthreads, ROWS, C, rounds);
    printf("%-10s %9s %8s %8s\n", "case", "median_ms", "GB/s", "of_copy");
    for (int k = 0; k < NCASES; k++) {
        for (int r = 0; r < rounds; r++) f[r] = (arrays[k] / t[k * rounds + r]) / (arrays[COPY] / t[r]);
        const double fr = median(f, rounds);
        for (int r = 0; r < rounds; r++) f[r] = t[k * rounds + r];
        const double ms = median(f, rounds);
        printf("%-10s %9.2f %8.2f %8.3f\n", names[k], ms, arrays[k] * (double)n * 4 / (ms * 1e6), fr);
    }
    free(X), free(H), free(Y), free(W), free(B), free(t), free(f);
    return 0;
}
