/* An outside application: lists devices and self-tests the default one. */
#include <dytcl.h>
#include <stdio.h>

int main(void)
{
    dytcl_ctx *ctx = NULL;
    if (dytcl_ctx_create(NULL, &ctx) != DYTCL_OK) {
        fprintf(stderr, "consumer: %s\n", dytcl_last_error(NULL));
        return 1;
    }
    dytcl_status s = dytcl_selftest(ctx);
    printf("consumer: dytcl %s self-test %s\n", dytcl_version(), dytcl_status_name(s));
    dytcl_ctx_free(ctx);
    return s == DYTCL_OK ? 0 : 1;
}
