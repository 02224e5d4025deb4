/* topic.h - MQTT topic names for the MQTT bridge: to_clients templates as subscription
 * filters with a {room} and an {event} level, topic matching and extraction, and the
 * percent-escaping that keeps every placeholder value inside one topic level. Pure code
 * (no libmosquitto, no host calls), so the unit tests can drive it directly. */
#ifndef MQ_TOPIC_H
#define MQ_TOPIC_H

#include <stddef.h>

#include "siogate/bridge.h"
#include "strbuf.h"

#define MQ_TOPIC_MAX 65535   /* bytes: MQTT's UTF-8 string limit */
#define MQ_ROOM_MAX 1024     /* bytes, with the NUL (what the shared mapping accepts) */
#define MQ_EVENT_MAX 256

/* A to_clients topic as MQTT sees it. Owned strings; free with mq_topic_clear. */
struct mq_topic {
	char *filter;                /* what is subscribed: placeholder levels become '+' */
	int room_level;              /* index of the {room} level, or -1 */
	int event_level;             /* index of the {event} level, or -1 */
	char *room_pre, *room_suf;   /* the literal text around {room} within its level */
	char *event_pre, *event_suf;
};

/* Parses a to_clients topic: an MQTT filter ('+' and a final '#' allowed) in which one level
 * may hold {room} and another {event}, each with literal text around it in that level
 * ("chat/{room}/out", "ev/{room}/{event}", "chat/room-{room}"). Returns 0, or -1 with why. */
int mq_topic_parse(const char *tpl, struct mq_topic *t, char *why, size_t whylen);
void mq_topic_clear(struct mq_topic *t);

/* Does `topic` (a topic name) match `t`? Returns 1 and fills room and event (decoded; ""
 * when the template has none), 0 when it does not match, or -1 when it matches but the
 * room or event level cannot be used (empty, too long, a %00 escape), with why. */
int mq_topic_match(const struct mq_topic *t, const char *topic, char *room, size_t roomlen,
		   char *event, size_t eventlen, char *why, size_t whylen);

/* MQTT's matching of a topic name against a subscription filter (1 or 0), including the
 * rule that '+' and '#' at the start do not match topics that start with '$'. */
int mq_filter_match(const char *filter, const char *topic);

/* A valid subscription filter: non-empty, at most MQ_TOPIC_MAX bytes, '+' and '#' only as
 * whole levels, '#' last; no "$share/" (every replica must see every message). 0 or -1. */
int mq_filter_check(const char *filter, char *why, size_t whylen);
/* A valid topic name to publish to: a filter without wildcards, not starting with '$'. */
int mq_name_check(const char *topic, char *why, size_t whylen);

/* Appends `n` bytes of `s` escaped for one topic level: '%', '/', '+', '#', control
 * characters (U+0000-U+001F, U+007F-U+009F) as %XX (uppercase hex), and a '$' as %24 when
 * it would start the topic (`at_start`). Everything else is kept as is. */
void mq_escape(struct sg_strbuf *out, const char *s, size_t n, int at_start);
/* Decodes %XX escapes (any two hex digits; a '%' not followed by two is kept as is) into
 * out (outlen bytes, NUL-terminated). Returns the length, or -1 when it does not fit or
 * decodes to a NUL byte. */
long mq_unescape(const char *s, size_t n, char *out, size_t outlen);

/* Checks the literal parts of a from_clients topic template ("up/{nsp}/{room}"): no '+' or
 * '#', not starting with '$' (placeholders themselves are checked by the shared mapping). */
int mq_up_template_check(const char *tpl, char *why, size_t whylen);
/* Expands a from_clients topic template for a client event, like the shared mapping does
 * ({nsp} without its leading '/', other '/' as '.', "/" as "_"; {event}, {sid}, {room} from
 * the `room_field` of the first argument, {auth.K}, {query.K}, {claims.K}), with every value
 * escaped by mq_escape. Returns a new string, or NULL with why (a value is missing, or the
 * topic is too long). */
char *mq_expand_topic(const char *tpl, const struct sg_bridge_event *ev, const char *room_field,
		      char *why, size_t whylen);

#endif
