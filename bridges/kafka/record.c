/* record.c - librdkafka glue shared by the Kafka bridge's files: a client made from a
 * configuration, and the mapping's view of a consumed record. */
#include <stdio.h>
#include <string.h>

#include "record.h"

/* The client for `conf` (which it then owns); NULL with "what: reason" in err, `conf` freed. */
rd_kafka_t *kafka_new_client(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what, char *err, size_t len)
{
	char e[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, e, sizeof(e));

	if (!rk) {
		snprintf(err, len, "%s: %s", what, e);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

void kafka_msg_of(const rd_kafka_message_t *m, struct sgm_msg *msg, struct sgm_header *h)
{
	rd_kafka_headers_t *hdrs = NULL;
	size_t idx = 0;

	memset(msg, 0, sizeof(*msg));
	msg->topic = rd_kafka_topic_name(m->rkt);
	msg->key = m->key;
	msg->key_len = m->key_len;
	msg->value = m->payload;
	msg->value_len = m->len;
	if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		const void *v;
		size_t l;
		while (msg->n_headers < SGM_MAX_HEADERS &&
		       rd_kafka_header_get_all(hdrs, idx++, &h[msg->n_headers].name, &v, &l) == RD_KAFKA_RESP_ERR_NO_ERROR) {
			h[msg->n_headers].value = v ? v : "";
			h[msg->n_headers].len = v ? l : 0;
			msg->n_headers++;
		}
	}
	msg->headers = h;
}
