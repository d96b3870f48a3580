/* error.c -- status names, OpenCL error names and the last-error message. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* The message of a failed call that had no context (ctx_create, devices). */
static _Thread_local char thread_err[DY_ERRLEN];

const char *dytcl_version(void)
{
    return "0.1.0";
}

const char *dytcl_status_name(dytcl_status s)
{
    switch (s) {
    case DYTCL_OK: return "DYTCL_OK";
    case DYTCL_ERR_INVALID_ARG: return "DYTCL_ERR_INVALID_ARG";
    case DYTCL_ERR_NO_DEVICE: return "DYTCL_ERR_NO_DEVICE";
    case DYTCL_ERR_HOST_MEMORY: return "DYTCL_ERR_HOST_MEMORY";
    case DYTCL_ERR_DEVICE_MEMORY: return "DYTCL_ERR_DEVICE_MEMORY";
    case DYTCL_ERR_BUILD: return "DYTCL_ERR_BUILD";
    case DYTCL_ERR_OPENCL: return "DYTCL_ERR_OPENCL";
    case DYTCL_ERR_IO: return "DYTCL_ERR_IO";
    case DYTCL_ERR_FORMAT: return "DYTCL_ERR_FORMAT";
    case DYTCL_ERR_UNSUPPORTED: return "DYTCL_ERR_UNSUPPORTED";
    case DYTCL_ERR_CALL_ORDER: return "DYTCL_ERR_CALL_ORDER";
    case DYTCL_STATUS_COUNT: break;
    }
    return "DYTCL_STATUS_UNKNOWN";
}

const char *dytcl_last_error(const dytcl_ctx *ctx)
{
    return ctx ? ctx->err : thread_err;
}

dytcl_status dy_fail(dytcl_ctx *ctx, dytcl_status s, const char *fmt, ...)
{
    char *dst = ctx ? ctx->err : thread_err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, DY_ERRLEN, fmt, ap);
    va_end(ap);
    return s;
}

void dy_clear_error(dytcl_ctx *ctx)
{
    (ctx ? ctx->err : thread_err)[0] = '\0';
}

const char *dy_cl_error_name(cl_int err)
{
    switch (err) {
#define E(x) case x: return #x;
    E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE)
    E(CL_COMPILER_NOT_AVAILABLE) E(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY) E(CL_PROFILING_INFO_NOT_AVAILABLE)
    E(CL_MEM_COPY_OVERLAP) E(CL_IMAGE_FORMAT_MISMATCH) E(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE) E(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST) E(CL_COMPILE_PROGRAM_FAILURE)
    E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE) E(CL_DEVICE_PARTITION_FAILED)
    E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) E(CL_INVALID_VALUE) E(CL_INVALID_DEVICE_TYPE)
    E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT)
    E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_HOST_PTR)
    E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) E(CL_INVALID_IMAGE_SIZE)
    E(CL_INVALID_SAMPLER) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS)
    E(CL_INVALID_PROGRAM) E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME)
    E(CL_INVALID_KERNEL_DEFINITION) E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX)
    E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE) E(CL_INVALID_KERNEL_ARGS)
    E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE) E(CL_INVALID_WORK_ITEM_SIZE)
    E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST) E(CL_INVALID_EVENT)
    E(CL_INVALID_OPERATION) E(CL_INVALID_GL_OBJECT) E(CL_INVALID_BUFFER_SIZE)
    E(CL_INVALID_MIP_LEVEL) E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
    E(CL_INVALID_IMAGE_DESCRIPTOR) E(CL_INVALID_COMPILER_OPTIONS) E(CL_INVALID_LINKER_OPTIONS)
    E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "CL_UNKNOWN_ERROR";
    }
}

dytcl_status dy_cl_fail(dytcl_ctx *ctx, cl_int err, const char *what)
{
    dytcl_status s = DYTCL_ERR_OPENCL;
    if (err == CL_OUT_OF_HOST_MEMORY) s = DYTCL_ERR_HOST_MEMORY;
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_INVALID_BUFFER_SIZE)
        s = DYTCL_ERR_DEVICE_MEMORY;
    return dy_fail(ctx, s, "%s failed: %s (%d)", what, dy_cl_error_name(err), (int)err);
}
