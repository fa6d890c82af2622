<?php
/*
 * SAML Harness target (targets/simplesamlphp/): the authentication sources. start.sh renders
 * this file into the state folder's config/ with the values in @@...@@.
 *
 * Taken from the package's authsources.php template (config-templates/authsources.php): the
 * 'admin' source as shipped, and 'default-sp' filled in the way SimpleSAMLphp's "Service
 * Provider QuickStart" says: an entityID, the one IdP (so no discovery page) and a key pair.
 * Everything else is SimpleSAMLphp's default; see README.md.
 */

$config = [
    // As in the template: guards SimpleSAMLphp's own admin pages (unused by the harness).
    'admin' => [
        'core:AdminPassword',
    ],

    'default-sp' => [
        'saml:SP',

        // The SP's entityID: the URL of its metadata, the convention SimpleSAMLphp itself
        // uses when entityID is null (set explicitly so that it does not depend on the request).
        'entityID' => '@@ENTITY_ID@@',

        // The one IdP: the mock IdP, whose metadata start.sh imported into
        // metadata/saml20-idp-remote.php. With 'idp' set there is no discovery page.
        'idp' => '@@IDP_ENTITY_ID@@',

        // No discovery service (the template's value).
        'discoURL' => null,

        // The SP's key pair (made once per state folder by start.sh, RSA-3072 as the QuickStart's
        // openssl command makes it), relative to 'certdir'. It is published in the SP metadata
        // (KeyDescriptor use="signing" and use="encryption"), decrypts EncryptedAssertions, and
        // signs what SimpleSAMLphp signs by default (nothing: sign.authnrequest and sign.logout
        // are off unless the IdP metadata says WantAuthnRequestsSigned).
        'privatekey' => 'sp.pem',
        'certificate' => 'sp.crt',
    ],
];

