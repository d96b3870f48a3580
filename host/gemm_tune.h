/* gemm_tune.h -- CLBlast GEMM parameters: the built-in set for PoCL, the
 * per-device file that `dytcl tune gemm` writes, and applying them
 * (host/gemm_tune.c). Private to the library. */
#ifndef DYTCL_GEMM_TUNE_H
#define DYTCL_GEMM_TUNE_H

#include "internal.h"

/* What ctx->gemm_ready holds: which parameters the context's GEMMs use. */
enum {
    DY_GEMM_UNSET = 0,    /* no GEMM yet: dy_gemm_setup decides */
    DY_GEMM_CLBLAST,      /* CLBlast's own database (or whatever this process set before) */
    DY_GEMM_BUILTIN,      /* dytcl's built-in set for PoCL CPU devices */
    DY_GEMM_TUNED,        /* read from the tuning file of this device */
    DY_GEMM_SEARCH        /* dytcl_gemm_tune is trying candidates */
};

/* One full set of parameters, in the order of the name tables. */
#define DY_XGEMM_N 16  /* GEMMK MWG NWG KWG MDIMC NDIMC MDIMA NDIMB KWI VWM VWN STRM STRN SA SB KREG */
#define DY_DIRECT_N 10 /* WGD MDIMCD NDIMCD MDIMAD NDIMBD KWID VWMD VWND PADA PADB */
typedef struct {
    size_t xgemm[DY_XGEMM_N];   /* CLBlast kernel "Xgemm" (the indirect GEMM) */
    size_t direct[DY_DIRECT_N]; /* "XgemmDirect"; all zero: left as CLBlast has it */
    size_t min_indirect;        /* "GemmRoutine" XGEMM_MIN_INDIRECT_SIZE: CLBlast runs the
                                   direct kernel when M*N*K < this cubed */
} dy_gemm_params;

/* The built-in set for PoCL CPU devices. */
extern const dy_gemm_params dy_gemm_pocl_cpu;

/* The slot of parameter `name` in p, or NULL. */
size_t *dy_gemm_param(dy_gemm_params *p, const char *name);
/* Sets "NAME=value NAME=value ..." in p; -1 on an unknown name or a bad value. */
int dy_gemm_params_parse(dy_gemm_params *p, const char *s);
/* "GEMMK=0 MWG=64 ... XGEMM_MIN_INDIRECT_SIZE=128 [WGD=...]" */
void dy_gemm_params_str(const dy_gemm_params *p, char *out, size_t cap);
/* 1 when CLBlast can build p on this device (its tuner's constraints, the
 * work-group and local-memory limits); else 0 with the reason in why. */
int dy_gemm_params_valid(const dytcl_ctx *ctx, const dy_gemm_params *p, char *why, size_t cap);
/* CLBlastOverrideParameters for every kernel p sets. CLBlast keeps them per
 * device for the whole process. */
dytcl_status dy_gemm_apply(dytcl_ctx *ctx, const dy_gemm_params *p);
/* 1 once this process has overridden this device's parameters. */
int dy_gemm_overridden(cl_device_id dev);

/* The tuning file: <cache_dir>/gemm-<digest of device and driver>.txt.
 * Load returns 1 with a valid file for this very device, else 0. */
void dy_gemm_file_path(const dytcl_ctx *ctx, char *out, size_t cap);
int dy_gemm_file_load(const dytcl_ctx *ctx, dy_gemm_params *p);
dytcl_status dy_gemm_file_save(dytcl_ctx *ctx, const dy_gemm_params *p, const char *comment);

/* Chooses and applies the parameters once per context, at its first GEMM:
 * DYTCL_GEMM_DEFAULTS=1 keeps CLBlast's; else the device's tuning file in
 * the cache directory when there is a valid one; else the built-in set on
 * PoCL CPU devices; else CLBlast's. */
dytcl_status dy_gemm_setup(dytcl_ctx *ctx);

/* CLBlast status -> DYTCL_ERR_OPENCL (or the OpenCL error it passes
 * through), with the CLBlast code's name in the message. */
dytcl_status dy_blas_fail(dytcl_ctx *ctx, int clblast_status, const char *what);

#endif
