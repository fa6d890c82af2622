<?php
/**
 * GET /slo.php: Single Logout started by the SP. \SimpleSAML\Auth\Simple::logout(), as
 * SimpleSAMLphp's documentation shows it: the saml:SP source sends the IdP a LogoutRequest
 * (HTTP-Redirect, to the IdP's SingleLogoutService) for the session's NameID and SessionIndex,
 * and the IdP's LogoutResponse comes back to SimpleSAMLphp's own SingleLogoutService
 * (/simplesaml/module.php/saml/sp/saml2-logout.php/default-sp), which ends the session and
 * sends the browser to ReturnTo (/signed-out.php). Without a session: 303 to /me.php.
 */

require_once __DIR__ . '/_app.php';

$as = new \SimpleSAML\Auth\Simple(APP_AUTH_SOURCE);
if (!$as->isAuthenticated()) {
    header('Location: ' . app_url('/me.php'), true, 303);
    exit;
}
$as->logout(['ReturnTo' => app_url('/signed-out.php')]);
