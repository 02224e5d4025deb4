/* log.h - one line per event to stderr, as text or JSON lines. */
#ifndef SG_LOG_H
#define SG_LOG_H

enum sg_log_level { SG_LOG_ERROR = 0, SG_LOG_WARN, SG_LOG_INFO, SG_LOG_DEBUG };
enum sg_log_format { SG_LOG_TEXT = 0, SG_LOG_JSON };

/* The `log` section of the config. */
struct sg_log_config {
	enum sg_log_level level;    /* default info */
	enum sg_log_format format;  /* default text */
};

/* Its keys, for the config loader (config_core.h): both are applied by a reload. */
struct sg_cfg_key;
extern const struct sg_cfg_key *const sg_log_config_keys;

/* Process-wide log settings: the one exception to "no hidden globals", because every
 * component logs and the level must be changeable on reload. Loop thread only for writes;
 * sg_log itself may be called from any thread (one fprintf per line). */
void sg_log_set(enum sg_log_level level, enum sg_log_format format);
int sg_log_enabled(enum sg_log_level level);
/* Text lines are one event each: a control byte from a client (a newline in a room name)
 * could forge a line. Replaces every byte below 0x20 and 0x7f with '?', in place. JSON
 * lines escape them instead. */
void sg_log_clean(char *s);

/* Logs "component 'id': message". `id` may be NULL. */
void sg_log(enum sg_log_level level, const char *component, const char *id, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define sg_err(c, id, ...)  sg_log(SG_LOG_ERROR, c, id, __VA_ARGS__)
#define sg_warn(c, id, ...) sg_log(SG_LOG_WARN, c, id, __VA_ARGS__)
#define sg_info(c, id, ...) sg_log(SG_LOG_INFO, c, id, __VA_ARGS__)
#define sg_dbg(c, id, ...)  do { if (sg_log_enabled(SG_LOG_DEBUG)) sg_log(SG_LOG_DEBUG, c, id, __VA_ARGS__); } while (0)

#endif
