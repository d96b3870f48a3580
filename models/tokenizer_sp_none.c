/* tokenizer_sp_none.c -- tokenizer_sp.h in a build without SentencePiece:
 * every call fails, saying so. */
#include <stdio.h>

#include "tokenizer_sp.h"

static const char NONE[] = "this dytcl was built without SentencePiece (install libsentencepiece-dev and "
                           "configure again)";

static int none(char *err, size_t cap)
{
    if (err && cap) snprintf(err, cap, "%s", NONE);
    return -1;
}

int dy_sp_available(void) { return 0; }

int dy_sp_train(const char *text, size_t n, int vocab, const char *type, uint8_t **model, size_t *model_len,
                char *err, size_t cap)
{
    (void)text, (void)n, (void)vocab, (void)type;
    *model = NULL, *model_len = 0;
    return none(err, cap);
}

int dy_sp_load(const uint8_t *model, size_t len, const char *name, dy_sp **out, char *err, size_t cap)
{
    (void)model, (void)len, (void)name;
    *out = NULL;
    return none(err, cap);
}

void dy_sp_free(dy_sp *t) { (void)t; }
int dy_sp_vocab(const dy_sp *t) { return (void)t, 0; }
int dy_sp_special(const dy_sp *t, int which) { return (void)t, (void)which, -1; }

int dy_sp_encode(const dy_sp *t, const char *text, size_t n, int32_t **ids, size_t *count, char *err, size_t cap)
{
    (void)t, (void)text, (void)n;
    *ids = NULL, *count = 0;
    return none(err, cap);
}

int dy_sp_piece(const dy_sp *t, int32_t id, char *buf, size_t cap, size_t *len)
{
    (void)t, (void)id, (void)buf, (void)cap;
    *len = 0;
    return -1;
}
