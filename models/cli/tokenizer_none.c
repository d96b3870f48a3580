/* tokenizer_none.c -- tokenizer.h in a build without SentencePiece: every
 * call fails, saying so. */
#include <stdio.h>

#include "tokenizer.h"

static const char NONE[] = "this dytcl was built without SentencePiece (install libsentencepiece-dev and "
                           "configure again)";

static int none(char *err, size_t cap)
{
    if (err && cap) snprintf(err, cap, "%s", NONE);
    return -1;
}

int tok_available(void) { return 0; }

int tok_train(const char *text, size_t n, int vocab, const char *type, uint8_t **model, size_t *model_len,
              char *err, size_t cap)
{
    (void)text, (void)n, (void)vocab, (void)type;
    *model = NULL, *model_len = 0;
    return none(err, cap);
}

int tok_load(const uint8_t *model, size_t len, const char *name, tokenizer **out, char *err, size_t cap)
{
    (void)model, (void)len, (void)name;
    *out = NULL;
    return none(err, cap);
}

void tok_free(tokenizer *t) { (void)t; }
int tok_vocab(const tokenizer *t) { return (void)t, 0; }

int tok_encode(const tokenizer *t, const char *text, size_t n, int32_t **ids, size_t *count, char *err, size_t cap)
{
    (void)t, (void)text, (void)n;
    *ids = NULL, *count = 0;
    return none(err, cap);
}

int tok_decode(const tokenizer *t, const int32_t *ids, size_t count, char **text, size_t *len, char *err, size_t cap)
{
    (void)t, (void)ids, (void)count;
    *text = NULL, *len = 0;
    return none(err, cap);
}

size_t tok_piece(const tokenizer *t, int32_t id, char *buf, size_t cap)
{
    (void)t, (void)id, (void)buf, (void)cap;
    return 0;
}
