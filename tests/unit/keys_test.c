/* keys_test.c: key pair files round-trip with mode 0600 (public files 0644),
 * loose-mode or malformed secret files are refused with a clear message,
 * and allow-lists load from a directory of *.pub files or a list file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys.h"

static char dir[64];

static int setup_dir(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/psync-keys-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* dir/name into out. */
static const char *path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
    return out;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void test_pair_round_trip_is_0600(void **state)
{
    char key[128], pub[128], got[PSYNC_KEY_Z85_LEN + 1];
    psync_keypair kp, back;
    assert_int_equal(psync_keypair_generate(&kp), PSYNC_OK);
    assert_int_equal(strlen(kp.public_key), PSYNC_KEY_Z85_LEN);
    assert_int_equal(psync_keypair_save(&kp, path_of(key, sizeof key, "a.key"), 0), PSYNC_OK);
    assert_int_equal(psync_pubkey_save(kp.public_key, path_of(pub, sizeof pub, "a.pub"), 0),
                     PSYNC_OK);
    assert_int_equal(mode_of(key), 0600);
    assert_int_equal(mode_of(pub), 0644);
    assert_int_equal(psync_keypair_load(key, &back), PSYNC_OK);
    assert_string_equal(back.public_key, kp.public_key);
    assert_string_equal(back.secret_key, kp.secret_key);
    assert_int_equal(psync_pubkey_load(pub, got), PSYNC_OK);
    assert_string_equal(got, kp.public_key);
    assert_int_equal(psync_pubkey_load(key, got), PSYNC_OK); /* a .key names its public key too */
    assert_string_equal(got, kp.public_key);
}

static void test_save_refuses_overwrite_unless_asked(void **state)
{
    char key[128];
    psync_keypair a, b, back;
    psync_keypair_generate(&a);
    psync_keypair_generate(&b);
    path_of(key, sizeof key, "o.key");
    assert_int_equal(psync_keypair_save(&a, key, 0), PSYNC_OK);
    assert_int_equal(psync_keypair_save(&b, key, 0), PSYNC_EBUSY);
    assert_int_equal(chmod(key, 0644), 0);
    assert_int_equal(psync_keypair_save(&b, key, 1), PSYNC_OK);
    assert_int_equal(mode_of(key), 0600); /* replaced, not reused with its loose mode */
    assert_int_equal(psync_keypair_load(key, &back), PSYNC_OK);
    assert_string_equal(back.secret_key, b.secret_key);
}

static void test_loose_mode_secret_refused(void **state)
{
    char key[128], want[200];
    psync_keypair kp, back;
    psync_keypair_generate(&kp);
    assert_int_equal(psync_keypair_save(&kp, path_of(key, sizeof key, "loose.key"), 0), PSYNC_OK);
    const mode_t loose[] = {0644, 0640, 0604, 0620, 0602};
    for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++) {
        assert_int_equal(chmod(key, loose[i]), 0);
        assert_int_equal(psync_keypair_load(key, &back), PSYNC_ECONFIG);
        snprintf(want, sizeof want, "chmod 600 %s", key);
        assert_non_null(strstr(psync_errdetail(), want));
        assert_int_equal(back.secret_key[0], '\0');
    }
    assert_int_equal(chmod(key, 0400), 0);
    assert_int_equal(psync_keypair_load(key, &back), PSYNC_OK);
}

static void test_malformed_pair_files_refused(void **state)
{
    char path[128], text[256];
    psync_keypair a, b, back;
    psync_keypair_generate(&a);
    psync_keypair_generate(&b);
    path_of(path, sizeof path, "bad.key");
    struct {
        const char *fmt;
        psync_err want;
    } rows[] = {
        {"public-key = %s\n", PSYNC_EFORMAT},                     /* no secret */
        {"public-key = %s\nsecret-key = short\n", PSYNC_EFORMAT}, /* bad Z85 */
        {"public-key = %s\nsecret-key = %s\n", PSYNC_EFORMAT},    /* pair mismatch */
        {"public-key = %s\ncolour = blue\n", PSYNC_EFORMAT},      /* unknown name */
        {"public-key %s\n", PSYNC_EFORMAT},                       /* no '=' */
        {"public-key = %s\npublic-key = %s\n", PSYNC_EFORMAT},    /* repeated */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(text, sizeof text, rows[i].fmt, a.public_key, b.secret_key);
        unlink(path);
        write_text(path, text, 0600);
        assert_int_equal(psync_keypair_load(path, &back), rows[i].want);
    }
    assert_int_equal(psync_keypair_load(path_of(path, sizeof path, "missing.key"), &back),
                     PSYNC_ENOTFOUND);
}

static void test_oversized_and_binary_files_refused(void **state)
{
    char path[128];
    char pub[PSYNC_KEY_Z85_LEN + 1];
    char *big = malloc(PSYNC_KEY_FILE_MAX + 2);
    assert_non_null(big);
    memset(big, 'a', PSYNC_KEY_FILE_MAX + 1);
    big[PSYNC_KEY_FILE_MAX + 1] = '\0';
    write_text(path_of(path, sizeof path, "big.pub"), big, 0644);
    free(big);
    assert_int_equal(psync_pubkey_load(path, pub), PSYNC_ELIMIT);
    FILE *f = fopen(path_of(path, sizeof path, "nul.pub"), "w");
    assert_non_null(f);
    fwrite("public-key\0= x\n", 1, 15, f);
    fclose(f);
    assert_int_equal(psync_pubkey_load(path, pub), PSYNC_EFORMAT);
}

static void test_allowlist_from_directory(void **state)
{
    char sub[128], path[200];
    psync_keypair a, b;
    uint8_t raw[PSYNC_KEY_BYTES];
    psync_keypair_generate(&a);
    psync_keypair_generate(&b);
    path_of(sub, sizeof sub, "allow");
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(path, sizeof path, "%s/worker1.pub", sub);
    assert_int_equal(psync_pubkey_save(a.public_key, path, 0), PSYNC_OK);
    snprintf(path, sizeof path, "%s/worker2.pub", sub);
    assert_int_equal(psync_pubkey_save(b.public_key, path, 0), PSYNC_OK);
    snprintf(path, sizeof path, "%s/README", sub);
    write_text(path, "not a key\n", 0644);
    psync_allowlist *al;
    assert_int_equal(psync_allowlist_load(sub, &al), PSYNC_OK);
    assert_int_equal(psync_allowlist_count(al), 2);
    psync_key_decode(a.public_key, raw);
    assert_string_equal(psync_allowlist_find(al, raw), "worker1");
    psync_key_decode(b.public_key, raw);
    assert_string_equal(psync_allowlist_find(al, raw), "worker2");
    memset(raw, 0, sizeof raw);
    assert_null(psync_allowlist_find(al, raw));
    psync_allowlist_destroy(&al);
    assert_null(al);
}

/* A fresh key whose Z85 text holds '#' or '=' (which a naive parser would
 * take for a comment or a separator). */
static void key_with_specials(psync_keypair *kp)
{
    for (int i = 0; i < 1000; i++) {
        psync_keypair_generate(kp);
        if (strpbrk(kp->public_key + 1, "#=")) return;
    }
    fail_msg("no key with '#' or '=' in 1000 tries");
}

static void test_allowlist_from_file(void **state)
{
    char path[128], text[512];
    psync_keypair a, b, c;
    uint8_t raw[PSYNC_KEY_BYTES];
    key_with_specials(&a);
    psync_keypair_generate(&b);
    psync_keypair_generate(&c);
    snprintf(text, sizeof text,
             "# workers of job 7\n\n%s rank0\n  public-key = %s\n#commented-out\n%s\t rank 2\n",
             a.public_key, b.public_key, c.public_key);
    write_text(path_of(path, sizeof path, "allow.list"), text, 0644);
    psync_allowlist *al;
    assert_int_equal(psync_allowlist_load(path, &al), PSYNC_OK);
    assert_int_equal(psync_allowlist_count(al), 3);
    psync_key_decode(a.public_key, raw);
    assert_string_equal(psync_allowlist_find(al, raw), "rank0");
    psync_key_decode(b.public_key, raw);
    assert_string_equal(psync_allowlist_find(al, raw), b.public_key);
    psync_key_decode(c.public_key, raw);
    assert_string_equal(psync_allowlist_find(al, raw), "rank_2"); /* log-safe name */
    psync_allowlist_destroy(&al);
}

static void test_allowlist_bad_or_empty_refused(void **state)
{
    char path[128];
    psync_allowlist *al = (psync_allowlist *)1;
    write_text(path_of(path, sizeof path, "empty.list"), "# nobody yet\n\n", 0644);
    assert_int_equal(psync_allowlist_load(path, &al), PSYNC_ECONFIG);
    assert_null(al);
    write_text(path_of(path, sizeof path, "bad.list"), "# x\nnot-a-key worker\n", 0644);
    assert_int_equal(psync_allowlist_load(path, &al), PSYNC_EFORMAT);
    assert_non_null(strstr(psync_errdetail(), ":2:"));
    assert_int_equal(psync_allowlist_load(path_of(path, sizeof path, "none"), &al),
                     PSYNC_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pair_round_trip_is_0600),
        cmocka_unit_test(test_save_refuses_overwrite_unless_asked),
        cmocka_unit_test(test_loose_mode_secret_refused),
        cmocka_unit_test(test_malformed_pair_files_refused),
        cmocka_unit_test(test_oversized_and_binary_files_refused),
        cmocka_unit_test(test_allowlist_from_directory),
        cmocka_unit_test(test_allowlist_from_file),
        cmocka_unit_test(test_allowlist_bad_or_empty_refused),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
