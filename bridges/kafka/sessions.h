/* sessions.h - connection state recovery kept in Kafka (a namespace's
 * recovery.sessions_topic): the sessions table loaded from the topic, the positions the
 * namespace's consumption stands at, and the replays of what a recovered socket missed. */
#ifndef SG_KAFKA_SESSIONS_H
#define SG_KAFKA_SESSIONS_H

#include "instance.h"

struct ksess *ksess_new(struct kafka *k);
/* Binding `binding` keeps its sessions in `topic` (before start). */
int ksess_topic(struct ksess *s, int binding, const char *topic, char *err, size_t len);
/* Starts the loader (every sessions topic from its beginning) and the replayer. */
int ksess_start(struct ksess *s, char *err, size_t len);
/* Whether every sessions partition has been read to its end once (readiness). */
int ksess_loaded(const struct ksess *s);
/* A record the main consumer handed over: the consumption's position moves past it. */
void ksess_seen(struct ksess *s, const rd_kafka_message_t *m);
/* The delivery report of a session record or tombstone. */
void ksess_produced(struct ksess *s, const rd_kafka_message_t *m);
/* Ends the replays (each socket gets what was fetched) and stops reading (plugin stop()). */
void ksess_stop(struct ksess *s);
void ksess_free(struct ksess *s);

/* The plugin's session entry points (struct sg_bridge_plugin, ABI 1.6). */
void ksess_save(void *inst, int binding, const json_t *session);
void ksess_drop(void *inst, int binding, const char *pid);
json_t *ksess_find(void *inst, int binding, const char *nsp, const char *pid);
int ksess_replay(void *inst, int binding, const char *sid, const json_t *session, const char *offset);

#endif
