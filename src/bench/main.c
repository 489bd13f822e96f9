/* ferrybench: the load generator of FerryMQ. This file parses the command
 * line (every option has a bound, so every run stops by itself) and hands
 * over to the parent (parent.c), which forks the workers (worker.c). */
#include "bench/bench.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs("usage: ferrybench conn|pubsub|clients [options]\n"
          "\n"
          "common:\n"
          "  --host ADDR[,ADDR...]  broker address(es), numeric (default 127.0.0.1)\n"
          "  --port N[,N...]        broker port(s) (default 1883); with lists, client i\n"
          "                         (pubsub: publisher i) uses host i mod #hosts, port\n"
          "                         i mod #ports: the nodes of a cluster, round-robin\n"
          "  --mqtt 3|5             protocol: 3 = 3.1.1, 5 = 5.0 (default 5)\n"
          "  --workers W            worker processes (default: <= 9000 sockets each)\n"
          "  --duration S           connect (conn) or publish phase, seconds (default 10)\n"
          "  --setup-timeout S      longest wait for clients to connect first (default 60)\n"
          "  --max-time S           hard cap on the whole run (default: phases + 60)\n"
          "  --spread auto|on|off   bind clients to 127.0.0.2..201 (auto: loopback and\n"
          "                         more clients than half the ephemeral port range)\n"
          "  --keep-alive S         MQTT keep alive (default 60)\n"
          "  --connect-rate R       connects/s while setting up pubsub/clients (default 2000)\n"
          "  --quiet                no progress on stderr\n"
          "  --admin URL[,URL...]   the nodes' admin API (http://ADDR:PORT), polled once a\n"
          "                         second (GET URL/api/v1/node): connections per node in\n"
          "                         the progress, the CSV (conns_1.. in URL order) and the\n"
          "                         summary; a node that does not answer is unknown\n"
          "  --admin-token T        bearer token for --admin (default $FERRYMQ_ADMIN_TOKEN)\n"
          "conn:     -n N  --rate R (connects/s, 0 = as fast as possible)  --concurrency C\n"
          "          (outstanding attempts per worker, default 256)  --hold S (default 2)\n"
          "          --watch-pid PID (report its VmRSS before and after: memory per connection)\n"
          "pubsub:   -P N -S N  --pattern pairs|all  --qos 0|1|2  --payload BYTES (>= 24,\n"
          "          default 64)  --rate R (msgs/s per publisher, 0 = flow control only)\n"
          "          --count N (per publisher)  --drain S (default 5); at full speed a publisher\n"
          "          keeps <= --window-msgs M (256; 0 = no limit) messages not yet received and,\n"
          "          at QoS 0, <= --window-bytes B (65536) unsent\n"
          "          --sub-host ADDR[,ADDR...]  --sub-port N[,N...]: where subscriber i\n"
          "          connects, round-robin (default: --host, --port); publish on one node,\n"
          "          subscribe on others: cross-node throughput\n"
          "clients:  -n N  --rate R (msgs/s per client, default 1)  --qos 1|2 (publishes and\n"
          "          subscriptions, default 1; at QoS 2 a duplicate is a broker failure)\n"
          "          --payload BYTES  --session-expiry S (default 600)\n"
          "          --reconnect none|fixed|exp (default exp)  --reconnect-delay MS (100)\n"
          "          --reconnect-max MS (10000)  --jitter PCT (20)  --follow-ref\n"
          "          --drain S (default 10)  --csv FILE  --events FILE\n"
          "          --takeover-at S: S s into the publish phase, each client does a live\n"
          "          takeover to the next node (host, port i + 1 mod n): a second\n"
          "          connection with its id and Clean Start 0 while the first is up (the\n"
          "          broker ends that one with 0x8E); at most --connect-rate per second;\n"
          "          a client not connected then does it once it is\n"
          "          --takeover-frac F (0..1, default 1): only this fraction of the\n"
          "          clients, spread evenly\n"
          "          --clients-out FILE: at the end, one line per client: index, client\n"
          "          id, disconnects, reconnects, lost (its messages its receiver never\n"
          "          got), duplicates (received); '-' when the client sent no report\n"
          "\n"
          "Prints progress once a second on stderr, a summary and one key=value line on\n"
          "stdout. Exit status 0 when the run completed, 1 when it was cut short.\n",
          f);
}

enum {
    OPT_HOST = 256,
    OPT_PORT,
    OPT_MQTT,
    OPT_WORKERS,
    OPT_DURATION,
    OPT_SETUP,
    OPT_MAXTIME,
    OPT_SPREAD,
    OPT_KEEPALIVE,
    OPT_QUIET,
    OPT_RATE,
    OPT_CONCURRENCY,
    OPT_HOLD,
    OPT_WATCH,
    OPT_PATTERN,
    OPT_QOS,
    OPT_PAYLOAD,
    OPT_COUNT,
    OPT_DRAIN,
    OPT_WINDOW,
    OPT_WMSGS,
    OPT_CRATE,
    OPT_EXPIRY,
    OPT_RECONNECT,
    OPT_RDELAY,
    OPT_RMAX,
    OPT_JITTER,
    OPT_FOLLOW,
    OPT_CSV,
    OPT_EVENTS,
    OPT_ADMIN,
    OPT_ADMIN_TOKEN,
    OPT_CLIENTS_OUT,
    OPT_SUBHOST,
    OPT_SUBPORT,
    OPT_TKAT,
    OPT_TKFRAC,
    OPT_HELP,
};

static const struct option long_opts[] = {
    {"host", required_argument, 0, OPT_HOST},
    {"port", required_argument, 0, OPT_PORT},
    {"mqtt", required_argument, 0, OPT_MQTT},
    {"workers", required_argument, 0, OPT_WORKERS},
    {"duration", required_argument, 0, OPT_DURATION},
    {"setup-timeout", required_argument, 0, OPT_SETUP},
    {"max-time", required_argument, 0, OPT_MAXTIME},
    {"spread", required_argument, 0, OPT_SPREAD},
    {"keep-alive", required_argument, 0, OPT_KEEPALIVE},
    {"quiet", no_argument, 0, OPT_QUIET},
    {"rate", required_argument, 0, OPT_RATE},
    {"concurrency", required_argument, 0, OPT_CONCURRENCY},
    {"hold", required_argument, 0, OPT_HOLD},
    {"watch-pid", required_argument, 0, OPT_WATCH},
    {"pattern", required_argument, 0, OPT_PATTERN},
    {"qos", required_argument, 0, OPT_QOS},
    {"payload", required_argument, 0, OPT_PAYLOAD},
    {"count", required_argument, 0, OPT_COUNT},
    {"drain", required_argument, 0, OPT_DRAIN},
    {"window-bytes", required_argument, 0, OPT_WINDOW},
    {"window-msgs", required_argument, 0, OPT_WMSGS},
    {"connect-rate", required_argument, 0, OPT_CRATE},
    {"session-expiry", required_argument, 0, OPT_EXPIRY},
    {"reconnect", required_argument, 0, OPT_RECONNECT},
    {"reconnect-delay", required_argument, 0, OPT_RDELAY},
    {"reconnect-max", required_argument, 0, OPT_RMAX},
    {"jitter", required_argument, 0, OPT_JITTER},
    {"follow-ref", no_argument, 0, OPT_FOLLOW},
    {"csv", required_argument, 0, OPT_CSV},
    {"events", required_argument, 0, OPT_EVENTS},
    {"admin", required_argument, 0, OPT_ADMIN},
    {"admin-token", required_argument, 0, OPT_ADMIN_TOKEN},
    {"clients-out", required_argument, 0, OPT_CLIENTS_OUT},
    {"sub-host", required_argument, 0, OPT_SUBHOST},
    {"sub-port", required_argument, 0, OPT_SUBPORT},
    {"takeover-at", required_argument, 0, OPT_TKAT},
    {"takeover-frac", required_argument, 0, OPT_TKFRAC},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0},
};

/* A number within [lo, hi], or exit with a message. */
static double num(const char *name, const char *s, double lo, double hi)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "ferrybench: --%s wants a number in [%g, %g], not \"%s\"\n", name, lo, hi,
                s);
        exit(2);
    }
    return v;
}

/* Splits a comma-separated list into at most BN_MAX_ADDRS entries, pointers
 * into *copy (the caller's to free, or to keep while it uses them), or exits
 * with a message. */
static uint32_t split_list(const char *name, const char *arg, const char **out, char **copy_out)
{
    char *copy = strdup(arg), *save = NULL;
    *copy_out = copy;
    uint32_t n = 0;
    if (!copy)
        exit(2);
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == BN_MAX_ADDRS) {
            fprintf(stderr, "ferrybench: --%s takes at most %d entries\n", name, BN_MAX_ADDRS);
            exit(2);
        }
        out[n++] = tok;
    }
    if (n == 0) {
        fprintf(stderr, "ferrybench: --%s wants a comma-separated list, not \"%s\"\n", name, arg);
        exit(2);
    }
    return n;
}

/* The host strings point into *copy, which the caller keeps. */
static uint32_t parse_hosts(const char *name, const char *arg, const char **hosts, char **copy)
{
    uint32_t n = split_list(name, arg, hosts, copy);
    for (uint32_t i = 0; i < n; i++) {
        struct sockaddr_in6 a6;
        struct sockaddr_in a4;
        if (uv_ip4_addr(hosts[i], 1, &a4) != 0 && uv_ip6_addr(hosts[i], 1, &a6) != 0) {
            fprintf(stderr, "ferrybench: --%s must be numeric addresses, not \"%s\"\n", name,
                    hosts[i]);
            exit(2);
        }
    }
    return n;
}

static uint32_t parse_ports(const char *name, const char *arg, uint16_t *ports)
{
    const char *items[BN_MAX_ADDRS];
    char *copy;
    uint32_t n = split_list(name, arg, items, &copy);
    for (uint32_t i = 0; i < n; i++)
        ports[i] = (uint16_t)num(name, items[i], 1, 65535);
    free(copy);
    return n;
}

static bool all_loopback(const char *const *hosts, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (strncmp(hosts[i], "127.", 4) != 0 || hosts[i][4] == 0)
            return false;
    return true;
}

uint32_t bn_total_clients(const bn_opts_t *o)
{
    return o->mode == BN_PUBSUB ? o->pubs + o->subs : o->n;
}

static uint32_t ephemeral_ports(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    unsigned lo = 32768, hi = 60999;
    if (f) {
        if (fscanf(f, "%u %u", &lo, &hi) != 2) {
            lo = 32768;
            hi = 60999;
        }
        fclose(f);
    }
    return hi >= lo ? hi - lo + 1 : 28232;
}

static uint32_t random_u32(void)
{
    uint32_t v = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&v, sizeof v, 1, f) != 1)
        v = (uint32_t)(uv_hrtime() ^ (uint64_t)getpid() << 16);
    if (f)
        fclose(f);
    return v ? v : 1;
}

int bn_opts_parse(bn_opts_t *o, int argc, char **argv)
{
    *o = (bn_opts_t){.host_arg = "127.0.0.1",
                     .port_arg = "1883",
                     .version = FMQ_V5,
                     .duration_s = 10,
                     .setup_s = 60,
                     .keep_alive = 60,
                     .n = 1000,
                     .concurrency = 256,
                     .hold_s = 2,
                     .pubs = 1,
                     .subs = 1,
                     .payload = 64,
                     .drain_s = -1,
                     .window_bytes = 65536,
                     .window_msgs = 256,
                     .connect_rate = 2000,
                     .session_expiry = 600,
                     .takeover_at_s = -1,
                     .takeover_frac = 1,
                     .qos = 0xFF, /* per mode: 0 pubsub, 1 clients */
                     .rate = -1};
    o->reconnect = (fcl_reconnect_policy_t){.kind = FCL_RECONNECT_EXPONENTIAL,
                                            .delay_ms = 100,
                                            .max_delay_ms = 10000,
                                            .jitter_pct = 20};
    int pattern = -1;
    if (argc < 2 || argv[1][0] == '-') {
        usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        exit(argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2);
    }
    if (strcmp(argv[1], "conn") == 0)
        o->mode = BN_CONN;
    else if (strcmp(argv[1], "pubsub") == 0)
        o->mode = BN_PUBSUB;
    else if (strcmp(argv[1], "clients") == 0)
        o->mode = BN_CLIENTS;
    else {
        fprintf(stderr, "ferrybench: unknown mode \"%s\"\n", argv[1]);
        usage(stderr);
        exit(2);
    }
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "n:P:S:h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_HOST:
            o->host_arg = optarg;
            break;
        case OPT_PORT:
            o->port_arg = optarg;
            break;
        case OPT_SUBHOST:
            o->sub_host_arg = optarg;
            break;
        case OPT_SUBPORT:
            o->sub_port_arg = optarg;
            break;
        case OPT_TKAT:
            o->takeover_at_s = num("takeover-at", optarg, 0, 86400);
            break;
        case OPT_TKFRAC:
            o->takeover_frac = num("takeover-frac", optarg, 0, 1);
            break;
        case OPT_MQTT:
            o->version = strcmp(optarg, "3") == 0 || strcmp(optarg, "3.1.1") == 0 ? FMQ_V311
                         : strcmp(optarg, "5") == 0                               ? FMQ_V5
                                                                                  : 0;
            if (!o->version) {
                fprintf(stderr, "ferrybench: --mqtt 3 or 5\n");
                exit(2);
            }
            break;
        case OPT_WORKERS:
            o->workers = (uint32_t)num("workers", optarg, 1, BN_MAX_WORKERS);
            break;
        case OPT_DURATION:
            o->duration_s = num("duration", optarg, 0.1, 86400);
            break;
        case OPT_SETUP:
            o->setup_s = num("setup-timeout", optarg, 1, 3600);
            break;
        case OPT_MAXTIME:
            o->max_time_s = num("max-time", optarg, 1, 90000);
            break;
        case OPT_SPREAD:
            o->spread = strcmp(optarg, "on") == 0    ? BN_SPREAD_ON
                        : strcmp(optarg, "off") == 0 ? BN_SPREAD_OFF
                                                     : BN_SPREAD_AUTO;
            break;
        case OPT_KEEPALIVE:
            o->keep_alive = (uint16_t)num("keep-alive", optarg, 0, 65535);
            break;
        case OPT_QUIET:
            o->quiet = true;
            break;
        case OPT_RATE:
            o->rate = num("rate", optarg, 0, 1e7);
            break;
        case OPT_CONCURRENCY:
            o->concurrency = (uint32_t)num("concurrency", optarg, 1, 20000);
            break;
        case OPT_HOLD:
            o->hold_s = num("hold", optarg, 0, 86400);
            break;
        case OPT_WATCH:
            o->watch_pid = (int)num("watch-pid", optarg, 1, 4194304);
            break;
        case 'n':
            o->n = (uint32_t)num("n", optarg, 1, 1000000);
            break;
        case 'P':
            o->pubs = (uint32_t)num("P", optarg, 1, 100000);
            break;
        case 'S':
            o->subs = (uint32_t)num("S", optarg, 1, 100000);
            break;
        case OPT_PATTERN:
            pattern = strcmp(optarg, "pairs") == 0 ? BN_PAIRS
                      : strcmp(optarg, "all") == 0 ? BN_ALL
                                                   : -2;
            if (pattern == -2) {
                fprintf(stderr, "ferrybench: --pattern pairs or all\n");
                exit(2);
            }
            break;
        case OPT_QOS:
            o->qos = (uint8_t)num("qos", optarg, 0, 2);
            break;
        case OPT_PAYLOAD:
            o->payload = (uint32_t)num("payload", optarg, BN_PAYLOAD_MIN, 1 << 20);
            break;
        case OPT_COUNT:
            o->count = (uint64_t)num("count", optarg, 0, 4e9);
            break;
        case OPT_DRAIN:
            o->drain_s = num("drain", optarg, 0, 3600);
            break;
        case OPT_WINDOW:
            o->window_bytes = (uint32_t)num("window-bytes", optarg, 1024, 1 << 26);
            break;
        case OPT_WMSGS:
            o->window_msgs = (uint32_t)num("window-msgs", optarg, 0, 1e7);
            break;
        case OPT_CRATE:
            o->connect_rate = num("connect-rate", optarg, 1, 1e6);
            break;
        case OPT_EXPIRY:
            o->session_expiry = (uint32_t)num("session-expiry", optarg, 0, 4294967295.0);
            break;
        case OPT_RECONNECT:
            if (strcmp(optarg, "none") == 0)
                o->reconnect.kind = FCL_RECONNECT_NONE;
            else if (strcmp(optarg, "fixed") == 0)
                o->reconnect.kind = FCL_RECONNECT_FIXED;
            else if (strcmp(optarg, "exp") == 0)
                o->reconnect.kind = FCL_RECONNECT_EXPONENTIAL;
            else {
                fprintf(stderr, "ferrybench: --reconnect none, fixed or exp\n");
                exit(2);
            }
            break;
        case OPT_RDELAY:
            o->reconnect.delay_ms = (uint32_t)num("reconnect-delay", optarg, 1, 3600000);
            break;
        case OPT_RMAX:
            o->reconnect.max_delay_ms = (uint32_t)num("reconnect-max", optarg, 1, 3600000);
            break;
        case OPT_JITTER:
            o->reconnect.jitter_pct = (uint32_t)num("jitter", optarg, 0, 100);
            break;
        case OPT_FOLLOW:
            o->reconnect.follow_server_reference = true;
            break;
        case OPT_CSV:
            o->csv = optarg;
            break;
        case OPT_EVENTS:
            o->events = optarg;
            break;
        case OPT_ADMIN:
            o->admin = optarg;
            break;
        case OPT_ADMIN_TOKEN:
            o->admin_token = optarg;
            break;
        case OPT_CLIENTS_OUT:
            o->clients_out = optarg;
            break;
        case 'h':
        case OPT_HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ferrybench: unexpected argument \"%s\"\n", argv[optind]);
        exit(2);
    }
    o->n_hosts = parse_hosts("host", o->host_arg, o->hosts, &o->host_copies[0]);
    o->n_ports = parse_ports("port", o->port_arg, o->ports);
    if ((o->sub_host_arg || o->sub_port_arg) && o->mode != BN_PUBSUB) {
        fprintf(stderr, "ferrybench: --sub-host and --sub-port are for pubsub\n");
        exit(2);
    }
    if (!o->sub_host_arg)
        o->sub_host_arg = o->host_arg;
    if (!o->sub_port_arg)
        o->sub_port_arg = o->port_arg;
    o->n_sub_hosts = parse_hosts("sub-host", o->sub_host_arg, o->sub_hosts, &o->host_copies[1]);
    o->n_sub_ports = parse_ports("sub-port", o->sub_port_arg, o->sub_ports);
    bool loopback = all_loopback(o->hosts, o->n_hosts) &&
                    (o->mode != BN_PUBSUB || all_loopback(o->sub_hosts, o->n_sub_hosts));
    if (o->qos == 0xFF)
        o->qos = o->mode == BN_CLIENTS ? 1 : 0;
    if (o->mode == BN_CLIENTS && o->qos == 0) {
        fprintf(stderr, "ferrybench: clients checks QoS 1 or 2 end to end: --qos 1 or 2\n");
        exit(2);
    }
    if (o->admin) {
        o->n_admin = split_list("admin", o->admin, o->admin_urls, &o->admin_copy);
        for (uint32_t i = 0; i < o->n_admin; i++) {
            const char *u = o->admin_urls[i];
            if ((strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) ||
                strlen(u) > 500) {
                fprintf(stderr,
                        "ferrybench: --admin wants http:// or https:// URLs (at most 500 "
                        "bytes), not \"%s\"\n",
                        u);
                exit(2);
            }
        }
        if (!o->admin_token) {
            const char *t = getenv("FERRYMQ_ADMIN_TOKEN");
            o->admin_token = t && *t ? t : NULL;
        }
    }
    if (o->admin_token) {
        bool bad = strlen(o->admin_token) > 1000;
        for (const char *t = o->admin_token; *t; t++)
            bad |= (unsigned char)*t < 0x21 || *t == 0x7f; /* it goes into a header */
        if (bad) {
            fprintf(stderr, "ferrybench: the admin token must be at most 1000 printable bytes "
                            "without spaces\n");
            exit(2);
        }
    }
    if (o->clients_out && o->mode != BN_CLIENTS) {
        fprintf(stderr, "ferrybench: --clients-out is for clients\n");
        exit(2);
    }
    if (o->takeover_at_s >= 0 && o->mode != BN_CLIENTS) {
        fprintf(stderr, "ferrybench: --takeover-at is for clients\n");
        exit(2);
    }
    if (o->rate < 0)
        o->rate = o->mode == BN_CLIENTS ? 1 : 0;
    if (o->mode == BN_CLIENTS && o->rate <= 0) {
        fprintf(stderr, "ferrybench: clients needs --rate > 0\n");
        exit(2);
    }
    if (o->drain_s < 0)
        o->drain_s = o->mode == BN_CLIENTS ? 10 : 5;
    if (o->takeover_at_s >= o->duration_s) {
        fprintf(stderr, "ferrybench: --takeover-at must be within --duration (%g s)\n",
                o->duration_s);
        exit(2);
    }
    if (o->mode == BN_PUBSUB) {
        o->pattern = pattern >= 0 ? (bn_pattern_t)pattern : o->pubs == o->subs ? BN_PAIRS : BN_ALL;
        if (o->pattern == BN_PAIRS && o->pubs != o->subs) {
            fprintf(stderr, "ferrybench: --pattern pairs needs -P equal to -S\n");
            exit(2);
        }
    }
    if (o->reconnect.max_delay_ms < o->reconnect.delay_ms)
        o->reconnect.max_delay_ms = o->reconnect.delay_ms;
    uint32_t total = bn_total_clients(o);
    if (!o->workers)
        o->workers = (total + BN_SOCKETS_PER_WORKER - 1) / BN_SOCKETS_PER_WORKER;
    if (o->workers < 1)
        o->workers = 1;
    if (o->workers > BN_MAX_WORKERS) {
        fprintf(stderr, "ferrybench: %u clients need more than %d workers\n", total,
                BN_MAX_WORKERS);
        exit(2);
    }
    /* Sockets per worker against the process's open-file limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        uint32_t per = (total + o->workers - 1) / o->workers;
        if ((rlim_t)per + 64 > rl.rlim_cur) {
            fprintf(stderr,
                    "ferrybench: %u sockets per worker exceed the open-file limit %llu: use "
                    "--workers %u or more\n",
                    per, (unsigned long long)rl.rlim_cur,
                    (unsigned)((total + rl.rlim_cur - 65) / (rl.rlim_cur - 64)));
            exit(2);
        }
    }
    o->spread_on = loopback && (o->spread == BN_SPREAD_ON ||
                                (o->spread == BN_SPREAD_AUTO && total > ephemeral_ports() / 2));
    if (o->spread == BN_SPREAD_ON && !loopback)
        fprintf(stderr, "ferrybench: --spread needs a 127.x broker address: not spreading\n");
    o->run_id = random_u32();
    snprintf(o->id_prefix, sizeof o->id_prefix, "fb%08x", o->run_id);
    if (!o->max_time_s)
        o->max_time_s = o->setup_s + o->duration_s + o->hold_s + o->drain_s + 60;
    return 0;
}

int main(int argc, char **argv)
{
    bn_opts_t o;
    bn_opts_parse(&o, argc, argv);
    int rc = bn_parent_main(&o);
    free(o.host_copies[0]);
    free(o.host_copies[1]);
    free(o.admin_copy);
    return rc;
}
