<?php
/**
 * GET /me.php: the session probe. 200 with the signed-in identity as JSON when this browser
 * has a SimpleSAMLphp session for 'default-sp' (isAuthenticated(): never a redirect to the
 * IdP), else 401 {"error":"not_signed_in"}.
 *
 * "email" is the identity: the NameID's value (or, without a NameID, the first value of the
 * "email" attribute); with the app setting identity=attribute (an admin hook) the first value of
 * that attribute, and 403 {"error":"refused","reason":"identity_missing"} when the response did not
 * carry it (as a string).
 */

require_once __DIR__ . '/_app.php';

$as = new \SimpleSAML\Auth\Simple(APP_AUTH_SOURCE);
if (!$as->isAuthenticated()) {
    app_json(401, ['error' => 'not_signed_in']);
}

$attributes = $as->getAttributes();
$nameId = $as->getAuthData('saml:sp:NameID');
$nameIdValue = null;
$nameIdFormat = null;
if ($nameId instanceof \SAML2\XML\saml\NameID) {
    $nameIdValue = $nameId->getValue();
    $nameIdFormat = $nameId->getFormat();
} elseif (is_array($nameId)) {
    $nameIdValue = $nameId['Value'] ?? null;
    $nameIdFormat = $nameId['Format'] ?? null;
}

$settings = app_settings();
$attribute = $settings['identity_attribute'] ?? null;
if (is_string($attribute) && $attribute !== '') {
    $email = $attributes[$attribute][0] ?? null;
    $source = "attribute $attribute";
} else {
    $email = $nameIdValue ?? ($attributes['email'][0] ?? null);
    $source = $nameIdValue !== null ? 'name-id' : 'attribute email';
}

$body = [
    'email' => $email,
    'identity_from' => $source,
    'name_id' => $nameIdValue,
    'name_id_format' => $nameIdFormat,
    'session_index' => $as->getAuthData('saml:sp:SessionIndex'),
    'idp' => $as->getAuthData('saml:sp:IdP'),
    'attributes' => $attributes,
];
if (!is_string($email) || $email === '') {
    // Not a string: no such attribute, or SimpleSAMLphp handed over the AttributeValue's DOM
    // nodes (it does so for mixed content, such as a comment or CDATA inside the value).
    app_json(403, ['error' => 'refused', 'reason' => 'identity_missing'] + $body);
}
app_json(200, $body);
