/* device.c -- every device of every platform as one flat list. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define DY_MAX_PLATFORMS 16
#define DY_MAX_DEVICES 64

static const char *no_device_hint =
    "no OpenCL device found: install an OpenCL driver (ICD), e.g. "
    "`sudo apt-get install ocl-icd-libopencl1 pocl-opencl-icd` for the CPU, "
    "or your GPU vendor's OpenCL driver; `clinfo -l` lists what the loader sees";

dytcl_status dy_device_ids(cl_platform_id *plats, cl_device_id *devs, int cap, int *count)
{
    cl_platform_id p[DY_MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(DY_MAX_PLATFORMS, p, &np);
    *count = 0;
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0))
        return dy_fail(NULL, DYTCL_ERR_NO_DEVICE, "%s (clGetPlatformIDs: %s)", no_device_hint,
                       dy_cl_error_name(err));
    if (err != CL_SUCCESS) return dy_cl_fail(NULL, err, "clGetPlatformIDs");
    if (np > DY_MAX_PLATFORMS) np = DY_MAX_PLATFORMS;

    int n = 0;
    for (cl_uint i = 0; i < np; i++) {
        cl_device_id d[DY_MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(p[i], CL_DEVICE_TYPE_ALL, DY_MAX_DEVICES, d, &nd) != CL_SUCCESS)
            continue; /* a platform with no devices is not an error */
        if (nd > DY_MAX_DEVICES) nd = DY_MAX_DEVICES;
        for (cl_uint j = 0; j < nd; j++, n++) {
            if (n < cap) {
                plats[n] = p[i];
                devs[n] = d[j];
            }
        }
    }
    *count = n;
    if (n == 0)
        return dy_fail(NULL, DYTCL_ERR_NO_DEVICE, "%s (%u platform(s), no devices)",
                       no_device_hint, np);
    return DYTCL_OK;
}

static void str_info(cl_device_id d, cl_device_info what, char *out, size_t cap)
{
    out[0] = '\0';
    if (clGetDeviceInfo(d, what, cap, out, NULL) != CL_SUCCESS) out[0] = '\0';
    out[cap - 1] = '\0';
}

static uint64_t u64_info(cl_device_id d, cl_device_info what)
{
    cl_ulong v = 0;
    clGetDeviceInfo(d, what, sizeof v, &v, NULL);
    return v;
}

static unsigned uint_info(cl_device_id d, cl_device_info what)
{
    cl_uint v = 0;
    clGetDeviceInfo(d, what, sizeof v, &v, NULL);
    return v;
}

void dy_device_query(cl_platform_id p, cl_device_id d, int index, dytcl_device_info *o)
{
    memset(o, 0, sizeof *o);
    o->index = index;
    clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof o->platform, o->platform, NULL);
    clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof o->platform_version, o->platform_version,
                      NULL);
    o->platform[sizeof o->platform - 1] = '\0';
    o->platform_version[sizeof o->platform_version - 1] = '\0';
    str_info(d, CL_DEVICE_NAME, o->name, sizeof o->name);
    str_info(d, CL_DEVICE_VENDOR, o->vendor, sizeof o->vendor);
    str_info(d, CL_DRIVER_VERSION, o->driver_version, sizeof o->driver_version);
    str_info(d, CL_DEVICE_VERSION, o->device_version, sizeof o->device_version);
    str_info(d, CL_DEVICE_OPENCL_C_VERSION, o->c_version, sizeof o->c_version);

    cl_device_type type = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    o->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    o->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    o->compute_units = uint_info(d, CL_DEVICE_MAX_COMPUTE_UNITS);
    o->clock_mhz = uint_info(d, CL_DEVICE_MAX_CLOCK_FREQUENCY);
    o->global_mem = u64_info(d, CL_DEVICE_GLOBAL_MEM_SIZE);
    o->local_mem = u64_info(d, CL_DEVICE_LOCAL_MEM_SIZE);
    o->max_alloc = u64_info(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
    o->mem_base_align = uint_info(d, CL_DEVICE_MEM_BASE_ADDR_ALIGN) / 8;
    o->preferred_vector_float = uint_info(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT);

    cl_device_local_mem_type lt = 0;
    clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_TYPE, sizeof lt, &lt, NULL);
    o->local_mem_is_scratchpad = lt == CL_LOCAL;
    size_t wg = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    o->max_work_group = wg;
    size_t res = 0;
    clGetDeviceInfo(d, CL_DEVICE_PROFILING_TIMER_RESOLUTION, sizeof res, &res, NULL);
    o->timer_resolution_ns = res;

    char ext[8192];
    str_info(d, CL_DEVICE_EXTENSIONS, ext, sizeof ext);
    o->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
    o->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
    o->subgroups = strstr(ext, "cl_khr_subgroups") != NULL ||
                   strstr(ext, "cl_intel_subgroups") != NULL;
}

dytcl_status dytcl_devices(dytcl_device_info *out, int cap, int *count)
{
    if (!count) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_devices: count is NULL");
    if (cap < 0 || (cap > 0 && !out))
        return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_devices: out is NULL with cap %d", cap);
    cl_platform_id p[DY_MAX_DEVICES];
    cl_device_id d[DY_MAX_DEVICES];
    int n = 0;
    dytcl_status s = dy_device_ids(p, d, DY_MAX_DEVICES, &n);
    *count = n;
    if (s != DYTCL_OK) return s;
    for (int i = 0; i < n && i < cap && i < DY_MAX_DEVICES; i++) dy_device_query(p[i], d[i], i, &out[i]);
    return DYTCL_OK;
}
