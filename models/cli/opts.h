/* opts.h -- the one option parser of the `dytcl` program.
 *
 * Every subcommand describes its options in a table: name, kind, the field
 * of the command's options struct it fills, range, help line. The same
 * table parses the command line (strictly: the whole string, the range, no
 * overflow), prints --help with the defaults as a user would type them
 * (0.002, not 0.00200000009), and turns values into text and back for the
 * options a checkpoint keeps.
 *
 * Usage errors are one line on stderr, `dytcl CMD: what, why`, e.g.
 *     dytcl train: --lr: "nope" is not a number
 * and the command exits 2. */
#ifndef DYTCL_OPTS_H
#define DYTCL_OPTS_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
    OPT_SWITCH, /* int: 1 when given; takes no value */
    OPT_INT,    /* int */
    OPT_I64,    /* long long */
    OPT_U64,    /* unsigned long long */
    OPT_FLOAT,  /* float */
    OPT_DOUBLE, /* double */
    OPT_STR,    /* const char *: points into argv */
    OPT_BUF,    /* char [OPT_BUF_LEN]: copied */
    OPT_ENUM,   /* an enum (int-sized): the index of its name in `names` */
} opt_kind;

enum { OPT_BUF_LEN = 1024, OPT_MAX = 64, OPT_MAX_POS = 16 };

typedef struct {
    const char *name;         /* without the dashes: "lr" */
    opt_kind kind;
    size_t off;               /* offsetof(the command's options struct, field); the field has the
                                 size of the kind's type (an enum: int; a uint64_t: unsigned long long) */
    const char *arg;          /* the value in the help: "X", "N", "FILE"; enums list their names */
    double lo, hi;            /* numbers: the inclusive range; both 0: the type's whole range */
    int lo_open, hi_open;     /* 1: lo (hi) itself is out of range (lr > 0, beta2 < 1) */
    const char *const *names; /* OPT_ENUM: the names of values 0, 1, ..., then NULL */
    const char *help;
    const char *def;          /* NULL: --help prints the field's default value; "": none; else this text */
    unsigned tag;             /* the command's own use (train: model option, kept in checkpoints) */
    int output;               /* 1: names a file the command writes (claimed through outputs.h) */
} opt_spec;

typedef struct {
    const char *cmd;      /* "train", "bench norms": the prefix of every message */
    const char *synopsis; /* "--data FILE [options]": after "usage: dytcl CMD " */
    const char *about;    /* paragraphs before the options, or NULL */
    const char *notes;    /* paragraphs after them, or NULL */
    const opt_spec *specs;
    int n;
    int max_pos;          /* how many positional arguments it takes (at most OPT_MAX_POS) */
    /* The files it writes that are no option marked .output, NULL-terminated
     * (or NULL): "pos N" (the Nth positional argument, from 1), "derived
     * --OPT SUFFIX" (OPT's value with SUFFIX appended). */
    const char *const *outputs;
} opt_cmd;

/* What a parse saw besides the values it stored. */
typedef struct {
    const char *pos[OPT_MAX_POS]; /* positional arguments, in order */
    int npos;
    unsigned char given[OPT_MAX]; /* given[i]: specs[i] was on the command line */
} opt_seen;

/* Parses argv[1..argc-1] into dst, which holds the defaults (they are what
 * --help prints). Returns -1 to go on, 0 after printing --help or
 * --list-outputs (every output: "--OPT" per option marked .output, then the
 * command's `outputs` lines; for tests) to stdout, 2 after printing a usage
 * error. seen may be NULL when the command takes
 * no positional arguments. */
int opt_parse(const opt_cmd *c, int argc, char **argv, void *dst, opt_seen *seen);

/* The help text, with dst's values as the defaults. */
void opt_usage(const opt_cmd *c, const void *dst, FILE *f);

/* Stores text into s's field of dst. 0 on success; else -1 and why, e.g.
 * "\"nope\" is not a number" (without the option's name). */
int opt_set(const opt_spec *s, void *dst, const char *text, char *why, size_t cap);

/* s's value in dst as text that opt_set reads back to the same bits:
 * floats in their shortest exact form. */
void opt_format(const opt_spec *s, const void *dst, char *buf, size_t cap);

#endif
