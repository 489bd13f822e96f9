/*
 * libFuzzer target for the broker's config file parser,
 * fb_config_load_yaml (src/broker/config.c): arbitrary bytes must yield
 * either success or one clean error line, never a crash, leak or hang.
 *
 * Beyond "does not crash" it checks the parser's promises, which a crash
 * sanitizer cannot see:
 *   - a failed load leaves the config exactly as it was;
 *   - an error message is one printable line starting "config: ";
 *   - a successful load prints (fb_config_print) to a file that loads back
 *     to the same settings, so print and parse agree on every value.
 * Each run starts from fresh defaults and frees everything: no state is
 * carried between inputs. Links with fb_config (config.c, log.c, libyaml).
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#endif

#include "broker/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise is a finding: abort so that libFuzzer saves the input. */
static void require(int ok, const char *what, const char *detail)
{
    if (!ok) {
        fprintf(stderr, "fuzz_config: %s: %s\n", what, detail ? detail : "");
        abort();
    }
}

static void check_message(const char *err)
{
    require(strncmp(err, "config: ", 8) == 0, "error does not start with \"config: \"", err);
    for (const char *p = err; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        require(ch >= 0x20 && ch != 0x7f, "error holds a control character", err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fb_config_t c, before;
    char err[512];
    fb_config_defaults(&c);
    fb_config_defaults(&before);
    memset(err, 0, sizeof err);

    int rc = fb_config_load_yaml(&c, (const char *)data, size, "fuzz.yaml", err, sizeof err);
    require(rc == 0 || rc == -1, "unexpected return code", NULL);
    if (rc != 0) {
        check_message(err);
        require(fb_config_equal(&c, &before), "a failed load changed the config", err);
    } else {
        /* Round trip: what print writes must load back to the same values. */
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        require(f != NULL, "open_memstream failed", NULL);
        fb_config_print(&c, f);
        fclose(f);
        fb_config_t again;
        fb_config_defaults(&again);
        int rc2 = fb_config_load_yaml(&again, text, len, "printed", err, sizeof err);
        require(rc2 == 0, "printed config does not load back", err);
        require(fb_config_equal(&c, &again), "printed config loads back different", text);
        fb_config_free(&again);
        free(text);
    }
    fb_config_free(&c);
    fb_config_free(&before);
    return 0;
}
