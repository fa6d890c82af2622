/* xmldsig signing and verification with a key loaded once (hardening::xmlsec_key).
 *
 * In C because they read and write fields of xmlsec's xmlSecDSigCtx (signKey, status), whose
 * layout depends on xmlsec's build flags (pkg-config xmlsec1-openssl --cflags): the compiler
 * that sees the same headers with the same flags gets it right, hand-written Rust offsets
 * would not. This is what samael's XmlSecSignatureContext does with a key it has just
 * decoded, minus decoding it again.
 *
 * No keys manager, as with samael: a keys manager's default set-up loads the system's CA
 * certificates (tens of milliseconds), and xmlsec would look for a key in the signature's
 * KeyInfo, which is ignored here.
 */
#include <xmlsec/xmlsec.h>
#include <xmlsec/keys.h>
#include <xmlsec/xmldsig.h>

/* A signature context whose key is a duplicate of `key` (a reference to the same OpenSSL key,
 * whose blinding and Montgomery contexts OpenSSL keeps); NULL on failure. */
static xmlSecDSigCtxPtr context_with_key(xmlNodePtr signature, xmlSecKeyPtr key) {
    xmlSecDSigCtxPtr ctx;

    if (signature == NULL || key == NULL) {
        return NULL;
    }
    ctx = xmlSecDSigCtxCreate(NULL);
    if (ctx == NULL) {
        return NULL;
    }
    ctx->signKey = xmlSecKeyDuplicate(key);
    if (ctx->signKey == NULL) {
        xmlSecDSigCtxDestroy(ctx);
        return NULL;
    }
    return ctx;
}

/* 1: the signature verifies with `key`; 0: it does not; -1: xmlsec failed to process it. */
int harness_xmlsec_verify_with_key(xmlNodePtr signature, xmlSecKeyPtr key) {
    xmlSecDSigCtxPtr ctx = context_with_key(signature, key);
    int rc;
    int ok;

    if (ctx == NULL) {
        return -1;
    }
    rc = xmlSecDSigCtxVerify(ctx, signature);
    ok = (rc >= 0 && ctx->status == xmlSecDSigStatusSucceeded) ? 1 : 0;
    xmlSecDSigCtxDestroy(ctx);
    return rc < 0 ? -1 : ok;
}

/* 0: the template `signature` is filled in (DigestValue, SignatureValue) with `key`; -1:
 * xmlsec failed. */
int harness_xmlsec_sign_with_key(xmlNodePtr signature, xmlSecKeyPtr key) {
    xmlSecDSigCtxPtr ctx = context_with_key(signature, key);
    int rc;

    if (ctx == NULL) {
        return -1;
    }
    rc = xmlSecDSigCtxSign(ctx, signature);
    xmlSecDSigCtxDestroy(ctx);
    return rc < 0 ? -1 : 0;
}
