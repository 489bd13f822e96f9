/* The reason code table of MQTT 5.0 section 2.4 and the packet type names. */
#include "internal.h"

#define C_ FMQ_IN(FMQ_CONNACK)
#define PA FMQ_IN(FMQ_PUBACK)
#define PR FMQ_IN(FMQ_PUBREC)
#define PL FMQ_IN(FMQ_PUBREL)
#define PC FMQ_IN(FMQ_PUBCOMP)
#define SA FMQ_IN(FMQ_SUBACK)
#define UA FMQ_IN(FMQ_UNSUBACK)
#define D_ FMQ_IN(FMQ_DISCONNECT)
#define AU FMQ_IN(FMQ_AUTH)

typedef struct {
    uint8_t code;
    uint32_t packets; /* FMQ_IN() bits of the packets it may appear in */
    const char *name;
} reason_row_t;

/* Code 0x00 has a different name per packet; the table keeps the generic one. */
static const reason_row_t reasons[] = {
    {0x00, C_ | PA | PR | PL | PC | SA | UA | D_ | AU, "Success"},
    {0x01, SA, "Granted QoS 1"},
    {0x02, SA, "Granted QoS 2"},
    {0x04, D_, "Disconnect with Will Message"},
    {0x10, PA | PR, "No matching subscribers"},
    {0x11, UA, "No subscription existed"},
    {0x18, AU, "Continue authentication"},
    {0x19, AU, "Re-authenticate"},
    {0x80, C_ | PA | PR | SA | UA | D_, "Unspecified error"},
    {0x81, C_ | D_, "Malformed Packet"},
    {0x82, C_ | D_, "Protocol Error"},
    {0x83, C_ | PA | PR | SA | UA | D_, "Implementation specific error"},
    {0x84, C_, "Unsupported Protocol Version"},
    {0x85, C_, "Client Identifier not valid"},
    {0x86, C_, "Bad User Name or Password"},
    {0x87, C_ | PA | PR | SA | UA | D_, "Not authorized"},
    {0x88, C_, "Server unavailable"},
    {0x89, C_ | D_, "Server busy"},
    {0x8A, C_, "Banned"},
    {0x8B, D_, "Server shutting down"},
    {0x8C, C_ | D_, "Bad authentication method"},
    {0x8D, D_, "Keep Alive timeout"},
    {0x8E, D_, "Session taken over"},
    {0x8F, SA | UA | D_, "Topic Filter invalid"},
    {0x90, C_ | PA | PR | D_, "Topic Name invalid"},
    {0x91, PA | PR | SA | UA, "Packet Identifier in use"},
    {0x92, PL | PC, "Packet Identifier not found"},
    {0x93, D_, "Receive Maximum exceeded"},
    {0x94, D_, "Topic Alias invalid"},
    {0x95, C_ | D_, "Packet too large"},
    {0x96, D_, "Message rate too high"},
    {0x97, C_ | PA | PR | SA | D_, "Quota exceeded"},
    {0x98, D_, "Administrative action"},
    {0x99, C_ | PA | PR | D_, "Payload format invalid"},
    {0x9A, C_ | D_, "Retain not supported"},
    {0x9B, C_ | D_, "QoS not supported"},
    {0x9C, C_ | D_, "Use another server"},
    {0x9D, C_ | D_, "Server moved"},
    {0x9E, SA | D_, "Shared Subscriptions not supported"},
    {0x9F, C_ | D_, "Connection rate exceeded"},
    {0xA0, D_, "Maximum connect time"},
    {0xA1, SA | D_, "Subscription Identifiers not supported"},
    {0xA2, SA | D_, "Wildcard Subscriptions not supported"},
};

static const reason_row_t *find(uint8_t rc)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].code == rc)
            return &reasons[i];
    return NULL;
}

const char *fmq_reason_name(uint8_t rc)
{
    const reason_row_t *r = find(rc);
    return r ? r->name : NULL;
}

bool fmq_reason_valid_for(fmq_type_t type, uint8_t rc)
{
    const reason_row_t *r = find(rc);
    return r && (unsigned)type < 16 && (r->packets & FMQ_IN(type)) != 0;
}

uint8_t fmq_connack_v3_code(uint8_t v5_reason)
{
    switch (v5_reason) {
    case FMQ_RC_SUCCESS:
        return FMQ_V3_ACCEPTED;
    case FMQ_RC_UNSUPPORTED_PROTOCOL_VERSION:
        return FMQ_V3_REFUSED_PROTOCOL_VERSION;
    case FMQ_RC_CLIENT_ID_NOT_VALID:
        return FMQ_V3_REFUSED_IDENTIFIER;
    case FMQ_RC_BAD_USERNAME_OR_PASSWORD:
    case FMQ_RC_BAD_AUTH_METHOD:
        return FMQ_V3_REFUSED_BAD_USERNAME_PASSWORD;
    case FMQ_RC_NOT_AUTHORIZED:
    case FMQ_RC_BANNED:
        return FMQ_V3_REFUSED_NOT_AUTHORIZED;
    default: /* busy, unavailable, use another server, quota, ... */
        return FMQ_V3_REFUSED_SERVER_UNAVAILABLE;
    }
}

const char *fmq_type_name(unsigned type)
{
    static const char *const names[16] = {
        "RESERVED", "CONNECT",  "CONNACK", "PUBLISH",     "PUBACK",   "PUBREC",
        "PUBREL",   "PUBCOMP",  "SUBSCRIBE", "SUBACK",    "UNSUBSCRIBE", "UNSUBACK",
        "PINGREQ",  "PINGRESP", "DISCONNECT", "AUTH",
    };
    return type < 16 ? names[type] : "RESERVED";
}
