/* util/base64.h - base64 and base64url (RFC 4648), strict. */
#ifndef SG_UTIL_BASE64_H
#define SG_UTIL_BASE64_H

#include <stddef.h>

/* Strict base64 (RFC 4648, padding required). decode returns the length or -1. */
size_t sg_base64_encoded_len(size_t n);
void sg_base64_encode(const unsigned char *in, size_t n, char *out); /* writes encoded_len bytes */
long sg_base64_decode(const char *in, size_t n, unsigned char *out); /* out >= n/4*3 */
/* Decodes unpadded base64url (RFC 4648 section 5) into a new NUL-terminated buffer of
 * *out_len bytes (free it). Returns NULL on a character outside the alphabet, an
 * impossible length, or allocation failure. */
unsigned char *sg_base64url_decode(const char *in, size_t len, size_t *out_len);

#endif
