/* cmd_tokenize.c -- `dytcl tokenize`: train a subword tokenizer on a text,
 * encode a text into a token file (tokfile.h), decode one back.
 *
 *   dytcl tokenize train  --data FILE --vocab N --out tok.model [--type bpe|unigram]
 *   dytcl tokenize encode --model tok.model TEXT OUT.bin
 *   dytcl tokenize decode --model tok.model IN.bin OUT
 *
 * Outputs follow outputs.h: never an input, never an existing file of
 * another kind without --force (decoded text: any existing file), written
 * whole through a temporary file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "data.h"
#include "outputs.h"
#include "tokens.h"
#include "tokfile.h"

#define WHO "tokenize"

static void usage(FILE *f)
{
    fprintf(f, "usage: dytcl tokenize train  --data FILE --vocab N --out TOK.model [--type bpe|unigram]\n"
               "       dytcl tokenize encode --model TOK.model TEXT OUT.bin\n"
               "       dytcl tokenize decode --model TOK.model IN.bin OUT\n\n"
               "  train   a SentencePiece tokenizer of N tokens (BPE by default) on the text's lines;\n"
               "          lossless: no normalisation, bytes outside the vocabulary as byte tokens\n"
               "  encode  the text as a token file (llm.c's layout: uint16 tokens, uint32 past 65536)\n"
               "  decode  a token file back to text\n"
               "  --force replace an existing output that is not of the kind written\n");
}

static int is_token_file(const char *path) { return text_data_is_token_file(path); }
static int is_tokenizer(const char *path)
{
    tokens_model t;
    if (tokens_load_file(path, &t, NULL, 0)) return 0;
    tokens_free(&t);
    return 1;
}
static int is_nothing(const char *path) { return (void)path, 0; }

/* The checks before any work: the inputs are regular files, the output none of them. */
static int check_io(const char *const *ins, int n_in, const char *out, int (*kind)(const char *), const char *kind_name,
                    int force)
{
    char err[2400];
    for (int i = 0; i < n_in; i++)
        if (input_check("input", ins[i], err, sizeof err)) return cli_error(WHO, 1, "%s", err);
    if (output_check("output", out, kind, kind_name, ins, n_in, force, err, sizeof err))
        return cli_error(WHO, 1, "%s", err);
    return 0;
}

static int train(const char *data, int vocab, const char *type, const char *out, int force)
{
    const char *ins[] = {data};
    if (check_io(ins, 1, out, is_tokenizer, "a tokenizer model", force)) return 1;
    char err[2400];
    uint8_t *text = NULL, *model = NULL;
    size_t n, len;
    int rc = 1;
    if (data_read_file(data, 0, &text, &n, err, sizeof err)) cli_error(WHO, 1, "%s", err);
    else if (dytcl_tokenizer_train((const char *)text, n, vocab, type, &model, &len))
        cli_error(WHO, 1, "%s: %s", data, dytcl_last_error(NULL));
    else if (write_atomic(out, model, len, err, sizeof err)) cli_error(WHO, 1, "%s", err);
    else
        printf("%s: a %s tokenizer of %d tokens from %zu bytes of %s\n", out, type, vocab, n, data), rc = 0;
    free(text), free(model);
    return rc;
}

static int encode(const char *model, const char *in, const char *out, int force)
{
    const char *ins[] = {model, in};
    if (check_io(ins, 2, out, is_token_file, "a token file", force)) return 1;
    char err[2400];
    tokens_model t;
    if (tokens_load_file(model, &t, err, sizeof err)) return cli_error(WHO, 1, "%s", err);
    uint8_t *text = NULL;
    int32_t *ids = NULL;
    size_t n, count;
    int rc = 1;
    if (data_read_file(in, 0, &text, &n, err, sizeof err)) cli_error(WHO, 1, "%s", err);
    else if (dytcl_tokenizer_encode(t.tk, (const char *)text, n, &ids, &count))
        cli_error(WHO, 1, "%s: %s", in, dytcl_last_error(NULL));
    else if (tokfile_write(out, ids, count, (uint32_t)dytcl_tokenizer_vocab(t.tk), err, sizeof err)) cli_error(WHO, 1, "%s", err);
    else {
        printf("%s: %zu tokens from %zu bytes of %s (%.2f bytes per token)\n", out, count, n, in,
               count ? (double)n / (double)count : 0.0);
        rc = 0;
    }
    free(text), free(ids);
    tokens_free(&t);
    return rc;
}

static int decode(const char *model, const char *in, const char *out, int force)
{
    const char *ins[] = {model, in};
    if (check_io(ins, 2, out, is_nothing, "decoded text written by this command", force)) return 1;
    char err[2400];
    tokens_model t;
    if (tokens_load_file(model, &t, err, sizeof err)) return cli_error(WHO, 1, "%s", err);
    uint8_t *file = NULL;
    uint32_t *tok = NULL;
    char *text = NULL;
    size_t n, count, len;
    int rc = 1;
    if (data_read_file(in, 0, &file, &n, err, sizeof err) ||
        tokfile_parse(file, n, in, (uint32_t)dytcl_tokenizer_vocab(t.tk), &tok, &count, err, sizeof err))
        cli_error(WHO, 1, "%s", err);
    else if (dytcl_tokenizer_decode(t.tk, (const int32_t *)tok, count, &text, &len))
        cli_error(WHO, 1, "%s: %s", in, dytcl_last_error(NULL));
    else if (write_atomic(out, text, len, err, sizeof err)) cli_error(WHO, 1, "%s", err);
    else printf("%s: %zu bytes from %zu tokens of %s\n", out, len, count, in), rc = 0;
    free(file), free(tok), free(text);
    tokens_free(&t);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    if (argc < 2) return usage(stderr), 2;
    const char *verb = argv[1];
    if (!strcmp(verb, "--help") || !strcmp(verb, "-h")) return usage(stdout), 0;
    const char *data = NULL, *out = NULL, *model = NULL, *type = "bpe", *pos[2] = {NULL, NULL};
    long vocab = 0;
    int force = 0, npos = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        if (!strcmp(a, "--force")) { force = 1; continue; }
        if (a[0] == '-' && a[1] == '-') {
            if (i + 1 >= argc) return usage(stderr), cli_error(WHO, 2, "%s needs a value", a);
            const char *v = argv[++i];
            char *end = NULL;
            if (!strcmp(a, "--data")) data = v;
            else if (!strcmp(a, "--out")) out = v;
            else if (!strcmp(a, "--model")) model = v;
            else if (!strcmp(a, "--type")) type = v;
            else if (!strcmp(a, "--vocab") && (vocab = strtol(v, &end, 10), *v && !*end && vocab >= 1 && vocab <= 1 << 24))
                ;
            else return usage(stderr), cli_error(WHO, 2, "bad option or value: %s %s", a, v);
            continue;
        }
        if (npos == 2) return usage(stderr), cli_error(WHO, 2, "unexpected argument %s", a);
        pos[npos++] = a;
    }
    if (!strcmp(verb, "train") && !dytcl_tokenizer_has_sentencepiece())
        return cli_error(WHO, 1, "this dytcl was built without SentencePiece: no tokenizer training (install "
                                 "libsentencepiece-dev and configure again)");
    if (!strcmp(verb, "train")) {
        if (!data || !out || !vocab || npos) return usage(stderr), cli_error(WHO, 2, "train needs --data FILE --vocab N --out FILE");
        if (strcmp(type, "bpe") && strcmp(type, "unigram")) return cli_error(WHO, 2, "--type %s: bpe or unigram", type);
        return train(data, (int)vocab, type, out, force);
    }
    if (!strcmp(verb, "encode") || !strcmp(verb, "decode")) {
        if (!model || npos != 2) return usage(stderr), cli_error(WHO, 2, "%s needs --model FILE IN OUT", verb);
        return verb[0] == 'e' ? encode(model, pos[0], pos[1], force) : decode(model, pos[0], pos[1], force);
    }
    return usage(stderr), cli_error(WHO, 2, "unknown subcommand %s (train, encode or decode)", verb);
}
