/*
 * The ferrymq process around the broker: one libuv loop owning the MQTT
 * listener, the TCP transport behind fb_transport_ops_t, the tick timer,
 * the output flush (a uv_check handle, so each loop iteration's packets go
 * out in one write per connection) and SIGTERM/SIGINT handling.
 */
#ifndef FB_SERVER_H
#define FB_SERVER_H

#include "broker/config.h"

/* Raises the soft open-file limit to the hard one and returns how many
 * client connections fit (the hard limit less a reserve for listeners,
 * cluster links, files and the admin API). */
uint32_t fb_server_fd_budget(void);

/* Runs a node until SIGTERM/SIGINT; returns the process exit status. */
int fb_server_run(fb_config_t *cfg);
#endif
