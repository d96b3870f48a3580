/* tokenizer_pretok.c -- UTF-8 and the GPT-2 pre-tokenizer, a hand-written
 * scanner for the regex
 *
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * tried alternative by alternative, first match wins, as a backtracking
 * regex engine does. \p{L} and \p{N} are the general categories L and N
 * (unicode_classes.h, generated from the Unicode database); \s is White_Space
 * (the 25 code points below). */
#include "tokenizer_internal.h"
#include "unicode_classes.h"

size_t dy_utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
    if (!n) return 0;
    uint8_t c = s[0];
    if (c < 0x80) return *cp = c, 1;
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (!len || len > n || c > 0xF4) return 0;
    uint32_t v = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < least[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    return *cp = v, len;
}

size_t dy_utf8_check(const char *s, size_t n)
{
    const uint8_t *u = (const uint8_t *)s;
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t k = dy_utf8_next(u + i, n - i, &cp);
        if (!k) return i;
        i += k;
    }
    return n;
}

static int in_ranges(const uint32_t (*r)[2], size_t count, uint32_t cp)
{
    size_t lo = 0, hi = count; /* binary search for the range containing cp */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid][0]) hi = mid;
        else if (cp > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

int dy_is_letter(uint32_t cp) { return in_ranges(dy_uc_letter, sizeof dy_uc_letter / sizeof *dy_uc_letter, cp); }
int dy_is_number(uint32_t cp) { return in_ranges(dy_uc_number, sizeof dy_uc_number / sizeof *dy_uc_number, cp); }

int dy_is_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

enum { LETTER, NUMBER, SPACE, OTHER };

static int class_of(uint32_t cp)
{
    return dy_is_space(cp) ? SPACE : dy_is_letter(cp) ? LETTER : dy_is_number(cp) ? NUMBER : OTHER;
}

/* The code point at s[i..n) and its class into *cls; its length (0 at the end). */
static size_t next_class(const uint8_t *s, size_t n, size_t i, int *cls)
{
    uint32_t cp = 0;
    size_t k = i < n ? dy_utf8_next(s + i, n - i, &cp) : 0;
    if (!k && i < n) k = 1, cp = 0xFFFD; /* not reached on checked text */
    *cls = k ? class_of(cp) : -1;
    return k;
}

/* The end of the run of class cls starting at i. */
static size_t run_of(const uint8_t *s, size_t n, size_t i, int cls)
{
    int c;
    size_t k;
    while ((k = next_class(s, n, i, &c)) && c == cls) i += k;
    return i;
}

size_t dy_pretok_next(const char *text, size_t n)
{
    const uint8_t *s = (const uint8_t *)text;
    /* 's 't 're 've 'm 'll 'd */
    if (s[0] == '\'' && n >= 2) {
        static const char *const tails[] = {"s", "t", "re", "ve", "m", "ll", "d"};
        for (int j = 0; j < 7; j++) {
            size_t len = tails[j][1] ? 2 : 1;
            if (n >= 1 + len && s[1] == (uint8_t)tails[j][0] && (len == 1 || s[2] == (uint8_t)tails[j][1]))
                return 1 + len;
        }
    }
    /* ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run of one class */
    size_t start = s[0] == ' ' ? 1 : 0;
    int cls;
    size_t k = next_class(s, n, start, &cls);
    if (k && cls != SPACE) return run_of(s, n, start, cls);
    /* `\s+(?!\S)`, `\s+`: the whitespace run, less its last character when a
     * non-space follows and the run is longer than one */
    size_t end = run_of(s, n, 0, SPACE);
    if (end == n) return end;
    size_t last = end - 1;
    while (last > 0 && (s[last] & 0xC0) == 0x80) last--; /* the run's last code point starts here */
    return last > 0 ? last : end;
}
