/* An outside application: continues a prompt from a checkpoint written by
 * `dytcl train`, printing what `dytcl generate` prints with the same seed. */
#include <dytcl.h>
#include <dytcl_model.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int put(int32_t token, void *user) { return (void)user, putchar(token) == EOF; }

int main(int argc, char **argv)
{
    if (argc != 5) return fprintf(stderr, "usage: generate CHECKPOINT PROMPT TOKENS SEED\n"), 2;
    dytcl_sampling s = {.temperature = 0.8f, .top_p = 1.0f, .seed = strtoull(argv[4], NULL, 10)};
    int n = (int)strlen(argv[2]);
    int32_t *prompt = malloc((size_t)n * sizeof *prompt + 1);
    for (int i = 0; prompt && i < n; i++) prompt[i] = (unsigned char)argv[2][i];
    dytcl_ctx *ctx = NULL;
    dytcl_model *m = NULL, *folded = NULL;
    dytcl_status st = dytcl_ctx_create(NULL, &ctx);
    if (!st) st = dytcl_model_load(ctx, argv[1], NULL, NULL, &m);
    if (!st && !dytcl_model_fold(m, &folded)) dytcl_model_free(m), m = folded; /* DyT: as dytcl generate */
    if (!st) fputs(argv[2], stdout);
    if (!st) st = dytcl_model_generate(m, prompt, n, atoi(argv[3]), &s, 1, put, NULL);
    if (!st) putchar('\n');
    else fprintf(stderr, "generate: %s\n", dytcl_last_error(ctx));
    dytcl_model_free(m);
    dytcl_ctx_free(ctx);
    free(prompt);
    return st ? 1 : 0;
}
