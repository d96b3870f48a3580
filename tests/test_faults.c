/* test_faults.c -- checkpoints survive faults. A writer process saving
 * checkpoints in a loop is killed with SIGKILL at random moments, many
 * times; after each kill the checkpoint on disk must load and hold one
 * whole generation. A save that runs out of space (RLIMIT_FSIZE, the same
 * failure as a full disk) must report an I/O error and leave the previous
 * checkpoint and no temporary file behind. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define N (256 * 1024) /* floats per checkpoint: 1 MiB, so a save takes a while */

static float buf[N];

/* Saves generation g: every value equals g, and metadata says g. */
static dytcl_status save_gen(const char *path, int g)
{
    for (int i = 0; i < N; i++) buf[i] = (float)g;
    char gs[16];
    snprintf(gs, sizeof gs, "%d", g);
    const char *meta[] = {"generation", gs};
    dytcl_st_tensor t = {"params", 1, {N}, N, buf, 0, DYTCL_F32, NULL};
    return dytcl_st_save(path, &t, 1, meta, 1);
}

/* Loads path and returns its generation, or -1 if it is not one whole generation. */
static int load_gen(const char *path)
{
    dytcl_st_file *f = NULL;
    if (dytcl_st_load(path, &f) != DYTCL_OK) {
        fprintf(stderr, "load failed: %s\n", dytcl_last_error(NULL));
        return -1;
    }
    dytcl_st_tensor t;
    int g = atoi(dytcl_st_metadata(f, "generation") ? dytcl_st_metadata(f, "generation") : "-1");
    int ok = dytcl_st_get(f, "params", &t) == DYTCL_OK && t.numel == N;
    for (size_t i = 0; ok && i < t.numel; i++) ok = t.data[i] == (float)g;
    dytcl_st_free(f);
    return ok ? g : -1;
}

static int count_tmp(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

int main(void)
{
    char dir[] = "/tmp/dytcl-faults-XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    CHECK_OK(NULL, save_gen(path, 0));

    /* SIGKILL during saves. */
    const int kills = check_small() ? 10 : 60;
    int last = 0, mid_save = 0;
    srand((unsigned)time(NULL));
    fflush(stdout); /* a child must not print the parent's buffered output again */
    for (int k = 0; k < kills; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int g = last + 1;; g++) save_gen(path, g); /* until killed */
        }
        struct timespec ts = {0, (long)(rand() % 8000) * 1000}; /* 0-8 ms */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        mid_save += count_tmp(dir) > 0; /* it died with a temporary file open */
        int g = load_gen(path);
        CHECK(g >= last, "after kill %d the checkpoint is broken or older (%d < %d)", k, g, last);
        if (g >= 0) last = g;
        /* remove what the killed writer left (a real trainer would too) */
        DIR *d = opendir(dir);
        struct dirent *e;
        char p[600];
        while (d && (e = readdir(d)))
            if (strstr(e->d_name, ".tmp.")) snprintf(p, sizeof p, "%s/%s", dir, e->d_name), unlink(p);
        if (d) closedir(d);
    }
    printf("%d kills, %d in the middle of a save; the checkpoint loaded whole every time (last generation %d)\n",
           kills, mid_save, last);
    CHECK(mid_save > 0, "no kill landed during a save: the test did not test anything");

    /* Out of space: a child limited to 64 KiB files tries to save 1 MiB. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {64 * 1024, 64 * 1024};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        dytcl_status s = save_gen(path, 999999);
        int ok = s == DYTCL_ERR_IO && strstr(dytcl_last_error(NULL), "cannot write") != NULL;
        if (!ok) fprintf(stderr, "full disk: %s: %s\n", dytcl_status_name(s), dytcl_last_error(NULL));
        else printf("full disk reported: %s\n", dytcl_last_error(NULL));
        fflush(stdout);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the failed save was not reported as an I/O error");
    CHECK(load_gen(path) == last, "the checkpoint changed after a failed save");
    CHECK(count_tmp(dir) == 0, "a failed save left its temporary file");

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
    return check_done("test_faults");
}
