/* dytcl.c -- the `dytcl` program: one binary, one subcommand per job. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "dytcl.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"devices", cmd_devices, "list every OpenCL device and self-test the chosen one"},
    {"bench", cmd_bench, NULL}, /* one line per benchmark: cmd_bench_list */
    {"train", cmd_train, "train a GPT- or LLaMA-style model on a text or token file (DyT, Derf, RMSNorm or LayerNorm)"},
    {"generate", cmd_generate, "sample text from a checkpoint (KV cache on the device)"},
    {"convert", cmd_convert, "turn a trained RMSNorm/LayerNorm model's norms into DyT or Derf (fitted, then fine-tuned)"},
    {"export", cmd_export, "rewrite a checkpoint for inference with f16 or bf16 weights"},
    {"train-image", cmd_train_image, "train a vision transformer on IDX images (Fashion-MNIST by default)"},
    {"classify", cmd_classify, "a train-image checkpoint's predictions and accuracy on IDX images"},
    {"tokenize", cmd_tokenize, "train a subword tokenizer (SentencePiece) on a text; encode and decode token files"},
    {"plot", cmd_plot, "loss curves of dytcl train logs (and DyT diagnostics) as a PNG, through gnuplot"},
    {"tune gemm", cmd_tune, "search CLBlast SGEMM parameters for this device and cache them"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: dytcl <command> [options]   (dytcl <command> --help for its options)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (!commands[i].help) cmd_bench_list(f, "  ", 16);
        else fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].help);
    }
    fprintf(f, "\nenvironment: DYTCL_DEVICE (index or name substring), DYTCL_CACHE_DIR, DYTCL_NO_CACHE=1\n");
}

int cli_error(const char *cmd, int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "dytcl %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        fprintf(stderr, "\ndytcl: which command? (see dytcl --help)\n");
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("dytcl %s\n", dytcl_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strncmp(argv[1], commands[i].name, strcspn(commands[i].name, " ")) &&
            !argv[1][strcspn(commands[i].name, " ")])
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "dytcl: %s: unknown command (see dytcl --help)\n", argv[1]);
    return 2;
}
