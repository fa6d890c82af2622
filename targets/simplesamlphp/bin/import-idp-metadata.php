<?php
/**
 * Fetches an IdP's SAML 2.0 metadata and writes it as SimpleSAMLphp's saml20-idp-remote.php,
 * the way SimpleSAMLphp's admin page "XML to SimpleSAMLphp metadata converter" does it
 * (\SimpleSAML\Metadata\SAMLParser::getMetadata20IdP(), entityDescriptor and expire dropped,
 * VarExporter), plus an include of idp-remote-options.php (the hooks' additions, if any).
 *
 *   php import-idp-metadata.php URL OUT_FILE [RETRY_SECONDS]
 *
 * Every IDPSSODescriptor KeyDescriptor (use="signing", or no use) becomes a signing key of the
 * IdP: the mock IdP publishes a current and a rollover key, and SimpleSAMLphp tries each in turn.
 * The URL is retried for RETRY_SECONDS (default 20) while the IdP starts. Writes OUT_FILE
 * atomically and prints the IdP's entityID on stdout. Exit 2 on failure, with one line on stderr.
 */

require_once '/usr/share/simplesamlphp/lib/_autoload.php';

function fail(string $message): void
{
    fwrite(STDERR, "import-idp-metadata: $message\n");
    exit(2);
}

if ($argc < 3) {
    fail('usage: import-idp-metadata.php URL OUT_FILE [RETRY_SECONDS]');
}
[$url, $out] = [$argv[1], $argv[2]];
$patience = (int) ($argv[3] ?? 20);

$scheme = parse_url($url, PHP_URL_SCHEME);
if ($scheme !== 'http' && $scheme !== 'https') {
    fail("not an http(s) URL: $url");
}

$xml = false;
$deadline = microtime(true) + $patience;
$context = stream_context_create(['http' => ['timeout' => 5, 'ignore_errors' => false]]);
do {
    $xml = @file_get_contents($url, false, $context);
    if ($xml !== false && $xml !== '') {
        break;
    }
    usleep(250000);
} while (microtime(true) < $deadline);
if ($xml === false || $xml === '') {
    fail("could not read $url within $patience s");
}

try {
    $entities = \SimpleSAML\Metadata\SAMLParser::parseDescriptorsString($xml);
} catch (\Exception $e) {
    fail("$url is not SAML metadata: " . $e->getMessage());
}

$php = "<?php\n// Written by targets/simplesamlphp/bin/import-idp-metadata.php from $url\n// at " .
    gmdate('Y-m-d\TH:i:s\Z') . ". Do not edit: rewritten at every start.\n\n";
$first = null;
foreach ($entities as $entityId => $entity) {
    $idp = $entity->getMetadata20IdP();
    if ($idp === null) {
        continue;
    }
    // Exactly what the admin module's converter page does (Federation::metadataConverter):
    // drop the raw entityDescriptor (unused) and any expire, then export the array.
    unset($idp['entityDescriptor'], $idp['expire']);
    $php .= '$metadata[' . var_export($entityId, true) . '] = '
        . \Symfony\Component\VarExporter\VarExporter::export($idp) . ";\n";
    $first = $first ?? $entityId;
}
// What an administrator adds by hand to the IdP's entry (the harness's hook
// `authn-context=...` writes idp-remote-options.php beside this file; absent by default).
$php .= "\n\$options = @include __DIR__ . '/idp-remote-options.php';\n"
    . "if (is_array(\$options)) {\n"
    . "    foreach (\$metadata as \$id => \$entry) {\n"
    . "        \$metadata[\$id] = array_merge(\$entry, \$options);\n"
    . "    }\n"
    . "}\n";
if ($first === null) {
    fail("$url has no SAML 2.0 IdP (IDPSSODescriptor)");
}

$tmp = $out . '.tmp.' . getmypid();
if (file_put_contents($tmp, $php) === false || !rename($tmp, $out)) {
    fail("could not write $out");
}
echo $first, "\n";
