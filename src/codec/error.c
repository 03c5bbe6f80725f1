/* ferry_strerror: the one table of error names. */
#include "ferry/error.h"

const char *ferry_strerror(int err)
{
	switch ((enum ferry_err)err) {
	case FERRY_OK: return "success";
	case FERRY_E_NOMEM: return "out of memory";
	case FERRY_E_IO: return "I/O error";
	case FERRY_E_INVAL: return "invalid argument";
	case FERRY_E_FORMAT: return "not in ferry format (bad magic or field)";
	case FERRY_E_VERSION: return "unsupported format version";
	case FERRY_E_CHECKSUM: return "checksum mismatch (data corrupted)";
	case FERRY_E_AUTH: return "authentication failed (chunk corrupted or tampered with)";
	case FERRY_E_ORDER: return "chunk out of order (chunks reordered)";
	case FERRY_E_FOREIGN: return "chunk belongs to another object";
	case FERRY_E_TRUNCATED: return "truncated";
	case FERRY_E_KEY: return "wrong passphrase or key";
	case FERRY_E_CRYPTO: return "cryptography library failure";
	case FERRY_E_COMPRESS: return "compression failure";
	case FERRY_E_CONFIG: return "bad configuration";
	case FERRY_E_NOTFOUND: return "not found";
	case FERRY_E_EXISTS: return "already exists";
	case FERRY_E_TOOBIG: return "length exceeds format bounds";
	case FERRY_E_UNSUPPORTED: return "unsupported feature";
	case FERRY_E_DENIED: return "access denied (credentials or permissions)";
	case FERRY_E_LOCKED: return "store locked by another run";
	}
	return "unknown error";
}
