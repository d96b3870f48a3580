/* gpu_sources.c -- writes every program the library can build, as the
 * library builds it, for the offline GPU compiles (scripts/gpu-compile.sh,
 * `make test-gpu-compile`).
 *
 *   gpu_sources OUTDIR
 *
 * For each program of cl/ (common.cl is part of every one), each storage
 * variant (DY_DT x DY_DT_OUT: f32, f16, bf16) and each tuning set
 * (program.c's knob_sets), it writes OUTDIR/<program>.v<variant>.<set>.cl,
 * the text dy_program_text gives clCreateProgramWithSource, and one line of
 * OUTDIR/manifest.tsv:
 *
 *   <file> TAB <program> TAB <variant> TAB <set> TAB <build options>
 *
 * No OpenCL device is needed: it runs nothing but dy_program_text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gpu_sources OUTDIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.tsv", argv[1]);
    FILE *man = fopen(path, "w");
    if (!man) {
        fprintf(stderr, "gpu_sources: cannot write %s\n", path);
        return 1;
    }
    int count = 0;
    for (int id = 0; id < DY_PROG_COUNT; id++) {
        if (id == DY_PROG_COMMON) continue;
        for (int variant = 0; variant < DY_VARIANTS; variant++) {
            for (int knobs = 0; knobs < DY_KNOB_SETS; knobs++) {
                char *src, options[DY_OPTIONS_MAX], name[256];
                if (!dy_program_text((dy_prog_id)id, variant, knobs, &src, options, sizeof options)) {
                    fprintf(stderr, "gpu_sources: no text for %s variant %d set %d\n", dy_prog_name[id], variant,
                            knobs);
                    return 1;
                }
                snprintf(name, sizeof name, "%s.v%d.%s.cl", dy_prog_name[id], variant, dy_knob_name(knobs));
                snprintf(path, sizeof path, "%s/%s", argv[1], name);
                int ok = write_text(path, src);
                free(src);
                if (!ok) {
                    fprintf(stderr, "gpu_sources: cannot write %s\n", path);
                    return 1;
                }
                fprintf(man, "%s\t%s\t%d\t%s\t%s\n", name, dy_prog_name[id], variant, dy_knob_name(knobs), options);
                count++;
            }
        }
    }
    if (fclose(man) != 0) return 1;
    printf("gpu_sources: %d programs written to %s\n", count, argv[1]);
    return 0;
}
