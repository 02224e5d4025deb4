/* kafka-mock.c - runs librdkafka's mock Kafka cluster (the real wire protocol, in memory) on
 * 127.0.0.1 for the tests, since no Kafka distribution is installable here.
 *
 * Prints the bootstrap address on the first line of stdout, then reads commands, one per
 * line, from stdin, answering "ok" or "error: ..." to each:
 *   topic NAME PARTITIONS   create a topic
 *   down [BROKER_ID]        take broker(s) down (connections refused: an outage)
 *   up [BROKER_ID]          bring them back
 *   quit                    exit (also on EOF or SIGTERM)
 * Usage: kafka-mock [BROKERS]   (default 1) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	int brokers = argc > 1 ? atoi(argv[1]) : 1;
	char errstr[256], line[512];
	rd_kafka_conf_t *conf;
	rd_kafka_mock_cluster_t *mc;
	rd_kafka_t *rk;
	struct sigaction sa;

	if (brokers < 1 || brokers > 9) {
		fprintf(stderr, "usage: kafka-mock [BROKERS 1-9]\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "kafka-mock: %s\n", errstr);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(rk, brokers);
	if (!mc) {
		fprintf(stderr, "kafka-mock: cannot create the mock cluster\n");
		rd_kafka_destroy(rk);
		return 1;
	}
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);

	while (!stop && fgets(line, sizeof(line), stdin)) {
		char name[256];
		int n, id = -1;
		rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

		if (sscanf(line, "topic %255s %d", name, &n) == 2) {
			err = rd_kafka_mock_topic_create(mc, name, n, brokers < 3 ? brokers : 3);
		} else if (!strncmp(line, "down", 4) || !strncmp(line, "up", 2)) {
			int down = line[0] == 'd';
			sscanf(line + (down ? 4 : 2), "%d", &id);
			for (int b = 1; b <= brokers && !err; b++)
				if (id < 0 || id == b)
					err = down ? rd_kafka_mock_broker_set_down(mc, b)
						   : rd_kafka_mock_broker_set_up(mc, b);
		} else if (!strncmp(line, "quit", 4)) {
			break;
		} else {
			printf("error: unknown command\n");
			fflush(stdout);
			continue;
		}
		if (err)
			printf("error: %s\n", rd_kafka_err2str(err));
		else
			printf("ok\n");
		fflush(stdout);
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
