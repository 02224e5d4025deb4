/* test_jwt.c - the jwt middleware's pure parts: base64url decoding and the token verdicts
 * (signature, algorithm list, exp/nbf with leeway, iss, aud) at a fixed clock. */
/* Included by relative path: the build's top directory holds autoconf's own config.h. */
#include "../../src/config.h"
#include "../../src/eio_codec.h"
#include "../../src/middleware.h"

#include <check.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1700000000.0
#define SECRET "unit-test-secret-0123456789abcdef"

/* ---- helpers ------------------------------------------------------------------------ */

/* A token signed by libjwt (its encoder is independent of the verify path under test). */
static char *make(jwt_alg_t alg, const char *key, const char *claims_json)
{
	jwt_t *j = NULL;
	char *t;

	ck_assert_int_eq(jwt_new(&j), 0);
	ck_assert_int_eq(jwt_add_grants_json(j, claims_json), 0);
	ck_assert_int_eq(jwt_set_alg(j, alg, (const unsigned char *)key, key ? (int)strlen(key) : 0), 0);
	t = jwt_encode_str(j);
	ck_assert_ptr_nonnull(t);
	jwt_free(j);
	return t;
}

static char *b64url(const char *s)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = strlen(s), o = 0;
	char *out = malloc(n * 4 / 3 + 4);
	unsigned long acc = 0;
	int bits = 0;

	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | (unsigned char)s[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = tab[(acc >> bits) & 63];
		}
	}
	if (bits)
		out[o++] = tab[(acc << (6 - bits)) & 63];
	out[o] = '\0';
	return out;
}

/* A token assembled by hand: header and payload JSON, and a signature part. */
static char *raw(const char *header, const char *payload, const char *sig)
{
	char *h = b64url(header), *p = b64url(payload), *t;

	ck_assert_int_ge(asprintf(&t, "%s.%s.%s", h, p, sig), 0);
	free(h);
	free(p);
	return t;
}

static struct sg_mw_config hs256_cfg(void)
{
	struct sg_mw_config c = { .type = SG_MW_JWT, .algorithms = SG_JWT_HS256, .secret = SECRET };

	return c;
}

/* Verifies and returns the verdict ("ok" when accepted), freeing the token and claims. */
static const char *verdict(const struct sg_mw_config *cfg, char *token, double now)
{
	json_t *claims = (json_t *)1;
	const char *why = sg_jwt_verify(cfg, token, now, &claims);

	if (why)
		ck_assert_ptr_null(claims);
	else
		ck_assert(json_is_object(claims));
	json_decref(claims);
	free(token);
	return why ? why : "ok";
}

/* ---- base64url ---------------------------------------------------------------------- */

START_TEST(b64_decode)
{
	static const struct { const char *in, *out; } ok[] = {
		{ "", "" }, { "Zg", "f" }, { "Zm8", "fo" }, { "Zm9v", "foo" }, { "Zm9vYg", "foob" },
		{ "-_-_", "\xfb\xff\xbf" }, { "eyJhbGciOiJIUzI1NiJ9", "{\"alg\":\"HS256\"}" },
	};
	static const char *const bad[] = { "Z", "Zm9vY", "Zm+v", "Zm/v", "Zm9v=", "Zm 9", "Zg==" };
	size_t n;

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		unsigned char *d = sg_base64url_decode(ok[i].in, strlen(ok[i].in), &n);

		ck_assert_msg(d != NULL, "%s", ok[i].in);
		ck_assert_uint_eq(n, strlen(ok[i].out));
		ck_assert_mem_eq(d, ok[i].out, n);
		ck_assert_int_eq(d[n], 0);
		free(d);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(sg_base64url_decode(bad[i], strlen(bad[i]), &n) == NULL, "%s", bad[i]);
}
END_TEST

/* ---- verdicts ----------------------------------------------------------------------- */

START_TEST(hs256_table)
{
	struct sg_mw_config c = hs256_cfg();
	static const char *const garbage[] = { "", "abc", "a.b", "a.b.c.d", "..", "a..c", ".b.c",
					       "e30.e30.e30", "!!!.e30.abc" };

	ck_assert_str_eq(verdict(&c, make(JWT_ALG_HS256, SECRET, "{\"sub\":\"a\"}"), NOW), "ok");
	ck_assert_str_eq(verdict(&c, make(JWT_ALG_HS256, "other-secret", "{\"sub\":\"a\"}"), NOW),
			 "invalid token");
	ck_assert_str_eq(verdict(&c, make(JWT_ALG_HS384, SECRET, "{}"), NOW), "algorithm not allowed");
	ck_assert_str_eq(verdict(&c, make(JWT_ALG_HS512, SECRET, "{}"), NOW), "algorithm not allowed");
	ck_assert_str_eq(verdict(&c, make(JWT_ALG_NONE, NULL, "{\"sub\":\"a\"}"), NOW),
			 "algorithm not allowed");
	ck_assert_str_eq(verdict(&c, raw("{\"alg\":\"none\"}", "{}", ""), NOW), "algorithm not allowed");
	ck_assert_str_eq(verdict(&c, raw("{\"alg\":\"none\"}", "{}", "c2ln"), NOW),
			 "algorithm not allowed");
	ck_assert_str_eq(verdict(&c, raw("{\"alg\":\"hs256\"}", "{}", "c2ln"), NOW),
			 "algorithm not allowed");
	ck_assert_str_eq(verdict(&c, raw("{\"alg\":\"HS256\"}", "{}", ""), NOW), "invalid token");
	ck_assert_str_eq(verdict(&c, raw("{\"alg\":256}", "{}", "c2ln"), NOW), "invalid token");
	ck_assert_str_eq(verdict(&c, raw("{\"typ\":\"JWT\"}", "{}", "c2ln"), NOW), "invalid token");
	ck_assert_str_eq(verdict(&c, raw("[\"HS256\"]", "{}", "c2ln"), NOW), "invalid token");
	ck_assert_str_eq(verdict(&c, raw("{\"alg\":\"HS256\",\"alg\":\"none\"}", "{}", "c2ln"), NOW),
			 "invalid token");
	for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
		ck_assert_msg(strcmp(verdict(&c, strdup(garbage[i]), NOW), "invalid token") == 0, "%s",
			      garbage[i]);
}
END_TEST

START_TEST(payload_tampered)
{
	struct sg_mw_config c = hs256_cfg();
	char *t = make(JWT_ALG_HS256, SECRET, "{\"sub\":\"alice\"}"), *p = b64url("{\"sub\":\"root\"}");
	char *dot1 = strchr(t, '.'), *dot2 = strchr(dot1 + 1, '.'), *forged;

	ck_assert_int_ge(asprintf(&forged, "%.*s.%s%s", (int)(dot1 - t), t, p, dot2), 0);
	ck_assert_str_eq(verdict(&c, forged, NOW), "invalid token");
	free(p);
	free(t);
}
END_TEST

START_TEST(time_claims)
{
	struct sg_mw_config c = hs256_cfg();
	char claims[128];

#define AT(json, now) verdict(&c, make(JWT_ALG_HS256, SECRET, json), now)
	snprintf(claims, sizeof claims, "{\"exp\":%.0f}", NOW + 1);
	ck_assert_str_eq(AT(claims, NOW), "ok");
	ck_assert_str_eq(AT(claims, NOW + 1), "token expired"); /* exp is exclusive */
	snprintf(claims, sizeof claims, "{\"exp\":%.1f}", NOW + 0.5);
	ck_assert_str_eq(AT(claims, NOW), "ok");
	snprintf(claims, sizeof claims, "{\"nbf\":%.0f}", NOW);
	ck_assert_str_eq(AT(claims, NOW), "ok");
	ck_assert_str_eq(AT(claims, NOW - 1), "token not yet valid");
	ck_assert_str_eq(AT("{\"exp\":\"tomorrow\"}", NOW), "invalid token");
	ck_assert_str_eq(AT("{\"nbf\":null}", NOW), "invalid token");

	c.leeway_s = 30;
	snprintf(claims, sizeof claims, "{\"exp\":%.0f}", NOW - 29);
	ck_assert_str_eq(AT(claims, NOW), "ok");
	snprintf(claims, sizeof claims, "{\"exp\":%.0f}", NOW - 30);
	ck_assert_str_eq(AT(claims, NOW), "token expired");
	snprintf(claims, sizeof claims, "{\"nbf\":%.0f}", NOW + 30);
	ck_assert_str_eq(AT(claims, NOW), "ok");
	snprintf(claims, sizeof claims, "{\"nbf\":%.0f}", NOW + 31);
	ck_assert_str_eq(AT(claims, NOW), "token not yet valid");
#undef AT
}
END_TEST

START_TEST(issuer_audience)
{
	struct sg_mw_config c = hs256_cfg();

	c.issuer = "https://issuer.test/";
	c.audience = "siogate";
#define V(json) verdict(&c, make(JWT_ALG_HS256, SECRET, json), NOW)
	ck_assert_str_eq(V("{\"iss\":\"https://issuer.test/\",\"aud\":\"siogate\"}"), "ok");
	ck_assert_str_eq(V("{\"iss\":\"https://issuer.test/\",\"aud\":[\"x\",\"siogate\"]}"), "ok");
	ck_assert_str_eq(V("{\"iss\":\"https://issuer.test/\",\"aud\":\"siogate2\"}"), "wrong audience");
	ck_assert_str_eq(V("{\"iss\":\"https://issuer.test/\",\"aud\":[]}"), "wrong audience");
	ck_assert_str_eq(V("{\"iss\":\"https://issuer.test/\",\"aud\":[1,{\"a\":\"siogate\"}]}"),
			 "wrong audience");
	ck_assert_str_eq(V("{\"iss\":\"https://issuer.test/\"}"), "wrong audience");
	ck_assert_str_eq(V("{\"iss\":\"https://evil.test/\",\"aud\":\"siogate\"}"), "wrong issuer");
	ck_assert_str_eq(V("{\"iss\":7,\"aud\":\"siogate\"}"), "wrong issuer");
	ck_assert_str_eq(V("{\"aud\":\"siogate\"}"), "wrong issuer");
#undef V
}
END_TEST

START_TEST(claims_returned)
{
	struct sg_mw_config c = hs256_cfg();
	char *t = make(JWT_ALG_HS256, SECRET, "{\"sub\":\"alice\",\"n\":42,\"roles\":[\"a\"]}");
	json_t *claims = NULL;

	ck_assert_ptr_null(sg_jwt_verify(&c, t, NOW, &claims));
	ck_assert_str_eq(json_string_value(json_object_get(claims, "sub")), "alice");
	ck_assert_int_eq(json_integer_value(json_object_get(claims, "n")), 42);
	ck_assert(json_is_array(json_object_get(claims, "roles")));
	json_decref(claims);
	free(t);
}
END_TEST

/* A step for RS256 only has no secret: HS256 never reaches a key, whatever the token says. */
START_TEST(pubkey_step_refuses_hmac)
{
	static const char pem[] = "-----BEGIN PUBLIC KEY-----\nnot really\n-----END PUBLIC KEY-----\n";
	struct sg_mw_config c = { .type = SG_MW_JWT, .algorithms = SG_JWT_RS256,
				  .key_pem = (char *)pem, .key_pem_len = sizeof pem - 1 };

	ck_assert_str_eq(verdict(&c, make(JWT_ALG_HS256, pem, "{}"), NOW), "algorithm not allowed");
	ck_assert_str_eq(verdict(&c, raw("{\"alg\":\"RS256\"}", "{}", "c2ln"), NOW), "invalid token");
	/* Mixed list: the HS256 token is checked against the secret, not the PEM. */
	c.algorithms |= SG_JWT_HS256;
	c.secret = SECRET;
	ck_assert_str_eq(verdict(&c, make(JWT_ALG_HS256, pem, "{}"), NOW), "invalid token");
	ck_assert_str_eq(verdict(&c, make(JWT_ALG_HS256, SECRET, "{}"), NOW), "ok");
}
END_TEST

START_TEST(oversized_token)
{
	struct sg_mw_config c = hs256_cfg();
	char *big = malloc(20000);

	ck_assert_ptr_nonnull(big);
	memset(big, 'a', 19999);
	big[19999] = '\0';
	ck_assert_str_eq(verdict(&c, big, NOW), "invalid token");
}
END_TEST

static Suite *jwt_suite(void)
{
	Suite *s = suite_create("jwt");
	TCase *tc = tcase_create("jwt");

	tcase_add_test(tc, b64_decode);
	tcase_add_test(tc, hs256_table);
	tcase_add_test(tc, payload_tampered);
	tcase_add_test(tc, time_claims);
	tcase_add_test(tc, issuer_audience);
	tcase_add_test(tc, claims_returned);
	tcase_add_test(tc, pubkey_step_refuses_hmac);
	tcase_add_test(tc, oversized_token);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(jwt_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
