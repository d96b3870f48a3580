/* test_noicd.c -- with no OpenCL platform installed (ctest runs this with
 * OCL_ICD_VENDORS pointing at an empty directory), creating a context fails
 * with DYTCL_ERR_NO_DEVICE and says how to install a driver. */
#include <string.h>

#include "check.h"

int main(void)
{
    dytcl_ctx *ctx = NULL;
    dytcl_status s = dytcl_ctx_create(NULL, &ctx);
    CHECK(s == DYTCL_ERR_NO_DEVICE, "got %s: %s", dytcl_status_name(s), dytcl_last_error(NULL));
    CHECK(ctx == NULL, "a context was returned");
    CHECK(strstr(dytcl_last_error(NULL), "no OpenCL device found") != NULL, "message: %s",
          dytcl_last_error(NULL));
    CHECK(strstr(dytcl_last_error(NULL), "apt-get install") != NULL, "no install hint: %s",
          dytcl_last_error(NULL));
    int n = -1;
    s = dytcl_devices(NULL, 0, &n);
    CHECK(s == DYTCL_ERR_NO_DEVICE && n == 0, "devices: %s, count %d", dytcl_status_name(s), n);
    printf("message: %s\n", dytcl_last_error(NULL));
    return check_done("test_noicd");
}
