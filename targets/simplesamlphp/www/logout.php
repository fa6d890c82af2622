<?php
/**
 * GET or POST /logout.php: ends the SimpleSAMLphp session in this browser only (no message to
 * the IdP), then 303 to /me.php. Session::doLogout() is what SimpleSAMLphp runs itself once a
 * logout has completed; here it is called without Single Logout.
 */

require_once __DIR__ . '/_app.php';

$session = \SimpleSAML\Session::getSessionFromRequest();
if ($session->isValid(APP_AUTH_SOURCE)) {
    $session->doLogout(APP_AUTH_SOURCE);
}
header('Location: ' . app_url('/me.php'), true, 303);
