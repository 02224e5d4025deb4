/* util/clock.h - the one monotonic clock of the host and the plugins (deadlines, timeouts, latencies). */
#ifndef SG_UTIL_CLOCK_H
#define SG_UTIL_CLOCK_H

/* Monotonic milliseconds (CLOCK_MONOTONIC): for deadlines and timeouts. */
long long sg_mono_ms(void);
/* The same clock in microseconds: for bounds shorter than a millisecond. */
long long sg_mono_us(void);
/* The same clock in seconds, with sub-millisecond precision: for latency histograms. */
double sg_mono_seconds(void);

/* Wall-clock milliseconds since the epoch (CLOCK_REALTIME): for times shown to others
 * (lifecycle records, presence answers), never for deadlines. */
long long sg_wall_ms(void);

#endif
