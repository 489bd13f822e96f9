/* ferrymq: one broker node. */
#include "broker/config.h"
#include "broker/log.h"
#include "broker/server.h"

#include <stdio.h>

extern char **environ;

int main(int argc, char **argv)
{
    fb_config_t cfg;
    char err[512];
    int rc = fb_config_from_sources(&cfg, argc, argv, environ, err, sizeof err);
    if (rc != 0) { /* nothing to free on error or --help */
        if (rc < 0)
            fprintf(stderr, "ferrymq: %s\n", err);
        return rc < 0 ? 2 : 0;
    }
    fb_log_set_level(cfg.log_level);
    int status = fb_server_run(&cfg);
    fb_config_free(&cfg);
    return status;
}
