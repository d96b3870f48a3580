/* dist.c -- data-parallel training over MPI (see dist.h): the rank's
 * device, the chunked gradient all-reduce and a few small collectives; and,
 * built without MPI, the same calls for a world of one process. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist.h"
#include "dytcl_model.h"

#ifdef DYTCL_HAVE_MPI
#include <mpi.h>
#endif

static struct {
    int on;                 /* MPI initialised by us */
    int rank, size, local_rank;
    float *host;            /* [n] the gradients on their way through MPI */
    size_t n, chunk;        /* floats */
#ifdef DYTCL_HAVE_MPI
    MPI_Request *req;       /* one per chunk */
#endif
    dist_stats stats;
    int saved_out, saved_err; /* dist_mute */
} g = {.size = 1, .saved_out = -1, .saved_err = -1};

int dist_rank(void) { return g.rank; }
int dist_size(void) { return g.size; }
dist_stats dist_get_stats(void) { return g.stats; }

void dist_mute(int on)
{
    if (g.rank == 0) return;
    fflush(stdout), fflush(stderr);
    if (on && g.saved_out < 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null < 0) return;
        g.saved_out = dup(1), g.saved_err = dup(2);
        dup2(null, 1), dup2(null, 2);
        close(null);
    } else if (!on && g.saved_out >= 0) {
        dup2(g.saved_out, 1), dup2(g.saved_err, 2);
        close(g.saved_out), close(g.saved_err);
        g.saved_out = g.saved_err = -1;
    }
}

#ifdef DYTCL_HAVE_MPI

/* Which device among those of the default kind (dytcl's default: the first
 * GPU, else the first CPU device, else the first device). */
static const char *device_for(int local_rank, char *buf, size_t cap)
{
    dytcl_device_info info[64];
    int n = 0;
    if (dytcl_devices(info, 64, &n) || n < 1) return NULL; /* dytcl_ctx_create will say why */
    if (n > 64) n = 64;
    int gpus = 0, cpus = 0, list[64], k = 0;
    for (int i = 0; i < n; i++) gpus += info[i].is_gpu, cpus += info[i].is_cpu;
    for (int i = 0; i < n; i++)
        if (gpus ? info[i].is_gpu : cpus ? info[i].is_cpu : 1) list[k++] = info[i].index;
    snprintf(buf, cap, "%d", list[local_rank % k]);
    return buf;
}

/* Started by a launcher? (A plain `dytcl train` stays a plain process.) */
static int launched(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

int dist_init(void)
{
    if (g.on || !launched()) return 0;
    MPI_Init(NULL, NULL);
    g.on = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g.size);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g.rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &g.local_rank);
    MPI_Comm_free(&local);
    return 0;
}

void dist_finalize(void)
{
    dist_grads_free();
    if (g.on) MPI_Finalize();
    g.on = 0;
}

const char *dist_device(char *buf, size_t cap)
{
    const char *env = getenv("DYTCL_DEVICE");
    if (g.size < 2 || (env && *env)) return NULL;
    return device_for(g.local_rank, buf, cap);
}

int dist_grads_init(size_t n)
{
    if (g.size < 2) return 0;
    const char *c = getenv("DYTCL_ALLREDUCE_CHUNK"); /* floats; for tests and tuning */
    g.chunk = c && atol(c) > 0 ? (size_t)atol(c) : (size_t)1 << 20;
    if (g.chunk > (size_t)1 << 28) g.chunk = (size_t)1 << 28;
    size_t chunks = (n + g.chunk - 1) / g.chunk;
    g.n = n;
    g.host = malloc(n * sizeof *g.host);
    g.req = malloc((chunks ? chunks : 1) * sizeof *g.req);
    return g.host && g.req ? 0 : -1;
}

void dist_grads_free(void)
{
    free(g.host), free(g.req);
    g.host = NULL, g.req = NULL, g.n = 0;
}

int dist_allreduce_grads(dytcl_model *m)
{
    if (g.size < 2) return 0;
    /* the backward pass finishes first, so that only the exchange is timed */
    if (dytcl_model_finish(m)) return -1;
    double t0 = MPI_Wtime(), in_mpi = 0;
    int chunks = (int)((g.n + g.chunk - 1) / g.chunk), rc = 0;
    for (int k = 0; k < chunks; k++) {
        size_t off = (size_t)k * g.chunk, len = g.n - off < g.chunk ? g.n - off : g.chunk;
        if (dytcl_model_read_grads_range(m, off, len, g.host + off)) {
            rc = -1; /* the caller aborts every rank */
            chunks = k;
            break;
        }
        double t = MPI_Wtime();
        MPI_Iallreduce(MPI_IN_PLACE, g.host + off, (int)len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &g.req[k]);
        int done;
        MPI_Testall(k + 1, g.req, &done, MPI_STATUSES_IGNORE); /* lets the transfers progress */
        in_mpi += MPI_Wtime() - t;
    }
    for (int k = 0; k < chunks; k++) {
        double t = MPI_Wtime();
        MPI_Wait(&g.req[k], MPI_STATUS_IGNORE);
        in_mpi += MPI_Wtime() - t;
        size_t off = (size_t)k * g.chunk, len = g.n - off < g.chunk ? g.n - off : g.chunk;
        if (!rc && dytcl_model_write_grads_range(m, off, len, g.host + off)) rc = -1;
    }
    g.stats.calls++;
    g.stats.total_ms += (MPI_Wtime() - t0) * 1e3;
    g.stats.mpi_ms += in_mpi * 1e3;
    return rc;
}

void dist_sum(double *x, int n)
{
    if (g.size > 1) MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

int dist_all_ok(int ok)
{
    int v = ok != 0;
    if (g.size > 1) MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return v;
}

int dist_max_int(int v)
{
    if (g.size > 1) MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return v;
}

int dist_bcast_int(int v)
{
    if (g.size > 1) MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return v;
}

void dist_allgather_int(int v, int *all)
{
    if (g.size > 1) MPI_Allgather(&v, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD);
    else all[0] = v;
}

void dist_abort(int code)
{
    if (g.size > 1) {
        fflush(stdout), fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
}

#else /* a world of one */

int dist_init(void)
{
    const char *n = getenv("OMPI_COMM_WORLD_SIZE"), *pmi = getenv("PMI_SIZE"), *pmix = getenv("PMIX_RANK");
    if ((n && atoi(n) > 1) || (pmi && atoi(pmi) > 1) || (pmix && atoi(pmix) > 0)) {
        fprintf(stderr, "dytcl: started as one of several MPI processes, but built without MPI; install MPI "
                        "(Debian: libopenmpi-dev) and rebuild, or run one process\n");
        return -1;
    }
    return 0;
}
void dist_finalize(void) {}
const char *dist_device(char *buf, size_t cap) { return NULL; }
int dist_grads_init(size_t n) { return 0; }
void dist_grads_free(void) {}
int dist_allreduce_grads(dytcl_model *m) { return 0; }
void dist_sum(double *x, int n) {}
int dist_all_ok(int ok) { return ok != 0; }
int dist_max_int(int v) { return v; }
int dist_bcast_int(int v) { return v; }
void dist_allgather_int(int v, int *all) { all[0] = v; }
void dist_abort(int code) {}

#endif
