/*
 * Tests of the reconcile engine (src/operator/engine.c), against the model
 * in engine.h's header comment.
 *
 * 1. Table tests: rows of (spec, memory, observed state) -> expected actions,
 *    phase, conditions and memory. A row may continue from the row before it
 *    (its memory, and the clock moved on), so a table also walks a scenario.
 *    Nodes, balancer and members are written symbolically: "B2" is node
 *    demo-<revision of image ferrymq:B>-2, with state flags after it (see
 *    add_node). Actions are compared as a multiset of strings such as
 *    "ENSURE B0", "ROUTE B0 B1 B2", "EVACUATE A2>B0 B1 B2", "DELETE A2",
 *    "STOP A1".
 * 2. Simulation tests: a small fake platform (nodes, balancer, membership,
 *    evacuation progress, a 1 s tick) applies each plan and the engine plans
 *    again with the memory it returned; invariants are checked at every tick.
 *    The same upgrade is also run with the controller "restarting anywhere":
 *    actions dropped (with or without the memory saved) and plans made twice.
 *    SIM_TRACE=1 in the environment prints every simulated plan.
 */
#include "check.h"
#include "operator/engine.h"
#include "operator/spec.h"

#define CLUSTER "demo"
#define T0 1700000000000LL /* the controller's clock (ms) where a scenario starts */
#define LIST_MAX (1u << 17)

/* ---- specs and revisions ---- */

/* desc: "<image letter> <replicas> [rolling] [delay=S] [conc=N] [timeout=S]". */
static bool make_spec(fo_spec_t *s, const char *desc)
{
    char letter = 0;
    unsigned replicas = 0, v = 0;
    int used = 0;
    fo_spec_init(s);
    if (sscanf(desc, " %c %u%n", &letter, &replicas, &used) < 2) {
        CHECK(!"spec description");
        return false;
    }
    char yaml[2048];
    size_t len = (size_t)snprintf(yaml, sizeof yaml,
                                  "apiVersion: ferrymq.io/v1alpha1\nkind: FerryCluster\n"
                                  "metadata: {name: " CLUSTER "}\n"
                                  "spec:\n  replicas: %u\n  image: ferrymq:%c\n",
                                  replicas, letter);
    const char *opt = desc + used, *o;
    if (strstr(opt, "rolling"))
        len += (size_t)snprintf(yaml + len, sizeof yaml - len, "  updateStrategy: Rolling\n");
    if ((o = strstr(opt, "timeout=")) && sscanf(o, "timeout=%u", &v) == 1)
        len += (size_t)snprintf(yaml + len, sizeof yaml - len, "  phaseTimeoutSeconds: %u\n", v);
    len += (size_t)snprintf(yaml + len, sizeof yaml - len, "  blueGreenUpdate:\n");
    if ((o = strstr(opt, "delay=")) && sscanf(o, "delay=%u", &v) == 1)
        len += (size_t)snprintf(yaml + len, sizeof yaml - len, "    initialDelaySeconds: %u\n", v);
    if ((o = strstr(opt, "conc=")) && sscanf(o, "conc=%u", &v) == 1)
        len += (size_t)snprintf(yaml + len, sizeof yaml - len, "    concurrency: %u\n", v);
    else
        len += (size_t)snprintf(yaml + len, sizeof yaml - len, "    concurrency: 1\n");
    char err[512];
    if (!CHECK_EQ_INT(fo_spec_parse(s, yaml, len, "row", err, sizeof err), 0)) {
        fprintf(stderr, "    spec \"%s\": %s\n", desc, err);
        return false;
    }
    return true;
}

/* The revision of image ferrymq:<letter> ('A'..'D'). */
static const char *rev(char letter)
{
    static char revs[4][FO_REV_BUF];
    int i = letter - 'A';
    if (i < 0 || i > 3)
        return "??????????";
    if (!revs[i][0]) {
        char desc[8] = {letter, ' ', '1', '\0'};
        fo_spec_t s;
        if (make_spec(&s, desc))
            fo_spec_revision(&s, revs[i]);
        fo_spec_free(&s);
    }
    return revs[i];
}

/* Copies a revision (at most FO_REVISION_LEN characters). */
static void copy_rev(char dst[FO_REV_BUF], const char *src)
{
    size_t l = strnlen(src, FO_REVISION_LEN);
    memcpy(dst, src, l);
    dst[l] = '\0';
}

/* "B2" for demo-<rev B>-2; anything else as it is. */
static void sym(const char *name, char *out, size_t len)
{
    char r[FO_REV_BUF];
    uint32_t ord;
    if (fo_node_name_parse(name, CLUSTER, r, &ord))
        for (char l = 'A'; l <= 'D'; l++)
            if (strcmp(rev(l), r) == 0) {
                snprintf(out, len, "%c%" PRIu32, l, ord);
                return;
            }
    snprintf(out, len, "%s", name);
}

static const char *sym_rev(const char *r)
{
    static char buf[4][FO_REV_BUF];
    static int k;
    if (!r[0])
        return "";
    for (char l = 'A'; l <= 'D'; l++)
        if (strcmp(rev(l), r) == 0) {
            char *b = buf[k++ % 4];
            b[0] = l;
            b[1] = '\0';
            return b;
        }
    return r;
}

/* Full name of a symbolic "B2"; false when it is not one. */
static bool full_name(const char *tok, size_t toklen, char out[FO_NODE_NAME_MAX])
{
    if (toklen < 2 || tok[0] < 'A' || tok[0] > 'D')
        return false;
    unsigned ord = 0;
    size_t i = 1;
    for (; i < toklen && tok[i] >= '0' && tok[i] <= '9'; i++)
        ord = ord * 10 + (unsigned)(tok[i] - '0');
    if (i == 1)
        return false;
    fo_node_name(out, CLUSTER, rev(tok[0]), ord);
    return true;
}

/* ---- sorted lists of strings ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Joins items sorted, with sep, into out. */
static void join_sorted(char **items, size_t n, const char *sep, char *out, size_t len)
{
    qsort(items, n, sizeof *items, cmp_str);
    size_t l = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && l < len; i++) {
        int w = snprintf(out + l, len - l, "%s%s", i ? sep : "", items[i]);
        l += w > 0 ? (size_t)w : 0;
    }
}

/* The expected action list, normalised: items split at ',', trimmed, sorted. */
static void norm_list(const char *s, char *out, size_t len)
{
    static char copy[LIST_MAX];
    static char *items[FO_MAX_ACTIONS * 2];
    size_t n = 0;
    snprintf(copy, sizeof copy, "%s", s);
    for (char *p = copy; *p && n < sizeof items / sizeof *items;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        char *e = strchr(p, ',');
        char *next = e ? e + 1 : p + strlen(p);
        if (e)
            *e = '\0';
        for (char *t = p + strlen(p); t > p && t[-1] == ' ';)
            *--t = '\0';
        items[n++] = p;
        p = next;
    }
    join_sorted(items, n, ", ", out, len);
}

/* ---- a plan, as text ---- */

static void names_str(const fo_observed_t *o, const uint16_t *idx, size_t n, char *out, size_t len)
{
    static char buf[FO_MAX_NODES][FO_NODE_NAME_MAX];
    static char *items[FO_MAX_NODES];
    for (size_t i = 0; i < n && i < FO_MAX_NODES; i++) {
        if (idx[i] < o->n_nodes)
            sym(o->nodes[idx[i]].name, buf[i], sizeof buf[i]);
        else
            snprintf(buf[i], sizeof buf[i], "#%u", idx[i]);
        items[i] = buf[i];
    }
    join_sorted(items, n < FO_MAX_NODES ? n : FO_MAX_NODES, " ", out, len);
}

static void action_str(const fo_observed_t *o, const fo_action_t *a, char *out, size_t len)
{
    char node[FO_NODE_NAME_MAX];
    int l;
    sym(a->node, node, sizeof node);
    switch (a->kind) {
    case FO_ACT_ENSURE_NODE:
        snprintf(out, len, "ENSURE %s", node);
        break;
    case FO_ACT_DELETE_NODE:
        snprintf(out, len, "DELETE %s", node);
        break;
    case FO_ACT_ROUTE:
    case FO_ACT_EVACUATE:
        l = a->kind == FO_ACT_ROUTE ? snprintf(out, len, "ROUTE ")
                                    : snprintf(out, len, "EVACUATE %s>", node);
        if (l > 0 && (size_t)l < len)
            names_str(o, a->names, a->n_names, out + l, len - (size_t)l);
        break;
    case FO_ACT_STOP_EVACUATION:
        snprintf(out, len, "STOP %s", node);
        break;
    default:
        snprintf(out, len, "?%d %s", (int)a->kind, node);
    }
}

static void plan_str(const fo_observed_t *o, const fo_plan_t *p, char *out, size_t len)
{
    static char buf[FO_MAX_ACTIONS][FO_MAX_NODES * 8];
    static char *items[FO_MAX_ACTIONS];
    for (size_t i = 0; i < p->n_actions; i++) {
        action_str(o, &p->actions[i], buf[i], sizeof buf[i]);
        items[i] = buf[i];
    }
    join_sorted(items, p->n_actions, ", ", out, len);
}

static void print_plan(const fo_observed_t *o, const fo_plan_t *p)
{
    static char acts[LIST_MAX];
    plan_str(o, p, acts, sizeof acts);
    fprintf(stderr, "    actions: %s\n    phase %s, current %s, target %s, held %s; requeue %lld\n",
            acts[0] ? acts : "(none)", fo_phase_name(p->memory.phase), sym_rev(p->memory.current),
            sym_rev(p->memory.target), sym_rev(p->memory.held), (long long)p->requeue_ms);
    for (size_t i = 0; i < p->n_events; i++)
        fprintf(stderr, "    event: %s\n", p->events[i]);
    for (int i = 0; i < FO_N_CONDITIONS; i++)
        if (p->conditions[i].type)
            fprintf(stderr, "    condition %s=%s %s: %s\n", p->conditions[i].type,
                    p->conditions[i].status ? "True" : "False", p->conditions[i].reason,
                    p->conditions[i].message);
}

static int observed_index(const fo_observed_t *o, const char *name)
{
    for (size_t i = 0; i < o->n_nodes; i++)
        if (strcmp(o->nodes[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* What every plan must satisfy, whatever the inputs; NULL when it does. */
static const char *plan_insane(const fo_spec_t *s, const fo_observed_t *o, const fo_plan_t *p)
{
    static char why[512];
    size_t routes = 0;
    if (p->n_actions > FO_MAX_ACTIONS)
        return "too many actions";
    if (p->requeue_ms < 0)
        return "negative requeue";
    if (p->memory.n_forgetting > FO_MAX_NODES)
        return "forgetting list overflows";
    for (size_t i = 0; i < p->n_actions; i++) {
        const fo_action_t *a = &p->actions[i];
        int at = observed_index(o, a->node);
        switch (a->kind) {
        case FO_ACT_ENSURE_NODE: {
            char want[FO_NODE_NAME_MAX];
            fo_node_name(want, s->name, a->revision, a->ordinal);
            if (strcmp(want, a->node) != 0 || a->ordinal >= FO_REPLICAS_MAX) {
                snprintf(why, sizeof why, "ENSURE %s: revision/ordinal do not match", a->node);
                return why;
            }
            if (a->ordinal >= s->replicas && at < 0) {
                snprintf(why, sizeof why, "ENSURE %s creates a node beyond spec.replicas", a->node);
                return why;
            }
            break;
        }
        case FO_ACT_ROUTE:
            routes++;
            break;
        case FO_ACT_EVACUATE:
            if (s->strategy == FO_STRATEGY_ROLLING)
                return "Rolling evacuates";
            if (!a->n_names)
                return "EVACUATE with no migrate_to";
            for (size_t j = 0; j < a->n_names; j++)
                if (a->names[j] < o->n_nodes && strcmp(o->nodes[a->names[j]].name, a->node) == 0)
                    return "EVACUATE migrates to the node itself";
            /* fall through */
        case FO_ACT_DELETE_NODE:
        case FO_ACT_STOP_EVACUATION:
            if (at < 0) {
                snprintf(why, sizeof why, "action on %s, which is not observed", a->node);
                return why;
            }
            break;
        }
        for (size_t j = 0; j < a->n_names; j++)
            if (a->names[j] >= o->n_nodes)
                return "node index out of range";
        for (size_t j = 0; j < i; j++) {
            const fo_action_t *b = &p->actions[j];
            if (a->kind == FO_ACT_ROUTE || b->kind == FO_ACT_ROUTE || strcmp(a->node, b->node))
                continue;
            if (a->kind == b->kind ||
                (a->kind == FO_ACT_DELETE_NODE && b->kind == FO_ACT_ENSURE_NODE) ||
                (a->kind == FO_ACT_ENSURE_NODE && b->kind == FO_ACT_DELETE_NODE) ||
                (a->kind == FO_ACT_DELETE_NODE && b->kind == FO_ACT_EVACUATE) ||
                (a->kind == FO_ACT_EVACUATE && b->kind == FO_ACT_DELETE_NODE)) {
                snprintf(why, sizeof why, "conflicting or repeated actions on %s", a->node);
                return why;
            }
        }
    }
    return routes > 1 ? "more than one ROUTE" : NULL;
}

/* ---- an observed state, written symbolically ---- */

typedef struct ob {
    fo_obs_node_t nodes[FO_MAX_NODES + 1];
    size_t n;
    char lb[FO_MAX_NODES][FO_NODE_NAME_MAX];
    const char *lbp[FO_MAX_NODES];
    char mem[FO_MAX_NODES][FO_NODE_NAME_MAX];
    const char *memp[FO_MAX_NODES];
    fo_observed_t o;
} ob_t;

/*
 * One node from a token: <letter><ordinal><flags>. Without flags: running,
 * ready, ever ready, no clients, no evacuation. Flags:
 *   c  has clients: 10 connections, 10 sessions
 *   u  connections and sessions unknown (-1)
 *   !  down (not running, not ready; it was ready once)
 *   ?  starting: running, not ready, never ready
 *   n  running, not ready, but it was ready once
 *   x  terminating (a DELETE was done)
 *   X  terminating, still answering ready (graceful stop under way)
 *   w  evacuation: waiting_health_check;  e  evicting_conns
 *   p  evacuation: prohibiting (for 1 s)
 *   s  prohibiting for 6 s with 5 sessions that failed to move
 *   t  like s, for 2 s only
 */
static fo_obs_node_t *add_node(ob_t *b, const char *tok, size_t len, int64_t now)
{
    if (b->n > FO_MAX_NODES || !full_name(tok, len, b->nodes[b->n].name)) {
        CHECK(!"node token");
        return NULL;
    }
    fo_obs_node_t *n = &b->nodes[b->n++];
    copy_rev(n->revision, rev(tok[0]));
    size_t i = 1;
    n->ordinal = 0;
    for (; i < len && tok[i] >= '0' && tok[i] <= '9'; i++)
        n->ordinal = n->ordinal * 10 + (uint32_t)(tok[i] - '0');
    n->running = n->ready = n->ever_ready = true;
    n->terminating = false;
    n->conns = n->sessions = 0;
    n->evac = FO_EVAC_NONE;
    n->evac_since_ms = 0;
    n->failed_sessions = n->restarts = 0;
    for (; i < len; i++)
        switch (tok[i]) {
        case 'c':
            n->conns = n->sessions = 10;
            break;
        case 'u':
            n->conns = n->sessions = -1;
            break;
        case '!':
            n->running = n->ready = false;
            break;
        case '?':
            n->ready = n->ever_ready = false;
            break;
        case 'n':
            n->ready = false;
            break;
        case 'x':
            n->terminating = true;
            n->ready = false;
            break;
        case 'X':
            n->terminating = true;
            break;
        case 'w':
            n->evac = FO_EVAC_WAITING_HEALTH_CHECK;
            n->evac_since_ms = now - 1000;
            break;
        case 'e':
            n->evac = FO_EVAC_EVICTING_CONNS;
            n->evac_since_ms = now - 1000;
            break;
        case 'p':
            n->evac = FO_EVAC_PROHIBITING;
            n->evac_since_ms = now - 1000;
            break;
        case 's':
        case 't':
            n->evac = FO_EVAC_PROHIBITING;
            n->evac_since_ms = now - (tok[i] == 's' ? 6000 : 2000);
            n->conns = 0;
            n->sessions = 5;
            n->failed_sessions = 5;
            break;
        default:
            CHECK(!"node flag");
        }
    n->evac_conns = n->conns;
    n->evac_sessions = n->sessions;
    return n;
}

/* The next space-separated token of *s (NULL at the end), its length in *len. */
static const char *token(const char **s, size_t *len)
{
    const char *p = *s + strspn(*s, " ");
    if (!*p)
        return NULL;
    *len = strcspn(p, " ");
    *s = p + *len;
    return p;
}

static size_t name_list(const char *s, char names[][FO_NODE_NAME_MAX], const char **ptrs)
{
    size_t n = 0, len;
    for (const char *tok; s && (tok = token(&s, &len));) {
        if (n < FO_MAX_NODES && full_name(tok, len, names[n])) {
            ptrs[n] = names[n];
            n++;
        } else {
            CHECK(!"name token");
        }
    }
    return n;
}

/* nodes: tokens; lb: node tokens, or "off" (not running); members: NULL =
 * every observed node, else tokens. */
static void ob_build(ob_t *b, int64_t now, const char *nodes, const char *lb, const char *members,
                     bool abort)
{
    size_t len;
    b->n = 0;
    for (const char *tok; nodes && (tok = token(&nodes, &len));)
        add_node(b, tok, len, now);
    memset(&b->o, 0, sizeof b->o);
    b->o.now_ms = now;
    b->o.nodes = b->nodes;
    b->o.n_nodes = b->n;
    b->o.lb_running = !(lb && strcmp(lb, "off") == 0);
    b->o.n_lb_active = b->o.lb_running ? name_list(lb, b->lb, b->lbp) : 0;
    b->o.lb_active = b->lbp;
    if (members) {
        b->o.n_members = name_list(members, b->mem, b->memp);
    } else {
        for (size_t i = 0; i < b->n && i < FO_MAX_NODES; i++)
            b->memp[i] = b->nodes[i].name;
        b->o.n_members = b->n < FO_MAX_NODES ? b->n : FO_MAX_NODES;
    }
    b->o.members = b->memp;
    b->o.abort_requested = abort;
}

/* ---- table tests ---- */

typedef struct row {
    const char *what;
    const char *spec; /* make_spec's description */
    /* Continue from the row before: its plan's memory, the clock + dt_s. */
    bool cont;
    int64_t dt_s;
    /* Memory (rows that do not continue); revisions as letters. tgt NULL:
     * the same as cur. */
    const char *cur, *tgt, *held, *held_reason, *phase;
    int64_t phase_age_s; /* phase (and change) began this long ago */
    int64_t ready_age_s; /* every target node ready since; 0: not yet */
    const char *forget;  /* nodes waited for, deleted 1 s ago */
    int step;            /* Rolling: memory.step + 1 (0: none) */
    /* Observed: see add_node and ob_build. */
    const char *nodes, *lb, *members;
    bool abort;
    /* Expected; NULL or 0: not checked. */
    const char *acts; /* multiset of actions, "" for none */
    const char *x_phase, *x_cur, *x_tgt, *x_held;
    const char *x_avail, *x_prog, *x_ready; /* condition reasons */
    const char *x_event;                    /* a substring of some event */
    const char *x_msg;                      /* a substring of Progressing's message */
    const char *x_msg_nodes;                /* nodes Progressing's message names */
    const char *x_forget;                   /* nodes in memory.forgetting */
    int64_t x_requeue_max;                  /* requeue_ms <= this; -1: == 0 */
    char x_ready_since;                     /* 'S': now, '0': zero, 'K': kept */
    const char *x_step;                     /* memory.step */
} row_t;

static void set_rev(char *dst, const char *letter)
{
    copy_rev(dst, letter && letter[0] ? rev(letter[0]) : "");
}

static bool prog_true(const char *reason)
{
    static const char *const not_progressing[] = {
        "Idle",    "GreenNotReady",     "NodeNotReady",  "SwitchFailed",
        "Aborted", "EvacuationStalled", "NodesNotReady",
    };
    for (size_t i = 0; i < sizeof not_progressing / sizeof *not_progressing; i++)
        if (strcmp(reason, not_progressing[i]) == 0)
            return false;
    return true;
}

static void check_row(const row_t *r, const ob_t *b, const fo_plan_t *p, int64_t now)
{
    static char got[LIST_MAX], want[LIST_MAX];
    const fo_memory_t *m = &p->memory;
    if (r->acts) {
        plan_str(&b->o, p, got, sizeof got);
        norm_list(r->acts, want, sizeof want);
        CHECK_EQ_STR(got, want);
    }
    if (r->x_phase)
        CHECK_EQ_STR(fo_phase_name(m->phase), r->x_phase);
    if (r->x_cur)
        CHECK_EQ_STR(sym_rev(m->current), r->x_cur);
    if (r->x_tgt)
        CHECK_EQ_STR(sym_rev(m->target), r->x_tgt);
    if (r->x_held)
        CHECK_EQ_STR(sym_rev(m->held), r->x_held);
    const fo_condition_t *k = p->conditions;
    if (r->x_avail && CHECK_EQ_STR(k[0].type, "Available")) {
        CHECK_EQ_STR(k[0].reason, r->x_avail);
        CHECK_EQ_INT(k[0].status, strcmp(r->x_avail, "Serving") == 0);
    }
    if (r->x_prog && CHECK_EQ_STR(k[1].type, "Progressing")) {
        CHECK_EQ_STR(k[1].reason, r->x_prog);
        CHECK_EQ_INT(k[1].status, prog_true(r->x_prog));
    }
    if (r->x_ready && CHECK_EQ_STR(k[2].type, "Ready")) {
        CHECK_EQ_STR(k[2].reason, r->x_ready);
        CHECK_EQ_INT(k[2].status, strcmp(r->x_ready, "UpToDate") == 0);
    }
    if (r->x_event) {
        bool found = false;
        for (size_t i = 0; i < p->n_events; i++)
            found = found || strstr(p->events[i], r->x_event) != NULL;
        if (!CHECK(found))
            fprintf(stderr, "    no event contains \"%s\"\n", r->x_event);
    }
    if (r->x_msg && !CHECK(k[1].type && strstr(k[1].message, r->x_msg)))
        fprintf(stderr, "    Progressing's message lacks \"%s\"\n", r->x_msg);
    size_t len;
    const char *s = r->x_msg_nodes;
    for (const char *tok; s && (tok = token(&s, &len));) {
        char name[FO_NODE_NAME_MAX];
        if (CHECK(full_name(tok, len, name)) && !CHECK(k[1].type && strstr(k[1].message, name)))
            fprintf(stderr, "    Progressing's message lacks %s\n", name);
    }
    if (r->x_forget) {
        static char buf[FO_MAX_NODES][FO_NODE_NAME_MAX];
        static char *items[FO_MAX_NODES];
        for (size_t i = 0; i < m->n_forgetting; i++) {
            sym(m->forgetting[i].name, buf[i], sizeof buf[i]);
            items[i] = buf[i];
        }
        join_sorted(items, m->n_forgetting, " ", got, sizeof got);
        CHECK_EQ_STR(got, r->x_forget);
    }
    if (r->x_requeue_max > 0)
        CHECK(p->requeue_ms <= r->x_requeue_max && p->requeue_ms > 0);
    else if (r->x_requeue_max < 0)
        CHECK_EQ_INT(p->requeue_ms, 0);
    if (r->x_ready_since == 'S')
        CHECK_EQ_INT(m->ready_since_ms, now);
    else if (r->x_ready_since == '0')
        CHECK_EQ_INT(m->ready_since_ms, 0);
    else if (r->x_ready_since == 'K')
        CHECK(m->ready_since_ms != 0 && m->ready_since_ms < now);
    if (r->x_step)
        CHECK_EQ_INT(m->step, atoi(r->x_step));
}

static void run_rows(const row_t *rows, size_t n)
{
    static ob_t b;
    static fo_plan_t plan;
    static fo_memory_t mem;
    int64_t now = T0;
    memset(&plan, 0, sizeof plan);
    for (size_t i = 0; i < n; i++) {
        const row_t *r = &rows[i];
        unsigned before = check_state_.failures;
        if (r->cont) {
            mem = plan.memory;
            now += r->dt_s * 1000;
        } else {
            memset(&mem, 0, sizeof mem);
            now = T0;
            set_rev(mem.current, r->cur);
            set_rev(mem.target, r->tgt ? r->tgt : r->cur);
            set_rev(mem.held, r->held);
            snprintf(mem.held_reason, sizeof mem.held_reason, "%s",
                     r->held_reason ? r->held_reason : "");
            snprintf(mem.held_message, sizeof mem.held_message, "%s", r->held ? "earlier" : "");
            if (r->phase)
                CHECK(fo_phase_parse(r->phase, &mem.phase));
            mem.phase_since_ms = mem.change_since_ms = now - r->phase_age_s * 1000;
            mem.ready_since_ms = r->ready_age_s ? now - r->ready_age_s * 1000 : 0;
            mem.step = r->step - 1;
            size_t len;
            const char *s = r->forget;
            for (const char *tok; s && (tok = token(&s, &len));) {
                fo_forget_t *f = &mem.forgetting[mem.n_forgetting++];
                CHECK(full_name(tok, len, f->name));
                f->since_ms = now - 1000;
            }
        }
        fo_spec_t spec;
        if (make_spec(&spec, r->spec)) {
            ob_build(&b, now, r->nodes, r->lb, r->members, r->abort);
            fo_engine_plan(&spec, &mem, &b.o, &plan);
            const char *insane = plan_insane(&spec, &b.o, &plan);
            if (!CHECK(insane == NULL))
                fprintf(stderr, "    %s\n", insane);
            check_row(r, &b, &plan, now);
        }
        if (check_state_.failures != before) {
            fprintf(stderr, "  in row %zu: \"%s\"\n", i, r->what);
            print_plan(&b.o, &plan);
        }
        fo_spec_free(&spec);
    }
}

#define RUN_ROWS(rows) run_rows(rows, sizeof rows / sizeof rows[0])

#define BLUE "A0c A1c A2c"
#define LB_A "A0 A1 A2"
#define LB_B "B0 B1 B2"
#define LB_C "C0 C1 C2"
#define TO_A ">A0 A1 A2"
#define TO_B ">B0 B1 B2"
#define TO_C ">C0 C1 C2"

static void test_first_apply(void)
{
    static const row_t rows[] = {
        {.what = "empty world: create ordinals 0..2",
         .spec = "A 3",
         .acts = "ENSURE A0, ENSURE A1, ENSURE A2",
         .x_phase = "Creating",
         .x_cur = "",
         .x_tgt = "A",
         .x_avail = "TooFewNodes",
         .x_prog = "Creating",
         .x_ready = "Updating",
         .x_event = "create node"},
        {.what = "planned again on the same view: the same actions",
         .spec = "A 3",
         .cont = true,
         .acts = "ENSURE A0, ENSURE A1, ENSURE A2",
         .x_phase = "Creating"},
        {.what = "nodes starting: wait",
         .spec = "A 3",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0? A1? A2?",
         .acts = "",
         .x_phase = "Creating"},
        {.what = "two of three ready: wait",
         .spec = "A 3",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0 A1 A2?",
         .acts = "",
         .x_phase = "Creating"},
        {.what = "all ready, balancer empty: route to all (no initial delay)",
         .spec = "A 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0 A1 A2",
         .acts = "ROUTE A0 A1 A2",
         .x_phase = "Creating",
         .x_cur = ""},
        {.what = "balancer routes a part: route again",
         .spec = "A 3",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0 A1 A2",
         .lb = "A0",
         .acts = "ROUTE A0 A1 A2",
         .x_cur = ""},
        {.what = "balancer confirmed: current set, Running, Ready",
         .spec = "A 3",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0 A1 A2",
         .lb = LB_A,
         .acts = "",
         .x_phase = "Running",
         .x_cur = "A",
         .x_tgt = "A",
         .x_held = "",
         .x_avail = "Serving",
         .x_prog = "Idle",
         .x_ready = "UpToDate",
         .x_event = "serves",
         .x_requeue_max = 2000},
        {.what = "a node never ready past the timeout: reported, nothing to hold",
         .spec = "A 3",
         .tgt = "A",
         .phase = "Creating",
         .phase_age_s = 601,
         .nodes = "A0 A1 A2?",
         .acts = "",
         .x_held = "",
         .x_phase = "Creating",
         .x_prog = "NodesNotReady",
         .x_msg_nodes = "A2"},
        {.what = "replicas 1: one node", .spec = "A 1", .nodes = "", .acts = "ENSURE A0"},
        {.what = "replicas 1: route it",
         .spec = "A 1",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0",
         .acts = "ROUTE A0"},
        {.what = "replicas 1: confirmed",
         .spec = "A 1",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0",
         .lb = "A0",
         .acts = "",
         .x_phase = "Running",
         .x_cur = "A"},
    };
    RUN_ROWS(rows);
}

static void test_steady_state(void)
{
    static const row_t rows[] = {
        {.what = "nothing to do",
         .spec = "A 3",
         .cur = "A",
         .phase = "Running",
         .phase_age_s = 3600,
         .nodes = BLUE,
         .lb = LB_A,
         .acts = "",
         .x_phase = "Running",
         .x_cur = "A",
         .x_prog = "Idle",
         .x_ready = "UpToDate",
         .x_avail = "Serving",
         .x_requeue_max = 2000},
        {.what = "a node is down: start it again",
         .spec = "A 3",
         .cur = "A",
         .phase = "Running",
         .nodes = "A0c A1! A2c",
         .lb = LB_A,
         .acts = "ENSURE A1",
         .x_phase = "Running",
         .x_avail = "TooFewNodes",
         .x_event = "is down"},
        {.what = "a node is gone: create it again",
         .spec = "A 3",
         .cur = "A",
         .phase = "Running",
         .nodes = "A0c A2c",
         .lb = LB_A,
         .acts = "ENSURE A1"},
        {.what = "a node not ready but running: wait",
         .spec = "A 3",
         .cur = "A",
         .phase = "Running",
         .nodes = "A0c A1n A2c",
         .lb = LB_A,
         .acts = "",
         .x_phase = "Running"},
        {.what = "fields outside the revision change nothing",
         .spec = "A 3 delay=5 conc=3 timeout=30 rolling",
         .cur = "A",
         .phase = "Running",
         .nodes = BLUE,
         .lb = LB_A,
         .acts = "",
         .x_phase = "Running",
         .x_ready = "UpToDate"},
        {.what = "the balancer lost a node: route again",
         .spec = "A 3",
         .cur = "A",
         .phase = "Running",
         .nodes = BLUE,
         .lb = "A0 A1",
         .acts = "ROUTE A0 A1 A2"},
        {.what = "the balancer is not running: route",
         .spec = "A 3",
         .cur = "A",
         .phase = "Running",
         .nodes = BLUE,
         .lb = "off",
         .acts = "ROUTE A0 A1 A2",
         .x_avail = "TooFewNodes"},
        {.what = "a stray empty node of another revision: deleted",
         .spec = "A 3",
         .cur = "A",
         .phase = "Running",
         .nodes = BLUE " D0",
         .lb = LB_A,
         .acts = "DELETE D0",
         .x_cur = "A"},
        {.what = "scale up 3 -> 5: create 3 and 4",
         .spec = "A 5",
         .cur = "A",
         .phase = "Running",
         .nodes = BLUE,
         .lb = LB_A,
         .acts = "ENSURE A3, ENSURE A4",
         .x_avail = "TooFewNodes"},
        {.what = "scale up: ready, route all five at once (no delay: same revision)",
         .spec = "A 5 delay=60",
         .cont = true,
         .dt_s = 5,
         .nodes = BLUE " A3 A4",
         .lb = LB_A,
         .acts = "ROUTE A0 A1 A2 A3 A4",
         .x_phase = "Switching"},
        {.what = "scale up: confirmed",
         .spec = "A 5 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = BLUE " A3 A4",
         .lb = LB_A " A3 A4",
         .acts = "",
         .x_phase = "Running",
         .x_ready = "UpToDate"},
    };
    RUN_ROWS(rows);
}

/* One BlueGreen upgrade A -> B, step by step. */
static void test_blue_green(void)
{
    static const row_t rows[] = {
        {.what = "new revision: create green, blue stays routed",
         .spec = "B 3 delay=60",
         .cur = "A",
         .phase = "Running",
         .phase_age_s = 3600,
         .nodes = BLUE,
         .lb = LB_A,
         .acts = "ENSURE B0, ENSURE B1, ENSURE B2",
         .x_phase = "CreatingGreen",
         .x_cur = "A",
         .x_tgt = "B",
         .x_avail = "Serving",
         .x_prog = "CreatingGreen",
         .x_ready = "Updating",
         .x_event = "target revision"},
        {.what = "green starting",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = BLUE " B0? B1? B2?",
         .lb = LB_A,
         .acts = "",
         .x_phase = "CreatingGreen",
         .x_ready_since = '0'},
        {.what = "green 2 of 3 ready",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = BLUE " B0 B1? B2",
         .lb = LB_A,
         .acts = "",
         .x_phase = "CreatingGreen"},
        {.what = "green all ready: Delaying, requeue within the delay",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = BLUE " B0 B1 B2",
         .lb = LB_A,
         .acts = "",
         .x_phase = "Delaying",
         .x_ready_since = 'S',
         .x_requeue_max = 60000},
        {.what = "50 s into the delay: requeue at most 10 s",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 50,
         .nodes = BLUE " B0 B1 B2",
         .lb = LB_A,
         .acts = "",
         .x_phase = "Delaying",
         .x_ready_since = 'K',
         .x_requeue_max = 10000},
        {.what = "delay over: route to green only",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 10,
         .nodes = BLUE " B0 B1 B2",
         .lb = LB_A,
         .acts = "ROUTE B0 B1 B2",
         .x_phase = "Switching",
         .x_avail = "Serving"},
        {.what = "balancer still on blue: the same ROUTE again",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = BLUE " B0 B1 B2",
         .lb = LB_A,
         .acts = "ROUTE B0 B1 B2",
         .x_phase = "Switching"},
        {.what = "balancer half switched: the same ROUTE again",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = BLUE " B0 B1 B2",
         .lb = "A0 B0 B1 B2",
         .acts = "ROUTE B0 B1 B2",
         .x_phase = "Switching"},
        {.what = "switch confirmed: evacuate the highest blue ordinal to green",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = BLUE " B0 B1 B2",
         .lb = LB_B,
         .acts = "EVACUATE A2" TO_B,
         .x_phase = "Evacuating",
         .x_cur = "A",
         .x_avail = "Serving"},
        {.what = "A2 evacuating: one at a time",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0c A1c A2ce B0 B1 B2",
         .lb = LB_B,
         .acts = "",
         .x_phase = "Evacuating"},
        {.what = "A2 evacuated (prohibiting, empty): delete it, evacuate A1",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0c A1c A2p B0 B1 B2",
         .lb = LB_B,
         .acts = "DELETE A2, EVACUATE A1" TO_B,
         .x_phase = "Evacuating",
         .x_forget = "A2"},
        {.what = "A2 terminating, A1 evacuating",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0c A1ce A2px B0 B1 B2",
         .lb = LB_B,
         .acts = "",
         .x_phase = "Evacuating"},
        {.what = "A1 prohibiting with failed sessions for < 5 s: wait",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0c A1t B0 B1 B2",
         .lb = LB_B,
         .members = "A0 A1 B0 B1 B2",
         .acts = "",
         .x_forget = ""},
        {.what = "A1 prohibiting with failed sessions for >= 5 s: stop, to retry",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 4,
         .nodes = "A0c A1s B0 B1 B2",
         .lb = LB_B,
         .acts = "STOP A1"},
        {.what = "A1 stopped with sessions left: evacuate it again",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0c A1c B0 B1 B2",
         .lb = LB_B,
         .acts = "EVACUATE A1" TO_B},
        {.what = "A1 evacuated: delete it, evacuate A0",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 10,
         .nodes = "A0c A1p B0 B1 B2",
         .lb = LB_B,
         .acts = "DELETE A1, EVACUATE A0" TO_B},
        {.what = "A0 evacuated: delete it",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 10,
         .nodes = "A0p A1x B0 B1 B2",
         .lb = LB_B,
         .acts = "DELETE A0",
         .x_phase = "Evacuating",
         .x_forget = "A0 A1"},
        {.what = "blue gone but still listed by the cluster: Forgetting",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 2,
         .nodes = "B0c B1c B2c",
         .members = "A0 B0 B1 B2",
         .lb = LB_B,
         .acts = "",
         .x_phase = "Forgetting",
         .x_cur = "A",
         .x_forget = "A0",
         .x_ready = "Updating"},
        {.what = "forgotten: green is current, Running",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = "B0c B1c B2c",
         .lb = LB_B,
         .acts = "",
         .x_phase = "Running",
         .x_cur = "B",
         .x_tgt = "B",
         .x_forget = "",
         .x_prog = "Idle",
         .x_ready = "UpToDate",
         .x_avail = "Serving",
         .x_event = "serves"},
        {.what = "concurrency 2: the two highest blue ordinals at once",
         .spec = "B 3 delay=60 conc=2",
         .cur = "A",
         .tgt = "B",
         .phase = "Switching",
         .nodes = BLUE " B0 B1 B2",
         .lb = LB_B,
         .acts = "EVACUATE A2" TO_B ", EVACUATE A1" TO_B},
        {.what = "concurrency 2, one evacuating: one more",
         .spec = "B 3 delay=60 conc=2",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0c A1c A2ce B0 B1 B2",
         .lb = LB_B,
         .acts = "EVACUATE A1" TO_B},
        {.what = "concurrency 2, two evacuating: none more",
         .spec = "B 3 delay=60 conc=2",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0c A1cw A2ce B0 B1 B2",
         .lb = LB_B,
         .acts = ""},
        {.what = "an empty unrouted blue node is deleted without evacuation",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Evacuating",
         .nodes = "A0c A1 A2ce B0 B1 B2",
         .lb = LB_B,
         .acts = "DELETE A1"},
        {.what = "a blue node answering nothing (counts unknown) is evacuated, not deleted",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Evacuating",
         .nodes = "A0c A1c A2u B0 B1 B2",
         .lb = LB_B,
         .acts = "EVACUATE A2" TO_B},
        {.what = "evacuation past the phase timeout: only reported",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Evacuating",
         .phase_age_s = 601,
         .nodes = "A0c A1c A2ce B0 B1 B2",
         .lb = LB_B,
         .acts = "",
         .x_held = "",
         .x_phase = "Evacuating",
         .x_prog = "EvacuationStalled"},
        {.what = "the balancer never takes the route: held SwitchFailed",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Switching",
         .phase_age_s = 601,
         .ready_age_s = 700,
         .nodes = BLUE " B0 B1 B2",
         .lb = LB_A,
         .acts = "",
         .x_held = "B",
         .x_prog = "SwitchFailed",
         .x_requeue_max = -1},
        {.what = "SwitchFailed: back to blue, green deleted",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 0,
         .nodes = BLUE " B0 B1 B2",
         .lb = LB_A,
         .acts = "DELETE B0, DELETE B1, DELETE B2",
         .x_tgt = "A",
         .x_held = "B",
         .x_phase = "RollingBack",
         .x_prog = "SwitchFailed",
         .x_ready = "Held"},
    };
    RUN_ROWS(rows);
}

/* Blue nodes that die, before and after the switch. */
static void test_blue_dies(void)
{
    static const row_t rows[] = {
        {.what = "before the switch (routed): start it again",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "CreatingGreen",
         .nodes = "A0c A1c! A2c B0? B1? B2?",
         .lb = LB_A,
         .acts = "ENSURE A1",
         .x_phase = "CreatingGreen"},
        {.what = "during the delay: start it again",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Delaying",
         .ready_age_s = 10,
         .nodes = "A0c A1c! A2c B0 B1 B2",
         .lb = LB_A,
         .acts = "ENSURE A1",
         .x_phase = "Delaying"},
        {.what = "while switching (still routed): start it again",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Switching",
         .ready_age_s = 70,
         .nodes = "A0c A1c! A2c B0 B1 B2",
         .lb = LB_A,
         .acts = "ENSURE A1, ROUTE B0 B1 B2"},
        {.what = "after the switch, while evacuating: delete it, no restart",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Evacuating",
         .nodes = "A0c A1c! A2ce B0 B1 B2",
         .lb = LB_B,
         .acts = "DELETE A1",
         .x_phase = "Evacuating"},
        {.what = "the node being evacuated dies: delete it, evacuate the next",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Evacuating",
         .nodes = "A0c A1c A2ce! B0 B1 B2",
         .lb = LB_B,
         .acts = "DELETE A2, EVACUATE A1" TO_B},
        {.what = "the dead node is still there: wait for it before current moves",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Evacuating",
         .nodes = "A0x! B0 B1 B2",
         .lb = LB_B,
         .acts = "",
         .x_cur = "A"},
        {.what = "a green node dies after the switch: start it again, go on",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Evacuating",
         .nodes = "A0c A1c A2ce B0 B1! B2",
         .lb = LB_B,
         .acts = "ENSURE B1",
         .x_phase = "Evacuating",
         .x_held = ""},
    };
    RUN_ROWS(rows);
}

/* The spec changes to a third revision mid-upgrade. */
static void test_third_revision(void)
{
    static const row_t rows[] = {
        {.what = "before the switch: C created, blue still routed",
         .spec = "C 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Delaying",
         .ready_age_s = 30,
         .nodes = BLUE " B0 B1 B2",
         .lb = LB_A,
         .acts = "ENSURE C0, ENSURE C1, ENSURE C2",
         .x_tgt = "C",
         .x_phase = "CreatingGreen",
         .x_ready_since = '0'},
        {.what = "C ready: a fresh delay",
         .spec = "C 3 delay=60",
         .cont = true,
         .dt_s = 5,
         .nodes = BLUE " B0 B1 B2 C0 C1 C2",
         .lb = LB_A,
         .acts = "",
         .x_phase = "Delaying",
         .x_ready_since = 'S'},
        {.what = "routed to C: unused B deleted, blue evacuated to C",
         .spec = "C 3 delay=60",
         .cont = true,
         .dt_s = 61,
         .nodes = BLUE " B0 B1 B2 C0 C1 C2",
         .lb = LB_C,
         .acts = "DELETE B0, DELETE B1, DELETE B2, EVACUATE A2" TO_C},
        {.what = "after B's switch: C created, blue's evacuation goes on",
         .spec = "C 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Evacuating",
         .nodes = "A0c A1c A2ce B0c B1c B2c",
         .lb = LB_B,
         .acts = "ENSURE C0, ENSURE C1, ENSURE C2",
         .x_tgt = "C",
         .x_phase = "CreatingGreen"},
        {.what = "C routed: B (with clients) drained before the rest of blue",
         .spec = "C 3 delay=60",
         .cur = "A",
         .tgt = "C",
         .phase = "Switching",
         .nodes = "A0c A1c B0c B1c B2c C0 C1 C2",
         .lb = LB_C,
         .acts = "EVACUATE B2" TO_C,
         .x_phase = "Evacuating"},
        {.what = "B2 evacuated: B1 next, not A1",
         .spec = "C 3 delay=60",
         .cont = true,
         .dt_s = 10,
         .nodes = "A0c A1c B0c B1c B2p C0 C1 C2",
         .lb = LB_C,
         .acts = "DELETE B2, EVACUATE B1" TO_C},
        {.what = "a finished blue node does not let blue overtake B",
         .spec = "C 3 delay=60",
         .cur = "A",
         .tgt = "C",
         .phase = "Evacuating",
         .nodes = "A0c A1p B0c B1c B2c C0 C1 C2",
         .lb = LB_C,
         .acts = "DELETE A1, EVACUATE B2" TO_C},
        {.what = "B gone: blue next",
         .spec = "C 3 delay=60",
         .cont = true,
         .dt_s = 10,
         .nodes = "A0c A1c C0 C1 C2",
         .members = "A0 A1 C0 C1 C2",
         .lb = LB_C,
         .acts = "EVACUATE A1" TO_C},
    };
    RUN_ROWS(rows);
}

/* The spec goes back to the current revision mid-upgrade. */
static void test_revert(void)
{
    static const row_t rows[] = {
        {.what = "before the switch: no delay, green deleted at once",
         .spec = "A 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Delaying",
         .ready_age_s = 10,
         .nodes = BLUE " B0 B1 B2",
         .lb = LB_A,
         .acts = "DELETE B0, DELETE B1, DELETE B2",
         .x_tgt = "A",
         .x_held = "",
         .x_avail = "Serving"},
        {.what = "before the switch, green still starting: deleted",
         .spec = "A 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "CreatingGreen",
         .nodes = BLUE " B0? B1? B2?",
         .lb = LB_A,
         .acts = "DELETE B0, DELETE B1, DELETE B2",
         .x_tgt = "A"},
        {.what = "after the switch: recreate deleted blue, stop blue's evacuation, keep green",
         .spec = "A 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Evacuating",
         .forget = "A2",
         .nodes = "A0c A1ce B0c B1c B2c",
         .lb = LB_B,
         .acts = "ENSURE A2, STOP A1",
         .x_tgt = "A",
         .x_avail = "Serving"},
        {.what = "blue all ready again: route back at once (no delay)",
         .spec = "A 3 delay=60",
         .cont = true,
         .dt_s = 5,
         .nodes = "A0c A1c A2 B0c B1c B2c",
         .lb = LB_B,
         .acts = "ROUTE A0 A1 A2",
         .x_phase = "Switching"},
        {.what = "routed back: drain green, highest first, to blue",
         .spec = "A 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0c A1c A2 B0c B1c B2c",
         .lb = LB_A,
         .acts = "EVACUATE B2" TO_A,
         .x_phase = "Evacuating"},
        {.what = "green drained and gone: Running on A, though A2 was deleted once",
         .spec = "A 3 delay=60",
         .cont = true,
         .dt_s = 30,
         .nodes = "A0c A1c A2c",
         .lb = LB_A,
         .acts = "",
         .x_phase = "Running",
         .x_cur = "A",
         .x_forget = "",
         .x_ready = "UpToDate"},
        {.what = "after the switch, deleted A2 still stopping (ready): not routed to",
         .spec = "A 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Evacuating",
         .nodes = "A0c A1c A2X B0c B1c B2c",
         .lb = LB_B,
         .acts = "",
         .x_tgt = "A"},
        {.what = "A2 gone: recreated",
         .spec = "A 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0c A1c B0c B1c B2c",
         .lb = LB_B,
         .acts = "ENSURE A2"},
        {.what = "after the switch, a blue node prohibiting: stop it (not delete)",
         .spec = "A 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Evacuating",
         .nodes = "A0c A1c A2p B0c B1c B2c",
         .lb = LB_B,
         .acts = "STOP A2, ROUTE A0 A1 A2",
         .x_tgt = "A"},
        {.what = "a revert while held releases the hold",
         .spec = "A 3 delay=60",
         .cur = "A",
         .tgt = "A",
         .held = "B",
         .held_reason = "GreenNotReady",
         .phase = "Running",
         .nodes = BLUE,
         .lb = LB_A,
         .acts = "",
         .x_held = "",
         .x_ready = "UpToDate",
         .x_event = "replaces held"},
    };
    RUN_ROWS(rows);
}

/* Green never becomes ready: held, back to blue, released by a new spec. */
static void test_green_not_ready(void)
{
    static const row_t rows[] = {
        {.what = "green not ready, within the timeout: wait",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "CreatingGreen",
         .phase_age_s = 599,
         .nodes = BLUE " B0? B1? B2?",
         .lb = LB_A,
         .acts = "",
         .x_held = "",
         .x_phase = "CreatingGreen"},
        {.what = "past the timeout: held GreenNotReady, naming the nodes",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 2,
         .nodes = BLUE " B0? B1? B2?",
         .lb = LB_A,
         .acts = "",
         .x_held = "B",
         .x_prog = "GreenNotReady",
         .x_msg_nodes = "B0 B1 B2",
         .x_ready = "Held",
         .x_requeue_max = -1,
         .x_event = "held"},
        {.what = "held: blue stays routed, never-ready green deleted without evacuation",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 0,
         .nodes = BLUE " B0? B1? B2?",
         .lb = LB_A,
         .acts = "DELETE B0, DELETE B1, DELETE B2",
         .x_tgt = "A",
         .x_held = "B",
         .x_phase = "RollingBack",
         .x_prog = "GreenNotReady",
         .x_msg_nodes = "B0 B1 B2",
         .x_ready = "Held",
         .x_avail = "Serving"},
        {.what = "green terminating",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = BLUE " B0x B1x B2x",
         .lb = LB_A,
         .acts = "",
         .x_phase = "RollingBack"},
        {.what = "green gone: Running on blue, Progressing False GreenNotReady, not Ready",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 2,
         .nodes = BLUE,
         .lb = LB_A,
         .acts = "",
         .x_phase = "Running",
         .x_cur = "A",
         .x_held = "B",
         .x_prog = "GreenNotReady",
         .x_ready = "Held",
         .x_avail = "Serving"},
        {.what = "still held later: nothing recreated",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 3600,
         .nodes = BLUE,
         .lb = LB_A,
         .acts = "",
         .x_held = "B",
         .x_phase = "Running"},
        {.what = "another revision releases the hold",
         .spec = "C 3 delay=60",
         .cont = true,
         .dt_s = 10,
         .nodes = BLUE,
         .lb = LB_A,
         .acts = "ENSURE C0, ENSURE C1, ENSURE C2",
         .x_held = "",
         .x_tgt = "C",
         .x_phase = "CreatingGreen",
         .x_ready = "Updating",
         .x_event = "replaces held"},
        {.what = "green crash-looping (never running) past the timeout: held too",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "CreatingGreen",
         .phase_age_s = 601,
         .nodes = BLUE " B0 B1! B2",
         .lb = LB_A,
         .x_held = "B",
         .x_msg_nodes = "B1"},
        {.what = "a green node missing entirely past the timeout: held",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "CreatingGreen",
         .phase_age_s = 601,
         .nodes = BLUE " B0 B1",
         .lb = LB_A,
         .x_held = "B",
         .x_msg_nodes = "B2"},
    };
    RUN_ROWS(rows);
}

static void test_abort(void)
{
    static const row_t rows[] = {
        {.what = "abort before the switch: held Aborted, green deleted",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Delaying",
         .ready_age_s = 10,
         .nodes = BLUE " B0 B1 B2",
         .lb = LB_A,
         .abort = true,
         .acts = "DELETE B0, DELETE B1, DELETE B2",
         .x_held = "B",
         .x_tgt = "A",
         .x_prog = "Aborted",
         .x_ready = "Held",
         .x_phase = "RollingBack"},
        {.what = "abort after the switch: held, blue evacuation stopped, routed back",
         .spec = "B 3 delay=60",
         .cur = "A",
         .tgt = "B",
         .phase = "Evacuating",
         .nodes = "A0c A1c A2ce B0c B1c B2c",
         .lb = LB_B,
         .abort = true,
         .acts = "STOP A2, ROUTE A0 A1 A2",
         .x_held = "B",
         .x_tgt = "A",
         .x_prog = "Aborted"},
        {.what = "aborted: green drained back to blue",
         .spec = "B 3 delay=60",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0c A1c A2c B0c B1c B2c",
         .lb = LB_A,
         .acts = "EVACUATE B2" TO_A,
         .x_held = "B",
         .x_phase = "RollingBack",
         .x_prog = "Aborted"},
        {.what = "abort with no upgrade: only an event",
         .spec = "A 3",
         .cur = "A",
         .phase = "Running",
         .nodes = BLUE,
         .lb = LB_A,
         .abort = true,
         .acts = "",
         .x_held = "",
         .x_phase = "Running",
         .x_ready = "UpToDate",
         .x_event = "no upgrade"},
        {.what = "abort of a first creation: nothing to go back to",
         .spec = "A 3",
         .tgt = "A",
         .phase = "Creating",
         .nodes = "A0? A1? A2?",
         .abort = true,
         .acts = "",
         .x_held = "",
         .x_event = "no upgrade"},
    };
    RUN_ROWS(rows);
}

static void test_rolling(void)
{
    static const row_t rows[] = {
        {.what = "ordinal 2 first: delete old 2, route the others",
         .spec = "B 3 rolling",
         .cur = "A",
         .phase = "Running",
         .nodes = BLUE,
         .lb = LB_A,
         .acts = "DELETE A2, ROUTE A0 A1",
         .x_phase = "Rolling",
         .x_tgt = "B",
         .x_step = "2"},
        {.what = "old 2 terminating: wait",
         .spec = "B 3 rolling",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0c A1c A2x",
         .lb = "A0 A1",
         .acts = "",
         .x_phase = "Rolling"},
        {.what = "old 2 gone: create new 2",
         .spec = "B 3 rolling",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0c A1c",
         .lb = "A0 A1",
         .acts = "ENSURE B2"},
        {.what = "new 2 starting: wait (ENSURE is idempotent)",
         .spec = "B 3 rolling",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0c A1c B2?",
         .lb = "A0 A1",
         .acts = "ENSURE B2",
         .x_step = "2"},
        {.what = "new 2 ready: ordinal 1 next",
         .spec = "B 3 rolling",
         .cont = true,
         .dt_s = 1,
         .nodes = "A0c A1c B2",
         .lb = "A0 A1",
         .acts = "DELETE A1, ROUTE A0 B2",
         .x_step = "1"},
        {.what = "old 1 gone: create new 1",
         .spec = "B 3 rolling",
         .cont = true,
         .dt_s = 2,
         .nodes = "A0c B2",
         .lb = "A0 B2",
         .acts = "ENSURE B1"},
        {.what = "new 1 ready: ordinal 0",
         .spec = "B 3 rolling",
         .cont = true,
         .dt_s = 5,
         .nodes = "A0c B1 B2",
         .lb = "A0 B2",
         .acts = "DELETE A0, ROUTE B1 B2",
         .x_step = "0"},
        {.what = "old 0 gone: create new 0",
         .spec = "B 3 rolling",
         .cont = true,
         .dt_s = 2,
         .nodes = "B1 B2",
         .lb = "B1 B2",
         .members = "B1 B2",
         .acts = "ENSURE B0"},
        {.what = "an updated node turns unready after ordinal 0's old node went: the "
                 "missing ordinal 0 is created anyway (a StatefulSet recreates a "
                 "missing pod at the update revision)",
         .spec = "B 3 rolling",
         .cont = true,
         .dt_s = 1,
         .nodes = "B1 B2?",
         .lb = "B1 B2",
         .members = "B1 B2",
         .acts = "ENSURE B2, ENSURE B0, ROUTE B1",
         .x_step = "2"},
        {.what = "all new and ready: route all, Running",
         .spec = "B 3 rolling",
         .cont = true,
         .dt_s = 5,
         .nodes = "B0 B1 B2",
         .lb = "B1 B2",
         .members = "B0 B1 B2",
         .acts = "ROUTE B0 B1 B2",
         .x_phase = "Running",
         .x_cur = "B",
         .x_step = "-1"},
        {.what = "Rolling: new node never ready: held NodeNotReady",
         .spec = "B 3 rolling",
         .cur = "A",
         .tgt = "B",
         .phase = "Rolling",
         .step = 3,
         .phase_age_s = 601,
         .nodes = "A0c A1c B2?",
         .lb = "A0 A1",
         .x_held = "B",
         .x_prog = "NodeNotReady",
         .x_msg_nodes = "B2"},
        {.what = "rolling back: delete new 2",
         .spec = "B 3 rolling",
         .cont = true,
         .dt_s = 0,
         .nodes = "A0c A1c B2?",
         .lb = "A0 A1",
         .acts = "DELETE B2",
         .x_tgt = "A",
         .x_phase = "RollingBack"},
        {.what = "rolling back: new 2 gone, old 2 again",
         .spec = "B 3 rolling",
         .cont = true,
         .dt_s = 2,
         .nodes = "A0c A1c",
         .lb = "A0 A1",
         .acts = "ENSURE A2"},
        {.what = "rolled back: Running on A, held",
         .spec = "B 3 rolling",
         .cont = true,
         .dt_s = 5,
         .nodes = "A0c A1c A2",
         .lb = "A0 A1",
         .acts = "ROUTE A0 A1 A2",
         .x_phase = "Running",
         .x_cur = "A",
         .x_held = "B",
         .x_prog = "NodeNotReady",
         .x_ready = "Held"},
        {.what = "Rolling: the new node never even appears: held too",
         .spec = "B 3 rolling",
         .cur = "A",
         .tgt = "B",
         .phase = "Rolling",
         .step = 3,
         .phase_age_s = 601,
         .nodes = "A0c A1c",
         .lb = "A0 A1",
         .x_held = "B",
         .x_prog = "NodeNotReady"},
        {.what = "Rolling: a new node dies later: started again",
         .spec = "B 3 rolling",
         .cur = "A",
         .tgt = "B",
         .phase = "Rolling",
         .step = 1,
         .nodes = "A0c B1 B2!",
         .lb = "A0 B1 B2",
         .acts = "ENSURE B2, ROUTE A0 B1",
         .x_phase = "Rolling"},
        {.what = "Rolling scale down 5 -> 3: the nodes beyond go, one at a time",
         .spec = "A 3 rolling",
         .cur = "A",
         .phase = "Running",
         .nodes = BLUE " A3c A4c",
         .lb = LB_A " A3 A4",
         .acts = "DELETE A3, ROUTE A0 A1 A2"}, /* 3 first: observed order, not 4 */
        {.what = "Rolling scale down: 3 gone, 4 next",
         .spec = "A 3 rolling",
         .cont = true,
         .dt_s = 3,
         .nodes = BLUE " A4c",
         .lb = LB_A,
         .acts = "DELETE A4",
         .x_phase = "Running"},
        {.what = "Rolling scale down: done",
         .spec = "A 3 rolling",
         .cont = true,
         .dt_s = 3,
         .nodes = BLUE,
         .lb = LB_A,
         .acts = "",
         .x_phase = "Running",
         .x_forget = ""},
    };
    RUN_ROWS(rows);
}

static void test_clamping(void)
{
    static const row_t rows[] = {
        {.what = "scale down 5 -> 3: route to 0..2 first",
         .spec = "A 3",
         .cur = "A",
         .phase = "Running",
         .nodes = BLUE " A3c A4c",
         .lb = LB_A " A3 A4",
         .acts = "ROUTE A0 A1 A2",
         .x_phase = "Switching"},
        {.what = "scale down: evacuate 4 first, to 0..2",
         .spec = "A 3",
         .cont = true,
         .dt_s = 1,
         .nodes = BLUE " A3c A4c",
         .lb = LB_A,
         .acts = "EVACUATE A4" TO_A,
         .x_phase = "Evacuating"},
        {.what = "scale down: 4 evacuated, delete it, 3 next",
         .spec = "A 3",
         .cont = true,
         .dt_s = 10,
         .nodes = BLUE " A3c A4p",
         .lb = LB_A,
         .acts = "DELETE A4, EVACUATE A3" TO_A},
        {.what = "scale down: 3 evacuated, delete it",
         .spec = "A 3",
         .cont = true,
         .dt_s = 10,
         .nodes = BLUE " A3p",
         .lb = LB_A,
         .members = LB_A " A3",
         .acts = "DELETE A3"},
        {.what = "scale down: done",
         .spec = "A 3",
         .cont = true,
         .dt_s = 3,
         .nodes = BLUE,
         .lb = LB_A,
         .acts = "",
         .x_phase = "Running",
         .x_forget = ""},
        {.what = "more nodes than the spec while upgrading: only 0..2 created",
         .spec = "B 3",
         .cur = "A",
         .phase = "Running",
         .nodes = BLUE " A3c A4c A5c",
         .lb = LB_A " A3 A4 A5",
         .acts = "ENSURE B0, ENSURE B1, ENSURE B2"},
        {.what = "more green nodes than the spec: the extra is old",
         .spec = "B 3",
         .cur = "A",
         .tgt = "B",
         .phase = "Switching",
         .nodes = "B0 B1 B2 B3",
         .lb = LB_B,
         .acts = "DELETE B3"},
        {.what = "a node beyond the spec, down, routed: restarted until the switch",
         .spec = "A 3",
         .cur = "A",
         .phase = "Running",
         .nodes = BLUE " A3c!",
         .lb = LB_A " A3",
         .acts = "ENSURE A3, ROUTE A0 A1 A2"},
    };
    RUN_ROWS(rows);
}

/* ---- bounds ---- */

static fo_plan_t big_plan;
static ob_t big_ob;

static void test_no_spec(void)
{
    fo_memory_t mem = {0};
    ob_build(&big_ob, T0, BLUE, LB_A, NULL, false);
    fo_engine_plan(NULL, &mem, &big_ob.o, &big_plan);
    CHECK_EQ_INT(big_plan.n_actions, 0);
    CHECK(big_plan.requeue_ms > 0);
    CHECK_EQ_INT(big_plan.memory.phase, FO_PHASE_PENDING);
}

/* Builds "<letter>0 <letter>1 ... <letter>(n-1)" with a flag after each. */
static void seq(char *buf, size_t len, char letter, unsigned from, unsigned n, const char *flag)
{
    size_t l = strlen(buf);
    for (unsigned i = from; i < from + n && l < len; i++) {
        int w = snprintf(buf + l, len - l, "%s%c%u%s", l ? " " : "", letter, i, flag);
        l += w > 0 ? (size_t)w : 0;
    }
}

static void test_replicas_64(void)
{
    static char nodes[8192], lb[8192], want[LIST_MAX], got[LIST_MAX];
    fo_spec_t spec;
    fo_memory_t mem = {0};
    REQUIRE(make_spec(&spec, "A 64"));
    /* First apply: 64 ENSUREs, ordinals 0..63. */
    ob_build(&big_ob, T0, "", "", NULL, false);
    fo_engine_plan(&spec, &mem, &big_ob.o, &big_plan);
    CHECK(plan_insane(&spec, &big_ob.o, &big_plan) == NULL);
    REQUIRE_EQ_INT(big_plan.n_actions, 64);
    for (size_t i = 0; i < 64; i++) {
        CHECK_EQ_INT(big_plan.actions[i].kind, FO_ACT_ENSURE_NODE);
        CHECK_EQ_INT(big_plan.actions[i].ordinal, i);
        CHECK_EQ_STR(big_plan.actions[i].revision, rev('A'));
    }
    /* All ready: one ROUTE with all 64. */
    nodes[0] = '\0';
    seq(nodes, sizeof nodes, 'A', 0, 64, "c");
    mem = big_plan.memory;
    ob_build(&big_ob, T0 + 1000, nodes, "", NULL, false);
    fo_engine_plan(&spec, &mem, &big_ob.o, &big_plan);
    REQUIRE_EQ_INT(big_plan.n_actions, 1);
    CHECK_EQ_INT(big_plan.actions[0].kind, FO_ACT_ROUTE);
    CHECK_EQ_INT(big_plan.actions[0].n_names, 64);
    fo_spec_free(&spec);

    /* Upgrade 64 -> 64 after the switch: A63 first, to all 64 green. */
    REQUIRE(make_spec(&spec, "B 64 conc=3"));
    memset(&mem, 0, sizeof mem);
    set_rev(mem.current, "A");
    set_rev(mem.target, "B");
    mem.phase = FO_PHASE_SWITCHING;
    mem.phase_since_ms = T0;
    seq(nodes, sizeof nodes, 'B', 0, 64, "");
    lb[0] = '\0';
    seq(lb, sizeof lb, 'B', 0, 64, "");
    ob_build(&big_ob, T0, nodes, lb, NULL, false);
    CHECK_EQ_INT(big_ob.o.n_nodes, 128);
    fo_engine_plan(&spec, &mem, &big_ob.o, &big_plan);
    CHECK(plan_insane(&spec, &big_ob.o, &big_plan) == NULL);
    plan_str(&big_ob.o, &big_plan, got, sizeof got);
    char to[1024] = "";
    seq(to, sizeof to, 'B', 0, 64, "");
    char *items[64], *p = to;
    for (int i = 0; i < 64; i++) {
        items[i] = p;
        p += strcspn(p, " ");
        if (*p)
            *p++ = '\0';
    }
    static char sorted[1024];
    join_sorted(items, 64, " ", sorted, sizeof sorted);
    snprintf(to, sizeof to, "%s", sorted);
    char raw[4096];
    snprintf(raw, sizeof raw, "EVACUATE A63>%s, EVACUATE A62>%s, EVACUATE A61>%s", to, to, to);
    norm_list(raw, want, sizeof want);
    CHECK_EQ_STR(got, want);
    fo_spec_free(&spec);
}

static void test_too_many_nodes(void)
{
    fo_spec_t spec;
    fo_memory_t mem = {0};
    REQUIRE(make_spec(&spec, "B 3"));
    set_rev(mem.current, "A");
    set_rev(mem.target, "A");
    mem.phase = FO_PHASE_RUNNING;
    ob_build(&big_ob, T0, "", "", NULL, false);
    /* FO_MAX_NODES + 1 nodes: demo-<A>-0, repeated (the engine must not look). */
    for (size_t i = 0; i <= FO_MAX_NODES; i++) {
        fo_obs_node_t *n = &big_ob.nodes[i];
        memset(n, 0, sizeof *n);
        fo_node_name(n->name, CLUSTER, rev('A'), (uint32_t)(i % 64));
        copy_rev(n->revision, rev('A'));
        n->ordinal = (uint32_t)(i % 64);
        n->running = n->ready = n->ever_ready = true;
    }
    big_ob.o.nodes = big_ob.nodes;
    big_ob.o.n_nodes = FO_MAX_NODES + 1;
    fo_engine_plan(&spec, &mem, &big_ob.o, &big_plan);
    CHECK_EQ_INT(big_plan.n_actions, 0);
    CHECK_EQ_STR(big_plan.memory.current, mem.current);
    CHECK_EQ_STR(big_plan.memory.target, mem.target);
    CHECK(big_plan.n_events >= 1);
    /* Exactly FO_MAX_NODES is still planned (all of them old: evacuations). */
    big_ob.o.n_nodes = FO_MAX_NODES;
    fo_engine_plan(&spec, &mem, &big_ob.o, &big_plan);
    CHECK(plan_insane(&spec, &big_ob.o, &big_plan) == NULL);
    CHECK_EQ_INT(big_plan.n_actions, 3); /* ENSURE B0..B2 */
    fo_spec_free(&spec);
}

static void test_node_names(void)
{
    char name[FO_NODE_NAME_MAX], r[FO_REV_BUF] = "";
    uint32_t ord = 99;
    for (uint32_t o = 0; o < FO_REPLICAS_MAX; o++) {
        fo_node_name(name, "demo", "0123456789", o);
        CHECK(fo_node_name_parse(name, "demo", r, &ord));
        CHECK_EQ_STR(r, "0123456789");
        CHECK_EQ_INT(ord, o);
    }
    fo_node_name(name, "demo", "abcdef0123", 7);
    CHECK_EQ_STR(name, "demo-abcdef0123-7");
    /* The longest cluster name fits. */
    char cl[64];
    memset(cl, 'x', 63);
    cl[63] = '\0';
    fo_node_name(name, cl, "abcdef0123", 63);
    CHECK_EQ_INT(strlen(name), 63 + 1 + 10 + 1 + 2);
    CHECK(fo_node_name_parse(name, cl, r, &ord));
    CHECK_EQ_INT(ord, 63);

    static const char *const refused[] = {
        "other-0123456789-0",   /* wrong cluster */
        "demo2-0123456789-0",   /* a longer cluster name */
        "dem-0123456789-0",     /* a shorter one */
        "demo-012345678g-0",    /* bad hex */
        "demo-012345678A-0",    /* upper case */
        "demo-012345678-0",     /* 9 digits */
        "demo-01234567890-0",   /* 11 digits */
        "demo-0123456789-64",   /* ordinal 64 */
        "demo-0123456789-100",  /* ordinal 100 */
        "demo-0123456789-1000", /* 4 digits */
        "demo-0123456789-01",   /* leading zero */
        "demo-0123456789-00",   /* leading zero */
        "demo-0123456789-",     /* no ordinal */
        "demo-0123456789-1a",   /* junk after */
        "demo-0123456789-+1",   /* sign */
        "demo-0123456789-1 ",   /* space */
        "demo-0123456789",      /* no ordinal at all */
        "demo-0123456789-0-0",  /* another cluster's node */
        "demo",                 /* the cluster only */
        "",                     /* nothing */
        "demo_0123456789-0",    /* wrong separator */
        "demo-0123456789_0",    /* wrong separator */
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        ord = 77;
        snprintf(r, sizeof r, "unchanged");
        if (!CHECK(!fo_node_name_parse(refused[i], "demo", r, &ord)))
            fprintf(stderr, "    accepted \"%s\"\n", refused[i]);
        CHECK_EQ_INT(ord, 77);
        CHECK_EQ_STR(r, "unchanged");
    }
    CHECK(fo_node_name_parse("demo-0123456789-0", "demo", r, &ord) && ord == 0);
    CHECK(fo_node_name_parse("demo-0123456789-63", "demo", r, &ord) && ord == 63);
    CHECK(fo_node_name_parse("demo-0-0123456789-5", "demo-0", r, &ord) && ord == 5);

    fo_phase_t ph;
    for (int p = FO_PHASE_PENDING; p <= FO_PHASE_ROLLING_BACK; p++) {
        CHECK(fo_phase_parse(fo_phase_name((fo_phase_t)p), &ph));
        CHECK_EQ_INT(ph, p);
    }
    CHECK(!fo_phase_parse("running", &ph));
    CHECK_EQ_STR(fo_phase_name((fo_phase_t)99), "?");
    fo_evac_state_t es;
    for (int e = FO_EVAC_NONE; e <= FO_EVAC_PROHIBITING; e++) {
        CHECK(fo_evac_state_parse(fo_evac_state_name((fo_evac_state_t)e), &es));
        CHECK_EQ_INT(es, e);
    }
    CHECK(!fo_evac_state_parse("Prohibiting", &es));
}

/* ---- the simulated world ---- */

#define SIM_MIG 8       /* migrate_to kept per node (the simulations use <= 5) */
#define SIM_READY 3     /* ticks from start to ready */
#define SIM_EVICT 40    /* connections or sessions moved per tick */
#define SIM_CLIENTS 100 /* connections and sessions per blue node at the start */

typedef struct snode {
    fo_obs_node_t o;
    int ticks; /* since (re)start, or since terminating */
    int evac_ticks;
    char mig[SIM_MIG][FO_NODE_NAME_MAX];
    size_t n_mig;
} snode_t;

typedef struct sim {
    snode_t nodes[FO_MAX_NODES];
    size_t n;
    char ghosts[FO_MAX_NODES][FO_NODE_NAME_MAX]; /* gone; still listed for a tick */
    size_t n_ghosts;
    char lb[FO_MAX_NODES][FO_NODE_NAME_MAX];
    size_t n_lb;
    int64_t now;
    /* the view handed to the engine */
    fo_obs_node_t view[FO_MAX_NODES];
    const char *lbp[FO_MAX_NODES];
    const char *memp[2 * FO_MAX_NODES];
    fo_observed_t o;
    /* what happened */
    char evac_log[256][FO_NODE_NAME_MAX]; /* evacuation starts, in order */
    size_t n_evac_log;
    char create_log[256][FO_NODE_NAME_MAX]; /* nodes created, in order */
    size_t n_create_log;
    unsigned bad_migrate;  /* EVACUATE whose migrate_to is not the target nodes */
    unsigned early_create; /* Rolling: a new node created while its ordinal's old one exists */
} sim_t;

/* Invariants and counters over a run. */
typedef struct stats {
    char target; /* revision letter being rolled out */
    uint32_t replicas;
    unsigned ticks, plans, drops, doubles, insane;
    char insane_why[256];
    size_t min_capacity, max_evacuating;
    int64_t all_ready_at, switched_at; /* first tick: every target ready; routed to them */
    unsigned old_routed_after_switch;
} stats_t;

static int sim_find(const sim_t *w, const char *name)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->nodes[i].o.name, name) == 0)
            return (int)i;
    return -1;
}

static snode_t *sim_add(sim_t *w, const char *rev_, uint32_t ord, bool ready)
{
    if (w->n >= FO_MAX_NODES)
        return NULL;
    snode_t *s = &w->nodes[w->n++];
    memset(s, 0, sizeof *s);
    fo_node_name(s->o.name, CLUSTER, rev_, ord);
    copy_rev(s->o.revision, rev_);
    s->o.ordinal = ord;
    s->o.running = true;
    s->o.ready = s->o.ever_ready = ready;
    return s;
}

/* A running cluster of revision `letter`, routed, each node with clients. */
static void sim_init(sim_t *w, char letter, uint32_t n)
{
    memset(w, 0, sizeof *w);
    w->now = T0;
    for (uint32_t i = 0; i < n; i++) {
        snode_t *s = sim_add(w, rev(letter), i, true);
        s->o.conns = s->o.sessions = SIM_CLIENTS;
        memcpy(w->lb[w->n_lb++], s->o.name, FO_NODE_NAME_MAX);
    }
}

static void sim_observe(sim_t *w)
{
    size_t nm = 0;
    for (size_t i = 0; i < w->n; i++) {
        w->view[i] = w->nodes[i].o;
        w->view[i].evac_conns = w->view[i].conns;
        w->view[i].evac_sessions = w->view[i].sessions;
        w->memp[nm++] = w->nodes[i].o.name;
    }
    for (size_t i = 0; i < w->n_ghosts; i++)
        w->memp[nm++] = w->ghosts[i];
    for (size_t i = 0; i < w->n_lb; i++)
        w->lbp[i] = w->lb[i];
    memset(&w->o, 0, sizeof w->o);
    w->o.now_ms = w->now;
    w->o.nodes = w->view;
    w->o.n_nodes = w->n;
    w->o.lb_running = true;
    w->o.lb_active = w->lbp;
    w->o.n_lb_active = w->n_lb;
    w->o.members = w->memp;
    w->o.n_members = nm;
}

/* Does what the plan says, on the world the view `o` was taken of. */
static void sim_apply(sim_t *w, const fo_observed_t *o, const fo_plan_t *p, const stats_t *st)
{
    for (size_t k = 0; k < p->n_actions; k++) {
        const fo_action_t *a = &p->actions[k];
        int i = sim_find(w, a->node);
        snode_t *s = i >= 0 ? &w->nodes[i] : NULL;
        switch (a->kind) {
        case FO_ACT_ENSURE_NODE:
            if (!s) {
                for (size_t j = 0; j < w->n; j++)
                    if (w->nodes[j].o.ordinal == a->ordinal &&
                        strcmp(w->nodes[j].o.revision, a->revision) != 0)
                        w->early_create++;
                if ((s = sim_add(w, a->revision, a->ordinal, false)) && w->n_create_log < 256)
                    snprintf(w->create_log[w->n_create_log++], FO_NODE_NAME_MAX, "%s", a->node);
            } else if (!s->o.running && !s->o.terminating) {
                s->o.running = true;
                s->o.ready = false;
                s->o.restarts++;
                s->ticks = 0;
            }
            break;
        case FO_ACT_DELETE_NODE:
            if (s && !s->o.terminating) {
                s->o.terminating = true;
                s->o.ready = false;
                s->ticks = 0;
            }
            break;
        case FO_ACT_ROUTE:
            w->n_lb = 0;
            for (size_t j = 0; j < a->n_names; j++)
                snprintf(w->lb[w->n_lb++], FO_NODE_NAME_MAX, "%s", o->nodes[a->names[j]].name);
            break;
        case FO_ACT_EVACUATE: {
            size_t good = 0;
            for (size_t j = 0; j < a->n_names; j++)
                good += strcmp(o->nodes[a->names[j]].revision, rev(st->target)) == 0;
            if (good != st->replicas || a->n_names != st->replicas)
                w->bad_migrate++;
            if (!s || !s->o.running || s->o.terminating || s->o.evac != FO_EVAC_NONE)
                break; /* 409: already evacuating */
            s->o.evac = FO_EVAC_WAITING_HEALTH_CHECK;
            s->o.evac_since_ms = w->now;
            s->evac_ticks = 0;
            s->n_mig = 0;
            for (size_t j = 0; j < a->n_names && s->n_mig < SIM_MIG; j++)
                snprintf(s->mig[s->n_mig++], FO_NODE_NAME_MAX, "%s", o->nodes[a->names[j]].name);
            if (w->n_evac_log < 256)
                snprintf(w->evac_log[w->n_evac_log++], FO_NODE_NAME_MAX, "%s", a->node);
            break;
        }
        case FO_ACT_STOP_EVACUATION:
            if (s)
                s->o.evac = FO_EVAC_NONE;
            break;
        }
    }
}

/* Moves up to SIM_EVICT of *from to the migrate_to nodes, round robin. */
static void sim_move(sim_t *w, snode_t *s, int64_t *from, bool sessions)
{
    int64_t moved = *from < SIM_EVICT ? *from : SIM_EVICT;
    *from -= moved;
    for (int64_t k = 0; k < moved && s->n_mig; k++) {
        int j = sim_find(w, s->mig[k % (int64_t)s->n_mig]);
        if (j >= 0 && w->nodes[j].o.running)
            *(sessions ? &w->nodes[j].o.sessions : &w->nodes[j].o.conns) += 1;
    }
}

/* One second passes. */
static void sim_tick(sim_t *w)
{
    w->now += 1000;
    w->n_ghosts = 0;
    for (size_t i = 0; i < w->n;) {
        snode_t *s = &w->nodes[i];
        fo_obs_node_t *n = &s->o;
        if (n->terminating && ++s->ticks >= 2) {
            memcpy(w->ghosts[w->n_ghosts++], n->name, FO_NODE_NAME_MAX);
            w->nodes[i] = w->nodes[--w->n];
            continue;
        }
        i++;
        if (!n->running || n->terminating)
            continue;
        if (!n->ready && ++s->ticks >= SIM_READY)
            n->ready = n->ever_ready = true;
        switch (n->evac) {
        case FO_EVAC_NONE:
        case FO_EVAC_PROHIBITING:
            break;
        case FO_EVAC_WAITING_HEALTH_CHECK:
            if (++s->evac_ticks >= 1) {
                n->evac = FO_EVAC_EVICTING_CONNS;
                n->evac_since_ms = w->now;
            }
            break;
        case FO_EVAC_EVICTING_CONNS:
            sim_move(w, s, &n->conns, false);
            if (n->conns == 0) {
                n->evac = FO_EVAC_WAITING_TAKEOVER;
                n->evac_since_ms = w->now;
                s->evac_ticks = 0;
            }
            break;
        case FO_EVAC_WAITING_TAKEOVER:
            if (++s->evac_ticks >= 2) {
                n->evac = FO_EVAC_EVICTING_SESSIONS;
                n->evac_since_ms = w->now;
            }
            break;
        case FO_EVAC_EVICTING_SESSIONS:
            sim_move(w, s, &n->sessions, true);
            if (n->sessions == 0) {
                n->evac = FO_EVAC_PROHIBITING;
                n->evac_since_ms = w->now;
            }
            break;
        }
    }
}

/* Invariants on the world after a tick. */
static void sim_check(const sim_t *w, stats_t *st)
{
    size_t capacity = 0, evacuating = 0, target_ready = 0, old_routed = 0, target_routed = 0;
    for (size_t i = 0; i < w->n_lb; i++) {
        int j = sim_find(w, w->lb[i]);
        const fo_obs_node_t *n = j >= 0 ? &w->nodes[j].o : NULL;
        if (n && n->running && n->ready && !n->terminating)
            capacity++;
        if (n && strcmp(n->revision, rev(st->target)) == 0 && n->ordinal < st->replicas)
            target_routed++;
        else
            old_routed++;
    }
    for (size_t i = 0; i < w->n; i++) {
        const fo_obs_node_t *n = &w->nodes[i].o;
        bool empty = n->conns == 0 && n->sessions == 0;
        if (n->running && !n->terminating && n->evac != FO_EVAC_NONE &&
            !(n->evac == FO_EVAC_PROHIBITING && empty))
            evacuating++;
        if (n->running && n->ready && strcmp(n->revision, rev(st->target)) == 0 &&
            n->ordinal < st->replicas)
            target_ready++;
    }
    if (capacity < st->min_capacity)
        st->min_capacity = capacity;
    if (evacuating > st->max_evacuating)
        st->max_evacuating = evacuating;
    if (target_ready == st->replicas && !st->all_ready_at)
        st->all_ready_at = w->now;
    if (target_routed == st->replicas && !old_routed && !st->switched_at)
        st->switched_at = w->now;
    if (st->switched_at && old_routed)
        st->old_routed_after_switch++;
}

static uint32_t sim_rand(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

static fo_plan_t sim_p1, sim_p2;

static void sim_plan(sim_t *w, const fo_spec_t *spec, const fo_memory_t *mem, fo_plan_t *p,
                     stats_t *st)
{
    fo_engine_plan(spec, mem, &w->o, p);
    st->plans++;
    const char *why = plan_insane(spec, &w->o, p);
    if (why && !st->insane++)
        snprintf(st->insane_why, sizeof st->insane_why, "tick %u: %s", st->ticks, why);
}

/*
 * One tick: observe, plan, act, one second passes. chaos: a controller that
 * restarts anywhere: some ticks its actions are lost (memory saved or not),
 * some ticks it plans twice. Returns true once the committed plan is done:
 * Running on revision `want`, nothing to do.
 */
static bool sim_step(sim_t *w, const fo_spec_t *spec, fo_memory_t *mem, bool chaos, uint32_t *seed,
                     stats_t *st, char want)
{
    const fo_plan_t *done = NULL;
    sim_observe(w);
    sim_plan(w, spec, mem, &sim_p1, st);
    if (getenv("SIM_TRACE")) {
        fprintf(stderr, "tick %u target %s:\n", st->ticks, sym_rev(rev(want)));
        print_plan(&w->o, &sim_p1);
    }
    switch (chaos ? sim_rand(seed) % 10 : 9) {
    case 0: /* crashed before acting, memory not saved */
        st->drops++;
        break;
    case 1: /* crashed before acting, memory saved */
        st->drops++;
        *mem = sim_p1.memory;
        break;
    case 2: /* planned twice on the same view, acted on the second */
        st->doubles++;
        sim_plan(w, spec, &sim_p1.memory, &sim_p2, st);
        sim_apply(w, &w->o, &sim_p2, st);
        *mem = sim_p2.memory;
        done = &sim_p2;
        break;
    case 3: /* acted, restarted, observed and planned again at once */
        st->doubles++;
        sim_apply(w, &w->o, &sim_p1, st);
        sim_observe(w);
        sim_plan(w, spec, &sim_p1.memory, &sim_p2, st);
        sim_apply(w, &w->o, &sim_p2, st);
        *mem = sim_p2.memory;
        done = &sim_p2;
        break;
    default:
        sim_apply(w, &w->o, &sim_p1, st);
        *mem = sim_p1.memory;
        done = &sim_p1;
    }
    sim_tick(w);
    st->ticks++;
    sim_check(w, st);
    return done && done->memory.phase == FO_PHASE_RUNNING && !done->memory.held[0] &&
           strcmp(done->memory.current, rev(want)) == 0 && done->n_actions == 0;
}

static void stats_init(stats_t *st, char target, uint32_t replicas)
{
    memset(st, 0, sizeof *st);
    st->target = target;
    st->replicas = replicas;
    st->min_capacity = SIZE_MAX;
}

/* Memory of a cluster Running on `letter`. */
static void mem_running(fo_memory_t *m, char letter)
{
    memset(m, 0, sizeof *m);
    set_rev(m->current, (char[]){letter, '\0'});
    set_rev(m->target, (char[]){letter, '\0'});
    m->phase = FO_PHASE_RUNNING;
    m->phase_since_ms = T0 - 3600000;
    m->step = -1;
}

static unsigned evac_starts(const sim_t *w, char letter, uint32_t ord)
{
    char name[FO_NODE_NAME_MAX];
    unsigned n = 0;
    fo_node_name(name, CLUSTER, rev(letter), ord);
    for (size_t i = 0; i < w->n_evac_log; i++)
        n += strcmp(w->evac_log[i], name) == 0;
    return n;
}

/* The world holds exactly the nodes <letter>0..n-1, all routed, ready. */
static bool world_is(const sim_t *w, char letter, uint32_t n)
{
    if (w->n != n || w->n_lb != n)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        char name[FO_NODE_NAME_MAX];
        fo_node_name(name, CLUSTER, rev(letter), i);
        int j = sim_find(w, name);
        bool routed = false;
        for (size_t k = 0; k < w->n_lb; k++)
            routed = routed || strcmp(w->lb[k], name) == 0;
        if (j < 0 || !routed || !w->nodes[j].o.ready)
            return false;
    }
    return true;
}

static sim_t *sim_new(void)
{
    sim_t *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    return w;
}

/* A BlueGreen upgrade A -> B of 3 nodes, with the invariants of engine.h. */
static void sim_blue_green(const char *desc, unsigned conc, bool chaos, uint32_t seed)
{
    sim_t *w = sim_new();
    fo_spec_t spec;
    fo_memory_t mem;
    stats_t st;
    unsigned before = check_state_.failures;
    if (!make_spec(&spec, desc)) {
        free(w);
        return;
    }
    sim_init(w, 'A', 3);
    mem_running(&mem, 'A');
    stats_init(&st, 'B', 3);
    bool done = false;
    while (!done && st.ticks < 2000)
        done = sim_step(w, &spec, &mem, chaos, &seed, &st, 'B');
    CHECK(done);
    CHECK_EQ_INT(st.insane, 0);
    CHECK(world_is(w, 'B', 3));
    CHECK_EQ_STR(sym_rev(mem.current), "B");
    CHECK_EQ_STR(mem.held, "");
    CHECK(st.min_capacity >= 3);                 /* capacity never drops */
    CHECK_EQ_INT(st.old_routed_after_switch, 0); /* blue never routed after the switch */
    CHECK(st.switched_at - st.all_ready_at >= (int64_t)spec.initial_delay_s * 1000);
    for (uint32_t i = 0; i < 3; i++) {
        CHECK_EQ_INT(evac_starts(w, 'A', i), 1); /* every blue node once */
        CHECK_EQ_INT(evac_starts(w, 'B', i), 0);
    }
    CHECK(st.max_evacuating <= conc && st.max_evacuating >= 1);
    CHECK_EQ_INT(w->bad_migrate, 0);
    if (conc == 1 && CHECK_EQ_INT(w->n_evac_log, 3)) { /* highest ordinal first */
        char s[FO_NODE_NAME_MAX];
        const char *order[] = {"A2", "A1", "A0"};
        for (int i = 0; i < 3; i++) {
            sym(w->evac_log[i], s, sizeof s);
            CHECK_EQ_STR(s, order[i]);
        }
    }
    if (chaos)
        CHECK(st.drops > 0 && st.doubles > 0);
    if (check_state_.failures != before)
        fprintf(stderr,
                "  in simulation \"%s\" chaos %d seed %u: %u ticks, %u plans, %u dropped, %u "
                "doubled; min capacity %zu, max evacuating %zu; %s\n",
                desc, chaos, seed, st.ticks, st.plans, st.drops, st.doubles, st.min_capacity,
                st.max_evacuating, st.insane_why);
    fo_spec_free(&spec);
    free(w);
}

static void test_sim_blue_green(void)
{
    sim_blue_green("B 3 delay=5", 1, false, 0);
    sim_blue_green("B 3 delay=5 conc=2", 2, false, 0);
    sim_blue_green("B 3 delay=0 conc=3", 3, false, 0);
}

static void test_sim_blue_green_restarts(void)
{
    for (uint32_t seed = 1; seed <= 40; seed++) {
        sim_blue_green("B 3 delay=5", 1, true, seed);
        sim_blue_green("B 3 delay=5 conc=2", 2, true, seed * 7919u);
    }
}

/* Rolling 3 -> 3: the baseline. */
static void sim_rolling(bool chaos, uint32_t seed)
{
    sim_t *w = sim_new();
    fo_spec_t spec;
    fo_memory_t mem;
    stats_t st;
    unsigned before = check_state_.failures;
    if (!make_spec(&spec, "B 3 rolling")) {
        free(w);
        return;
    }
    sim_init(w, 'A', 3);
    mem_running(&mem, 'A');
    stats_init(&st, 'B', 3);
    bool done = false;
    while (!done && st.ticks < 2000)
        done = sim_step(w, &spec, &mem, chaos, &seed, &st, 'B');
    CHECK(done);
    CHECK_EQ_INT(st.insane, 0);
    CHECK(world_is(w, 'B', 3));
    CHECK_EQ_STR(sym_rev(mem.current), "B");
    CHECK(st.min_capacity < 3);  /* capacity dips: what BlueGreen avoids */
    CHECK(st.min_capacity >= 2); /* but one node at a time */
    CHECK_EQ_INT(w->n_evac_log, 0);
    CHECK_EQ_INT(w->early_create, 0);
    if (CHECK_EQ_INT(w->n_create_log, 3)) {
        char s[FO_NODE_NAME_MAX];
        const char *order[] = {"B2", "B1", "B0"};
        for (int i = 0; i < 3; i++) {
            sym(w->create_log[i], s, sizeof s);
            CHECK_EQ_STR(s, order[i]);
        }
    }
    if (check_state_.failures != before)
        fprintf(stderr, "  in Rolling simulation, chaos %d seed %u: %u ticks; %s\n", chaos, seed,
                st.ticks, st.insane_why);
    fo_spec_free(&spec);
    free(w);
}

static void test_sim_rolling(void)
{
    sim_rolling(false, 0);
    for (uint32_t seed = 1; seed <= 20; seed++)
        sim_rolling(true, seed);
}

/* Runs until `pred` or done; returns whether done. */
static bool sim_run_until(sim_t *w, const fo_spec_t *spec, fo_memory_t *mem, bool chaos,
                          uint32_t *seed, stats_t *st, char want, unsigned max_ticks,
                          bool (*pred)(const sim_t *))
{
    for (unsigned i = 0; i < max_ticks; i++) {
        if (pred && pred(w))
            return false;
        if (sim_step(w, spec, mem, chaos, seed, st, want))
            return true;
    }
    return false;
}

static bool a2_gone(const sim_t *w)
{
    char name[FO_NODE_NAME_MAX];
    fo_node_name(name, CLUSTER, rev('A'), 2);
    return w->n_evac_log > 0 && sim_find(w, name) < 0;
}

/* Revert to A after the switch, once A2 was evacuated and deleted. */
static void sim_revert(bool chaos, uint32_t seed)
{
    sim_t *w = sim_new();
    fo_spec_t b, a;
    fo_memory_t mem;
    stats_t st;
    unsigned before = check_state_.failures;
    stats_init(&st, 'B', 3);
    if (!make_spec(&b, "B 3 delay=5 timeout=3600") || !make_spec(&a, "A 3 delay=5 timeout=3600"))
        goto out;
    sim_init(w, 'A', 3);
    mem_running(&mem, 'A');
    stats_init(&st, 'B', 3);
    CHECK(!sim_run_until(w, &b, &mem, chaos, &seed, &st, 'B', 2000, a2_gone));
    CHECK(a2_gone(w));
    unsigned at = st.ticks;
    size_t min_before = st.min_capacity;
    stats_init(&st, 'A', 3);
    st.ticks = at;
    bool done = sim_run_until(w, &a, &mem, chaos, &seed, &st, 'A', 2000, NULL);
    CHECK(done);
    CHECK(st.ticks - at < 300); /* well within the phase timeout */
    CHECK_EQ_INT(st.insane, 0);
    CHECK(world_is(w, 'A', 3));
    CHECK_EQ_STR(sym_rev(mem.current), "A");
    CHECK(min_before >= 3);
    CHECK(st.min_capacity >= 3);
    CHECK_EQ_INT(st.old_routed_after_switch, 0);
    CHECK_EQ_INT(evac_starts(w, 'A', 0), 0);
    CHECK(evac_starts(w, 'A', 1) <= 1);
    for (uint32_t i = 0; i < 3; i++)
        CHECK(evac_starts(w, 'B', i) <= 1);
    CHECK(st.max_evacuating <= 1);
out:
    if (check_state_.failures != before)
        fprintf(stderr, "  in revert simulation, chaos %d seed %u: %u ticks; %s\n", chaos, seed,
                st.ticks, st.insane_why);
    fo_spec_free(&a);
    fo_spec_free(&b);
    free(w);
}

static void test_sim_revert(void)
{
    sim_revert(false, 0);
    for (uint32_t seed = 1; seed <= 20; seed++)
        sim_revert(true, seed);
}

static void print_evac_log(const sim_t *w)
{
    char s[FO_NODE_NAME_MAX];
    fprintf(stderr, "    evacuations started:");
    for (size_t i = 0; i < w->n_evac_log; i++) {
        sym(w->evac_log[i], s, sizeof s);
        fprintf(stderr, " %s", s);
    }
    fprintf(stderr, "\n");
}

/* A third revision C once A2 was evacuated: B drained before the rest of A. */
static void sim_third(bool chaos, uint32_t seed)
{
    sim_t *w = sim_new();
    fo_spec_t b, c;
    fo_memory_t mem;
    stats_t st;
    unsigned before = check_state_.failures;
    stats_init(&st, 'B', 3);
    if (!make_spec(&b, "B 3 delay=5") || !make_spec(&c, "C 3 delay=5"))
        goto out;
    sim_init(w, 'A', 3);
    mem_running(&mem, 'A');
    stats_init(&st, 'B', 3);
    CHECK(!sim_run_until(w, &b, &mem, chaos, &seed, &st, 'B', 2000, a2_gone));
    size_t evacs_before = w->n_evac_log, min_before = st.min_capacity;
    stats_init(&st, 'C', 3);
    bool done = sim_run_until(w, &c, &mem, chaos, &seed, &st, 'C', 2000, NULL);
    CHECK(done);
    CHECK_EQ_INT(st.insane, 0);
    CHECK(world_is(w, 'C', 3));
    CHECK(min_before >= 3);
    CHECK(st.min_capacity >= 3);
    CHECK_EQ_INT(st.old_routed_after_switch, 0);
    CHECK(st.max_evacuating <= 1);
    /* After C's switch: every B node evacuated once, before A0. */
    size_t a0_at = SIZE_MAX, last_b = 0;
    char s[FO_NODE_NAME_MAX];
    for (size_t i = evacs_before; i < w->n_evac_log; i++) {
        sym(w->evac_log[i], s, sizeof s);
        if (strcmp(s, "A0") == 0 && a0_at == SIZE_MAX)
            a0_at = i;
        if (s[0] == 'B')
            last_b = i;
    }
    for (uint32_t i = 0; i < 3; i++) {
        CHECK_EQ_INT(evac_starts(w, 'B', i), 1);
        CHECK(evac_starts(w, 'A', i) <= 1);
    }
    CHECK(a0_at != SIZE_MAX && last_b < a0_at);
out:
    if (check_state_.failures != before) {
        fprintf(stderr, "  in third-revision simulation, chaos %d seed %u: %u ticks; %s\n", chaos,
                seed, st.ticks, st.insane_why);
        print_evac_log(w);
    }
    fo_spec_free(&b);
    fo_spec_free(&c);
    free(w);
}

static void test_sim_third_revision(void)
{
    sim_third(false, 0);
    for (uint32_t seed = 1; seed <= 20; seed++)
        sim_third(true, seed);
}

/* Scale down 5 -> 3 (same revision): 4 then 3 evacuated, capacity kept. */
static void test_sim_scale_down(void)
{
    sim_t *w = sim_new();
    fo_spec_t spec;
    fo_memory_t mem;
    stats_t st;
    uint32_t seed = 0;
    REQUIRE(make_spec(&spec, "A 3"));
    sim_init(w, 'A', 5);
    mem_running(&mem, 'A');
    stats_init(&st, 'A', 3);
    bool done = false;
    while (!done && st.ticks < 2000)
        done = sim_step(w, &spec, &mem, false, &seed, &st, 'A');
    CHECK(done);
    CHECK_EQ_INT(st.insane, 0);
    CHECK(world_is(w, 'A', 3));
    CHECK(st.min_capacity >= 3);
    CHECK_EQ_INT(st.max_evacuating, 1);
    if (CHECK_EQ_INT(w->n_evac_log, 2)) {
        char s[FO_NODE_NAME_MAX];
        sym(w->evac_log[0], s, sizeof s);
        CHECK_EQ_STR(s, "A4");
        sym(w->evac_log[1], s, sizeof s);
        CHECK_EQ_STR(s, "A3");
    }
    fo_spec_free(&spec);
    free(w);
}

CHECK_MAIN(T(test_node_names), T(test_no_spec), T(test_first_apply), T(test_steady_state),
           T(test_blue_green), T(test_blue_dies), T(test_third_revision), T(test_revert),
           T(test_green_not_ready), T(test_abort), T(test_rolling), T(test_clamping),
           T(test_replicas_64), T(test_too_many_nodes), T(test_sim_blue_green),
           T(test_sim_blue_green_restarts), T(test_sim_rolling), T(test_sim_revert),
           T(test_sim_third_revision), T(test_sim_scale_down))
