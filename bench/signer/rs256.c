/* The RS256 ceiling of the OpenSSL that Usher links (the vendored libcrypto.a from the
 * cargo build), measured the way Usher signs (crates/usher-keys/src/ring.rs:
 * a new EVP_DigestSign context per signature, SHA-256, PKCS#1 v1.5 padding) over
 * a 300-byte message. Built and run by bench/run; prints one JSON object.
 * Usage: rs256 SECONDS */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/opensslv.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    EVP_PKEY *key = EVP_RSA_gen(2048);
    if (!key) return 1;
    unsigned char msg[300], sig[512];
    for (int i = 0; i < (int)sizeof msg; i++) msg[i] = (unsigned char)i;
    long n = 0;
    double t0 = now(), c0 = cpu();
    while (now() - t0 < seconds) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        size_t len = sizeof sig;
        if (!ctx || EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key) != 1) return 2;
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return 3;
        if (EVP_DigestSignUpdate(ctx, msg, sizeof msg) != 1) return 4;
        if (EVP_DigestSignFinal(ctx, sig, &len) != 1) return 5;
        EVP_MD_CTX_free(ctx);
        n++;
    }
    double wall = now() - t0, used = cpu() - c0;
    printf("{\"vendored_openssl\":\"%s\",\"vendored_sign_per_s\":%.1f,\"vendored_sign_per_cpu_s\":%.1f}\n",
           OPENSSL_VERSION_TEXT, n / wall, n / used);
    EVP_PKEY_free(key);
    return 0;
}
