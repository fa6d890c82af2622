<?php
/** GET /signed-out.php: where Single Logout ends (slo.php's ReturnTo). 200 "signed out". */

require_once __DIR__ . '/_app.php';

$as = new \SimpleSAML\Auth\Simple(APP_AUTH_SOURCE);
app_json(200, ['status' => $as->isAuthenticated() ? 'still signed in' : 'signed out']);
