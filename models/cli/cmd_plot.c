/* cmd_plot.c -- `dytcl plot`: loss curves of one or more `dytcl train` runs
 * on one chart, drawn by gnuplot (pngcairo), as the benchmarks' charts are.
 *
 *   dytcl plot RUN.csv [RUN2.csv ...] --png OUT.png [--tokens-per-step N]
 *              [--smooth N] [--title TEXT] [--force]
 *
 * Top panel: training loss (a moving mean over --smooth steps) as a line and
 * validation loss as points joined by a line, one colour per run, the legend
 * from the file names. Bottom panel, when a run has RUN.csv.diag.csv (DyT /
 * Derf): the largest saturated fraction over its layers and their mean
 * alpha (right axis) against the step. Every CSV is read and checked before
 * gnuplot starts; the chart is written to a temporary file and renamed over
 * OUT.png only when gnuplot succeeded and wrote a PNG. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "opts.h"
#include "outputs.h"

#define MAX_RUNS 16

/* One run's rows: step, training loss, validation loss (NAN: none). */
typedef struct {
    const char *path;
    char name[64];                /* the legend: the file name without directory and ".csv" */
    int n, cap;
    double *step, *loss, *val;
    int nd, dcap;                 /* diagnostics: per step, the worst saturation and the mean alpha */
    double *dstep, *sat, *alpha;
} run;

static int push(double **a, int n, int *cap, int k, double v)
{
    if (n >= *cap) {
        int nc = *cap ? 2 * *cap : 256;
        for (int j = 0; j < k; j++) {
            double *p = realloc(a[j], (size_t)nc * sizeof *p);
            if (!p) return -1;
            a[j] = p;
        }
        *cap = nc;
    }
    a[k - 1][n] = v; /* the caller fills the others */
    return 0;
}

/* A field of a CSV line as a finite number; 0 on success. */
static int field_num(const char *s, size_t len, double *out)
{
    char buf[64], *end;
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    *out = strtod(buf, &end);
    return *end || errno || !isfinite(*out) ? -1 : 0;
}

/* Splits line at commas into at most max fields (start, length); returns the count. */
static int split(const char *line, const char **f, size_t *len, int max)
{
    int n = 0;
    const char *p = line;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strcspn(p, "\r\n");
        if (n < max) f[n] = p, len[n] = l;
        n++;
        if (!c) return n;
        p = c + 1;
    }
}

static FILE *open_input(const char *path, char *err, size_t cap)
{
    if (input_check("input", path, err, cap)) return NULL;
    FILE *f = fopen(path, "r");
    if (!f) snprintf(err, cap, "%s: cannot read (%s)", path, strerror(errno));
    return f;
}

/* Reads a `dytcl train` log: "step,lr,loss,grad_norm,val_loss,..." and a
 * row per step (val_loss may be empty). */
static int read_log(run *r, char *err, size_t cap)
{
    FILE *f = open_input(r->path, err, cap);
    if (!f) return -1;
    char line[4096];
    int lineno = 0, rc = -1;
    if (!fgets(line, sizeof line, f) || strncmp(line, "step,lr,loss,grad_norm,val_loss", 31)) {
        snprintf(err, cap, "%s: not a dytcl train log (the first line must be \"step,lr,loss,grad_norm,val_loss,...\")",
                 r->path);
        goto out;
    }
    lineno = 1;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '\n' || line[0] == '\0') continue;
        const char *fl[8];
        size_t ll[8];
        double step, loss, val = NAN;
        int nf = split(line, fl, ll, 8);
        if (nf < 5 || field_num(fl[0], ll[0], &step) || field_num(fl[2], ll[2], &loss) ||
            (ll[4] && field_num(fl[4], ll[4], &val)) || step < 0) {
            snprintf(err, cap, "%s line %d: not a log row (step,lr,loss,grad_norm,val_loss,... with numbers)", r->path,
                     lineno);
            goto out;
        }
        double *cols[3] = {r->step, r->loss, r->val};
        if (push(cols, r->n, &r->cap, 3, val)) {
            snprintf(err, cap, "out of host memory reading %s", r->path);
            goto out;
        }
        r->step = cols[0], r->loss = cols[1], r->val = cols[2];
        r->step[r->n] = step, r->loss[r->n] = loss;
        r->n++;
    }
    if (ferror(f)) snprintf(err, cap, "%s: read error", r->path);
    else if (r->n == 0) snprintf(err, cap, "%s: no rows", r->path);
    else rc = 0;
out:
    fclose(f);
    return rc;
}

/* Reads RUN.csv.diag.csv when there is one: "step,norm,alpha,saturated_fraction[,warning]". */
static int read_diag(run *r, char *err, size_t cap)
{
    char path[PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof path, "%s.diag.csv", r->path) >= (int)sizeof path || stat(path, &st) != 0) return 0;
    FILE *f = open_input(path, err, cap);
    if (!f) return -1;
    char line[4096];
    int lineno = 1, rc = -1, layers = 0;
    double at = NAN, sum = 0;
    if (!fgets(line, sizeof line, f) || strncmp(line, "step,norm,alpha,saturated_fraction", 34)) {
        snprintf(err, cap, "%s: not a dytcl train diagnostics file", path);
        goto out;
    }
    while (fgets(line, sizeof line, f)) {
        const char *fl[5];
        size_t ll[5];
        double step, alpha, sat;
        lineno++;
        if (split(line, fl, ll, 5) < 4 || field_num(fl[0], ll[0], &step) || field_num(fl[2], ll[2], &alpha) ||
            field_num(fl[3], ll[3], &sat)) {
            snprintf(err, cap, "%s line %d: not a diagnostics row (step,norm,alpha,saturated_fraction)", path, lineno);
            goto out;
        }
        if (!layers || step != at) { /* a step's first layer: a new point */
            if (layers) r->alpha[r->nd++] = sum / layers;
            double *cols[3] = {r->dstep, r->sat, r->alpha};
            if (push(cols, r->nd, &r->dcap, 3, 0)) {
                snprintf(err, cap, "out of host memory reading %s", path);
                goto out;
            }
            r->dstep = cols[0], r->sat = cols[1], r->alpha = cols[2];
            r->dstep[r->nd] = at = step, r->sat[r->nd] = 0;
            layers = 0, sum = 0;
        }
        if (sat > r->sat[r->nd]) r->sat[r->nd] = sat; /* the worst layer */
        sum += alpha, layers++;
    }
    if (layers) r->alpha[r->nd++] = sum / layers;
    rc = ferror(f) ? (snprintf(err, cap, "%s: read error", path), -1) : 0;
out:
    fclose(f);
    return rc;
}

/* s inside a gnuplot single-quoted string ('' stands for '). */
static void quoted(FILE *g, const char *s)
{
    fputc('\'', g);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', g);
        if (*s != '\n' && *s != '\r') fputc(*s, g);
    }
    fputc('\'', g);
}

/* Whether an executable `gnuplot` is on PATH. */
static int have_gnuplot(void)
{
    const char *path = getenv("PATH");
    char dir[PATH_MAX];
    while (path && *path) {
        size_t l = strcspn(path, ":");
        if (l && l < sizeof dir - 10) {
            snprintf(dir, sizeof dir, "%.*s/gnuplot", (int)l, path);
            if (access(dir, X_OK) == 0) return 1;
        }
        path += l + (path[l] == ':');
    }
    return 0;
}

static void draw(FILE *g, const run *runs, int nr, const char *tmp, const char *title, double tps, int smooth)
{
    int diag = 0;
    for (int i = 0; i < nr; i++) diag |= runs[i].nd > 0;
    fprintf(g, "set terminal pngcairo size 960,%d noenhanced\nset output ", diag ? 820 : 560);
    quoted(g, tmp);
    fprintf(g, "\nset grid\nset key top right\n");
    /* the data: per run, $tI (x, smoothed training loss), $vI (x, val loss), $dI (step, saturation, alpha) */
    for (int i = 0; i < nr; i++) {
        const run *r = &runs[i];
        double acc = 0;
        fprintf(g, "$t%d << EOD\n", i);
        for (int k = 0; k < r->n; k++) {
            acc += r->loss[k];
            if (k >= smooth) acc -= r->loss[k - smooth];
            int w = k + 1 < smooth ? k + 1 : smooth;
            fprintf(g, "%.9g %.9g\n", r->step[k] * tps, acc / w);
        }
        fprintf(g, "EOD\n$v%d << EOD\n", i);
        for (int k = 0; k < r->n; k++)
            if (!isnan(r->val[k])) fprintf(g, "%.9g %.9g\n", r->step[k] * tps, r->val[k]);
        fprintf(g, "EOD\n$d%d << EOD\n", i);
        for (int k = 0; k < r->nd; k++) fprintf(g, "%.9g %.9g %.9g\n", r->dstep[k] * tps, r->sat[k], r->alpha[k]);
        fprintf(g, "EOD\n");
    }
    const char *xlabel = tps == 1 ? "step" : "tokens";
    if (diag) fprintf(g, "set multiplot layout 2,1\nset size 1,0.62\nset origin 0,0.38\n");
    fprintf(g, "set title ");
    quoted(g, title);
    fprintf(g, "\nset xlabel '%s'\nset ylabel 'loss (nats per token)'\nplot ", xlabel);
    for (int i = 0; i < nr; i++) {
        fprintf(g, "%s$t%d using 1:2 with lines lw 1.5 lc %d title ", i ? ", " : "", i, i + 1);
        char t[128];
        snprintf(t, sizeof t, "%s train (mean of %d steps)", runs[i].name, smooth);
        quoted(g, t);
        int nv = 0;
        for (int k = 0; k < runs[i].n; k++) nv += !isnan(runs[i].val[k]);
        if (nv) {
            fprintf(g, ", $v%d using 1:2 with linespoints pt 7 ps 0.8 lw 1 dt 2 lc %d title ", i, i + 1);
            snprintf(t, sizeof t, "%s val", runs[i].name);
            quoted(g, t);
        }
    }
    fprintf(g, "\n");
    if (diag) {
        fprintf(g, "set size 1,0.38\nset origin 0,0\nset title 'DyT / Derf diagnostics'\nset xlabel '%s'\n", xlabel);
        fprintf(g, "set ylabel 'largest |alpha x| > 2 fraction'\nset yrange [0:1]\nset y2label 'mean alpha'\n"
                   "set y2tics\nset ytics nomirror\nset key outside right\nplot ");
        int first = 1;
        for (int i = 0; i < nr; i++) {
            if (!runs[i].nd) continue;
            char t[128];
            fprintf(g, "%s$d%d using 1:2 with linespoints pt 7 ps 0.6 lc %d title ", first ? "" : ", ", i, i + 1);
            snprintf(t, sizeof t, "%s saturation", runs[i].name);
            quoted(g, t);
            fprintf(g, ", $d%d using 1:3 axes x1y2 with lines dt 3 lc %d title ", i, i + 1);
            snprintf(t, sizeof t, "%s alpha", runs[i].name);
            quoted(g, t);
            first = 0;
        }
        fprintf(g, "\nunset multiplot\n");
    }
}

typedef struct {
    const char *png, *title;
    long long tps;
    int smooth, force;
} plot_args;

static const opt_spec specs[] = {
#define F(f) offsetof(plot_args, f)
    {"png", OPT_STR, F(png), "FILE", .help = "the chart to write (required; never one of the inputs)", .output = 1},
    {"tokens-per-step", OPT_I64, F(tps), "N", 1, 1099511627776.0, .help = "x axis in tokens: step x N (N = batch x seq x accum)", .def = "1: steps"},
    {"smooth", OPT_INT, F(smooth), "N", 1, 100000, .help = "training loss as the mean of the last N steps (1: raw)"},
    {"title", OPT_STR, F(title), "TEXT", .help = "the chart's title"},
    {"force", OPT_SWITCH, F(force), .help = "replace an existing --png that is not a PNG"},
#undef F
};
static const opt_cmd plot_cmd = {
    "plot", "RUN.csv [RUN2.csv ...] --png OUT.png [options]",
    "Training and validation loss of `dytcl train` logs on one chart (one colour per run,\n"
    "the legend from the file names) and, when RUN.csv.diag.csv exists (DyT / Derf), a\n"
    "second panel with the largest saturated fraction over the layers and their mean alpha.\n"
    "Drawn by gnuplot (pngcairo terminal).\n",
    NULL, specs, (int)(sizeof specs / sizeof specs[0]), MAX_RUNS, NULL};

int cmd_plot(int argc, char **argv)
{
    plot_args a = {NULL, "training and validation loss", 1, 20, 0};
    char diag_paths[MAX_RUNS][PATH_MAX];
    run runs[MAX_RUNS];
    opt_seen seen;
    int rc = opt_parse(&plot_cmd, argc, argv, &a, &seen);
    if (rc >= 0) return rc;
    if (!seen.npos) return cli_error("plot", 2, "RUN.csv: at least one log is required");
    if (!a.png) return cli_error("plot", 2, "--png: required (the chart to write)");
    memset(runs, 0, sizeof runs);
    const int nr = seen.npos, force = a.force;
    const char *png = a.png, *title = a.title;
    const long long tps = a.tps;
    const long smooth = a.smooth;
    for (int i = 0; i < nr; i++) runs[i].path = seen.pos[i];
    rc = 1;

    char err[2 * PATH_MAX];
    outs files;
    outs_init(&files, "plot", force);
    for (int i = 0; i < nr; i++) {
        snprintf(diag_paths[i], sizeof diag_paths[i], "%s.diag.csv", runs[i].path);
        outs_input(&files, "RUN.csv", runs[i].path, NULL);
        outs_input(&files, "RUN.csv.diag.csv", diag_paths[i], NULL);
    }
    out_file *of = outs_add(&files, "--png", png, output_is_png, "a PNG");
    if (outs_claim(&files)) goto done;
    for (int i = 0; i < nr; i++) {
        const char *base = strrchr(runs[i].path, '/');
        base = base ? base + 1 : runs[i].path;
        size_t l = strlen(base);
        if (l > 4 && !strcmp(base + l - 4, ".csv")) l -= 4;
        snprintf(runs[i].name, sizeof runs[i].name, "%.*s", (int)(l < 63 ? l : 63), base);
        if (read_log(&runs[i], err, sizeof err) || read_diag(&runs[i], err, sizeof err)) {
            cli_error("plot", 1, "%s", err);
            goto done;
        }
    }
    if (!have_gnuplot()) {
        cli_error("plot", 1, "gnuplot is not installed (not on PATH): it draws the chart; install it (Debian: "
                             "apt-get install gnuplot-nox) and run again");
        goto done;
    }
    const char *tmp = out_stage(of); /* gnuplot writes in the private staging directory */
    if (!tmp) goto done;
    FILE *g = popen("gnuplot", "w");
    if (!g) {
        cli_error("plot", 1, "cannot run gnuplot (%s)", strerror(errno));
        goto done;
    }
    draw(g, runs, nr, tmp, title, (double)tps, (int)smooth);
    int st = pclose(g);
    if (st != 0 || !output_is_png(tmp)) {
        cli_error("plot", 1, "gnuplot failed (status %d; its messages are above); %s not written", st, png);
        goto done;
    }
    if (out_commit(of)) goto done;
    printf("%s: %d run%s\n", png, nr, nr > 1 ? "s" : "");
    rc = 0;
done:
    outs_release(&files);
    for (int i = 0; i < nr; i++)
        free(runs[i].step), free(runs[i].loss), free(runs[i].val), free(runs[i].dstep), free(runs[i].sat),
            free(runs[i].alpha);
    return rc;
}
