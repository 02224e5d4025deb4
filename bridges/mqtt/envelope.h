/* envelope.h - the JSON envelope of the MQTT bridge: the routing fields MQTT 5 carries in
 * user properties (sio-rooms, sio-event, ...), carried in the payload instead, for MQTT
 * 3.1.1 (which has no properties) or by choice. Pure code, unit-tested. */
#ifndef MQ_ENVELOPE_H
#define MQ_ENVELOPE_H

#include <stddef.h>

#include "mapping.h"

#define MQ_ENV_MAX_HEADERS 12

/* A downstream envelope, turned into the headers and the value the shared mapping reads.
 * Everything is owned; free with mq_env_clear. */
struct mq_env {
	struct sgm_header h[MQ_ENV_MAX_HEADERS];
	char *hv[MQ_ENV_MAX_HEADERS];    /* the header values (h[i].value points here) */
	size_t n;
	char *value;                     /* the bytes of the value (JSON text, or binary) */
	size_t value_len;
};

/* Parses an envelope payload:
 *   {"event":"e", "rooms":["a","b"] | "a,b", "except":[...] | "x,y", "namespace":"/chat",
 *    "sid":"...", "volatile":true, "reply_to":"t", "ack_id":"…", "ack_timeout_ms":N (a request to
 *    the recipients, or with ack_id alone the answer to a client's request), and at most one of
 *    "args":[...] (the arguments), "value":<any JSON> (one argument), "binary":"<base64>"}
 * Unknown members are ignored. Returns 0, or -1 with why (not a JSON object, a member of the
 * wrong type, a room name with ',' or NUL...). */
int mq_env_parse(const void *payload, size_t len, struct mq_env *e, char *why, size_t whylen);
void mq_env_clear(struct mq_env *e);

/* Builds the upstream envelope of a message the mapping built:
 *   {"namespace":..,"event":..,"sid":..[,"rooms":..][,"reply_to":..,"ack_id":..][,"headers":{..}],"args":[..]}
 * Returns a new NUL-terminated string (its length in *len), or NULL when out of memory. */
char *mq_env_build(const struct sgm_out *o, size_t *len);

/* The dead letter of a malformed message for a broker without properties (MQTT 3.1.1):
 *   {"error":why,"topic":topic,"payload":"<text>"}  (or "payload_base64" when the payload
 * is not UTF-8). Returns a new string (length in *len), or NULL. */
char *mq_dead_letter_json(const char *why, const char *topic, const void *payload, size_t plen, size_t *len);

#endif
