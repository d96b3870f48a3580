/* plot.c -- benchmark charts through gnuplot (when it is installed). */
#include <stdio.h>
#include <string.h>

#include "bench.h"

int bench_plot_gbps(const char *png, const char *title, json_t *records, long long cols,
                    const char *const *series, int nseries, char *err, size_t cap)
{
    FILE *g = popen("gnuplot 2>&1", "w");
    if (!g) return bench_fail(err, cap, "cannot run gnuplot; no chart");
    fprintf(g, "set terminal pngcairo size 900,560 noenhanced\nset output '%s'\n", png);
    fprintf(g, "set title '%s'\nset logscale x 2\nset xlabel 'rows (C = %lld)'\n", title, cols);
    fprintf(g, "set ylabel 'GB/s (bytes that must move)'\nset key left top\nset grid\n");
    /* one datablock per series: rows, GB/s */
    for (int s = 0; s < nseries; s++) {
        char op[64], pass[16];
        if (sscanf(series[s], "%63[^/]/%15s", op, pass) != 2) continue;
        fprintf(g, "$d%d << EOD\n", s);
        size_t i;
        json_t *r;
        json_array_foreach(records, i, r) {
            const char *rop = json_string_value(json_object_get(r, "op"));
            const char *rpass = json_string_value(json_object_get(r, "pass"));
            json_t *c = json_object_get(r, "cols"), *gb = json_object_get(r, "gbps");
            if (rop && rpass && c && gb && !strcmp(rop, op) && !strcmp(rpass, pass) &&
                json_integer_value(c) == cols)
                fprintf(g, "%lld %g\n", (long long)json_integer_value(json_object_get(r, "rows")),
                        json_real_value(gb));
        }
        fprintf(g, "EOD\n");
    }
    fprintf(g, "plot ");
    for (int s = 0; s < nseries; s++)
        fprintf(g, "%s$d%d using 1:2 with linespoints title '%s'", s ? ", " : "", s, series[s]);
    fprintf(g, "\n");
    int rc = pclose(g);
    return rc != 0 ? bench_fail(err, cap, "gnuplot failed (status %d); no chart", rc) : 0;
}
