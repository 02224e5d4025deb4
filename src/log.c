/* log.c - formats log lines (text or JSON lines) and writes each with one call. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config_core.h"
#include "strbuf.h"

static enum sg_log_level g_level = SG_LOG_INFO;
static enum sg_log_format g_format = SG_LOG_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const format_names[] = {"text", "json", NULL};

/* The table stores an enum through an int: the same size with gcc and clang. */
_Static_assert(sizeof(enum sg_log_level) == sizeof(int), "enum sg_log_level is an int");
_Static_assert(sizeof(enum sg_log_format) == sizeof(int), "enum sg_log_format is an int");
/* The names are in the order of the enums. */
static const struct sg_cfg_key log_keys[] = {
	SG_CFG_KEY_ENUM("level", struct sg_log_config, level, level_names, "log level",
			SG_LOG_INFO, 0),
	SG_CFG_KEY_ENUM("format", struct sg_log_config, format, format_names, "log format",
			SG_LOG_TEXT, 0),
	SG_CFG_KEY_END
};
const struct sg_cfg_key *const sg_log_config_keys = log_keys;

void sg_log_set(enum sg_log_level level, enum sg_log_format format)
{
	g_level = level;
	g_format = format;
}

void sg_log_clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

int sg_log_enabled(enum sg_log_level level)
{
	return level <= g_level;
}

void sg_log(enum sg_log_level level, const char *component, const char *id, const char *fmt, ...)
{
	char msg[1024];
	char ts[64];
	struct timespec now;
	struct tm tm;
	va_list ap;

	if (!sg_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(now.tv_nsec / 1000000) % 1000);

	if (g_format == SG_LOG_JSON) {
		struct sg_strbuf sb;
		sg_strbuf_init(&sb);
		sg_strbuf_appendf(&sb, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":", ts,
				  level_names[level]);
		sg_json_append_string(&sb, component, strlen(component));
		if (id) {
			sg_strbuf_append(&sb, ",\"id\":", 6);
			sg_json_append_string(&sb, id, strlen(id));
		}
		sg_strbuf_append(&sb, ",\"msg\":", 7);
		sg_json_append_string(&sb, msg, strlen(msg));
		sg_strbuf_append(&sb, "}\n", 2);
		if (!sb.oom)
			fputs(sb.data, stderr);
		sg_strbuf_free(&sb);
	} else if (id) {
		char cid[128];
		snprintf(cid, sizeof(cid), "%s", id);
		sg_log_clean(cid);
		sg_log_clean(msg);
		fprintf(stderr, "%s %s %s '%s': %s\n", ts, level_names[level], component, cid, msg);
	} else {
		sg_log_clean(msg);
		fprintf(stderr, "%s %s %s: %s\n", ts, level_names[level], component, msg);
	}
}
