/* record.h - librdkafka glue shared by the Kafka bridge's files (record.c). */
#ifndef SG_KAFKA_RECORD_H
#define SG_KAFKA_RECORD_H

#include <librdkafka/rdkafka.h>

#include "mapping.h"

/* A client for `conf` (then owned); NULL with "what: reason" in err, `conf` freed. */
rd_kafka_t *kafka_new_client(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what, char *err, size_t len);
/* The mapping's view of a consumed record; `h` holds its headers (SGM_MAX_HEADERS). */
void kafka_msg_of(const rd_kafka_message_t *m, struct sgm_msg *msg, struct sgm_header *h);

#endif
