/*
 * Unit tests of the pure readers of the load balancers' tools (lb_int.h):
 * fo_lb__hx_parse_servers_state and fo_lb__hx_parse_stat (haproxy 2.6
 * runtime API answers) and fo_lb__nft_parse_dnat (`nft -j list table`).
 *
 * The fixtures are answers captured byte for byte from the real tools, as
 * lb_haproxy.c and lb_kernel.c ask them:
 *   - haproxy 2.6.12, backend "demo" set up through fo_lb_open/fo_lb_set:
 *     no server; n1 ready (check passed); n1 drained; then n1 ready
 *     carrying two connections, n2 drained with its check refused (DOWN),
 *     n3 retired to maintenance while it still carried two connections;
 *   - nftables 1.0.6 in a throw-away network namespace, the table built by
 *     fo_lb_set with no active node, one, three, and three with n1 drained.
 * test_lb.c drives the real tools; here the bytes are fixed, so results are
 * exact. Refusals are built from the fixtures by small edits.
 */
#include "check.h"
#include "operator/lb_int.h"

#include <arpa/inet.h>

/* The lines every answer of the same kind starts with (captured). */
#define STATE_HEAD                                                                                 \
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight"         \
    " srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_"         \
    "health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_p"         \
    "ort srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_por"         \
    "t\n"

#define STAT_HEAD                                                                                  \
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wr"         \
    "etr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid"         \
    ",throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_du"         \
    "ration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req"         \
    "_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last"         \
    "_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_d"         \
    "esc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health"         \
    ",addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,c"         \
    "onnect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_ma"         \
    "x,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg"         \
    "_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,s"         \
    "sl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd"         \
    ",h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2"         \
    "_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total"         \
    "_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_c"         \
    "onnections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_"         \
    "bytes_out,\n"

static const char HX0_STATE[] = STATE_HEAD "\n";

static const char HX0_STAT[] = STAT_HEAD "\n";

static const char HX1_READY_STATE[] =
    STATE_HEAD "3 demo 1 n1 127.0.0.1 2 0 1 1 2 15 3 3 6 0 0 0 - 45589 - 0 42043 - - 42043\n"
               "\n";

static const char HX1_READY_STAT[] =
    STAT_HEAD "demo,n1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,2,0,,1,3,1,,0,,2,0,,0,L7OK,200,1,,,,"
              ",,,,,,,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,2,2,3,,,,127.0.0.1:45589,,tcp,,,"
              ",,,,,0,0,0,,,0,0,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n"
              "\n";

static const char HX1_DRAIN_STATE[] =
    STATE_HEAD "3 demo 1 n1 127.0.0.1 2 8 1 1 0 15 3 3 6 0 0 0 - 45589 - 0 42043 - - 42043\n"
               "\n";

static const char HX1_DRAIN_STAT[] =
    STAT_HEAD "demo,n1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DRAIN,1,1,0,0,0,0,0,,1,3,1,,0,,2,0,,0,L7OK,200,1,"
              ",,,,,,,,,,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,2,2,3,,,,127.0.0.1:45589,,tcp"
              ",,,,,,,,0,0,0,,,0,0,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n"
              "\n";

static const char HX3_STATE[] =
    STATE_HEAD "3 demo 1 n1 127.0.0.1 2 0 1 1 3 15 3 3 6 0 0 0 - 45589 - 0 42043 - - 42043\n"
               "3 demo 2 n3 127.0.0.1 0 1 1 1 1 15 3 0 14 0 0 0 - 44815 - 0 58319 - - 58319\n"
               "3 demo 3 n2 127.0.0.1 0 8 1 1 2 8 2 0 6 0 0 0 - 45279 - 0 60641 - - 60641\n"
               "\n";

static const char HX3_STAT[] =
    STAT_HEAD "demo,n1,0,0,2,2,,2,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,3,0,,1,3,1,,2,,2,1,,2,L7OK,200,1,,,,"
              ",,,,,,,0,0,,,,,1,,,0,0,0,0,,,,Layer7 check passed,,2,2,3,,,,127.0.0.1:45589,,tcp,,,,"
              ",,,,0,2,0,,,0,0,0,0,0,0,0,0,0,2,3,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n"
              "demo,n3,0,0,2,2,,2,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,1,1,1,,1,3,2,,2,,2,1,,2,,,,,,,,,,,,"
              ",,0,0,,,,,1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:44815,,tcp,,,,,,,,0,2,0,,,0,0,0,0,0,0,0,0"
              ",0,2,3,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n"
              "demo,n2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,2,2,,1,3,3,,0,,2,0,,0,L4CON,,0,,,,"
              ",,,,,,,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,2,2,0,,,"
              ",127.0.0.1:45279,,tcp,,,,,,,,0,0,0,,,0,0,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,"
              ",,,,,,,,,\n"
              "\n";

static const char NFT0[] =
    "{\"nftables\": [{\"metainfo\": {\"version\": \"1.0.6\", \"release_name\": \"Lester G"
    "ooch #5\", \"json_schema_version\": 1}}, {\"table\": {\"family\": \"ip\", \"name\": "
    "\"ferry_demo\", \"handle\": 1}}, {\"chain\": {\"family\": \"ip\", \"table\": \"ferry"
    "_demo\", \"name\": \"svc\", \"handle\": 1, \"type\": \"nat\", \"hook\": \"output\", "
    "\"prio\": -100, \"policy\": \"accept\"}}, {\"chain\": {\"family\": \"ip\", \"table\""
    ": \"ferry_demo\", \"name\": \"gate\", \"handle\": 2, \"type\": \"filter\", \"hook\":"
    " \"output\", \"prio\": 0, \"policy\": \"accept\"}}, {\"rule\": {\"family\": \"ip\", "
    "\"table\": \"ferry_demo\", \"chain\": \"gate\", \"handle\": 4, \"expr\": [{\"match\""
    ": {\"op\": \"==\", \"left\": {\"payload\": {\"protocol\": \"ip\", \"field\": \"daddr"
    "\"}}, \"right\": \"10.77.0.1\"}}, {\"match\": {\"op\": \"==\", \"left\": {\"payload"
    "\": {\"protocol\": \"tcp\", \"field\": \"dport\"}}, \"right\": 1883}}, {\"match\": {"
    "\"op\": \"!=\", \"left\": {\"ct\": {\"key\": \"status\"}}, \"right\": \"dnat\"}}, {"
    "\"reject\": {\"type\": \"tcp reset\"}}]}}]}\n";

static const char NFT1[] =
    "{\"nftables\": [{\"metainfo\": {\"version\": \"1.0.6\", \"release_name\": \"Lester G"
    "ooch #5\", \"json_schema_version\": 1}}, {\"table\": {\"family\": \"ip\", \"name\": "
    "\"ferry_demo\", \"handle\": 1}}, {\"chain\": {\"family\": \"ip\", \"table\": \"ferry"
    "_demo\", \"name\": \"svc\", \"handle\": 1, \"type\": \"nat\", \"hook\": \"output\", "
    "\"prio\": -100, \"policy\": \"accept\"}}, {\"chain\": {\"family\": \"ip\", \"table\""
    ": \"ferry_demo\", \"name\": \"gate\", \"handle\": 2, \"type\": \"filter\", \"hook\":"
    " \"output\", \"prio\": 0, \"policy\": \"accept\"}}, {\"rule\": {\"family\": \"ip\", "
    "\"table\": \"ferry_demo\", \"chain\": \"svc\", \"handle\": 8, \"expr\": [{\"match\":"
    " {\"op\": \"==\", \"left\": {\"payload\": {\"protocol\": \"ip\", \"field\": \"daddr"
    "\"}}, \"right\": \"10.77.0.1\"}}, {\"match\": {\"op\": \"==\", \"left\": {\"payload"
    "\": {\"protocol\": \"tcp\", \"field\": \"dport\"}}, \"right\": 1883}}, {\"dnat\": {"
    "\"family\": \"ip\", \"addr\": {\"map\": {\"key\": {\"numgen\": {\"mode\": \"random\""
    ", \"mod\": 1, \"offset\": 0}}, \"data\": {\"set\": [[{\"elem\": {\"val\": 0, \"comme"
    "nt\": \"n1\"}}, {\"concat\": [\"127.0.1.1\", 1883]}]]}}}}}]}}, {\"rule\": {\"family"
    "\": \"ip\", \"table\": \"ferry_demo\", \"chain\": \"gate\", \"handle\": 6, \"expr\":"
    " [{\"match\": {\"op\": \"==\", \"left\": {\"payload\": {\"protocol\": \"ip\", \"fiel"
    "d\": \"daddr\"}}, \"right\": \"10.77.0.1\"}}, {\"match\": {\"op\": \"==\", \"left\":"
    " {\"payload\": {\"protocol\": \"tcp\", \"field\": \"dport\"}}, \"right\": 1883}}, {"
    "\"match\": {\"op\": \"!=\", \"left\": {\"ct\": {\"key\": \"status\"}}, \"right\": \""
    "dnat\"}}, {\"reject\": {\"type\": \"tcp reset\"}}]}}]}\n";

static const char NFT3[] =
    "{\"nftables\": [{\"metainfo\": {\"version\": \"1.0.6\", \"release_name\": \"Lester G"
    "ooch #5\", \"json_schema_version\": 1}}, {\"table\": {\"family\": \"ip\", \"name\": "
    "\"ferry_demo\", \"handle\": 1}}, {\"chain\": {\"family\": \"ip\", \"table\": \"ferry"
    "_demo\", \"name\": \"svc\", \"handle\": 1, \"type\": \"nat\", \"hook\": \"output\", "
    "\"prio\": -100, \"policy\": \"accept\"}}, {\"chain\": {\"family\": \"ip\", \"table\""
    ": \"ferry_demo\", \"name\": \"gate\", \"handle\": 2, \"type\": \"filter\", \"hook\":"
    " \"output\", \"prio\": 0, \"policy\": \"accept\"}}, {\"rule\": {\"family\": \"ip\", "
    "\"table\": \"ferry_demo\", \"chain\": \"svc\", \"handle\": 12, \"expr\": [{\"match\""
    ": {\"op\": \"==\", \"left\": {\"payload\": {\"protocol\": \"ip\", \"field\": \"daddr"
    "\"}}, \"right\": \"10.77.0.1\"}}, {\"match\": {\"op\": \"==\", \"left\": {\"payload"
    "\": {\"protocol\": \"tcp\", \"field\": \"dport\"}}, \"right\": 1883}}, {\"dnat\": {"
    "\"family\": \"ip\", \"addr\": {\"map\": {\"key\": {\"numgen\": {\"mode\": \"random\""
    ", \"mod\": 3, \"offset\": 0}}, \"data\": {\"set\": [[{\"elem\": {\"val\": 0, \"comme"
    "nt\": \"n1\"}}, {\"concat\": [\"127.0.1.1\", 1883]}], [{\"elem\": {\"val\": 1, \"com"
    "ment\": \"n2\"}}, {\"concat\": [\"127.0.1.2\", 1884]}], [{\"elem\": {\"val\": 2, \"c"
    "omment\": \"n3\"}}, {\"concat\": [\"127.0.1.3\", 1885]}]]}}}}}]}}, {\"rule\": {\"fam"
    "ily\": \"ip\", \"table\": \"ferry_demo\", \"chain\": \"gate\", \"handle\": 10, \"exp"
    "r\": [{\"match\": {\"op\": \"==\", \"left\": {\"payload\": {\"protocol\": \"ip\", \""
    "field\": \"daddr\"}}, \"right\": \"10.77.0.1\"}}, {\"match\": {\"op\": \"==\", \"lef"
    "t\": {\"payload\": {\"protocol\": \"tcp\", \"field\": \"dport\"}}, \"right\": 1883}}"
    ", {\"match\": {\"op\": \"!=\", \"left\": {\"ct\": {\"key\": \"status\"}}, \"right\":"
    " \"dnat\"}}, {\"reject\": {\"type\": \"tcp reset\"}}]}}]}\n";

static const char NFT3_ONE_DRAINED[] =
    "{\"nftables\": [{\"metainfo\": {\"version\": \"1.0.6\", \"release_name\": \"Lester G"
    "ooch #5\", \"json_schema_version\": 1}}, {\"table\": {\"family\": \"ip\", \"name\": "
    "\"ferry_demo\", \"handle\": 1}}, {\"chain\": {\"family\": \"ip\", \"table\": \"ferry"
    "_demo\", \"name\": \"svc\", \"handle\": 1, \"type\": \"nat\", \"hook\": \"output\", "
    "\"prio\": -100, \"policy\": \"accept\"}}, {\"chain\": {\"family\": \"ip\", \"table\""
    ": \"ferry_demo\", \"name\": \"gate\", \"handle\": 2, \"type\": \"filter\", \"hook\":"
    " \"output\", \"prio\": 0, \"policy\": \"accept\"}}, {\"rule\": {\"family\": \"ip\", "
    "\"table\": \"ferry_demo\", \"chain\": \"svc\", \"handle\": 16, \"expr\": [{\"match\""
    ": {\"op\": \"==\", \"left\": {\"payload\": {\"protocol\": \"ip\", \"field\": \"daddr"
    "\"}}, \"right\": \"10.77.0.1\"}}, {\"match\": {\"op\": \"==\", \"left\": {\"payload"
    "\": {\"protocol\": \"tcp\", \"field\": \"dport\"}}, \"right\": 1883}}, {\"dnat\": {"
    "\"family\": \"ip\", \"addr\": {\"map\": {\"key\": {\"numgen\": {\"mode\": \"random\""
    ", \"mod\": 2, \"offset\": 0}}, \"data\": {\"set\": [[{\"elem\": {\"val\": 0, \"comme"
    "nt\": \"n2\"}}, {\"concat\": [\"127.0.1.2\", 1884]}], [{\"elem\": {\"val\": 1, \"com"
    "ment\": \"n3\"}}, {\"concat\": [\"127.0.1.3\", 1885]}]]}}}}}]}}, {\"rule\": {\"famil"
    "y\": \"ip\", \"table\": \"ferry_demo\", \"chain\": \"gate\", \"handle\": 14, \"expr"
    "\": [{\"match\": {\"op\": \"==\", \"left\": {\"payload\": {\"protocol\": \"ip\", \"f"
    "ield\": \"daddr\"}}, \"right\": \"10.77.0.1\"}}, {\"match\": {\"op\": \"==\", \"left"
    "\": {\"payload\": {\"protocol\": \"tcp\", \"field\": \"dport\"}}, \"right\": 1883}},"
    " {\"match\": {\"op\": \"!=\", \"left\": {\"ct\": {\"key\": \"status\"}}, \"right\": "
    "\"dnat\"}}, {\"reject\": {\"type\": \"tcp reset\"}}]}}]}\n";

#define NO_BACKEND_STATE "Can't find backend.\n\n"
#define NO_PROXY_STAT "No such proxy.\n\n"

#define CAP 8
#define LOCALHOST 0x7f000001u

/* ---- helpers ---- */

static int state_of(const char *text, size_t len, fo_lb__hx_server_t *s, size_t cap, size_t *n,
                    char *err, size_t errlen)
{
    *n = 99;
    err[0] = '\0';
    return fo_lb__hx_parse_servers_state(text, len, "demo", s, cap, n, err, errlen);
}

static int state_str(const char *text, fo_lb__hx_server_t *s, size_t *n, char *err, size_t errlen)
{
    return state_of(text, strlen(text), s, CAP, n, err, errlen);
}

static int stat_str(const char *text, fo_lb__hx_server_t *s, size_t n, char *err, size_t errlen)
{
    err[0] = '\0';
    return fo_lb__hx_parse_stat(text, strlen(text), "demo", s, n, err, errlen);
}

typedef struct want {
    const char *name;
    unsigned port, check_port;
    int op, admin, result, check_state;
    int64_t scur;
} want_t;

static void check_server(const fo_lb__hx_server_t *s, const want_t *w)
{
    CHECK_EQ_STR(s->name, w->name);
    CHECK_EQ_HEX(ntohl(s->addr.s_addr), LOCALHOST);
    CHECK_EQ_INT(s->port, w->port);
    CHECK_EQ_INT(s->check_port, w->check_port);
    CHECK_EQ_INT(s->op_state, w->op);
    CHECK_EQ_INT(s->admin_state, w->admin);
    CHECK_EQ_INT(s->check_result, w->result);
    CHECK_EQ_INT(s->check_state, w->check_state);
    CHECK_EQ_INT(s->scur, w->scur);
}

/* The captured three-server answer's rows, as they are. */
#define ROW_N1 "3 demo 1 n1 127.0.0.1 2 0 1 1 3 15 3 3 6 0 0 0 - 45589 - 0 42043 - - 42043\n"
static const want_t N1 = {"n1", 45589, 42043, 2, 0, 3, 6, 0};
static const want_t N3 = {"n3", 44815, 58319, 0, 1, 3, 14, 0};
static const want_t N2 = {"n2", 45279, 60641, 0, 8, 2, 6, 0};

/* HX3_STATE with its n1 row replaced by `row` (which ends in '\n'). */
static void state_with_row(char *buf, size_t buflen, const char *row)
{
    const char *at = strstr(HX3_STATE, ROW_N1);
    snprintf(buf, buflen, "%.*s%s%s", (int)(at - HX3_STATE), HX3_STATE, row, at + strlen(ROW_N1));
}

/* ---- show servers state ---- */

static void test_state_no_server(void)
{
    fo_lb__hx_server_t s[CAP];
    size_t n;
    char err[256];
    CHECK_EQ_INT(state_str(HX0_STATE, s, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_STR(err, "");
}

static void test_state_one_ready(void)
{
    fo_lb__hx_server_t s[CAP];
    size_t n;
    char err[256];
    REQUIRE_EQ_INT(state_str(HX1_READY_STATE, s, &n, err, sizeof err), 0);
    REQUIRE_EQ_INT(n, 1);
    want_t w = {"n1", 45589, 42043, 2, 0, 3, 6, 0};
    check_server(&s[0], &w);
}

static void test_state_one_drain(void)
{
    fo_lb__hx_server_t s[CAP];
    size_t n;
    char err[256];
    REQUIRE_EQ_INT(state_str(HX1_DRAIN_STATE, s, &n, err, sizeof err), 0);
    REQUIRE_EQ_INT(n, 1);
    want_t w = {"n1", 45589, 42043, 2, 8, 3, 6, 0}; /* admin state FDRAIN */
    check_server(&s[0], &w);
}

static void test_state_three(void)
{
    fo_lb__hx_server_t s[CAP];
    size_t n;
    char err[256];
    REQUIRE_EQ_INT(state_str(HX3_STATE, s, &n, err, sizeof err), 0);
    REQUIRE_EQ_INT(n, 3);
    check_server(&s[0], &N1); /* ready, UP, check passed, enabled */
    check_server(&s[1], &N3); /* forced maintenance, check disabled (0x0e) */
    check_server(&s[2], &N2); /* drain, DOWN, check failed */
}

static void test_state_capacity(void)
{
    fo_lb__hx_server_t s[CAP];
    size_t n;
    char err[256];
    CHECK_EQ_INT(state_of(HX3_STATE, strlen(HX3_STATE), s, 3, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(state_of(HX3_STATE, strlen(HX3_STATE), s, 2, &n, err, sizeof err), -1);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_STR(err, "haproxy \"show servers state demo\": more than 2 servers");
}

static void test_state_names(void)
{
    fo_lb__hx_server_t s[CAP];
    size_t n;
    char err[256], row[512], text[2048];
    char name[FO_LB__NAME_MAX + 2];
    memset(name, 'x', sizeof name);
    name[FO_LB__NAME_MAX] = '\0'; /* 127 bytes: fits */
    snprintf(row, sizeof row, "3 demo 1 %s 127.0.0.1 2 0 1 1 3 15 3 3 6 0 0 0 - 1 - 0 2 - - 2\n",
             name);
    state_with_row(text, sizeof text, row);
    CHECK_EQ_INT(state_str(text, s, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_STR(s[0].name, name);

    name[FO_LB__NAME_MAX] = 'x'; /* 128 bytes: refused, not cut */
    name[FO_LB__NAME_MAX + 1] = '\0';
    snprintf(row, sizeof row, "3 demo 1 %s 127.0.0.1 2 0 1 1 3 15 3 3 6 0 0 0 - 1 - 0 2 - - 2\n",
             name);
    state_with_row(text, sizeof text, row);
    CHECK_EQ_INT(state_str(text, s, &n, err, sizeof err), -1);
    CHECK_EQ_INT(n, 0);
    CHECK(strstr(err, "a server name that is not 1..127 of '!'..'~'") != NULL);

    state_with_row(text, sizeof text,
                   "3 demo 1 n\x01 127.0.0.1 2 0 1 1 3 15 3 3 6 0 0 0 - 1 - 0 2 - - 2\n");
    CHECK_EQ_INT(state_str(text, s, &n, err, sizeof err), -1);
    CHECK(strstr(err, "a server name that is not") != NULL);
    CHECK(strstr(err, "\"3 demo 1 n? 127.0.0.1") != NULL); /* quoted, control byte shown as ? */

    state_with_row(text, sizeof text,
                   "3 demo 1 n3 127.0.0.1 2 0 1 1 3 15 3 3 6 0 0 0 - 1 - 0 2 - - 2\n");
    CHECK_EQ_INT(state_str(text, s, &n, err, sizeof err), -1);
    CHECK_EQ_STR(err, "haproxy \"show servers state demo\": server n3 listed twice");
}

static void test_state_numbers(void)
{
    fo_lb__hx_server_t s[CAP];
    size_t n;
    char err[256], text[2048];
    /* port 65535 and an address that is not IPv4 (0.0.0.0) are fine */
    state_with_row(text, sizeof text,
                   "3 demo 1 n1 ::1 2 0 1 1 3 15 3 3 6 0 0 0 - 65535 - 0 0 - - 0\n");
    REQUIRE_EQ_INT(state_str(text, s, &n, err, sizeof err), 0);
    CHECK_EQ_INT(s[0].port, 65535);
    CHECK_EQ_INT(s[0].check_port, 0);
    CHECK_EQ_HEX(s[0].addr.s_addr, 0);

    static const char *const bad[] = {
        "3 demo 1 n1 127.0.0.1 2 0 1 1 3 15 3 3 6 0 0 0 - 65536 - 0 2 - - 2\n",
        "3 demo 1 n1 127.0.0.1 -1 0 1 1 3 15 3 3 6 0 0 0 - 1 - 0 2 - - 2\n",
        "3 demo 1 n1 127.0.0.1 2 0x1 1 1 3 15 3 3 6 0 0 0 - 1 - 0 2 - - 2\n",
        "3 demo 1 n1 127.0.0.1 2 0 1 1 3 15 2147483648 3 6 0 0 0 - 1 - 0 2 - - 2\n",
        "3 demo 1 n1 127.0.0.1 2 0 1 1 3 15 3 3 - 0 0 0 - 1 - 0 2 - - 2\n",
        "3 demo 1 n1 127.0.0.1 2 0 1 1 3 15 3 3 6 0 0 0 - 1 - 0 - - - 2\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        state_with_row(text, sizeof text, bad[i]);
        CHECK_EQ_INT(state_str(text, s, &n, err, sizeof err), -1);
        CHECK(strstr(err, "server n1: srv_") != NULL && strstr(err, "is not a number") != NULL);
    }
}

static void test_state_shape(void)
{
    fo_lb__hx_server_t s[CAP];
    size_t n;
    char err[256], text[2048];
    CHECK_EQ_INT(state_str(NO_BACKEND_STATE, s, &n, err, sizeof err), -1);
    CHECK_EQ_STR(err, "haproxy \"show servers state demo\" answered \"Can't find backend.\"");

    state_with_row(text, sizeof text,
                   "3 demo 1 n1 127.0.0.1 2 0 1 1 3 15 3 3 6 0 0 0 - 45589 - 0 42043 - -\n");
    CHECK_EQ_INT(state_str(text, s, &n, err, sizeof err), -1);
    CHECK(strstr(err, "a row with 24 of 25 columns") != NULL);
    state_with_row(text, sizeof text,
                   "3 demo 1 n1  127.0.0.1 2 0 1 1 3 15 3 3 6 0 0 0 - 45589 - 0 42043 - - 4\n");
    CHECK_EQ_INT(state_str(text, s, &n, err, sizeof err), -1);
    CHECK(strstr(err, "a row with 26 of 25 columns") != NULL);

    snprintf(text, sizeof text, "%sx\n\n", HX3_STATE);
    CHECK_EQ_INT(state_str(text, s, &n, err, sizeof err), -1);
    CHECK_EQ_STR(err, "haproxy \"show servers state demo\": text after the answer's end");

    snprintf(text, sizeof text, "%s", HX3_STATE);
    char *col = strstr(text, " srv_check_port ");
    REQUIRE(col != NULL);
    memcpy(col + 1, "srv_check_pork", 14);
    CHECK_EQ_INT(state_str(text, s, &n, err, sizeof err), -1);
    CHECK(strstr(err, "no header with the expected columns") != NULL);

    CHECK_EQ_INT(state_str("1\n#\n\n", s, &n, err, sizeof err), -1);
    CHECK_EQ_INT(state_str("1\n\n", s, &n, err, sizeof err), -1);
    CHECK_EQ_INT(state_str("", s, &n, err, sizeof err), -1);
    CHECK_EQ_STR(err, "haproxy \"show servers state demo\": empty answer");

    /* haproxy ends lines with "\n" only: a CR is part of a field */
    size_t o = 0;
    for (const char *p = HX1_READY_STATE; *p && o + 2 < sizeof text; p++) {
        if (*p == '\n')
            text[o++] = '\r';
        text[o++] = *p;
    }
    text[o] = '\0';
    CHECK_EQ_INT(state_str(text, s, &n, err, sizeof err), -1);
    CHECK_EQ_STR(err, "haproxy \"show servers state demo\" answered \"1?\"");
    state_with_row(text, sizeof text,
                   "3 demo 1 n1 127.0.0.1 2 0 1 1 3 15 3 3 6 0 0 0 - 45589 - 0 42043\r - - 4\n");
    CHECK_EQ_INT(state_str(text, s, &n, err, sizeof err), -1);
    CHECK(strstr(err, "srv_check_port is not a number") != NULL);
}

/* A cut answer is never taken for a whole one, wherever it is cut. */
static void test_state_every_cut(void)
{
    fo_lb__hx_server_t s[CAP];
    size_t n, len = strlen(HX3_STATE), accepted = 0;
    char err[256];
    for (size_t cut = 0; cut < len; cut++) {
        if (state_of(HX3_STATE, cut, s, CAP, &n, err, sizeof err) == 0)
            accepted++;
        else
            CHECK_EQ_INT(n, 0);
    }
    CHECK_EQ_INT(accepted, 0);
}

static void test_state_too_long(void)
{
    size_t len = FO_LB__HX_ANSWER_MAX + 1;
    char *big = malloc(len);
    REQUIRE(big != NULL);
    memset(big, '\n', len);
    big[0] = '1';
    fo_lb__hx_server_t s[CAP];
    size_t n;
    char err[256];
    CHECK_EQ_INT(state_of(big, len, s, CAP, &n, err, sizeof err), -1);
    CHECK_EQ_STR(err, "haproxy \"show servers state demo\": answer too long");
    CHECK_EQ_INT(fo_lb__hx_parse_stat(big, len, "demo", s, 0, err, sizeof err), -1);
    CHECK_EQ_STR(err, "haproxy \"show stat demo 4 -1\": answer too long");
    free(big);
}

/* ---- show stat ---- */

static void test_stat_three(void)
{
    fo_lb__hx_server_t s[CAP];
    size_t n;
    char err[256];
    REQUIRE_EQ_INT(state_str(HX3_STATE, s, &n, err, sizeof err), 0);
    REQUIRE_EQ_INT(stat_str(HX3_STAT, s, n, err, sizeof err), 0);
    want_t w1 = N1, w3 = N3, w2 = N2;
    w1.scur = 2; /* two clients through n1 */
    w3.scur = 2; /* in maintenance, still carrying two */
    check_server(&s[0], &w1);
    check_server(&s[1], &w3);
    check_server(&s[2], &w2);
}

static void test_stat_one(void)
{
    fo_lb__hx_server_t s[CAP];
    size_t n;
    char err[256];
    REQUIRE_EQ_INT(state_str(HX1_READY_STATE, s, &n, err, sizeof err), 0);
    s[0].scur = 9;
    CHECK_EQ_INT(stat_str(HX1_READY_STAT, s, n, err, sizeof err), 0);
    CHECK_EQ_INT(s[0].scur, 0);
    s[0].scur = 9;
    CHECK_EQ_INT(stat_str(HX1_DRAIN_STAT, s, n, err, sizeof err), 0);
    CHECK_EQ_INT(s[0].scur, 0);
}

static void test_stat_no_server(void)
{
    fo_lb__hx_server_t s[CAP];
    char err[256];
    CHECK_EQ_INT(stat_str(HX0_STAT, s, 0, err, sizeof err), 0);
    /* a server the answer does not list (deleted since) keeps its scur */
    memset(&s[0], 0, sizeof s[0]);
    snprintf(s[0].name, sizeof s[0].name, "n1");
    s[0].scur = 4;
    CHECK_EQ_INT(stat_str(HX0_STAT, s, 1, err, sizeof err), 0);
    CHECK_EQ_INT(s[0].scur, 4);
}

/* Rows of servers added since `show servers state`, and of other proxies,
 * are skipped. */
static void test_stat_skips(void)
{
    fo_lb__hx_server_t s[2];
    char err[256], text[4096];
    memset(s, 0, sizeof s);
    snprintf(s[0].name, sizeof s[0].name, "n2");
    snprintf(s[1].name, sizeof s[1].name, "n9");
    s[0].scur = 7;
    s[1].scur = 7;
    CHECK_EQ_INT(stat_str(HX3_STAT, s, 2, err, sizeof err), 0);
    CHECK_EQ_INT(s[0].scur, 0);
    CHECK_EQ_INT(s[1].scur, 7);

    snprintf(text, sizeof text, "%sother,n9,1\nfe_demo,n9\n\n", STAT_HEAD);
    CHECK_EQ_INT(stat_str(text, s, 2, err, sizeof err), 0);
    CHECK_EQ_INT(s[1].scur, 7);
}

/* HX3_STAT with the text `from` of its n3 row replaced by `to`. */
static void stat_edit(char *buf, size_t buflen, const char *from, const char *to)
{
    const char *at = strstr(HX3_STAT, from);
    snprintf(buf, buflen, "%.*s%s%s", (int)(at - HX3_STAT), HX3_STAT, to, at + strlen(from));
}

static void test_stat_refusals(void)
{
    fo_lb__hx_server_t s[CAP], before[CAP];
    size_t n;
    char err[256], text[4096];
    REQUIRE_EQ_INT(state_str(HX3_STATE, s, &n, err, sizeof err), 0);
    for (size_t i = 0; i < n; i++)
        s[i].scur = 5;
    memcpy(before, s, sizeof s);

    CHECK_EQ_INT(stat_str(NO_PROXY_STAT, s, n, err, sizeof err), -1);
    CHECK_EQ_STR(err, "haproxy \"show stat demo 4 -1\" answered \"No such proxy.\" (not a header "
                      "naming pxname, svname and scur)");

    /* n1's row comes first and is fine: still nothing changes */
    stat_edit(text, sizeof text, "demo,n3,0,0,2,", "demo,n3,0,0,-2,");
    CHECK_EQ_INT(stat_str(text, s, n, err, sizeof err), -1);
    CHECK(strstr(err, "server n3: scur is not a number") != NULL);
    CHECK(memcmp(s, before, sizeof s) == 0);

    stat_edit(text, sizeof text, "demo,n3,0,0,2,", "demo,n3,0,0,2,7,");
    CHECK_EQ_INT(stat_str(text, s, n, err, sizeof err), -1);
    CHECK(strstr(err, "a row with 130 of 129 columns") != NULL);

    stat_edit(text, sizeof text, "demo,n3,", "demo,n1,");
    CHECK_EQ_INT(stat_str(text, s, n, err, sizeof err), -1);
    CHECK_EQ_STR(err, "haproxy \"show stat demo 4 -1\": server n1 listed twice");

    snprintf(text, sizeof text, "%s", HX3_STAT);
    memcpy(strstr(text, ",scur,") + 1, "xcur", 4);
    CHECK_EQ_INT(stat_str(text, s, n, err, sizeof err), -1);
    CHECK(strstr(err, "not a header naming pxname, svname and scur") != NULL);

    CHECK_EQ_INT(stat_str("# pxname,svname,scur\ndemo,n1,1\n", s, n, err, sizeof err), -1);
    CHECK_EQ_STR(err,
                 "haproxy \"show stat demo 4 -1\": answer cut short (no empty line at its end)");
    CHECK_EQ_INT(stat_str("#\n\n", s, n, err, sizeof err), -1);
    CHECK_EQ_INT(stat_str("\n", s, n, err, sizeof err), -1);
    CHECK_EQ_INT(stat_str("", s, n, err, sizeof err), -1);
    CHECK_EQ_STR(err, "haproxy \"show stat demo 4 -1\": empty answer");
    CHECK(memcmp(s, before, sizeof s) == 0);

    /* a minimal answer of our own is read */
    CHECK_EQ_INT(stat_str("# pxname,svname,scur\ndemo,n2,3\n\n", s, n, err, sizeof err), 0);
    CHECK_EQ_INT(s[2].scur, 3);
    CHECK_EQ_INT(s[0].scur, 5);

    CHECK_EQ_INT(fo_lb__hx_parse_stat(HX3_STAT, strlen(HX3_STAT), "demo", s,
                                      FO_LB__HX_SERVERS_MAX + 1, err, sizeof err),
                 -1);
}

static void test_stat_every_cut(void)
{
    fo_lb__hx_server_t s[CAP], before[CAP];
    size_t n, len = strlen(HX3_STAT), accepted = 0;
    char err[256];
    REQUIRE_EQ_INT(state_str(HX3_STATE, s, &n, err, sizeof err), 0);
    memcpy(before, s, sizeof s);
    for (size_t cut = 0; cut < len; cut++)
        if (fo_lb__hx_parse_stat(HX3_STAT, cut, "demo", s, n, err, sizeof err) == 0)
            accepted++;
    CHECK_EQ_INT(accepted, 0);
    CHECK(memcmp(s, before, sizeof s) == 0);
}

/* ---- nft -j list table ---- */

static int nft_str(const char *text, fo_lb__nft_dnat_t *out, char *err, size_t errlen)
{
    out->n = 99;
    err[0] = '\0';
    return fo_lb__nft_parse_dnat(text, strlen(text), out, err, errlen);
}

static void check_target(const fo_lb__nft_target_t *t, const char *name, const char *addr,
                         unsigned port, unsigned key)
{
    CHECK_EQ_STR(t->name, name);
    CHECK_EQ_STR(t->addr, addr);
    CHECK_EQ_INT(t->port, port);
    CHECK_EQ_INT(t->key, key);
}

static void test_nft_real(void)
{
    static fo_lb__nft_dnat_t m; /* 19 KiB */
    char err[256];
    CHECK_EQ_INT(nft_str(NFT0, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.n, 0);

    REQUIRE_EQ_INT(nft_str(NFT1, &m, err, sizeof err), 0);
    REQUIRE_EQ_INT(m.n, 1);
    check_target(&m.t[0], "n1", "127.0.1.1", 1883, 0);

    REQUIRE_EQ_INT(nft_str(NFT3, &m, err, sizeof err), 0);
    REQUIRE_EQ_INT(m.n, 3);
    check_target(&m.t[0], "n1", "127.0.1.1", 1883, 0);
    check_target(&m.t[1], "n2", "127.0.1.2", 1884, 1);
    check_target(&m.t[2], "n3", "127.0.1.3", 1885, 2);

    REQUIRE_EQ_INT(nft_str(NFT3_ONE_DRAINED, &m, err, sizeof err), 0);
    REQUIRE_EQ_INT(m.n, 2);
    check_target(&m.t[0], "n2", "127.0.1.2", 1884, 0);
    check_target(&m.t[1], "n3", "127.0.1.3", 1885, 1);
}

/* The captured three-node listing is one object: cut anywhere before its
 * closing brace, it is refused. */
static void test_nft_every_cut(void)
{
    static fo_lb__nft_dnat_t m;
    char err[256];
    size_t len = strlen(NFT3), accepted = 0;
    for (size_t cut = 0; cut + 1 < len; cut++) {
        m.n = 99;
        if (fo_lb__nft_parse_dnat(NFT3, cut, &m, err, sizeof err) == 0)
            accepted++;
        else
            CHECK_EQ_INT(m.n, 0);
    }
    CHECK_EQ_INT(accepted, 0);
    CHECK_EQ_INT(fo_lb__nft_parse_dnat(NFT3, len - 1, &m, err, sizeof err), 0); /* no "\n" */
    CHECK_EQ_INT(m.n, 3);
}

/* A listing with one svc rule whose dnat map holds `elems`. */
static void one_map(char *buf, size_t buflen, const char *elems)
{
    snprintf(buf, buflen,
             "{\"nftables\": [{\"rule\": {\"chain\": \"svc\", \"expr\": [{\"dnat\": {\"addr\": "
             "{\"map\": {\"data\": {\"set\": [%s]}}}}}]}}]}",
             elems);
}

static void test_nft_elements(void)
{
    static fo_lb__nft_dnat_t m;
    char err[256], text[8192], elem[512];
    char name[FO_LB__NAME_MAX + 2];
    memset(name, 'x', sizeof name);
    name[FO_LB__NAME_MAX] = '\0';
    snprintf(elem, sizeof elem,
             "[{\"elem\": {\"val\": 4294967295, \"comment\": \"%s\"}}, "
             "{\"concat\": [\"10.0.0.1\", 65535]}]",
             name);
    one_map(text, sizeof text, elem);
    REQUIRE_EQ_INT(nft_str(text, &m, err, sizeof err), 0);
    REQUIRE_EQ_INT(m.n, 1);
    check_target(&m.t[0], name, "10.0.0.1", 65535, 4294967295u);

    /* no comment: named after its address */
    one_map(text, sizeof text, "[7, {\"concat\": [\"127.0.1.1\", 1883]}]");
    REQUIRE_EQ_INT(nft_str(text, &m, err, sizeof err), 0);
    REQUIRE_EQ_INT(m.n, 1);
    check_target(&m.t[0], "127.0.1.1:1883", "127.0.1.1", 1883, 7);

    /* other chains, and dnat without an inline map, are not ours to read */
    snprintf(text, sizeof text, "%s", NFT3);
    memcpy(strstr(text, "\"chain\": \"svc\"") + 10, "cvs", 3);
    CHECK_EQ_INT(nft_str(text, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.n, 0);
    CHECK_EQ_INT(nft_str("{\"nftables\": [{\"rule\": {\"chain\": \"svc\", \"expr\": "
                         "[{\"dnat\": {\"addr\": \"10.0.0.1\", \"port\": 1883}}]}}]}",
                         &m, err, sizeof err),
                 0);
    CHECK_EQ_INT(m.n, 0);
}

static void test_nft_refusals(void)
{
    static fo_lb__nft_dnat_t m;
    char err[256], text[8192];
    static const struct {
        const char *elem, *why;
    } bad[] = {
        {"[0, {\"concat\": [\"127.0.1.1\", 0]}]", "not [key, IPv4 . port]"},
        {"[0, {\"concat\": [\"127.0.1.1\", 65536]}]", "not [key, IPv4 . port]"},
        {"[0, {\"concat\": [\"127.0.1.1\", \"1883\"]}]", "not [key, IPv4 . port]"},
        {"[0, {\"concat\": [\"::1\", 1883]}]", "not [key, IPv4 . port]"},
        {"[0, {\"concat\": [\"127.0.1.1.1\", 1883]}]", "not [key, IPv4 . port]"},
        {"[0, {\"concat\": [\"127.0.1.1\", 1883, 1]}]", "not [key, IPv4 . port]"},
        {"[0, {\"concat\": [\"127.0.1.1\", 1883]}, 1]", "not [key, IPv4 . port]"},
        {"[-1, {\"concat\": [\"127.0.1.1\", 1883]}]", "key is not 0..4294967295"},
        {"[4294967296, {\"concat\": [\"127.0.1.1\", 1883]}]", "key is not 0..4294967295"},
        {"[{\"elem\": {\"val\": \"0\"}}, {\"concat\": [\"127.0.1.1\", 1883]}]",
         "key is not 0..4294967295"},
        {"[{\"elem\": {\"val\": 0, \"comment\": \"n 1\"}}, {\"concat\": [\"127.0.1.1\", 1883]}]",
         "comment is not 1..127 of '!'..'~'"},
        {"[{\"elem\": {\"val\": 0, \"comment\": \"\"}}, {\"concat\": [\"127.0.1.1\", 1883]}]",
         "comment is not 1..127 of '!'..'~'"},
        {"[{\"elem\": {\"val\": 0, \"comment\": 1}}, {\"concat\": [\"127.0.1.1\", 1883]}]",
         "comment is not 1..127 of '!'..'~'"},
        {"[{\"elem\": {\"val\": 0, \"comment\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}, "
         "{\"concat\": [\"127.0.1.1\", 1883]}]",
         "comment is not 1..127 of '!'..'~'"}, /* 128 bytes: refused, not cut */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        one_map(text, sizeof text, bad[i].elem);
        CHECK_EQ_INT(nft_str(text, &m, err, sizeof err), -1);
        CHECK_EQ_INT(m.n, 0);
        if (!CHECK(strstr(err, bad[i].why) != NULL))
            fprintf(stderr, "    element %zu: %s\n", i, err);
    }

    /* a good element before a bad one: still nothing */
    one_map(text, sizeof text,
            "[0, {\"concat\": [\"127.0.1.1\", 1883]}], [1, {\"concat\": [\"127.0.1.1\", 0]}]");
    CHECK_EQ_INT(nft_str(text, &m, err, sizeof err), -1);
    CHECK_EQ_INT(m.n, 0);

    CHECK_EQ_INT(nft_str("", &m, err, sizeof err), -1);
    CHECK(strstr(err, "not the expected JSON") != NULL);
    CHECK_EQ_INT(nft_str("[]", &m, err, sizeof err), -1);
    CHECK_EQ_STR(err, "not the expected JSON (no \"nftables\" array)");
    CHECK_EQ_INT(nft_str("{\"nftables\": {}}", &m, err, sizeof err), -1);
    CHECK_EQ_INT(nft_str("{\"nftables\": [], \"nftables\": []}", &m, err, sizeof err), -1);
    CHECK(strstr(err, "duplicate object key") != NULL);
    CHECK_EQ_INT(nft_str("{\"nftables\": [\"\xff\"]}", &m, err, sizeof err), -1);
    for (const char *p = err; *p; p++)
        CHECK(*p >= ' ' && *p <= '~');
    CHECK_EQ_INT(nft_str("{\"nftables\": [\"\\u0000\"]}", &m, err, sizeof err), -1);
    CHECK_EQ_INT(fo_lb__nft_parse_dnat("{\"nftables\": []}\0 ", 18, &m, err, sizeof err), -1);

    size_t deep = 5000;
    char *nest = malloc(2 * deep + 1);
    REQUIRE(nest != NULL);
    memset(nest, '[', deep);
    memset(nest + deep, ']', deep);
    nest[2 * deep] = '\0';
    CHECK_EQ_INT(nft_str(nest, &m, err, sizeof err), -1);
    free(nest);
    CHECK_EQ_INT(fo_lb__nft_parse_dnat(NFT3, FO_LB__RUN_OUT_MAX + 1u, &m, err, sizeof err), -1);
    CHECK(strstr(err, "more than") != NULL);
}

static void test_nft_limit(void)
{
    static fo_lb__nft_dnat_t m;
    static char text[16384];
    char err[256], elems[8192];
    size_t o = 0;
    for (unsigned i = 0; i < FO_LB_MAX_BACKENDS; i++)
        o += (size_t)snprintf(elems + o, sizeof elems - o, "%s[%u,{\"concat\":[\"1.1.1.1\",1]}]",
                              i ? "," : "", i);
    one_map(text, sizeof text, elems);
    CHECK_EQ_INT(nft_str(text, &m, err, sizeof err), 0);
    CHECK_EQ_INT(m.n, FO_LB_MAX_BACKENDS);
    snprintf(elems + o, sizeof elems - o, ",[%u,{\"concat\":[\"1.1.1.1\",1]}]", FO_LB_MAX_BACKENDS);
    one_map(text, sizeof text, elems);
    CHECK_EQ_INT(nft_str(text, &m, err, sizeof err), -1);
    CHECK_EQ_STR(err, "more than 128 dnat map elements");
    CHECK_EQ_INT(m.n, 0);
}

CHECK_MAIN(T(test_state_no_server), T(test_state_one_ready), T(test_state_one_drain),
           T(test_state_three), T(test_state_capacity), T(test_state_names), T(test_state_numbers),
           T(test_state_shape), T(test_state_every_cut), T(test_state_too_long), T(test_stat_three),
           T(test_stat_one), T(test_stat_no_server), T(test_stat_skips), T(test_stat_refusals),
           T(test_stat_every_cut), T(test_nft_real), T(test_nft_every_cut), T(test_nft_elements),
           T(test_nft_refusals), T(test_nft_limit))
