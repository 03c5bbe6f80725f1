/* ferry error codes: one public enum, 0 is success, values are never reused. */
#ifndef FERRY_ERROR_H
#define FERRY_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum ferry_err {
	FERRY_OK = 0,
	FERRY_E_NOMEM = 1,       /* allocation failed */
	FERRY_E_IO = 2,          /* read/write/open failed; errno-level detail is in the message */
	FERRY_E_INVAL = 3,       /* bad argument from the caller or the user */
	FERRY_E_FORMAT = 4,      /* bytes are not what the format says (magic, bounds) */
	FERRY_E_VERSION = 5,     /* a format version this build does not understand */
	FERRY_E_CHECKSUM = 6,    /* xxh3/xxh128 mismatch: data corrupted */
	FERRY_E_AUTH = 7,        /* AES-GCM tag mismatch: chunk corrupted or tampered with */
	FERRY_E_ORDER = 8,       /* chunk found at the wrong position in its object */
	FERRY_E_FOREIGN = 9,     /* chunk belongs to another object or store */
	FERRY_E_TRUNCATED = 10,  /* object or chunk ends early */
	FERRY_E_KEY = 11,        /* wrong passphrase or key file */
	FERRY_E_CRYPTO = 12,     /* OpenSSL failed internally */
	FERRY_E_COMPRESS = 13,   /* zstd failed */
	FERRY_E_CONFIG = 14,     /* config file malformed or inconsistent */
	FERRY_E_NOTFOUND = 15,   /* store, snapshot or object missing */
	FERRY_E_EXISTS = 16,     /* refusing to overwrite */
	FERRY_E_TOOBIG = 17,     /* a length exceeds the format's bounds */
	FERRY_E_UNSUPPORTED = 18, /* a feature flag this build does not implement */
	FERRY_E_DENIED = 19,      /* the server refused our credentials or access */
	FERRY_E_LOCKED = 20       /* the store is locked by another run */
};

/* A short, static, human-readable name for an error code; never NULL. */
const char *ferry_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
