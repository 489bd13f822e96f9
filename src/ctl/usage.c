/*
 * ferryctl's usage texts: `ferryctl --help` and `ferryctl COMMAND --help`.
 * Kept apart from args.c so the rules stated here can be read in one place;
 * they must say what args.c checks.
 */
#include "ctl.h"

static const char global_text[] =
    "Usage: ferryctl [--url URL] [--token T] [--output text|json] [--timeout S] COMMAND [ARGS]\n"
    "\n"
    "The admin command line of a FerryMQ node: it speaks only the node's admin HTTP API\n"
    "(docs/admin-api.md); upgrade-status reads ferry-operator's status file instead.\n"
    "\n"
    "Commands:\n"
    "  status                          this node (GET /api/v1/node)\n"
    "  cluster                         every node of the cluster, as a table\n"
    "  clients [--page N] [--limit N]  this node's clients, as a table\n"
    "  client ID                       one client\n"
    "  kick ID [--discard]             disconnect a client; --discard drops its session too\n"
    "  evacuate start [OPTIONS]        move every connection and session off this node\n"
    "  evacuate stop                   end the evacuation (the node takes clients again)\n"
    "  evacuate status [--watch]       the evacuation's state and progress\n"
    "  rebalance start [OPTIONS]       even out connections and sessions across nodes\n"
    "  rebalance stop                  stop the rebalance this node coordinates\n"
    "  rebalance status                the rebalance as this node sees it\n"
    "  global-status                   every evacuation and rebalance in the cluster\n"
    "  upgrade-status [--name NAME]    a ferry-operator cluster's upgrade (its status.json)\n"
    "  help [COMMAND]                  this text, or a command's (also COMMAND --help)\n"
    "\n"
    "Options (anywhere on the line):\n"
    "  --url URL           the node's admin API, http:// or https://\n"
    "                      (default: $FERRYCTL_URL, else " CTL_DEFAULT_URL ")\n"
    "  --token T           bearer token (default: $FERRYMQ_ADMIN_TOKEN)\n"
    "  --output text|json  text (default): human-readable; json: the node's answer as is\n"
    "                      (pretty-printed), nothing else on stdout\n"
    "  --timeout S         seconds for each request, connect included (1..3600, default 10)\n"
    "  --                  ends the options (for a client ID that starts with '-')\n"
    "\n"
    "Exit status:\n"
    "  0    success\n"
    "  1    the node refused: 409 (\"already started\", \"not started\", ...), 404 no such\n"
    "       client, or an evacuation stopped before it reached prohibiting (--wait)\n"
    "  2    usage error or invalid parameter (checked before any request), or HTTP 400/413\n"
    "       from the node (its error is shown); upgrade-status: no such cluster, or several\n"
    "       and no --name\n"
    "  3    node unreachable: connection refused, timeout, name resolution; upgrade-status:\n"
    "       the cluster has no status.json (yet)\n"
    "  4    authentication failed (401): missing or wrong bearer token\n"
    "  5    anything unexpected: 5xx, an answer that is not JSON, an unknown endpoint, a\n"
    "       status.json that cannot be read or is not a JSON object\n"
    "  130  interrupted (Ctrl-C) during --watch / --wait\n"
    "Errors go to stderr as \"ferryctl: ...\"; with --output json the node's error body\n"
    "(if any) also goes to stdout.\n";

static const char conn_rate_plain[] =
    "  --conn-evict-rate N        connections evicted per second, 1..1000000 (node default 500)\n";

static const char start_common[] =
    "  --sess-evict-rate N        sessions moved per second, 1..1000000 (node default 500)\n"
    "  --wait-takeover DUR        after the connections: time for clients to reconnect\n"
    "                             elsewhere before sessions move (node default 60s)\n"
    "  --wait-health-check DUR    before evicting: time for load balancers to notice\n"
    "                             /health/available turning 503 (node default 60s)\n";

static const char dur_text[] =
    "DUR is N (seconds, sent as an integer), Nms, Ns, Nm or Nh (sent as given), 0..24h.\n"
    "Only the options given are sent; the node fills in the rest.\n";

static void cmd_text(FILE *f, ctl_cmd_t cmd)
{
    switch (cmd) {
    case CTL_CMD_STATUS:
        fputs("Usage: ferryctl status\n\nThis node: connections, sessions, subscriptions, "
              "retained messages,\nuptime, whether it is available (GET /api/v1/node).\n",
              f);
        break;
    case CTL_CMD_CLUSTER:
        fputs("Usage: ferryctl cluster\n\nEvery node of the cluster, this one first, with "
              "its link state and the load\nit last reported (GET /api/v1/cluster).\n",
              f);
        break;
    case CTL_CMD_CLIENTS:
        fputs("Usage: ferryctl clients [--page N] [--limit N]\n\nThis node's clients "
              "(connected, and offline sessions), as a table\n(GET /api/v1/clients).\n"
              "  --page N   page from 1 (default 1)\n"
              "  --limit N  clients per page, 1..1000 (default 100)\n",
              f);
        break;
    case CTL_CMD_CLIENT:
        fputs("Usage: ferryctl client ID\n\nOne client (GET /api/v1/clients/ID, the ID "
              "URL-encoded). Exit 1 when the\nnode has no such client.\n",
              f);
        break;
    case CTL_CMD_KICK:
        fputs("Usage: ferryctl kick ID [--discard]\n\nDisconnects a client (MQTT 5: "
              "DISCONNECT 0x98, Administrative action); its\nsession stays for a reconnect "
              "(DELETE /api/v1/clients/ID). Exit 1 when the node\nhas no such client.\n"
              "  --discard  drop the session too\n",
              f);
        break;
    case CTL_CMD_EVAC_START:
        fputs("Usage: ferryctl evacuate start [OPTIONS]\n\nMoves every connection and "
              "session off this node, then keeps refusing new\nones (state prohibiting) "
              "until `evacuate stop` (POST /api/v1/evacuation/start).\n"
              "  --conn-evict-rate N|auto   connections evicted per second, 1..1000000, or "
              "auto\n                             (adapts, up to --conn-evict-rate-max; node "
              "default 500)\n"
              "  --conn-evict-rate-max N    ceiling of auto, 1..1000000 (node default 1000)\n",
              f);
        fputs(start_common, f);
        fputs("  --redirect-to REF          MQTT 5 Server Reference sent to evicted clients\n"
              "                             (1 to 1024 bytes of UTF-8, no control characters)\n"
              "  --migrate-to NODE[,NODE]   nodes that take the sessions (1 to 64 distinct "
              "names;\n                             default: every other available node)\n"
              "  --wait                     then follow the progress (as `evacuate status "
              "--watch`)\n                             until the state is prohibiting\n\n",
              f);
        fputs(dur_text, f);
        break;
    case CTL_CMD_EVAC_STOP:
        fputs("Usage: ferryctl evacuate stop\n\nEnds the evacuation: the node takes clients "
              "again (POST /api/v1/evacuation/stop).\nExit 1 when none runs (409 not "
              "started).\n",
              f);
        break;
    case CTL_CMD_EVAC_STATUS:
        fputs("Usage: ferryctl evacuate status [--watch]\n\nThe evacuation's state and "
              "counters (GET /api/v1/evacuation).\n"
              "  --watch  poll once a second and show state, connections and sessions "
              "left\n           (with a progress bar), evicted, migrated, failed and the "
              "rate; ends at\n           prohibiting or disabled (exit 0), on Ctrl-C (exit "
              "130), or with exit 3\n           when the node does not answer for --timeout "
              "seconds. On a terminal the\n           view is redrawn; otherwise one line a "
              "second. With --output json: one\n           compact JSON document per line "
              "per poll.\n",
              f);
        break;
    case CTL_CMD_REBAL_START:
        fputs("Usage: ferryctl rebalance start [OPTIONS]\n\nMoves connections and sessions "
              "from the busiest nodes to the others until\nthey are within the thresholds; "
              "this node coordinates (POST\n/api/v1/rebalance/start). Exit 1 when there is "
              "nothing to balance.\n"
              "  --nodes A,B                nodes taking part (1 to 64 distinct names; "
              "default:\n                             every available node)\n",
              f);
        fputs(conn_rate_plain, f);
        fputs(start_common, f);
        fputs("  --abs-conn-threshold N     connections above the average before a node "
              "gives\n                             any away, 0..1000000000 (node default "
              "1000)\n"
              "  --rel-conn-threshold X     ratio to the average, above 1.0 and at most 1000\n"
              "                             (node default 1.1)\n"
              "  --abs-sess-threshold N     as --abs-conn-threshold, for sessions\n"
              "  --rel-sess-threshold X     as --rel-conn-threshold, for sessions\n\n",
              f);
        fputs(dur_text, f);
        break;
    case CTL_CMD_REBAL_STOP:
        fputs("Usage: ferryctl rebalance stop\n\nStops the rebalance this node coordinates "
              "(POST /api/v1/rebalance/stop).\nExit 1 when none runs.\n",
              f);
        break;
    case CTL_CMD_REBAL_STATUS:
        fputs("Usage: ferryctl rebalance status\n\nThe rebalance as this node sees it, as "
              "coordinator or donor\n(GET /api/v1/rebalance).\n",
              f);
        break;
    case CTL_CMD_GLOBAL_STATUS:
        fputs("Usage: ferryctl global-status\n\nEvery evacuation and rebalance in the "
              "cluster, as each node last reported\nit (GET /api/v1/global_status).\n",
              f);
        break;
    case CTL_CMD_UPGRADE_STATUS:
        fputs("Usage: ferryctl upgrade-status [--run-dir DIR] [--name NAME] [--watch]\n\n"
              "The upgrade of a cluster ferry-operator manages, from the status.json its\n"
              "controller writes (no HTTP; --url and --token do not apply): phase and its age,\n"
              "revisions (current, target, spec), a held revision and why, the service and\n"
              "its balancer, the conditions, and one line per node with role, state, routed,\n"
              "connections, sessions and evacuation progress. With --output json: the file\n"
              "as is (pretty-printed). A status older than 30 s draws a warning on stderr\n"
              "(is the controller running?).\n"
              "  --run-dir DIR  where ferry-operator keeps its clusters (default:\n"
              "                 $FERRY_RUN_DIR, else ./ferry-run)\n"
              "  --name NAME    the cluster (a subdirectory of DIR with platform.json; 1 to 63\n"
              "                 characters from a-z 0-9 -); needed when there are several\n"
              "  --watch        re-read once a second: redrawn on a terminal, one line per\n"
              "                 read otherwise, one compact JSON document per line with\n"
              "                 --output json; ends on Ctrl-C (exit 130), or when the file\n"
              "                 has been missing or unreadable for --timeout seconds\n"
              "Exit 2: no such cluster, or several and no --name (they are named); exit 3:\n"
              "the cluster has no status.json (yet); exit 5: it is not a JSON object.\n",
              f);
        break;
    default:
        break;
    }
}

void ctl_usage(FILE *f, ctl_cmd_t cmd)
{
    if (cmd == CTL_CMD_NONE || cmd >= CTL_CMD_COUNT) {
        fputs(global_text, f);
        return;
    }
    cmd_text(f, cmd);
    fputs("\nGlobal options: --url URL, --token T, --output text|json, --timeout S;\n"
          "exit status 0 ok, 1 refused, 2 usage, 3 unreachable, 4 authentication, "
          "5 unexpected\n(ferryctl --help says more).\n",
          f);
}
