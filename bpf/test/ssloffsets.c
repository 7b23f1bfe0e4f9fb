// SPDX-License-Identifier: Apache-2.0
/*
 * Checks the structure offsets the OpenSSL probes' fd fallback reads (openssl_fd in
 * netobserver.bpf.c) against a real libssl: an SSL whose fd was set with SSL_set_fd must show,
 * read raw, ssl_st.rbio at 0x10, bio_st.method with a socket BIO's type (0x0505) first, and
 * bio_st.num = the fd. OpenSSL 3.0: method at 0x8 (after bio_st.libctx), num at 0x38; 1.1.1:
 * method at 0x0, num at 0x30. Built twice: against the installed libssl3 (bpf-ssloffsets) and
 * against Debian 11's libssl1.1 that scripts/deps.sh fetches (bpf-ssloffsets11).
 */
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SSL_RBIO 0x10
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#define MAJOR 3
#define BIO_METHOD 0x8
#define BIO_NUM 0x38
#else
#define MAJOR 1
#define BIO_METHOD 0x0
#define BIO_NUM 0x30
#endif

int main(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	const int fd = 4242;
	void *bio, *method;
	int32_t type, num;

	printf("ssloffsets: %s\n", OpenSSL_version(OPENSSL_VERSION));
	/* The library run must be the one compiled against: 3.x, or 1.1.1 (0x1010 1xxx). */
	if (MAJOR == 3 ? OpenSSL_version_num() >> 28 != 3 : OpenSSL_version_num() >> 12 != 0x10101) {
		fprintf(stderr, "ssloffsets: FAIL: compiled for OpenSSL %s, running %#lx\n",
			MAJOR == 3 ? "3" : "1.1.1", OpenSSL_version_num());
		return 1;
	}
	if (!ssl || !SSL_set_fd(ssl, fd) || SSL_get_fd(ssl) != fd) {
		fprintf(stderr, "ssloffsets: FAIL: SSL_new/SSL_set_fd\n");
		return 1;
	}
	memcpy(&bio, (char *)ssl + SSL_RBIO, sizeof(bio));
	if (bio != SSL_get_rbio(ssl)) {
		fprintf(stderr, "ssloffsets: FAIL: ssl_st.rbio is not at %#x\n", SSL_RBIO);
		return 1;
	}
	memcpy(&method, (char *)bio + BIO_METHOD, sizeof(method));
	memcpy(&type, method, sizeof(type));
	memcpy(&num, (char *)bio + BIO_NUM, sizeof(num));
	if (type != BIO_TYPE_SOCKET || BIO_method_type(bio) != BIO_TYPE_SOCKET) {
		fprintf(stderr, "ssloffsets: FAIL: bio_st.method->type at %#x reads %#x, not BIO_TYPE_SOCKET (%#x)\n",
			BIO_METHOD, type, BIO_TYPE_SOCKET);
		return 1;
	}
	if (num != fd) {
		fprintf(stderr, "ssloffsets: FAIL: bio_st.num at %#x reads %d, not the fd %d\n", BIO_NUM, num, fd);
		return 1;
	}
	printf("ssloffsets: ok: ssl_st.rbio 0x%x, bio_st.method 0x%x (type 0x%x), bio_st.num 0x%x\n", SSL_RBIO,
	       BIO_METHOD, type, BIO_NUM);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return 0;
}
