<?php
/**
 * GET /login.php?email=E: SP-initiated login. SimpleSAMLphp's own API, as its documentation
 * shows it: \SimpleSAML\Auth\Simple('default-sp')->login(), which sends the user to the IdP
 * with an AuthnRequest (HTTP-Redirect) and, after the ACS, back to ReturnTo (/me.php).
 *
 * login() (not requireAuth()) so that every visit starts a new SSO, also when a session
 * exists. The email is not used: like a typical single-IdP app, this one does not keep what the
 * user typed, so it cannot compare it with the asserted identity.
 */

require_once __DIR__ . '/_app.php';

$as = new \SimpleSAML\Auth\Simple(APP_AUTH_SOURCE);
$as->login(['ReturnTo' => app_url('/me.php')]);
