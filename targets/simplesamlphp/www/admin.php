<?php
/**
 * The harness's hooks (targets/simplesamlphp.toml [hooks]): what an administrator would change
 * in the SP's configuration, done over HTTP. Only with the ADMIN_TOKEN start.sh was given
 * (Authorization: Bearer TOKEN); without one configured, 404.
 *
 * POST /admin.php?do=settings, JSON body, each key optional:
 *   "identity_attribute": "NAME" | null   the app reads the user's email from that attribute
 *                                          (null: from the NameID, the default)
 *   "idp_metadata_url": "URL" | null      re-import the IdP metadata from URL, which must start
 *                                          with the IDP_METADATA_URL the SP started with (the
 *                                          mock IdP's variants: ?key_use=omit, ?weak_key=include)
 *   "authn_context_class": "URI" | null   the SP requests that AuthnContextClassRef, comparison
 *                                          exact: the IdP entry's options AuthnContextClassRef
 *                                          and AuthnContextComparison (saml20-idp-remote, where
 *                                          SimpleSAMLphp 1.19 reads them), in
 *                                          metadata/idp-remote-options.php
 * POST /admin.php?do=reset: all of it back to how the SP started. Sessions are kept.
 * Both answer 200 with the settings.
 */

require_once __DIR__ . '/_app.php';

$state = app_state();
$token = trim((string) @file_get_contents("$state/admin-token"));
if ($token === '') {
    app_json(404, ['error' => 'not_found']);
}
$auth = $_SERVER['HTTP_AUTHORIZATION'] ?? '';
if (!hash_equals("Bearer $token", $auth)) {
    app_json(401, ['error' => 'unauthorized']);
}
if (($_SERVER['REQUEST_METHOD'] ?? '') !== 'POST') {
    app_json(405, ['error' => 'method_not_allowed']);
}

$startUrl = trim((string) file_get_contents("$state/idp-metadata-url"));
$configDir = "$state/config";

function import_idp_metadata(string $url): void
{
    $script = dirname(__DIR__) . '/bin/import-idp-metadata.php';
    $out = app_state() . '/metadata/saml20-idp-remote.php';
    $cmd = escapeshellarg(PHP_BINARY) . ' ' . escapeshellarg($script) . ' ' . escapeshellarg($url)
        . ' ' . escapeshellarg($out) . ' 5 2>&1';
    exec($cmd, $output, $code);
    if ($code !== 0) {
        app_json(502, ['error' => 'idp_metadata', 'reason' => implode(' ', $output)]);
    }
}

function write_idp_options(?string $class): void
{
    $file = app_state() . '/metadata/idp-remote-options.php';
    if ($class === null) {
        @unlink($file);
        return;
    }
    $options = ['AuthnContextClassRef' => $class, 'AuthnContextComparison' => 'exact'];
    file_put_contents($file, "<?php\nreturn " . var_export($options, true) . ";\n");
}

$settings = app_settings();
$do = $_GET['do'] ?? '';
if ($do === 'reset') {
    import_idp_metadata($startUrl);
    write_idp_options(null);
    $settings = ['identity_attribute' => null, 'idp_metadata_url' => $startUrl, 'authn_context_class' => null];
} elseif ($do === 'settings') {
    $body = json_decode((string) file_get_contents('php://input'), true);
    if (!is_array($body)) {
        app_json(400, ['error' => 'bad_request', 'reason' => 'a JSON object is expected']);
    }
    if (array_key_exists('identity_attribute', $body)) {
        $value = $body['identity_attribute'];
        if ($value !== null && (!is_string($value) || $value === '')) {
            app_json(400, ['error' => 'bad_request', 'reason' => 'identity_attribute: a name or null']);
        }
        $settings['identity_attribute'] = $value;
    }
    if (array_key_exists('idp_metadata_url', $body)) {
        $url = $body['idp_metadata_url'] ?? $startUrl;
        if (!is_string($url) || strncmp($url, $startUrl, strlen($startUrl)) !== 0) {
            app_json(400, ['error' => 'bad_request', 'reason' => "idp_metadata_url must start with $startUrl"]);
        }
        import_idp_metadata($url);
        $settings['idp_metadata_url'] = $url;
    }
    if (array_key_exists('authn_context_class', $body)) {
        $value = $body['authn_context_class'];
        if ($value !== null && (!is_string($value) || $value === '')) {
            app_json(400, ['error' => 'bad_request', 'reason' => 'authn_context_class: a URI or null']);
        }
        write_idp_options($value);
        $settings['authn_context_class'] = $value;
    }
} else {
    app_json(404, ['error' => 'not_found']);
}

file_put_contents("$state/app-settings.json", json_encode($settings, JSON_UNESCAPED_SLASHES) . "\n");
app_json(200, $settings);
