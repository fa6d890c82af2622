/* One xmldsig verification with a key loaded once (hardening::xmlsec_key::KeptCerts).
 *
 * In C because it reads and writes fields of xmlsec's xmlSecDSigCtx (signKey, status), whose
 * layout depends on xmlsec's build flags (pkg-config xmlsec1-openssl --cflags): the compiler
 * that sees the same headers with the same flags gets it right, hand-written Rust offsets
 * would not. This is what samael's XmlSecSignatureContext does for each certificate, minus
 * decoding the certificate again.
 */
#include <xmlsec/xmlsec.h>
#include <xmlsec/keys.h>
#include <xmlsec/xmldsig.h>

/* 1: the signature verifies with `key`; 0: it does not; -1: xmlsec failed to process it. The
 * key is duplicated (a reference to the same OpenSSL key) and not changed. No keys manager:
 * the signature's own KeyInfo is ignored, as with samael. */
int harness_xmlsec_verify_with_key(xmlNodePtr signature, xmlSecKeyPtr key) {
    xmlSecDSigCtxPtr ctx;
    int rc;
    int ok;

    if (signature == NULL || key == NULL) {
        return -1;
    }
    ctx = xmlSecDSigCtxCreate(NULL);
    if (ctx == NULL) {
        return -1;
    }
    ctx->signKey = xmlSecKeyDuplicate(key);
    if (ctx->signKey == NULL) {
        xmlSecDSigCtxDestroy(ctx);
        return -1;
    }
    rc = xmlSecDSigCtxVerify(ctx, signature);
    ok = (rc >= 0 && ctx->status == xmlSecDSigStatusSucceeded) ? 1 : 0;
    xmlSecDSigCtxDestroy(ctx);
    return rc < 0 ? -1 : ok;
}
