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

/* A signature context that borrows `key` (see `release`); NULL on failure. */
static xmlSecDSigCtxPtr context_with_key(xmlNodePtr signature, xmlSecKeyPtr key) {
    xmlSecDSigCtxPtr ctx;

    if (signature == NULL || key == NULL) {
        return NULL;
    }
    ctx = xmlSecDSigCtxCreate(NULL);
    if (ctx == NULL) {
        return NULL;
    }
    /* Borrowed, not duplicated: a duplicate copies the key's certificates (X509_dup: an ASN.1
     * encode and an OpenSSL 3 decoder lookup), more CPU than the RSA verification itself.
     * xmlsec only reads its signKey: it matches it against the key requirements, gives the
     * signature transform its own reference to the OpenSSL key, and writes KeyInfo from it.
     * The caller lends `key` to one context at a time. */
    ctx->signKey = key;
    return ctx;
}

/* Destroys `ctx` without the key it borrowed, which xmlSecDSigCtxDestroy would destroy. */
static void release(xmlSecDSigCtxPtr ctx) {
    ctx->signKey = NULL;
    xmlSecDSigCtxDestroy(ctx);
}

/* 1: the signature verifies with `key`; 0: it does not; -1: xmlsec failed to process it.
 * `key` is borrowed for the call, and not changed. */
int harness_xmlsec_verify_with_key(xmlNodePtr signature, xmlSecKeyPtr key) {
    xmlSecDSigCtxPtr ctx = context_with_key(signature, key);
    int rc;
    int ok;

    if (ctx == NULL) {
        return -1;
    }
    rc = xmlSecDSigCtxVerify(ctx, signature);
    ok = (rc >= 0 && ctx->status == xmlSecDSigStatusSucceeded) ? 1 : 0;
    release(ctx);
    return rc < 0 ? -1 : ok;
}

/* 0: the template `signature` is filled in (DigestValue, SignatureValue) with `key`; -1:
 * xmlsec failed. `key` is borrowed for the call, and not changed. */
int harness_xmlsec_sign_with_key(xmlNodePtr signature, xmlSecKeyPtr key) {
    xmlSecDSigCtxPtr ctx = context_with_key(signature, key);
    int rc;

    if (ctx == NULL) {
        return -1;
    }
    rc = xmlSecDSigCtxSign(ctx, signature);
    release(ctx);
    return rc < 0 ? -1 : 0;
}
