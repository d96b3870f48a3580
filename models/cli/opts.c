/* opts.c -- the table-driven option parser of every `dytcl` subcommand
 * (opts.h). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opts.h"

/* A field is written and read through memcpy: an enum or a uint64_t field
 * has the size of the kind's type (int, unsigned long long), not its type. */
#define PUT(s, dst, v) memcpy((char *)(dst) + (s)->off, &(v), sizeof(v))
#define GET(s, dst, v) memcpy(&(v), (const char *)(dst) + (s)->off, sizeof(v))

/* The shortest text that reads back to v exactly (as a float when is_float). */
static void shortest(char *buf, size_t cap, double v, int is_float)
{
    if (v == floor(v) && fabs(v) < 1e15) { /* whole numbers as such: 10, not 1e+01 */
        snprintf(buf, cap, "%.0f", v);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, v);
        if (is_float ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v) return;
    }
}

static const char *kind_word(opt_kind k)
{
    return k == OPT_FLOAT || k == OPT_DOUBLE ? "a number" : k == OPT_U64 ? "a whole number >= 0" : "a whole number";
}

/* "1 to 65536", "> 0 and <= 1", ">= 0": the range of s in words. */
static void range_text(const opt_spec *s, char *buf, size_t cap)
{
    char lo[40], hi[40];
    int is_float = s->kind == OPT_FLOAT;
    shortest(lo, sizeof lo, s->lo, is_float), shortest(hi, sizeof hi, s->hi, is_float);
    int open_top = s->hi >= 1e18; /* "no upper bound" in practice */
    if (open_top) snprintf(buf, cap, "%s %s", s->lo_open ? ">" : ">=", lo);
    else if (s->lo_open || s->hi_open)
        snprintf(buf, cap, "%s %s and %s %s", s->lo_open ? ">" : ">=", lo, s->hi_open ? "<" : "<=", hi);
    else snprintf(buf, cap, "%s to %s", lo, hi);
}

static int in_range(const opt_spec *s, double v)
{
    if (s->lo == 0 && s->hi == 0) return 1;
    return (s->lo_open ? v > s->lo : v >= s->lo) && (s->hi_open ? v < s->hi : v <= s->hi);
}

static int out_of_range(const opt_spec *s, const char *text, char *why, size_t cap)
{
    char r[96];
    range_text(s, r, sizeof r);
    snprintf(why, cap, "%s is out of range (%s)", text, r);
    return -1;
}

int opt_set(const opt_spec *s, void *dst, const char *text, char *why, size_t cap)
{
    char *end = NULL;
    errno = 0;
    switch (s->kind) {
    case OPT_SWITCH: {
        if (strcmp(text, "0") && strcmp(text, "1"))
            return snprintf(why, cap, "a switch, \"%s\" is not 0 or 1", text), -1;
        int v = text[0] == '1';
        PUT(s, dst, v);
        return 0;
    }
    case OPT_INT:
    case OPT_I64: {
        if (!*text || isspace((unsigned char)text[0])) break;
        long long v = strtoll(text, &end, 10);
        if (*end) break;
        long long lo = s->kind == OPT_INT ? INT_MIN : LLONG_MIN, hi = s->kind == OPT_INT ? INT_MAX : LLONG_MAX;
        if (errno == ERANGE || v < lo || v > hi || !in_range(s, (double)v)) return out_of_range(s, text, why, cap);
        if (s->kind == OPT_INT) {
            int i = (int)v;
            PUT(s, dst, i);
        } else {
            PUT(s, dst, v);
        }
        return 0;
    }
    case OPT_U64: {
        if (!isdigit((unsigned char)text[0])) break;
        unsigned long long v = strtoull(text, &end, 10);
        if (*end) break;
        if (errno == ERANGE || !in_range(s, (double)v)) return out_of_range(s, text, why, cap);
        PUT(s, dst, v);
        return 0;
    }
    case OPT_FLOAT:
    case OPT_DOUBLE: {
        if (!*text || isspace((unsigned char)text[0])) break;
        double v = strtod(text, &end);
        if (*end) break;
        if (!isfinite(v)) return snprintf(why, cap, "\"%s\" is not a finite number", text), -1;
        if (errno == ERANGE && v != 0) return out_of_range(s, text, why, cap);
        if (s->kind == OPT_FLOAT && !isfinite((float)v)) return out_of_range(s, text, why, cap);
        if (!in_range(s, s->kind == OPT_FLOAT ? (double)(float)v : v)) return out_of_range(s, text, why, cap);
        if (s->kind == OPT_FLOAT) {
            float f = (float)v;
            PUT(s, dst, f);
        } else {
            PUT(s, dst, v);
        }
        return 0;
    }
    case OPT_STR: PUT(s, dst, text); return 0;
    case OPT_BUF:
        if (strlen(text) >= OPT_BUF_LEN) return snprintf(why, cap, "longer than %d bytes", OPT_BUF_LEN - 1), -1;
        memcpy((char *)dst + s->off, text, strlen(text) + 1);
        return 0;
    case OPT_ENUM: {
        for (int i = 0; s->names[i]; i++)
            if (!strcmp(text, s->names[i])) return PUT(s, dst, i), 0;
        size_t k = (size_t)snprintf(why, cap, "\"%s\" is not ", text);
        for (int i = 0; s->names[i] && k < cap; i++)
            k += (size_t)snprintf(why + k, cap - k, "%s%s", i ? (s->names[i + 1] ? ", " : " or ") : "", s->names[i]);
        return -1;
    }
    }
    snprintf(why, cap, "\"%s\" is not %s", text, kind_word(s->kind));
    return -1;
}

void opt_format(const opt_spec *s, const void *dst, char *buf, size_t cap)
{
    int i = 0;
    long long ll = 0;
    unsigned long long u = 0;
    float f = 0;
    double d = 0;
    const char *str = NULL;
    switch (s->kind) {
    case OPT_SWITCH:
    case OPT_INT: GET(s, dst, i), snprintf(buf, cap, "%d", i); break;
    case OPT_I64: GET(s, dst, ll), snprintf(buf, cap, "%lld", ll); break;
    case OPT_U64: GET(s, dst, u), snprintf(buf, cap, "%llu", u); break;
    case OPT_FLOAT: GET(s, dst, f), shortest(buf, cap, (double)f, 1); break;
    case OPT_DOUBLE: GET(s, dst, d), shortest(buf, cap, d, 0); break;
    case OPT_STR: GET(s, dst, str), snprintf(buf, cap, "%s", str ? str : ""); break;
    case OPT_BUF: snprintf(buf, cap, "%s", (const char *)dst + s->off); break;
    case OPT_ENUM: {
        int n = 0;
        GET(s, dst, i);
        while (s->names[n]) n++;
        snprintf(buf, cap, "%s", i >= 0 && i < n ? s->names[i] : "?");
        break;
    }
    }
}

void opt_usage(const opt_cmd *c, const void *dst, FILE *f)
{
    fprintf(f, "usage: dytcl %s %s\n", c->cmd, c->synopsis);
    if (c->about) fprintf(f, "\n%s", c->about);
    if (c->n) fprintf(f, "\noptions:\n");
    for (int i = 0; i < c->n; i++) {
        const opt_spec *s = &c->specs[i];
        char left[96], arg[80] = "", def[OPT_BUF_LEN + 16] = "";
        if (s->kind == OPT_ENUM) {
            size_t k = 0;
            for (int j = 0; s->names[j] && k < sizeof arg; j++)
                k += (size_t)snprintf(arg + k, sizeof arg - k, "%s%s", j ? "|" : "", s->names[j]);
        } else if (s->kind != OPT_SWITCH) {
            snprintf(arg, sizeof arg, "%s", s->arg ? s->arg : "V");
        }
        snprintf(left, sizeof left, "--%s%s%s", s->name, arg[0] ? " " : "", arg);
        if (s->def && s->def[0]) snprintf(def, sizeof def, " (default %s)", s->def);
        else if (!s->def && s->kind != OPT_SWITCH) {
            char v[OPT_BUF_LEN];
            opt_format(s, dst, v, sizeof v);
            if (v[0]) snprintf(def, sizeof def, " (default %s)", v);
        }
        const char *mark = s->output ? " [written]" : "";
        if (strlen(left) > 22) fprintf(f, "  %s\n  %-22s %s%s%s\n", left, "", s->help, def, mark);
        else fprintf(f, "  %-22s %s%s%s\n", left, s->help, def, mark);
    }
    if (c->notes) fprintf(f, "\n%s", c->notes);
}

static int find(const opt_cmd *c, const char *name, size_t len)
{
    for (int i = 0; i < c->n; i++)
        if (strlen(c->specs[i].name) == len && !strncmp(c->specs[i].name, name, len)) return i;
    return -1;
}

int opt_parse(const opt_cmd *c, int argc, char **argv, void *dst, opt_seen *seen)
{
    opt_seen none;
    if (!seen) seen = &none;
    memset(seen, 0, sizeof *seen);
    int only_pos = 0; /* after "--" every argument is positional */
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!only_pos && (!strcmp(arg, "--help") || !strcmp(arg, "-h"))) return opt_usage(c, dst, stdout), 0;
        if (!only_pos && !strcmp(arg, "--list-outputs")) {
            for (int i = 0; i < c->n; i++)
                if (c->specs[i].output) printf("--%s\n", c->specs[i].name);
            for (int i = 0; c->outputs && c->outputs[i]; i++) printf("%s\n", c->outputs[i]);
            return 0;
        }
        if (!only_pos && !strcmp(arg, "--")) {
            only_pos = 1;
            continue;
        }
        if (only_pos || arg[0] != '-' || !arg[1]) { /* "-" alone is a positional argument (stdin) */
            if (seen->npos >= c->max_pos || seen->npos >= OPT_MAX_POS)
                return cli_error(c->cmd, 2, "%s: unexpected argument (%s)", arg,
                                 c->max_pos ? "too many" : "this command takes only options");
            seen->pos[seen->npos++] = arg;
            continue;
        }
        if (arg[1] != '-') return cli_error(c->cmd, 2, "%s: unknown option (options start with --; see --help)", arg);
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int i = find(c, name, len);
        if (i < 0) return cli_error(c->cmd, 2, "--%.*s: unknown option (see dytcl %s --help)", (int)len, name, c->cmd);
        const opt_spec *s = &c->specs[i];
        const char *text = eq ? eq + 1 : NULL;
        if (s->kind == OPT_SWITCH && !text) text = "1";
        else if (!text && a + 1 >= argc)
            return cli_error(c->cmd, 2, "--%s: needs a value (%s)", s->name, s->arg ? s->arg : "see --help");
        else if (!text) text = argv[++a];
        char why[512];
        if (opt_set(s, dst, text, why, sizeof why)) return cli_error(c->cmd, 2, "--%s: %s", s->name, why);
        if (i < OPT_MAX) seen->given[i] = 1;
    }
    return -1;
}
