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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "data.h"
#include "outputs.h"
#include "tokens.h"
#include "opts.h"
#include "tokfile.h"

#define WHO "tokenize"

typedef struct {
    const char *data, *out, *model;
    int vocab, type, force;
} tok_args;

static const char *const type_names[] = {"bpe", "unigram", NULL};

#define F(f) offsetof(tok_args, f)
static const opt_spec train_specs[] = {
    {"data", OPT_STR, F(data), "FILE", .help = "the text to learn from (required)"},
    {"vocab", OPT_INT, F(vocab), "N", 1, 1 << 24, .help = "tokens in the vocabulary (required)", .def = ""},
    {"out", OPT_STR, F(out), "TOK.model", .help = "the tokenizer to write (required)", .output = 1},
    {"type", OPT_ENUM, F(type), .names = type_names, .help = "the SentencePiece algorithm"},
    {"force", OPT_SWITCH, F(force), .help = "replace an existing --out that is not a tokenizer"},
};
static const opt_spec code_specs[] = {
    {"model", OPT_STR, F(model), "TOK.model", .help = "the tokenizer (required)"},
    {"force", OPT_SWITCH, F(force), .help = "replace an existing OUT that is not of the kind written"},
};
#undef F
static const char *const pos2_output[] = {"pos 2", NULL};
static const opt_cmd train_cmd = {
    "tokenize train", "--data FILE --vocab N --out TOK.model [options]",
    "Trains a SentencePiece tokenizer of N tokens on the text's lines; lossless:\n"
    "no normalisation, bytes outside the vocabulary as byte tokens.\n",
    NULL, train_specs, (int)(sizeof train_specs / sizeof train_specs[0]), 0, NULL};
static const opt_cmd encode_cmd = {
    "tokenize encode", "--model TOK.model TEXT OUT.bin",
    "Writes the text as a token file (llm.c's layout: uint16 tokens, uint32 past 65536).\n",
    NULL, code_specs, (int)(sizeof code_specs / sizeof code_specs[0]), 2, pos2_output};
static const opt_cmd decode_cmd = {
    "tokenize decode", "--model TOK.model IN.bin OUT",
    "Writes a token file back as text.\n",
    NULL, code_specs, (int)(sizeof code_specs / sizeof code_specs[0]), 2, pos2_output};

static void usage(FILE *f)
{
    fprintf(f, "usage: dytcl tokenize train  --data FILE --vocab N --out TOK.model [--type bpe|unigram]\n"
               "       dytcl tokenize encode --model TOK.model TEXT OUT.bin\n"
               "       dytcl tokenize decode --model TOK.model IN.bin OUT\n"
               "(dytcl tokenize <verb> --help for its options)\n");
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

/* The checks before any work (outputs.h): the inputs are regular files, the
 * output none of them, claimed and locked. 0, or 1 (reported). */
static int claim(outs *s, out_file **f, const char *const *ins, int n_in, const char *out, int (*kind)(const char *),
                 const char *kind_name, int force)
{
    outs_init(s, WHO, force);
    for (int i = 0; i < n_in; i++) outs_input(s, "file", ins[i], NULL);
    *f = outs_add(s, "output", out, kind, kind_name);
    return outs_claim(s);
}

static int train(const char *data, int vocab, const char *type, const char *out, int force)
{
    const char *ins[] = {data};
    outs s;
    out_file *f;
    if (claim(&s, &f, ins, 1, out, is_tokenizer, "a tokenizer model", force)) return 1;
    char err[2400];
    uint8_t *text = NULL, *model = NULL;
    size_t n, len;
    int rc = 1;
    if (data_read_file(data, 0, &text, &n, err, sizeof err)) cli_error(WHO, 1, "%s", err);
    else if (dytcl_tokenizer_train((const char *)text, n, vocab, type, &model, &len))
        cli_error(WHO, 1, "%s: %s", data, dytcl_last_error(NULL));
    else if (out_write_file(f, model, len)) rc = 1;
    else
        printf("%s: a %s tokenizer of %d tokens from %zu bytes of %s\n", out, type, vocab, n, data), rc = 0;
    free(text), free(model);
    outs_release(&s);
    return rc;
}

static int encode(const char *model, const char *in, const char *out, int force)
{
    const char *ins[] = {model, in};
    outs s;
    out_file *f;
    if (claim(&s, &f, ins, 2, out, is_token_file, "a token file", force)) return 1;
    char err[2400];
    tokens_model t;
    if (tokens_load_file(model, &t, err, sizeof err)) return outs_release(&s), cli_error(WHO, 1, "%s", err);
    uint8_t *text = NULL, *file = NULL;
    int32_t *ids = NULL;
    size_t n, count, len;
    int rc = 1;
    if (data_read_file(in, 0, &text, &n, err, sizeof err)) cli_error(WHO, 1, "%s", err);
    else if (dytcl_tokenizer_encode(t.tk, (const char *)text, n, &ids, &count))
        cli_error(WHO, 1, "%s: %s", in, dytcl_last_error(NULL));
    else if (tokfile_encode(ids, count, (uint32_t)dytcl_tokenizer_vocab(t.tk), &file, &len, err, sizeof err))
        cli_error(WHO, 1, "%s: %s", out, err);
    else if (!out_write_file(f, file, len)) {
        printf("%s: %zu tokens from %zu bytes of %s (%.2f bytes per token)\n", out, count, n, in,
               count ? (double)n / (double)count : 0.0);
        rc = 0;
    }
    free(text), free(ids), free(file);
    tokens_free(&t);
    outs_release(&s);
    return rc;
}

static int decode(const char *model, const char *in, const char *out, int force)
{
    const char *ins[] = {model, in};
    outs s;
    out_file *f;
    if (claim(&s, &f, ins, 2, out, is_nothing, "decoded text written by this command", force)) return 1;
    char err[2400];
    tokens_model t;
    if (tokens_load_file(model, &t, err, sizeof err)) return outs_release(&s), cli_error(WHO, 1, "%s", err);
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
    else if (!out_write_file(f, text, len))
        printf("%s: %zu bytes from %zu tokens of %s\n", out, len, count, in), rc = 0;
    free(file), free(tok), free(text);
    tokens_free(&t);
    outs_release(&s);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    if (argc < 2) return usage(stderr), cli_error(WHO, 2, "train, encode or decode?");
    const char *verb = argv[1];
    if (!strcmp(verb, "--help") || !strcmp(verb, "-h")) return usage(stdout), 0;
    const opt_cmd *c = !strcmp(verb, "train") ? &train_cmd : !strcmp(verb, "encode") ? &encode_cmd
                     : !strcmp(verb, "decode") ? &decode_cmd : NULL;
    if (!c) return cli_error(WHO, 2, "%s: unknown verb (train, encode or decode)", verb);
    tok_args a = {NULL, NULL, NULL, 0, 0, 0};
    opt_seen seen;
    int rc = opt_parse(c, argc - 1, argv + 1, &a, &seen);
    if (rc >= 0) return rc;
    if (c == &train_cmd) {
        if (!a.data) return cli_error(c->cmd, 2, "--data: required (the text to learn from)");
        if (!a.vocab) return cli_error(c->cmd, 2, "--vocab: required (tokens in the vocabulary)");
        if (!a.out) return cli_error(c->cmd, 2, "--out: required (the tokenizer to write)");
    } else {
        if (!a.model) return cli_error(c->cmd, 2, "--model: required (the tokenizer)");
        if (seen.npos != 2) return cli_error(c->cmd, 2, "IN and OUT: required (%d given)", seen.npos);
    }
    if (!strcmp(verb, "train") && !dytcl_tokenizer_has_sentencepiece())
        return cli_error(WHO, 1, "this dytcl was built without SentencePiece: no tokenizer training (install "
                                 "libsentencepiece-dev and configure again)");
    if (c == &train_cmd) return train(a.data, a.vocab, type_names[a.type], a.out, a.force);
    return c == &encode_cmd ? encode(a.model, seen.pos[0], seen.pos[1], a.force)
                            : decode(a.model, seen.pos[0], seen.pos[1], a.force);
}
