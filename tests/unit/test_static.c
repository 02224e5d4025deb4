/* test_static.c - static file resolution: mounts, index files, content types, and every way
 * out of the mounted folder (dot segments, hidden files, symlinks) refused. */
#include "../../src/static.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char top[PATH_MAX];          /* a fresh temporary folder per test (its real path) */
static char site[PATH_MAX + 16], assets[PATH_MAX + 16];

static void put(const char *rel, const char *text)
{
	char p[PATH_MAX * 2];
	FILE *f;

	snprintf(p, sizeof p, "%s/%s", top, rel);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void dir(const char *rel)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof p, "%s/%s", top, rel);
	ck_assert_int_eq(mkdir(p, 0755), 0);
}

static void link_to(const char *target_rel, const char *rel)
{
	char t[PATH_MAX * 2], p[PATH_MAX * 2];

	snprintf(t, sizeof t, "%s/%s", top, target_rel);
	snprintf(p, sizeof p, "%s/%s", top, rel);
	ck_assert_int_eq(symlink(t, p), 0);
}

static void setup(void)
{
	char made[PATH_MAX];

	snprintf(made, sizeof made, "%s/sg-static-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(made));
	ck_assert_ptr_nonnull(realpath(made, top));
	dir("site");
	dir("site/sub");
	dir("site/noindex");
	dir("assets");
	put("site/index.html", "home");
	put("site/app.js", "js");
	put("site/.env", "secret");
	put("site/sub/index.html", "sub");
	put("secret.txt", "outside");
	put("assets/logo.png", "png");
	link_to("secret.txt", "site/escape.txt");
	link_to("site/app.js", "site/alias.js");     /* a symlink that stays inside */
	link_to("", "site/up");
	link_to("secret.txt", "site/noindex/index.html");
	snprintf(site, sizeof site, "%s/site", top);
	snprintf(assets, sizeof assets, "%s/assets", top);
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
	ck_assert_int_eq(system(cmd), 0);
}

static enum sg_static_result resolve(const char *uri, char *out)
{
	struct sg_static_mount m[2] = {
		{"/", site, "index.html"},
		{"/assets/", assets, ""},
	};

	return sg_static_resolve(m, 2, uri, out, PATH_MAX);
}

static void expect_file(const char *uri, const char *rel)
{
	char out[PATH_MAX], want[PATH_MAX * 2];

	snprintf(want, sizeof want, "%s/%s", top, rel);
	ck_assert_msg(resolve(uri, out) == SG_STATIC_FILE, "%s: not served", uri);
	ck_assert_str_eq(out, want);
}

static void expect(const char *uri, enum sg_static_result r)
{
	char out[PATH_MAX];

	ck_assert_msg(resolve(uri, out) == r, "%s: got %d, expected %d", uri, (int)resolve(uri, out), (int)r);
}

START_TEST(test_files_and_indexes)
{
	expect_file("/", "site/index.html");
	expect_file("/index.html", "site/index.html");
	expect_file("/app.js", "site/app.js");
	expect_file("/alias.js", "site/app.js");
	expect_file("/sub", "site/sub/index.html");
	expect_file("/sub/", "site/sub/index.html");
	expect_file("/assets/logo.png", "assets/logo.png");
	expect("/missing", SG_STATIC_NOT_FOUND);
	expect("/assets/", SG_STATIC_NOT_FOUND); /* index "" : folders are not listed or served */
	expect("/assets/logo.png/", SG_STATIC_NOT_FOUND);
}
END_TEST

START_TEST(test_no_way_out)
{
	expect("/..", SG_STATIC_BAD_PATH);
	expect("/../secret.txt", SG_STATIC_BAD_PATH);
	expect("/sub/../../secret.txt", SG_STATIC_BAD_PATH);
	expect("/./index.html", SG_STATIC_BAD_PATH);
	expect("/sub//index.html", SG_STATIC_BAD_PATH);
	expect("/sub\\..\\..\\secret.txt", SG_STATIC_BAD_PATH);
	expect("/a\x01b", SG_STATIC_BAD_PATH);
	expect("/assets/../secret.txt", SG_STATIC_BAD_PATH);
	expect("/.env", SG_STATIC_NOT_FOUND);
	expect("/sub/.hidden/x", SG_STATIC_NOT_FOUND);
	expect("/escape.txt", SG_STATIC_NOT_FOUND);       /* symlink to a file outside */
	expect("/up/secret.txt", SG_STATIC_NOT_FOUND);    /* symlink to a folder outside */
	expect("/noindex/", SG_STATIC_NOT_FOUND);         /* index file is a symlink outside */
}
END_TEST

START_TEST(test_mount_choice)
{
	struct sg_static_mount m[1] = {{"/app/", "/nonexistent-sg-folder", "index.html"}};
	char out[PATH_MAX];

	ck_assert_int_eq(sg_static_resolve(m, 1, "/", out, sizeof out), SG_STATIC_NO_MOUNT);
	ck_assert_int_eq(sg_static_resolve(m, 1, "/app", out, sizeof out), SG_STATIC_NO_MOUNT);
	ck_assert_int_eq(sg_static_resolve(m, 1, "/app/x.js", out, sizeof out), SG_STATIC_NOT_FOUND);
	ck_assert_int_eq(sg_static_resolve(m, 0, "/app/x.js", out, sizeof out), SG_STATIC_NO_MOUNT);
	ck_assert_int_eq(sg_static_resolve(m, 1, NULL, out, sizeof out), SG_STATIC_NO_MOUNT);
	/* Too small an output buffer: not served rather than truncated. */
	{
		struct sg_static_mount s[1] = {{"/", site, "index.html"}};
		ck_assert_int_eq(sg_static_resolve(s, 1, "/app.js", out, 4), SG_STATIC_NOT_FOUND);
	}
}
END_TEST

START_TEST(test_content_types)
{
	ck_assert_str_eq(sg_static_content_type("/a/index.html"), "text/html; charset=utf-8");
	ck_assert_str_eq(sg_static_content_type("x.JS"), "text/javascript; charset=utf-8");
	ck_assert_str_eq(sg_static_content_type("socket.io.min.js.map"), "application/json");
	ck_assert_str_eq(sg_static_content_type("s.css"), "text/css; charset=utf-8");
	ck_assert_str_eq(sg_static_content_type("i.svg"), "image/svg+xml");
	ck_assert_str_eq(sg_static_content_type("f.woff2"), "font/woff2");
	ck_assert_str_eq(sg_static_content_type("README"), "application/octet-stream");
	ck_assert_str_eq(sg_static_content_type("/a.d/README"), "application/octet-stream");
	ck_assert_str_eq(sg_static_content_type("x.exe"), "application/octet-stream");
}
END_TEST

static Suite *static_suite(void)
{
	Suite *s = suite_create("static");
	TCase *tc = tcase_create("resolve");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_files_and_indexes);
	tcase_add_test(tc, test_no_way_out);
	tcase_add_test(tc, test_mount_choice);
	tcase_add_test(tc, test_content_types);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(static_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
